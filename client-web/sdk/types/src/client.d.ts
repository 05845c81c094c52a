/**
 * The HTTP fallback's base URL and query for a game WebSocket URL.
 * @param {string} url e.g. `wss://play.example.com/ws?token=abc`
 * @returns {{ base: string, query: string }} e.g. `https://play.example.com/fallback`, `?token=abc`
 */
export function fallbackFor(url: string): {
    base: string;
    query: string;
};
/**
 * The URL that asks the server why an upgrade to `url` was refused: the same address and query
 * (its join token) over HTTP (PROTOCOL.md 1).
 * @param {string} url e.g. `wss://play.example.com/ws?token=abc`
 * @returns {string} e.g. `https://play.example.com/ws?token=abc`
 */
export function upgradeProbeFor(url: string): string;
/** The order `auto` tries transports in. @type {TransportName[]} */
export const TRANSPORTS: TransportName[];
/** How long connection attempts keep starting at a fallback transport that WebSocket failed
 * over to (or that `preferTransport` named) before a new round tries WebSocket first again, as
 * a reloaded page does past the game's `KEPT_TRANSPORT_MS`. Without it, one bad reconnect on
 * flaky Wi-Fi kept a session on the HTTP fallback (more latency, every input a POST) for the
 * rest of the evening; in a network that blocks WebSocket, the cost is one failed upgrade
 * every ten minutes, at a reconnect. */
export const RETRY_BEST_AFTER_MS: number;
/**
 * A connected tickwire client: `connect()`, listen with `on()`, steer with `setInput()`,
 * `chat()`, and `leave()`. Reconnects and resumes by itself.
 */
export class TickwireClient {
    /** @param {ClientOptions & SessionOptions} options */
    constructor(options: ClientOptions & SessionOptions);
    /** A function that gives each attempt's URL (`options.url` as one), or null. @type {(() => string | Promise<string>) | null} */
    urlSource: (() => string | Promise<string>) | null;
    /** @type {string} the URL of the current (or last) attempt; '' until a function gave one */
    url: string;
    /** Connection attempts started: a URL a function gives late, for an attempt since given up, is not used. */
    attempts: number;
    WebSocketImpl: any;
    /**
     * What `connect()` tries, in order. In `auto` without a WebSocket implementation (Node 20
     * run without `--experimental-websocket`, and no `WebSocket` option) `ws` is left out and
     * the client plays over the HTTP fallback alone: an application that expects WebSocket
     * checks `chain.includes('ws')` (the SDK logs nothing).
     * @type {readonly TransportName[]}
     */
    chain: readonly TransportName[];
    /** Where in `chain` a connection attempt starts: the transport that opened last. */
    preferred: number;
    /** Where the current attempt is in `chain`. */
    trying: number;
    /** Whether the current socket carried a `Welcome` ({@link SILENT_OPENS_TO_MOVE_ON}). */
    welcomed: boolean;
    /** Sockets in a row that opened and carried no `Welcome` in time. */
    silentOpens: number;
    /** @type {TransportName | null} the transport of the open connection (or the last one) */
    transport: TransportName | null;
    /** `options.fallbackUrl`, which `setUrl` keeps. @type {string | undefined} */
    fallbackUrl: string | undefined;
    fallbackBase: string;
    fallbackQuery: string;
    fetchImpl: typeof fetch | undefined;
    upgradeTimeoutMs: number;
    streamTimeoutMs: number;
    /** @type {ReturnType<typeof setTimeout> | null} */
    upgradeTimer: ReturnType<typeof setTimeout> | null;
    /** The question why an upgrade was refused, while it is asked (`askWhyRefused`).
     * @type {AbortController | null} */
    probe: AbortController | null;
    /** @type {Map<TransportName, string>} why each transport last failed to open (cleared once one opens) */
    failures: Map<TransportName, string>;
    /** @type {Map<TransportName, number>} the HTTP status each transport that failed to open was
     * last answered with, where it could see one (the fallback; cleared once one opens) */
    statuses: Map<TransportName, number>;
    now: () => number;
    /** When `preferred` last changed ({@link RETRY_BEST_AFTER_MS}). */
    preferredAt: number;
    /** With the default clock, a message's own `timeStamp` (when it arrived, before it waited
     * for a busy main thread) is on the same clock and gives truer RTTs and arrival times. */
    useEventTime: boolean;
    session: Session;
    /** @type {any} */
    socket: any;
    /** @type {ReturnType<typeof setTimeout> | null} */
    timer: ReturnType<typeof setTimeout> | null;
    /** @type {Map<string, Set<(event: any) => void>>} */
    listeners: Map<string, Set<(event: any) => void>>;
    /** Bytes received and sent on all connections (protocol messages, without framing). */
    bytesIn: number;
    bytesOut: number;
    /** Resolvers of `leave()`. @type {((e: ClientEventMap['closed']) => void)[]} */
    leaving: ((e: ClientEventMap["closed"]) => void)[];
    /** How the session's leave ended (its `closed` event), once it did. @type {ClientEventMap['closed'] | null} */
    left: ClientEventMap["closed"] | null;
    /**
     * Where an error a listener threw goes, so that one broken listener does not stop the
     * session (the other listeners, and the session, go on). By default it is rethrown on its
     * own turn of the event loop, as an `EventTarget` does: a browser reports it in the console
     * (and to `window`'s `error` event) and goes on; Node takes it as an uncaught exception,
     * which ends the process unless a `process.on('uncaughtException')` handler catches it.
     * Assign another function to keep it, e.g. a server-side bot:
     * `client.reportError = (error) => console.error('a listener failed', error);`
     * @type {(error: unknown) => void}
     */
    reportError: (error: unknown) => void;
    /**
     * Listens to one kind of session event; returns a function that stops listening.
     * @template {keyof ClientEventMap} K
     * @param {K} type
     * @param {(event: ClientEventMap[K]) => void} listener
     */
    on<K extends keyof ClientEventMap>(type: K, listener: (event: ClientEventMap[K]) => void): () => boolean;
    /** Opens the connection (and keeps it open until `leave()` or a fatal error). */
    connect(): void;
    /**
     * The controls held from now on (`Session.setInput`): a field left out keeps its held value.
     * @param {Partial<InputState>} input
     */
    setInput(input: Partial<InputState>): void;
    /**
     * Sends a chat line now, or once the server's chat limit allows (the session paces lines:
     * `chatRate`, `chatQueue`).
     * Taken is not delivered: a line still waiting when the connection drops (for the pace, or,
     * on the HTTP fallback, for a POST in flight) is dropped with it and not sent again after the
     * reconnect, as a line a WebSocket was carrying would be lost with the socket.
     * @param {string} text @returns {boolean} whether it was taken (false: not joined, empty,
     *   or the queue is full)
     */
    chat(text: string): boolean;
    /**
     * Where the next connection attempts go; the open connection is left as it is. For a join
     * token that expires while the session lives: the server checks the token on every
     * reconnect and refuses an expired one (HTTP 401, which ends the session: its seat is not
     * resumed). Renew the token before it expires and set the URL that carries it, so that a
     * reconnect after a drop presents one the server still takes, and resumes; or set a
     * function ({@link UrlSource}), which each attempt calls for a fresh one. A URL (or function)
     * given while an attempt waits for the function it replaces serves that attempt at once (the
     * old function's late answer is dropped). The HTTP fallback follows: its query (the token) always, its base
     * too unless `fallbackUrl` was given.
     * @param {UrlSource} url `ws://` or `wss://` (`http://` and `https://` are read as those),
     *   as `options.url`; a TypeError, changing nothing, for anything else
     */
    setUrl(url: UrlSource): void;
    /** Points the transports at `url`; throws a TypeError, changing nothing, if it is not a URL
     * a WebSocket opens (`ws:`, `wss:`, or `http:` and `https:`, which it reads as those).
     * @param {unknown} url */
    useUrl(url: unknown): void;
    /**
     * Leaves properly (close 1000) and resolves once the server answered the close, or the
     * connection ended otherwise (`answered` says which). Called again, during the first leave or
     * after it, it resolves with the same event.
     * @returns {Promise<ClientEventMap['closed']>}
     */
    leave(): Promise<ClientEventMap["closed"]>;
    /**
     * Tries to reconnect now, skipping what is left of the backoff wait, if the session is
     * `reconnecting` (see `Session.retryNow`). A page calls it when it is shown again
     * (`visibilitychange`) and on the window's `online` event: the network is likely back, and
     * the player should not wait seconds more for it.
     * @returns {boolean} whether an attempt started
     */
    retryNow(): boolean;
    /**
     * Checks at once that the connection still answers (see `Session.checkLink`): a page calls it
     * when it is shown again after a while in the background, where its scripts were frozen and
     * the network may have changed. Without an answer within `timeoutMs` the connection is taken
     * for lost and resumed on a new one, rather than after the silence timeout, which the
     * messages that waited for the page to come back start over.
     * @param {number} [timeoutMs] default 2000
     * @returns {boolean} whether a check started (only while joined)
     */
    checkLink(timeoutMs?: number): boolean;
    /** The session's state. */
    get state(): import("./session.js").SessionState;
    /** Sets where the next connection attempt starts in `chain`, noting when that changed.
     * @param {number} index */
    prefer(index: number): void;
    /** Runs the session until it has nothing more to do right now. */
    drive(): void;
    /**
     * Hands `event` to its listeners; what one throws goes to `reportError`.
     * @param {{ type: string, [field: string]: unknown }} event
     */
    emit(event: {
        type: string;
        [field: string]: unknown;
    }): void;
    /**
     * Opens attempt `attempt` once `source` gave its URL: at once if it returns one, when its
     * promise resolves otherwise (unless the session gave the attempt up meanwhile: its connect
     * timeout, a `leave()`). A source that fails fails the attempt, as a socket that could not
     * open would.
     * @param {() => string | Promise<string>} source @param {number} attempt
     */
    openAtUrlFrom(source: () => string | Promise<string>, attempt: number): void;
    /** Opens the transport the current attempt is at. */
    open(): void;
    /**
     * Tells the session that no transport of this attempt opened.
     * @param {{ code: number, reason: string, wasClean: boolean }} event the last one's close
     */
    tellUnopened(event: {
        code: number;
        reason: string;
        wasClean: boolean;
    }): void;
    /**
     * Whether to ask the server why the WebSocket did not open before telling the session (one
     * still connecting): it failed with no status (a browser hides an upgrade's), and no
     * fallback transport got an answer that says more (it was not tried, or its address serves
     * no fallback: 404, 405).
     */
    mayAskWhy(): boolean;
    /**
     * Asks the server with a plain GET of the WebSocket's URL (its join token included) why the
     * upgrade was refused (PROTOCOL.md 1), then tells the session: the server's own 401 for the
     * join token (marked `Tickwire-Refusal: join-token`) as that refusal, which ends the join at
     * once with the server's words; anything else, or no answer in time, as the failure it was.
     * @param {{ code: number, reason: string, wasClean: boolean }} event the last socket's close
     */
    askWhyRefused(event: {
        code: number;
        reason: string;
        wasClean: boolean;
    }): void;
    /** Stops asking why an upgrade was refused, if asking; returns whether it was. */
    stopAsking(): boolean;
    /** Abandons `socket`, which did not open (in time), for the next transport. @param {any} socket */
    next(socket: any): void;
    /**
     * Why the transports tried failed to open, each by its last failure (`ws: ...; stream: ...`),
     * or, with one transport, the reason of its close `event` alone.
     * @param {{ reason: string }} event
     */
    failureReason(event: {
        reason: string;
    }): string;
    clearUpgradeTimer(): void;
}
/**
 * How the client reaches the server: `ws` (WebSocket), `stream` (the HTTP fallback with a
 * streamed response), `poll` (the HTTP fallback with long polls).
 */
export type TransportName = "ws" | "stream" | "poll";
/**
 * Where a connection attempt goes: a URL, or a function called before every attempt (the
 * first and each reconnect) that returns one, or a promise of one. The function form fetches a
 * fresh join token for each attempt, so a token that expired during a long match never ends a
 * session whose seat is still held: `async () => \`wss://game.example/ws?token=${await
 * fetchToken()}\``. The session's connect timeout counts the time it takes; if it throws,
 * rejects or returns no `ws:`, `wss:`, `http:` or `https:` URL, the attempt fails as one that
 * could not connect, and the reconnect policy goes on.
 */
export type UrlSource = string | (() => string | Promise<string>);
export type ClientOptions = {
    /**
     * the game WebSocket, e.g. `ws://127.0.0.1:8080/ws` (`ws://`, `wss://`,
     * or `http://` and `https://`, read as those; anything else throws a TypeError at
     * construction, as `setUrl` does), or a function that returns it before each connection
     * attempt ({@link UrlSource}), whose URLs are checked at each attempt
     */
    url: UrlSource;
    /**
     * `auto` (default): WebSocket first; when a
     * connection cannot even open, the HTTP stream, then long polling, and from then on whichever
     * opened. A name forces that one.
     */
    transport?: "auto" | TransportName | undefined;
    /**
     * in `auto`, the transport the first attempt starts
     * from (later ones from whichever opened last, as always): the one an application saw reach
     * `joined` last time, e.g. kept in sessionStorage across a reload, so that a page behind a
     * middlebox that swallows WebSocket does not spend seconds finding that out again, while its
     * seat's resume grace runs. Ignored with a forced `transport`, or for `ws` with no WebSocket
     * implementation; a name not in {@link TRANSPORTS} throws a TypeError.
     */
    preferTransport?: TransportName | undefined;
    /**
     * the HTTP fallback's base, default derived from `url`
     * (`ws://host/ws?q` → `http://host/fallback`, the query kept for join tokens)
     */
    fallbackUrl?: string | undefined;
    /**
     * a WebSocket constructor; default `globalThis.WebSocket`
     */
    WebSocket?: any;
    /**
     * for the HTTP fallback; default `globalThis.fetch`
     */
    fetch?: typeof fetch | undefined;
    /**
     * in `auto`, how long a WebSocket may take to open before
     * the fallback is tried (default 5000; ms, > 0 and at most 2^31 - 1, else the constructor
     * throws, as for the session's times): some proxies hold a blocked upgrade instead of refusing it
     */
    upgradeTimeoutMs?: number | undefined;
    /**
     * how long the fallback's first record may take (default
     * 3000; as `upgradeTimeoutMs`): a proxy that buffers streamed responses holds it back, and `auto` moves on to polling
     */
    streamTimeoutMs?: number | undefined;
    /**
     * the clock, ms; default `performance.now()`
     */
    now?: (() => number) | undefined;
};
export type ClientEventMap = {
    transport: {
        type: "transport";
        transport: TransportName;
    };
    state: Extract<SessionEvent, {
        type: "state";
    }>;
    welcome: Extract<SessionEvent, {
        type: "welcome";
    }>;
    snapshot: Extract<SessionEvent, {
        type: "snapshot";
    }>;
    event: Extract<SessionEvent, {
        type: "event";
    }>;
    feedback: Extract<SessionEvent, {
        type: "feedback";
    }>;
    rtt: Extract<SessionEvent, {
        type: "rtt";
    }>;
    error: Extract<SessionEvent, {
        type: "error";
    }>;
    closed: Extract<SessionEvent, {
        type: "closed";
    }>;
};
import { Session } from './session.js';
import type { InputState } from './session.js';
import type { SessionOptions } from './session.js';
import type { SessionEvent } from './session.js';
