/** @param {number} playerId @returns {string} the ship colour of a player, as `#rrggbb` */
export function playerColour(playerId: number): string;
/**
 * The longest start of `text` that fits in `maxBytes` of UTF-8, cut between code points: a
 * surrogate pair is kept or dropped whole (half of one would be written as U+FFFD, 3 bytes).
 * What a name (`LIMITS.name`) or a chat line (`LIMITS.chat`) is cut with, since the protocol
 * bounds them in bytes, not in characters.
 * @param {string} text
 * @param {number} maxBytes
 */
export function truncateUtf8(text: string, maxBytes: number): string;
/**
 * Whether `name` is a valid room name: 1 to 16 bytes of `A-Z a-z 0-9 - _ .`.
 * @param {string} name
 */
export function isValidRoomName(name: string): boolean;
/** The protocol version this SDK speaks; sent first in every `Hello`. Version 7 adds the kick
 * reason `Removed` (PROTOCOL.md 5). */
export const PROTOCOL_VERSION: 7;
/** The WebSocket subprotocol the server requires. It names the message family, not the version:
 * it stays `tickwire.v1` across protocol versions, so a mismatched client still hears why. */
export const SUBPROTOCOL: "tickwire.v1";
/** Largest client-to-server message, bytes. */
export const MAX_CLIENT_MESSAGE_SIZE: 256;
/** Largest server-to-client message (a snapshot), bytes. */
export const MAX_SERVER_MESSAGE_SIZE: number;
/** Most entities in the world a snapshot describes, and so most spawns in one; a baseline it
 * applies to holds at most as many (removals are not limited on their own). */
export const MAX_SNAPSHOT_ENTITIES: 1024;
/** World units per second of one step of a wire velocity (`EntityState.vel`): a wire velocity
 * `q` is `q * VELOCITY_STEP` units/s (protocol 5; it was 1 unit/s before). */
export const VELOCITY_STEP: 2;
/** Byte bounds of the protocol's strings. */
export const LIMITS: Readonly<{
    name: 24;
    room: 16;
    chat: 200;
    kick: 96;
}>;
/** `Buttons` bits. */
export const Buttons: Readonly<{
    BOOST: 1;
    ACTION: 2;
}>;
/** WebSocket close codes the server uses (PROTOCOL.md 7.4). */
export const CloseCode: Readonly<{
    NORMAL: 1000;
    GOING_AWAY: 1001;
    PROTOCOL_ERROR: 1002;
    UNSUPPORTED_DATA: 1003;
    ABNORMAL: 1006;
    INVALID_PAYLOAD: 1007;
    POLICY_VIOLATION: 1008;
    MESSAGE_TOO_BIG: 1009;
    INTERNAL_ERROR: 1011;
    /** Not sent by tickwire: a server or proxy restarting; the session takes it as `GOING_AWAY`. */
    SERVICE_RESTART: 1012;
    TRY_AGAIN_LATER: 1013;
    /** 1002 as a browser sends it: the WebSocket API lets a page close only with 1000 or
     * 3000-4999. Like 1002, it keeps the seat for the resume that follows (PROTOCOL.md 7.1). */
    BROWSER_PROTOCOL_ERROR: 4002;
    /** What the SDK closes a connection with when it gives up on it as dead (silent, or not
     * opened or welcomed in time) and resumes on a new one. The protocol names no code for it,
     * but any code other than 1000, 1001 or none keeps the seat (PROTOCOL.md 7.1 step 8), so a
     * server that still hears it waits for the resume. 4000 because the server's metrics count
     * every private code they do not name as 4000 (PROTOCOL.md 7.2): it shows there as itself. */
    BROWSER_TIMEOUT: 4000;
}>;
/** The roles a client can have, by wire index. */
export const ROLES: readonly ["Player", "Spectator", "Controller"];
/** Round phases, by wire index. */
export const PHASES: readonly ["Playing", "Intermission"];
/** Kick reasons, by wire index (PROTOCOL.md 5). `Removed` (10, protocol 7): an operator removed
 * the client from its room, or bans its address or name for a while; the message says which
 * and why, and the client does not rejoin on its own. */
export const KICK_REASONS: readonly ["VersionMismatch", "BadHello", "MalformedMessage", "Full", "ResumeRejected", "RateLimited", "Idle", "TooSlow", "Replaced", "ShuttingDown", "Removed"];
/** Event kinds, by wire index. */
export const EVENT_KINDS: readonly ["Joined", "Left", "Scored", "RoundOver", "Chat", "Audience"];
/** Arena entity kinds and flags (`tickwire_shared::arena` in Rust). */
export const Arena: Readonly<{
    KIND_SHIP: 0;
    KIND_PICKUP: 1;
    FLAG_ALIVE: 1;
    FLAG_BOOSTING: 2;
    FLAG_INVULNERABLE: 4;
    PICKUP_ID_BASE: 100000;
    /** Ship colours, indexed by `playerId % 10`; mirrors `arena::PALETTE`. */
    PALETTE: readonly string[];
}>;
