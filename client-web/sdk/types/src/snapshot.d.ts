/** @param {Writer} w @param {RoundState} round */
export function writeRound(w: Writer, round: RoundState): void;
/** @param {Reader} r @returns {RoundState} */
export function readRound(r: Reader): RoundState;
/**
 * Writes a snapshot after its message tag: the header, then the body as it is.
 * @param {Writer} w
 * @param {Snapshot} s
 */
export function writeSnapshot(w: Writer, s: Snapshot): void;
/**
 * Reads a snapshot after its message tag: the header, and every byte after it as the body.
 * @param {Reader} r
 * @returns {Snapshot}
 */
export function readSnapshot(r: Reader): Snapshot;
/** `a / d` rounded half away from zero (`d > 0`), exactly. @param {number} a @param {number} d */
export function roundDiv(a: number, d: number): number;
/** The shortest turn from heading `from` to `to`, -128..=127. @param {number} from @param {number} to */
export function turn(from: number, to: number): number;
/**
 * Encodes `next` against `baseline` (and `reference`, the world the baseline was rebuilt
 * against, to extrapolate motion), as the server does: a full snapshot when `baseline` is null.
 * @param {World | null} baseline
 * @param {World | null} reference
 * @param {World} next
 * @param {number} lastInput
 * @param {number} tickRate
 * @returns {Snapshot}
 */
export function encodeSnapshot(baseline: World | null, reference: World | null, next: World, lastInput: number, tickRate: number): Snapshot;
/**
 * Rebuilds the world `snapshot` describes from the baseline and reference it names, in a room
 * ticking `tickRate` times a second (`Welcome.tickRate`). Throws {@link ApplyError}.
 * @param {World | null} baseline
 * @param {World | null} reference
 * @param {Snapshot} snapshot
 * @param {number} tickRate
 * @returns {World}
 */
export function applySnapshot(baseline: World | null, reference: World | null, snapshot: Snapshot, tickRate: number): World;
/**
 * The entity `id` of `world`, by binary search.
 * @param {World} world
 * @param {number} id
 * @returns {EntityState | undefined}
 */
export function worldEntity(world: World, id: number): EntityState | undefined;
/**
 * Why a snapshot could not be applied (PROTOCOL.md 6.6). The client drops the snapshot and
 * acks nothing new; the server falls back to what it acked, or to a full snapshot.
 * @typedef {'BaselineMismatch' | 'ReferenceMismatch' | 'MissingBaseline' | 'Truncated' | 'InvalidCode'
 *   | 'OutOfRange' | 'DuplicateEntity' | 'TooManyEntities' | 'TrailingBits'} ApplyErrorKind
 */
export class ApplyError extends Error {
    /** @param {ApplyErrorKind} kind @param {string} [detail] */
    constructor(kind: ApplyErrorKind, detail?: string);
    /** @type {ApplyErrorKind} */
    kind: ApplyErrorKind;
}
/** Reads a body bit by bit, least significant bit of each byte first. */
export class BitReader {
    /** @param {Uint8Array} bytes */
    constructor(bytes: Uint8Array);
    bytes: Uint8Array<ArrayBufferLike>;
    /** Bits read so far. */
    at: number;
    limit: number;
    bit(): number;
    /** `u(n)`, n <= 32, as a non-negative number. @param {number} n */
    bits(n: number): number;
    /** `eg(k)`. @param {number} k */
    eg(k: number): number;
    /** `se(k)`: zigzag back to a signed value. @param {number} k */
    se(k: number): number;
    /** Whether only zero padding bits remain in the last byte and no byte follows. */
    atEnd(): boolean;
}
/** Writes a body bit by bit. */
export class BitWriter {
    /** @type {number[]} */
    out: number[];
    /** Bits used in the last byte (0: start a new one). */
    used: number;
    /** @param {boolean | number} bit */
    bit(bit: boolean | number): void;
    /** `u(n)`: the low `n` bits of `value`, low bit first. @param {number} value @param {number} n */
    bits(value: number, n: number): void;
    /** `eg(k)`. @param {number} value @param {number} k */
    eg(value: number, k: number): void;
    /** `se(k)`. @param {number} value @param {number} k */
    se(value: number, k: number): void;
    finish(): Uint8Array<ArrayBuffer>;
}
/**
 * The worlds a client keeps to rebuild snapshots: the newest {@link WorldHistory.CAPACITY},
 * each with the baseline it was rebuilt against. Feed every snapshot to
 * {@link WorldHistory#apply} and ack the tick of each world it returns; on an error ack
 * nothing new and carry on.
 */
export class WorldHistory {
    /** Worlds kept: the server encodes against a world at most 32 ticks old (the newest acked,
     * or the newest its socket took) and extrapolates from that world's own baseline within the
     * same 32 ticks, so 64 cover any ack in flight. */
    static CAPACITY: number;
    /** @param {number} tickRate the room's (`Welcome.tickRate`) */
    constructor(tickRate: number);
    tickRate: number;
    /** @type {{ world: World, baseline: number | null }[]} oldest first, ticks strictly increasing */
    kept: {
        world: World;
        baseline: number | null;
    }[];
    /**
     * Rebuilds and keeps the world `snapshot` describes; throws {@link ApplyError}.
     * @param {Snapshot} snapshot
     * @returns {World}
     */
    apply(snapshot: Snapshot): World;
    /** @param {number} tick */
    get(tick: number): Readonly<WorldFields> | undefined;
    /** The baseline the world of `tick` was rebuilt against. @param {number} tick */
    baselineOf(tick: number): number | null;
    latest(): Readonly<WorldFields> | undefined;
    clear(): void;
}
/**
 * What a client expects of one baseline entity at the new tick.
 */
export type Prediction = {
    base: EntityState;
    vx: number;
    vy: number;
    heading: number;
    ticks: number;
    tickRate: number;
};
/**
 * a quantized vector (position: 1/16 unit, velocity: 2 units/s, `VELOCITY_STEP`)
 */
export type QVec2 = Readonly<{
    x: number;
    y: number;
}>;
export type RoundPhase = "Playing" | "Intermission";
export type RoundState = Readonly<{
    round: number;
    phase: RoundPhase;
    secondsLeft: number;
}>;
/**
 * The fields of an {@link EntityState}.
 */
export type EntityFields = {
    id: number;
    /**
     * arena: 0 ship, 1 pickup
     */
    kind: number;
    /**
     * position in 1/16 world units
     */
    pos: QVec2;
    /**
     * velocity in steps of 2 units per second (`VELOCITY_STEP`): `vel.x * VELOCITY_STEP` units/s
     */
    vel: QVec2;
    /**
     * 1/256 turn, 0 = +x, growing toward +y
     */
    heading: number;
    /**
     * arena: bit 0 alive, 1 boosting, 2 invulnerable
     */
    flags: number;
    /**
     * arena: a ship's score or a pickup's worth
     */
    value: number;
};
/**
 * One entity, quantized (PROTOCOL.md 3.2), read-only: rebuilt worlds share it (see `World`).
 */
export type EntityState = Readonly<EntityFields>;
/**
 * A `Snapshot` message: the header, and the body still packed (it means something only next
 * to the worlds the header names; {@link applySnapshot} reads it).
 */
export type Snapshot = {
    type: "Snapshot";
    /**
     * the tick described
     */
    tick: number;
    /**
     * the acked tick it is encoded against; null: a full snapshot
     */
    baseline: number | null;
    /**
     * the world the baseline was rebuilt against, which motion is extrapolated from
     */
    reference: number | null;
    /**
     * newest `Input.seq` of this client the server applied
     */
    lastInput: number;
    /**
     * the round state; null: as in the baseline
     */
    round: RoundState | null;
    /**
     * the bit stream (section 6)
     */
    body: Uint8Array;
};
/**
 * The world one client sees at one tick.
 * The worlds {@link applySnapshot} rebuilds are frozen, their entities too: each is the
 * baseline of deltas to come, and shares what did not change with the worlds around it. Copy
 * what a game wants to change (sort for drawing, predict).
 */
export type World = Readonly<WorldFields>;
/**
 * The fields of a {@link World}.
 */
export type WorldFields = {
    tick: number;
    round: RoundState;
    /**
     * sorted by id, ids unique
     */
    entities: readonly EntityState[];
};
/**
 * Why a snapshot could not be applied (PROTOCOL.md 6.6). The client drops the snapshot and
 * acks nothing new; the server falls back to what it acked, or to a full snapshot.
 */
export type ApplyErrorKind = "BaselineMismatch" | "ReferenceMismatch" | "MissingBaseline" | "Truncated" | "InvalidCode" | "OutOfRange" | "DuplicateEntity" | "TooManyEntities" | "TrailingBits";
import type { Writer } from './wire.js';
import type { Reader } from './wire.js';
