// A token bucket on the caller's clock (sans-IO): the session paces chat lines with it, and the
// HTTP fallback keeps a POST from carrying more of them than the server's burst.

/** A token bucket: `rate` tokens per second, at most `burst` held. */
export class Pace {
  /** @param {number} rate @param {number} burst */
  constructor(rate, burst) {
    if (!(rate > 0) || !(burst >= 1)) throw new RangeError(`a pace needs rate > 0 and burst >= 1 (got ${rate}, ${burst})`);
    this.rate = rate;
    this.burst = burst;
    this.tokens = burst;
    /** @type {number | null} when `tokens` was counted (null: not yet, the bucket is full) */
    this.countedAt = null;
  }

  /** Full again from `now`. @param {number} now */
  refill(now) {
    this.tokens = this.burst;
    this.countedAt = now;
  }

  /** Takes a token if one is there at `now`. @param {number} now @returns {boolean} */
  take(now) {
    this.count(now);
    // Within a rounding error of one: a driver woken at the time `next()` named finds it.
    if (this.tokens < 1 - 1e-9) return false;
    this.tokens = Math.max(0, this.tokens - 1);
    return true;
  }

  /** When the next token is there (ms, the caller's clock). @returns {number} */
  next() {
    const at = this.countedAt ?? 0;
    return this.tokens >= 1 ? at : at + ((1 - this.tokens) * 1000) / this.rate;
  }

  /** @param {number} now */
  count(now) {
    if (this.countedAt !== null && now > this.countedAt) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.countedAt) * this.rate) / 1000);
    }
    if (this.countedAt === null || now > this.countedAt) this.countedAt = now;
  }
}
