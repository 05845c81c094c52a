//! # tickwire-fuzz: the input formats of the fuzz targets
//!
//! The targets (`fuzz_targets/`) take structured inputs through [`arbitrary::Unstructured`],
//! read **from the front only** (integers little endian, a missing byte reads as 0), so that
//! [`Seed`] can write the same layout: `examples/seeds.rs` turns the golden vectors into seed
//! inputs with it, and [`check_seed`] proves each seed reads back as written.
//!
//! # Layout
//! - [`inputs`]: the structured input of each target (worlds and snapshots, server byte
//!   streams for the controller's deframer, client byte streams for the server's frame guard,
//!   handshake responses, upgrade requests, proxy deployments, join tokens, HTTP fallback
//!   POST bodies, request heads for the header parsers), and its writer.
//! - [`Seed`]: the writer of that layout.
//! - [`worlds`]: worlds in fuzz inputs: listed entity by entity, generated in bulk from a seed
//!   (to reach the 1024-entity limit), or edited from another world (so that successive worlds
//!   share entities, as a game's do).
//! - [`TestRng`]: the deterministic RNG the WebSocket codec asks for.

pub mod inputs;
pub mod worlds;

/// Writes fuzz inputs in the layout the targets read: integers little endian, in order.
#[derive(Debug, Default, Clone)]
pub struct Seed(pub Vec<u8>);

impl Seed {
    /// An empty input.
    pub fn new() -> Self {
        Seed(Vec::new())
    }

    /// A `u8`.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.0.push(v);
        self
    }

    /// A `u16`.
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A `u32`.
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A `u64`.
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// An `i16`.
    pub fn i16(&mut self, v: i16) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// Raw bytes (the rest of an input).
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.0.extend_from_slice(v);
        self
    }
}

/// Reads `seed` as a target would and checks it gives back `expected`: a seed that the target
/// reads as something else would seed nothing useful.
pub fn check_seed<'a, T>(seed: &'a [u8], expected: &T)
where
    T: arbitrary::Arbitrary<'a> + PartialEq + std::fmt::Debug,
{
    let read = T::arbitrary_take_rest(arbitrary::Unstructured::new(seed)).expect("seed reads");
    assert_eq!(&read, expected, "the seed reads back as written");
}

/// A deterministic `RngCore` (SplitMix64). The client codec wants one to mask what it sends;
/// reading, which is all the targets do, never calls it.
#[derive(Debug, Clone)]
pub struct TestRng(pub u64);

impl rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            *b = self.next_u64() as u8;
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

/// An unmasked (server to client) WebSocket frame.
pub fn server_frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![u8::from(fin) << 7 | opcode];
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
    out
}

/// A header value as the server can read it (`HeaderValue::to_str`): visible ASCII and tabs.
pub fn header_text(value: &[u8]) -> Option<&str> {
    value
        .iter()
        .all(|&b| b == b'\t' || (0x20..0x7f).contains(&b))
        .then(|| std::str::from_utf8(value).expect("ASCII"))
}

/// The request a parsed head becomes as hyper hands it to the router: `None` where hyper
/// answers 400 itself, unable to build one (a method, name or value it does not take).
pub fn hyper_request(parsed: &httparse::Request<'_, '_>) -> Option<http::Request<()>> {
    use http::{HeaderName, HeaderValue, Method, Version};
    let method = Method::from_bytes(parsed.method?.as_bytes()).ok()?;
    let version = if parsed.version? == 1 { Version::HTTP_11 } else { Version::HTTP_10 };
    let mut builder = http::Request::builder().method(method).version(version).uri(parsed.path?);
    for h in parsed.headers.iter() {
        let name = HeaderName::from_bytes(h.name.as_bytes()).ok()?;
        builder = builder.header(name, HeaderValue::from_bytes(h.value).ok()?);
    }
    builder.body(()).ok()
}
