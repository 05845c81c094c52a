/**
 * Whether an HTTP status that refused a connection before it opened ends the session: any but
 * 408, 429 and 5xx (a server busy, restarting or shutting down) would meet every retry alike (a
 * missing or expired join token, an Origin not allowed, a wrong path), as in the Rust client
 * (`Disconnect::Refused`).
 * @param {number} status
 */
export function isFinalRefusal(status: number): boolean;
/** @param {number} v a stick axis in [-1, 1] @returns {number} its i8 on the wire (PROTOCOL.md 3.2) */
export function quantizeAxis(v: number): number;
/** A tickwire client session without IO; see the call order at the top of this file. */
export class Session {
    /** @param {SessionOptions} [options] */
    constructor(options?: SessionOptions);
    name: string;
    /** @type {Role} */
    role: Role;
    /** @type {string | null} */
    room: string | null;
    /** @type {Uint8Array | null} */
    resumeToken: Uint8Array | null;
    reconnect: {
        initialDelayMs: number;
        maxDelayMs: number;
        factor: number;
        jitter: number;
        maxAttempts: number;
        maxInitialAttempts: number;
        restartWindowMs: number;
    };
    pingIntervalMs: number;
    silenceTimeoutMs: number;
    connectTimeoutMs: number;
    joinTimeoutMs: number;
    closeTimeoutMs: number;
    /** @type {number | undefined} */
    inputRateOverride: number | undefined;
    spectatorAckEvery: number;
    /** Whether the open transport's server encodes against acks (the HTTP fallback). */
    acksAreBaselines: boolean;
    /** The newest tick rebuilt since the last ack, whether one since was full, and the tick
     * this connection last acked (-1: none yet). */
    unacked: {
        tick: number;
        full: boolean;
        last: number;
    };
    random: () => number;
    chatBudget: ChatBudget;
    chatQueueMax: number;
    /** @type {string[]} chat lines waiting for the pace, oldest first */
    chatQueue: string[];
    /** @type {SessionState} */
    state: SessionState;
    /** @type {Welcome | null} the current connection's welcome */
    welcome: Welcome | null;
    /** @type {Error | null} why the session failed */
    error: Error | null;
    history: WorldHistory;
    /** @type {World | null} */
    world: World | null;
    /** Newest `Snapshot.lastInput`: inputs up to it are in the server's world. */
    lastInputApplied: number;
    /**
     * The tick of the first snapshot that showed `lastInputApplied` (-1: none yet). Past the
     * server's late allowance, the ticks since are ticks the server ran the ship on that input
     * without a newer one (a stalled uplink), which a prediction needs to know even when the
     * snapshots of a stall came at once and only the newest world was drawn.
     */
    lastInputAppliedTick: number;
    /** @type {SentInput[]} inputs sent on this connection and not yet applied, oldest first */
    pendingInputs: SentInput[];
    /** @type {Map<number, RosterEntry>} the room's players and controllers, by player id (spectators are only counted: `audience`) */
    roster: Map<number, RosterEntry>;
    /** Spectators watching the room (from `Event::Audience`; 0 until the first). */
    audience: number;
    /**
     * The roster under way after a `Welcome`, until the `Audience` that ends it (or the first
     * snapshot): the players it named, and whether it follows a resume.
     * @type {{ resumed: boolean, named: Set<number> } | null}
     */
    rosterCatchUp: {
        resumed: boolean;
        named: Set<number>;
    } | null;
    /**
     * Whether `roster` names every player and controller in the room: its last roster named
     * fewer than 128, so it left nobody out. A `Left` for a player it does not name is then no
     * news (one that left as this client joined, or whose `Left` it made up after a resume) and
     * is not passed on.
     */
    rosterComplete: boolean;
    /** Smoothed round trip, ms (null before the first Pong). @type {number | null} */
    rttMs: number | null;
    /** Consecutive failed connection attempts (a connection that dropped within
     * `STABLE_CONNECTION_MS` of its `Welcome` counts as one); not those of a restart window,
     * which neither grow the backoff nor count towards the limits
     * (`ReconnectOptions.restartWindowMs`). */
    attempt: number;
    /** The end of the restart window a server going away opened. @type {number | null} */
    restartUntil: number | null;
    /** When the current connection's `Welcome` arrived (null: none yet). @type {number | null} */
    welcomedAt: number | null;
    /** Connections that reached `Welcome`, the first included. */
    connections: number;
    /** Whether any connection opened (reached the server), welcomed or not. */
    opened: boolean;
    /** Snapshots that could not be applied (and were not acked). */
    applyErrors: number;
    /** @type {InputState} */
    input: InputState;
    inputSeq: number;
    /** @type {SessionAction[]} */ actions: SessionAction[];
    /** @type {Uint8Array[]} */ transmits: Uint8Array[];
    /** @type {SessionEvent[]} */ events: SessionEvent[];
    /** @type {number | null} */ reconnectAt: number | null;
    /** @type {number | null} */ nextPingAt: number | null;
    /** @type {number | null} */ nextInputAt: number | null;
    /** Where the server's ticks fall, which the default input cadence is slewed to meet (a new
     * one for each `Welcome`). */
    inputPhase: InputPhase;
    pingNonce: number;
    /** @type {Map<number, PingSent>} by nonce, bounded to the last few pings */
    pingsInFlight: Map<number, PingSent>;
    /** @type {Error | null} the kick that preceded the coming close */
    pendingKick: Error | null;
    socketOpen: boolean;
    /** When the socket being opened was asked for (the connect deadline counts from it). @type {number | null} */
    openingAt: number | null;
    /** When the current socket opened (the join deadline counts from it). @type {number | null} */
    openedAt: number | null;
    /** When the current connection last showed life: opened, or a message arrived. @type {number | null} */
    lastHeardAt: number | null;
    /** When `leave()` asked for the close (the close deadline counts from it). @type {number | null} */
    closingAt: number | null;
    /** A deadline handled late, and how long it is held for the messages queued behind it
     * (see {@link LATE_WAKE_MS}). @type {{ at: number, until: number } | null} */
    lateWake: {
        at: number;
        until: number;
    } | null;
    /** The wake-up {@link pollTimeout} last asked the driver for. @type {number | null} */
    wakeAt: number | null;
    /** The `Ping` {@link checkLink} sent, and when the connection is taken for lost without its
     * `Pong`. @type {{ nonce: number, at: number, timeoutMs: number } | null} */
    linkCheck: {
        nonce: number;
        at: number;
        timeoutMs: number;
    } | null;
    /** Whether a `Welcome` was received on the current connection. */
    isJoined(): boolean;
    /** Whether the session ended (left, or failed for good). */
    isEnded(): boolean;
    /** Whether this client steers a ship. */
    hasShip(): boolean;
    /**
     * Starts the session. A session that was started already goes on as it is; one that ended
     * (left, or failed for good) throws: it does not start again, a new session (client) does.
     * @param {number} now
     */
    connect(now: number): void;
    /**
     * The driver gave up on a transport that did not open and opens another for the same attempt
     * (`TickwireClient`'s `auto`): the connect deadline starts again for it.
     * @param {number} now
     */
    handleOpening(now: number): void;
    /**
     * The socket opened: say `Hello`.
     * @param {number} now
     * @param {'ws' | 'stream' | 'poll'} [transport] what opened (default `ws`): on the HTTP
     *   fallback (`stream`, `poll`) the server encodes against acks, so spectators ack more often
     */
    handleOpen(now: number, transport?: "ws" | "stream" | "poll"): void;
    /**
     * A binary message arrived.
     * @param {ArrayBuffer | ArrayBufferView} data
     * @param {number} now
     */
    handleMessage(data: ArrayBuffer | ArrayBufferView, now: number): void;
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
    handleClose(code: number, reason: string, wasClean: boolean, now: number, status?: number, answeredStatus?: number): void;
    /**
     * Time passed: reconnect, ping or send input when due; give up on a connection that went
     * silent, or did not open, welcome or close in time.
     * @param {number} now
     */
    handleTimeout(now: number): void;
    /**
     * Something says the network may be back (a page shown again, the browser's `online` event):
     * a session `reconnecting` opens its next attempt now rather than at the end of its backoff,
     * which after a few failed attempts is seconds away (a hidden tab's timers may be later
     * still). Attempts already made still count towards `maxAttempts`. Anything else (joined,
     * an attempt under way, ended) is left as it is.
     * @param {number} now
     * @returns {boolean} whether an attempt opened
     */
    retryNow(now: number): boolean;
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
    checkLink(now: number, timeoutMs: number): boolean;
    /** The next time {@link handleTimeout} has work, or null. @returns {number | null} */
    pollTimeout(): number | null;
    /** @returns {SessionAction | undefined} */
    pollAction(): SessionAction | undefined;
    /** @returns {Uint8Array | undefined} */
    pollTransmit(): Uint8Array | undefined;
    /** @returns {SessionEvent | undefined} */
    pollEvent(): SessionEvent | undefined;
    /**
     * The controls held from now on; sent once per input period while joined. A field left out
     * keeps its held value (0 before any), so a handler that knows one control sets only it:
     * `setInput({ buttons: Buttons.BOOST })` on a key down boosts without letting go of the
     * steering; `setInput({ x: 0, y: 0, buttons: 0 })` lets go of everything.
     * @param {Partial<InputState>} input x, y in [-1, 1] (right and down positive), buttons bits
     */
    setInput(input: Partial<InputState>): void;
    /**
     * Sends a chat line (trimmed; cut to 200 UTF-8 bytes) now, or once the server's chat limit
     * allows (`chatRate`). Returns false if not joined, empty, or `chatQueue` lines already wait.
     * A line still waiting when the connection drops is dropped with it (not sent on the next).
     * @param {string} text
     * @param {number} now
     */
    chat(text: string, now: number): boolean;
    /** Sends the waiting chat lines the pace allows. @param {number} now */
    sendChat(now: number): void;
    /** Sends a `Ping`: its `Pong` measures the round trip and confirms the chat sent before it.
     * @param {number} now */
    ping(now: number): void;
    /** Leaves properly: close 1000, then `closed` when the server answers. @param {number} now */
    leave(now: number): void;
    /** Milliseconds between inputs. */
    inputPeriodMs(): number;
    /** Asks the driver for a socket: a connection attempt starts. @param {number} now */
    open(now: number): void;
    /**
     * When the current connection is given up on, and why: a socket that does not open, a
     * `Welcome` that does not come, silence, a close the server does not answer. Null when no
     * connection is under way.
     * @returns {{ at: number, reason: string } | null}
     */
    connectionDeadline(): {
        at: number;
        reason: string;
    } | null;
    /** {@link connectionDeadline} before a late wake-up's grace. @returns {{ at: number, reason: string } | null} */
    dueDeadline(): {
        at: number;
        reason: string;
    } | null;
    /**
     * Gives the current connection up at once, without waiting for its socket's close, which a
     * dead link may never deliver: the driver closes the socket and stops listening to it, and
     * the session goes on as after a drop (reconnecting, and resuming the seat), or, leaving, is
     * closed unanswered.
     * @param {string} reason @param {number} now
     */
    abandon(reason: string, now: number): void;
    /** @param {ClientMessage} message */
    send(message: ClientMessage): void;
    /** @param {SessionState} state @param {number} _now @param {Partial<SessionEvent>} [extra] */
    setState(state: SessionState, _now: number, extra?: Partial<SessionEvent>): void;
    /** @param {Error} error @param {number} now */
    fail(error: Error, now: number): void;
    /** @param {Error} cause @param {number} now */
    scheduleReconnect(cause: Error, now: number): void;
    /** @param {Welcome} welcome @param {number} now */
    onWelcome(welcome: Welcome, now: number): void;
    /** @param {Snapshot} snapshot @param {number} now */
    onSnapshot(snapshot: Snapshot, now: number): void;
    /**
     * Acks the newest rebuilt tick: at once for players and controllers, for a full snapshot
     * and for the connection's first; for a spectator once it is `spectatorAckEvery` ticks past
     * the last ack (at most 8 on the HTTP fallback).
     * @param {number} tick @param {boolean} full
     */
    ackRebuilt(tick: number, full: boolean): void;
    /** @param {number} tick @param {EventKind} kind */
    onEvent(tick: number, kind: EventKind): void;
    /**
     * The roster after a `Welcome` is over. After a resume, the players the session knew that it
     * did not name left meanwhile (their `Left` went to the connection that dropped): each gets
     * its `Left` now, flagged as catch-up. A roster of `ROSTER_MAX` names may have left out
     * players still there, and then none is taken for gone.
     * @param {number} tick
     */
    endRoster(tick: number): void;
    /** @param {number} now */
    sendInput(now: number): void;
}
/**
 * The session's lifecycle.
 * - `idle`: not started. - `connecting`: a socket is opening or the `Hello` is out.
 * - `joined`: `Welcome` received, playing. - `reconnecting`: the connection dropped (or went
 *   silent); a new one opens after a backoff and resumes the seat. - `closing`: `leave()` sent
 *   close 1000 and waits for the server's answer, at most `closeTimeoutMs`. - `closed`: left
 *   properly. - `failed`: ended for good (`error` says why).
 */
export type SessionState = "idle" | "connecting" | "joined" | "reconnecting" | "closing" | "closed" | "failed";
/**
 * Every number is checked by the constructor: anything but a number (a string from an
 * environment variable or a data- attribute, NaN) throws a TypeError, and a number out of its
 * range a RangeError, naming the option. Times are in ms, at most 2^31 - 1 (a timer's limit).
 */
export type ReconnectOptions = {
    /**
     * first retry after this long (default 250; >= 0): a blip resumes fast
     */
    initialDelayMs?: number | undefined;
    /**
     * the backoff stops growing here (default 4000), well inside
     * the server's 10 s resume grace so a dropped seat is still there (>= 0)
     */
    maxDelayMs?: number | undefined;
    /**
     * growth per failed attempt (default 2; >= 1, finite)
     */
    factor?: number | undefined;
    /**
     * +/- share of randomness on each delay (default 0.2; 0 to 1), so a crowd
     * dropped at once does not come back in lockstep
     */
    jitter?: number | undefined;
    /**
     * retries after consecutive failed attempts (default 20; an
     * integer >= 0, 0 never reconnects, or Infinity, which never gives up): the
     * session gives up when the attempt after that many retries fails too
     */
    maxAttempts?: number | undefined;
    /**
     * the same before the session's first `Welcome`, for
     * a session that has no seat to resume (default 5: six connections in all, about 8 s at the
     * default backoff, or `maxAttempts` when that is given; an integer >= 0 or Infinity): a first
     * join that keeps failing is a
     * server that is down or refuses this client (a bad or expired join token, an origin, no
     * capacity: a browser's WebSocket cannot tell which; the HTTP fallback sees the status, or
     * the client asks the server for it, and ends the join at once on a 4xx other than 408 and
     * 429), and a player is better told so than kept waiting a minute. A
     * session given a `resumeToken` has a seat to get back and keeps to `maxAttempts`. Given up
     * with no connection ever opened, the session fails with an `UnreachableError`
     */
    maxInitialAttempts?: number | undefined;
    /**
     * how long after the server says it goes away
     * (`Kick { ShuttingDown }`, or a close 1001 or 1012 without a kick) failed attempts retry
     * at `initialDelayMs` instead of growing, and count towards neither limit (default 10000, >= 0,
     * the server's resume grace; 0: no window). A restarted server is back in a second or two,
     * and a fleet's balancer sends the next attempt to another node at once: without the window
     * the backoff has grown to seconds by then, and the player waits that long for nothing. The
     * price is an attempt every `initialDelayMs` while the server is down. The window ends at
     * the next `Welcome` or a kick for another reason (a live server's answer), and a first
     * join (no `Welcome` yet, no `resumeToken`) opens none
     */
    restartWindowMs?: number | undefined;
};
/**
 * Every number is checked by the constructor: anything but a number (a string from an
 * environment variable or a data- attribute, NaN) throws a TypeError, and a number out of its
 * range a RangeError, naming the option. Times are in ms, more than 0 and at most 2^31 - 1 (a
 * timer's limit).
 */
export type SessionOptions = {
    /**
     * display name, at most 24 UTF-8 bytes, else the constructor throws:
     * `truncateUtf8(name, LIMITS.name)` cuts one that may be longer (default: empty, the server names it)
     */
    name?: string | undefined;
    /**
     * default 'Player'
     */
    role?: Role | undefined;
    /**
     * a room name (1 to 16 of `A-Z a-z 0-9 . _ -`, else the
     * constructor throws: `isValidRoomName`), or null for matchmaking (default)
     */
    room?: string | null | undefined;
    /**
     * a token from an earlier `Welcome` (16
     * bytes, else the constructor throws) to take its seat back
     */
    resumeToken?: ArrayLike<number> | null | undefined;
    reconnect?: ReconnectOptions | undefined;
    /**
     * how often to measure the round trip once joined (default
     * 2000); the first ping goes with the `Welcome`. `Infinity` sends none but those that confirm
     * chat lines (no `rtt` events)
     */
    pingIntervalMs?: number | undefined;
    /**
     * how long a connection may stay silent (no message at
     * all) before it is taken for dead, closed with a code that keeps the seat
     * (`CloseCode.BROWSER_TIMEOUT`) and resumed on a new one (default 5000). A healthy server is
     * never that quiet: a player or spectator gets a snapshot every tick, a controller its
     * feedback at least every second, and everyone the answers to these pings. A dead link
     * (a NAT that dropped the flow, a laptop that slept) leaves a browser's socket open for
     * minutes, long past the server's 10 s resume grace: 5 s notices it with time to spare for
     * the reconnect, and is the server's own heartbeat interval. Lower notices sooner at the risk
     * of dropping a merely stalled link, which costs a resume (a full snapshot); `Infinity` turns
     * the check off. A page whose thread was held (a long script, a debugger, sleep) past the
     * limit gets one second more, once, to read the messages that arrived meanwhile: a
     * deadline handled a second or more late is not judged until they had their turn
     */
    silenceTimeoutMs?: number | undefined;
    /**
     * how long a socket may take to open (default 10000; each
     * transport `TickwireClient` tries in `auto` gets its own): a proxy may hold a blocked upgrade
     * instead of refusing it. Past it the attempt counts as failed and the next is scheduled
     */
    connectTimeoutMs?: number | undefined;
    /**
     * how long the `Welcome` may take once the socket opened
     * (default 5000, the server's own handshake timeout)
     */
    joinTimeoutMs?: number | undefined;
    /**
     * how long `leave()` waits for the server to answer its close
     * (default 3000: the server's 2 s close timeout and a round trip); past it the session is
     * `closed` anyway, with `answered: false`
     */
    closeTimeoutMs?: number | undefined;
    /**
     * inputs per second while joined (a finite number > 0; under 1
     * sends one a second); default: the room's tick rate,
     * one input per tick, which is what prediction replays, timed to reach the server mid-tick
     * (a given rate is sent as it is)
     */
    inputRate?: number | undefined;
    /**
     * a spectator acks the newest snapshot once it is this many
     * ticks past its last ack (default 30, once a second at 30 Hz; a full snapshot is acked at
     * once). A spectator sends nothing but acks, so each is a message the server wakes up to read,
     * and on a WebSocket a tickwire server encodes against the snapshots its socket took rather
     * than against acks (PROTOCOL.md 6.1): acks only need to come within 64 ticks, round trip
     * included. On the HTTP fallback, where the server encodes against acks, a spectator acks at
     * least every 8 ticks. Counted in ticks, so a spectator that skips frames acks no later in
     * time. 1 acks every snapshot, as players always do (their acks ride with inputs). An integer >= 1.
     */
    spectatorAckEvery?: number | undefined;
    /**
     * the server's chat limit, lines per second (a finite number > 0;
     * default 2, the
     * server's `--chat-rate`). `chat()` sends lines no faster, so a chatty application is never
     * kicked as `RateLimited`; raise it only for a server configured with a higher limit
     */
    chatRate?: number | undefined;
    /**
     * the server's chat burst (an integer >= 1; default 5, its
     * `--chat-burst`). Lines
     * may reach the server bunched up (a stalled uplink, then a fast one), so a line counts against
     * the burst until the `Pong` of a `Ping` sent after it confirms its arrival (the session pings
     * for that when lines wait); one line of the burst is kept spare besides
     */
    chatBurst?: number | undefined;
    /**
     * lines waiting for their turn at most (an integer >= 1; default
     * 16); `chat()`
     * returns false past it. Lines still waiting when the connection drops are dropped with it
     */
    chatQueue?: number | undefined;
    /**
     * for jitter; default Math.random (tests pass a fixed one)
     */
    random?: (() => number) | undefined;
};
/**
 * a player or controller in `Session.roster`
 */
export type RosterEntry = {
    name: string;
    role: Role;
};
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
 */
export type SessionEvent = {
    type: "state";
    state: SessionState;
    attempt?: number;
    delayMs?: number;
    cause?: Error;
} | {
    type: "welcome";
    welcome: Welcome;
} | {
    type: "snapshot";
    world: World;
    snapshot: Snapshot;
    receivedAt: number;
} | {
    type: "event";
    tick: number;
    kind: EventKind;
    left?: RosterEntry;
    roster?: true;
} | {
    type: "feedback";
    feedback: ControllerFeedback;
} | {
    type: "rtt";
    rttMs: number;
    smoothedMs: number;
    serverTick: number;
} | {
    type: "error";
    error: Error;
} | {
    type: "closed";
    code: number;
    reason: string;
    answered: boolean;
};
/**
 * What the driver must do with its socket: open one, or close it with `code` and `reason`. A
 * close with `abandon` comes after the session took the connection as lost and moved on (see
 * the call order at the top of this file): the driver also stops listening to that socket.
 */
export type SessionAction = {
    type: "open";
} | {
    type: "close";
    code: number;
    reason: string;
    abandon?: true;
};
/**
 * steering in [-1, 1], buttons bits
 */
export type InputState = {
    x: number;
    y: number;
    buttons: number;
};
/**
 * quantized
 */
export type SentInput = {
    seq: number;
    x: number;
    y: number;
    buttons: number;
    sentAt: number;
};
/**
 * when a `Ping` went, and the chat lines of its connection sent before it
 */
export type PingSent = {
    at: number;
    chats: number;
};
import type { Role } from './messages.js';
import { ChatBudget } from './pace.js';
import type { Welcome } from './messages.js';
import { WorldHistory } from './snapshot.js';
import type { World } from './snapshot.js';
import { InputPhase } from './phase.js';
import type { ClientMessage } from './messages.js';
import type { Snapshot } from './snapshot.js';
import type { EventKind } from './messages.js';
import type { ControllerFeedback } from './messages.js';
