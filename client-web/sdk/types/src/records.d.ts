/**
 * One record's bytes.
 * @param {number} type a {@link Record} value
 * @param {Uint8Array} payload
 * @returns {Uint8Array}
 */
export function encodeRecord(type: number, payload: Uint8Array): Uint8Array;
/**
 * A close record's bytes.
 * @param {number} code
 * @param {string} reason at most 123 UTF-8 bytes (cut on a character boundary beyond)
 */
export function encodeClose(code: number, reason: string): Uint8Array<ArrayBufferLike>;
/**
 * A close record's code and reason (1005, '' for an empty one).
 * @param {Uint8Array} payload
 * @returns {{ code: number, reason: string }}
 */
export function decodeClose(payload: Uint8Array): {
    code: number;
    reason: string;
};
/** Record types: the first byte of a record (FIN bit and WebSocket opcode). */
export const Record: Readonly<{
    /** One protocol message. */
    MESSAGE: 130;
    /** A close: code (u16 big endian) and UTF-8 reason; the last record of a session. */
    CLOSE: 136;
    /** A heartbeat: no payload, only proof that the stream flows. */
    HEARTBEAT: 137;
}>;
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
    /** @param {{ maxPayload?: number }} [options] largest message accepted (default 64 KiB, the server's limit) */
    constructor(options?: {
        maxPayload?: number;
    });
    maxPayload: number;
    set buffered(bytes: Uint8Array);
    /**
     * The bytes not yet read, as one array (joined here when they are in several pieces).
     * @type {Uint8Array}
     */
    get buffered(): Uint8Array;
    /** @param {Uint8Array} chunk */
    push(chunk: Uint8Array): void;
    /** Bytes held that do not make a whole record yet. */
    get pending(): number;
    /**
     * The next whole record, or null until more bytes arrive.
     * @returns {ParsedRecord | null}
     * @throws {DecodeError} on a record no server sends (masked, fragmented, unknown, too big)
     */
    next(): ParsedRecord | null;
    #private;
}
/** The largest record a client sends: a message of the protocol's largest size. */
export const MAX_CLIENT_RECORD: number;
export type ParsedRecord = {
    type: number;
    payload: Uint8Array;
};
