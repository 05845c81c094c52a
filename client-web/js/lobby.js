// The lobby: name, quick play, rooms from /rooms (refreshing), join or create by name, join as
// a spectator, and the QR code of the selected room's link for phones.

import { isValidRoomName, LIMITS } from '../sdk/index.js';
import { $, el, fitUtf8, lanBindFlag, limitUtf8 } from './dom.js';

const NAME_KEY = 'tickwire.name';
const REFRESH_MS = 2000;

/** A name for someone who has not picked one. */
export function defaultName() {
  const words = ['Nova', 'Comet', 'Pulsar', 'Quasar', 'Orbit', 'Vega', 'Rigel', 'Zephyr', 'Astro', 'Flux'];
  return `${words[Math.floor(Math.random() * words.length)]}-${Math.floor(Math.random() * 90 + 10)}`;
}

/**
 * What the server takes out of a name before others see it (its `clean_name_text`): blanks,
 * control and format characters (the joiners too: alone they show nothing), variation
 * selectors, tag characters, and the letters and symbols that draw nothing.
 */
const INVISIBLE = /[\s\p{Cc}\p{Cf}\p{Z}\u034F\u115F\u1160\u17B4\u17B5\u180B-\u180F\u2800\u3164\uFE00-\uFE0F\uFFA0\u{E0000}-\u{E007F}]/gu;

/**
 * A display name as the protocol takes it: trimmed, and cut to 24 bytes of UTF-8 between
 * graphemes. (`maxlength` counts UTF-16 units: 13 Cyrillic letters or 9 CJK characters are
 * already over, and a cut at 24 units can split an emoji.) A name with nothing visible in it
 * is blank: the server would clean it to nothing, and everyone would see "Player 16".
 * @param {string} name
 */
export function fitName(name) {
  const fitted = fitUtf8(name.trim(), LIMITS.name).trim();
  return fitted.replace(INVISIBLE, '') === '' ? '' : fitted;
}

/** The `spectate` of a room's link: `1`, `true`, `yes`, `on` or a bare `?spectate` watch. @param {URLSearchParams} params */
export function wantsToWatch(params) {
  const value = params.get('spectate');
  return value !== null && ['', '1', 'true', 'yes', 'on'].includes(value.trim().toLowerCase());
}

/** The saved display name (cut to fit: it may have been saved before names were), or a fresh default. */
export function savedName() {
  let name = '';
  try {
    name = localStorage.getItem(NAME_KEY) ?? '';
  } catch {
    // storage disabled: fine
  }
  return fitName(name) || defaultName();
}

/** Whether this browser remembers a name its player chose: a returning player. */
export function hasSavedName() {
  try {
    return fitName(localStorage.getItem(NAME_KEY) ?? '') !== '';
  } catch {
    return false;
  }
}

/** What makes a room name, in the words the lobby says it. */
export const ROOM_RULE = 'a room name is 1 to 16 letters, digits, dots, dashes or underscores';

/**
 * What the lobby says of a link whose `room` it would not join, with the name shown as typed
 * (cut: a link may carry anything).
 * @param {string} room
 */
export function invalidRoomMessage(room) {
  const chars = [...room];
  const shown = chars.length > 24 ? `${chars.slice(0, 24).join('')}…` : room;
  return `That invite link names no valid room (“${shown}”): ${ROOM_RULE}. Pick a room below, or start one.`;
}

/** @param {string} name */
function saveName(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // storage disabled: fine
  }
}

/** @typedef {{ id: string, players: number, controllers: number, spectators: number, capacity: number, tick: number }} RoomInfo */
/**
 * A room's row, kept across refreshes.
 * @typedef {{ tr: HTMLTableRowElement, pick: HTMLButtonElement, players: HTMLElement, spectators: HTMLElement,
 *   join: HTMLButtonElement, watch: HTMLButtonElement }} RoomRow
 */

export class Lobby {
  /** @param {(choice: { name: string, room: string | null, spectate: boolean }) => void} onJoin */
  constructor(onJoin) {
    this.onJoin = onJoin;
    this.root = $('#lobby');
    this.nameInput = /** @type {HTMLInputElement} */ ($('#name'));
    this.nameInput.value = savedName();
    limitUtf8(this.nameInput, LIMITS.name);
    /** The room of the invite link a newcomer came by, while they choose a name. @type {string | null} */
    this.invited = null;
    /** @type {string | null} */
    this.selected = null;
    /** Counts selections: only the newest one's link may be shown. */
    this.selections = 0;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    /** @type {Map<string, RoomRow>} the rows on screen, by room */
    this.rows = new Map();
    this.nameInput.addEventListener('change', () => {
      // Shows the name as it will be used, cut to fit.
      const name = this.name();
      if (this.nameInput.value !== name) this.nameInput.value = name;
      saveName(name);
    });
    // The name is not in a form: Enter there does what the lobby's big button does.
    this.nameInput.addEventListener('keydown', (e) => {
      if (e.key !== 'Enter' || e.isComposing) return;
      e.preventDefault();
      this.primary();
    });
    $('#join-invited').addEventListener('click', () => { if (this.invited) this.join(this.invited, false); });
    $('#quick-play').addEventListener('click', () => this.join(null, false));
    $('#quick-watch').addEventListener('click', () => this.join(null, true));
    $('#create-form').addEventListener('submit', (e) => {
      e.preventDefault();
      this.joinTyped();
    });
    $('#room-name').addEventListener('input', () => {
      const room = /** @type {HTMLInputElement} */ ($('#room-name')).value.trim();
      if (isValidRoomName(room)) this.select(room);
    });
    // Where this page is served from is where the server listens (or its proxy does).
    for (const id of ['#lobby-lan-bind', '#invite-lan-bind']) $(id).textContent = lanBindFlag(location);
  }

  name() {
    return fitName(this.nameInput.value);
  }

  /**
   * The lobby's primary action, for Enter in the name field: joining the room of the invite,
   * else the room typed below if there is one, else quick play.
   */
  primary() {
    if (this.invited) this.join(this.invited, false);
    else if (/** @type {HTMLInputElement} */ ($('#room-name')).value.trim()) this.joinTyped();
    else this.join(null, false);
  }

  /** Joins the room typed in the form, or says why its name will not do. */
  joinTyped() {
    const input = /** @type {HTMLInputElement} */ ($('#room-name'));
    const room = input.value.trim();
    const error = $('#create-error');
    // The page says it (the form is `novalidate`): a browser's own bubble only asks to "match
    // the requested format".
    if (!isValidRoomName(room)) {
      error.textContent = `${ROOM_RULE[0].toUpperCase()}${ROOM_RULE.slice(1)}.`;
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      input.focus();
      return;
    }
    error.hidden = true;
    input.removeAttribute('aria-invalid');
    this.join(room, /** @type {HTMLInputElement} */ ($('#as-spectator')).checked);
  }

  /** @param {string | null} room @param {boolean} spectate */
  join(room, spectate) {
    // A made-up name goes into the field and is saved, as one typed: the player keeps it
    // from game to game rather than getting another each time.
    const name = this.name() || defaultName();
    if (this.nameInput.value !== name) this.nameInput.value = name;
    saveName(name);
    $('#join-error').hidden = true;
    this.invite(null);
    this.onJoin({ name, room, spectate });
  }

  /**
   * Someone new came by an invite link to `room` (null: no longer): the lobby shows that room
   * to join and puts them on the name, which the others will see, rather than joining at once
   * under a made-up one they cannot change without leaving.
   * @param {string | null} room
   */
  invite(room) {
    this.invited = room;
    const join = $('#join-invited');
    $('#invited').hidden = room === null;
    join.hidden = room === null;
    // One big button: the invite's, with quick play beside it as a way elsewhere.
    $('#quick-play').className = room === null ? 'btn primary big' : 'btn ghost';
    if (room === null) return;
    $('#invited-room').textContent = room;
    join.textContent = `Join ${room}`;
    /** @type {HTMLInputElement} */ ($('#room-name')).value = room;
    this.select(room);
    this.nameInput.focus();
    this.nameInput.select();
  }

  /** Says why the last join did not start. @param {string} text */
  showError(text) {
    const error = $('#join-error');
    error.textContent = text;
    error.hidden = false;
  }

  show() {
    this.root.hidden = false;
    document.title = 'tickwire arena';
    this.refresh();
    this.select(this.selected);
  }

  /**
   * Puts the keyboard on the lobby's first useful control, for a player back from a game (whose
   * Leave went with it): the name when there is none yet, else the invited room's Join, else
   * Quick play.
   */
  focusStart() {
    const start = !this.name() ? this.nameInput : $(this.invited ? '#join-invited' : '#quick-play');
    start.focus();
  }

  hide() {
    this.root.hidden = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  async refresh() {
    if (this.timer) clearTimeout(this.timer);
    const status = $('#rooms-status');
    try {
      // Relative to the page, as every URL the pages use: under a reverse proxy's path prefix too.
      const response = await fetch('rooms', { cache: 'no-store' });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      /** @type {RoomInfo[]} */
      const rooms = await response.json();
      this.renderRooms(rooms);
      status.textContent = `${rooms.length} open · live`;
    } catch (e) {
      status.textContent = `cannot load rooms (${/** @type {Error} */ (e).message}); retrying`;
    }
    if (!this.root.hidden) this.timer = setTimeout(() => this.refresh(), REFRESH_MS);
  }

  /**
   * Shows `rooms`, most players first. Each room keeps its row across refreshes, updated in
   * place: a rebuilt row would take the keyboard focus off its buttons every refresh.
   * @param {RoomInfo[]} rooms
   */
  renderRooms(rooms) {
    rooms.sort((a, b) => b.players - a.players || a.id.localeCompare(b.id));
    $('#rooms-empty').hidden = rooms.length > 0;
    const body = $('#rooms-body');
    const focused = document.activeElement;
    const focusedRow = focused && body.contains(focused) ? focused.closest('tr') : null;
    const at = focusedRow ? [...body.children].indexOf(focusedRow) : -1;
    const part = focusedRow ? [...focusedRow.querySelectorAll('button')].indexOf(/** @type {HTMLButtonElement} */ (focused)) : -1;
    const open = new Set(rooms.map((room) => room.id));
    for (const [id, row] of this.rows) {
      if (open.has(id)) continue;
      row.tr.remove();
      this.rows.delete(id);
    }
    rooms.forEach((room, i) => {
      let row = this.rows.get(room.id);
      if (!row) this.rows.set(room.id, (row = this.createRow(room.id)));
      const full = room.players >= room.capacity;
      row.join.textContent = full ? 'Full' : 'Join';
      // Tabbing from row to row, a screen reader hears the button alone: it names the room,
      // starting with the words shown so that speech input finds it by them.
      row.join.setAttribute('aria-label', full ? `Full: ${room.id}` : `Join ${room.id}`);
      row.join.disabled = full;
      const share = Math.min(1, room.players / Math.max(1, room.capacity));
      row.players.replaceChildren(el('span', { className: 'bar' }, el('i', { style: `width: ${Math.round(share * 100)}%` })),
        `${room.players}/${room.capacity}`, room.controllers ? ` · ${room.controllers} 🎮` : '');
      row.spectators.textContent = String(room.spectators);
      if (body.children[i] !== row.tr) body.insertBefore(row.tr, body.children[i] ?? null);
    });
    if (!focusedRow || document.activeElement === focused) return;
    // Moved (a move blurs it), disabled (the room filled up) or gone (the room closed): the
    // focus goes to the same button of that row, or of the row now in its place.
    const row = focusedRow.isConnected ? focusedRow : body.children[Math.min(at, body.children.length - 1)];
    if (!row) {
      $('#quick-play').focus();
      return;
    }
    const buttons = /** @type {HTMLButtonElement[]} */ ([...row.querySelectorAll('button')]);
    const target = buttons[part] && !buttons[part].disabled ? buttons[part] : buttons[buttons.length - 1];
    target.focus({ preventScroll: true });
  }

  /** @param {string} id @returns {RoomRow} */
  createRow(id) {
    const pick = /** @type {HTMLButtonElement} */ (el('button', { className: 'room-pick', type: 'button', title: `Show the QR code of ${id}` }, id));
    const join = /** @type {HTMLButtonElement} */ (el('button', { className: 'btn small primary', type: 'button' }, 'Join'));
    const watch = /** @type {HTMLButtonElement} */ (el('button', { className: 'btn small ghost', type: 'button' }, 'Watch'));
    watch.setAttribute('aria-label', `Watch ${id}`);
    pick.setAttribute('aria-pressed', String(id === this.selected));
    pick.addEventListener('click', (e) => { e.stopPropagation(); this.select(id); });
    join.addEventListener('click', (e) => { e.stopPropagation(); this.join(id, false); });
    watch.addEventListener('click', (e) => { e.stopPropagation(); this.join(id, true); });
    const players = el('td');
    const spectators = el('td');
    const tr = /** @type {HTMLTableRowElement} */ (el('tr', { className: id === this.selected ? 'selected' : '' },
      el('td', { className: 'room-id' }, pick), players, spectators, el('td', {}, join, watch)));
    tr.dataset.room = id;
    tr.addEventListener('click', () => this.select(id));
    return { tr, pick, players, spectators, join, watch };
  }

  /** Shows the QR code of `room`'s link (the lobby's when null). @param {string | null} room */
  async select(room) {
    this.selected = room;
    const selection = ++this.selections;
    for (const [id, row] of this.rows) {
      row.tr.classList.toggle('selected', id === room);
      row.pick.setAttribute('aria-pressed', String(id === room));
    }
    const query = room ? `?room=${encodeURIComponent(room)}` : '';
    $('#qr-target').textContent = room ? `room ${room}` : 'the lobby';
    /** @type {HTMLImageElement} */ ($('#lobby-qr')).src = `invite.svg${query}`;
    try {
      const invite = await (await fetch(`invite${query}`)).json();
      // Typing a room name selects each name on the way: a reply that comes after a newer
      // selection's would put an earlier room's link under this one's QR code.
      if (selection !== this.selections) return;
      const link = /** @type {HTMLAnchorElement} */ ($('#lobby-link'));
      link.href = invite.url;
      link.textContent = invite.url;
      $('#lobby-lan-warning').hidden = invite.reachable_from_lan;
    } catch {
      // the QR code still shows the link
    }
  }
}
