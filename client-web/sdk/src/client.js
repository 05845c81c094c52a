// The IO driver: a transport and timers around the sans-IO Session, with events for the
// application. The transport is a WebSocket (the browser's, or any WHATWG-compatible one:
// Node 22+'s global, Node 20 with --experimental-websocket, the `ws` package passed as
// `WebSocket`), or where none can be opened the HTTP fallback (http.js), which has the same face.

import { SUBPROTOCOL, CloseCode } from './constants.js';
import { Session, isFinalRefusal } from './session.js';
import { HttpSocket } from './http.js';
import { numberOption, MAX_TIMER_MS } from './options.js';

/** @import { SessionOptions } from './session.js' */
/** @import { SessionEvent } from './session.js' */
/** @import { InputState } from './session.js' */

/**
 * How the client reaches the server: `ws` (WebSocket), `stream` (the HTTP fallback with a
 * streamed response), `poll` (the HTTP fallback with long polls).
 * @typedef {'ws' | 'stream' | 'poll'} TransportName
 */

/**
 * Where a connection attempt goes: a URL, or a function called before every attempt (the
 * first and each reconnect) that returns one, or a promise of one. The function form fetches a
 * fresh join token for each attempt, so a token that expired during a long match never ends a
 * session whose seat is still held: `async () => \`wss://game.example/ws?token=${await
 * fetchToken()}\``. The session's connect timeout counts the time it takes; if it throws,
 * rejects or returns no `ws:`, `wss:`, `http:` or `https:` URL, the attempt fails as one that
 * could not connect, and the reconnect policy goes on.
 * @typedef {string | (() => string | Promise<string>)} UrlSource
 */

/**
 * @typedef {object} ClientOptions
 * @property {UrlSource} url the game WebSocket, e.g. `ws://127.0.0.1:8080/ws` (`ws://`, `wss://`,
 *   or `http://` and `https://`, read as those; anything else throws a TypeError at
 *   construction, as `setUrl` does), or a function that returns it before each connection
 *   attempt ({@link UrlSource}), whose URLs are checked at each attempt
 * @property {TransportName | 'auto'} [transport] `auto` (default): WebSocket first; when a
 *   connection cannot even open, the HTTP stream, then long polling, and from then on whichever
 *   opened. A name forces that one.
 * @property {TransportName} [preferTransport] in `auto`, the transport the first attempt starts
 *   from (later ones from whichever opened last, as always): the one an application saw reach
 *   `joined` last time, e.g. kept in sessionStorage across a reload, so that a page behind a
 *   middlebox that swallows WebSocket does not spend seconds finding that out again, while its
 *   seat's resume grace runs. Ignored with a forced `transport`, or for `ws` with no WebSocket
 *   implementation; a name not in {@link TRANSPORTS} throws a TypeError.
 * @property {string} [fallbackUrl] the HTTP fallback's base, default derived from `url`
 *   (`ws://host/ws?q` → `http://host/fallback`, the query kept for join tokens)
 * @property {any} [WebSocket] a WebSocket constructor; default `globalThis.WebSocket`
 * @property {typeof fetch} [fetch] for the HTTP fallback; default `globalThis.fetch`
 * @property {number} [upgradeTimeoutMs] in `auto`, how long a WebSocket may take to open before
 *   the fallback is tried (default 5000; ms, > 0 and at most 2^31 - 1, else the constructor
 *   throws, as for the session's times): some proxies hold a blocked upgrade instead of refusing it
 * @property {number} [streamTimeoutMs] how long the fallback's first record may take (default
 *   3000; as `upgradeTimeoutMs`): a proxy that buffers streamed responses holds it back, and `auto` moves on to polling
 * @property {() => number} [now] the clock, ms; default `performance.now()`
 */

/**
 * Throws a TypeError (`what`, then the value) unless `url` is a URL a WebSocket opens (`ws:`,
 * `wss:`, or `http:` and `https:`, which it reads as those).
 * @param {unknown} url @param {string} what
 * @returns {asserts url is string}
 */
function checkUrl(url, what) {
  if (typeof url === 'string' && /^(wss?|https?):\/\//i.test(url)) {
    try {
      new URL(url); // throws for `ws://` alone, a bad port (URL.canParse is too new for Safari 16)
      return;
    } catch {
      // not a URL after all: the TypeError below names it
    }
  }
  throw new TypeError(`${what}: ${typeof url === 'string' ? JSON.stringify(url) : typeof url}`);
}

/** The order `auto` tries transports in. @type {TransportName[]} */
export const TRANSPORTS = ['ws', 'stream', 'poll'];

/**
 * The HTTP fallback's base URL and query for a game WebSocket URL.
 * @param {string} url e.g. `wss://play.example.com/ws?token=abc`
 * @returns {{ base: string, query: string }} e.g. `https://play.example.com/fallback`, `?token=abc`
 */
export function fallbackFor(url) {
  const u = new URL(url);
  u.protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  const query = u.search;
  u.search = '';
  u.hash = '';
  u.pathname = u.pathname.replace(/\/ws\/?$/, '') + '/fallback';
  return { base: u.toString().replace(/\/$/, ''), query };
}

/**
 * The URL that asks the server why an upgrade to `url` was refused: the same address and query
 * (its join token) over HTTP (PROTOCOL.md 1).
 * @param {string} url e.g. `wss://play.example.com/ws?token=abc`
 * @returns {string} e.g. `https://play.example.com/ws?token=abc`
 */
export function upgradeProbeFor(url) {
  const u = new URL(url);
  u.protocol = u.protocol === 'wss:' ? 'https:' : u.protocol === 'ws:' ? 'http:' : u.protocol;
  u.hash = '';
  return u.toString();
}

/** How long the question why an upgrade was refused may take before the failure is told as
 * it stands (a server that does not answer is a server that is down). */
const PROBE_TIMEOUT_MS = 3000;
/** The header that marks a probe's 401 as the tickwire server's verdict on the join token
 * (`join-token`), not a proxy's (basic auth, a WAF): only such a 401 ends a join. */
const REFUSAL_HEADER = 'tickwire-refusal';

/**
 * @typedef {{ transport: { type: 'transport', transport: TransportName },
 *   state: Extract<SessionEvent, {type: 'state'}>, welcome: Extract<SessionEvent, {type: 'welcome'}>,
 *   snapshot: Extract<SessionEvent, {type: 'snapshot'}>, event: Extract<SessionEvent, {type: 'event'}>,
 *   feedback: Extract<SessionEvent, {type: 'feedback'}>, rtt: Extract<SessionEvent, {type: 'rtt'}>,
 *   error: Extract<SessionEvent, {type: 'error'}>, closed: Extract<SessionEvent, {type: 'closed'}> }} ClientEventMap
 */

/**
 * Closes a socket that never opened, deaf to whatever it still reports: undici's WebSocket
 * fires `error` from inside `close()` on a socket still connecting, which would otherwise
 * come back to the client as a second failure of an attempt it already ended.
 * @param {any} socket
 */
function abandon(socket) {
  socket.onclose = null;
  socket.onerror = null;
  try {
    socket.close();
  } catch {
    // still connecting: nothing to release
  }
}

/** Sockets in a row that open and carry no `Welcome` in time before the next attempt moves on
 * to the next transport, as for one that does not open. */
const SILENT_OPENS_TO_MOVE_ON = 2;
/** The same for a session with a seat to resume: two silent opens (twice `joinTimeoutMs`, 10 s
 * by default) would outlast the server's resume grace (10 s), and the seat would be lost to a
 * middlebox rather than to a slow server. */
const SILENT_OPENS_TO_MOVE_ON_RESUMING = 1;
/** How long connection attempts keep starting at a fallback transport that WebSocket failed
 * over to (or that `preferTransport` named) before a new round tries WebSocket first again, as
 * a reloaded page does past the game's `KEPT_TRANSPORT_MS`. Without it, one bad reconnect on
 * flaky Wi-Fi kept a session on the HTTP fallback (more latency, every input a POST) for the
 * rest of the evening; in a network that blocks WebSocket, the cost is one failed upgrade
 * every ten minutes, at a reconnect. */
export const RETRY_BEST_AFTER_MS = 10 * 60_000;

/**
 * A connected tickwire client: `connect()`, listen with `on()`, steer with `setInput()`,
 * `chat()`, and `leave()`. Reconnects and resumes by itself.
 */
export class TickwireClient {
  /** @param {ClientOptions & SessionOptions} options */
  constructor(options) {
    if (typeof options?.url !== 'function') {
      // Checked here, as `setUrl` does: a URL no WebSocket opens would otherwise fail every
      // attempt for seconds, and end as a server that cannot be reached.
      checkUrl(options?.url, 'url is not a ws://, wss://, http:// or https:// URL, nor a function that gives one');
    }
    /** A function that gives each attempt's URL (`options.url` as one), or null. @type {(() => string | Promise<string>) | null} */
    this.urlSource = typeof options.url === 'function' ? options.url : null;
    /** @type {string} the URL of the current (or last) attempt; '' until a function gave one */
    this.url = typeof options.url === 'function' ? '' : options.url;
    /** Connection attempts started: a URL a function gives late, for an attempt since given up, is not used. */
    this.attempts = 0;
    this.WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
    const wanted = options.transport ?? 'auto';
    if (wanted !== 'auto' && !TRANSPORTS.includes(wanted)) throw new TypeError(`unknown transport ${wanted}`);
    if (wanted === 'ws' && !this.WebSocketImpl) {
      throw new TypeError('no WebSocket implementation: pass one as options.WebSocket (e.g. the `ws` package on Node 20)');
    }
    /**
     * What `connect()` tries, in order. In `auto` without a WebSocket implementation (Node 20
     * run without `--experimental-websocket`, and no `WebSocket` option) `ws` is left out and
     * the client plays over the HTTP fallback alone: an application that expects WebSocket
     * checks `chain.includes('ws')` (the SDK logs nothing).
     * @type {readonly TransportName[]}
     */
    this.chain = wanted === 'auto' ? TRANSPORTS.filter((t) => t !== 'ws' || this.WebSocketImpl) : [wanted];
    const prefer = options.preferTransport;
    if (prefer !== undefined && !TRANSPORTS.includes(prefer)) throw new TypeError(`unknown preferTransport ${prefer}`);
    /** Where in `chain` a connection attempt starts: the transport that opened last. */
    this.preferred = prefer === undefined ? 0 : Math.max(0, this.chain.indexOf(prefer));
    /** Where the current attempt is in `chain`. */
    this.trying = 0;
    /** Whether the current socket carried a `Welcome` ({@link SILENT_OPENS_TO_MOVE_ON}). */
    this.welcomed = false;
    /** Sockets in a row that opened and carried no `Welcome` in time. */
    this.silentOpens = 0;
    /** @type {TransportName | null} the transport of the open connection (or the last one) */
    this.transport = null;
    /** `options.fallbackUrl`, which `setUrl` keeps. @type {string | undefined} */
    this.fallbackUrl = options.fallbackUrl;
    const fallback = this.url === '' ? { base: '', query: '' } : fallbackFor(this.url);
    this.fallbackBase = options.fallbackUrl ?? fallback.base;
    this.fallbackQuery = fallback.query;
    this.fetchImpl = options.fetch;
    const ms = { min: 0, above: true, max: MAX_TIMER_MS };
    this.upgradeTimeoutMs = numberOption('upgradeTimeoutMs', options.upgradeTimeoutMs, 5000, ms);
    this.streamTimeoutMs = numberOption('streamTimeoutMs', options.streamTimeoutMs, 3000, ms);
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.upgradeTimer = null;
    /** The question why an upgrade was refused, while it is asked (`askWhyRefused`).
     * @type {AbortController | null} */
    this.probe = null;
    /** @type {Map<TransportName, string>} why each transport last failed to open (cleared once one opens) */
    this.failures = new Map();
    /** @type {Map<TransportName, number>} the HTTP status each transport that failed to open was
     * last answered with, where it could see one (the fallback; cleared once one opens) */
    this.statuses = new Map();
    this.now = options.now ?? (() => performance.now());
    /** When `preferred` last changed ({@link RETRY_BEST_AFTER_MS}). */
    this.preferredAt = this.now();
    /** With the default clock, a message's own `timeStamp` (when it arrived, before it waited
     * for a busy main thread) is on the same clock and gives truer RTTs and arrival times. */
    this.useEventTime = options.now === undefined;
    this.session = new Session(options);
    /** @type {any} */
    this.socket = null;
    /** @type {ReturnType<typeof setTimeout> | null} */
    this.timer = null;
    /** @type {Map<string, Set<(event: any) => void>>} */
    this.listeners = new Map();
    /** Bytes received and sent on all connections (protocol messages, without framing). */
    this.bytesIn = 0;
    this.bytesOut = 0;
    /** Resolvers of `leave()`. @type {((e: ClientEventMap['closed']) => void)[]} */
    this.leaving = [];
    /** How the session's leave ended (its `closed` event), once it did. @type {ClientEventMap['closed'] | null} */
    this.left = null;
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
    this.reportError = (error) => { setTimeout(() => { throw error; }); };
  }

  /**
   * Listens to one kind of session event; returns a function that stops listening.
   * @template {keyof ClientEventMap} K
   * @param {K} type
   * @param {(event: ClientEventMap[K]) => void} listener
   */
  on(type, listener) {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Opens the connection (and keeps it open until `leave()` or a fatal error). */
  connect() {
    this.session.connect(this.now());
    this.drive();
  }

  /**
   * The controls held from now on (`Session.setInput`): a field left out keeps its held value.
   * @param {Partial<InputState>} input
   */
  setInput(input) {
    this.session.setInput(input);
  }

  /**
   * Sends a chat line now, or once the server's chat limit allows (the session paces lines:
   * `chatRate`, `chatQueue`).
   * Taken is not delivered: a line still waiting when the connection drops (for the pace, or,
   * on the HTTP fallback, for a POST in flight) is dropped with it and not sent again after the
   * reconnect, as a line a WebSocket was carrying would be lost with the socket.
   * @param {string} text @returns {boolean} whether it was taken (false: not joined, empty,
   *   or the queue is full)
   */
  chat(text) {
    const sent = this.session.chat(text, this.now());
    this.drive();
    return sent;
  }

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
  setUrl(url) {
    // An attempt waiting for the function this replaces goes ahead with the new URL (or asks
    // the new function) now, rather than at its connect timeout.
    const waiting = this.urlSource !== null && this.socket === null && this.session.state === 'connecting';
    // The question asked with the old URL's token is moot: a new one may well be taken, by
    // this attempt from its first transport again.
    const asking = this.stopAsking();
    if (asking) this.trying = this.preferred;
    if (typeof url === 'function') {
      this.urlSource = url;
      if (waiting) this.openAtUrlFrom(url, this.attempts);
    } else {
      this.useUrl(url); // throws on a URL that is not one, changing nothing
      this.urlSource = null;
      if (waiting || asking) this.open();
    }
    if (waiting || asking) this.drive();
  }

  /** Points the transports at `url`; throws a TypeError, changing nothing, if it is not a URL
   * a WebSocket opens (`ws:`, `wss:`, or `http:` and `https:`, which it reads as those).
   * @param {unknown} url */
  useUrl(url) {
    checkUrl(url, 'not a ws://, wss://, http:// or https:// URL');
    const fallback = fallbackFor(url);
    this.url = url;
    this.fallbackBase = this.fallbackUrl ?? fallback.base;
    this.fallbackQuery = fallback.query;
  }

  /**
   * Leaves properly (close 1000) and resolves once the server answered the close, or the
   * connection ended otherwise (`answered` says which). Called again, during the first leave or
   * after it, it resolves with the same event.
   * @returns {Promise<ClientEventMap['closed']>}
   */
  leave() {
    // A leave that ended the session already (at once, on a socket that had not opened) is
    // what a second leave resolves with too, whether it comes during the first or after.
    if (this.left !== null) return Promise.resolve(this.left);
    if (this.session.isEnded()) {
      // Nothing to close: it resolves at once rather than waiting for a close that never comes.
      const code = /** @type {{ code?: number }} */ (this.session.error ?? {}).code ?? CloseCode.NORMAL;
      /** @type {ClientEventMap['closed']} */
      const closed = { type: 'closed', code, reason: 'the session had already ended', answered: false };
      return Promise.resolve(closed);
    }
    const done = new Promise((resolve) => this.leaving.push(resolve));
    this.session.leave(this.now());
    this.drive();
    return done;
  }

  /**
   * Tries to reconnect now, skipping what is left of the backoff wait, if the session is
   * `reconnecting` (see `Session.retryNow`). A page calls it when it is shown again
   * (`visibilitychange`) and on the window's `online` event: the network is likely back, and
   * the player should not wait seconds more for it.
   * @returns {boolean} whether an attempt started
   */
  retryNow() {
    const started = this.session.retryNow(this.now());
    if (started) this.drive();
    return started;
  }

  /**
   * Checks at once that the connection still answers (see `Session.checkLink`): a page calls it
   * when it is shown again after a while in the background, where its scripts were frozen and
   * the network may have changed. Without an answer within `timeoutMs` the connection is taken
   * for lost and resumed on a new one, rather than after the silence timeout, which the
   * messages that waited for the page to come back start over.
   * @param {number} [timeoutMs] default 2000
   * @returns {boolean} whether a check started (only while joined)
   */
  checkLink(timeoutMs = 2000) {
    const started = this.session.checkLink(this.now(), timeoutMs);
    if (started) this.drive();
    return started;
  }

  /** The session's state. */
  get state() {
    return this.session.state;
  }

  /** Sets where the next connection attempt starts in `chain`, noting when that changed.
   * @param {number} index */
  prefer(index) {
    if (index === this.preferred) return;
    this.preferred = index;
    this.preferredAt = this.now();
  }

  /** Runs the session until it has nothing more to do right now. */
  drive() {
    const s = this.session;
    for (let action = s.pollAction(); action; action = s.pollAction()) {
      if (action.type === 'open') {
        if (this.preferred !== 0 && this.now() - this.preferredAt >= RETRY_BEST_AFTER_MS) this.prefer(0);
        this.trying = this.preferred;
        this.attempts += 1;
        if (this.urlSource) this.openAtUrlFrom(this.urlSource, this.attempts);
        else this.open();
      }
      else if (!this.socket) {
        // No socket to close: an attempt still waiting for its URL function, or for the
        // answer why its upgrade was refused. A close the
        // session asked for (a `leave()`) ends there at once, rather than after its timeout
        // waiting for a close event no socket will send; one it gave up on has moved on.
        this.stopAsking();
        if (!action.abandon) s.handleClose(action.code, action.reason, false, this.now());
      }
      else {
        const socket = this.socket;
        // Whatever the close is for, this socket's attempt is over: a fallback transport opened
        // now would serve a session that no longer waits for it.
        this.clearUpgradeTimer();
        if (action.abandon) {
          // The session gave up on this connection and moved on; on a dead link its close
          // event may come minutes later, or never, and must not reach the session then: no
          // longer `this.socket`, nothing it reports is heard (see `open`).
          this.socket = null;
          // Opened and then never carried a `Welcome`: a middlebox that takes the upgrade and
          // passes nothing on, or a server too slow to seat the client in time. Twice in a row
          // it is the first: a server merely slow once must not send a client to the fallback
          // (which it keeps to) for its whole session. With a seat to resume, once: waiting out
          // a second would cost the seat.
          const silent = socket.readyState !== 0 && !this.welcomed;
          if (silent) this.silentOpens += 1;
          const enough = s.resumeToken !== null ? SILENT_OPENS_TO_MOVE_ON_RESUMING : SILENT_OPENS_TO_MOVE_ON;
          if (socket.readyState === 0 || (silent && this.silentOpens >= enough)) {
            // Never opened in time (a proxy holding the upgrade, or buffering the stream, past
            // the connect timeout), or silent twice: the next attempt starts at the next
            // transport, as the upgrade timer would have moved on, or from the best again
            // after the last.
            this.silentOpens = 0;
            this.failures.set(this.chain[this.trying], action.reason);
            this.prefer(this.trying + 1 < this.chain.length ? this.trying + 1 : 0);
          }
        }
        try {
          socket.close(action.code, action.reason);
        } catch {
          // The WebSocket API lets a page close only with 1000 or 3000-4999 (it throws on the
          // 1002 of an undecodable message): 4002 says the same and keeps the seat for the
          // resume that follows, where a close without a code would give it up. Were the
          // socket left open, the session would wait on it for good.
          try {
            socket.close(CloseCode.BROWSER_PROTOCOL_ERROR, action.reason);
          } catch {
            socket.close();
          }
        }
      }
    }
    for (let bytes = s.pollTransmit(); bytes; bytes = s.pollTransmit()) {
      if (this.socket && this.socket.readyState === 1) {
        this.socket.send(bytes);
        this.bytesOut += bytes.length;
      }
    }
    for (let event = s.pollEvent(); event; event = s.pollEvent()) {
      if (event.type === 'closed') {
        this.left = event;
        for (const resolve of this.leaving.splice(0)) resolve(event);
      }
      this.emit(event);
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const due = s.pollTimeout();
    if (due !== null) {
      // At most a timer's longest delay: a longer one fires at once (a backoff with jitter may
      // reach past it), and the driver would wake in a loop; waking early asks again.
      this.timer = setTimeout(() => {
        this.timer = null;
        s.handleTimeout(this.now());
        this.drive();
      }, Math.min(MAX_TIMER_MS, Math.max(0, due - this.now())));
    }
  }

  /**
   * Hands `event` to its listeners; what one throws goes to `reportError`.
   * @param {{ type: string, [field: string]: unknown }} event
   */
  emit(event) {
    for (const listener of this.listeners.get(event.type) ?? []) {
      try {
        listener(event);
      } catch (e) {
        this.reportError(e);
      }
    }
  }

  /**
   * Opens attempt `attempt` once `source` gave its URL: at once if it returns one, when its
   * promise resolves otherwise (unless the session gave the attempt up meanwhile: its connect
   * timeout, a `leave()`). A source that fails fails the attempt, as a socket that could not
   * open would.
   * @param {() => string | Promise<string>} source @param {number} attempt
   */
  openAtUrlFrom(source, attempt) {
    // Asked when a promise settles: the session may have given the attempt up meanwhile.
    // And `setUrl` may have replaced the function meanwhile: its URL wins, not this one's.
    const stillWanted = () => attempt === this.attempts && this.socket === null
      && this.session.state === 'connecting' && this.urlSource === source;
    const use = (/** @type {unknown} */ url) => {
      try {
        this.useUrl(url);
      } catch (error) {
        failed(error);
        return;
      }
      this.open();
    };
    const failed = (/** @type {unknown} */ error) => {
      const why = `url: ${error instanceof Error ? error.message : String(error)}`;
      this.failures.set(this.chain[this.trying], why);
      this.session.handleClose(CloseCode.ABNORMAL, this.failureReason({ reason: why }), false, this.now());
    };
    let given;
    try {
      given = source();
    } catch (error) {
      failed(error);
      return;
    }
    if (typeof given === 'string') {
      use(given);
      return;
    }
    Promise.resolve(given).then(
      (url) => {
        if (!stillWanted()) return;
        use(url);
        this.drive();
      },
      (error) => {
        if (!stillWanted()) return;
        failed(error);
        this.drive();
      },
    );
  }

  /** Opens the transport the current attempt is at. */
  open() {
    this.stopAsking();
    const kind = this.chain[this.trying];
    let socket;
    if (kind === 'ws') {
      try {
        socket = new this.WebSocketImpl(this.url, SUBPROTOCOL);
      } catch (error) {
        // A WebSocket constructor throws where a connection would fail: a `ws:` URL on an
        // https page, a Content-Security-Policy whose 'self' an older Safari does not read as
        // covering ws:. Taken as a socket that closed unopened: the next transport, or a failed
        // attempt, rather than an exception out of connect() that stops the session for good.
        socket = new UnopenedSocket(error instanceof Error ? error.message : String(error));
      }
    } else {
      socket = new HttpSocket(this.fallbackBase, kind, this.fallbackQuery, {
        fetch: this.fetchImpl,
        openTimeoutMs: this.streamTimeoutMs,
        chatRate: this.session.chatBudget.pace.rate,
        chatBurst: this.session.chatBudget.pace.burst,
        // The session stops waiting then too; past it the socket aborts its requests.
        closeTimeoutMs: this.session.closeTimeoutMs,
        now: this.now,
      });
    }
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    this.welcomed = false;
    let opened = false;
    const mine = (/** @type {() => void} */ fn) => () => {
      if (this.socket === socket) fn();
    };
    if (kind === 'ws' && this.trying + 1 < this.chain.length) {
      // A proxy may hold a blocked upgrade rather than refuse it: give up on it in time.
      this.upgradeTimer = setTimeout(mine(() => {
        // Only for a session still waiting to connect (as in `onclose`): one that is leaving
        // waits for this socket's close, which `next` would silence.
        if (!opened && this.session.state === 'connecting') {
          this.failures.set(kind, `no upgrade within ${this.upgradeTimeoutMs} ms`);
          this.next(socket);
        }
      }), this.upgradeTimeoutMs);
    }
    socket.onopen = mine(() => {
      opened = true;
      this.failures.clear();
      this.statuses.clear();
      this.clearUpgradeTimer();
      this.prefer(this.trying);
      this.transport = kind;
      this.emit({ type: 'transport', transport: kind });
      this.session.handleOpen(this.now(), kind);
      this.drive();
    });
    socket.onmessage = (/** @type {{ data: any, timeStamp?: number }} */ event) => {
      if (this.socket !== socket) return;
      if (typeof event.data === 'string') return; // the protocol is binary only
      const size = event.data.byteLength ?? event.data.length ?? 0;
      this.bytesIn += size;
      const at = this.useEventTime && typeof event.timeStamp === 'number' && event.timeStamp > 0
        ? Math.min(event.timeStamp, this.now())
        : this.now();
      this.session.handleMessage(event.data, at);
      if (this.session.state === 'joined') {
        this.welcomed = true;
        this.silentOpens = 0;
      }
      this.drive();
    };
    /** Whether this socket's end was handled: an `error` taken as its close (below) is not
     * followed by a second one when the real close event comes after all. */
    let ended = false;
    /** The text of this socket's last `error` event: the `ws` package fires `error` ("Unexpected
     * server response: 403") and then at once a `close` 1006 without a reason, before the
     * microtask below runs, and the close would otherwise drop the only cause there is. */
    let errorText = '';
    const closed = (/** @type {{ code: number, reason: string, wasClean: boolean, status?: number }} */ given) => {
      if (this.socket !== socket || ended) return;
      ended = true;
      // Copied field by field, never spread: the `ws` package's CloseEvent keeps `code`,
      // `reason` and `wasClean` as getters on its prototype, which a spread drops (a close
      // 1006 came out with no code, and a leave's `answered` as undefined). A socket that
      // gives no code ended without a closing handshake, as 1006 says.
      const event = {
        code: typeof given.code === 'number' ? given.code : CloseCode.ABNORMAL,
        reason: given.reason || errorText,
        wasClean: given.wasClean === true,
        status: given.status,
      };
      this.clearUpgradeTimer();
      if (!opened) {
        // Remembered per transport, so that a session that gives up names why each failed
        // (the last one's close alone would hide that WebSocket was refused too).
        this.failures.set(kind, event.reason || `closed with ${event.code}`);
        if (event.status === undefined) this.statuses.delete(kind);
        else this.statuses.set(kind, event.status);
        // A refusal that says this client is turned away (a join token, an Origin, a path:
        // HTTP 4xx other than 408 and 429) meets every retry alike: the join ends now rather
        // than after its attempts. Only the HTTP fallback sees the status (a browser hides the
        // upgrade's). In `auto`, a 404 or 405 from the fallback says only that this address
        // serves no fallback (a proxy that routes `/ws` alone), not that the game is not here.
        const refused = event.status !== undefined && isFinalRefusal(event.status)
          && !(this.chain.length > 1 && (event.status === 404 || event.status === 405));
        if (refused) {
          this.socket = null;
          this.prefer(0);
          // The refusal's own words ("HTTP 401: the join token has expired"), not the other
          // transports' failures: this one is why the join ends.
          this.session.handleClose(event.code, event.reason, false, this.now(), event.status);
          this.drive();
          return;
        }
      }
      // In `auto`, a transport that could not even open is not the end: try the next one at
      // once (a blocked upgrade, a proxy buffering the stream), and tell the session only
      // when none opened.
      if (!opened && this.trying + 1 < this.chain.length && this.session.state === 'connecting') {
        this.next(socket);
        return;
      }
      this.socket = null;
      if (!opened) this.prefer(0); // none opened: next time, start from the best again
      if (opened) {
        this.session.handleClose(event.code, event.reason, event.wasClean, this.now());
      } else if (this.mayAskWhy()) {
        this.askWhyRefused(event);
        return;
      } else {
        this.tellUnopened(event);
      }
      this.drive();
    };
    socket.onclose = closed;
    socket.onerror = (/** @type {{ message?: string, error?: unknown }} */ event) => {
      // Once open, a close event follows an error with the details. Before that, Node's own
      // WebSocket (Node 20, undici) reports a failed handshake (refused, 401, 503) with an
      // `error` and no `close` at all, its readyState stuck at 0: waited for, the close never
      // comes, and each attempt would run into the connect timeout. Taken as the close a
      // browser reports then (1006), with the error's text, the only cause there is.
      const cause = event?.message || (event?.error instanceof Error ? event.error.message : '');
      if (!ended && cause) errorText = cause;
      if (opened || ended || this.socket !== socket) return;
      // Not handled in place: undici also fires `error` from inside `close()` on a socket
      // still connecting, so this may run in the middle of the client's own close of it (a
      // leave, an abandoned attempt); a microtask lets that close finish first, and the
      // checks above then find the socket given up, if it was.
      queueMicrotask(() => {
        if (ended || this.socket !== socket) return;
        closed({ code: CloseCode.ABNORMAL, reason: cause, wasClean: false });
        if (socket.readyState === 0) abandon(socket);
      });
    };
  }

  /**
   * Tells the session that no transport of this attempt opened.
   * @param {{ code: number, reason: string, wasClean: boolean }} event the last one's close
   */
  tellUnopened(event) {
    // A status that retrying may fix (503 at a connection limit, 429): not final, but the
    // game can say "the server is full" rather than "cannot reach it" when it gives up.
    const answered = this.chain.map((t) => this.statuses.get(t)).find((s) => s !== undefined);
    this.session.handleClose(event.code, this.failureReason(event), event.wasClean, this.now(), undefined, answered);
  }

  /**
   * Whether to ask the server why the WebSocket did not open before telling the session (one
   * still connecting): it failed with no status (a browser hides an upgrade's), and no
   * fallback transport got an answer that says more (it was not tried, or its address serves
   * no fallback: 404, 405).
   */
  mayAskWhy() {
    // A session leaving hears the close at once: nothing to ask. In a restart window the
    // server is going away or down: its join token is not the question.
    if (this.session.state !== 'connecting' || this.session.restartUntil !== null) return false;
    if (!this.failures.has('ws') || this.statuses.has('ws') || this.url === '') return false;
    const fallbackAnswered = this.chain.some((t) => {
      const status = this.statuses.get(t);
      return t !== 'ws' && status !== undefined && status !== 404 && status !== 405;
    });
    return !fallbackAnswered && (this.fetchImpl ?? globalThis.fetch) !== undefined;
  }

  /**
   * Asks the server with a plain GET of the WebSocket's URL (its join token included) why the
   * upgrade was refused (PROTOCOL.md 1), then tells the session: the server's own 401 for the
   * join token (marked `Tickwire-Refusal: join-token`) as that refusal, which ends the join at
   * once with the server's words; anything else, or no answer in time, as the failure it was.
   * @param {{ code: number, reason: string, wasClean: boolean }} event the last socket's close
   */
  askWhyRefused(event) {
    const attempt = this.attempts;
    const f = this.fetchImpl ?? globalThis.fetch;
    const abort = new AbortController();
    this.probe = abort;
    let late = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    let timer;
    /** @type {Promise<null>} */
    const timeout = new Promise((resolve) => {
      timer = setTimeout(() => {
        late = true;
        abort.abort();
        resolve(null);
      }, PROBE_TIMEOUT_MS);
    });
    /** @type {Promise<{ status: number, text: string, verdict: string | null } | null>} */
    const asked = Promise.resolve()
      .then(() => f(upgradeProbeFor(this.url), { cache: 'no-store', signal: abort.signal }))
      .then(async (response) => ({
        status: response.status,
        text: (await response.text().catch(() => '')).trim(),
        verdict: response.headers.get(REFUSAL_HEADER),
      }))
      .catch(() => null);
    Promise.race([asked, timeout]).then((answer) => {
      clearTimeout(timer);
      if (this.probe === abort) this.probe = null;
      // Stopped: a new attempt (a new URL, a retry) or a leave took the session over.
      if (abort.signal.aborted && !late) return;
      // The session may have moved on meanwhile (its connect timeout, a leave).
      if (attempt !== this.attempts || this.socket !== null || this.session.state !== 'connecting') return;
      if (answer?.status === 401 && answer.verdict === 'join-token') {
        const reason = `HTTP 401${answer.text ? `: ${answer.text.slice(0, 200)}` : ''}`;
        this.failures.set('ws', reason);
        this.statuses.set('ws', 401);
        this.session.handleClose(event.code, reason, false, this.now(), 401);
      } else {
        // Any answer is kept as the status the attempt was answered with, as a fallback's
        // would be: busy or shutting down (429, 503) says the server was reached; its 426
        // (it would have taken the upgrade) or a proxy's 403 says the upgrade itself is what
        // this network stops, which a game tells apart from a server that is down.
        if (answer) this.statuses.set('ws', answer.status);
        this.tellUnopened(event);
      }
      this.drive();
    });
  }

  /** Stops asking why an upgrade was refused, if asking; returns whether it was. */
  stopAsking() {
    const probe = this.probe;
    this.probe = null;
    probe?.abort();
    return probe !== null;
  }

  /** Abandons `socket`, which did not open (in time), for the next transport. @param {any} socket */
  next(socket) {
    this.socket = null;
    abandon(socket);
    this.trying += 1;
    this.session.handleOpening(this.now());
    this.open();
  }

  /**
   * Why the transports tried failed to open, each by its last failure (`ws: ...; stream: ...`),
   * or, with one transport, the reason of its close `event` alone.
   * @param {{ reason: string }} event
   */
  failureReason(event) {
    if (this.chain.length === 1) return event.reason;
    return this.chain.filter((t) => this.failures.has(t)).map((t) => `${t}: ${this.failures.get(t)}`).join('; ');
  }

  clearUpgradeTimer() {
    if (this.upgradeTimer !== null) clearTimeout(this.upgradeTimer);
    this.upgradeTimer = null;
  }
}

/**
 * Stands in for a transport whose constructor threw: it never opens, and reports a close
 * without a handshake (1006) on the next turn of the event loop, as a browser reports a
 * connection refused.
 */
class UnopenedSocket {
  /** @param {string} reason */
  constructor(reason) {
    this.readyState = 0;
    this.binaryType = 'arraybuffer';
    /** @type {any} */ this.onopen = null;
    /** @type {any} */ this.onmessage = null;
    /** @type {any} */ this.onclose = null;
    /** @type {any} */ this.onerror = null;
    setTimeout(() => {
      this.readyState = 3;
      this.onclose?.({ code: CloseCode.ABNORMAL, reason, wasClean: false });
    });
  }

  send() {}

  /** Its close event comes anyway. */
  close() {}
}
