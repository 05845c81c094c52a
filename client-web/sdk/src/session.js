// The client session, sans-IO: no sockets and no clock. An IO driver (client.js, or your own)
// feeds it what happened, with the time as an argument, and carries out what it asks.
//
// Call order, for a driver:
//   session.connect(now)                      once, to start
//   loop:
//     for each action of session.pollAction(): 'open' → open a WebSocket to the server;
//                                              'close' → close the socket with code/reason;
//                                              with `abandon`, also stop listening to it
//     for each bytes of session.pollTransmit(): socket.send(bytes)
//     for each event of session.pollEvent():   hand it to the application
//     wait for the socket or until session.pollTimeout(), then call one of
//     handleOpen(now, transport) / handleMessage(bytes, now) /
//     handleClose(code, reason, wasClean, now) / handleTimeout(now)
//     (handleOpening(now) when it gives up on a transport that did not open and tries another)
// A close action with `abandon: true` means the session has already taken the connection as
// lost (it went silent, or never opened or answered in time) and moved on: a dead link may never
// deliver the socket's close event, so the driver must ignore everything that socket still
// reports, its close included, which would otherwise be taken for the next connection's.
// The application calls setInput(), chat(text, now) and leave(now) at any time, and
// retryNow(now) when it learns that the network may be back.

import { PROTOCOL_VERSION, ROLES, CloseCode, LIMITS, truncateUtf8, isValidRoomName } from './constants.js';
import { DecodeError, KickedError, VersionMismatchError, ConnectionClosedError, UnreachableError } from './errors.js';
import { decodeServerMessage, encodeClientMessage } from './messages.js';
import { ApplyError, WorldHistory } from './snapshot.js';
import { ChatBudget } from './pace.js';
import { InputPhase } from './phase.js';
import { numberOption, MAX_TIMER_MS } from './options.js';

/**
 * On the HTTP fallback the server encodes against the client's acks (PROTOCOL.md 6.1), so a
 * spectator acks at least this often (ticks) there and its deltas stay a few ticks old.
 */
const FALLBACK_SPECTATOR_ACK_EVERY = 8;

/**
 * A wake-up this long after the one {@link Session#pollTimeout} asked for (or, for a driver that
 * does not ask, after the deadline it handles) comes from a thread that did not run meanwhile (a
 * long script, a debugger, a machine waking from sleep): the messages that arrived during the
 * pause may still wait in the browser's queue behind the timer, where the driver cannot look. A
 * deadline that fell due by then is held for {@link LATE_WAKE_GRACE_MS} once, for them to be
 * handled. A background tab's timers run up to a second late and do not count.
 */
const LATE_WAKE_MS = 1000;
const LATE_WAKE_GRACE_MS = 1000;

/** @import { Role } from './messages.js' */
/** @import { Welcome } from './messages.js' */
/** @import { ClientMessage } from './messages.js' */
/** @import { EventKind } from './messages.js' */
/** @import { ControllerFeedback } from './messages.js' */
/** @import { World } from './snapshot.js' */
/** @import { Snapshot } from './snapshot.js' */

/**
 * The session's lifecycle.
 * - `idle`: not started. - `connecting`: a socket is opening or the `Hello` is out.
 * - `joined`: `Welcome` received, playing. - `reconnecting`: the connection dropped (or went
 *   silent); a new one opens after a backoff and resumes the seat. - `closing`: `leave()` sent
 *   close 1000 and waits for the server's answer, at most `closeTimeoutMs`. - `closed`: left
 *   properly. - `failed`: ended for good (`error` says why).
 * @typedef {'idle' | 'connecting' | 'joined' | 'reconnecting' | 'closing' | 'closed' | 'failed'} SessionState
 */

/**
 * Every number is checked by the constructor: anything but a number (a string from an
 * environment variable or a data- attribute, NaN) throws a TypeError, and a number out of its
 * range a RangeError, naming the option. Times are in ms, at most 2^31 - 1 (a timer's limit).
 * @typedef {object} ReconnectOptions
 * @property {number} [initialDelayMs] first retry after this long (default 250; >= 0): a blip resumes fast
 * @property {number} [maxDelayMs] the backoff stops growing here (default 4000), well inside
 *   the server's 10 s resume grace so a dropped seat is still there (>= 0)
 * @property {number} [factor] growth per failed attempt (default 2; >= 1, finite)
 * @property {number} [jitter] +/- share of randomness on each delay (default 0.2; 0 to 1), so a crowd
 *   dropped at once does not come back in lockstep
 * @property {number} [maxAttempts] retries after consecutive failed attempts (default 20; an
 *   integer >= 0, 0 never reconnects, or Infinity, which never gives up): the
 *   session gives up when the attempt after that many retries fails too
 * @property {number} [maxInitialAttempts] the same before the session's first `Welcome`, for
 *   a session that has no seat to resume (default 5: six connections in all, about 8 s at the
 *   default backoff, or `maxAttempts` when that is given; an integer >= 0 or Infinity): a first
 *   join that keeps failing is a
 *   server that is down or refuses this client (a bad or expired join token, an origin, no
 *   capacity: a browser's WebSocket cannot tell which; the HTTP fallback sees the status, or
 *   the client asks the server for it, and ends the join at once on a 4xx other than 408 and
 *   429), and a player is better told so than kept waiting a minute. A
 *   session given a `resumeToken` has a seat to get back and keeps to `maxAttempts`. Given up
 *   with no connection ever opened, the session fails with an `UnreachableError`
 * @property {number} [restartWindowMs] how long after the server says it goes away
 *   (`Kick { ShuttingDown }`, or a close 1001 or 1012 without a kick) failed attempts retry
 *   at `initialDelayMs` instead of growing, and count towards neither limit (default 10000, >= 0,
 *   the server's resume grace; 0: no window). A restarted server is back in a second or two,
 *   and a fleet's balancer sends the next attempt to another node at once: without the window
 *   the backoff has grown to seconds by then, and the player waits that long for nothing. The
 *   price is an attempt every `initialDelayMs` while the server is down. The window ends at
 *   the next `Welcome` or a kick for another reason (a live server's answer), and a first
 *   join (no `Welcome` yet, no `resumeToken`) opens none
 */

/**
 * Every number is checked by the constructor: anything but a number (a string from an
 * environment variable or a data- attribute, NaN) throws a TypeError, and a number out of its
 * range a RangeError, naming the option. Times are in ms, more than 0 and at most 2^31 - 1 (a
 * timer's limit).
 * @typedef {object} SessionOptions
 * @property {string} [name] display name, at most 24 UTF-8 bytes, else the constructor throws:
 *   `truncateUtf8(name, LIMITS.name)` cuts one that may be longer (default: empty, the server names it)
 * @property {Role} [role] default 'Player'
 * @property {string | null} [room] a room name (1 to 16 of `A-Z a-z 0-9 . _ -`, else the
 *   constructor throws: `isValidRoomName`), or null for matchmaking (default)
 * @property {ArrayLike<number> | null} [resumeToken] a token from an earlier `Welcome` (16
 *   bytes, else the constructor throws) to take its seat back
 * @property {ReconnectOptions} [reconnect]
 * @property {number} [pingIntervalMs] how often to measure the round trip once joined (default
 *   2000); the first ping goes with the `Welcome`. `Infinity` sends none but those that confirm
 *   chat lines (no `rtt` events)
 * @property {number} [silenceTimeoutMs] how long a connection may stay silent (no message at
 *   all) before it is taken for dead, closed with a code that keeps the seat
 *   (`CloseCode.BROWSER_TIMEOUT`) and resumed on a new one (default 5000). A healthy server is
 *   never that quiet: a player or spectator gets a snapshot every tick, a controller its
 *   feedback at least every second, and everyone the answers to these pings. A dead link
 *   (a NAT that dropped the flow, a laptop that slept) leaves a browser's socket open for
 *   minutes, long past the server's 10 s resume grace: 5 s notices it with time to spare for
 *   the reconnect, and is the server's own heartbeat interval. Lower notices sooner at the risk
 *   of dropping a merely stalled link, which costs a resume (a full snapshot); `Infinity` turns
 *   the check off. A page whose thread was held (a long script, a debugger, sleep) past the
 *   limit gets one second more, once, to read the messages that arrived meanwhile: a
 *   deadline handled a second or more late is not judged until they had their turn
 * @property {number} [connectTimeoutMs] how long a socket may take to open (default 10000; each
 *   transport `TickwireClient` tries in `auto` gets its own): a proxy may hold a blocked upgrade
 *   instead of refusing it. Past it the attempt counts as failed and the next is scheduled
 * @property {number} [joinTimeoutMs] how long the `Welcome` may take once the socket opened
 *   (default 5000, the server's own handshake timeout)
 * @property {number} [closeTimeoutMs] how long `leave()` waits for the server to answer its close
 *   (default 3000: the server's 2 s close timeout and a round trip); past it the session is
 *   `closed` anyway, with `answered: false`
 * @property {number} [inputRate] inputs per second while joined (a finite number > 0; under 1
 *   sends one a second); default: the room's tick rate,
 *   one input per tick, which is what prediction replays, timed to reach the server mid-tick
 *   (a given rate is sent as it is)
 * @property {number} [spectatorAckEvery] a spectator acks the newest snapshot once it is this many
 *   ticks past its last ack (default 30, once a second at 30 Hz; a full snapshot is acked at
 *   once). A spectator sends nothing but acks, so each is a message the server wakes up to read,
 *   and on a WebSocket a tickwire server encodes against the snapshots its socket took rather
 *   than against acks (PROTOCOL.md 6.1): acks only need to come within 64 ticks, round trip
 *   included. On the HTTP fallback, where the server encodes against acks, a spectator acks at
 *   least every 8 ticks. Counted in ticks, so a spectator that skips frames acks no later in
 *   time. 1 acks every snapshot, as players always do (their acks ride with inputs). An integer >= 1.
 * @property {number} [chatRate] the server's chat limit, lines per second (a finite number > 0;
 *   default 2, the
 *   server's `--chat-rate`). `chat()` sends lines no faster, so a chatty application is never
 *   kicked as `RateLimited`; raise it only for a server configured with a higher limit
 * @property {number} [chatBurst] the server's chat burst (an integer >= 1; default 5, its
 *   `--chat-burst`). Lines
 *   may reach the server bunched up (a stalled uplink, then a fast one), so a line counts against
 *   the burst until the `Pong` of a `Ping` sent after it confirms its arrival (the session pings
 *   for that when lines wait); one line of the burst is kept spare besides
 * @property {number} [chatQueue] lines waiting for their turn at most (an integer >= 1; default
 *   16); `chat()`
 *   returns false past it. Lines still waiting when the connection drops are dropped with it
 * @property {() => number} [random] for jitter; default Math.random (tests pass a fixed one)
 */

/** @typedef {{ name: string, role: Role }} RosterEntry a player or controller in `Session.roster` */

/**
 * What the session has for the application. An `event` of kind `Left` carries in `left` the
 * roster entry it removed: its listeners no longer find the player in `roster`.
 *
 * An `event` with `roster: true` is catch-up, not news: the roster the server sends with the
 * first tick after a `Welcome`, ahead of its snapshot (PROTOCOL.md 7.1 step 3), a `Joined` for
 * each player and controller in the room, with its score, and the `Audience` that ends it. A game fills its tables
 * (names, scoreboard) from these and announces only the events without the flag ("bob
 * joined"). After a resume (`welcome.resumed`) the session keeps its roster and passes on only
 * what changed while it was away: a `Joined` for each player it did not know, a `Scored` with
 * the score now for each it knew (scores move while a client is away), and a `Left` (with
 * `left`) for each it knew that is no longer there (not in a room past the roster's 128
 * entries, where the absent may just be unnamed); players it knew are not announced again.
 * `session.roster` fills as these events come: it is still empty when the `welcome` of a fresh
 * join is handled (after a resume it holds the players known before).
 * @typedef {{ type: 'state', state: SessionState, attempt?: number, delayMs?: number, cause?: Error }
 *   | { type: 'welcome', welcome: Welcome }
 *   | { type: 'snapshot', world: World, snapshot: Snapshot, receivedAt: number }
 *   | { type: 'event', tick: number, kind: EventKind, left?: RosterEntry, roster?: true }
 *   | { type: 'feedback', feedback: ControllerFeedback }
 *   | { type: 'rtt', rttMs: number, smoothedMs: number, serverTick: number }
 *   | { type: 'error', error: Error }
 *   | { type: 'closed', code: number, reason: string, answered: boolean }} SessionEvent
 */

/**
 * What the driver must do with its socket: open one, or close it with `code` and `reason`. A
 * close with `abandon` comes after the session took the connection as lost and moved on (see
 * the call order at the top of this file): the driver also stops listening to that socket.
 * @typedef {{ type: 'open' } | { type: 'close', code: number, reason: string, abandon?: true }} SessionAction
 */

/** @typedef {{ x: number, y: number, buttons: number }} InputState steering in [-1, 1], buttons bits */
/** @typedef {{ seq: number, x: number, y: number, buttons: number, sentAt: number }} SentInput quantized */
/** @typedef {{ at: number, chats: number }} PingSent when a `Ping` went, and the chat lines of its connection sent before it */

/** Kicks after which retrying would fail the same way, or must not be tried: `Replaced` (it
 * would take the seat back and forth) and `Removed` (an operator removed this client or bans it
 * for a while: the seat is gone, a banned client is refused alike, and the message, which says
 * which and why, is for the person to read and decide on; PROTOCOL.md 5). (`Full` only on a
 * first join, and `ResumeRejected` only without a token to drop: see
 * {@link Session#handleClose}.) */
/** @type {Set<string>} */
const FATAL_KICKS = new Set(['VersionMismatch', 'BadHello', 'MalformedMessage', 'Full', 'ResumeRejected', 'RateLimited', 'Replaced', 'Removed']);
/**
 * A connection that lasted this long after its `Welcome` counts as a success and resets the
 * backoff when it drops; one that ends sooner counts as a failed attempt, so a server that
 * welcomes and then closes at once (a room that fails on its first tick) is retried ever more
 * slowly and at last given up on, not every 250 ms forever.
 */
const STABLE_CONNECTION_MS = 5000;
/** Close codes (without a kick) that mean this client is broken, not the connection. */
/** @type {Set<number>} */
const FATAL_CODES = new Set([CloseCode.PROTOCOL_ERROR, CloseCode.UNSUPPORTED_DATA, CloseCode.INVALID_PAYLOAD, CloseCode.MESSAGE_TOO_BIG]);
/** The reason of the close `leave()` sends. */
const LEAVE_REASON = 'leaving';
/** The most `Joined` events a roster carries (PROTOCOL.md 7.1 step 3). */
const ROSTER_MAX = 128;
/** Inputs kept for prediction, and sent and not applied at most: at 30 Hz, four seconds'. */
const MAX_PENDING_INPUTS = 128;

/**
 * Whether an HTTP status that refused a connection before it opened ends the session: any but
 * 408, 429 and 5xx (a server busy, restarting or shutting down) would meet every retry alike (a
 * missing or expired join token, an Origin not allowed, a wrong path), as in the Rust client
 * (`Disconnect::Refused`).
 * @param {number} status
 */
export function isFinalRefusal(status) {
  return status >= 400 && status !== 408 && status !== 429 && status < 500;
}

/** @param {number} v a stick axis in [-1, 1] @returns {number} its i8 on the wire (PROTOCOL.md 3.2) */
export function quantizeAxis(v) {
  // NaN steers nowhere; an infinite axis clamps to full steering, as in Rust (quant.rs).
  if (Number.isNaN(v)) return 0;
  // Half away from zero, as Rust's f32::round (Math.round rounds -63.5 to -63).
  const scaled = Math.max(-1, Math.min(1, v)) * 127;
  return Math.sign(scaled) * Math.round(Math.abs(scaled));
}

/** A tickwire client session without IO; see the call order at the top of this file. */
export class Session {
  /** @param {SessionOptions} [options] */
  constructor(options = {}) {
    const role = options.role ?? 'Player';
    if (!ROLES.includes(role)) throw new TypeError(`unknown role ${role}`);
    this.name = options.name ?? '';
    if (new TextEncoder().encode(this.name).length > LIMITS.name) {
      throw new TypeError('name is longer than 24 bytes of UTF-8 (truncateUtf8 cuts one to fit)');
    }
    /** @type {Role} */
    this.role = role;
    // Checked here, where the mistake is: it would otherwise throw encoding each Hello, inside
    // the socket's open handler, and look like a server that never answers.
    const room = options.room ?? null;
    if (room !== null && !isValidRoomName(room)) {
      throw new TypeError(`room ${JSON.stringify(room)} is not a room name: 1 to 16 of A-Z a-z 0-9 . _ -`);
    }
    /** @type {string | null} */
    this.room = room;
    const token = options.resumeToken ?? null;
    if (token !== null && !(token.length === 16 && Array.from(token).every((b) => Number.isInteger(b) && b >= 0 && b <= 255))) {
      throw new TypeError('resumeToken is not 16 bytes (keep Welcome.resumeToken as it came, or Array.from it)');
    }
    /** @type {Uint8Array | null} */
    this.resumeToken = token === null ? null : Uint8Array.from(token);
    const r = options.reconnect ?? {};
    // Timers past MAX_TIMER_MS fire at once; counts are whole; a backoff does not shrink.
    const ms = { min: 0, max: MAX_TIMER_MS };
    const positiveMs = { min: 0, above: true, max: MAX_TIMER_MS };
    const count = { min: 0, integer: true, infinite: true };
    const maxAttempts = numberOption('reconnect.maxAttempts', r.maxAttempts, 20, count);
    this.reconnect = {
      initialDelayMs: numberOption('reconnect.initialDelayMs', r.initialDelayMs, 250, ms),
      maxDelayMs: numberOption('reconnect.maxDelayMs', r.maxDelayMs, 4000, ms),
      factor: numberOption('reconnect.factor', r.factor, 2, { min: 1 }),
      jitter: numberOption('reconnect.jitter', r.jitter, 0.2, { min: 0, max: 1 }),
      maxAttempts,
      maxInitialAttempts: numberOption('reconnect.maxInitialAttempts', r.maxInitialAttempts, r.maxAttempts == null ? 5 : maxAttempts, count),
      restartWindowMs: numberOption('reconnect.restartWindowMs', r.restartWindowMs, 10000, { min: 0 }),
    };
    this.pingIntervalMs = numberOption('pingIntervalMs', options.pingIntervalMs, 2000, { ...positiveMs, infinite: true });
    this.silenceTimeoutMs = numberOption('silenceTimeoutMs', options.silenceTimeoutMs, 5000, { ...positiveMs, infinite: true });
    this.connectTimeoutMs = numberOption('connectTimeoutMs', options.connectTimeoutMs, 10000, positiveMs);
    this.joinTimeoutMs = numberOption('joinTimeoutMs', options.joinTimeoutMs, 5000, positiveMs);
    this.closeTimeoutMs = numberOption('closeTimeoutMs', options.closeTimeoutMs, 3000, positiveMs);
    /** @type {number | undefined} */
    this.inputRateOverride = options.inputRate == null ? undefined
      : numberOption('inputRate', options.inputRate, 30, { min: 0, above: true });
    this.spectatorAckEvery = numberOption('spectatorAckEvery', options.spectatorAckEvery, 30, { min: 1, integer: true });
    /** Whether the open transport's server encodes against acks (the HTTP fallback). */
    this.acksAreBaselines = false;
    /** The newest tick rebuilt since the last ack, whether one since was full, and the tick
     * this connection last acked (-1: none yet). */
    this.unacked = { tick: -1, full: false, last: -1 };
    this.random = options.random ?? Math.random;
    const chatRate = numberOption('chatRate', options.chatRate, 2, { min: 0, above: true });
    const chatBurst = numberOption('chatBurst', options.chatBurst, 5, { min: 1, integer: true });
    this.chatBudget = new ChatBudget(chatRate, Math.max(1, chatBurst - 1));
    this.chatQueueMax = numberOption('chatQueue', options.chatQueue, 16, { min: 1, integer: true });
    /** @type {string[]} chat lines waiting for the pace, oldest first */
    this.chatQueue = [];

    /** @type {SessionState} */
    this.state = 'idle';
    /** @type {Welcome | null} the current connection's welcome */
    this.welcome = null;
    /** @type {Error | null} why the session failed */
    this.error = null;
    this.history = new WorldHistory(30);
    /** @type {World | null} */
    this.world = null;
    /** Newest `Snapshot.lastInput`: inputs up to it are in the server's world. */
    this.lastInputApplied = 0;
    /**
     * The tick of the first snapshot that showed `lastInputApplied` (-1: none yet). Past the
     * server's late allowance, the ticks since are ticks the server ran the ship on that input
     * without a newer one (a stalled uplink), which a prediction needs to know even when the
     * snapshots of a stall came at once and only the newest world was drawn.
     */
    this.lastInputAppliedTick = -1;
    /** @type {SentInput[]} inputs sent on this connection and not yet applied, oldest first */
    this.pendingInputs = [];
    /** @type {Map<number, RosterEntry>} the room's players and controllers, by player id (spectators are only counted: `audience`) */
    this.roster = new Map();
    /** Spectators watching the room (from `Event::Audience`; 0 until the first). */
    this.audience = 0;
    /**
     * The roster under way after a `Welcome`, until the `Audience` that ends it (or the first
     * snapshot): the players it named, and whether it follows a resume.
     * @type {{ resumed: boolean, named: Set<number> } | null}
     */
    this.rosterCatchUp = null;
    /**
     * Whether `roster` names every player and controller in the room: its last roster named
     * fewer than 128, so it left nobody out. A `Left` for a player it does not name is then no
     * news (one that left as this client joined, or whose `Left` it made up after a resume) and
     * is not passed on.
     */
    this.rosterComplete = false;
    /** Smoothed round trip, ms (null before the first Pong). @type {number | null} */
    this.rttMs = null;
    /** Consecutive failed connection attempts (a connection that dropped within
     * `STABLE_CONNECTION_MS` of its `Welcome` counts as one); not those of a restart window,
     * which neither grow the backoff nor count towards the limits
     * (`ReconnectOptions.restartWindowMs`). */
    this.attempt = 0;
    /** The end of the restart window a server going away opened. @type {number | null} */
    this.restartUntil = null;
    /** When the current connection's `Welcome` arrived (null: none yet). @type {number | null} */
    this.welcomedAt = null;
    /** Connections that reached `Welcome`, the first included. */
    this.connections = 0;
    /** Whether any connection opened (reached the server), welcomed or not. */
    this.opened = false;
    /** Snapshots that could not be applied (and were not acked). */
    this.applyErrors = 0;

    /** @type {InputState} */
    this.input = { x: 0, y: 0, buttons: 0 };
    this.inputSeq = 0;
    /** @type {SessionAction[]} */ this.actions = [];
    /** @type {Uint8Array[]} */ this.transmits = [];
    /** @type {SessionEvent[]} */ this.events = [];
    /** @type {number | null} */ this.reconnectAt = null;
    /** @type {number | null} */ this.nextPingAt = null;
    /** @type {number | null} */ this.nextInputAt = null;
    /** Where the server's ticks fall, which the default input cadence is slewed to meet (a new
     * one for each `Welcome`). */
    this.inputPhase = new InputPhase(30);
    this.pingNonce = 0;
    /** @type {Map<number, PingSent>} by nonce, bounded to the last few pings */
    this.pingsInFlight = new Map();
    /** @type {Error | null} the kick that preceded the coming close */
    this.pendingKick = null;
    this.socketOpen = false;
    /** When the socket being opened was asked for (the connect deadline counts from it). @type {number | null} */
    this.openingAt = null;
    /** When the current socket opened (the join deadline counts from it). @type {number | null} */
    this.openedAt = null;
    /** When the current connection last showed life: opened, or a message arrived. @type {number | null} */
    this.lastHeardAt = null;
    /** When `leave()` asked for the close (the close deadline counts from it). @type {number | null} */
    this.closingAt = null;
    /** A deadline handled late, and how long it is held for the messages queued behind it
     * (see {@link LATE_WAKE_MS}). @type {{ at: number, until: number } | null} */
    this.lateWake = null;
    /** The wake-up {@link pollTimeout} last asked the driver for. @type {number | null} */
    this.wakeAt = null;
    /** The `Ping` {@link checkLink} sent, and when the connection is taken for lost without its
     * `Pong`. @type {{ nonce: number, at: number, timeoutMs: number } | null} */
    this.linkCheck = null;
  }

  // ---- state predicates -------------------------------------------------------------------

  /** Whether a `Welcome` was received on the current connection. */
  isJoined() {
    return this.state === 'joined';
  }

  /** Whether the session ended (left, or failed for good). */
  isEnded() {
    return this.state === 'closed' || this.state === 'failed';
  }

  /** Whether this client steers a ship. */
  hasShip() {
    return this.role !== 'Spectator';
  }

  // ---- driver side ------------------------------------------------------------------------

  /**
   * Starts the session. A session that was started already goes on as it is; one that ended
   * (left, or failed for good) throws: it does not start again, a new session (client) does.
   * @param {number} now
   */
  connect(now) {
    if (this.isEnded() || this.state === 'closing') {
      throw new Error(`this session has ${this.state === 'failed' ? 'failed' : 'left'} and does not connect again: create a new one`);
    }
    if (this.state !== 'idle') return;
    this.open(now);
  }

  /**
   * The driver gave up on a transport that did not open and opens another for the same attempt
   * (`TickwireClient`'s `auto`): the connect deadline starts again for it.
   * @param {number} now
   */
  handleOpening(now) {
    if (this.state === 'connecting' && !this.socketOpen) this.openingAt = now;
  }

  /**
   * The socket opened: say `Hello`.
   * @param {number} now
   * @param {'ws' | 'stream' | 'poll'} [transport] what opened (default `ws`): on the HTTP
   *   fallback (`stream`, `poll`) the server encodes against acks, so spectators ack more often
   */
  handleOpen(now, transport = 'ws') {
    if (this.state !== 'connecting') return;
    this.socketOpen = true;
    this.opened = true;
    this.acksAreBaselines = transport !== 'ws';
    this.openedAt = now;
    this.lastHeardAt = now;
    this.send({ type: 'Hello', version: PROTOCOL_VERSION, role: this.role, name: this.name, room: this.room, resume: this.resumeToken });
  }

  /**
   * A binary message arrived.
   * @param {ArrayBuffer | ArrayBufferView} data
   * @param {number} now
   */
  handleMessage(data, now) {
    if (!this.socketOpen || this.state === 'closing' || this.isEnded()) return;
    // `now` may be the message's own arrival time, before a later one already handled.
    this.lastHeardAt = Math.max(this.lastHeardAt ?? now, now);
    let message;
    try {
      message = decodeServerMessage(data);
    } catch (e) {
      // A server we cannot understand: drop the connection and reconnect (PROTOCOL.md 2.5).
      this.actions.push({ type: 'close', code: CloseCode.PROTOCOL_ERROR, reason: 'undecodable server message' });
      this.pendingKick = /** @type {Error} */ (e);
      return;
    }
    switch (message.type) {
      case 'Welcome':
        this.onWelcome(message, now);
        break;
      case 'Snapshot':
        this.onSnapshot(message, now);
        break;
      case 'Event':
        this.onEvent(message.tick, message.kind);
        break;
      case 'ControllerFeedback':
        this.events.push({ type: 'feedback', feedback: message });
        break;
      case 'Pong': {
        // The link answers now, not only messages that waited while the page was frozen.
        if (this.linkCheck?.nonce === message.nonce) this.linkCheck = null;
        const ping = this.pingsInFlight.get(message.nonce);
        if (ping === undefined) break;
        this.pingsInFlight.delete(message.nonce);
        // The server read every line sent before this ping: their tokens are spent.
        this.chatBudget.confirm(now, ping.chats);
        this.sendChat(now);
        const rtt = Math.max(0, now - ping.at);
        this.rttMs = this.rttMs === null ? rtt : this.rttMs * 0.8 + rtt * 0.2;
        this.inputPhase.roundTrip(rtt);
        this.events.push({ type: 'rtt', rttMs: rtt, smoothedMs: this.rttMs, serverTick: message.serverTick });
        break;
      }
      case 'Kick':
        this.pendingKick = message.reason === 'VersionMismatch'
          ? new VersionMismatchError(message.message, CloseCode.PROTOCOL_ERROR, message.serverVersion ?? 0)
          : new KickedError(message.reason, message.message, 0);
        break;
    }
  }

  /**
   * The socket closed (whoever started it). `wasClean` is the WebSocket's flag: true when the
   * closing handshake completed.
   * @param {number} code
   * @param {string} reason
   * @param {boolean} wasClean
   * @param {number} now
   * @param {number} [status] the HTTP status that refused a connection that never opened, when
   *   the transport could see it (the HTTP fallback; a browser hides a WebSocket upgrade's): a
   *   refusal retrying cannot fix ({@link isFinalRefusal}) ends the session at once
   * @param {number} [answeredStatus] the HTTP status a connection that never opened was answered
   *   with, when it is not a final refusal (503 at a connection limit, 429): retried as any
   *   failure, and carried as the cause's `lastStatus`
   */
  handleClose(code, reason, wasClean, now, status, answeredStatus) {
    this.socketOpen = false;
    this.openedAt = null;
    this.lastHeardAt = null;
    this.linkCheck = null;
    this.welcome = null;
    this.nextPingAt = null;
    this.nextInputAt = null;
    this.pingsInFlight.clear();
    this.chatQueue = [];
    const welcomedAt = this.welcomedAt;
    this.welcomedAt = null;
    if (this.state === 'closing') {
      // A boolean whatever a driver passes: a `wasClean` it failed to read was an `answered`
      // of undefined, which the `closed` event's type does not allow.
      const answered = wasClean === true && code === CloseCode.NORMAL;
      // An answer echoes the close sent, but the HTTP fallback's close record carries no
      // reason back: the one sent, so that `reason` does not depend on the transport.
      this.events.push({ type: 'closed', code, reason: answered ? LEAVE_REASON : reason, answered });
      this.setState('closed', now);
      return;
    }
    if (this.isEnded() || this.state === 'reconnecting' || this.state === 'idle') return;
    if (welcomedAt !== null && now - welcomedAt >= STABLE_CONNECTION_MS) this.attempt = 0;
    if (status !== undefined && isFinalRefusal(status)) {
      this.pendingKick = null;
      this.attempt += 1;
      return this.fail(this.opened
        // The status too: an app tells "log in again" (401) from the message-free rest by it.
        ? new ConnectionClosedError(code, `refused: ${reason}`, false, status)
        : new UnreachableError(code, reason, this.attempt, status, status), now);
    }
    const kick = this.pendingKick;
    this.pendingKick = null;
    // The server said it goes away: a restart window (`scheduleReconnect`). Not for a first
    // join (its short limit says when to tell the player the server is not there), and a kick
    // for another reason is a live server's answer: the window ends.
    const goingAway = kick instanceof KickedError
      ? kick.reason === 'ShuttingDown'
      : kick === null && (code === CloseCode.GOING_AWAY || code === CloseCode.SERVICE_RESTART);
    const firstJoin = this.connections === 0 && this.resumeToken === null;
    if (goingAway && !firstJoin) this.restartUntil = now + this.reconnect.restartWindowMs;
    else if (kick instanceof KickedError) this.restartUntil = null;
    if (kick instanceof KickedError) {
      kick.code = code;
      // A full room ends a first join; a resume is retried: the seat may still be held (a
      // fleet node that does not find it answers `Full` too, PROTOCOL.md 7.5).
      const resuming = kick.reason === 'Full' && this.resumeToken !== null;
      if (kick.reason === 'ResumeRejected' && this.resumeToken !== null) {
        // A token of another role's seat (one an application kept from another session): the
        // next attempt joins afresh without it, as the Rust client does (`Retry::Fresh`).
        this.resumeToken = null;
      } else if (FATAL_KICKS.has(kick.reason) && !resuming) {
        return this.fail(kick, now);
      }
    } else if (FATAL_CODES.has(code) && !(kick instanceof DecodeError)) {
      return this.fail(new ConnectionClosedError(code, reason, false), now);
    }
    this.scheduleReconnect(kick ?? new ConnectionClosedError(code, reason, true, answeredStatus), now);
  }

  /**
   * Time passed: reconnect, ping or send input when due; give up on a connection that went
   * silent, or did not open, welcome or close in time.
   * @param {number} now
   */
  handleTimeout(now) {
    if (this.state === 'reconnecting' && this.reconnectAt !== null && now >= this.reconnectAt) {
      this.reconnectAt = null;
      this.open(now);
    }
    const deadline = this.dueDeadline();
    if (deadline !== null && now >= deadline.at) {
      const held = this.lateWake?.at === deadline.at ? this.lateWake : null;
      if (held === null && now - Math.min(this.wakeAt ?? deadline.at, deadline.at) >= LATE_WAKE_MS) {
        // Once per deadline: a dead link stays silent through the grace too.
        this.lateWake = { at: deadline.at, until: now + LATE_WAKE_GRACE_MS };
      } else if (held === null || now >= held.until) {
        this.abandon(deadline.reason, now);
        return;
      }
    }
    if (!this.socketOpen || this.state === 'closing') return;
    this.sendChat(now);
    if (this.nextPingAt !== null && now >= this.nextPingAt) {
      this.ping(now);
      this.nextPingAt = now + this.pingIntervalMs;
    }
    if (this.isJoined() && this.hasShip() && this.nextInputAt !== null && now >= this.nextInputAt) {
      // An uplink that stalls for seconds holds back every input sent meanwhile, and releases
      // them at once when it recovers: past the server's input burst (360), it kicks the seat
      // as `RateLimited`. Past as many unapplied as prediction keeps, the held input waits
      // for the server to apply some (the server would fold the late ones anyway). Only a
      // player hears which it applied: a controller gets no snapshots, and always sends.
      const unapplied = this.inputSeq - this.lastInputApplied;
      const sent = this.role !== 'Player' || unapplied < MAX_PENDING_INPUTS;
      if (sent) this.sendInput(now);
      // Keep the cadence without drifting; after a stall, start again from now.
      const period = this.inputPeriodMs();
      // A period or more late (no ship until now, a hidden tab's timers): the cadence starts
      // again with this input.
      const restart = now >= this.nextInputAt + period;
      this.nextInputAt = Math.max(this.nextInputAt + period, now - period);
      // Towards reaching the server mid-tick (`InputPhase`), away from the tick boundary where a
      // millisecond of jitter puts some inputs before the tick and some after (a tick without
      // one): a millisecond an input, or, for a cadence that starts again, at once, its next
      // input at the middle of the tick after this one's (rather than a second one at once, in
      // the same tick). A rate the game chose is not one a tick, and is kept as it is.
      if (sent && this.inputRateOverride === undefined) {
        const error = restart ? this.inputPhase.error(now) : null;
        if (error !== null) this.nextInputAt = now + period - error;
        else this.nextInputAt += this.inputPhase.slew(this.nextInputAt);
      }
    }
  }

  /**
   * Something says the network may be back (a page shown again, the browser's `online` event):
   * a session `reconnecting` opens its next attempt now rather than at the end of its backoff,
   * which after a few failed attempts is seconds away (a hidden tab's timers may be later
   * still). Attempts already made still count towards `maxAttempts`. Anything else (joined,
   * an attempt under way, ended) is left as it is.
   * @param {number} now
   * @returns {boolean} whether an attempt opened
   */
  retryNow(now) {
    if (this.state !== 'reconnecting') return false;
    this.reconnectAt = null;
    this.open(now);
    return true;
  }

  /**
   * Something says the connection may have died unseen: a page back from the background, whose
   * network may have changed while its scripts were frozen (a dead link keeps a browser's
   * socket open for minutes). The messages that waited in the browser while the page was frozen
   * are handled as it comes back, and each counts as news from the server, so the silence
   * timeout starts over and a dead link shows a frozen world for `silenceTimeoutMs` more. This
   * sends a `Ping` now and takes the connection for lost, as a silence would (closed with a
   * code that keeps the seat, then resumed on a new one), unless its `Pong` comes within
   * `timeoutMs`: only an answer to something sent now proves the link alive. Only while
   * joined; a check under way is replaced.
   * @param {number} now
   * @param {number} timeoutMs how long the answer may take: a few round trips
   * @returns {boolean} whether a check started
   */
  checkLink(now, timeoutMs) {
    const ms = numberOption('timeoutMs', timeoutMs, 2000, { min: 0, above: true, max: MAX_TIMER_MS });
    if (!this.isJoined() || !this.socketOpen) return false;
    this.ping(now);
    this.linkCheck = { nonce: this.pingNonce, at: now + ms, timeoutMs: ms };
    return true;
  }

  /** The next time {@link handleTimeout} has work, or null. @returns {number | null} */
  pollTimeout() {
    // Pings, inputs and chat only while joined: a closing session sends none of them, and a due
    // one left here would wake the driver again and again until the socket closes.
    const joined = this.isJoined() && this.socketOpen;
    const times = [this.reconnectAt, this.connectionDeadline()?.at ?? null, joined ? this.nextPingAt : null,
      joined && this.hasShip() ? this.nextInputAt : null,
      joined && this.chatQueue.length > 0 ? this.chatBudget.next() : null];
    const due = /** @type {number[]} */ (times.filter((t) => t !== null && Number.isFinite(t)));
    // Remembered: a wake-up long after it tells a thread that did not run (LATE_WAKE_MS).
    this.wakeAt = due.length ? Math.min(...due) : null;
    return this.wakeAt;
  }

  /** @returns {SessionAction | undefined} */
  pollAction() {
    return this.actions.shift();
  }

  /** @returns {Uint8Array | undefined} */
  pollTransmit() {
    return this.transmits.shift();
  }

  /** @returns {SessionEvent | undefined} */
  pollEvent() {
    return this.events.shift();
  }

  // ---- application side -------------------------------------------------------------------

  /**
   * The controls held from now on; sent once per input period while joined. A field left out
   * keeps its held value (0 before any), so a handler that knows one control sets only it:
   * `setInput({ buttons: Buttons.BOOST })` on a key down boosts without letting go of the
   * steering; `setInput({ x: 0, y: 0, buttons: 0 })` lets go of everything.
   * @param {Partial<InputState>} input x, y in [-1, 1] (right and down positive), buttons bits
   */
  setInput(input) {
    const buttons = input.buttons ?? this.input.buttons;
    // Steering out of range is clamped (a stick may overshoot; NaN steers nowhere), as the
    // wire's quantization does; buttons are bits of a u8, and one past them is a bug that a
    // mask would hide by pressing other buttons (300 & 0xff is 44).
    if (!Number.isInteger(buttons) || buttons < 0 || buttons > 0xff) {
      throw new RangeError(`input.buttons ${buttons} is not a byte of button bits (an integer 0-255, e.g. Buttons.BOOST | Buttons.ACTION)`);
    }
    this.input = { x: input.x ?? this.input.x, y: input.y ?? this.input.y, buttons };
  }

  /**
   * Sends a chat line (trimmed; cut to 200 UTF-8 bytes) now, or once the server's chat limit
   * allows (`chatRate`). Returns false if not joined, empty, or `chatQueue` lines already wait.
   * A line still waiting when the connection drops is dropped with it (not sent on the next).
   * @param {string} text
   * @param {number} now
   */
  chat(text, now) {
    const line = text.trim();
    if (!this.isJoined() || line === '' || this.chatQueue.length >= this.chatQueueMax) return false;
    this.chatQueue.push(truncateUtf8(line, LIMITS.chat));
    this.sendChat(now);
    return true;
  }

  /** Sends the waiting chat lines the pace allows. @param {number} now */
  sendChat(now) {
    if (!this.isJoined()) return;
    while (this.chatQueue.length > 0 && this.chatBudget.take(now)) {
      this.send({ type: 'Chat', text: /** @type {string} */ (this.chatQueue.shift()) });
    }
    // Lines wait that only a confirmation can free: ask for one, once per line sent.
    const budget = this.chatBudget;
    if (this.chatQueue.length > 0 && budget.next() === null
        && ![...this.pingsInFlight.values()].some((p) => p.chats === budget.sent)) {
      this.ping(now);
    }
  }

  /** Sends a `Ping`: its `Pong` measures the round trip and confirms the chat sent before it.
   * @param {number} now */
  ping(now) {
    this.pingNonce = (this.pingNonce + 1) >>> 0;
    this.pingsInFlight.set(this.pingNonce, { at: now, chats: this.chatBudget.sent });
    if (this.pingsInFlight.size > 8) this.pingsInFlight.delete(this.pingsInFlight.keys().next().value ?? 0);
    this.send({ type: 'Ping', nonce: this.pingNonce });
  }

  /** Leaves properly: close 1000, then `closed` when the server answers. @param {number} now */
  leave(now) {
    if (this.isEnded() || this.state === 'closing') return;
    this.reconnectAt = null;
    if (this.socketOpen || this.state === 'connecting') {
      this.closingAt = now;
      this.setState('closing', now);
      this.actions.push({ type: 'close', code: CloseCode.NORMAL, reason: LEAVE_REASON });
    } else {
      this.events.push({ type: 'closed', code: CloseCode.NORMAL, reason: 'left while disconnected', answered: false });
      this.setState('closed', now);
    }
  }

  /** Milliseconds between inputs. */
  inputPeriodMs() {
    const rate = this.inputRateOverride ?? this.welcome?.tickRate ?? 30;
    return 1000 / Math.max(1, rate);
  }

  // ---- internals --------------------------------------------------------------------------

  /** Asks the driver for a socket: a connection attempt starts. @param {number} now */
  open(now) {
    this.openingAt = now;
    this.setState('connecting', now);
    this.actions.push({ type: 'open' });
  }

  /**
   * When the current connection is given up on, and why: a socket that does not open, a
   * `Welcome` that does not come, silence, a close the server does not answer. Null when no
   * connection is under way.
   * @returns {{ at: number, reason: string } | null}
   */
  connectionDeadline() {
    const deadline = this.dueDeadline();
    // Held for the messages queued behind a late wake-up; anything heard since moved it.
    if (deadline !== null && this.lateWake?.at === deadline.at) return { at: this.lateWake.until, reason: deadline.reason };
    return deadline;
  }

  /** {@link connectionDeadline} before a late wake-up's grace. @returns {{ at: number, reason: string } | null} */
  dueDeadline() {
    if (this.state === 'closing') {
      if (this.closingAt === null) return null;
      const reason = `the server did not answer the close within ${this.closeTimeoutMs} ms`;
      return { at: this.closingAt + this.closeTimeoutMs, reason };
    }
    if (this.state === 'connecting' && !this.socketOpen) {
      if (this.openingAt === null) return null;
      return { at: this.openingAt + this.connectTimeoutMs, reason: `the connection did not open within ${this.connectTimeoutMs} ms` };
    }
    if (!this.socketOpen || this.lastHeardAt === null) return null;
    const silence = { at: this.lastHeardAt + this.silenceTimeoutMs, reason: `nothing from the server for ${this.silenceTimeoutMs} ms` };
    const check = this.linkCheck;
    if (check !== null && check.at < silence.at) {
      return { at: check.at, reason: `no answer to a ping within ${check.timeoutMs} ms of checking the link` };
    }
    // By default both come 5 s after the Hello: a missing Welcome is the truer reason.
    if (this.state === 'connecting' && this.openedAt !== null && this.openedAt + this.joinTimeoutMs <= silence.at) {
      return { at: this.openedAt + this.joinTimeoutMs, reason: `no Welcome within ${this.joinTimeoutMs} ms` };
    }
    return silence;
  }

  /**
   * Gives the current connection up at once, without waiting for its socket's close, which a
   * dead link may never deliver: the driver closes the socket and stops listening to it, and
   * the session goes on as after a drop (reconnecting, and resuming the seat), or, leaving, is
   * closed unanswered.
   * @param {string} reason @param {number} now
   */
  abandon(reason, now) {
    // A browser may send only 1000 or 3000-4999, and 1000 would give the seat up: should the
    // server still hear this close, it keeps the seat for the resume that follows.
    const code = this.state === 'closing' ? CloseCode.NORMAL : CloseCode.BROWSER_TIMEOUT;
    this.actions.push({ type: 'close', code, reason, abandon: true });
    // 1006, as a browser reports a connection that ended without a closing handshake.
    this.handleClose(CloseCode.ABNORMAL, reason, false, now);
  }

  /** @param {ClientMessage} message */
  send(message) {
    this.transmits.push(encodeClientMessage(message));
  }

  /** @param {SessionState} state @param {number} _now @param {Partial<SessionEvent>} [extra] */
  setState(state, _now, extra = {}) {
    this.state = state;
    this.events.push(/** @type {SessionEvent} */ ({ type: 'state', state, ...extra }));
  }

  /** @param {Error} error @param {number} now */
  fail(error, now) {
    this.error = error;
    this.reconnectAt = null;
    this.events.push({ type: 'error', error });
    this.setState('failed', now, { cause: error });
  }

  /** @param {Error} cause @param {number} now */
  scheduleReconnect(cause, now) {
    // The server said it goes away: it (or the node a balancer sends to next) may be back any
    // moment, so retries keep to the first delay rather than growing past it, uncounted.
    const restarting = this.restartUntil !== null && now < this.restartUntil;
    if (!restarting) {
      this.restartUntil = null;
      this.attempt += 1;
    }
    const rc = this.reconnect;
    const first = this.connections === 0 && this.resumeToken === null;
    const limit = first ? Math.min(rc.maxAttempts, rc.maxInitialAttempts) : rc.maxAttempts;
    // A limit of 0 never reconnects, not even through a restart window.
    if (this.attempt > limit || limit === 0) {
      // A kick (`Full`, retried while resuming) is the server's own last word: a game shows it
      // as such ("Room full") rather than as a lost connection.
      if (cause instanceof KickedError) return this.fail(cause, now);
      const code = cause instanceof ConnectionClosedError ? cause.code : CloseCode.ABNORMAL;
      const lastStatus = cause instanceof ConnectionClosedError ? cause.lastStatus : undefined;
      // Never reached at all: not a lost connection, and a game says so.
      if (!this.opened) {
        const reason = cause instanceof ConnectionClosedError ? cause.reason : cause.message;
        return this.fail(new UnreachableError(code, reason, this.attempt, undefined, lastStatus), now);
      }
      // The cause's reason, not its message: that repeats the code this error names too.
      const why = cause instanceof ConnectionClosedError ? cause.reason : cause.message;
      return this.fail(new ConnectionClosedError(code, `gave up after ${limit} attempts${why ? `: ${why}` : ''}`, false, lastStatus, limit), now);
    }
    const base = Math.min(rc.maxDelayMs, rc.initialDelayMs * rc.factor ** (restarting ? 0 : this.attempt - 1));
    const delayMs = Math.round(base * (1 + rc.jitter * (2 * this.random() - 1)));
    this.reconnectAt = now + delayMs;
    // The attempts of a restart window are all retry 1.
    this.setState('reconnecting', now, { attempt: Math.max(this.attempt, 1), delayMs, cause });
  }

  /** @param {Welcome} welcome @param {number} now */
  onWelcome(welcome, now) {
    if (this.state !== 'connecting') return;
    this.welcome = welcome;
    this.resumeToken = welcome.resumeToken;
    this.room = welcome.room;
    this.role = welcome.role;
    // The backoff resets when this connection proves stable (see `STABLE_CONNECTION_MS`).
    this.welcomedAt = now;
    // A server that welcomes is back: what ends this connection is judged as any drop.
    this.restartUntil = null;
    this.connections += 1;
    // A new connection starts from a full snapshot and numbers its inputs from 1.
    this.history = new WorldHistory(welcome.tickRate);
    this.world = null;
    this.inputSeq = 0;
    this.lastInputApplied = 0;
    this.lastInputAppliedTick = -1;
    this.pendingInputs = [];
    this.unacked = { tick: -1, full: false, last: -1 };
    // A resumed seat is in the room it knew: its roster is kept, and the one the server sends
    // now is compared with it (see `onEvent`). A fresh seat starts over.
    if (!welcome.resumed) {
      this.roster.clear();
      this.audience = 0;
    }
    // Controllers are sent no events, and so no roster.
    this.rosterCatchUp = welcome.role === 'Controller' ? null : { resumed: welcome.resumed, named: new Set() };
    this.rosterComplete = false;
    this.nextInputAt = now;
    // Learned again, round trips included: a new connection may take another path.
    this.inputPhase = new InputPhase(welcome.tickRate);
    // Pings start here, not with the Hello: the server answers them only once joined, and a
    // first sample that waited for the join would seed the smoothed RTT with the join's time.
    this.nextPingAt = now;
    // The server's chat bucket is the connection's: full again.
    this.chatBudget.reset(now);
    this.setState('joined', now);
    this.events.push({ type: 'welcome', welcome });
  }

  /** @param {Snapshot} snapshot @param {number} now */
  onSnapshot(snapshot, now) {
    if (!this.isJoined()) return;
    // Its arrival tells where the server's ticks fall, whether it applies or not.
    this.inputPhase.snapshotArrived(snapshot.tick, now);
    // The roster comes before the first snapshot: should its `Audience` be missing, it is over.
    this.endRoster(snapshot.tick);
    let world;
    try {
      world = this.history.apply(snapshot);
    } catch (e) {
      if (!(e instanceof ApplyError)) throw e;
      // PROTOCOL.md 6.1, client step 4: drop the snapshot and ack nothing new; the server
      // keeps encoding against our last good ack, or falls back to a full snapshot.
      this.applyErrors += 1;
      return;
    }
    this.ackRebuilt(world.tick, snapshot.baseline === null);
    if (this.world && world.tick < this.world.tick) return; // an old tick arrived late
    this.world = world;
    if (snapshot.lastInput > this.lastInputApplied) {
      this.lastInputApplied = snapshot.lastInput;
      this.lastInputAppliedTick = world.tick;
    }
    while (this.pendingInputs.length && this.pendingInputs[0].seq <= this.lastInputApplied) this.pendingInputs.shift();
    this.events.push({ type: 'snapshot', world, snapshot, receivedAt: now });
  }

  /**
   * Acks the newest rebuilt tick: at once for players and controllers, for a full snapshot
   * and for the connection's first; for a spectator once it is `spectatorAckEvery` ticks past
   * the last ack (at most 8 on the HTTP fallback).
   * @param {number} tick @param {boolean} full
   */
  ackRebuilt(tick, full) {
    const u = this.unacked;
    u.full ||= full;
    if (tick > u.tick) u.tick = tick;
    const every = this.acksAreBaselines
      ? Math.min(this.spectatorAckEvery, FALLBACK_SPECTATOR_ACK_EVERY)
      : this.spectatorAckEvery;
    if (this.role === 'Spectator' && !u.full && u.last >= 0 && u.tick - u.last < every) return;
    this.send({ type: 'Ack', tick: u.tick });
    this.unacked = { tick: -1, full: false, last: u.tick };
  }

  /** @param {number} tick @param {EventKind} kind */
  onEvent(tick, kind) {
    const catchUp = this.rosterCatchUp;
    if (catchUp !== null && kind.type === 'Joined') {
      catchUp.named.add(kind.player);
      const known = this.roster.get(kind.player);
      this.roster.set(kind.player, { name: kind.name, role: kind.role });
      if (known?.name === kind.name && known.role === kind.role) {
        // After a resume, a player the session knew is not news, but their score may have
        // moved while this client was away.
        const scored = /** @type {EventKind} */ ({ type: 'Scored', player: kind.player, score: kind.score });
        this.events.push({ type: 'event', tick, kind: scored, roster: true });
        return;
      }
      this.events.push({ type: 'event', tick, kind, roster: true });
      return;
    }
    if (catchUp !== null && kind.type === 'Audience') {
      this.endRoster(tick);
      this.audience = kind.spectators;
      this.events.push({ type: 'event', tick, kind, roster: true });
      return;
    }
    // The roster is only `Joined` events and an `Audience`: anything else comes after it.
    this.endRoster(tick);
    if (kind.type === 'Joined') this.roster.set(kind.player, { name: kind.name, role: kind.role });
    if (kind.type === 'Audience') this.audience = kind.spectators;
    if (kind.type === 'Left') {
      const left = this.roster.get(kind.player);
      // A player that left between this client's `Welcome` and the next tick is in neither
      // its roster nor its world; after a resume, its `Left` was made up already (endRoster).
      if (!left && this.rosterComplete) return;
      this.roster.delete(kind.player);
      this.events.push(left ? { type: 'event', tick, kind, left } : { type: 'event', tick, kind });
      return;
    }
    this.events.push({ type: 'event', tick, kind });
  }

  /**
   * The roster after a `Welcome` is over. After a resume, the players the session knew that it
   * did not name left meanwhile (their `Left` went to the connection that dropped): each gets
   * its `Left` now, flagged as catch-up. A roster of `ROSTER_MAX` names may have left out
   * players still there, and then none is taken for gone.
   * @param {number} tick
   */
  endRoster(tick) {
    const catchUp = this.rosterCatchUp;
    if (catchUp === null) return;
    this.rosterCatchUp = null;
    // A resumed seat's roster names it besides the others, outside their count (an older
    // server's leaves it out): what tells a roster that may have left players out is how many
    // others it named.
    const self = this.welcome?.playerId;
    const others = catchUp.named.size - (self !== undefined && catchUp.named.has(self) ? 1 : 0);
    this.rosterComplete = others < ROSTER_MAX;
    if (!catchUp.resumed || !this.rosterComplete) return;
    // Its own seat is never made up gone (the session knows itself from its own `Joined`).
    for (const [player, left] of [...this.roster]) {
      if (player === self || catchUp.named.has(player)) continue;
      this.roster.delete(player);
      this.events.push({ type: 'event', tick, kind: { type: 'Left', player }, left, roster: true });
    }
  }

  /** @param {number} now */
  sendInput(now) {
    this.inputSeq += 1;
    const input = { seq: this.inputSeq, x: quantizeAxis(this.input.x), y: quantizeAxis(this.input.y), buttons: this.input.buttons };
    this.send({ type: 'Input', ...input });
    this.pendingInputs.push({ ...input, sentAt: now });
    if (this.pendingInputs.length > MAX_PENDING_INPUTS) this.pendingInputs.shift();
  }
}
