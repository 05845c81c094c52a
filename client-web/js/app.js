// Entry point of the game page: the lobby, or straight into a room for a deep link
// (`/?room=NAME`, `/?room=NAME&spectate=1`), or back into its seat after a reload.

import { isValidRoomName } from '../sdk/index.js';
import { Lobby, savedName, hasSavedName, invalidRoomMessage, wantsToWatch } from './lobby.js';
import { Game, keptSeats, resumeTokenFor } from './game.js';
import { $ } from './dom.js';

/** @typedef {{ name: string, room: string | null, spectate: boolean, resumeToken?: number[] | null }} Choice */

/** @type {Game | null} */
let game = null;
/** @type {object | null} the turn of the game on screen (see `play`) */
let current = null;
/**
 * Whether the room on screen has a history entry of its own on top of the lobby's (entered
 * from the lobby, or again with Forward). Leaving it then goes back to the lobby's entry rather
 * than writing the lobby over the room's, which would leave Back stepping from the lobby to
 * the lobby. Kept in the entry's state, so it holds across a reload.
 */
let aboveLobby = history.state?.aboveLobby === true;

const lobby = new Lobby((choice) => enter(choice));

/**
 * The page's URL for `room` (the lobby's for null), keeping a join token and a forced transport.
 * @param {string | null} room @param {boolean} spectate
 */
function urlFor(room, spectate) {
  const params = new URLSearchParams(location.search);
  const kept = new URLSearchParams();
  for (const key of ['token', 'transport']) {
    const value = params.get(key);
    if (value) kept.set(key, value);
  }
  if (room) kept.set('room', room);
  if (room && spectate) kept.set('spectate', '1');
  // Not `kept.size`: Safari before 17 (and Chrome before 113) have none, and every URL would
  // be the bare lobby's, dropping the join token.
  const query = kept.toString();
  // `./`, not `/`: the page is at the server's root, which a reverse proxy may put under a prefix.
  return query ? `./?${query}` : './';
}

/** From the lobby into a room, with a history entry: Back returns to the lobby. @param {Choice} choice */
function enter(choice) {
  // The lobby of an invite link still names its room: Back to it must find the lobby's URL,
  // not a room's the page would join again.
  if (new URLSearchParams(location.search).has('room')) history.replaceState(null, '', urlFor(null, false));
  // Matchmaking learns its room from the Welcome, which then names it in the URL.
  history.pushState({ aboveLobby: true }, '', urlFor(choice.room, choice.spectate));
  aboveLobby = true;
  play(choice);
}

/** @param {Choice} choice */
function play(choice) {
  lobby.hide();
  $('#game').hidden = false;
  // Which game the page is on: a game that ends after another replaced it (its Leave still
  // waiting when Back and a new room came) must not take the new one down.
  const turn = {};
  current = turn;
  try {
    game = new Game({ ...choice, onExit: () => { if (current === turn) toLobby(); } });
  } catch (e) {
    // The game took back whatever it had attached: the lobby, saying what went wrong.
    toLobby();
    lobby.showError(`Could not start the game: ${/** @type {Error} */ (e).message}`);
  }
}

function toLobby() {
  game = null;
  current = null;
  $('#game').hidden = true;
  for (const id of ['#failure', '#invite']) $(id).hidden = true;
  // Live regions: emptied, never hidden (the next game's first message must be announced).
  for (const id of ['#banner', '#center-msg']) $(id).replaceChildren();
  if (aboveLobby) {
    aboveLobby = false;
    history.back();
  } else {
    history.replaceState(null, '', urlFor(null, false));
  }
  lobby.show();
  lobby.focusStart();
}

// The seat the page this one reloads left (Game#keepSeat), taken out at once whatever this
// page does with it: a tab duplicated later must not take it over.
const kept = keptSeats.take(Date.now());
const params = new URLSearchParams(location.search);
const room = params.get('room');
const spectate = wantsToWatch(params);
const resumeToken = room ? resumeTokenFor(kept, room, spectate) : null;
if (room && isValidRoomName(room) && (spectate || hasSavedName() || resumeToken)) {
  // A returning player, a screen that watches (a big screen has no keyboard to type a name),
  // or a page reloaded in a game, back into its seat.
  play({ name: resumeToken && kept ? kept.name : savedName(), room, spectate, resumeToken });
} else if (room && isValidRoomName(room)) {
  // Someone new, from an invite link or its QR code: the name first. The URL keeps the room,
  // so a reload comes back here.
  lobby.show();
  lobby.invite(room);
} else {
  lobby.show();
  // A broken link says so, and the address bar stops showing it.
  if (room) lobby.showError(invalidRoomMessage(room));
  if (room !== null) history.replaceState(history.state, '', urlFor(null, false));
}

window.addEventListener('popstate', () => {
  const params = new URLSearchParams(location.search);
  // A room name the page would not join is no room: the lobby's entry, as at start.
  const named = params.get('room');
  const room = named && isValidRoomName(named) ? named : null;
  if (game && !room) {
    // Back, to the lobby's entry: leave the room (close 1000) and show the lobby.
    aboveLobby = false;
    game.exit();
  } else if (!game && room) {
    // Forward, to a room left with Back: in again.
    aboveLobby = true;
    play({ name: savedName(), room, spectate: wantsToWatch(params) });
  }
});

// For the browser console and end-to-end tests: the running game, if any.
Object.defineProperty(globalThis, 'tickwire', { value: { get game() { return game; } } });
