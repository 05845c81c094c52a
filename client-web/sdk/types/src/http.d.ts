/** The header that names a session. */
export const SESSION_HEADER: "tickwire-session";
/** The header that numbers a session's polls: 1, 2, ... (the opening request is 0). */
export const POLL_HEADER: "tickwire-poll";
/** The header that numbers a session's POSTs: 1, 2, ... */
export const SEQ_HEADER: "tickwire-seq";
/** The header of the opening answer that says the server takes numbered polls and POSTs: `1`. */
export const NUMBERING_HEADER: "tickwire-numbering";
/** Times a poll or POST that failed in transit is sent, in all, before the socket gives up. */
export const ATTEMPTS: 3;
/** Before the second attempt, ms; each later one waits as much more. */
export const RETRY_MS: 200;
/** The server's largest POST body, bytes. */
export const MAX_POST_BODY: number;
/**
 * @typedef {object} HttpSocketOptions
 * @property {typeof fetch} [fetch] default `globalThis.fetch`
 * @property {number} [openTimeoutMs] how long the first record may take (default 3000): a
 *   proxy that buffers streamed responses holds it back, and the socket closes with
 *   `buffered: true` so the driver can fall back to polling
 * @property {number} [closeTimeoutMs] how long `close()` waits for the server's answer (default 3000)
 * @property {number} [chatRate] chat lines per second a POST may carry on average (default 2,
 *   the server's `--chat-rate`)
 * @property {number} [chatBurst] chat lines POSTs may carry at once (default 4: the server's
 *   `--chat-burst` of 5 with one spare). The session already paces the lines it hands over,
 *   but lines queued behind a stalled POST would otherwise all go in the next one and arrive
 *   together, past the server's burst, and the session would be kicked as `RateLimited`.
 * @property {() => number} [now] the clock for `chatRate`, ms (default `performance.now()`)
 */
/**
 * A close as a WebSocket reports it, and, for a session the server refused to open, `status`:
 * the HTTP status of that refusal.
 * @typedef {{ code: number, reason: string, wasClean: boolean, buffered?: boolean, status?: number }} HttpCloseEvent
 */
/** A fallback session with a WebSocket's face. */
export class HttpSocket {
    /**
     * @param {string} base the fallback's base URL, e.g. `http://127.0.0.1:8080/fallback`
     * @param {'stream' | 'poll'} mode
     * @param {string} query `?token=...` or ''
     * @param {HttpSocketOptions} [options]
     */
    constructor(base: string, mode: "stream" | "poll", query?: string, options?: HttpSocketOptions);
    base: string;
    mode: "stream" | "poll";
    query: string;
    /** @type {typeof fetch} */
    fetch: typeof fetch;
    openTimeoutMs: number;
    closeTimeoutMs: number;
    chatPace: Pace;
    now: () => number;
    /** @type {ReturnType<typeof setTimeout> | null} a flush waiting for `chatPace` */
    paceTimer: ReturnType<typeof setTimeout> | null;
    /** 0 connecting, 1 open, 2 closing, 3 closed: as a WebSocket's. */
    readyState: number;
    binaryType: string;
    /** @type {string | null} */
    session: string | null;
    /** Bytes of records received and sent (bodies; HTTP heads not counted). */
    bytesIn: number;
    bytesOut: number;
    /** @type {(() => void) | null} */ onopen: (() => void) | null;
    /** @type {((e: { data: Uint8Array, timeStamp?: number }) => void) | null} */ onmessage: ((e: {
        data: Uint8Array;
        timeStamp?: number;
    }) => void) | null;
    /** @type {((e: HttpCloseEvent) => void) | null} */ onclose: ((e: HttpCloseEvent) => void) | null;
    /** @type {((e: unknown) => void) | null} */ onerror: ((e: unknown) => void) | null;
    reader: RecordReader;
    /** @type {Uint8Array[]} records waiting for the next POST */
    outbox: Uint8Array[];
    /**
     * @type {{ body: Uint8Array<ArrayBuffer>, seq: number, attempts: number } | null} the POST in flight or
     * to be sent again, until it is answered: sent again, it is sent as it was, with its number
     */
    unanswered: {
        body: Uint8Array<ArrayBuffer>;
        seq: number;
        attempts: number;
    } | null;
    /** The number of the last POST answered (`Tickwire-Seq`). */
    seq: number;
    /** The number of the last poll sent (`Tickwire-Poll`). */
    polls: number;
    /**
     * The server takes numbered polls and POSTs (its opening answer said so): only then are they
     * numbered, and sent again when they fail in transit.
     */
    numbered: boolean;
    posting: boolean;
    /** Cuts a POST's wait for its Retry-After to at most `RETRY_MS` (a close is asked for). @type {(() => void) | null} */
    cutRetryWait: (() => void) | null;
    flushQueued: boolean;
    /** @type {{ code: number, reason: string } | null} the server's close record */
    closeRecord: {
        code: number;
        reason: string;
    } | null;
    /** The server reads this session's records no more (a POST got 410): nothing more is POSTed. */
    upstreamClosed: boolean;
    abort: AbortController;
    /** @type {ReturnType<typeof setTimeout> | null} */
    timer: ReturnType<typeof setTimeout> | null;
    /** @param {Uint8Array | ArrayBuffer} data one protocol message */
    send(data: Uint8Array | ArrayBuffer): void;
    /**
     * Closes as a WebSocket would: sends a close record and waits for the server's answer
     * (`wasClean`), at most `closeTimeoutMs`.
     * @param {number} [code] @param {string} [reason]
     */
    close(code?: number, reason?: string): void;
    /**
     * Resolves after `ms`, or at once when the socket ends (no timer outlives it, to keep a Node
     * process alive). A Retry-After's wait (`closeCuts`) lasts at most {@link RETRY_MS} once a
     * close is asked for: the close has `closeTimeoutMs` to get through.
     * @param {number} ms @param {boolean} [closeCuts]
     * @returns {Promise<void>}
     */
    wait(ms: number, closeCuts?: boolean): Promise<void>;
    /** @param {() => void} fn @param {number} ms */
    setTimer(fn: () => void, ms: number): void;
    /**
     * The URL of this mode's route. The query (a join token) only on the request that opens the
     * session: the server reads it there alone, and a token in every poll's URL would be a token
     * in every log of every proxy on the way.
     * @param {boolean} [opening]
     */
    url(opening?: boolean): string;
    run(): Promise<void>;
    /**
     * Poll `number`'s records, or null once the socket failed. A numbered poll that fails in
     * transit (a network error, a response cut short, a proxy's 502, 503 or 504) is sent again
     * with the same number, up to {@link ATTEMPTS} times in all: the server answers a repeated
     * number with the records it answered the first time, so none is lost and none read twice.
     * Unnumbered (the server does not take numbers), a poll is sent once: sent again it would take
     * the next records, and those it took would be lost. Any failure then ends the socket, and
     * the session resumes in a new one.
     * A poll refused for now (408, 429: the server turns such a request away before reading it,
     * so it took nothing) is sent again as it was after its Retry-After, numbered or not, up to
     * {@link REFUSED_POLLS} times, as a POST is: several players behind a proxy that opens a
     * connection per request meet the server's per-address limit, and ending the socket for it
     * would only open more.
     * @param {number} number
     * @returns {Promise<Uint8Array | null>}
     */
    poll(number: number): Promise<Uint8Array | null>;
    /** @param {Uint8Array} chunk */
    receive(chunk: Uint8Array): void;
    /** The downstream ended: cleanly if the close record came first. */
    ended(): void;
    /** @param {number} code @param {string} reason @param {boolean} [buffered] @param {number} [status] */
    fail(code: number, reason: string, buffered?: boolean, status?: number): void;
    /** @param {HttpCloseEvent} event */
    finish(event: HttpCloseEvent): void;
    /**
     * Keeps the newest `Ack` waiting (the server encodes against the newest) and at most
     * {@link INPUT_BACKLOG} inputs: each input is meant for a tick of its own, and the server
     * applies them one a tick, so a POST carries every one; but a backlog held back by a refused
     * POST (a `Retry-After`) would arrive at once, past the server's input burst, and get the
     * session kicked as `RateLimited`. The oldest go, their buttons held in the oldest kept, as
     * the server's own folding keeps them: a tap lands.
     */
    compact(): void;
    queueFlush(): void;
    flush(): Promise<void>;
    /**
     * The next POST from the outbox, numbered, or null when nothing may go yet. In order, up to
     * the body limit; chat lines only as `chatPace` allows: a line it holds back waits in the
     * outbox with the lines after it, in their order, for a later POST, while the other records
     * go now. A line is charged to the pace once, when it goes: one held back for the body limit
     * takes no token, and a POST sent again is sent as it was.
     * @returns {{ body: Uint8Array<ArrayBuffer>, seq: number, attempts: number } | null}
     */
    compose(): {
        body: Uint8Array<ArrayBuffer>;
        seq: number;
        attempts: number;
    } | null;
}
/** Times in a row one poll refused for now (408, 429) is sent again before the socket gives up. */
export const REFUSED_POLLS: 5;
export { MAX_CLIENT_RECORD };
export type HttpSocketOptions = {
    /**
     * default `globalThis.fetch`
     */
    fetch?: typeof fetch | undefined;
    /**
     * how long the first record may take (default 3000): a
     * proxy that buffers streamed responses holds it back, and the socket closes with
     * `buffered: true` so the driver can fall back to polling
     */
    openTimeoutMs?: number | undefined;
    /**
     * how long `close()` waits for the server's answer (default 3000)
     */
    closeTimeoutMs?: number | undefined;
    /**
     * chat lines per second a POST may carry on average (default 2,
     * the server's `--chat-rate`)
     */
    chatRate?: number | undefined;
    /**
     * chat lines POSTs may carry at once (default 4: the server's
     * `--chat-burst` of 5 with one spare). The session already paces the lines it hands over,
     * but lines queued behind a stalled POST would otherwise all go in the next one and arrive
     * together, past the server's burst, and the session would be kicked as `RateLimited`.
     */
    chatBurst?: number | undefined;
    /**
     * the clock for `chatRate`, ms (default `performance.now()`)
     */
    now?: (() => number) | undefined;
};
/**
 * A close as a WebSocket reports it, and, for a session the server refused to open, `status`:
 * the HTTP status of that refusal.
 */
export type HttpCloseEvent = {
    code: number;
    reason: string;
    wasClean: boolean;
    buffered?: boolean;
    status?: number;
};
import { Pace } from './pace.js';
import { RecordReader } from './records.js';
import { MAX_CLIENT_RECORD } from './records.js';
