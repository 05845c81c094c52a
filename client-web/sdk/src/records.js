// The records of the HTTP fallback (PROTOCOL.md 1.1): RFC 6455's base framing without mask or
// fragmentation. Downstream they are exactly the frames a WebSocket would carry; upstream a
// POST body is one or more of them. Sans-IO: bytes in, records out.

import { MAX_CLIENT_MESSAGE_SIZE, MAX_SERVER_MESSAGE_SIZE } from './constants.js';
import { DecodeError } from './errors.js';
import { utf8Decoder } from './wire.js';

/** Record types: the first byte of a record (FIN bit and WebSocket opcode). */
export const Record = Object.freeze({
  /** One protocol message. */
  MESSAGE: 0x82,
  /** A close: code (u16 big endian) and UTF-8 reason; the last record of a session. */
  CLOSE: 0x88,
  /** A heartbeat: no payload, only proof that the stream flows. */
  HEARTBEAT: 0x89,
});

/**
 * One record's bytes.
 * @param {number} type a {@link Record} value
 * @param {Uint8Array} payload
 * @returns {Uint8Array}
 */
export function encodeRecord(type, payload) {
  const long = payload.length > 125;
  if (payload.length > 0xffff) throw new RangeError('a client record carries at most 65535 bytes');
  const out = new Uint8Array((long ? 4 : 2) + payload.length);
  out[0] = type;
  if (long) {
    out[1] = 126;
    out[2] = payload.length >> 8;
    out[3] = payload.length & 0xff;
  } else {
    out[1] = payload.length;
  }
  out.set(payload, long ? 4 : 2);
  return out;
}

/**
 * A close record's bytes.
 * @param {number} code
 * @param {string} reason at most 123 UTF-8 bytes (cut on a character boundary beyond)
 */
export function encodeClose(code, reason) {
  let text = new TextEncoder().encode(reason);
  while (text.length > 123) {
    reason = reason.slice(0, -1);
    text = new TextEncoder().encode(reason);
  }
  const payload = new Uint8Array(2 + text.length);
  payload[0] = code >> 8;
  payload[1] = code & 0xff;
  payload.set(text, 2);
  return encodeRecord(Record.CLOSE, payload);
}

/**
 * A close record's code and reason (1005, '' for an empty one).
 * @param {Uint8Array} payload
 * @returns {{ code: number, reason: string }}
 */
export function decodeClose(payload) {
  if (payload.length === 0) return { code: 1005, reason: '' };
  if (payload.length === 1) throw new DecodeError('InvalidRecord', 'a close record of one byte');
  const code = (payload[0] << 8) | payload[1];
  let reason;
  try {
    reason = utf8Decoder.decode(payload.subarray(2));
  } catch {
    throw new DecodeError('InvalidRecord', 'the close reason is not UTF-8');
  }
  return { code, reason };
}

/** @typedef {{ type: number, payload: Uint8Array }} ParsedRecord */

/**
 * Reads records from a byte stream that arrives in pieces of any size (HTTP chunks, poll
 * bodies): `push()` what came, then `next()` until it returns null.
 *
 * The pieces are kept as they came, not joined on every push (a record sent a byte per chunk
 * copied all it held so far each time: a 64 KiB one, 2 GiB). A record's payload is a view of
 * its piece when it lies in one, else copied out once; either way, nothing the reader does
 * later writes to it.
 */
export class RecordReader {
  /** @type {Uint8Array[]} the pieces held, oldest first: `#pieces[#first]` from `#offset` is the first unread byte */
  #pieces = [];
  #first = 0;
  #offset = 0;
  /** Bytes held, in all the pieces. */
  #held = 0;

  /** @param {{ maxPayload?: number }} [options] largest message accepted (default 64 KiB, the server's limit) */
  constructor(options = {}) {
    this.maxPayload = options.maxPayload ?? MAX_SERVER_MESSAGE_SIZE;
  }

  /**
   * The bytes not yet read, as one array (joined here when they are in several pieces).
   * @type {Uint8Array}
   */
  get buffered() {
    if (this.#held === 0) return new Uint8Array(0);
    if (this.#pieces.length - this.#first > 1) {
      const joined = new Uint8Array(this.#held);
      let at = 0;
      for (let i = this.#first; i < this.#pieces.length; i++) {
        const piece = i === this.#first ? this.#pieces[i].subarray(this.#offset) : this.#pieces[i];
        joined.set(piece, at);
        at += piece.length;
      }
      this.#pieces = [joined];
      this.#first = 0;
      this.#offset = 0;
    }
    return this.#pieces[this.#first].subarray(this.#offset);
  }

  set buffered(bytes) {
    this.#pieces = bytes.length === 0 ? [] : [bytes];
    this.#first = 0;
    this.#offset = 0;
    this.#held = bytes.length;
  }

  /** @param {Uint8Array} chunk */
  push(chunk) {
    if (chunk.length === 0) return;
    this.#pieces.push(chunk);
    this.#held += chunk.length;
  }

  /** Bytes held that do not make a whole record yet. */
  get pending() {
    return this.#held;
  }

  /**
   * The byte `at` places past the first unread one (`at` < the bytes held).
   * @param {number} at
   */
  #byte(at) {
    let i = this.#first;
    at += this.#offset;
    while (at >= this.#pieces[i].length) {
      at -= this.#pieces[i].length;
      i += 1;
    }
    return this.#pieces[i][at];
  }

  /**
   * Takes the next `length` bytes out: a view of the first piece when they lie in it, else a
   * copy.
   * @param {number} length
   * @returns {Uint8Array}
   */
  #take(length) {
    this.#held -= length;
    const piece = this.#pieces[this.#first];
    if (piece && this.#offset + length <= piece.length) {
      const out = piece.subarray(this.#offset, this.#offset + length);
      this.#offset += length;
      if (this.#offset === piece.length) this.#drop();
      return out;
    }
    const out = new Uint8Array(length);
    for (let at = 0; at < length;) {
      const from = this.#pieces[this.#first];
      const part = from.subarray(this.#offset, this.#offset + length - at);
      out.set(part, at);
      at += part.length;
      this.#offset += part.length;
      if (this.#offset === from.length) this.#drop();
    }
    return out;
  }

  /** Forgets the first piece, read to its end. */
  #drop() {
    this.#first += 1;
    this.#offset = 0;
    if (this.#first === this.#pieces.length) {
      this.#pieces = [];
      this.#first = 0;
    } else if (this.#first >= 1024 && this.#first * 2 >= this.#pieces.length) {
      // Read pieces go in bulk, so that a stream of tiny chunks costs no more per byte.
      this.#pieces = this.#pieces.slice(this.#first);
      this.#first = 0;
    }
  }

  /**
   * The next whole record, or null until more bytes arrive.
   * @returns {ParsedRecord | null}
   * @throws {DecodeError} on a record no server sends (masked, fragmented, unknown, too big)
   */
  next() {
    const held = this.#held;
    if (held < 2) return null;
    const type = this.#byte(0);
    if (type !== Record.MESSAGE && type !== Record.CLOSE && type !== Record.HEARTBEAT) {
      throw new DecodeError('InvalidRecord', `unknown record type 0x${type.toString(16)}`);
    }
    const second = this.#byte(1);
    if (second & 0x80) throw new DecodeError('InvalidRecord', 'a masked record');
    let length = second & 0x7f;
    let start = 2;
    if (length === 126) {
      if (held < 4) return null;
      length = (this.#byte(2) << 8) | this.#byte(3);
      start = 4;
    } else if (length === 127) {
      if (held < 10) return null;
      const b = (/** @type {number} */ i) => this.#byte(i);
      const high = (b(2) << 24 | b(3) << 16 | b(4) << 8 | b(5)) >>> 0;
      const low = (b(6) << 24 | b(7) << 16 | b(8) << 8 | b(9)) >>> 0;
      length = high * 2 ** 32 + low;
      start = 10;
    }
    if (length > this.maxPayload) throw new DecodeError('InvalidRecord', `a record of ${length} bytes`);
    if (held < start + length) return null;
    this.#take(start);
    const payload = this.#take(length);
    return { type, payload };
  }
}

/** The largest record a client sends: a message of the protocol's largest size. */
export const MAX_CLIENT_RECORD = 4 + MAX_CLIENT_MESSAGE_SIZE;
