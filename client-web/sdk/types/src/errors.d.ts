/**
 * @typedef {'Truncated'|'TrailingBytes'|'UnknownTag'|'InvalidInteger'|'InvalidBool'|'StringTooLong'
 *   |'InvalidUtf8'|'InvalidSnapshotHeader'|'TooLarge'|'InvalidRecord'} DecodeErrorKind
 */
/**
 * Bytes that do not decode into a message (PROTOCOL.md 2.5). (A snapshot's body is read only
 * when it is applied: its errors are `ApplyError`s.) The receiver treats the sender
 * as broken: the SDK drops the connection and reconnects.
 */
export class DecodeError extends Error {
    /** @param {DecodeErrorKind} kind @param {string} [detail] */
    constructor(kind: DecodeErrorKind, detail?: string);
    /** @type {DecodeErrorKind} */
    kind: DecodeErrorKind;
}
/** A message that cannot be encoded (a string over its bound, a number out of range): a bug
 * in the caller, thrown before anything is sent. */
export class EncodeError extends Error {
    /** @param {string} message */
    constructor(message: string);
}
/**
 * The server ended the session for good: a `Kick` (or a close code) that retrying would not
 * fix. The application shows `message` to the user; the SDK does not reconnect. After
 * `Removed` (protocol 7: an operator removed the client from its room, or bans its address or
 * name for a while) `serverMessage` says which and why, e.g. "banned for 9 more minutes:
 * spamming the chat": show it as it is, and do not rejoin without the person asking.
 */
export class KickedError extends Error {
    /**
     * @param {import('./messages.js').KickReason} reason the machine-readable reason
     * @param {string} message the server's human-readable text
     * @param {number} code the WebSocket close code that followed
     * @param {number} [serverVersion] for `VersionMismatch`: the version the server speaks
     */
    constructor(reason: import("./messages.js").KickReason, message: string, code: number, serverVersion?: number);
    reason: "VersionMismatch" | "BadHello" | "MalformedMessage" | "Full" | "ResumeRejected" | "RateLimited" | "Idle" | "TooSlow" | "Replaced" | "ShuttingDown" | "Removed";
    serverMessage: string;
    code: number;
    serverVersion: number | undefined;
}
/** The server speaks another protocol version; the page must be updated. */
export class VersionMismatchError extends KickedError {
    /** @param {string} message @param {number} code @param {number} serverVersion */
    constructor(message: string, code: number, serverVersion: number);
}
/**
 * The connection closed with a code and reason and no `Kick` before it (an upgrade refused,
 * a policy close, a server error). `retryable` says whether the SDK will try again.
 * `lastStatus`, for a connection that never opened, is the HTTP status it was answered with,
 * where the transport saw one (the HTTP fallback; a browser hides a WebSocket upgrade's): a
 * 503 or a 429 says the server was reached and is at capacity, which a game shows as "the
 * server is full" rather than as "cannot reach the server".
 */
export class ConnectionClosedError extends Error {
    /**
     * @param {number} code @param {string} reason @param {boolean} retryable
     * @param {number} [lastStatus]
     * @param {number} [attempts] set when the session gave up: its attempts to reconnect
     */
    constructor(code: number, reason: string, retryable: boolean, lastStatus?: number, attempts?: number);
    code: number;
    reason: string;
    retryable: boolean;
    /** The HTTP status a connection that never opened was answered with, final or not. */
    lastStatus: number | undefined;
    /**
     * The reconnects tried before the session gave up (`reconnect.maxAttempts`): a server or
     * network that stayed away, not an answer; undefined for any other close.
     */
    attempts: number | undefined;
}
/**
 * The session gave up before any connection to the server opened (`maxInitialAttempts`): the
 * server is down or cannot be reached from here, or it refuses this client before the
 * protocol starts (a missing or expired join token, an origin it does not allow, no capacity).
 * A browser's WebSocket reports all of these as 1006 without the HTTP status; the HTTP
 * fallback sees it: `status` holds a refusal that retrying cannot fix (any 4xx but 408 and
 * 429), which ends the join at its first attempt, and `reason` names each transport's last
 * failure (`ws: ...; stream: HTTP 401: ...`). `attempts` counts the connection attempts made.
 * `lastStatus` is the HTTP status the last attempt was answered with, final or not.
 */
export class UnreachableError extends ConnectionClosedError {
    /**
     * @param {number} code @param {string} reason @param {number} attempts @param {number} [status]
     * @param {number} [lastStatus]
     */
    constructor(code: number, reason: string, attempts: number, status?: number, lastStatus?: number);
    attempts: number;
    /** The HTTP status of a refusal that ended the join at once (seen on the HTTP fallback only). */
    status: number | undefined;
}
export type DecodeErrorKind = "Truncated" | "TrailingBytes" | "UnknownTag" | "InvalidInteger" | "InvalidBool" | "StringTooLong" | "InvalidUtf8" | "InvalidSnapshotHeader" | "TooLarge" | "InvalidRecord";
