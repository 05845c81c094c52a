// Entry point of the game page: the lobby, or straight into a room for a deep link
// (`/?room=NAME`, `/?room=NAME&spectate=1`).

import { isValidRoomName } from '../sdk/index.js';
import { Lobby, savedName } from './lobby.js';
import { Game } from './game.js';
import { $ } from './dom.js';

/** @type {Game | null} */
let game = null;

const lobby = new Lobby((choice) => play(choice));

/** @param {{ name: string, room: string | null, spectate: boolean }} choice */
function play(choice) {
  lobby.hide();
  $('#game').hidden = false;
  game = new Game({ ...choice, onExit: () => toLobby() });
}

function toLobby() {
  game = null;
  $('#game').hidden = true;
  for (const id of ['#failure', '#banner', '#invite', '#center-msg']) $(id).hidden = true;
  // Back to the bare lobby URL, keeping a join token and a forced transport if the page had them.
  const params = new URLSearchParams(location.search);
  const kept = new URLSearchParams();
  for (const key of ['token', 'transport']) {
    const value = params.get(key);
    if (value) kept.set(key, value);
  }
  history.replaceState(null, '', kept.size ? `/?${kept}` : '/');
  lobby.show();
}

const params = new URLSearchParams(location.search);
const room = params.get('room');
if (room && isValidRoomName(room)) {
  play({ name: savedName(), room, spectate: params.get('spectate') === '1' });
} else {
  lobby.show();
}

window.addEventListener('popstate', () => {
  if (game && !new URLSearchParams(location.search).get('room')) game.exit();
});

// For the browser console and end-to-end tests: the running game, if any.
Object.defineProperty(globalThis, 'tickwire', { value: { get game() { return game; } } });
