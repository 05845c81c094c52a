// The lobby: name, quick play, rooms from /rooms (refreshing), join or create by name, join as
// a spectator, and the QR code of the selected room's link for phones.

import { isValidRoomName } from '../sdk/index.js';
import { $, el } from './dom.js';

const NAME_KEY = 'tickwire.name';
const REFRESH_MS = 2000;

/** A name for someone who has not picked one. */
export function defaultName() {
  const words = ['Nova', 'Comet', 'Pulsar', 'Quasar', 'Orbit', 'Vega', 'Rigel', 'Zephyr', 'Astro', 'Flux'];
  return `${words[Math.floor(Math.random() * words.length)]}-${Math.floor(Math.random() * 90 + 10)}`;
}

/** The saved display name, or a fresh default (saved). */
export function savedName() {
  let name = '';
  try {
    name = localStorage.getItem(NAME_KEY) ?? '';
  } catch {
    // storage disabled: fine
  }
  return name || defaultName();
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

export class Lobby {
  /** @param {(choice: { name: string, room: string | null, spectate: boolean }) => void} onJoin */
  constructor(onJoin) {
    this.onJoin = onJoin;
    this.root = $('#lobby');
    this.nameInput = /** @type {HTMLInputElement} */ ($('#name'));
    this.nameInput.value = savedName();
    /** @type {string | null} */
    this.selected = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    this.nameInput.addEventListener('change', () => saveName(this.name()));
    $('#quick-play').addEventListener('click', () => this.join(null, false));
    $('#quick-watch').addEventListener('click', () => this.join(null, true));
    $('#create-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const room = /** @type {HTMLInputElement} */ ($('#room-name')).value.trim();
      const error = $('#create-error');
      if (!isValidRoomName(room)) {
        error.textContent = 'A room name is 1 to 16 letters, digits, dots, dashes or underscores.';
        error.hidden = false;
        return;
      }
      error.hidden = true;
      this.join(room, /** @type {HTMLInputElement} */ ($('#as-spectator')).checked);
    });
    $('#room-name').addEventListener('input', () => {
      const room = /** @type {HTMLInputElement} */ ($('#room-name')).value.trim();
      if (isValidRoomName(room)) this.select(room);
    });
  }

  name() {
    return this.nameInput.value.trim().slice(0, 24);
  }

  /** @param {string | null} room @param {boolean} spectate */
  join(room, spectate) {
    const name = this.name() || defaultName();
    saveName(name);
    this.onJoin({ name, room, spectate });
  }

  show() {
    this.root.hidden = false;
    document.title = 'tickwire arena';
    this.refresh();
    this.select(this.selected);
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
      const response = await fetch('/rooms', { cache: 'no-store' });
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

  /** @param {RoomInfo[]} rooms */
  renderRooms(rooms) {
    rooms.sort((a, b) => b.players - a.players || a.id.localeCompare(b.id));
    $('#rooms-empty').hidden = rooms.length > 0;
    $('#rooms-body').replaceChildren(...rooms.map((room) => {
      const full = room.players >= room.capacity;
      const join = /** @type {HTMLButtonElement} */ (el('button', { className: 'btn small primary', type: 'button' }, full ? 'Full' : 'Join'));
      join.disabled = full;
      const watch = el('button', { className: 'btn small ghost', type: 'button' }, 'Watch');
      join.addEventListener('click', (e) => { e.stopPropagation(); this.join(room.id, false); });
      watch.addEventListener('click', (e) => { e.stopPropagation(); this.join(room.id, true); });
      const share = Math.min(1, room.players / Math.max(1, room.capacity));
      const row = el('tr', { className: room.id === this.selected ? 'selected' : '' },
        el('td', { className: 'room-id' }, room.id),
        el('td', {}, el('span', { className: 'bar' }, el('i', { style: `width: ${Math.round(share * 100)}%` })),
          `${room.players}/${room.capacity}`, room.controllers ? ` · ${room.controllers} 🎮` : ''),
        el('td', {}, String(room.spectators)),
        el('td', {}, join, watch));
      row.dataset.room = room.id;
      row.addEventListener('click', () => this.select(room.id));
      return row;
    }));
  }

  /** Shows the QR code of `room`'s link (the lobby's when null). @param {string | null} room */
  async select(room) {
    this.selected = room;
    for (const row of /** @type {NodeListOf<HTMLElement>} */ (document.querySelectorAll('#rooms-body tr'))) {
      row.classList.toggle('selected', row.dataset.room === room);
    }
    const query = room ? `?room=${encodeURIComponent(room)}` : '';
    $('#qr-target').textContent = room ? `room ${room}` : 'the lobby';
    /** @type {HTMLImageElement} */ ($('#lobby-qr')).src = `/invite.svg${query}`;
    try {
      const invite = await (await fetch(`/invite${query}`)).json();
      const link = /** @type {HTMLAnchorElement} */ ($('#lobby-link'));
      link.href = invite.url;
      link.textContent = invite.url;
      $('#lobby-lan-warning').hidden = invite.reachable_from_lan;
    } catch {
      // the QR code still shows the link
    }
  }
}
