/**
 * Normalises whatever a WebSocket delivers to a `Uint8Array` view.
 * @param {ArrayBuffer | ArrayBufferView} data
 */
export function asBytes(data: ArrayBuffer | ArrayBufferView): Uint8Array<ArrayBufferLike>;
export const utf8Decoder: TextDecoder;
/** Builds one message. */
export class Writer {
    constructor(capacity?: number);
    /** @type {Uint8Array} */
    buf: Uint8Array;
    len: number;
    /** @param {number} extra */
    reserve(extra: number): void;
    /** @param {number} v */
    u8(v: number): void;
    /** @param {number} v */
    i8(v: number): void;
    /** @param {number} v */
    i16(v: number): void;
    /** @param {boolean} v */
    bool(v: boolean): void;
    /**
     * An unsigned varint no larger than `max` (the field's width), in its shortest form.
     * @param {number} v
     * @param {number} [max]
     */
    varint(v: number, max?: number): void;
    /**
     * A u32 as LEB128 (PROTOCOL.md 2.2): seven bits a byte, lowest first, the top bit set on all
     * but the last. Only the snapshot header's tick and last input use it.
     * @param {number} v
     */
    leb128(v: number): void;
    /** @param {number} v */
    u16(v: number): void;
    /** @param {number} v */
    u32(v: number): void;
    /**
     * A string of at most `bound` UTF-8 bytes.
     * @param {string} text
     * @param {number} bound
     */
    string(text: string, bound: number): void;
    /** @param {Uint8Array | ArrayLike<number>} bytes */
    bytes(bytes: Uint8Array | ArrayLike<number>): void;
    /** @returns {Uint8Array} the message, exactly */
    finish(): Uint8Array;
}
/** Reads one message; every method throws {@link DecodeError} on bad input. */
export class Reader {
    /** @param {Uint8Array} bytes */
    constructor(bytes: Uint8Array);
    bytes: Uint8Array<ArrayBufferLike>;
    pos: number;
    /** @param {number} n */
    need(n: number): void;
    u8(): number;
    i8(): number;
    i16(): number;
    bool(): boolean;
    /**
     * An unsigned varint of a field `width` bytes wide (2, 4 or 8): a marker wider than the
     * field, or `fe`/`ff`, is `InvalidInteger`. Longer-than-needed forms are accepted.
     * @param {2 | 4 | 8} width
     */
    varint(width: 2 | 4 | 8): number;
    /**
     * A LEB128 u32 in its shortest form: a last byte of 0 after others, or bits past 32, are
     * `InvalidInteger`.
     */
    leb128(): number;
    u16(): number;
    u32(): number;
    /** An enum tag (a varint u32). */
    tag(): number;
    /** @param {number} bound */
    string(bound: number): string;
    /** @param {number} n */
    fixed(n: number): Uint8Array<ArrayBuffer>;
    /** An `Option` marker: false for none, true for some. */
    option(): boolean;
    /** Throws unless every byte was consumed. */
    end(): void;
}
