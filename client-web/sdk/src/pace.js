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
  constructor(rate, burst) {
    this.pace = new Pace(rate, burst);
    /** Lines sent on this connection, and of those the ones confirmed. */
    this.sent = 0;
    this.confirmed = 0;
  }

  /** A new connection: the server's bucket is full again. @param {number} now */
  reset(now) {
    this.pace.refill(now);
    this.sent = 0;
    this.confirmed = 0;
  }

  /** Lines sent whose arrival no `Pong` confirmed yet. */
  unconfirmed() {
    return this.sent - this.confirmed;
  }

  /** Takes a line's turn if the server has a token for it, however the unconfirmed lines
   * arrive. @param {number} now @returns {boolean} */
  take(now) {
    this.pace.count(now);
    // Within a rounding error of one, as `Pace.take`.
    if (this.pace.tokens - this.unconfirmed() < 1 - 1e-9) return false;
    this.sent += 1;
    return true;
  }

  /** The first `upto` lines of this connection reached the server by `now`. @param {number} now
   * @param {number} upto */
  confirm(now, upto) {
    const confirmed = Math.min(upto, this.sent);
    if (confirmed <= this.confirmed) return;
    this.pace.count(now);
    this.pace.tokens = Math.max(0, this.pace.tokens - (confirmed - this.confirmed));
    this.confirmed = confirmed;
  }

  /** When the next line may go if no confirmation comes; null: only a confirmation frees a
   * token (then the session pings for one). @returns {number | null} */
  next() {
    const needed = this.unconfirmed() + 1;
    if (needed > this.pace.burst + 1e-9) return null;
    const at = this.pace.countedAt ?? 0;
    const missing = Math.max(0, needed - this.pace.tokens);
    return at + (missing * 1000) / this.pace.rate;
  }
}
