//! The structured inputs of the targets, each read from the front of the fuzzer's bytes and
//! written back by its `write` (for seeds). Targets on raw bytes (`client_message`,
//! `server_message`, `hello`, `server_url`) take the bytes as they are.

use arbitrary::{Arbitrary, Result, Unstructured};
use tickwire_client_embedded::ws::connection::MAX_FRAME_HEADER;
use tickwire_shared::Tick;
use tickwire_shared::delta::World;

use crate::Seed;
use crate::worlds::{read_world, write_listed};

/// What is left of the input, as bytes.
fn rest(u: &mut Unstructured<'_>) -> Result<Vec<u8>> {
    Ok(u.bytes(u.len())?.to_vec())
}

/// Split points: a `u8` count (at most 32), then each as a `u16`. A target reduces them
/// modulo the length of what it splits.
fn cuts(u: &mut Unstructured<'_>) -> Result<Vec<u16>> {
    let count = usize::from(u.arbitrary::<u8>()? % 33);
    (0..count).map(|_| u.arbitrary()).collect()
}

fn write_cuts(seed: &mut Seed, cuts: &[u16]) {
    seed.u8(cuts.len() as u8);
    for &cut in cuts {
        seed.u16(cut);
    }
}

/// `snapshot_apply`: a server message (`decode_server` reads it) applied to a baseline and a
/// reference world, which take the ticks its header names.
#[derive(Debug, Clone, PartialEq)]
pub struct ApplyInput {
    /// The room's tick rate (0 is read as 1 by `apply`).
    pub tick_rate: u8,
    /// Which worlds the target passes: bit 0 set passes none (a full snapshot is then the
    /// only one that applies), bit 1 set leaves the reference out, bit 2 set passes the
    /// baseline one tick off. Mismatches must be refused with their own errors.
    pub given: u8,
    /// The baseline world (listed or bulk).
    pub baseline: World,
    /// The reference world (any mode; edited from the baseline).
    pub reference: World,
    /// The message, to the end of the input.
    pub message: Vec<u8>,
}

impl<'a> Arbitrary<'a> for ApplyInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let tick_rate = u.arbitrary()?;
        let given = u.arbitrary()?;
        let baseline = read_world(u, Tick(0), None)?;
        let reference = read_world(u, Tick(0), Some(&baseline))?;
        Ok(ApplyInput { tick_rate, given, baseline, reference, message: rest(u)? })
    }
}

impl ApplyInput {
    /// The input's bytes. The worlds' ticks are not written (the header sets them).
    pub fn write(&self) -> Vec<u8> {
        let mut seed = Seed::new();
        seed.u8(self.tick_rate).u8(self.given);
        write_listed(&mut seed, &self.baseline);
        write_listed(&mut seed, &self.reference);
        seed.bytes(&self.message);
        seed.0
    }
}

/// `snapshot_roundtrip`: three successive worlds and the ages between them.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundtripInput {
    /// The room's tick rate.
    pub tick_rate: u8,
    /// The input sequence the header echoes.
    pub last_input: u32,
    /// Ticks from the baseline to `next`; 0: no baseline (a full snapshot). Only 1 to 255 can
    /// be encoded.
    pub baseline_age: u16,
    /// Ticks from the reference to the baseline; 0: no reference. Only 1 to 255 can be
    /// encoded.
    pub reference_age: u16,
    /// The oldest world (listed or bulk), at `baseline.tick - reference_age`.
    pub reference: World,
    /// Edited from the reference, at `next.tick - baseline_age`.
    pub baseline: World,
    /// Edited from the baseline: the world to send.
    pub next: World,
}

impl<'a> Arbitrary<'a> for RoundtripInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let tick_rate = u.arbitrary()?;
        let last_input = u.arbitrary()?;
        let tick: u32 = u.arbitrary()?;
        let baseline_age: u16 = u.arbitrary()?;
        let reference_age: u16 = u.arbitrary()?;
        // Ticks wrap like the encoder's arithmetic must not: an age that reaches past tick 0
        // names a later tick, which the encoder must refuse.
        let baseline_tick = Tick(tick.wrapping_sub(baseline_age.into()));
        let reference_tick = Tick(baseline_tick.0.wrapping_sub(reference_age.into()));
        let reference = read_world(u, reference_tick, None)?;
        let baseline = read_world(u, baseline_tick, Some(&reference))?;
        let next = read_world(u, Tick(tick), Some(&baseline))?;
        Ok(RoundtripInput {
            tick_rate,
            last_input,
            baseline_age,
            reference_age,
            reference,
            baseline,
            next,
        })
    }
}

impl RoundtripInput {
    /// The input's bytes (worlds listed).
    pub fn write(&self) -> Vec<u8> {
        let mut seed = Seed::new();
        seed.u8(self.tick_rate).u32(self.last_input).u32(self.next.tick.0);
        seed.u16(self.baseline_age).u16(self.reference_age);
        write_listed(&mut seed, &self.reference);
        write_listed(&mut seed, &self.baseline);
        write_listed(&mut seed, &self.next);
        seed.0
    }
}

/// `ws_deframer`: a byte stream from the server, buffer sizes and where the network splits
/// the stream.
#[derive(Debug, Clone, PartialEq)]
pub struct DeframerInput {
    /// Receive buffer, [`MAX_FRAME_HEADER`] to 1024 bytes: the deframer needs room for a whole
    /// frame header (`Buffers` asks for far more).
    pub rx_len: usize,
    /// Message buffer, 0 to 1024 bytes.
    pub msg_len: usize,
    /// Where reads end (modulo the stream's length + 1).
    pub cuts: Vec<u16>,
    /// The stream, to the end of the input.
    pub stream: Vec<u8>,
}

impl<'a> Arbitrary<'a> for DeframerInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let rx_len =
            MAX_FRAME_HEADER + usize::from(u.arbitrary::<u16>()?) % (1025 - MAX_FRAME_HEADER);
        let msg_len = usize::from(u.arbitrary::<u16>()? % 1025);
        let cuts = cuts(u)?;
        Ok(DeframerInput { rx_len, msg_len, cuts, stream: rest(u)? })
    }
}

impl DeframerInput {
    /// The input's bytes.
    pub fn write(&self) -> Vec<u8> {
        let mut seed = Seed::new();
        seed.u16((self.rx_len - MAX_FRAME_HEADER) as u16).u16(self.msg_len as u16);
        write_cuts(&mut seed, &self.cuts);
        seed.bytes(&self.stream);
        seed.0
    }
}

/// `ws_handshake_response`: the server's answer to the upgrade, and where reads split it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResponseInput {
    /// Where reads end (modulo the response's length + 1).
    pub cuts: Vec<u16>,
    /// The response head (and whatever follows it), to the end of the input.
    pub response: Vec<u8>,
}

impl<'a> Arbitrary<'a> for ResponseInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let cuts = cuts(u)?;
        Ok(ResponseInput { cuts, response: rest(u)? })
    }
}

impl ResponseInput {
    /// The input's bytes.
    pub fn write(&self) -> Vec<u8> {
        let mut seed = Seed::new();
        write_cuts(&mut seed, &self.cuts);
        seed.bytes(&self.response);
        seed.0
    }
}

/// `upgrade_request`: an HTTP request head as a client sends it, and the server it reaches.
#[derive(Debug, Clone, PartialEq)]
pub struct UpgradeInput {
    /// Which server: bit 0 set has an Origin allowlist, bit 1 set is shutting down, bit 2
    /// set checks no subprotocol (the `/echo` route).
    pub server: u8,
    /// The request head (request line and headers), to the end of the input.
    pub head: Vec<u8>,
}

impl<'a> Arbitrary<'a> for UpgradeInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let server = u.arbitrary()?;
        Ok(UpgradeInput { server, head: rest(u)? })
    }
}

impl UpgradeInput {
    /// The input's bytes.
    pub fn write(&self) -> Vec<u8> {
        let mut seed = Seed::new();
        seed.u8(self.server).bytes(&self.head);
        seed.0
    }
}
