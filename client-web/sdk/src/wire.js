// bincode 2 `standard()` primitives (PROTOCOL.md 2.1-2.4): a growable writer and a strict
// reader. Every length is checked against its bound before anything is read or allocated.

import { DecodeError, EncodeError } from './errors.js';

const utf8Encoder = new TextEncoder();
// `ignoreBOM` keeps a leading U+FEFF, as the Rust codec does: by default a TextDecoder strips
// it, so a name or chat line starting with one would change on its way through the SDK.
export const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Unsigned varint markers (2.2). */
const U16_MARKER = 251;
const U32_MARKER = 252;
const U64_MARKER = 253;

/** Builds one message. */
export class Writer {
  constructor(capacity = 64) {
    /** @type {Uint8Array} */
    this.buf = new Uint8Array(capacity);
    this.len = 0;
  }

  /** @param {number} extra */
  reserve(extra) {
    if (this.len + extra <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + extra));
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
  }

  /** @param {number} v */
  u8(v) {
    if (!Number.isInteger(v) || v < 0 || v > 255) throw new EncodeError(`u8 out of range: ${v}`);
    this.reserve(1);
    this.buf[this.len++] = v;
  }

  /** @param {number} v */
  i8(v) {
    if (!Number.isInteger(v) || v < -128 || v > 127) throw new EncodeError(`i8 out of range: ${v}`);
    this.u8(v & 0xff);
  }

  /** @param {number} v */
  i16(v) {
    if (!Number.isInteger(v) || v < -32768 || v > 32767) throw new EncodeError(`i16 out of range: ${v}`);
    this.reserve(2);
    this.buf[this.len++] = v & 0xff;
    this.buf[this.len++] = (v >> 8) & 0xff;
  }

  /** @param {boolean} v */
  bool(v) {
    this.u8(v ? 1 : 0);
  }

  /**
   * An unsigned varint no larger than `max` (the field's width), in its shortest form.
   * @param {number} v
   * @param {number} [max]
   */
  varint(v, max = 0xffffffff) {
    if (!Number.isSafeInteger(v) || v < 0 || v > max) throw new EncodeError(`integer out of range: ${v}`);
    if (v < U16_MARKER) {
      this.u8(v);
    } else if (v <= 0xffff) {
      this.reserve(3);
      this.buf[this.len++] = U16_MARKER;
      this.buf[this.len++] = v & 0xff;
      this.buf[this.len++] = v >>> 8;
    } else if (v <= 0xffffffff) {
      this.reserve(5);
      this.buf[this.len++] = U32_MARKER;
      for (let i = 0; i < 4; i++) this.buf[this.len++] = (v >>> (8 * i)) & 0xff;
    } else {
      this.reserve(9);
      this.buf[this.len++] = U64_MARKER;
      let rest = v;
      for (let i = 0; i < 8; i++) {
        this.buf[this.len++] = rest % 256;
        rest = Math.floor(rest / 256);
      }
    }
  }

  /**
   * A u32 as LEB128 (PROTOCOL.md 2.2): seven bits a byte, lowest first, the top bit set on all
   * but the last. Only the snapshot header's tick and last input use it.
   * @param {number} v
   */
  leb128(v) {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new EncodeError(`integer out of range: ${v}`);
    this.reserve(5);
    let rest = v;
    while (rest >= 0x80) {
      this.buf[this.len++] = (rest % 0x80) | 0x80;
      rest = Math.floor(rest / 0x80);
    }
    this.buf[this.len++] = rest;
  }

  /** @param {number} v */
  u16(v) {
    this.varint(v, 0xffff);
  }

  /** @param {number} v */
  u32(v) {
    this.varint(v, 0xffffffff);
  }

  /**
   * A string of at most `bound` UTF-8 bytes.
   * @param {string} text
   * @param {number} bound
   */
  string(text, bound) {
    const bytes = utf8Encoder.encode(text);
    if (bytes.length > bound) throw new EncodeError(`string of ${bytes.length} bytes exceeds ${bound}`);
    this.varint(bytes.length, Number.MAX_SAFE_INTEGER);
    this.bytes(bytes);
  }

  /** @param {Uint8Array | ArrayLike<number>} bytes */
  bytes(bytes) {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.len);
    this.len += bytes.length;
  }

  /** @returns {Uint8Array} the message, exactly */
  finish() {
    return this.buf.slice(0, this.len);
  }
}

/** Reads one message; every method throws {@link DecodeError} on bad input. */
export class Reader {
  /** @param {Uint8Array} bytes */
  constructor(bytes) {
    this.bytes = bytes;
    this.pos = 0;
  }

  /** @param {number} n */
  need(n) {
    if (this.bytes.length - this.pos < n) throw new DecodeError('Truncated');
  }

  u8() {
    this.need(1);
    return this.bytes[this.pos++];
  }

  i8() {
    const b = this.u8();
    return b > 127 ? b - 256 : b;
  }

  i16() {
    this.need(2);
    const v = this.bytes[this.pos] | (this.bytes[this.pos + 1] << 8);
    this.pos += 2;
    return v > 32767 ? v - 65536 : v;
  }

  bool() {
    const b = this.u8();
    if (b > 1) throw new DecodeError('InvalidBool', `byte ${b}`);
    return b === 1;
  }

  /**
   * An unsigned varint of a field `width` bytes wide (2, 4 or 8): a marker wider than the
   * field, or `fe`/`ff`, is `InvalidInteger`. Longer-than-needed forms are accepted.
   * @param {2 | 4 | 8} width
   */
  varint(width) {
    const first = this.u8();
    if (first < U16_MARKER) return first;
    const size = first === U16_MARKER ? 2 : first === U32_MARKER ? 4 : first === U64_MARKER ? 8 : 0;
    if (size === 0 || size > width) throw new DecodeError('InvalidInteger', `marker ${first} in a ${width * 8}-bit field`);
    this.need(size);
    let v = 0;
    for (let i = size - 1; i >= 0; i--) v = v * 256 + this.bytes[this.pos + i];
    this.pos += size;
    return v;
  }

  /**
   * A LEB128 u32 in its shortest form: a last byte of 0 after others, or bits past 32, are
   * `InvalidInteger`.
   */
  leb128() {
    let v = 0;
    for (let i = 0; i < 5; i++) {
      const byte = this.u8();
      const low = byte & 0x7f;
      if (i === 4 && low > 0x0f) throw new DecodeError('InvalidInteger', 'LEB128 integer past 32 bits');
      v += low * 2 ** (7 * i);
      if ((byte & 0x80) === 0) {
        if (byte === 0 && i > 0) throw new DecodeError('InvalidInteger', 'LEB128 integer not in its shortest form');
        return v;
      }
    }
    throw new DecodeError('InvalidInteger', 'LEB128 integer past 32 bits');
  }

  u16() {
    return this.varint(2);
  }

  u32() {
    return this.varint(4);
  }

  /** An enum tag (a varint u32). */
  tag() {
    return this.varint(4);
  }

  /** @param {number} bound */
  string(bound) {
    const len = this.varint(8);
    if (len > bound) throw new DecodeError('StringTooLong', `${len} bytes, limit ${bound}`);
    this.need(len);
    const slice = this.bytes.subarray(this.pos, this.pos + len);
    this.pos += len;
    try {
      return utf8Decoder.decode(slice);
    } catch {
      throw new DecodeError('InvalidUtf8');
    }
  }

  /** @param {number} n */
  fixed(n) {
    this.need(n);
    const out = new Uint8Array(this.bytes.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  /** An `Option` marker: false for none, true for some. */
  option() {
    const b = this.u8();
    if (b > 1) throw new DecodeError('UnknownTag', `Option byte ${b}`);
    return b === 1;
  }

  /** Throws unless every byte was consumed. */
  end() {
    const extra = this.bytes.length - this.pos;
    if (extra !== 0) throw new DecodeError('TrailingBytes', `${extra} bytes after the message`);
  }
}

/**
 * Normalises whatever a WebSocket delivers to a `Uint8Array` view.
 * @param {ArrayBuffer | ArrayBufferView} data
 */
export function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return new Uint8Array(data);
}
