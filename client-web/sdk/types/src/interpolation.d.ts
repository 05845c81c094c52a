/**
 * How an easing after a stall takes up each entity's difference, from when (`from`), by id.
 * @typedef {{ from: number, offsets: Map<number, { dx: number, dy: number, turn: number }> }} Easing
 */
/**
 * What was drawn when the worlds came again after a stall: see `InterpolationBuffer.settling`.
 * @typedef {{ drawn: Map<number, RenderEntity>, tick: number, held: number, taken: number, easing: Easing | null }} Settling
 */
/** @param {EntityState} e @returns {RenderEntity} */
export function toRenderEntity(e: EntityState): RenderEntity;
/** @param {number} a @param {number} b @param {number} t radians, the short way round */
export function lerpAngle(a: number, b: number, t: number): number;
/** The adaptive delay's least, in ticks: a steady link draws this far behind. */
export const MIN_DELAY_TICKS: 2;
/** The adaptive delay's most, in ticks (267 ms at 30 Hz): past it, a late world leaves the render time past the newest world (extrapolated, then held) for a moment. */
export const MAX_DELAY_TICKS: 8;
/** How long past the newest world entities move on by their velocity before they hold, in ms, by default (Source's default `cl_extrapolate_amount`). */
export const DEFAULT_EXTRAPOLATE_MS: 250;
/** How long the difference between what was drawn and what the worlds say after a stall is taken up over, in ms, by default. */
export const DEFAULT_SETTLE_MS: 200;
/**
 * Keeps the last worlds received and answers "what does the world look like at render time".
 * Render time runs `delayTicks` behind the newest tick expected to have arrived, on a clock
 * that follows the earliest arrivals (the least delayed ones), so jitter never runs it past
 * the data. Unless fixed, the delay adapts: as many ticks as 9 in 10 worlds come late by, plus
 * one, from 2 on a steady link up to 8 (a link with ±60 ms of jitter needs about 4).
 */
export class InterpolationBuffer {
    /**
     * @param {object} options `tickRate`, `delayTicks` and `capacity` are checked: anything but a
     *   number throws a TypeError, and a number out of its range a RangeError, naming the option
     * @param {number} options.tickRate ticks per second (from `Welcome`; a finite number > 0)
     * @param {number} [options.delayTicks] how far behind to draw, fixed (a finite number >= 0);
     *   by default it adapts to the jitter, from {@link MIN_DELAY_TICKS} to {@link MAX_DELAY_TICKS}
     * @param {number} [options.capacity] worlds kept (default 32; an integer >= 2, the two drawn
     *   between)
     * @param {number} [options.extrapolateMs] how long past the newest world, when none comes
     *   in time (a stalled downlink), entities move on by their velocity before they hold
     *   (default 250, at most 1000): a ship on a straight course crosses a stall that long
     *   seamlessly, one that turned meanwhile is drawn off course, the more so the longer the
     *   stall; 0 holds at once, and every stall freezes
     * @param {number} [options.settleMs] how long the difference between what was drawn and what
     *   the worlds say, when they come again more than a tick overdue, is taken up over, quickly
     *   at first then easing (default 200, at most 1000); 0 jumps there at once. While the
     *   burst after a stall is still coming (at most 250 ms), each frame interpolates the
     *   entities twice
     */
    constructor(options: {
        tickRate: number;
        delayTicks?: number | undefined;
        capacity?: number | undefined;
        extrapolateMs?: number | undefined;
        settleMs?: number | undefined;
    });
    periodMs: number;
    /** The delay drawn at now, in ticks (fractional while it adapts). */
    delayTicks: number;
    /** Whether the delay follows the jitter. */
    adaptive: boolean;
    capacity: number;
    extrapolateMs: number;
    settleMs: number;
    /**
     * What was drawn when the worlds came again after a stall: the entities then (`drawn`, by
     * id, the rest of an easing before included), the render tick then, the newest world then
     * (`held`) and when (`taken`). Until its burst is in, the drawing goes on as the stall drew
     * it (from the worlds up to `held`); then (`easing`) the difference between that and where
     * the whole burst puts each entity (`offsets`, by id: only those of 200 units or less, the
     * others are jumped) is added to what is drawn, less and less over `settleMs` from `from`.
     * @type {Settling | null}
     */
    settling: Settling | null;
    /**
     * Whether the render time has been past the newest world since `settling` was taken: the
     * worlds of its burst still coming are eased from what was drawn when the stall ended, not
     * from where the first of them moved the drawing.
     */
    stalled: boolean;
    /** When the last world came: worlds closer together than a tick are one burst. */
    lastPush: number;
    /** @type {World[]} ticks ascending */
    worlds: World[];
    /** Local time of tick 0 as the clock sees it. @type {number | null} */
    clockBase: number | null;
    /** @type {number[]} recent `arrival - tick * period` values of worlds not late, which the clock follows */
    bases: number[];
    /** @type {number[]} the last worlds' `arrival - tick * period`, late or not */
    recentBases: number[];
    /** @type {number[]} their arrival times */
    arrivals: number[];
    /** @type {number[]} how late recent worlds came after the clock expected them, in ms */
    lateness: number[];
    /** @param {World} world @param {number} receivedAt */
    push(world: World, receivedAt: number): void;
    /**
     * Moves the clock for a world of `tick` that came at `receivedAt`, and the delay with the
     * lateness it shows.
     * @param {number} tick @param {number} receivedAt
     */
    followClock(tick: number, receivedAt: number): void;
    /**
     * What is drawn at `at`, to ease from, when a world arriving then ends a stall: the render
     * time is past the newest world (what is drawn is a guess, or held, and the world may put it
     * elsewhere), the world after the newest is more than a tick overdue, and this stall has
     * nothing to ease from yet. A world a tick
     * late or less (jitter) is drawn as it says, as before a stall: eased from, each would start
     * another easing before the last ended, and the easings would add up to a lag behind where
     * the worlds put the entities.
     * @param {number} at
     */
    settlingAt(at: number): {
        drawn: Map<number, RenderEntity>;
        tick: number;
        held: number;
        taken: number;
        easing: null;
    } | null;
    /**
     * Whether what was drawn when the last stall ended is still added at `now`: its burst is
     * still coming, or its easing is not over.
     * @param {number} now
     */
    easingAt(now: number): boolean;
    /**
     * Starts easing what was drawn when the last stall ended, at `at`, once its burst is in: the
     * worlds reach the render time (or, drawn less than two ticks behind, are no longer
     * overdue). Each entity's difference is measured once, between the drawing the stall would
     * have gone on with and where the whole burst puts it: one too long to ease is jumped, whole.
     * @param {number} at
     */
    startEasing(at: number): void;
    /**
     * The easing of `settling` from the end of its wait for the burst, measured then, if the wait
     * is over at `now` and no easing started before; else null.
     * @param {Settling} settling @param {number} now
     * @returns {Easing | null}
     */
    waitOver(settling: Settling, now: number): Easing | null;
    /**
     * Each entity's difference at render tick `tick` between the drawing the stall of `settling`
     * would have gone on with and where the worlds put it, by id: only those of 200 units or less
     * (the others are jumped, whole).
     * @param {Settling} settling @param {number} tick
     * @returns {Easing['offsets']}
     */
    measure(settling: Settling, tick: number): Easing["offsets"];
    /**
     * What the stall would draw at render tick `tick`, its burst still not come: what was drawn
     * when it ended, moved on as the worlds before the burst move it (extrapolated, held). Should
     * those worlds be gone (a burst longer than the buffer), what was drawn.
     * @param {Settling} settling @param {number} tick
     * @returns {RenderEntity[]}
     */
    heldDrawing(settling: Settling, tick: number): RenderEntity[];
    /** @param {number} lateMs how late a world came after the clock expected it */
    noteLateness(lateMs: number): void;
    /** Moves the delay a step toward what the recent lateness needs. */
    adaptDelay(): void;
    /**
     * Whether the last worlds all came so long after the clock expects them that each was
     * already due to be drawn when it arrived (later than the `delayTicks` the clock keeps in
     * hand), one by one at the tick rate: the server's tick schedule moved later. Lateness the
     * delay absorbs is jitter and is left to the gentle following; worlds held up by the network
     * are late too, but arrive together once it lets them through, and the ones after are on
     * time again: the clock must not follow those.
     */
    scheduleMoved(): boolean;
    /**
     * Forgets everything: for a `welcome` with `resumed: false` (a new seat, perhaps in a new room
     * or on a restarted server, whose ticks are not those drawn so far).
     */
    clear(): void;
    /** The tick (fractional) drawn at `now`. @param {number} now */
    renderTick(now: number): number;
    /** The newest world, if one was pushed. @returns {World | undefined} */
    latest(): World | undefined;
    /**
     * The entities at render time: positions and headings interpolated between the worlds
     * around it; an entity present in only the later one appears as it is there. Before the
     * oldest world held, that world is held; past the newest, entities move on by their velocity
     * for up to `extrapolateMs`, then hold. After a stall, what was drawn eases to where the
     * worlds say over `settleMs` (while its burst is still coming, at most 250 ms, the stall's
     * drawing goes on: an entity the burst brings appears once it is in). `staleMs` says how far
     * the render time is past the newest
     * world (0 while it is between two): past `extrapolateMs` what is drawn is held, and a game
     * may show that its link stalled.
     * @param {number} now
     * @returns {{ tick: number, entities: RenderEntity[], world: World | undefined, staleMs: number }}
     */
    sample(now: number): {
        tick: number;
        entities: RenderEntity[];
        world: World | undefined;
        staleMs: number;
    };
    /**
     * The world drawn toward at render tick `tick`, and its entities there as the worlds say (no
     * settling added); as if only the `kept` oldest worlds had come, if given.
     * @param {number} tick
     * @param {number} [kept]
     * @returns {{ entities: RenderEntity[], world: World | undefined }}
     */
    interpolate(tick: number, kept?: number): {
        entities: RenderEntity[];
        world: World | undefined;
    };
}
/**
 * How an easing after a stall takes up each entity's difference, from when (`from`), by id.
 */
export type Easing = {
    from: number;
    offsets: Map<number, {
        dx: number;
        dy: number;
        turn: number;
    }>;
};
/**
 * What was drawn when the worlds came again after a stall: see `InterpolationBuffer.settling`.
 */
export type Settling = {
    drawn: Map<number, RenderEntity>;
    tick: number;
    held: number;
    taken: number;
    easing: Easing | null;
};
/**
 * An entity ready to draw, in world units and radians.
 */
export type RenderEntity = {
    id: number;
    kind: number;
    x: number;
    y: number;
    /**
     * units per second (the wire's `vel.x` times `VELOCITY_STEP`)
     */
    vx: number;
    /**
     * units per second
     */
    vy: number;
    /**
     * radians, 0 = +x, growing toward +y
     */
    heading: number;
    flags: number;
    value: number;
};
import type { EntityState } from './snapshot.js';
import type { World } from './snapshot.js';
