/** A token bucket: `rate` tokens per second, at most `burst` held. */
export class Pace {
    /** @param {number} rate @param {number} burst */
    constructor(rate: number, burst: number);
    rate: number;
    burst: number;
    tokens: number;
    /** @type {number | null} when `tokens` was counted (null: not yet, the bucket is full) */
    countedAt: number | null;
    /** Full again from `now`. @param {number} now */
    refill(now: number): void;
    /** Takes a token if one is there at `now`. @param {number} now @returns {boolean} */
    take(now: number): boolean;
    /** When the next token is there (ms, the caller's clock). @returns {number} */
    next(): number;
    /** @param {number} now */
    count(now: number): void;
}
/**
 * The server's chat bucket as the session can know it. A line the server has not confirmed (by
 * the `Pong` of a `Ping` sent after it) may still sit in a stalled uplink, and reach the server
 * with every later line at once: so each unconfirmed line keeps its token taken until its
 * confirmation, and the bucket's refill meanwhile pays only for the lines that did arrive.
 * Without it a 4 s stall of a chatting player's uplink brought 12 lines to a bucket of 5, and the
 * server kicked the player (`RateLimited`).
 */
export class ChatBudget {
    /** @param {number} rate lines per second @param {number} burst */
    constructor(rate: number, burst: number);
    pace: Pace;
    /** Lines sent on this connection, and of those the ones confirmed. */
    sent: number;
    confirmed: number;
    /** A new connection: the server's bucket is full again. @param {number} now */
    reset(now: number): void;
    /** Lines sent whose arrival no `Pong` confirmed yet. */
    unconfirmed(): number;
    /** Takes a line's turn if the server has a token for it, however the unconfirmed lines
     * arrive. @param {number} now @returns {boolean} */
    take(now: number): boolean;
    /** The first `upto` lines of this connection reached the server by `now`. @param {number} now
     * @param {number} upto */
    confirm(now: number, upto: number): void;
    /** When the next line may go if no confirmation comes; null: only a confirmation frees a
     * token (then the session pings for one). @returns {number | null} */
    next(): number | null;
}
