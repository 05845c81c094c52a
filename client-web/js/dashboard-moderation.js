// The dashboard's moderation panel: a room's seats (chosen with a room's "moderate" button),
// with mute, unmute and remove (with or without a ban), and the bans, with ban and lift. It is
// the README's Moderation section in a page; the calls and what their answers say are in
// moderation.js.
//
// The server says in the page whether its moderation routes are beside the dashboard and on
// (dashboard-links.js): off, the panel says how to turn it on; on another listener (the public
// one of a server with --admin-bind), it is not shown. While unlocked, the seats are asked for
// every 2 s while a room is chosen and the bans every 5 s (not while the tab is hidden), and
// both after every action; an answer older than one already shown is dropped. The tables are
// updated in place (dom.js `syncRows`), so a row's text can be selected, a click is not lost to
// a refresh, and a button keeps the keyboard focus. An action's button stays focusable while it
// runs (aria-disabled) and does nothing when pressed again, so a double click acts once. Only
// what the operator does moves the focus; a poll's answer never does.

import { $, el, syncRows } from './dom.js';
import {
  MAX_REASON_BYTES, ModerationApi, ModerationError, actionKey, actionText, actorText, banOutcome, banTarget, formatLeft, kickOutcome, lateInputsCell, logScope, muteOutcome, roundTripCell, seatLabel, tokenStore,
} from './moderation.js';

/** @typedef {import('./moderation.js').Seat} Seat */
/** @typedef {import('./moderation.js').Ban} Ban */
/** @typedef {import('./moderation.js').Outcome} Outcome */
/** @typedef {import('./moderation.js').ActionLog} ActionLog */

const SEATS_MS = 2000;
const BANS_MS = 5000;
/** How many of the node's last actions the panel lists. */
const LOG_ROWS = 20;
/** How soon a kept token the server could not check (no answer) is tried again. */
const RECHECK_MS = 5000;
/**
 * The most seats listed at once: a room may hold thousands of spectators, and the filter finds
 * any of them. Ships are listed first.
 */
export const MAX_SEAT_ROWS = 200;
/** The most bans listed at once (a node holds up to 10,000); the filter finds any of them. */
export const MAX_BAN_ROWS = 50;

/** The moderation panel of the dashboard page. */
export class ModerationPanel {
  /**
   * @param {'on' | 'off' | ''} state the page's `tickwire-moderation` marker
   * @param {() => void} roomsChanged redraws the rooms table (its "moderate" buttons)
   */
  constructor(state, roomsChanged) {
    this.state = state;
    this.roomsChanged = roomsChanged;
    /** Where a token is kept through reloads, when the operator asks for that. */
    this.kept = tokenStore(storage());
    /** @type {ModerationApi | null} null while locked */
    this.api = null;
    /** @type {string | null} the room whose seats are shown */
    this.room = null;
    /** @type {Seat[]} the room's seats, as last answered */
    this.seats = [];
    /** @type {string | null} what the seats' note says instead of their count (an error) */
    this.seatsNote = null;
    /** @type {Ban[]} the bans, as last answered */
    this.bans = [];
    this.bansNote = '';
    /** Requests of each table made, and the newest whose answer is shown. */
    this.asked = { seats: 0, bans: 0 };
    this.shown = { seats: 0, bans: 0 };
    /** @type {Seat | null} the seat the removal form is for */
    this.removing = null;
    /** Bumped on every choice of a room: the seats' poll of an older one stops. */
    this.choice = 0;
    /** @type {Set<string>} the actions under way, by their button's focus key */
    this.pending = new Set();
    this.bansListedAt = Date.now();
    /**
     * The ban the result line offers to make again (its Undo), and when its time left was
     * true (the list it was lifted from); null once the line says anything else.
     * @type {{ ban: Ban, listedAt: number } | null}
     */
    this.undoable = null;
  }

  /** Shows the panel as the server's marker says; unlocks at once with a kept token. */
  start() {
    if (this.state === '') return;
    $('#mod-panel').hidden = false;
    if (this.state !== 'on') {
      $('#mod-off').hidden = false;
      return;
    }
    $('#mod-unlock').addEventListener('submit', (e) => {
      e.preventDefault();
      const input = /** @type {HTMLInputElement} */ ($('#mod-token'));
      void this.unlock(input.value.trim(), /** @type {HTMLInputElement} */ ($('#mod-keep')).checked, true);
    });
    $('#mod-lock').addEventListener('click', () => this.lock(null, true));
    $('#mod-remove').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.remove();
    });
    $('#mod-remove').addEventListener('keydown', (e) => {
      if (/** @type {KeyboardEvent} */ (e).key === 'Escape') this.cancelRemoval();
    });
    $('#mod-remove-cancel').addEventListener('click', () => this.cancelRemoval());
    $('#mod-ban').addEventListener('submit', (e) => {
      e.preventDefault();
      void this.ban();
    });
    $('#mod-ban-kind').addEventListener('change', () => {
      const address = /** @type {HTMLSelectElement} */ ($('#mod-ban-kind')).value === 'address';
      /** @type {HTMLInputElement} */ ($('#mod-ban-target')).placeholder = address
        ? '203.0.113.9 or 203.0.113.0/24'
        : 'a name (stops only the careless without join tokens)';
    });
    $('#mod-result-undo').addEventListener('click', () => void this.undoLift());
    $('#mod-seats-filter').addEventListener('input', () => this.showSeats());
    $('#mod-bans-filter').addEventListener('input', () => this.showBans(this.bans));
    const token = this.kept.load();
    this.showLocked();
    if (token) {
      this.say({ text: 'Checking the kept token…', warning: '' });
      void this.unlock(token, true, false);
    }
  }

  /** Whether the rooms table offers each room's seats. */
  get unlocked() {
    return this.api !== null;
  }

  /**
   * The rooms table's control for `room`: a button that shows its seats here, or, for a fleet's
   * room hosted by another node (each node moderates its own seats), text saying which; null
   * while locked.
   * @param {string} room @param {string | null} elsewhere the node hosting it, if not this one
   * @returns {HTMLElement | null}
   */
  roomControl(room, elsewhere) {
    if (!this.api) return null;
    if (elsewhere !== null) {
      return el('span', { className: 'muted elsewhere', title: `Each node moderates its own rooms: open node ${elsewhere}'s dashboard` }, `on ${elsewhere}`);
    }
    const button = /** @type {HTMLButtonElement} */ (el('button', { type: 'button', className: 'link' }, 'moderate'));
    button.dataset.focus = `moderate:${room}`;
    button.setAttribute('aria-label', `Moderate ${room}: its seats`);
    button.setAttribute('aria-pressed', String(this.room === room));
    button.addEventListener('click', () => this.choose(room));
    return button;
  }

  /**
   * Checks `token` with a request, then takes it (kept through reloads if `keep`) and starts
   * polling. A kept token the server could not check is tried again in a while.
   * @param {string} token @param {boolean} keep
   * @param {boolean} interactive the operator pressed Unlock (the focus follows), rather than
   *   the page checking a kept token
   */
  async unlock(token, keep, interactive) {
    if (!token) return;
    if (this.pending.has('unlock')) {
      if (interactive) this.say({ text: 'Already checking a token: a moment…', warning: '' });
      return;
    }
    this.pending.add('unlock');
    const api = new ModerationApi(token);
    try {
      const bans = await api.bans();
      if (this.api) return;
      this.api = api;
      if (keep) this.kept.save(token);
      else this.kept.forget();
      /** @type {HTMLInputElement} */ ($('#mod-token')).value = '';
      $('#mod-unlock').hidden = true;
      $('#mod-on').hidden = false;
      this.say({ text: keep ? 'Unlocked; the token is kept through reloads of this tab.' : 'Unlocked.', warning: '' });
      this.showBans(bans);
      this.roomsChanged();
      // On to where moderation starts: a room's "moderate" (the Rooms table is above).
      if (interactive) {
        const first = document.querySelector('#rooms-body button[data-focus^="moderate:"]');
        (first instanceof HTMLElement ? first : $('#mod-title')).focus();
      }
      this.poll(() => this.api === api, BANS_MS, () => this.refreshBans());
    } catch (e) {
      const refused = e instanceof ModerationError && e.refusedToken;
      // The kept token goes only if it is the one refused (not a mistyped one beside it).
      if (refused && this.kept.load() === token) this.kept.forget();
      this.showLocked();
      this.sayError(e);
      if (e instanceof ModerationError && e.status === 0 && this.kept.load() === token) {
        setTimeout(() => { if (!this.api && this.kept.load() === token) void this.unlock(token, true, false); }, RECHECK_MS);
      }
      if (e instanceof ModerationError && e.status === 403) this.showOff();
    } finally {
      this.pending.delete('unlock');
    }
  }

  /**
   * Forgets the token and stops every poll; `error` says why, when the server refused it.
   * @param {unknown} error
   * @param {boolean} interactive the operator pressed Lock: the focus goes to the token field
   */
  lock(error, interactive) {
    // The focus is in the panel when it is about to lose its element there.
    const inPanel = $('#mod-on').contains(document.activeElement);
    this.api = null;
    this.room = null;
    this.choice += 1;
    this.kept.forget();
    this.closeRemoval();
    this.showLocked();
    this.seats = [];
    this.seatsNote = null;
    this.showSeats();
    if (error) this.sayError(error);
    else this.say({ text: 'Locked: this page no longer holds the token.', warning: '' });
    this.roomsChanged();
    if (interactive || inPanel) $('#mod-token').focus();
  }

  showLocked() {
    $('#mod-unlock').hidden = false;
    $('#mod-on').hidden = true;
  }

  /** The server turned moderation off (it restarted without a token). */
  showOff() {
    $('#mod-unlock').hidden = true;
    $('#mod-on').hidden = true;
    $('#mod-off').hidden = false;
  }

  /**
   * What a failed request means for the panel: a refused token locks it, moderation turned off
   * shows so; true when the panel took care of it.
   * @param {unknown} error
   */
  settled(error) {
    if (!(error instanceof ModerationError) || (error.status !== 401 && error.status !== 403)) return false;
    const inPanel = $('#mod-panel').contains(document.activeElement);
    this.lock(error, false);
    if (error.status === 403) {
      this.showOff();
      if (inPanel) $('#mod-title').focus();
    }
    return true;
  }

  /** @param {string} room */
  choose(room) {
    const { api } = this;
    this.room = room;
    const choice = ++this.choice;
    this.closeRemoval();
    $('#mod-seats-room').textContent = room;
    /** @type {HTMLInputElement} */ ($('#mod-seats-filter')).value = '';
    this.seats = [];
    this.seatsNote = 'asking…';
    this.showSeats();
    this.roomsChanged();
    // The seats may be far below the rooms table: bring them into view, for the keyboard too.
    $('#mod-seats-title').focus();
    this.poll(() => this.api === api && this.choice === choice, SEATS_MS, () => this.refreshSeats());
  }

  /**
   * Runs `ask` now, and again `ms` after each answer while `current()` holds; skipped while
   * the tab is hidden.
   * @param {() => boolean} current @param {number} ms @param {() => Promise<void>} ask
   */
  poll(current, ms, ask) {
    const round = async () => {
      if (!current()) return;
      if (!document.hidden) await ask();
      if (current()) setTimeout(round, ms);
    };
    void round();
  }

  async refreshSeats() {
    const { api, room } = this;
    if (!api || room === null) return;
    const asked = ++this.asked.seats;
    try {
      const seats = await api.seats(room);
      // A later request's answer may be shown already (one made after an action).
      if (room !== this.room || api !== this.api || asked < this.shown.seats) return;
      this.shown.seats = asked;
      this.seats = seats;
      this.seatsNote = null;
      this.showSeats();
    } catch (e) {
      if (room !== this.room || api !== this.api || asked < this.shown.seats || this.settled(e)) return;
      this.shown.seats = asked;
      this.seatsNote = e instanceof Error ? e.message : String(e);
      // A room that closed does not come back under this name soon: stop asking.
      if (e instanceof ModerationError && e.status === 404) {
        this.room = null;
        this.choice += 1;
        this.closeRemoval();
        this.seats = [];
        this.roomsChanged();
      }
      this.showSeats();
    }
  }

  async refreshBans() {
    const { api } = this;
    if (!api) return;
    const asked = ++this.asked.bans;
    try {
      const [bans, log] = await Promise.all([api.bans(), api.log(LOG_ROWS)]);
      if (api !== this.api || asked < this.shown.bans) return;
      this.shown.bans = asked;
      this.bansNote = '';
      this.showBans(bans);
      this.showLog(log);
    } catch (e) {
      if (api !== this.api || asked < this.shown.bans || this.settled(e)) return;
      this.shown.bans = asked;
      this.bansNote = e instanceof Error ? e.message : String(e);
      this.showBans(this.bans);
    }
  }

  /**
   * Draws the seats: ships first, then the audience, as the filter leaves them, at most
   * {@link MAX_SEAT_ROWS}; with a note saying how many, or what went wrong.
   */
  showSeats() {
    // Shown while a room is chosen, and after its room closed, to say so.
    $('#mod-seats').hidden = this.room === null && this.seatsNote === null;
    const filter = /** @type {HTMLInputElement} */ ($('#mod-seats-filter')).value.trim().toLowerCase();
    const matching = this.seats
      .filter((s) => !filter || s.name.toLowerCase().includes(filter) || s.address.includes(filter))
      .sort((a, b) => Number(a.role === 'spectator') - Number(b.role === 'spectator') || a.player - b.player);
    const shown = matching.slice(0, MAX_SEAT_ROWS);
    syncRows($('#mod-seats-body'), shown, (seat) => `${seat.room}:${seat.player}`, (seat) => this.seatCells(seat));
    let text = this.seatsNote ?? '';
    if (this.seatsNote === null && this.room !== null) {
      if (this.seats.length === 0) text = 'Nobody is seated in this room.';
      else if (matching.length === 0) text = `None of the ${this.seats.length} seats matches the filter.`;
      else if (shown.length < matching.length) text = `Showing ${shown.length} of ${matching.length} seats: filter by name or address to find the others.`;
    }
    $('#mod-seats-note').textContent = text;
  }

  /** @param {Seat} seat @returns {import('./dom.js').Cell[]} */
  seatCells(seat) {
    const who = seatLabel(seat);
    const muted = seat.muted_secs !== undefined;
    const muteKey = `mute:${seat.room}:${seat.player}`;
    const removeKey = `remove:${seat.room}:${seat.player}`;
    const actions = {
      className: 'actions',
      stamp: JSON.stringify([who, muted, this.pending.has(muteKey), this.pending.has(removeKey)]),
      make: () => {
        const mute = this.action(muted ? 'unmute' : 'mute', `${muted ? 'Unmute' : 'Mute'} ${who}`, muteKey,
          () => (muted ? this.unmute(seat) : this.mute(seat)));
        mute.title = muted ? 'Let this seat chat again' : 'Its chat lines reach nobody else (it is not told)';
        const remove = this.action('remove…', `Remove ${who}…`, removeKey, () => this.openRemoval(seat));
        remove.title = 'Close its connection with a reason, and ban it if you like';
        return [mute, ' ', remove];
      },
    };
    return [
      String(seat.player),
      { text: seat.name || '–', className: 'name' },
      seat.role,
      seat.score === null ? '–' : String(seat.score),
      seat.address,
      seat.connected ? 'connected' : 'away',
      roundTripCell(seat.round_trip_ms),
      lateInputsCell(seat.late_inputs_pct, seat.input_buffer_ms),
      muted ? `muted, ${formatLeft(/** @type {number} */ (seat.muted_secs))} left` : '',
      actions,
    ];
  }

  /**
   * Draws the bans as the filter leaves them, soonest to end first, at most
   * {@link MAX_BAN_ROWS}.
   * @param {Ban[]} bans
   */
  showBans(bans) {
    // A new answer: when its times left were true, for an Undo of a lift.
    if (bans !== this.bans) this.bansListedAt = Date.now();
    this.bans = bans;
    $('#mod-bans-empty').hidden = bans.length > 0;
    const filter = /** @type {HTMLInputElement} */ ($('#mod-bans-filter')).value.trim().toLowerCase();
    const matching = bans.filter((b) => !filter || banTarget(b)[1].toLowerCase().includes(filter) || b.reason.toLowerCase().includes(filter));
    const shown = matching.slice(0, MAX_BAN_ROWS);
    let count = '';
    if (bans.length > 0 && matching.length === 0) count = `None of the ${bans.length} bans matches the filter.`;
    else if (shown.length < matching.length) count = `Showing ${shown.length} of ${matching.length} bans: filter to find the others.`;
    $('#mod-bans-note').textContent = this.bansNote || count;
    syncRows($('#mod-bans-body'), shown, (ban) => banTarget(ban).join(':'), (ban) => {
      const [kind, target] = banTarget(ban);
      const key = `lift:${kind}:${target}`;
      return [
        { stamp: `${kind}:${target}`, make: () => [el('span', { className: 'muted' }, `${kind} `), target] },
        formatLeft(ban.remaining_secs),
        { text: ban.reason, className: 'name' },
        {
          className: 'actions',
          stamp: String(this.pending.has(key)),
          make: () => [this.action('lift', `Lift the ban of ${kind} ${target}`, key, () => this.lift(ban))],
        },
      ];
    });
  }

  /** @param {ActionLog} log the last actions, newest first: this node's or the fleet's */
  showLog(log) {
    const { scope, note } = logScope(log);
    $('#mod-log-scope').textContent = scope;
    $('#mod-log-note').textContent = note;
    $('#mod-log-empty').hidden = log.actions.length > 0;
    const today = new Date().toDateString();
    syncRows($('#mod-log-body'), log.actions, actionKey, (record) => {
      const at = new Date(record.at_unix_ms);
      const when = at.toDateString() === today ? at.toLocaleTimeString() : at.toLocaleString();
      return [when, actorText(record), { text: actionText(record), className: 'name' }];
    });
  }

  /**
   * A button that runs `act`, once at a time: pressed again while it runs, it does nothing. It
   * keeps the focus meanwhile (aria-disabled, not disabled).
   * @param {string} label @param {string} name what it does, for a screen reader
   * @param {string} key the action's focus key @param {() => Promise<void> | void} act
   */
  action(label, name, key, act) {
    const button = /** @type {HTMLButtonElement} */ (el('button', { type: 'button' }, label));
    button.dataset.focus = key;
    button.setAttribute('aria-label', name);
    if (this.pending.has(key)) button.setAttribute('aria-disabled', 'true');
    button.addEventListener('click', async () => {
      if (this.pending.has(key)) return;
      this.pending.add(key);
      this.redraw();
      try {
        await act();
      } finally {
        this.pending.delete(key);
        this.redraw();
      }
    });
    return button;
  }

  /** Draws the tables again with the actions under way (their buttons aria-disabled). */
  redraw() {
    this.showSeats();
    this.showBans(this.bans);
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

  /** Closes the removal form and gives the focus back to the row's button (or the seats). */
  cancelRemoval() {
    const seat = this.removing;
    this.closeRemoval();
    const key = seat && `remove:${seat.room}:${seat.player}`;
    const button = Array.from(document.querySelectorAll('#mod-seats-body [data-focus]'))
      .find((b) => b instanceof HTMLElement && b.dataset.focus === key);
    if (button instanceof HTMLElement) button.focus();
    else $('#mod-seats-title').focus();
  }

  async remove() {
    const seat = this.removing;
    if (!seat || this.pending.has('remove')) return;
    const reason = /** @type {HTMLInputElement} */ ($('#mod-reason')).value.trim();
    const bytes = new TextEncoder().encode(reason).length;
    if (bytes > MAX_REASON_BYTES) {
      this.sayError(new Error(`The reason is ${bytes} bytes; at most ${MAX_REASON_BYTES} (the player sees it whole).`));
      return;
    }
    const ban = /** @type {HTMLSelectElement} */ ($('#mod-remove-ban')).value;
    const done = await this.busy('remove', $('#mod-remove-submit'),
      (api) => api.kick(seat.room, { player: seat.player, reason, ban: ban || undefined }).then(kickOutcome));
    if (done && this.removing === seat) {
      /** @type {HTMLInputElement} */ ($('#mod-reason')).value = '';
      this.closeRemoval();
      $('#mod-seats-title').focus();
    }
  }

  async ban() {
    if (this.pending.has('ban')) return;
    const kind = /** @type {'address' | 'name'} */ (/** @type {HTMLSelectElement} */ ($('#mod-ban-kind')).value);
    const target = /** @type {HTMLInputElement} */ ($('#mod-ban-target')).value.trim();
    const length = /** @type {HTMLInputElement} */ ($('#mod-ban-for')).value.trim();
    const reason = /** @type {HTMLInputElement} */ ($('#mod-ban-reason')).value.trim();
    const bytes = new TextEncoder().encode(reason).length;
    if (bytes > MAX_REASON_BYTES) {
      this.sayError(new Error(`The reason is ${bytes} bytes; at most ${MAX_REASON_BYTES}.`));
      return;
    }
    const done = await this.busy('ban', $('#mod-ban-submit'), (api) => api.ban({ kind, target, length, reason }).then(banOutcome));
    if (done) {
      /** @type {HTMLInputElement} */ ($('#mod-ban-target')).value = '';
      /** @type {HTMLInputElement} */ ($('#mod-ban-reason')).value = '';
    }
  }

  /**
   * A form's action, once at a time, its submit button marked busy meanwhile.
   * @param {string} key @param {HTMLElement} submit @param {(api: ModerationApi) => Promise<Outcome>} act
   */
  async busy(key, submit, act) {
    this.pending.add(key);
    submit.setAttribute('aria-disabled', 'true');
    try {
      return await this.act(act);
    } finally {
      this.pending.delete(key);
      submit.removeAttribute('aria-disabled');
    }
  }

  /** @param {Ban} ban */
  async lift(ban) {
    const [kind, target] = banTarget(ban);
    const listedAt = this.bansListedAt;
    const done = await this.act(async (api) => {
      await api.lift(ban);
      return { text: `Lifted the ban of ${kind} ${target}.`, warning: '' };
    });
    if (!done) return;
    // A lift takes no confirmation, so a slip is one click to mend: the same ban again, for
    // what it had left, with its reason.
    this.undoable = { ban, listedAt };
    const undo = $('#mod-result-undo');
    undo.setAttribute('aria-label', `Undo: ban ${kind} ${target} again, for what it had left`);
    undo.hidden = false;
    // Its row is gone, and the focus with it: onto the Undo, the one thing a slip needs next
    // (unless the operator went on elsewhere meanwhile).
    if (focusLost($('#mod-bans-body'))) undo.focus();
  }

  /** Makes the ban the last lift took away again, for the time it had left then. */
  async undoLift() {
    const lifted = this.undoable;
    if (!lifted || this.pending.has('undo')) return;
    const { ban, listedAt } = lifted;
    const [kind, target] = banTarget(ban);
    const left = ban.remaining_secs - Math.floor((Date.now() - listedAt) / 1000);
    if (left < 1) {
      this.sayLine(`The ban of ${kind} ${target} would have ended by now: nothing to undo.`, 'warn');
      return;
    }
    const undo = $('#mod-result-undo');
    await this.busy('undo', undo,
      (api) => api.ban({ kind, target, length: `${left}s`, reason: ban.reason }).then(banOutcome));
    // The Undo hid itself: the focus goes to the ban back in the table (its lift), or to the
    // bans' heading if it is not listed.
    if (!focusLost(undo)) return;
    const lift = Array.from(document.querySelectorAll('#mod-bans-body [data-focus]'))
      .find((b) => b instanceof HTMLElement && b.dataset.focus === `lift:${kind}:${target}`);
    (lift instanceof HTMLElement ? lift : $('#mod-bans-title')).focus();
  }

  /**
   * Runs one action, says how it went, and asks for the seats and bans again (whatever it did,
   * they may have changed). True when it succeeded. An answer that comes after a Lock is not
   * shown: the panel says it is locked.
   * @param {(api: ModerationApi) => Promise<Outcome>} act
   */
  async act(act) {
    const { api } = this;
    if (!api) return false;
    let done = false;
    try {
      const outcome = await act(api);
      if (api !== this.api) return false;
      this.say(outcome);
      done = true;
    } catch (e) {
      if (api !== this.api || this.settled(e)) return false;
      this.sayError(e);
    }
    await Promise.all([this.refreshSeats(), this.refreshBans()]);
    return done;
  }

  /** @param {Outcome} outcome */
  say({ text, warning }) {
    this.sayLine([text, warning].filter(Boolean).join(' '), warning ? 'warn' : '');
  }

  /** @param {unknown} error */
  sayError(error) {
    const message = error instanceof Error ? error.message : String(error);
    this.sayLine(error instanceof ModerationError && error.refusedToken ? `The server refused the token: ${message}` : message, 'bad');
  }

  /** @param {string} text @param {'' | 'warn' | 'bad'} tone */
  sayLine(text, tone) {
    this.undoable = null;
    $('#mod-result-undo').hidden = true;
    $('#mod-result').className = tone;
    $('#mod-result').textContent = text;
    // When, so that an operator coming back to the page knows how old the line is.
    $('#mod-result-time').textContent = text ? new Date().toLocaleTimeString() : '';
  }
}

/**
 * Whether the keyboard focus was lost with `where` (it was there and went with an element
 * hidden or removed: the page's body has it) or is still there, rather than moved on elsewhere.
 * @param {Element} where
 */
function focusLost(where) {
  const focused = document.activeElement;
  return !focused || focused === document.body || where.contains(focused);
}

/** This tab's sessionStorage, or none where the browser refuses it. */
function storage() {
  try {
    return globalThis.sessionStorage ?? null;
  } catch {
    return null;
  }
}
