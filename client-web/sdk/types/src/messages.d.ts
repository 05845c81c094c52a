/**
 * Encodes a client-to-server message.
 * @param {ClientMessage} m
 * @returns {Uint8Array}
 */
export function encodeClientMessage(m: ClientMessage): Uint8Array;
/**
 * Decodes a client-to-server message; throws {@link DecodeError}.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @returns {ClientMessage}
 */
export function decodeClientMessage(data: ArrayBuffer | ArrayBufferView): ClientMessage;
/**
 * Encodes a server-to-client message.
 * @param {ServerMessage} m
 * @returns {Uint8Array}
 */
export function encodeServerMessage(m: ServerMessage): Uint8Array;
/**
 * Decodes a server-to-client message; throws {@link DecodeError}.
 * @param {ArrayBuffer | ArrayBufferView} data
 * @returns {ServerMessage}
 */
export function decodeServerMessage(data: ArrayBuffer | ArrayBufferView): ServerMessage;
export type Role = "Player" | "Spectator" | "Controller";
export type KickReason = (typeof KICK_REASONS)[number];
export type Hello = {
    type: "Hello";
    /**
     * protocol version (`PROTOCOL_VERSION`)
     */
    version: number;
    role: Role;
    /**
     * display name, at most 24 UTF-8 bytes
     */
    name: string;
    /**
     * a room name, or null for matchmaking (`Any`)
     */
    room: string | null;
    /**
     * a resume token from an earlier `Welcome`
     */
    resume: Uint8Array | null;
};
export type Input = {
    type: "Input";
    seq: number;
    x: number;
    y: number;
    buttons: number;
};
export type Ack = {
    type: "Ack";
    tick: number;
};
export type Chat = {
    type: "Chat";
    text: string;
};
export type Ping = {
    type: "Ping";
    nonce: number;
};
export type ClientMessage = Hello | Input | Ack | Chat | Ping;
export type Welcome = {
    type: "Welcome";
    playerId: number;
    role: Role;
    room: string;
    /**
     * ticks per second
     */
    tickRate: number;
    /**
     * world units
     */
    world: {
        width: number;
        height: number;
    };
    /**
     * world units, 0: everything
     */
    viewRadius: number;
    /**
     * the ship this client steers
     */
    entity: number | null;
    /**
     * 16 bytes
     */
    resumeToken: Uint8Array;
    resumed: boolean;
};
export type EventKind = {
    type: "Joined";
    player: number;
    name: string;
    role: Role;
    score: number;
} | {
    type: "Left";
    player: number;
} | {
    type: "Scored";
    player: number;
    score: number;
} | {
    type: "RoundOver";
    round: number;
    winner: number | null;
    score: number;
} | {
    type: "Chat";
    from: number;
    name: string;
    text: string;
} | {
    type: "Audience";
    spectators: number;
};
export type GameEvent = {
    type: "Event";
    tick: number;
    kind: EventKind;
};
export type ControllerFeedback = {
    type: "ControllerFeedback";
    colour: [number, number, number];
    score: number;
    alive: boolean;
    rumble: number;
};
export type Pong = {
    type: "Pong";
    nonce: number;
    serverTick: number;
};
/**
 * `serverVersion` is present for `VersionMismatch` only.
 */
export type Kick = {
    type: "Kick";
    reason: KickReason;
    serverVersion?: number;
    message: string;
};
export type ServerMessage = Welcome | Snapshot | GameEvent | ControllerFeedback | Pong | Kick;
import { KICK_REASONS } from './constants.js';
import type { Snapshot } from './snapshot.js';
