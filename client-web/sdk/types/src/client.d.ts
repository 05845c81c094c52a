/** @import { SessionOptions } from './session.js' */
/** @import { SessionEvent } from './session.js' */
/** @import { InputState } from './session.js' */
/**
 * @typedef {object} ClientOptions
 * @property {string} url the game WebSocket, e.g. `ws://127.0.0.1:8080/ws`
 * @property {any} [WebSocket] a WebSocket constructor; default `globalThis.WebSocket`
 * @property {() => number} [now] the clock, ms; default `performance.now()`
 */
/**
 * @typedef {{ state: Extract<SessionEvent, {type: 'state'}>, welcome: Extract<SessionEvent, {type: 'welcome'}>,
 *   snapshot: Extract<SessionEvent, {type: 'snapshot'}>, event: Extract<SessionEvent, {type: 'event'}>,
 *   feedback: Extract<SessionEvent, {type: 'feedback'}>, rtt: Extract<SessionEvent, {type: 'rtt'}>,
 *   error: Extract<SessionEvent, {type: 'error'}>, closed: Extract<SessionEvent, {type: 'closed'}> }} ClientEventMap
 */
/**
 * A connected tickwire client: `connect()`, listen with `on()`, steer with `setInput()`,
 * `chat()`, and `leave()`. Reconnects and resumes by itself.
 */
export class TickwireClient {
    /** @param {ClientOptions & SessionOptions} options */
    constructor(options: ClientOptions & SessionOptions);
    url: string;
    WebSocketImpl: any;
    now: () => number;
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
    /** Bytes received and sent on all connections (WebSocket payloads). */
    bytesIn: number;
    bytesOut: number;
    /** Resolvers of `leave()`. @type {((e: ClientEventMap['closed']) => void)[]} */
    leaving: ((e: ClientEventMap["closed"]) => void)[];
    /**
     * Listens to one kind of session event; returns a function that stops listening.
     * @template {keyof ClientEventMap} K
     * @param {K} type
     * @param {(event: ClientEventMap[K]) => void} listener
     */
    on<K extends keyof ClientEventMap>(type: K, listener: (event: ClientEventMap[K]) => void): () => boolean;
    /** Opens the connection (and keeps it open until `leave()` or a fatal error). */
    connect(): void;
    /** @param {Partial<InputState>} input */
    setInput(input: Partial<InputState>): void;
    /** @param {string} text @returns {boolean} whether it was sent */
    chat(text: string): boolean;
    /**
     * Leaves properly (close 1000) and resolves once the server answered the close, or the
     * connection ended otherwise (`answered` says which).
     * @returns {Promise<ClientEventMap['closed']>}
     */
    leave(): Promise<ClientEventMap["closed"]>;
    /** The session's state. */
    get state(): import("./session.js").SessionState;
    /** Runs the session until it has nothing more to do right now. */
    drive(): void;
    open(): void;
}
export type ClientOptions = {
    /**
     * the game WebSocket, e.g. `ws://127.0.0.1:8080/ws`
     */
    url: string;
    /**
     * a WebSocket constructor; default `globalThis.WebSocket`
     */
    WebSocket?: any;
    /**
     * the clock, ms; default `performance.now()`
     */
    now?: (() => number) | undefined;
};
export type ClientEventMap = {
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
