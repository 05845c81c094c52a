//! The arena game's meanings of [`EntityState`](crate::EntityState)'s open fields
//! (PROTOCOL.md section 5, `Snapshot`): the `kind` of an entity, the bits of its `flags`, and its ids.
//! The codec carries any values; these are what tickwire's own game sends, so that clients
//! name them instead of repeating numbers.

/// Entity kind of a ship (its `value`: the ship's score).
pub const KIND_SHIP: u8 = 0;
/// Entity kind of a pickup (its `value`: its worth).
pub const KIND_PICKUP: u8 = 1;
/// Flag bit: the entity is alive (set on every entity the arena sends).
pub const FLAG_ALIVE: u8 = 1 << 0;
/// Flag bit: the ship holds boost.
pub const FLAG_BOOSTING: u8 = 1 << 1;
/// Flag bit: the ship just (re)spawned and passes through other ships.
pub const FLAG_INVULNERABLE: u8 = 1 << 2;
/// Entity id of pickup slot 0; slot `i` is `PICKUP_ID_BASE + i`. A ship's entity id is its
/// player id.
pub const PICKUP_ID_BASE: u32 = 100_000;
