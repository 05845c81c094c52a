/**
 * The most the session moves an input's send time against its cadence, ms: a millisecond a
 * tick keeps consecutive inputs within a millisecond of a period apart, so none is doubled or
 * skipped on the way, and still corrects half a tick within about half a second at 30 Hz.
 */
export const INPUT_SLEW_MS: 1;
/**
 * The server's tick phase as one connection sees it: a new one for each `Welcome` (its round
 * trips included: a new connection may take another path, and a shorter round trip of the old
 * one would otherwise stay the floor for four pings).
 */
export class InputPhase {
    /** @param {number} tickRate the `Welcome`'s, ticks a second */
    constructor(tickRate: number);
    periodMs: number;
    /**
     * The connection's first snapshot: when it arrived, and its tick. Later arrivals are
     * measured against the times its tick and the period say theirs came.
     * @type {{ at: number, tick: number } | null}
     */
    origin: {
        at: number;
        tick: number;
    } | null;
    /** The least offset (ms past the origin's schedule) of the current window's arrivals. */
    windowFloor: number;
    /** Arrivals in the current window. */
    windowArrivals: number;
    /** The last complete window's least offset. @type {number | null} */
    lastWindowFloor: number | null;
    /** The last few round trips, ms, newest last. @type {number[]} */
    roundTrips: number[];
    /**
     * The snapshot of `tick` arrived at `now`, applied or not: its arrival is what counts.
     * @param {number} tick @param {number} now
     */
    snapshotArrived(tick: number, now: number): void;
    /** A `Pong` measured a round trip of `rttMs`. @param {number} rttMs */
    roundTrip(rttMs: number): void;
    /**
     * How far from mid-tick an input sent at `sendAt` would land, ms, in `[-period / 2, period / 2)`:
     * positive, it lands after mid-tick (send it earlier). Null until a snapshot and a round trip
     * were measured.
     * @param {number} sendAt
     * @returns {number | null}
     */
    error(sendAt: number): number | null;
    /**
     * How much to move an input's send time scheduled at `sendAt`, ms (negative: earlier), for
     * inputs to come to land mid-tick: at most {@link INPUT_SLEW_MS} either way, 0 while the
     * phase is unknown.
     * @param {number} sendAt
     */
    slew(sendAt: number): number;
}
