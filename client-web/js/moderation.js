// The dashboard's moderation, apart from the page so it can be tested in Node: the operators'
// routes (README, Moderation) as calls that take the admin token, what their answers say in an
// operator's words, and where the page keeps the token.
//
// The token is sent as `Authorization: Bearer`, never in a URL or a cookie, so no other page
// can make the browser use it (no CSRF). The page holds it in memory; only when the operator
// asks is it also kept in this tab's sessionStorage, for reloads (until Lock, or until the
// browser drops the tab's storage). The server stays the judge of every
// request (lengths, reasons, addresses): its answer, a status and a line saying what is wrong,
// is shown as it is.

/** Where the tab keeps the admin token, when the operator asks it to. */
export const TOKEN_KEY = 'tickwire.adminToken';

/** The longest reason the server takes, in bytes of UTF-8: the player sees it whole. */
export const MAX_REASON_BYTES = 64;

/**
 * How long an action may take: a removal asks the room, and with a ban every room of the node,
 * each given 2 s by the server before it answers 503.
 */
export const ACTION_MS = 15_000;

/** A request the server refused, or that got no answer (`status` 0). */
export class ModerationError extends Error {
  /** @param {number} status the HTTP status; 0 when no answer came @param {string} message */
  constructor(status, message) {
    super(message);
    this.name = 'ModerationError';
    this.status = status;
  }

  /** Whether the token was refused (401): the panel locks and asks for it again. */
  get refusedToken() {
    return this.status === 401;
  }
}

/**
 * @typedef {object} Seat a seat, as `GET /rooms/{room}/seats` lists it
 * @property {string} room
 * @property {number} player
 * @property {string} name
 * @property {'player' | 'spectator' | 'controller'} role
 * @property {number | null} score
 * @property {string} address
 * @property {boolean} connected
 * @property {number | null} round_trip_ms the client's round trip as the server last measured
 *   it from its acks, to a tenth of a ms (sampled once a second); null while away, or before
 *   the first sample
 * @property {number | null} late_inputs_pct the share of its ticks that ran without its input
 *   (late: the server played its last input again) through its last second or so, percent to a
 *   tenth; null for a spectator, while away, before its first second of inputs, or for a
 *   client that does not send an input every tick
 * @property {number | null} input_buffer_ms how long its inputs waited in the server's jitter
 *   buffer past their first possible tick, on average through that second, to a tenth of a ms
 * @property {number} [muted_secs]
 */

/**
 * @typedef {object} Ban a ban, as `GET /bans` lists it
 * @property {string} [address]
 * @property {string} [name]
 * @property {string} reason
 * @property {number} until_unix_ms
 * @property {number} remaining_secs
 */

/**
 * @typedef {object} KickReply `POST /rooms/{room}/kick`'s answer
 * @property {Seat} removed
 * @property {Ban[]} bans
 * @property {Seat[]} [also_removed]
 * @property {string[]} [unanswered]
 * @property {string} [fleet_error]
 */

/**
 * @typedef {object} BanReply `POST /bans`'s answer
 * @property {Ban} ban
 * @property {Seat[]} removed
 * @property {string[]} unanswered
 */

/**
 * @typedef {object} ActionRecord one operator action, as `GET /moderation/log` lists it
 * @property {number} seq
 * @property {number} at_unix_ms
 * @property {string} operator who: `admin` (`--admin-token`) or a name of `--admin-tokens`
 * @property {string} from the address the operator's request came from
 * @property {'remove' | 'remove and ban' | 'mute' | 'unmute' | 'ban' | 'lift'} action
 * @property {string} [room]
 * @property {string} target a seat (`Ada (seat 3)`), or what a ban bans
 * @property {string} [address] a seat's client address
 * @property {string} [reason]
 * @property {number} [secs] how long a mute or a ban lasts
 * @property {string} [node] in a fleet, the node it was done on
 * @property {string} [id] in a fleet, its entry in the fleet's log
 */

/**
 * @typedef {object} ActionLog `GET /moderation/log`'s answer
 * @property {ActionRecord[]} actions newest first
 * @property {'fleet' | 'node'} scope every node's actions (a fleet's log), or this node's
 * @property {string} [warning] why a node of a fleet lists its own only
 */

/** The operators' routes, relative to the page (a reverse proxy's path prefix is kept). */
export class ModerationApi {
  /**
   * @param {string} token the server's `--admin-token`
   * @param {typeof fetch} [fetchImpl]
   * @param {number} [timeoutMs]
   */
  constructor(token, fetchImpl = (input, init) => fetch(input, init), timeoutMs = ACTION_MS) {
    this.token = token;
    this.fetch = fetchImpl;
    this.timeoutMs = timeoutMs;
  }

  /**
   * One request; the JSON answer, or a {@link ModerationError} with the server's own words.
   * @param {string} method @param {string} path @param {object} [body]
   * @returns {Promise<any>}
   */
  async request(method, path, body) {
    /** @type {Record<string, string>} */
    const headers = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    try {
      let response;
      try {
        response = await this.fetch(path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          cache: 'no-store',
          signal: controller.signal,
        });
      } catch (e) {
        const why = timedOut ? `no answer in ${this.timeoutMs / 1000} s` : String(e);
        // Asking again is harmless; an action may have been taken all the same.
        const then = method === 'GET' ? '' : '; it may still have acted: look again before repeating';
        throw new ModerationError(0, `the server did not answer (${why})${then}`);
      }
      if (!response.ok) {
        const text = (await response.text().catch(() => '')).trim();
        throw new ModerationError(response.status, text || `HTTP ${response.status}`);
      }
      try {
        return await response.json();
      } catch {
        // A login page of a proxy in front of the server, say.
        throw new ModerationError(response.status, `the answer to ${method} ${path} was not the server's JSON: is something in between?`);
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** @param {string} room @returns {Promise<Seat[]>} */
  async seats(room) {
    return (await this.request('GET', `${roomPath(room)}/seats`)).seats;
  }

  /**
   * Removes a seat's client, and with `ban` bans it for that long (`90s`, `10m`, `12h`, `7d`).
   * @param {string} room @param {{ player: number, reason?: string, ban?: string }} kick
   * @returns {Promise<KickReply>}
   */
  kick(room, { player, reason = '', ban }) {
    return this.request('POST', `${roomPath(room)}/kick`, ban ? { player, reason, ban } : { player, reason });
  }

  /** @param {string} room @param {number} player @param {string} length @returns {Promise<Seat>} */
  mute(room, player, length) {
    return this.request('POST', `${roomPath(room)}/mute`, { player, for: length });
  }

  /** @param {string} room @param {number} player @returns {Promise<Seat>} */
  unmute(room, player) {
    return this.request('DELETE', `${roomPath(room)}/mute?player=${player}`);
  }

  /** @returns {Promise<Ban[]>} */
  async bans() {
    return (await this.request('GET', 'bans')).bans;
  }

  /**
   * @param {{ kind: 'address' | 'name', target: string, length: string, reason?: string }} ban
   * @returns {Promise<BanReply>}
   */
  ban({ kind, target, length, reason = '' }) {
    return this.request('POST', 'bans', { [kind]: target, for: length, reason });
  }

  /** @param {number} limit @returns {Promise<ActionLog>} the newest `limit` actions */
  async log(limit) {
    const reply = await this.request('GET', `moderation/log?limit=${limit}`);
    // A server older than the fleet's log answered no scope: its own node's.
    return { actions: reply.actions, scope: reply.scope ?? 'node', warning: reply.warning };
  }

  /** @param {Ban} ban as listed @returns {Promise<{ bans: Ban[] }>} */
  lift(ban) {
    const [kind, target] = banTarget(ban);
    return this.request('DELETE', `bans?${kind}=${encodeURIComponent(target)}`);
  }
}

/** @param {string} room */
function roomPath(room) {
  return `rooms/${encodeURIComponent(room)}`;
}

/**
 * What a ban bans: `['address', '2001:db8::/64']` or `['name', 'griefer']`.
 * @param {Ban} ban @returns {['address' | 'name', string]}
 */
export function banTarget(ban) {
  return ban.address !== undefined ? ['address', ban.address] : ['name', ban.name ?? ''];
}

/**
 * A time left, rounded as a person reads it: `45 s`, `9 min`, `2 h 5 min`, `3 d 4 h`.
 * @param {number} secs
 */
export function formatLeft(secs) {
  const s = Math.max(0, Math.ceil(secs));
  if (s < 60) return `${s} s`;
  // Each unit from the rounded-up count of the one below it, so 3,599 s reads `1 h`.
  const minutes = Math.ceil(s / 60);
  if (minutes < 60) return `${minutes} min`;
  if (minutes < 24 * 60) {
    const [h, m] = [Math.floor(minutes / 60), minutes % 60];
    return m ? `${h} h ${m} min` : `${h} h`;
  }
  const hours = Math.ceil(s / 3600);
  const [d, h] = [Math.floor(hours / 24), hours % 24];
  return h ? `${d} d ${h} h` : `${d} d`;
}

/** An action game starts to feel sluggish past a round trip of about this long, in ms. */
export const ROUND_TRIP_WARN_MS = 150;
/**
 * The server's alert on round trips (deploy/prometheus/alerts.yml, TickwireRoundTripHigh)
 * fires when one in twenty of a node's ships' is this long or more (a p95), in ms: a seat this
 * slow is one of those it is about.
 */
export const ROUND_TRIP_BAD_MS = 250;

/**
 * A seat's round trip as the seats table shows it: `42 ms`, `4.2 ms` below 10 ms (where a
 * tenth is still a fair part of it), `–` when unmeasured; marked `warn` from
 * {@link ROUND_TRIP_WARN_MS}, `bad` from {@link ROUND_TRIP_BAD_MS}.
 * @param {number | null} ms
 * @returns {{ text: string, className: '' | 'warn' | 'bad' }}
 */
export function roundTripCell(ms) {
  if (ms === null) return { text: '–', className: '' };
  // Marked by the number shown, so a 149.6 that reads `150 ms` is marked as one.
  const shown = ms < 10 ? ms : Math.round(ms);
  const className = shown >= ROUND_TRIP_BAD_MS ? 'bad' : shown >= ROUND_TRIP_WARN_MS ? 'warn' : '';
  return { text: `${ms < 10 ? ms.toFixed(1) : shown} ms`, className };
}

/**
 * From this share of a ship's ticks without its input, in percent, the player sees its ship
 * corrected about once a second (one tick in 32).
 */
export const LATE_INPUTS_WARN_PCT = 3;
/**
 * The server's alert on late inputs (deploy/prometheus/alerts.yml, TickwireInputsLate) fires
 * when this share of a node's ships' ticks, in percent, ran without their input: a seat this
 * late is one of those it is about.
 */
export const LATE_INPUTS_BAD_PCT = 5;

/**
 * A seat's late inputs as the seats table shows them: `3%`, and `· +33 ms` when its inputs
 * wait in the server's jitter buffer (the delay it adds to absorb the client's jitter), `–`
 * when unmeasured; marked `warn` from {@link LATE_INPUTS_WARN_PCT}, `bad` from
 * {@link LATE_INPUTS_BAD_PCT}.
 * @param {number | null} pct
 * @param {number | null} bufferMs
 * @returns {{ text: string, className: '' | 'warn' | 'bad' }}
 */
export function lateInputsCell(pct, bufferMs) {
  if (pct === null) return { text: '–', className: '' };
  // Marked by the number shown, as a round trip is.
  const shown = Math.round(pct);
  const className = shown >= LATE_INPUTS_BAD_PCT ? 'bad' : shown >= LATE_INPUTS_WARN_PCT ? 'warn' : '';
  const buffer = bufferMs !== null && bufferMs >= 0.5 ? ` · +${Math.round(bufferMs)} ms` : '';
  return { text: `${shown}%${buffer}`, className };
}

/** @param {Seat} seat @returns {string} e.g. `Alice (seat 3)` */
export function seatLabel(seat) {
  return `${seat.name || 'someone without a name'} (seat ${seat.player})`;
}

/**
 * @param {Seat[]} seats @param {string} [where] how a seat's room is named, when all are of one
 * @returns {string}
 */
function listSeats(seats, where) {
  return seats.map((s) => `${seatLabel(s)}${where === undefined ? ` in ${s.room}` : ''}`).join(', ');
}

/**
 * What happened, in a sentence or two, and what went only partly right, apart.
 * @typedef {{ text: string, warning: string }} Outcome
 */

/** @param {KickReply} reply @returns {Outcome} */
export function kickOutcome(reply) {
  const parts = [`Removed ${seatLabel(reply.removed)} from ${reply.removed.room}.`];
  if (reply.bans.length > 0) {
    const targets = reply.bans.map((b) => banTarget(b)[1]).join(' and ');
    parts.push(`Banned ${targets} for ${formatLeft(reply.bans[0].remaining_secs)}.`);
  }
  const also = reply.also_removed ?? [];
  if (also.length > 0) parts.push(`The ban also removed ${listSeats(also)}.`);
  const warnings = [];
  if ((reply.unanswered ?? []).length > 0) {
    warnings.push(`Rooms that did not answer (their clients are refused when they join again): ${reply.unanswered?.join(', ')}.`);
  }
  if (reply.fleet_error) warnings.push(`${reply.fleet_error}.`);
  return { text: parts.join(' '), warning: warnings.join(' ') };
}

/** @param {BanReply} reply @returns {Outcome} */
export function banOutcome(reply) {
  const [kind, target] = banTarget(reply.ban);
  const parts = [`Banned ${kind} ${target} for ${formatLeft(reply.ban.remaining_secs)}.`];
  // In a fleet, the other nodes remove whoever it covers there when they next read the bans.
  parts.push(reply.removed.length > 0 ? `Removed ${listSeats(reply.removed)}.` : 'Nobody seated on this node was covered.');
  const warning = reply.unanswered.length > 0
    ? `Rooms that did not answer (their clients are refused when they join again): ${reply.unanswered.join(', ')}.`
    : '';
  return { text: parts.join(' '), warning };
}

/** @param {Seat} seat as the mute's answer gives it @returns {Outcome} */
export function muteOutcome(seat) {
  const text = seat.muted_secs === undefined
    ? `${seatLabel(seat)} may chat again.`
    : `Muted ${seatLabel(seat)} for ${formatLeft(seat.muted_secs)}: its chat reaches nobody else, and it is not told.`;
  return { text, warning: '' };
}

/**
 * An action of the log in a sentence: `removed and banned Ada (seat 3) from arena-1
 * (203.0.113.9) for 1 h: “spam”`.
 * @param {ActionRecord} record
 */
export function actionText(record) {
  const { target, room, address, secs } = record;
  const length = secs === undefined ? '' : ` for ${formatLeft(secs)}`;
  const from = address ? ` (${address})` : '';
  const text = {
    remove: `removed ${target} from ${room}${from}`,
    'remove and ban': `removed and banned ${target} from ${room}${from}${length}`,
    mute: `muted ${target} in ${room}${length}`,
    unmute: `unmuted ${target} in ${room}`,
    ban: `banned ${target}${length}`,
    lift: `lifted the ban of ${target}`,
  }[record.action] ?? `${record.action} ${target}`;
  return record.reason ? `${text}: “${record.reason}”` : text;
}

/**
 * A row's key in the log: the fleet log's entry, or the node's number for it (a node numbers
 * its own actions from 1, again after a restart).
 * @param {ActionRecord} record
 */
export function actionKey(record) {
  return record.id ?? `${record.node ?? ''}#${record.seq}`;
}

/** Who did it, and where in a fleet: `alice (10.0.0.9) on node-b`. @param {ActionRecord} record */
export function actorText(record) {
  const who = `${record.operator} (${record.from})`;
  return record.node ? `${who} on ${record.node}` : who;
}

/**
 * What the log's heading says it holds, and a note when a fleet's node could list only its own.
 * @param {ActionLog} log
 * @returns {{ scope: string, note: string }}
 */
export function logScope(log) {
  if (log.scope === 'fleet') return { scope: "(every node's, from the fleet's log)", note: '' };
  return { scope: "(this node's; its log keeps them all)", note: log.warning ?? '' };
}

/**
 * The tab's token store, over sessionStorage; a browser that refuses storage (a privacy
 * setting) keeps the token in the page alone, until it reloads.
 * @param {Pick<Storage, 'getItem' | 'setItem' | 'removeItem'> | null} storage
 */
export function tokenStore(storage) {
  /** @type {string | null} */
  let memory = null;
  return {
    /** @returns {string | null} */
    load() {
      try {
        return storage?.getItem(TOKEN_KEY) ?? memory;
      } catch {
        return memory;
      }
    },
    /** @param {string} token */
    save(token) {
      memory = token;
      try {
        storage?.setItem(TOKEN_KEY, token);
      } catch {
        // kept in memory
      }
    },
    forget() {
      memory = null;
      try {
        storage?.removeItem(TOKEN_KEY);
      } catch {
        // nothing kept
      }
    },
  };
}
