// The bincode codec of every message (PROTOCOL.md 4 and 5), both directions: clients encode
// `ClientMessage`s and decode `ServerMessage`s; the reverse pair serves tests and mock servers.

import { DecodeError, EncodeError } from './errors.js';
import { Reader, Writer, asBytes } from './wire.js';
import {
  EVENT_KINDS, KICK_REASONS, LIMITS, MAX_CLIENT_MESSAGE_SIZE, MAX_SERVER_MESSAGE_SIZE, ROLES,
} from './constants.js';
import { readSnapshot, writeSnapshot } from './snapshot.js';

/** @import { Snapshot } from './snapshot.js' */
/** @typedef {'Player' | 'Spectator' | 'Controller'} Role */
/** @typedef {typeof KICK_REASONS[number]} KickReason */

/**
 * @typedef {object} Hello
 * @property {'Hello'} type
 * @property {number} version protocol version (`PROTOCOL_VERSION`)
 * @property {Role} role
 * @property {string} name display name, at most 24 UTF-8 bytes
 * @property {string | null} room a room name, or null for matchmaking (`Any`)
 * @property {Uint8Array | null} resume a resume token from an earlier `Welcome`
 */
/** @typedef {{ type: 'Input', seq: number, x: number, y: number, buttons: number }} Input */
/** @typedef {{ type: 'Ack', tick: number }} Ack */
/** @typedef {{ type: 'Chat', text: string }} Chat */
/** @typedef {{ type: 'Ping', nonce: number }} Ping */
/** @typedef {Hello | Input | Ack | Chat | Ping} ClientMessage */

/**
 * @typedef {object} Welcome
 * @property {'Welcome'} type
 * @property {number} playerId
 * @property {Role} role
 * @property {string} room
 * @property {number} tickRate ticks per second
 * @property {{ width: number, height: number }} world world units
 * @property {number} viewRadius world units, 0: everything
 * @property {number | null} entity the ship this client steers
 * @property {Uint8Array} resumeToken 16 bytes
 * @property {boolean} resumed
 */
/**
 * @typedef {{ type: 'Joined', player: number, name: string, role: Role, score: number }
 *   | { type: 'Left', player: number }
 *   | { type: 'Scored', player: number, score: number }
 *   | { type: 'RoundOver', round: number, winner: number | null, score: number }
 *   | { type: 'Chat', from: number, name: string, text: string }
 *   | { type: 'Audience', spectators: number }} EventKind
 */
/** @typedef {{ type: 'Event', tick: number, kind: EventKind }} GameEvent */
/**
 * @typedef {{ type: 'ControllerFeedback', colour: [number, number, number], score: number,
 *   alive: boolean, rumble: number }} ControllerFeedback
 */
/** @typedef {{ type: 'Pong', nonce: number, serverTick: number }} Pong */
/**
 * @typedef {{ type: 'Kick', reason: KickReason, serverVersion?: number, message: string }} Kick
 * `serverVersion` is present for `VersionMismatch` only.
 */
/** @typedef {Welcome | Snapshot | GameEvent | ControllerFeedback | Pong | Kick} ServerMessage */

/** @param {Writer} w @param {string} role */
function writeRole(w, role) {
  const index = ROLES.indexOf(/** @type {Role} */ (role));
  if (index < 0) throw new EncodeError(`unknown role ${role}`);
  w.u32(index);
}

/** @param {Reader} r @returns {Role} */
function readRole(r) {
  const tag = r.tag();
  const role = ROLES[tag];
  if (role === undefined) throw new DecodeError('UnknownTag', `Role ${tag}`);
  return role;
}

/** @param {Writer} w @param {ArrayLike<number>} bytes @param {number} n */
function writeFixed(w, bytes, n) {
  if (bytes.length !== n) throw new EncodeError(`expected ${n} bytes, got ${bytes.length}`);
  w.bytes(bytes);
}

/**
 * Encodes a client-to-server message.
 * @param {ClientMessage} m
 * @returns {Uint8Array}
 */
export function encodeClientMessage(m) {
  const w = new Writer(32);
  switch (m.type) {
    case 'Hello':
      w.u32(0);
      w.u16(m.version);
      writeRole(w, m.role);
      w.string(m.name, LIMITS.name);
      if (m.room === null) {
        w.u32(0);
      } else {
        w.u32(1);
        w.string(m.room, LIMITS.room);
      }
      if (m.resume === null) {
        w.u8(0);
      } else {
        w.u8(1);
        writeFixed(w, m.resume, 16);
      }
      break;
    case 'Input':
      w.u32(1);
      w.u32(m.seq);
      w.i8(m.x);
      w.i8(m.y);
      w.u8(m.buttons);
      break;
    case 'Ack':
      w.u32(2);
      w.u32(m.tick);
      break;
    case 'Chat':
      w.u32(3);
      w.string(m.text, LIMITS.chat);
      break;
    case 'Ping':
      w.u32(4);
      w.u32(m.nonce);
      break;
    default:
      throw new EncodeError(`not a client message: ${/** @type {any} */ (m).type}`);
  }
  return w.finish();
}

/**
 * Decodes a client-to-server message; throws {@link DecodeError}.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @returns {ClientMessage}
 */
export function decodeClientMessage(data) {
  const bytes = asBytes(data);
  if (bytes.length > MAX_CLIENT_MESSAGE_SIZE) throw new DecodeError('TooLarge', `${bytes.length} bytes`);
  const r = new Reader(bytes);
  const tag = r.tag();
  /** @type {ClientMessage} */
  let m;
  switch (tag) {
    case 0: {
      const version = r.u16();
      const role = readRole(r);
      const name = r.string(LIMITS.name);
      const roomTag = r.tag();
      if (roomTag > 1) throw new DecodeError('UnknownTag', `RoomRequest ${roomTag}`);
      const room = roomTag === 1 ? r.string(LIMITS.room) : null;
      const resume = r.option() ? r.fixed(16) : null;
      m = { type: 'Hello', version, role, name, room, resume };
      break;
    }
    case 1:
      m = { type: 'Input', seq: r.u32(), x: r.i8(), y: r.i8(), buttons: r.u8() };
      break;
    case 2:
      m = { type: 'Ack', tick: r.u32() };
      break;
    case 3:
      m = { type: 'Chat', text: r.string(LIMITS.chat) };
      break;
    case 4:
      m = { type: 'Ping', nonce: r.u32() };
      break;
    default:
      throw new DecodeError('UnknownTag', `ClientMessage ${tag}`);
  }
  r.end();
  return m;
}

/**
 * Encodes a server-to-client message.
 * @param {ServerMessage} m
 * @returns {Uint8Array}
 */
export function encodeServerMessage(m) {
  const w = new Writer(64);
  switch (m.type) {
    case 'Welcome':
      w.u32(0);
      w.u16(m.playerId);
      writeRole(w, m.role);
      w.string(m.room, LIMITS.room);
      w.u8(m.tickRate);
      w.u16(m.world.width);
      w.u16(m.world.height);
      w.u16(m.viewRadius);
      if (m.entity === null) {
        w.u8(0);
      } else {
        w.u8(1);
        w.u32(m.entity);
      }
      writeFixed(w, m.resumeToken, 16);
      w.bool(m.resumed);
      break;
    case 'Snapshot':
      w.u32(1);
      writeSnapshot(w, m);
      break;
    case 'Event': {
      w.u32(2);
      w.u32(m.tick);
      const k = m.kind;
      w.u32(EVENT_KINDS.indexOf(k.type));
      switch (k.type) {
        case 'Joined':
          w.u16(k.player);
          w.string(k.name, LIMITS.name);
          writeRole(w, k.role);
          w.u16(k.score);
          break;
        case 'Left':
          w.u16(k.player);
          break;
        case 'Scored':
          w.u16(k.player);
          w.u16(k.score);
          break;
        case 'RoundOver':
          w.u16(k.round);
          if (k.winner === null) {
            w.u8(0);
          } else {
            w.u8(1);
            w.u16(k.winner);
          }
          w.u16(k.score);
          break;
        case 'Chat':
          w.u16(k.from);
          w.string(k.name, LIMITS.name);
          w.string(k.text, LIMITS.chat);
          break;
        case 'Audience':
          w.u32(k.spectators);
          break;
        default:
          throw new EncodeError(`unknown event ${/** @type {any} */ (k).type}`);
      }
      break;
    }
    case 'ControllerFeedback':
      w.u32(3);
      writeFixed(w, m.colour, 3);
      w.u16(m.score);
      w.bool(m.alive);
      w.u8(m.rumble);
      break;
    case 'Pong':
      w.u32(4);
      w.u32(m.nonce);
      w.u32(m.serverTick);
      break;
    case 'Kick': {
      w.u32(5);
      const index = KICK_REASONS.indexOf(m.reason);
      if (index < 0) throw new EncodeError(`unknown kick reason ${m.reason}`);
      w.u32(index);
      if (m.reason === 'VersionMismatch') w.u16(m.serverVersion ?? 0);
      w.string(m.message, LIMITS.kick);
      break;
    }
    default:
      throw new EncodeError(`not a server message: ${/** @type {any} */ (m).type}`);
  }
  return w.finish();
}

/**
 * Decodes a server-to-client message; throws {@link DecodeError}.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @returns {ServerMessage}
 */
export function decodeServerMessage(data) {
  const bytes = asBytes(data);
  if (bytes.length > MAX_SERVER_MESSAGE_SIZE) throw new DecodeError('TooLarge', `${bytes.length} bytes`);
  const r = new Reader(bytes);
  const tag = r.tag();
  /** @type {ServerMessage} */
  let m;
  switch (tag) {
    case 0: {
      const playerId = r.u16();
      const role = readRole(r);
      const room = r.string(LIMITS.room);
      const tickRate = r.u8();
      const world = { width: r.u16(), height: r.u16() };
      const viewRadius = r.u16();
      const entity = r.option() ? r.u32() : null;
      const resumeToken = r.fixed(16);
      const resumed = r.bool();
      m = { type: 'Welcome', playerId, role, room, tickRate, world, viewRadius, entity, resumeToken, resumed };
      break;
    }
    case 1:
      m = readSnapshot(r);
      break;
    case 2: {
      const tick = r.u32();
      const kindTag = r.tag();
      /** @type {EventKind} */
      let kind;
      switch (kindTag) {
        case 0:
          kind = { type: 'Joined', player: r.u16(), name: r.string(LIMITS.name), role: readRole(r), score: r.u16() };
          break;
        case 1:
          kind = { type: 'Left', player: r.u16() };
          break;
        case 2:
          kind = { type: 'Scored', player: r.u16(), score: r.u16() };
          break;
        case 3:
          kind = { type: 'RoundOver', round: r.u16(), winner: r.option() ? r.u16() : null, score: r.u16() };
          break;
        case 4:
          kind = { type: 'Chat', from: r.u16(), name: r.string(LIMITS.name), text: r.string(LIMITS.chat) };
          break;
        case 5:
          kind = { type: 'Audience', spectators: r.u32() };
          break;
        default:
          throw new DecodeError('UnknownTag', `EventKind ${kindTag}`);
      }
      m = { type: 'Event', tick, kind };
      break;
    }
    case 3: {
      const colour = /** @type {[number, number, number]} */ (Array.from(r.fixed(3)));
      m = { type: 'ControllerFeedback', colour, score: r.u16(), alive: r.bool(), rumble: r.u8() };
      break;
    }
    case 4:
      m = { type: 'Pong', nonce: r.u32(), serverTick: r.u32() };
      break;
    case 5: {
      const reasonTag = r.tag();
      const reason = KICK_REASONS[reasonTag];
      if (reason === undefined) throw new DecodeError('UnknownTag', `KickReason ${reasonTag}`);
      if (reason === 'VersionMismatch') {
        const serverVersion = r.u16();
        m = { type: 'Kick', reason, serverVersion, message: r.string(LIMITS.kick) };
      } else {
        m = { type: 'Kick', reason, message: r.string(LIMITS.kick) };
      }
      break;
    }
    default:
      throw new DecodeError('UnknownTag', `ServerMessage ${tag}`);
  }
  r.end();
  return m;
}
