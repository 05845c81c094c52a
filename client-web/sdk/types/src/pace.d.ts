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
