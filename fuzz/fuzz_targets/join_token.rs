//! Join tokens on the upgrade of `/ws`: `authorize` (the token taken from `?token=` or
//! `Authorization: Bearer`) and `JoinVerifier::verify`, for tokens a backend minted with any
//! claims, tokens signed with another key, with the server's public key as an HMAC secret
//! (algorithm confusion) or not at all, tokens edited on the way, and any text at all.
//!
//! Invariants:
//! - a token the backend signed gets exactly what its claims say: `Expired` past `exp` and the
//!   30 s leeway, `NotYetValid` before `nbf` less the leeway, `Malformed` for a `sub` that is
//!   not a name of 1 to 24 bytes once trimmed, a `room` that is not a room name or a `role`
//!   that is not one, else a grant of that name, room and role;
//! - a token signed with any other key is `BadSignature`, with another algorithm than the
//!   server's key (HS256 against its Ed25519 public key) `WrongAlgorithm`; an unsigned one is
//!   refused; a token whose text changed in any way is refused, and so is any
//!   text that is not a token (no forgery);
//! - the token reaches the check unchanged however the client carries it: percent-encoded in
//!   the query among other parameters, or after the `Bearer` scheme in any case with any
//!   spaces; a non-empty `?token=` wins, an empty one is no token, none at all is `Missing`.
#![no_main]

use http::Request;
use jsonwebtoken::{EncodingKey, Header};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;
use tickwire_fuzz::inputs::TokenInput;
use tickwire_server::auth::{
    AuthError, JoinClaims, JoinGrant, JoinVerifier, LEEWAY_SECS, MintKey, mint, unix_now,
};
use tickwire_server::http::authorize;
use tickwire_shared::{MAX_NAME_LEN, Role};

const SECRET: &str = "the fuzz target's join secret";
const OTHER_SECRET: &str = "another join secret";

// Ed25519 test keys, made for this target (openssl genpkey -algorithm ed25519).
const PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIO1N4PwFqZmrLQKzDh9FEkmWD1Rt4irklqdiUW+9WI8v
-----END PRIVATE KEY-----
";
const PUBLIC_PEM: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEArlwFNArpg5/m3jH9pShosZUaXPGHwnbQODwn66UaDGk=
-----END PUBLIC KEY-----
";
const OTHER_PRIVATE_PEM: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEII2yfs+ZY74/CvwgI8t8aLk9ka4HdMIu9WLDKn9kAn++
-----END PRIVATE KEY-----
";

/// The servers' verifiers: HS256 and EdDSA (which reads its key from a file).
static VERIFIERS: LazyLock<[JoinVerifier; 2]> = LazyLock::new(|| {
    let path = std::env::temp_dir().join(format!("tickwire-fuzz-join-{}.pem", std::process::id()));
    std::fs::write(&path, PUBLIC_PEM).expect("temporary key file");
    let eddsa = JoinVerifier::from_public_key_file(&path).expect("the public key loads");
    let _ = std::fs::remove_file(&path);
    [JoinVerifier::from_secret(SECRET).expect("a secret"), eddsa]
});

fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().fold(0u32, |n, &b| n << 8 | u32::from(b)) << (8 * (3 - chunk.len()));
        for i in 0..=chunk.len() {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// Percent-encodes all but RFC 3986's unreserved characters.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What the backend's claims must get, where the clock cannot make it either (`None`).
fn expected(claims: &JoinClaims, now: u64) -> Option<Result<JoinGrant, AuthError>> {
    // The server's clock reads `now` to `now + DOUBT` (it ticks while the token is minted and
    // checked): `exp` is past when `exp + leeway` is below it, `nbf` ahead when `nbf - leeway`
    // is above it; in between either answer is right.
    const DOUBT: u64 = 2;
    let leeway = LEEWAY_SECS;
    if claims.exp + leeway < now {
        return Some(Err(AuthError::Expired));
    }
    if claims.exp + leeway < now + DOUBT {
        return None;
    }
    if let Some(nbf) = claims.nbf {
        if nbf > now + DOUBT + leeway {
            return Some(Err(AuthError::NotYetValid));
        }
        if nbf > now + leeway {
            return None;
        }
    }
    let name = claims.sub.trim();
    let malformed = Some(Err(AuthError::Malformed(String::new())));
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return malformed;
    }
    let room_ok = |room: &str| {
        (1..=16).contains(&room.len())
            && room.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    };
    if claims.room.as_deref().is_some_and(|room| !room_ok(room)) {
        return malformed;
    }
    let role = match claims.role.as_deref() {
        None => None,
        Some("player") => Some(Role::Player),
        Some("spectator") => Some(Role::Spectator),
        Some("controller") => Some(Role::Controller),
        Some(_) => return malformed,
    };
    Some(Ok(JoinGrant {
        name: tickwire_shared::Name::try_from_str(name).expect("checked"),
        room: claims.room.as_deref().map(tickwire_shared::RoomName::truncated),
        role,
        by_previous_key: false,
    }))
}

/// The same outcome, `Malformed`'s message aside.
fn same(got: &Result<JoinGrant, AuthError>, want: &Result<JoinGrant, AuthError>) -> bool {
    match (got, want) {
        (Err(AuthError::Malformed(_)), Err(AuthError::Malformed(_))) => true,
        _ => got == want,
    }
}

/// The claims' time, `offset` seconds from `now`, clamped to the epoch.
fn at(now: u64, offset: i32) -> u64 {
    now.saturating_add_signed(offset.into())
}

fuzz_target!(|input: TokenInput| {
    let eddsa = input.key & 1 != 0;
    let verifier = &VERIFIERS[usize::from(eddsa)];
    let now = unix_now();
    let claims = JoinClaims {
        sub: input.sub.clone(),
        exp: at(now, input.exp),
        nbf: input.nbf.map(|nbf| at(now, nbf)),
        room: input.room.clone(),
        role: input.role.clone(),
    };
    let signer = (input.key >> 1) & 3;
    let token = if input.key & 0x80 != 0 {
        input.sub.clone()
    } else {
        match (signer, eddsa) {
            (0, false) => mint(&claims, &MintKey::Secret(SECRET.into())),
            (0, true) => mint(&claims, &MintKey::Ed25519Pem(PRIVATE_PEM.into())),
            (1, false) => mint(&claims, &MintKey::Secret(OTHER_SECRET.into())),
            (1, true) => mint(&claims, &MintKey::Ed25519Pem(OTHER_PRIVATE_PEM.into())),
            (2, _) => {
                let key = EncodingKey::from_secret(PUBLIC_PEM.as_bytes());
                jsonwebtoken::encode(&Header::default(), &claims, &key)
            }
            _ => {
                let payload = serde_json::to_vec(&claims).expect("claims serialize");
                Ok(format!(
                    "{}.{}.",
                    base64url(br#"{"alg":"none","typ":"JWT"}"#),
                    base64url(&payload)
                ))
            }
        }
        .expect("a token is minted")
    };

    let verified = verifier.verify(&token);
    if input.key & 0x80 != 0 {
        assert!(verified.is_err(), "a forgery verified: {token:?} gave {verified:?}");
    } else if signer == 0 {
        if let Some(want) = expected(&claims, now) {
            assert!(same(&verified, &want), "{claims:?}: {verified:?}, expected {want:?}");
        }
    } else if signer == 3 {
        assert!(verified.is_err(), "an unsigned token verified: {verified:?}");
    } else if signer == 2 && eddsa {
        let confused = AuthError::WrongAlgorithm { token: "HS256".into(), server: "EdDSA".into() };
        assert_eq!(verified, Err(confused), "signed with the public key as an HMAC secret");
    } else {
        assert_eq!(verified, Err(AuthError::BadSignature), "signed otherwise");
    }

    // Edited on the way: any change of text is refused.
    let (position, byte, kind) = input.edit;
    let mut edited = token.clone().into_bytes();
    let position = usize::from(position) % (edited.len() + 1);
    match kind % 4 {
        1 if position < edited.len() => edited[position] = byte,
        2 => edited.insert(position, byte),
        3 if position < edited.len() => {
            edited.remove(position);
        }
        _ => {}
    }
    let edited = String::from_utf8_lossy(&edited).into_owned();
    let result = if edited == token { verified } else { verifier.verify(&edited) };
    if edited != token {
        assert!(result.is_err(), "{token:?} edited to {edited:?} verified: {result:?}");
    }

    // Carried on the upgrade request.
    let query_token = match input.carry & 3 {
        0 | 2 => Some(percent_encode(&edited)),
        _ if input.carry & 3 == 3 => Some(String::new()),
        _ => None,
    };
    let scheme = ["Bearer ", "bearer ", "BEARER ", "Bearer   "][usize::from(input.carry >> 2 & 3)];
    let header = matches!(input.carry & 3, 1..=3).then(|| format!("{scheme}{edited}"));
    // What the server can read of a header value: visible ASCII and tabs.
    let readable = |value: &str| value.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b));
    let mut uri = String::from("/ws");
    if let Some(token) = &query_token {
        let before = if input.carry & 16 != 0 { "room=lobby&tokens=no&" } else { "" };
        uri = format!("/ws?{before}token={token}&role=player");
    }
    let mut request = Request::get(uri);
    if let Some(header) = &header {
        request = request.header(http::header::AUTHORIZATION, header);
    }
    let Ok(request) = request.body(()) else {
        return; // not a header value: no client can send it
    };
    let carried = match (&query_token, &header) {
        (Some(query), _) if !query.is_empty() => Some(edited.as_str()),
        (_, Some(header)) if readable(header) && !edited.trim().is_empty() => Some(edited.trim()),
        _ => None,
    };
    let want = match carried {
        None => Err(AuthError::Missing),
        Some(carried) if carried == edited => result,
        Some(carried) => verifier.verify(carried),
    };
    let got = authorize(&request, verifier);
    assert!(same(&got, &want), "carried as {:?}: {got:?}, expected {want:?}", input.carry);
});
