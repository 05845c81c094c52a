/** @param {Writer} w @param {RoundState} round */
export function writeRound(w: Writer, round: RoundState): void;
/** @param {Reader} r @returns {RoundState} */
export function readRound(r: Reader): RoundState;
/**
 * Writes a snapshot's body (everything after the message tag).
 * @param {Writer} w
 * @param {Snapshot} s
 */
export function writeSnapshot(w: Writer, s: Snapshot): void;
/**
 * Reads a snapshot's body (after the tag).
 * @param {Reader} r
 * @returns {Snapshot}
 */
export function readSnapshot(r: Reader): Snapshot;
/**
 * Rebuilds the world `snapshot` describes from `baseline` (null for a full snapshot).
 * @param {World | null} baseline
 * @param {Snapshot} snapshot
 * @returns {World}
 */
export function applySnapshot(baseline: World | null, snapshot: Snapshot): World;
/**
 * The entity `id` of `world`, by binary search.
 * @param {World} world
 * @param {number} id
 * @returns {EntityState | undefined}
 */
export function worldEntity(world: World, id: number): EntityState | undefined;
/** Why a snapshot could not be applied (PROTOCOL.md 6, client step 4): the client drops its
 * state and stops acking; the server falls back to a snapshot it can rebuild. */
export class ApplyError extends Error {
    /** @param {'MissingBaseline' | 'BaselineMismatch' | 'Unsorted' | 'IncompleteSpawn'} kind @param {string} detail */
    constructor(kind: "MissingBaseline" | "BaselineMismatch" | "Unsorted" | "IncompleteSpawn", detail: string);
    kind: "MissingBaseline" | "BaselineMismatch" | "Unsorted" | "IncompleteSpawn";
}
/**
 * The worlds a client keeps to rebuild snapshots: the newest {@link WorldHistory.CAPACITY}
 * by tick. Feed every snapshot to {@link WorldHistory#apply} and ack the tick of each world
 * it returns; on an error ack nothing new and carry on.
 */
export class WorldHistory {
    /** Worlds kept: the server deltas at most 32 ticks back, so 64 cover any ack in flight. */
    static CAPACITY: number;
    /** @type {World[]} oldest first, ticks strictly increasing */
    worlds: World[];
    /**
     * Rebuilds and keeps the world `snapshot` describes; throws {@link ApplyError}.
     * @param {Snapshot} snapshot
     * @returns {World}
     */
    apply(snapshot: Snapshot): World;
    /** @param {number} tick */
    get(tick: number): World | undefined;
    latest(): World | undefined;
    clear(): void;
}
/**
 * a quantized vector (position: 1/16 unit, velocity: 1/8 unit/s)
 */
export type QVec2 = {
    x: number;
    y: number;
};
export type RoundPhase = "Playing" | "Intermission";
export type RoundState = {
    round: number;
    phase: RoundPhase;
    secondsLeft: number;
};
/**
 * One entity, complete and quantized (PROTOCOL.md 3.2).
 */
export type EntityState = {
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
     * velocity in 1/8 units per second
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
 * One entry of a snapshot: the id and the fields that changed (all of them for a spawn).
 */
export type EntityDelta = {
    id: number;
    kind?: number | undefined;
    pos?: QVec2 | undefined;
    vel?: QVec2 | undefined;
    heading?: number | undefined;
    flags?: number | undefined;
    value?: number | undefined;
};
/**
 * A `Snapshot` message.
 */
export type Snapshot = {
    type: "Snapshot";
    /**
     * the tick described
     */
    tick: number;
    /**
     * the acked tick this is a delta against; null: full
     */
    baseline: number | null;
    /**
     * newest `Input.seq` of this client the server applied
     */
    lastInput: number;
    round: RoundState;
    /**
     * spawned or changed entities, sorted by id
     */
    entities: EntityDelta[];
    /**
     * ids gone since the baseline, sorted
     */
    removed: number[];
};
/**
 * The world one client sees at one tick.
 */
export type World = {
    tick: number;
    round: RoundState;
    /**
     * sorted by id, ids unique
     */
    entities: EntityState[];
};
import type { Writer } from './wire.js';
import type { Reader } from './wire.js';
