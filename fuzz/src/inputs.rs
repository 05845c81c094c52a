//! The structured inputs of the targets, each read from the front of the fuzzer's bytes and
//! written back by its `write` (for seeds). Targets on raw bytes (`client_message`,
//! `server_message`, `hello`, `server_url`) take the bytes as they are.

use arbitrary::{Arbitrary, Result, Unstructured};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
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

/// `upgrade_request` and `http_headers`: an HTTP request head as a client sends it, and which
/// server it reaches.
#[derive(Debug, Clone, PartialEq)]
pub struct HeadInput {
    /// Which server, in bits each target reads its own way. `upgrade_request`: bit 0 set has
    /// an Origin allowlist, bit 1 set is shutting down, bit 2 set checks no subprotocol (the
    /// `/echo` route). `http_headers`: bit 0 set has `--public-url`, bit 1 set serves TLS
    /// (invites are `https://`), bit 2 set is bound to loopback (else to all interfaces), bits
    /// 4 and 5 pick the ETag the asset has.
    pub server: u8,
    /// The request head (request line and headers), to the end of the input.
    pub head: Vec<u8>,
}

impl<'a> Arbitrary<'a> for HeadInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let server = u.arbitrary()?;
        Ok(HeadInput { server, head: rest(u)? })
    }
}

impl HeadInput {
    /// The input's bytes.
    pub fn write(&self) -> Vec<u8> {
        let mut seed = Seed::new();
        seed.u8(self.server).bytes(&self.head);
        seed.0
    }
}

/// `fallback_records`: a POST body of the HTTP fallback (`POST /fallback/send`).
///
/// The body is written from pieces read until the input ends, each a tag byte and its fields:
/// tags 0 to 2 are a record (`first` byte: FIN, RSV and opcode as on the wire; `form`: bits
/// 0-1 the length encoding, 0 or 3 the shortest, 1 16-bit, 2 64-bit; bit 2 set: the mask bit
/// (with a key of 4 bytes, which the server refuses); bit 3 set: the 64-bit length's top bit;
/// a `u16` payload length, at most what is left, then the payload), tag 3 is raw bytes (a
/// `u8` count, then the bytes), which can break the records anywhere.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordsInput {
    /// The pieces of the body.
    pub pieces: Vec<RecordPiece>,
}

/// A piece of a [`RecordsInput`] body.
#[derive(Debug, Clone, PartialEq)]
pub enum RecordPiece {
    /// A record: its first byte, length form and payload.
    Record { first: u8, form: u8, payload: Vec<u8> },
    /// Bytes as they are.
    Raw(Vec<u8>),
}

impl<'a> Arbitrary<'a> for RecordsInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let mut pieces = Vec::new();
        while !u.is_empty() {
            let tag = u.arbitrary::<u8>()? % 4;
            pieces.push(if tag == 3 {
                let len = usize::from(u.arbitrary::<u8>()?).min(u.len());
                RecordPiece::Raw(u.bytes(len)?.to_vec())
            } else {
                let (first, form) = (u.arbitrary()?, u.arbitrary()?);
                let len = usize::from(u.arbitrary::<u16>()?).min(u.len());
                RecordPiece::Record { first, form, payload: u.bytes(len)?.to_vec() }
            });
        }
        Ok(RecordsInput { pieces })
    }
}

/// A frame's second byte (`mask_bit` and the length) and its extended length: `form & 3` of 1
/// forces the 16-bit form (cut short for a longer payload) and 2 the 64-bit one, either of
/// them perhaps longer than needed; anything else takes the shortest. `top` sets the 64-bit
/// form's top bit, which no valid length has.
fn push_len(out: &mut Vec<u8>, mask_bit: u8, len: usize, form: u8, top: bool) {
    match form & 3 {
        1 => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        2 => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64 | u64::from(top) << 63).to_be_bytes());
        }
        _ if len < 126 => out.push(mask_bit | len as u8),
        _ if len <= 0xffff => {
            out.push(mask_bit | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        _ => {
            out.push(mask_bit | 127);
            out.extend_from_slice(&(len as u64).to_be_bytes());
        }
    }
}

impl RecordsInput {
    /// The POST body the pieces make.
    pub fn body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in &self.pieces {
            match piece {
                RecordPiece::Raw(bytes) => out.extend_from_slice(bytes),
                RecordPiece::Record { first, form, payload } => {
                    let mask_bit = if form & 4 != 0 { 0x80 } else { 0 };
                    out.push(*first);
                    push_len(&mut out, mask_bit, payload.len(), *form, form & 8 != 0);
                    if mask_bit != 0 {
                        out.extend_from_slice(&[0x37, 0xfa, 0x21, 0x3d]);
                    }
                    out.extend_from_slice(payload);
                }
            }
        }
        out
    }

    /// The input's bytes.
    pub fn write(&self) -> Vec<u8> {
        let mut seed = Seed::new();
        for piece in &self.pieces {
            match piece {
                RecordPiece::Raw(bytes) => {
                    seed.u8(3).u8(bytes.len() as u8).bytes(bytes);
                }
                RecordPiece::Record { first, form, payload } => {
                    seed.u8(0).u8(*first).u8(*form).u16(payload.len() as u16).bytes(payload);
                }
            }
        }
        seed.0
    }
}

/// `frame_guard`: what a client sends the server, below tungstenite, and how reads split it.
///
/// The stream is written from pieces read until the input ends, each a tag byte and its
/// fields: tags 0 to 2 are a frame (`first` byte: FIN, RSV and opcode as on the wire; `form`:
/// bits 0-1 the length encoding, 0 or 3 the shortest, 1 16-bit, 2 64-bit, bit 2 set: no mask;
/// the mask key; a `u8` payload length, then the payload **unmasked**, which the writer masks,
/// so that the fuzzer edits the text the guard sees), tag 3 is raw bytes (a `u8` count, then
/// the bytes), which can break the framing anywhere.
#[derive(Debug, Clone, PartialEq)]
pub struct GuardInput {
    /// Bit 0 set: the echo endpoint's policy (text checked as UTF-8), else the game
    /// endpoint's (text refused).
    pub policy: u8,
    /// Bytes each read asks for, 1 to 4096.
    pub read_len: u16,
    /// Where the transport splits the stream (modulo its length + 1).
    pub cuts: Vec<u16>,
    /// The pieces of the stream.
    pub pieces: Vec<GuardPiece>,
}

/// A piece of a [`GuardInput`] stream.
#[derive(Debug, Clone, PartialEq)]
pub enum GuardPiece {
    /// A frame: its first byte, length form, mask key and unmasked payload.
    Frame { first: u8, form: u8, mask: [u8; 4], payload: Vec<u8> },
    /// Bytes as they are.
    Raw(Vec<u8>),
}

impl<'a> Arbitrary<'a> for GuardInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let policy = u.arbitrary()?;
        let read_len = 1 + u.arbitrary::<u16>()? % 4096;
        let cuts = cuts(u)?;
        let mut pieces = Vec::new();
        while !u.is_empty() {
            let tag = u.arbitrary::<u8>()? % 4;
            pieces.push(if tag == 3 {
                let len = usize::from(u.arbitrary::<u8>()?).min(u.len());
                GuardPiece::Raw(u.bytes(len)?.to_vec())
            } else {
                let (first, form, mask) = (u.arbitrary()?, u.arbitrary()?, u.arbitrary()?);
                let len = usize::from(u.arbitrary::<u8>()?).min(u.len());
                GuardPiece::Frame { first, form, mask, payload: u.bytes(len)?.to_vec() }
            });
        }
        Ok(GuardInput { policy, read_len, cuts, pieces })
    }
}

impl GuardInput {
    /// The byte stream the pieces make.
    pub fn stream(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for piece in &self.pieces {
            match piece {
                GuardPiece::Raw(bytes) => out.extend_from_slice(bytes),
                GuardPiece::Frame { first, form, mask, payload } => {
                    let masked = form & 4 == 0;
                    let mask_bit = if masked { 0x80 } else { 0 };
                    out.push(*first);
                    push_len(&mut out, mask_bit, payload.len(), *form, false);
                    let key = if masked { *mask } else { [0; 4] };
                    if masked {
                        out.extend_from_slice(mask);
                    }
                    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
                }
            }
        }
        out
    }

    /// The input's bytes.
    pub fn write(&self) -> Vec<u8> {
        let mut seed = Seed::new();
        seed.u8(self.policy).u16(self.read_len - 1);
        write_cuts(&mut seed, &self.cuts);
        for piece in &self.pieces {
            match piece {
                GuardPiece::Raw(bytes) => {
                    seed.u8(3).u8(bytes.len() as u8).bytes(bytes);
                }
                GuardPiece::Frame { first, form, mask, payload } => {
                    seed.u8(0).u8(*first).u8(*form).bytes(mask).u8(payload.len() as u8);
                    seed.bytes(payload);
                }
            }
        }
        seed.0
    }
}

/// `forwarded`: a deployment behind proxies. A client (the true address) reaches the server
/// through a chain of proxies, each appending the address it saw to the forwarding header the
/// deployment uses; before them, the client wrote whatever headers it liked.
#[derive(Debug, Clone, PartialEq)]
pub struct ForwardedInput {
    /// Bit 0: the proxies write `Forwarded` (else `X-Forwarded-For`). Bit 1: the server's
    /// socket reports an IPv4 peer as IPv4-mapped IPv6.
    pub deployment: u8,
    /// `--trusted-proxies`: addresses and prefix lengths (taken modulo the family's width + 1).
    pub trusted: Vec<(IpAddr, u8)>,
    /// The client's real address.
    pub client: IpAddr,
    /// The proxies from the client to the server, each with how it writes its hop (see
    /// [`ForwardedInput::headers`]); the last is the server's TCP peer. At least one.
    pub proxies: Vec<(IpAddr, u8)>,
    /// What the client sent: header (0 `X-Forwarded-For`, 1 `Forwarded`, else another
    /// header) and value, as bytes.
    pub sent: Vec<(u8, Vec<u8>)>,
}

fn ip(u: &mut Unstructured<'_>) -> Result<IpAddr> {
    Ok(if u.arbitrary::<u8>()? & 1 == 0 {
        IpAddr::V4(Ipv4Addr::from(u.arbitrary::<[u8; 4]>()?))
    } else {
        IpAddr::V6(Ipv6Addr::from(u.arbitrary::<[u8; 16]>()?))
    })
}

fn write_ip(seed: &mut Seed, ip: &IpAddr) {
    match ip {
        IpAddr::V4(v4) => seed.u8(0).bytes(&v4.octets()),
        IpAddr::V6(v6) => seed.u8(1).bytes(&v6.octets()),
    };
}

impl<'a> Arbitrary<'a> for ForwardedInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let deployment = u.arbitrary()?;
        let trusted = (0..u.arbitrary::<u8>()? % 5)
            .map(|_| Ok((ip(u)?, u.arbitrary()?)))
            .collect::<Result<_>>()?;
        let client = ip(u)?;
        let proxies = (0..1 + u.arbitrary::<u8>()? % 4)
            .map(|_| Ok((ip(u)?, u.arbitrary()?)))
            .collect::<Result<_>>()?;
        let mut sent = Vec::new();
        while !u.is_empty() {
            let header = u.arbitrary()?;
            let len = usize::from(u.arbitrary::<u8>()?).min(u.len());
            sent.push((header, u.bytes(len)?.to_vec()));
        }
        Ok(ForwardedInput { deployment, trusted, client, proxies, sent })
    }
}

impl ForwardedInput {
    /// The input's bytes.
    pub fn write(&self) -> Vec<u8> {
        let mut seed = Seed::new();
        seed.u8(self.deployment).u8(self.trusted.len() as u8);
        for (ip, prefix) in &self.trusted {
            write_ip(&mut seed, ip);
            seed.u8(*prefix);
        }
        write_ip(&mut seed, &self.client);
        seed.u8(self.proxies.len() as u8 - 1);
        for (ip, how) in &self.proxies {
            write_ip(&mut seed, ip);
            seed.u8(*how);
        }
        for (header, value) in &self.sent {
            seed.u8(*header).u8(value.len() as u8).bytes(value);
        }
        seed.0
    }

    /// True when the proxies write `Forwarded` (RFC 7239), false for `X-Forwarded-For`.
    pub fn uses_forwarded(&self) -> bool {
        self.deployment & 1 != 0
    }

    /// The request's headers as the server receives them: the client's (those that are valid
    /// header values: a proxy refuses a request with others), then each proxy's hop, written as `how` says: bit 0 set joins it to the
    /// last line of the header with `, ` (nginx's `$proxy_add_x_forwarded_for`), else a line
    /// of its own; bits 1-2 pick the form (`X-Forwarded-For`: the address, IPv6 in brackets,
    /// with a port; `Forwarded`: `for=` plain, quoted with a port, with other parameters
    /// around it, the key capitalized).
    pub fn headers(&self) -> http::HeaderMap {
        let name = |forwarded: bool| if forwarded { "forwarded" } else { "x-forwarded-for" };
        let mut lines: Vec<(&str, Vec<u8>)> = Vec::new();
        for (header, value) in &self.sent {
            let name = match header {
                0 => name(false),
                1 => name(true),
                _ => "x-real-ip",
            };
            // What no HTTP parser would take (control characters) never reaches a proxy.
            if http::HeaderValue::from_bytes(value).is_ok() {
                lines.push((name, value.clone()));
            }
        }
        let mut saw = self.client;
        for (proxy, how) in &self.proxies {
            let hop = hop_text(saw, self.uses_forwarded(), *how >> 1);
            let header = name(self.uses_forwarded());
            match lines.iter_mut().rev().find(|(n, _)| *n == header) {
                Some((_, line)) if how & 1 != 0 => {
                    line.extend_from_slice(b", ");
                    line.extend_from_slice(hop.as_bytes());
                }
                _ => lines.push((header, hop.into_bytes())),
            }
            saw = *proxy;
        }
        let mut headers = http::HeaderMap::new();
        for (name, value) in lines {
            let value = http::HeaderValue::from_bytes(&value).expect("a valid line, a hop added");
            headers.append(name, value);
        }
        headers
    }
}

/// How a proxy writes the address it saw.
fn hop_text(ip: IpAddr, forwarded: bool, form: u8) -> String {
    let bracketed = match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    };
    match (forwarded, form & 3) {
        (false, 0) => ip.to_string(),
        (false, 1) => bracketed,
        (false, _) => format!("{bracketed}:4711"),
        (true, 0) if ip.is_ipv4() => format!("for={ip}"),
        (true, 0 | 1) => format!("for=\"{bracketed}\""),
        (true, 2) => format!("proto=https;for=\"{bracketed}:4711\";by=10.0.0.1"),
        (true, _) => format!("For=\"{bracketed}\";host=game.example.com"),
    }
}

/// `join_token`: a join token as a game backend (or an attacker) writes it, how it is edited on
/// the way, and how the client carries it on the upgrade.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenInput {
    /// Bit 0: the server verifies EdDSA (else HS256). Bits 1-2, who signs: 0 the backend
    /// (the server's key), 1 another key of the same kind, 2 HS256 keyed with the server's
    /// public key PEM (algorithm confusion), 3 nobody (`alg: none`). Bit 7: no token is
    /// minted; `sub` is sent as the token, as it is.
    pub key: u8,
    /// The claims: `sub`, `room` and `role` (strings of up to 255 bytes, read lossily as UTF-8).
    pub sub: String,
    /// See `sub`.
    pub room: Option<String>,
    /// See `sub`.
    pub role: Option<String>,
    /// `exp` and `nbf`, seconds from now.
    pub exp: i32,
    /// See `exp`.
    pub nbf: Option<i32>,
    /// An edit of the token's text on the way: position (modulo its length + 1), byte, and
    /// kind (0 none, 1 replace, 2 insert, 3 delete).
    pub edit: (u16, u8, u8),
    /// Where the client puts it: bits 0-1, 0 `?token=`, 1 `Authorization`, 2 both, 3 an empty
    /// `?token=` and `Authorization`; bits 2-3 the scheme's spelling (`Bearer`, `bearer`,
    /// `BEARER`, `Bearer` and three spaces); bit 4 other query parameters before it.
    pub carry: u8,
}

fn text(u: &mut Unstructured<'_>) -> Result<String> {
    let len = usize::from(u.arbitrary::<u8>()?).min(u.len());
    Ok(String::from_utf8_lossy(u.bytes(len)?).into_owned())
}

fn optional_text(u: &mut Unstructured<'_>) -> Result<Option<String>> {
    Ok(if u.arbitrary::<u8>()? & 1 != 0 { Some(text(u)?) } else { None })
}

fn write_text(seed: &mut Seed, text: &str) {
    seed.u8(text.len() as u8).bytes(text.as_bytes());
}

fn write_optional_text(seed: &mut Seed, text: &Option<String>) {
    match text {
        Some(text) => {
            seed.u8(1);
            write_text(seed, text);
        }
        None => {
            seed.u8(0);
        }
    }
}

impl<'a> Arbitrary<'a> for TokenInput {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        Ok(TokenInput {
            key: u.arbitrary()?,
            exp: u.arbitrary()?,
            nbf: if u.arbitrary::<u8>()? & 1 != 0 { Some(u.arbitrary()?) } else { None },
            edit: u.arbitrary()?,
            carry: u.arbitrary()?,
            room: optional_text(u)?,
            role: optional_text(u)?,
            sub: text(u)?,
        })
    }
}

impl TokenInput {
    /// The input's bytes (strings of at most 255 bytes).
    pub fn write(&self) -> Vec<u8> {
        let mut seed = Seed::new();
        seed.u8(self.key).u32(self.exp as u32);
        match self.nbf {
            Some(nbf) => seed.u8(1).u32(nbf as u32),
            None => seed.u8(0),
        };
        seed.u16(self.edit.0).u8(self.edit.1).u8(self.edit.2).u8(self.carry);
        write_optional_text(&mut seed, &self.room);
        write_optional_text(&mut seed, &self.role);
        write_text(&mut seed, &self.sub);
        seed.0
    }
}
