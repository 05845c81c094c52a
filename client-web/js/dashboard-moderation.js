// The dashboard's moderation panel: a room's seats (chosen with a room's "seats" button), with
// mute, unmute and remove (with or without a ban), and the bans, with ban and lift. It is the
// README's Moderation section in a page; the calls and what their answers say are in
// moderation.js.
//
// The server says in the page whether its moderation routes are beside the dashboard and on
// (dashboard-links.js): off, the panel says how to turn it on; on another listener (the public
// one of a server with --admin-bind), it is not shown. The seats are asked for every 2 s while
// a room is chosen, the bans every 5 s, and each after every action, only while unlocked.

import { $, el, replaceKeepingFocus } from './dom.js';
import { ModerationApi, ModerationError, banOutcome, banTarget, formatLeft, kickOutcome, muteOutcome, seatLabel, tokenStore } from './moderation.js';

/** @typedef {import('./moderation.js').Seat} Seat */
/** @typedef {import('./moderation.js').Ban} Ban */
/** @typedef {import('./moderation.js').Outcome} Outcome */

const SEATS_MS = 2000;
const BANS_MS = 5000;

/** The moderation panel of the dashboard page. */
export class ModerationPanel {
  /**
   * @param {'on' | 'off' | ''} state the page's `tickwire-moderation` marker
   * @param {() => void} roomsChanged redraws the rooms table (its "seats" buttons)
   */
  constructor(state, roomsChanged) {
    this.state = state;
    this.roomsChanged = roomsChanged;
    this.store = tokenStore(storage());
    /** @type {ModerationApi | null} null while locked */
    this.api = null;
    /** @type {string | null} the room whose seats are shown */
    this.room = null;
    /** @type {Seat[]} the room's seats, as last shown */
    this.seats = [];
    /** @type {Seat | null} the seat the removal form is for */
    this.removing = null;
    /** Bumped on every choice of a room: the seats' poll of an older one stops. */
    this.choice = 0;
  }

  /** Shows the panel as the server's marker says, unlocked at once with the tab's token. */
  start() {
    if (this.state === '') return;
    $('#mod-panel').hidden = false;
    $('#mod-off').hidden = this.state !== 'off';
    if (this.state !== 'on') return;
    $('#mod-unlock').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = /** @type {HTMLInputElement} */ ($('#mod-token'));
      void this.unlock(input.value.trim());
    });
    $('#mod-lock').addEventListener('click', () => this.lock(null));
    $('#mod-remove').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.remove();
    });
    $('#mod-remove-cancel').addEventListener('click', () => this.closeRemoval());
    $('#mod-ban').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.ban();
    });
    $('#mod-ban-kind').addEventListener('change', () => {
      const address = /** @type {HTMLSelectElement} */ ($('#mod-ban-kind')).value === 'address';
      /** @type {HTMLInputElement} */ ($('#mod-ban-target')).placeholder = address ? '203.0.113.9 or 2001:db8::1' : 'a player\'s name';
    });
    const token = this.store.load();
    if (token) void this.unlock(token);
    else this.showLocked();
  }

  /** Whether the rooms table offers each room's seats. */
  get unlocked() {
    return this.api !== null;
  }

  /**
   * A rooms-table button that shows `room`'s seats here, or null while locked. A fleet's room
   * hosted by another node is that node's to moderate.
   * @param {string} room @param {string | null} elsewhere the node hosting it, if not this one
   * @returns {HTMLElement | null}
   */
  seatsButton(room, elsewhere) {
    if (!this.api) return null;
    const button = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', className: 'link' }, 'seats'));
    button.dataset.focus = `seats:${room}`;
    button.setAttribute('aria-pressed', String(this.room === room));
    if (elsewhere !== null) {
      button.disabled = true;
      button.title = `Hosted by node ${elsewhere}: moderate it from that node's dashboard`;
    } else {
      button.title = `Show who is in ${room}, to mute or remove them`;
      button.addEventListener('click', () => this.choose(room));
    }
    return button;
  }

  /**
   * Checks `token` with a request, then keeps it for this tab and starts polling.
   * @param {string} token
   */
  async unlock(token) {
    if (!token) return;
    const api = new ModerationApi(token);
    try {
      const bans = await api.bans();
      this.api = api;
      this.store.save(token);
      /** @type {HTMLInputElement} */ ($('#mod-token')).value = '';
      $('#mod-unlock').hidden = true;
      $('#mod-on').hidden = false;
      this.say({ text: '', warning: '' });
      this.showBans(bans);
      this.roomsChanged();
      this.poll(() => this.api === api, BANS_MS, () => this.refreshBans());
    } catch (e) {
      // A token the server refused is forgotten; one it could not check (no answer) is kept
      // for the next load of the page.
      if (e instanceof ModerationError && e.refusedToken) this.store.forget();
      this.showLocked();
      this.sayError(e);
    }
  }

  /**
   * Forgets the token and stops every poll; `error` says why, when the server refused it.
   * @param {unknown} error
   */
  lock(error) {
    this.api = null;
    this.room = null;
    this.choice += 1;
    this.store.forget();
    this.closeRemoval();
    this.showLocked();
    this.showSeats([]);
    this.say({ text: error ? '' : 'Locked: the token is forgotten in this tab.', warning: '' });
    if (error) this.sayError(error);
    this.roomsChanged();
  }

  showLocked() {
    $('#mod-unlock').hidden = false;
    $('#mod-on').hidden = true;
  }

  /** @param {string} room */
  choose(room) {
    const { api } = this;
    this.room = room;
    const choice = ++this.choice;
    this.closeRemoval();
    $('#mod-seats-room').textContent = room;
    this.showSeats([]);
    $('#mod-seats-note').textContent = 'asking…';
    this.roomsChanged();
    this.poll(() => this.api === api && this.choice === choice, SEATS_MS, () => this.refreshSeats());
  }

  /**
   * Runs `ask` now, and again `ms` after each answer while `current()` holds.
   * @param {() => boolean} current @param {number} ms @param {() => Promise<void>} ask
   */
  poll(current, ms, ask) {
    const round = async () => {
      if (!current()) return;
      await ask();
      if (current()) setTimeout(round, ms);
    };
    void round();
  }

  async refreshSeats() {
    const { api, room } = this;
    if (!api || room === null) return;
    try {
      const seats = await api.seats(room);
      if (room === this.room) this.showSeats(seats);
    } catch (e) {
      if (room !== this.room) return;
      if (e instanceof ModerationError && e.refusedToken) return this.lock(e);
      this.showSeats([]);
      $('#mod-seats-note').textContent = e instanceof Error ? e.message : String(e);
      // A room that closed does not come back under this name soon: stop asking.
      if (e instanceof ModerationError && e.status === 404) {
        this.room = null;
        this.choice += 1;
        this.roomsChanged();
      }
    }
  }

  async refreshBans() {
    const { api } = this;
    if (!api) return;
    try {
      this.showBans(await api.bans());
    } catch (e) {
      if (e instanceof ModerationError && e.refusedToken) return this.lock(e);
      // Kept as they were; the stats poll's status line reports an outage.
    }
  }

  /** @param {Seat[]} seats */
  showSeats(seats) {
    this.seats = seats;
    $('#mod-seats').hidden = this.room === null;
    $('#mod-seats-note').textContent = this.room !== null && seats.length === 0 ? 'Nobody is seated in this room.' : '';
    replaceKeepingFocus($('#mod-seats-body'), ...seats.map((seat) => {
      const muted = seat.muted_secs !== undefined;
      const mute = this.action(muted ? 'unmute' : 'mute', `mute:${seat.player}`, () => (muted ? this.unmute(seat) : this.mute(seat)));
      mute.title = muted ? 'Let this seat chat again' : 'Its chat lines reach nobody else (it is not told)';
      const remove = this.action('remove…', `remove:${seat.player}`, () => this.openRemoval(seat));
      remove.title = 'Close its connection with a reason, and ban it if you like';
      return el('tr', {},
        el('td', {}, String(seat.player)),
        el('td', { className: 'name' }, seat.name || '–'),
        el('td', {}, seat.role),
        el('td', {}, seat.score === null ? '–' : String(seat.score)),
        el('td', {}, seat.address),
        el('td', {}, seat.connected ? 'connected' : 'away'),
        el('td', {}, muted ? `muted, ${formatLeft(/** @type {number} */ (seat.muted_secs))} left` : ''),
        el('td', { className: 'actions' }, mute, ' ', remove));
    }));
  }

  /** @param {Ban[]} bans */
  showBans(bans) {
    $('#mod-bans-empty').hidden = bans.length > 0;
    replaceKeepingFocus($('#mod-bans-body'), ...bans.map((ban) => {
      const [kind, target] = banTarget(ban);
      const lift = this.action('lift', `lift:${kind}:${target}`, () => this.lift(ban));
      return el('tr', {},
        el('td', {}, el('span', { className: 'muted' }, `${kind} `), target),
        el('td', {}, formatLeft(ban.remaining_secs)),
        el('td', { className: 'name' }, ban.reason),
        el('td', { className: 'actions' }, lift));
    }));
  }

  /**
   * A button that runs `act` once at a time (disabled meanwhile).
   * @param {string} label @param {string} focusKey @param {() => Promise<void> | void} act
   */
  action(label, focusKey, act) {
    const button = /** @type {HTMLButtonElement} */ (el('button', { type: 'button' }, label));
    button.dataset.focus = focusKey;
    button.addEventListener('click', async () => {
      button.disabled = true;
      try {
        await act();
      } finally {
        button.disabled = false;
      }
    });
    return button;
  }

  /** @param {Seat} seat */
  async mute(seat) {
    const length = /** @type {HTMLSelectElement} */ ($('#mod-mute-for')).value;
    await this.act(async (api) => muteOutcome(await api.mute(seat.room, seat.player, length)));
  }

  /** @param {Seat} seat */
  async unmute(seat) {
    await this.act(async (api) => muteOutcome(await api.unmute(seat.room, seat.player)));
  }

  /** @param {Seat} seat */
  openRemoval(seat) {
    this.removing = seat;
    $('#mod-remove-who').textContent = `Remove ${seatLabel(seat)} from ${seat.room} (${seat.address}).`;
    $('#mod-remove').hidden = false;
    $('#mod-reason').focus();
  }

  closeRemoval() {
    this.removing = null;
    $('#mod-remove').hidden = true;
  }

  async remove() {
    const seat = this.removing;
    if (!seat) return;
    const reason = /** @type {HTMLInputElement} */ ($('#mod-reason')).value.trim();
    const ban = /** @type {HTMLSelectElement} */ ($('#mod-remove-ban')).value;
    const done = await this.act(async (api) => kickOutcome(await api.kick(seat.room, { player: seat.player, reason, ban: ban || undefined })));
    if (done) {
      /** @type {HTMLInputElement} */ ($('#mod-reason')).value = '';
      this.closeRemoval();
    }
  }

  async ban() {
    const kind = /** @type {'address' | 'name'} */ (/** @type {HTMLSelectElement} */ ($('#mod-ban-kind')).value);
    const target = /** @type {HTMLInputElement} */ ($('#mod-ban-target')).value.trim();
    const length = /** @type {HTMLInputElement} */ ($('#mod-ban-for')).value.trim();
    const reason = /** @type {HTMLInputElement} */ ($('#mod-ban-reason')).value.trim();
    const done = await this.act(async (api) => banOutcome(await api.ban({ kind, target, length, reason })));
    if (done) {
      /** @type {HTMLInputElement} */ ($('#mod-ban-target')).value = '';
      /** @type {HTMLInputElement} */ ($('#mod-ban-reason')).value = '';
    }
  }

  /** @param {Ban} ban */
  async lift(ban) {
    const [kind, target] = banTarget(ban);
    await this.act(async (api) => {
      await api.lift(ban);
      return { text: `Lifted the ban of ${kind} ${target}.`, warning: '' };
    });
  }

  /**
   * Runs one action, says how it went, and asks for the seats and bans again (whatever it did,
   * they may have changed). True when it succeeded.
   * @param {(api: ModerationApi) => Promise<Outcome>} act
   */
  async act(act) {
    const { api } = this;
    if (!api) return false;
    let done = false;
    try {
      this.say(await act(api));
      done = true;
    } catch (e) {
      if (e instanceof ModerationError && e.refusedToken) {
        this.lock(e);
        return false;
      }
      this.sayError(e);
    }
    await Promise.all([this.refreshSeats(), this.refreshBans()]);
    return done;
  }

  /** @param {Outcome} outcome */
  say({ text, warning }) {
    const line = $('#mod-result');
    line.className = warning ? 'result warn' : 'result';
    line.textContent = [text, warning].filter(Boolean).join(' ');
  }

  /** @param {unknown} error */
  sayError(error) {
    const line = $('#mod-result');
    line.className = 'result bad';
    const message = error instanceof Error ? error.message : String(error);
    line.textContent = error instanceof ModerationError && error.refusedToken
      ? `The server refused the token: ${message}`
      : message;
  }
}

/** This tab's sessionStorage, or none where the browser refuses it. */
function storage() {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}
