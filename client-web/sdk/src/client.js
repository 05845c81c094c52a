// The IO driver: a WebSocket and timers around the sans-IO Session, with events for the
// application. Works with the browser's WebSocket and any WHATWG-compatible one (Node 22+'s
// global, Node 20 with --experimental-websocket, or the `ws` package passed as `WebSocket`).

import { SUBPROTOCOL } from './constants.js';
import { Session } from './session.js';

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
  constructor(options) {
    this.url = options.url;
    this.WebSocketImpl = options.WebSocket ?? globalThis.WebSocket;
    if (!this.WebSocketImpl) {
      throw new TypeError('no WebSocket implementation: pass one as options.WebSocket (e.g. the `ws` package on Node 20)');
    }
    this.now = options.now ?? (() => performance.now());
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
    /** Bytes received and sent on all connections (WebSocket payloads). */
    this.bytesIn = 0;
    this.bytesOut = 0;
    /** Resolvers of `leave()`. @type {((e: ClientEventMap['closed']) => void)[]} */
    this.leaving = [];
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

  /** @param {Partial<InputState>} input */
  setInput(input) {
    this.session.setInput(input);
  }

  /** @param {string} text @returns {boolean} whether it was sent */
  chat(text) {
    const sent = this.session.chat(text);
    this.drive();
    return sent;
  }

  /**
   * Leaves properly (close 1000) and resolves once the server answered the close, or the
   * connection ended otherwise (`answered` says which).
   * @returns {Promise<ClientEventMap['closed']>}
   */
  leave() {
    const done = new Promise((resolve) => this.leaving.push(resolve));
    this.session.leave(this.now());
    this.drive();
    return done;
  }

  /** The session's state. */
  get state() {
    return this.session.state;
  }

  /** Runs the session until it has nothing more to do right now. */
  drive() {
    const s = this.session;
    for (let action = s.pollAction(); action; action = s.pollAction()) {
      if (action.type === 'open') this.open();
      else if (this.socket) {
        try {
          this.socket.close(action.code, action.reason);
        } catch {
          // already closing
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
      if (event.type === 'closed') for (const resolve of this.leaving.splice(0)) resolve(event);
      for (const listener of this.listeners.get(event.type) ?? []) {
        try {
          listener(event);
        } catch (e) {
          // One broken listener must not stop the session.
          setTimeout(() => { throw e; });
        }
      }
    }
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const due = s.pollTimeout();
    if (due !== null) {
      this.timer = setTimeout(() => {
        this.timer = null;
        s.handleTimeout(this.now());
        this.drive();
      }, Math.max(0, due - this.now()));
    }
  }

  open() {
    const socket = new this.WebSocketImpl(this.url, SUBPROTOCOL);
    socket.binaryType = 'arraybuffer';
    this.socket = socket;
    const mine = (/** @type {() => void} */ fn) => () => {
      if (this.socket === socket) fn();
    };
    socket.onopen = mine(() => {
      this.session.handleOpen(this.now());
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
      this.drive();
    };
    socket.onclose = (/** @type {{ code: number, reason: string, wasClean: boolean }} */ event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.session.handleClose(event.code, event.reason, event.wasClean, this.now());
      this.drive();
    };
    socket.onerror = () => {}; // a close event follows with the details
  }
}
