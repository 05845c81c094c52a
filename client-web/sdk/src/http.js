// The HTTP fallback transport (PROTOCOL.md 1.1) behind the same face as a WebSocket, so the
// driver (client.js) runs the session over it unchanged: `send()`, `close()`, and `onopen`,
// `onmessage`, `onclose` with the WebSocket's event fields.
//
// Downstream: one streamed response for the whole session (`stream`), or a long poll after
// another (`poll`), both read as one byte stream of records. Upstream: POSTs of records, one in
// flight at a time; what the session sends meanwhile goes in the next one, so a POST carries
// every message of a moment together.
//
// Polls and POSTs are numbered (`Tickwire-Poll`, `Tickwire-Seq`) when the answer that opened the
// session says the server takes numbers (`Tickwire-Numbering: 1`), so that one whose answer was
// lost on its way can be sent again as it was: the server answers a repeated poll with the same
// records and takes a repeated POST once (PROTOCOL.md 1.1). A server that does not say so (one
// older than the numbers) gets neither header, and nothing that may have reached it is sent
// again: a failed poll, or a POST that failed in transit, ends the socket, and the session
// resumes its seat in a new one.

import { CloseCode } from './constants.js';
import { Record, RecordReader, encodeRecord, encodeClose, decodeClose, MAX_CLIENT_RECORD } from './records.js';
import { Pace } from './pace.js';

/** The header that names a session. */
export const SESSION_HEADER = 'tickwire-session';
/** The header that numbers a session's polls: 1, 2, ... (the opening request is 0). */
export const POLL_HEADER = 'tickwire-poll';
/** The header that numbers a session's POSTs: 1, 2, ... */
export const SEQ_HEADER = 'tickwire-seq';
/** The header of the opening answer that says the server takes numbered polls and POSTs: `1`. */
export const NUMBERING_HEADER = 'tickwire-numbering';
/** Times a poll or POST that failed in transit is sent, in all, before the socket gives up. */
export const ATTEMPTS = 3;
/** Before the second attempt, ms; each later one waits as much more. */
export const RETRY_MS = 200;
/** The server's largest POST body, bytes. */
export const MAX_POST_BODY = 8 * 1024;

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
  constructor(base, mode, query = '', options = {}) {
    this.base = base.replace(/\/$/, '');
    this.mode = mode;
    this.query = query;
    const f = options.fetch ?? globalThis.fetch;
    if (!f) throw new TypeError('no fetch: the HTTP fallback needs fetch (browsers, Node 18+)');
    // Called as a plain function: a browser's fetch refuses any `this` but the window's.
    /** @type {typeof fetch} */
    this.fetch = (input, init) => f(input, init);
    this.openTimeoutMs = options.openTimeoutMs ?? 3000;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 3000;
    this.chatPace = new Pace(options.chatRate ?? 2, options.chatBurst ?? 4);
    this.now = options.now ?? (() => performance.now());
    /** @type {ReturnType<typeof setTimeout> | null} a flush waiting for `chatPace` */
    this.paceTimer = null;
    /** 0 connecting, 1 open, 2 closing, 3 closed: as a WebSocket's. */
    this.readyState = 0;
    this.binaryType = 'arraybuffer';
    /** @type {string | null} */
    this.session = null;
    /** Bytes of records received and sent (bodies; HTTP heads not counted). */
    this.bytesIn = 0;
    this.bytesOut = 0;
    /** @type {(() => void) | null} */ this.onopen = null;
    /** @type {((e: { data: Uint8Array, timeStamp?: number }) => void) | null} */ this.onmessage = null;
    /** @type {((e: HttpCloseEvent) => void) | null} */ this.onclose = null;
    /** @type {((e: unknown) => void) | null} */ this.onerror = null;
    this.reader = new RecordReader();
    /** @type {Uint8Array[]} records waiting for the next POST */
    this.outbox = [];
    /**
     * @type {{ body: Uint8Array<ArrayBuffer>, seq: number, attempts: number } | null} the POST in flight or
     * to be sent again, until it is answered: sent again, it is sent as it was, with its number
     */
    this.unanswered = null;
    /** The number of the last POST answered (`Tickwire-Seq`). */
    this.seq = 0;
    /** The number of the last poll sent (`Tickwire-Poll`). */
    this.polls = 0;
    /**
     * The server takes numbered polls and POSTs (its opening answer said so): only then are they
     * numbered, and sent again when they fail in transit.
     */
    this.numbered = false;
    this.posting = false;
    /** Cuts a POST's wait for its Retry-After to at most `RETRY_MS` (a close is asked for). @type {(() => void) | null} */
    this.cutRetryWait = null;
    this.flushQueued = false;
    /** @type {{ code: number, reason: string } | null} the server's close record */
    this.closeRecord = null;
    /** The server reads this session's records no more (a POST got 410): nothing more is POSTed. */
    this.upstreamClosed = false;
    this.abort = new AbortController();
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = setTimeout(() => this.fail(CloseCode.ABNORMAL,
      `no record within ${this.openTimeoutMs} ms: a proxy may be buffering responses`, true), this.openTimeoutMs);
    this.run();
  }

  /** @param {Uint8Array | ArrayBuffer} data one protocol message */
  send(data) {
    if (this.readyState !== 1) return;
    const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
    this.outbox.push(encodeRecord(Record.MESSAGE, bytes));
    this.queueFlush();
  }

  /**
   * Closes as a WebSocket would: sends a close record and waits for the server's answer
   * (`wasClean`), at most `closeTimeoutMs`.
   * @param {number} [code] @param {string} [reason]
   */
  close(code = CloseCode.NORMAL, reason = '') {
    if (this.readyState >= 2) return;
    if (this.readyState === 0 || this.session === null) {
      this.fail(CloseCode.ABNORMAL, 'closed before the session opened');
      return;
    }
    this.readyState = 2;
    this.outbox.push(encodeClose(code, reason));
    // A POST waiting out a Retry-After (a proxy's may say 30 s) would hold the close record
    // past the close timeout: the server would take the leave for a drop and keep the seat.
    this.cutRetryWait?.();
    this.cutRetryWait = null;
    this.queueFlush();
    this.setTimer(() => this.fail(CloseCode.ABNORMAL, 'the server did not answer the close in time'), this.closeTimeoutMs);
  }

  // ---- internals --------------------------------------------------------------------------

  /**
   * Resolves after `ms`, or at once when the socket ends (no timer outlives it, to keep a Node
   * process alive). A Retry-After's wait (`closeCuts`) lasts at most {@link RETRY_MS} once a
   * close is asked for: the close has `closeTimeoutMs` to get through.
   * @param {number} ms @param {boolean} [closeCuts]
   * @returns {Promise<void>}
   */
  wait(ms, closeCuts = false) {
    const signal = this.abort.signal;
    const closing = () => this.readyState === 2;
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        if (this.cutRetryWait === cut) this.cutRetryWait = null;
        resolve();
      };
      let timer = setTimeout(done, closeCuts && closing() ? Math.min(ms, RETRY_MS) : ms);
      const cut = () => {
        clearTimeout(timer);
        timer = setTimeout(done, Math.min(ms, RETRY_MS));
      };
      signal.addEventListener('abort', done);
      if (closeCuts) this.cutRetryWait = cut;
    });
  }

  /** @param {() => void} fn @param {number} ms */
  setTimer(fn, ms) {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(fn, ms);
  }

  /**
   * The URL of this mode's route. The query (a join token) only on the request that opens the
   * session: the server reads it there alone, and a token in every poll's URL would be a token
   * in every log of every proxy on the way.
   * @param {boolean} [opening]
   */
  url(opening = false) {
    return `${this.base}/${this.mode}${opening ? this.query : ''}`;
  }

  async run() {
    try {
      const response = await this.fetch(this.url(true), { signal: this.abort.signal, cache: 'no-store' });
      if (!response.ok) {
        const text = (await response.text().catch(() => '')).trim();
        // The status goes with the close: the driver ends a join it refuses for good (a join
        // token, an Origin) at once, which a WebSocket's close, without it, cannot tell.
        return this.fail(CloseCode.ABNORMAL, `HTTP ${response.status}${text ? `: ${text}` : ''}`, false, response.status);
      }
      this.session = response.headers.get(SESSION_HEADER);
      if (!this.session) return this.fail(CloseCode.ABNORMAL, 'the server named no session (is this a tickwire server?)');
      // An older server refuses the numbers' headers in a CORS preflight, and otherwise ignores
      // them: a poll sent again would take the next records, a POST would be delivered twice.
      this.numbered = response.headers.get(NUMBERING_HEADER)?.trim() === '1';
      if (this.mode === 'stream') {
        if (!response.body) return this.fail(CloseCode.ABNORMAL, 'this fetch cannot stream responses');
        const body = response.body.getReader();
        for (;;) {
          const { done, value } = await body.read();
          if (done) break;
          this.receive(value);
          if (this.readyState === 3) return;
        }
      } else {
        this.receive(new Uint8Array(await response.arrayBuffer()));
        while (this.readyState !== 3 && this.closeRecord === null) {
          this.polls += 1;
          const records = await this.poll(this.polls);
          if (records === null) return;
          this.receive(records);
        }
      }
      this.ended();
    } catch (e) {
      if (this.readyState !== 3) this.fail(CloseCode.ABNORMAL, `connection lost: ${/** @type {Error} */ (e).message}`);
    }
  }

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
  async poll(number) {
    const session = /** @type {string} */ (this.session);
    /** @type {Record<string, string>} */
    const headers = { [SESSION_HEADER]: session };
    if (this.numbered) headers[POLL_HEADER] = String(number);
    const attempts = this.numbered ? ATTEMPTS : 1;
    let refused = 0;
    let why = '';
    for (let attempt = 1; ; attempt++) {
      try {
        const poll = await this.fetch(this.url(), { signal: this.abort.signal, cache: 'no-store', headers });
        // The whole body before any of it is used: one cut short is asked for again, whole.
        if (poll.ok) return new Uint8Array(await poll.arrayBuffer());
        const text = (await poll.text().catch(() => '')).trim();
        why = `poll: HTTP ${poll.status}${text ? `: ${text}` : ''}`;
        if ((poll.status === 408 || poll.status === 429) && refused < REFUSED_POLLS) {
          refused += 1;
          attempt -= 1; // not a failure in transit: the attempts for those stay as they were
          await this.wait(retryAfterMs(poll), true);
          if (this.readyState === 3) return null;
          continue;
        }
        if (!IN_TRANSIT.includes(poll.status)) break;
      } catch (e) {
        if (this.readyState === 3) return null;
        why = `connection lost: ${/** @type {Error} */ (e).message}`;
      }
      if (attempt >= attempts) break;
      await this.wait(RETRY_MS * attempt);
      if (this.readyState === 3) return null;
    }
    this.fail(CloseCode.ABNORMAL, why);
    return null;
  }

  /** @param {Uint8Array} chunk */
  receive(chunk) {
    if (this.readyState === 3) return;
    this.bytesIn += chunk.length;
    this.reader.push(chunk);
    for (;;) {
      let record;
      try {
        record = this.reader.next();
      } catch (e) {
        // As a browser reports a WebSocket it failed itself (a frame it could not parse):
        // 1006, which the session retries. 1002 would say the server refused this client.
        return this.fail(CloseCode.ABNORMAL, `malformed record: ${/** @type {Error} */ (e).message}`);
      }
      if (!record) return;
      if (this.readyState === 0) {
        this.readyState = 1;
        if (this.timer !== null) clearTimeout(this.timer);
        this.timer = null;
        this.onopen?.();
        if (this.readyState === 3) return;
      }
      if (record.type === Record.MESSAGE) {
        // A payload that lay in one chunk of the response is a view of it, whose `.buffer`
        // would hand the listener the whole chunk (other records' bytes) and keep it in memory
        // as long as the message is kept: copied. One that spanned chunks is already an array
        // of its own (RecordReader copies it), handed over as it is. Nothing writes into
        // either afterwards (RecordReader keeps the chunks as they came).
        const { payload } = record;
        this.onmessage?.({ data: payload.byteLength === payload.buffer.byteLength ? payload : payload.slice() });
      } else if (record.type === Record.CLOSE) {
        try {
          this.closeRecord = decodeClose(record.payload);
        } catch (e) {
          return this.fail(CloseCode.ABNORMAL, `malformed close record: ${/** @type {Error} */ (e).message}`);
        }
        // The close is the last record: the session is over, whatever the response does next.
        return this.ended();
      }
      if (this.readyState === 3) return;
    }
  }

  /** The downstream ended: cleanly if the close record came first. */
  ended() {
    if (this.readyState === 3) return;
    const close = this.closeRecord;
    if (close) this.finish({ code: close.code, reason: close.reason, wasClean: true });
    else this.fail(CloseCode.ABNORMAL, 'the session ended without a close record');
  }

  /** @param {number} code @param {string} reason @param {boolean} [buffered] @param {number} [status] */
  fail(code, reason, buffered = false, status = undefined) {
    this.finish(status === undefined ? { code, reason, wasClean: false, buffered } : { code, reason, wasClean: false, buffered, status });
  }

  /** @param {HttpCloseEvent} event */
  finish(event) {
    if (this.readyState === 3) return;
    this.readyState = 3;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    if (this.paceTimer !== null) clearTimeout(this.paceTimer);
    this.paceTimer = null;
    this.outbox = [];
    this.unanswered = null;
    this.abort.abort();
    this.onclose?.(event);
  }

  /**
   * Keeps the newest `Ack` waiting (the server encodes against the newest) and at most
   * {@link INPUT_BACKLOG} inputs: each input is meant for a tick of its own, and the server
   * applies them one a tick, so a POST carries every one; but a backlog held back by a refused
   * POST (a `Retry-After`) would arrive at once, past the server's input burst, and get the
   * session kicked as `RateLimited`. The oldest go, their buttons held in the oldest kept, as
   * the server's own folding keeps them: a tap lands.
   */
  compact() {
    let ack = false;
    /** @type {number[]} */
    const inputs = [];
    for (let i = this.outbox.length - 1; i >= 0; i--) {
      const tag = messageTag(this.outbox[i]);
      if (tag === ACK_TAG && ack) this.outbox.splice(i, 1);
      ack ||= tag === ACK_TAG;
    }
    this.outbox.forEach((record, i) => { if (messageTag(record) === INPUT_TAG) inputs.push(i); });
    const dropped = inputs.slice(0, Math.max(0, inputs.length - INPUT_BACKLOG));
    if (dropped.length === 0) return;
    const kept = this.outbox[inputs[dropped.length]];
    for (const i of dropped) kept[kept.length - 1] |= this.outbox[i][this.outbox[i].length - 1];
    const gone = new Set(dropped);
    this.outbox = this.outbox.filter((_, i) => !gone.has(i));
  }

  queueFlush() {
    if (this.flushQueued) return;
    this.flushQueued = true;
    // Everything sent in this turn of the event loop goes in one POST.
    queueMicrotask(() => {
      this.flushQueued = false;
      this.flush();
    });
  }

  async flush() {
    if (this.upstreamClosed) this.outbox = [];
    if (this.posting || this.readyState === 3 || this.session === null) return;
    const post = this.unanswered ?? this.compose();
    if (!post) return;
    this.unanswered = post;
    this.posting = true;
    post.attempts += 1;
    /** @type {Record<string, string>} */
    const headers = { [SESSION_HEADER]: /** @type {string} */ (this.session), 'content-type': 'application/vnd.tickwire.records' };
    if (this.numbered) headers[SEQ_HEADER] = String(post.seq);
    try {
      const response = await this.fetch(`${this.base}/send`, { method: 'POST', signal: this.abort.signal, headers, body: post.body });
      this.bytesOut += post.body.length;
      // Unnumbered, only what the server says it did not take goes again (429, 408, 503): a
      // proxy's 502 or 504 may come after the server took it, and it would be delivered twice.
      const again = this.numbered
        ? response.status === 429 || response.status === 408 || response.status >= 500
        : response.status === 429 || response.status === 408 || response.status === 503;
      if (again) {
        // Not taken, the session lives on: over its POST rate (429), a session not keeping
        // up with its POSTs (503), a body that arrived too slowly (408); or perhaps taken: a
        // proxy in front that lost its connection to the node (502, 504) may have lost only
        // the answer (numbered only). Sent again as it was, with its number, once the server's
        // Retry-After (else a second) has passed: the server delivers a number once, so its chat lines
        // cannot arrive twice (past the chat burst: a RateLimited kick), and they were
        // charged to the chat pace once, when they went first. A session that is truly gone
        // ends with its stream or poll.
        await response.arrayBuffer().catch(() => null);
        post.attempts = 0;
        await this.wait(retryAfterMs(response), true);
      } else {
        this.unanswered = null;
        this.seq = post.seq;
        if (!response.ok) {
          // A tickwire server answers 400 and 413 when it closes the session for what the POST
          // carried, and 410 when the session is closed already: its close record, with the
          // code and reason that say what happened, is on its way down, and is waited for as a
          // close waits (a proxy's 400, which closes nothing, then ends the socket in time).
          // Any other refusal leaves nothing to mend: 404, the session is gone; 409, its POSTs
          // are out of sequence; a 5xx other than 503, unnumbered, may have been taken and is
          // not sent again; a 403 (Origin) or 431 (head too large) would meet every POST. The
          // socket fails, and the session resumes in a new one.
          const text = (await response.text().catch(() => '')).trim();
          const why = `send: HTTP ${response.status}${text ? `: ${text}` : ''}`;
          if (response.status !== 400 && response.status !== 410 && response.status !== 413) {
            this.fail(CloseCode.ABNORMAL, why);
          } else if (!this.upstreamClosed) {
            this.upstreamClosed = true;
            this.outbox = [];
            if (this.readyState !== 3) this.setTimer(() => this.fail(CloseCode.ABNORMAL, why), this.closeTimeoutMs);
          }
        } else {
          await response.arrayBuffer().catch(() => null);
        }
      }
    } catch (e) {
      // Failed in transit: perhaps delivered, perhaps not. Numbered, sent again as it was, as
      // for a 502; unnumbered, the socket fails (sent again, it might be delivered twice).
      if (this.readyState !== 3) {
        if (this.numbered && post.attempts < ATTEMPTS) await this.wait(RETRY_MS * post.attempts);
        else this.fail(CloseCode.ABNORMAL, `connection lost: ${/** @type {Error} */ (e).message}`);
      }
    } finally {
      this.posting = false;
    }
    if (this.unanswered || this.outbox.length) this.flush();
  }

  /**
   * The next POST from the outbox, numbered, or null when nothing may go yet. In order, up to
   * the body limit; chat lines only as `chatPace` allows: a line it holds back waits in the
   * outbox with the lines after it, in their order, for a later POST, while the other records
   * go now. A line is charged to the pace once, when it goes: one held back for the body limit
   * takes no token, and a POST sent again is sent as it was.
   * @returns {{ body: Uint8Array<ArrayBuffer>, seq: number, attempts: number } | null}
   */
  compose() {
    if (this.outbox.length === 0) return null;
    this.compact();
    const now = this.now();
    /** @type {Uint8Array[]} */
    const records = [];
    /** @type {Uint8Array[]} */
    const held = [];
    let size = 0;
    let full = false;
    let chatHeld = false;
    for (const record of this.outbox) {
      full ||= records.length > 0 && size + record.length > MAX_POST_BODY;
      const isChat = messageTag(record) === CHAT_TAG;
      // The close waits for the lines before it, as on a WebSocket, where they arrive first.
      const ordered = isChat || record[0] === Record.CLOSE;
      // `full` first: a line that does not fit must not take a token.
      if (!full && !(ordered && (chatHeld || (isChat && !this.chatPace.take(now))))) {
        records.push(record);
        size += record.length;
      } else {
        held.push(record);
        chatHeld ||= isChat;
      }
    }
    this.outbox = held;
    if (records.length === 0) {
      // Only chat lines wait, and none may go yet: try again when the pace allows one.
      if (this.paceTimer === null) {
        this.paceTimer = setTimeout(() => {
          this.paceTimer = null;
          this.flush();
        }, Math.max(1, this.chatPace.next() - now));
      }
      return null;
    }
    const body = new Uint8Array(size);
    let at = 0;
    for (const r of records) {
      body.set(r, at);
      at += r.length;
    }
    return { body, seq: this.seq + 1, attempts: 0 };
  }
}

/** HTTP statuses of a poll that failed in transit, sent again with its number: a proxy's. */
const IN_TRANSIT = [502, 503, 504];
/** Times in a row one poll refused for now (408, 429) is sent again before the socket gives up. */
export const REFUSED_POLLS = 5;

/**
 * How long a refusal asks to wait before the request goes again: its Retry-After in seconds
 * (at most 30), else a second.
 * @param {Response} response @returns {number} ms
 */
function retryAfterMs(response) {
  const after = Number(response.headers.get('retry-after') ?? 1);
  return (Number.isFinite(after) && after >= 0 ? Math.min(after, 30) : 1) * 1000;
}

/** Client message tags (PROTOCOL.md, the client messages) that {@link HttpSocket#compact} keeps only the newest of. */
const INPUT_TAG = 1;
const ACK_TAG = 2;
/** The `Chat` message tag, paced by {@link HttpSocket#chatPace}. */
const CHAT_TAG = 3;

/** Inputs a POST carries at most: two seconds' at 30 Hz, well within the server's burst of 360. */
const INPUT_BACKLOG = 64;

/**
 * The message tag of a record (its payload's first byte), or -1 for a close or heartbeat.
 * @param {Uint8Array} record
 */
function messageTag(record) {
  if (record[0] !== 0x82 || record.length < 3) return -1;
  const short = record[1] & 0x7f;
  const at = short < 126 ? 2 : short === 126 ? 4 : 10;
  return at < record.length ? record[at] : -1;
}

export { MAX_CLIENT_RECORD };
