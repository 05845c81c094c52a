// Errors, each saying who reacts to it.

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
  constructor(kind, detail) {
    super(detail ? `${kind}: ${detail}` : kind);
    this.name = 'DecodeError';
    /** @type {DecodeErrorKind} */
    this.kind = kind;
  }
}

/** A message that cannot be encoded (a string over its bound, a number out of range): a bug
 * in the caller, thrown before anything is sent. */
export class EncodeError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'EncodeError';
  }
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
  constructor(reason, message, code, serverVersion) {
    super(`${reason}: ${message}`);
    this.name = 'KickedError';
    this.reason = reason;
    this.serverMessage = message;
    this.code = code;
    this.serverVersion = serverVersion;
  }
}

/** The server speaks another protocol version; the page must be updated. */
export class VersionMismatchError extends KickedError {
  /** @param {string} message @param {number} code @param {number} serverVersion */
  constructor(message, code, serverVersion) {
    super('VersionMismatch', message, code, serverVersion);
    this.name = 'VersionMismatchError';
  }
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
  constructor(code, reason, retryable, lastStatus, attempts) {
    super(`connection closed with ${code}${reason ? `: ${reason}` : ''}`);
    this.name = 'ConnectionClosedError';
    this.code = code;
    this.reason = reason;
    this.retryable = retryable;
    /** The HTTP status a connection that never opened was answered with, final or not. */
    this.lastStatus = lastStatus;
    /**
     * The reconnects tried before the session gave up (`reconnect.maxAttempts`): a server or
     * network that stayed away, not an answer; undefined for any other close.
     */
    this.attempts = attempts;
  }
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
  constructor(code, reason, attempts, status, lastStatus) {
    super(code, reason, false, lastStatus);
    const what = status === undefined
      // `attempts` counts the first connection and its retries (`maxInitialAttempts` counts
      // the retries: 5 gives up at the sixth failure).
      ? `no connection opened in ${attempts} attempt${attempts === 1 ? '' : `s (the first and ${attempts - 1} ${attempts === 2 ? 'retry' : 'retries'})`}`
      : `refused with HTTP ${status}`;
    // Each thing once: a refusal's reason starts with its status ("HTTP 401: ..."), and the
    // 1006 a browser closes an unopened socket with says nothing a reason does not.
    const said = status === undefined ? reason : reason.replace(new RegExp(`^HTTP ${status}(: |$)`), '');
    this.message = `${what}: ${said || `closed with ${code}`}`;
    this.name = 'UnreachableError';
    this.attempts = attempts;
    /** The HTTP status of a refusal that ended the join at once (seen on the HTTP fallback only). */
    this.status = status;
  }
}
