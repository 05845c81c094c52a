// The golden vectors of shared/testdata/, converted from the Rust crate's serde JSON to the
// SDK's message shapes.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

export const TESTDATA = join(dirname(fileURLToPath(import.meta.url)), '../../../shared/testdata');

/** @param {string} hex */
export function fromHex(hex) {
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => parseInt(b, 16));
}

/** @param {Uint8Array} bytes */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** @param {any} v externally tagged serde enum → [variant, fields] */
function variant(v) {
  if (typeof v === 'string') return [v, {}];
  const [name] = Object.keys(v);
  return [name, v[name]];
}

const camel = (/** @type {string} */ s) => s.replace(/_([a-z])/g, (_, c) => c.toUpperCase());

/** @param {any} round */
const toRound = (round) => ({ round: round.round, phase: round.phase, secondsLeft: round.seconds_left });

/**
 * A vector's `value` in the SDK's shape.
 * @param {any} value
 * @returns {any}
 */
export function toSdk(value) {
  const [type, f] = variant(value);
  switch (type) {
    case 'Hello':
      return {
        type, version: f.version, role: f.role, name: f.name,
        room: f.room === 'Any' ? null : f.room.Named,
        resume: f.resume === null ? null : Uint8Array.from(f.resume),
      };
    case 'Welcome':
      return {
        type, playerId: f.player_id, role: f.role, room: f.room, tickRate: f.tick_rate,
        world: f.world, viewRadius: f.view_radius, entity: f.entity,
        resumeToken: Uint8Array.from(f.resume_token), resumed: f.resumed,
      };
    case 'Snapshot':
      return {
        type, tick: f.tick, baseline: f.baseline, reference: f.reference, lastInput: f.last_input,
        round: f.round === null ? null : toRound(f.round), body: fromHex(f.body),
      };
    case 'Event': {
      const [kind, k] = variant(f.kind);
      return { type, tick: f.tick, kind: { type: kind, ...k } };
    }
    case 'Kick': {
      const [reason, r] = variant(f.reason);
      return r.server === undefined
        ? { type, reason, message: f.message }
        : { type, reason, serverVersion: r.server, message: f.message };
    }
    default:
      return { type, ...Object.fromEntries(Object.entries(f).map(([k, v]) => [camel(k), v])) };
  }
}

/**
 * A world of snapshots.json in the SDK's shape.
 * @param {any} world
 * @returns {import('../index.js').World}
 */
export function toWorld(world) {
  return { tick: world.tick, round: toRound(world.round), entities: world.entities };
}

/**
 * The snapshot cases of shared/testdata/snapshots.json.
 * @returns {{ vector: string, tickRate: number, lastInput: number, baseline: import('../index.js').World | null,
 *   reference: import('../index.js').World | null, world: import('../index.js').World }[]}
 */
export function loadSnapshotCases() {
  const cases = JSON.parse(readFileSync(join(TESTDATA, 'snapshots.json'), 'utf8'));
  return cases.map((/** @type {any} */ c) => ({
    vector: c.vector, tickRate: c.tick_rate, lastInput: c.last_input,
    baseline: c.baseline && toWorld(c.baseline), reference: c.reference && toWorld(c.reference), world: toWorld(c.world),
  }));
}

/**
 * The cases of shared/testdata/predictions.json: snapshots that pin the prediction rules of
 * PROTOCOL.md 6.2 (extrapolation, the velocity ramp, div's rounding), each with its bytes.
 * @returns {{ name: string, about: string, hex: string, tickRate: number, lastInput: number,
 *   baseline: import('../index.js').World | null, reference: import('../index.js').World | null,
 *   world: import('../index.js').World }[]}
 */
export function loadPredictionCases() {
  const cases = JSON.parse(readFileSync(join(TESTDATA, 'predictions.json'), 'utf8'));
  return cases.map((/** @type {any} */ c) => ({
    name: c.name, about: c.about, hex: c.hex, tickRate: c.tick_rate, lastInput: c.last_input,
    baseline: c.baseline && toWorld(c.baseline), reference: c.reference && toWorld(c.reference), world: toWorld(c.world),
  }));
}

/** @returns {{ name: string, direction: string, message: string, hex: string, value: any }[]} */
export function loadVectors() {
  return JSON.parse(readFileSync(join(TESTDATA, 'vectors.json'), 'utf8'));
}
