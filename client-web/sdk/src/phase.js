// Where in the server's tick this client's inputs land, and how to move them to mid-tick; sans-IO
// (time is an argument). The Rust client does the same (client/src/session/phase.rs).
//
// The server applies one input a tick, the one that arrived before the tick began
// (server/src/inputs.rs). A client whose inputs arrive just at the tick boundary has some land
// before it and some after with a millisecond of timer jitter: a tick then runs without the
// client's input (its prediction is corrected), and the server's jitter buffer holds every input
// a tick longer from then on. Where the session's cadence falls is an accident of when its
// `Welcome` came.
//
// The server's ticks can be found from what the client already has: each snapshot is sent as
// its tick runs, so its arrival, less the downlink, is its tick; an input sent at `S` arrives at
// `S` plus the uplink. Landing half a period before the tick that applies it (the most room for
// jitter either way) means sending at the snapshots' arrival phase, less the round trip (uplink
// and downlink together, so how they split does not matter), plus half a period. Delay only ever
// adds to an arrival or a round trip, so both are floors: one slow snapshot or `Pong` never
// moves the target.

/**
 * The most the session moves an input's send time against its cadence, ms: a millisecond a
 * tick keeps consecutive inputs within a millisecond of a period apart, so none is doubled or
 * skipped on the way, and still corrects half a tick within about half a second at 30 Hz.
 */
export const INPUT_SLEW_MS = 1;

/**
 * Snapshots a floor of their arrivals is taken over (about a second at 30 Hz): the floor used is
 * the lower of the last complete window's and the current one's, so it follows a clock drift or
 * a new network path within two windows.
 */
const ARRIVAL_WINDOW = 32;

/** Round trips the floor is taken over (about 8 s of the session's pings, by default). */
const ROUND_TRIPS_KEPT = 4;

/**
 * The server's tick phase as one connection sees it: a new one for each `Welcome` (its round
 * trips included: a new connection may take another path, and a shorter round trip of the old
 * one would otherwise stay the floor for four pings).
 */
export class InputPhase {
  /** @param {number} tickRate the `Welcome`'s, ticks a second */
  constructor(tickRate) {
    this.periodMs = 1000 / Math.max(1, tickRate);
    /**
     * The connection's first snapshot: when it arrived, and its tick. Later arrivals are
     * measured against the times its tick and the period say theirs came.
     * @type {{ at: number, tick: number } | null}
     */
    this.origin = null;
    /** The least offset (ms past the origin's schedule) of the current window's arrivals. */
    this.windowFloor = Infinity;
    /** Arrivals in the current window. */
    this.windowArrivals = 0;
    /** The last complete window's least offset. @type {number | null} */
    this.lastWindowFloor = null;
    /** The last few round trips, ms, newest last. @type {number[]} */
    this.roundTrips = [];
  }

  /**
   * The snapshot of `tick` arrived at `now`, applied or not: its arrival is what counts.
   * @param {number} tick @param {number} now
   */
  snapshotArrived(tick, now) {
    this.origin ??= { at: now, tick };
    const offset = (now - this.origin.at) - (tick - this.origin.tick) * this.periodMs;
    this.windowFloor = Math.min(this.windowFloor, offset);
    this.windowArrivals += 1;
    if (this.windowArrivals >= ARRIVAL_WINDOW) {
      this.lastWindowFloor = this.windowFloor;
      this.windowFloor = Infinity;
      this.windowArrivals = 0;
    }
  }

  /** A `Pong` measured a round trip of `rttMs`. @param {number} rttMs */
  roundTrip(rttMs) {
    this.roundTrips.push(rttMs);
    if (this.roundTrips.length > ROUND_TRIPS_KEPT) this.roundTrips.shift();
  }

  /**
   * How far from mid-tick an input sent at `sendAt` would land, ms, in `[-period / 2, period / 2)`:
   * positive, it lands after mid-tick (send it earlier). Null until a snapshot and a round trip
   * were measured.
   * @param {number} sendAt
   * @returns {number | null}
   */
  error(sendAt) {
    if (this.origin === null || this.roundTrips.length === 0) return null;
    const floor = Math.min(this.lastWindowFloor ?? Infinity, this.windowFloor);
    const target = floor - Math.min(...this.roundTrips) + this.periodMs / 2;
    const off = sendAt - this.origin.at - target;
    return off - this.periodMs * Math.floor(off / this.periodMs + 0.5);
  }

  /**
   * How much to move an input's send time scheduled at `sendAt`, ms (negative: earlier), for
   * inputs to come to land mid-tick: at most {@link INPUT_SLEW_MS} either way, 0 while the
   * phase is unknown.
   * @param {number} sendAt
   */
  slew(sendAt) {
    const error = this.error(sendAt);
    return error === null ? 0 : Math.max(-INPUT_SLEW_MS, Math.min(INPUT_SLEW_MS, -error));
  }
}
