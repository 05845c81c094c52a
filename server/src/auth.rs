//! Who may join: signed join tokens (JWT) that a game backend mints.
//!
//! With `--join-secret` (HS256) or `--join-public-key` (EdDSA, Ed25519) every upgrade of `/ws`
//! must carry a token, as `?token=` (browsers cannot set headers on a WebSocket) or
//! `Authorization: Bearer`; a missing, expired or forged one is refused with 401 and a message
//! before any WebSocket exists. The token names the player (`sub`, which wins over the name in
//! `Hello`) and may pin the room (`room`) and the role (`role`), which the `Hello` must then
//! ask for. `exp` is required; `nbf` is honoured; a leeway of 30 s absorbs clock drift.
//! `--join-audience` and `--join-issuer` pin `aud` and `iss`; without an audience, a token that
//! names one is refused, as one minted for something else that shares the key. While a new key
//! rolls out, `--join-previous-secret` or `--join-previous-public-key` keeps the old one
//! accepted too ([`JoinVerifier::or_previous`]; SECURITY.md, "Rotating the join key"). Keys
//! given as files (`--join-secret-file`, the public keys) are read again at each SIGHUP
//! ([`JoinKeys`]), so a key rotates without a restart.
//!
//! [`mint`] writes tokens (the `tickwire-server mint-token` command uses it); SECURITY.md shows
//! how a backend in another language does.

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use tickwire_shared::{Name, Role, RoomName, is_valid_room_name};

/// Clock drift tolerated on `exp` and `nbf`, seconds: a token is taken until this long after
/// its `exp` and from this long before its `nbf` (SECURITY.md says so; `mint-token --help`
/// too). A backend's clock and the servers' commonly disagree by a few seconds, and a token
/// refused for that cannot be retried; 30 s more of a token's life costs little next to a
/// TTL of minutes or hours.
pub const LEEWAY_SECS: u64 = 30;

/// The shortest `--join-secret` the server does not warn about, in bytes: HS256's own key size
/// (RFC 7518 3.2). Anyone who sees one token (a player reading their own) can test guesses of
/// the secret offline, as fast as they can compute HMACs; 32 random bytes are out of reach.
pub const MIN_SECRET_BYTES: usize = 32;

/// Whether an HS256 secret is too short to withstand an offline guess (the server warns at
/// start; it still runs, as tests and local play use short ones).
pub fn is_weak_secret(secret: &str) -> bool {
    secret.len() < MIN_SECRET_BYTES
}

/// The claims every join token carries (`aud` and `iss` too when the server names them).
const REQUIRED_CLAIMS: [&str; 2] = ["exp", "sub"];

/// The claims of a join token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinClaims {
    /// The player's display name (at most 24 bytes); wins over `Hello.name`.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch (required).
    pub exp: u64,
    /// Not before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// The only room this token joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// The only role this token joins as: `player`, `spectator` or `controller`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<String>,
}

/// What a verified token allows, as the connection applies it to the `Hello`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinGrant {
    /// The name to join under.
    pub name: Name,
    /// The room the `Hello` must ask for, if pinned.
    pub room: Option<RoomName>,
    /// The role the `Hello` must ask for, if pinned.
    pub role: Option<Role>,
    /// Whether only the previous key verified the token (`tickwire_join_tokens_previous_key`):
    /// the backend still signs with the key being rotated out, or the token predates the
    /// switch.
    pub by_previous_key: bool,
}

/// Why a join token was refused (HTTP 401 with this message). The client should get a fresh
/// token from its backend; retrying the same one cannot help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `?token=` and no `Authorization: Bearer`.
    #[error("a join token is required: send it as ?token= or Authorization: Bearer")]
    Missing,
    /// The token's `exp` has passed.
    #[error("the join token has expired")]
    Expired,
    /// The token's `nbf` is still ahead.
    #[error("the join token is not valid yet")]
    NotYetValid,
    /// The signature does not verify.
    #[error("the join token's signature is invalid")]
    BadSignature,
    /// The token is signed with an algorithm no key of the server's checks (HS256 against an
    /// Ed25519 key, or the reverse): the backend and the server are set up with different
    /// kinds of key.
    #[error("the join token is signed with {token}, and this server checks {server} tokens")]
    WrongAlgorithm {
        /// The token's algorithm (`alg`).
        token: String,
        /// The algorithms of the server's keys.
        server: String,
    },
    /// Not a JWT, or its claims are not those of a join token.
    #[error("the join token is malformed: {0}")]
    Malformed(String),
    /// The token was minted for another audience or by another issuer than the server's
    /// `--join-audience` and `--join-issuer` name (the message says which).
    #[error("the join token is not for this server: {0}")]
    NotForUs(String),
}

/// Why a verification key could not be loaded (the binary stops, naming the flag).
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    /// Not an Ed25519 key in PEM.
    #[error("{0} is not an Ed25519 key in PEM: {1}")]
    BadKey(String, String),
    /// An empty secret would make every token trivially forgeable.
    #[error("the join secret must not be empty")]
    EmptySecret,
    /// A key file that holds nothing but whitespace: refused for the current key, no key for
    /// the previous one (emptied to end a rotation).
    #[error("the join key file {0} is empty")]
    EmptyFile(String),
    /// A secret file of more than one line: two secrets pasted into one file, where the
    /// previous one belongs in its own (`--join-previous-secret-file`).
    #[error(
        "the join secret file {0} holds {1} lines: it must hold one secret (the previous key \
         of a rotation goes in --join-previous-secret-file)"
    )]
    SecretLines(String, usize),
    /// Two flags (or variables) that each give the same key: one must go (an emptied
    /// variable counts as unset).
    #[error("{} are both set: give one of them (an empty variable counts as unset)", both_flags(.0))]
    TwoKeys(Vec<&'static str>),
    /// A previous key of a rotation without a current one: tokens would be checked by no key
    /// at all (an emptied `TICKWIRE_JOIN_PREVIOUS_SECRET` counts as unset, and is not this).
    #[error(
        "--join-previous-secret is set but no join key is (--join-secret, --join-secret-file \
         or --join-public-key): a previous key is accepted beside a current one, not alone"
    )]
    PreviousWithoutKey,
    /// A private key where the public key belongs.
    #[error(
        "{0} holds a private key: give the servers the public key (`openssl pkey -in \
         private.pem -pubout`), and keep the private key with the backend"
    )]
    PrivateKey(String),
}

/// `flags` with the variable each may come from (`--join-secret` is `TICKWIRE_JOIN_SECRET`):
/// the one an operator set is often the variable.
fn both_flags(flags: &[&str]) -> String {
    let named = flags.iter().map(|flag| {
        let variable = flag.trim_start_matches('-').replace('-', "_").to_uppercase();
        format!("{flag} (TICKWIRE_{variable})")
    });
    named.collect::<Vec<_>>().join(" and ")
}

/// The HS256 secret in the file at `path`, as the servers read it (`--join-secret-file`) and
/// `mint-token --secret-file` signs with it: the whitespace around it trimmed (the newline
/// `openssl rand -base64 32 > file` ends it with), one line, not empty.
pub fn read_secret_file(path: &Path) -> Result<String, KeyError> {
    let shown = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| KeyError::Read(shown.clone(), e))?;
    let secret = text.trim();
    match secret.lines().count() {
        0 => Err(KeyError::EmptyFile(shown)),
        1 => Ok(secret.to_owned()),
        lines => Err(KeyError::SecretLines(shown, lines)),
    }
}

/// Checks join tokens.
pub struct JoinVerifier {
    /// The key tokens are signed with, then an earlier one still accepted while a new key rolls
    /// out; each with the validation of its algorithm.
    keys: Vec<(DecodingKey, Validation)>,
    /// What each key's print hashes (its kind and the key itself), in the order of `keys`.
    key_material: Vec<Vec<u8>>,
    /// Each key's length in bytes when it is an HS256 secret, in the order of `keys`.
    secret_lengths: Vec<Option<usize>>,
    /// The audience and issuer tokens must name, which each print hashes too.
    claims: [Option<String>; 2],
    /// One print for each key ([`JoinVerifier::prints`]).
    prints: Vec<String>,
}

impl std::fmt::Debug for JoinVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let algorithms: Vec<_> = self.keys.iter().map(|(_, v)| &v.algorithms).collect();
        f.debug_struct("JoinVerifier").field("algorithms", &algorithms).finish()
    }
}

impl JoinVerifier {
    /// HS256 tokens signed with `secret`.
    pub fn from_secret(secret: &str) -> Result<Self, KeyError> {
        if secret.is_empty() {
            return Err(KeyError::EmptySecret);
        }
        let key = DecodingKey::from_secret(secret.as_bytes());
        let material = [b"hs256\0".as_slice(), secret.as_bytes()].concat();
        Ok(Self::new(key, Algorithm::HS256, material, Some(secret.len())))
    }

    /// HS256 tokens signed with the secret in the file at `path`, trimmed of the whitespace
    /// around it (the newline `openssl rand -base64 32 > file` ends it with). A backend that
    /// reads the same file must trim it alike.
    pub fn from_secret_file(path: &Path) -> Result<Self, KeyError> {
        Self::from_secret(&read_secret_file(path)?)
    }

    /// EdDSA (Ed25519) tokens, verified with the public key in the PEM file at `path`.
    pub fn from_public_key_file(path: &Path) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let pem = std::fs::read(path).map_err(|e| KeyError::Read(shown.clone(), e))?;
        if pem.trim_ascii().is_empty() {
            return Err(KeyError::EmptyFile(shown));
        }
        if pem.windows(11).any(|w| w == b"PRIVATE KEY") {
            return Err(KeyError::PrivateKey(shown));
        }
        let key = DecodingKey::from_ed_pem(&pem)
            .map_err(|e| KeyError::BadKey(shown.clone(), e.to_string()))?;
        let pem = String::from_utf8(pem).map_err(|e| KeyError::BadKey(shown, e.to_string()))?;
        // The key itself, not its file's line endings or blank lines: the same key set up on
        // two nodes must print alike.
        let body: String =
            pem.lines().map(str::trim).filter(|line| !line.starts_with("-----")).collect();
        let material = [b"eddsa\0".as_slice(), body.as_bytes()].concat();
        Ok(Self::new(key, Algorithm::EdDSA, material, None))
    }

    /// One key: `material` is what its print hashes, `secret_length` its length when it is
    /// an HS256 secret.
    fn new(
        key: DecodingKey,
        algorithm: Algorithm,
        material: Vec<u8>,
        secret_length: Option<usize>,
    ) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&REQUIRED_CLAIMS);
        let mut verifier = JoinVerifier {
            keys: vec![(key, validation)],
            key_material: vec![material],
            secret_lengths: vec![secret_length],
            claims: [None, None],
            prints: Vec::new(),
        };
        verifier.reprint();
        verifier
    }

    /// Fingerprints of how this verifier checks tokens, one for each key it accepts, the
    /// current key first: 16 hex digits of a SHA-256 of the key's kind, the key, and the
    /// audience and issuer tokens must name. They tell settings apart without telling them:
    /// the fleet's nodes compare theirs on every relay ([`crate::cluster::JOIN_HEADER`]), and
    /// the server logs them at start and at each reload, for an operator to compare.
    pub fn prints(&self) -> &[String] {
        &self.prints
    }

    /// The length in bytes of the current key (`false`) and the previous one (`true`) that
    /// are HS256 secrets, as read with this verifier: the server warns about short ones.
    pub fn secret_lengths(&self) -> impl Iterator<Item = (bool, usize)> + '_ {
        self.secret_lengths.iter().enumerate().filter_map(|(i, len)| Some((i > 0, (*len)?)))
    }

    /// Makes [`JoinVerifier::prints`] again, after the keys or the claims changed.
    fn reprint(&mut self) {
        use sha2::Digest;
        let print = |material: &Vec<u8>| {
            let mut hash = sha2::Sha256::new();
            hash.update(material);
            for claim in &self.claims {
                hash.update(b"\0");
                hash.update(claim.as_deref().unwrap_or("").as_bytes());
            }
            hash.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
        };
        self.prints = self.key_material.iter().map(print).collect();
    }

    /// Also accepts tokens that `previous` verifies (its key; the audience and issuer are
    /// this verifier's): the key being replaced, while a new one rolls out through a fleet.
    /// Tokens are tried with this verifier's key first.
    #[must_use]
    pub fn or_previous(mut self, previous: JoinVerifier) -> Self {
        let template = self.keys[0].1.clone();
        self.keys.extend(previous.keys.into_iter().map(|(key, validation)| {
            let mut theirs = template.clone();
            theirs.algorithms = validation.algorithms;
            (key, theirs)
        }));
        self.key_material.extend(previous.key_material);
        self.secret_lengths.extend(previous.secret_lengths);
        self.reprint();
        self
    }

    /// Tokens must name `audience` (`aud`) and `issuer` (`iss`) where given. Without an
    /// audience, a token that names one is refused (RFC 7519 4.1.3: a principal the audience
    /// does not name must reject it).
    #[must_use]
    pub fn expecting(mut self, audience: Option<&str>, issuer: Option<&str>) -> Self {
        let mut required = REQUIRED_CLAIMS.to_vec();
        required.extend(audience.map(|_| "aud"));
        required.extend(issuer.map(|_| "iss"));
        for (_, validation) in &mut self.keys {
            if let Some(audience) = audience {
                validation.set_audience(&[audience]);
            }
            if let Some(issuer) = issuer {
                validation.set_issuer(&[issuer]);
            }
            validation.set_required_spec_claims(&required);
        }
        self.claims = [audience.map(str::to_owned), issuer.map(str::to_owned)];
        self.reprint();
        self
    }

    /// Checks `token` and reads what it grants.
    pub fn verify(&self, token: &str) -> Result<JoinGrant, AuthError> {
        // A signature (or algorithm) that one key does not verify may be another's: its
        // claims are then judged by the key that does.
        let mut outcome = Err(AuthError::BadSignature);
        for (index, (key, validation)) in self.keys.iter().enumerate() {
            outcome = Self::verify_with(token, key, validation);
            if outcome != Err(AuthError::BadSignature) {
                return outcome.map(|grant| JoinGrant { by_previous_key: index > 0, ..grant });
            }
        }
        // Forged, or signed for another kind of key: an operator setting keys up tells the two
        // apart by this.
        let algorithms: Vec<Algorithm> =
            self.keys.iter().flat_map(|(_, v)| v.algorithms.iter().copied()).collect();
        match jsonwebtoken::decode_header(token) {
            Ok(header) if !algorithms.contains(&header.alg) => Err(AuthError::WrongAlgorithm {
                token: format!("{:?}", header.alg),
                server: algorithms
                    .iter()
                    .map(|a| format!("{a:?}"))
                    .collect::<Vec<_>>()
                    .join(" or "),
            }),
            _ => outcome,
        }
    }

    fn verify_with(
        token: &str,
        key: &DecodingKey,
        validation: &Validation,
    ) -> Result<JoinGrant, AuthError> {
        let data = jsonwebtoken::decode::<JoinClaims>(token, key, validation).map_err(|e| {
            match e.kind() {
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => {
                    AuthError::BadSignature
                }
                ErrorKind::InvalidAudience => AuthError::NotForUs(match &validation.aud {
                    Some(audience) => format!("`aud` does not name {audience:?}"),
                    None => "it names an audience (`aud`) and the server was started without \
                             --join-audience"
                        .into(),
                }),
                ErrorKind::InvalidIssuer => {
                    AuthError::NotForUs("`iss` is not the issuer the server expects".into())
                }
                ErrorKind::MissingRequiredClaim(claim) => {
                    AuthError::Malformed(format!("the `{claim}` claim is required"))
                }
                // The parser's message may quote the token (an unknown `alg`, whole):
                // told with its control characters escaped, and cut, as the log shows it.
                _ => AuthError::Malformed(crate::logging::Untrusted(e).to_string()),
            }
        })?;
        grant(&data.claims)
    }
}

/// The join keys in force: those read at start, then those of the last SIGHUP that read them
/// all without an error (`crate::server` reloads them). Each upgrade checks its token with
/// the keys in force as it comes; a player already in keeps their seat whatever the keys
/// become, as their token was checked once, at the door.
#[derive(Debug)]
pub struct JoinKeys {
    verifier: RwLock<Arc<JoinVerifier>>,
}

impl JoinKeys {
    /// Keys that check tokens as `verifier` does, until [`JoinKeys::replace`].
    pub fn new(verifier: JoinVerifier) -> Self {
        JoinKeys { verifier: RwLock::new(Arc::new(verifier)) }
    }

    /// The verifier in force. Held by the caller for one check: a reload meanwhile does not
    /// change a check half done.
    pub fn current(&self) -> Arc<JoinVerifier> {
        // A panic while the lock was held cannot leave a half-written `Arc` behind.
        self.verifier.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Puts `verifier` in force for every check from now on.
    pub fn replace(&self, verifier: JoinVerifier) {
        *self.verifier.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(verifier);
    }
}

/// What `claims` allow, or why they cannot be used.
fn grant(claims: &JoinClaims) -> Result<JoinGrant, AuthError> {
    let name = Name::try_from_str(claims.sub.trim())
        .ok()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| AuthError::Malformed("`sub` must be a name of 1 to 24 bytes".into()))?;
    let room = match &claims.room {
        Some(room) if is_valid_room_name(room) => Some(RoomName::truncated(room)),
        Some(room) => {
            return Err(AuthError::Malformed(format!("`room` {room:?} is not a room name")));
        }
        None => None,
    };
    let role = match claims.role.as_deref() {
        None => None,
        Some("player") => Some(Role::Player),
        Some("spectator") => Some(Role::Spectator),
        Some("controller") => Some(Role::Controller),
        Some(other) => {
            return Err(AuthError::Malformed(format!(
                "`role` {other:?} is not player, spectator or controller"
            )));
        }
    };
    Ok(JoinGrant { name, room, role, by_previous_key: false })
}

/// A signing key for [`mint`].
pub enum MintKey {
    /// HS256 with this secret.
    Secret(String),
    /// EdDSA with the Ed25519 private key in this PEM.
    Ed25519Pem(Vec<u8>),
}

/// Writes a join token: what a game backend does for each player it lets in.
pub fn mint(claims: &JoinClaims, key: &MintKey) -> Result<String, jsonwebtoken::errors::Error> {
    let (algorithm, key) = match key {
        MintKey::Secret(secret) => (Algorithm::HS256, EncodingKey::from_secret(secret.as_bytes())),
        MintKey::Ed25519Pem(pem) => (Algorithm::EdDSA, EncodingKey::from_ed_pem(pem)?),
    };
    jsonwebtoken::encode(&Header::new(algorithm), claims, &key)
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp_in: i64) -> JoinClaims {
        JoinClaims {
            sub: "ada".into(),
            exp: (unix_now() as i64 + exp_in) as u64,
            nbf: None,
            room: Some("lobby".into()),
            role: Some("player".into()),
        }
    }

    #[test]
    fn a_minted_token_verifies_and_grants_its_claims() {
        let verifier = JoinVerifier::from_secret("s3cret").unwrap();
        let token = mint(&claims(60), &MintKey::Secret("s3cret".into())).unwrap();
        let grant = verifier.verify(&token).unwrap();
        assert_eq!(grant.name.as_str(), "ada");
        assert_eq!(grant.room.map(|r| r.to_string()), Some("lobby".into()));
        assert_eq!(grant.role, Some(Role::Player));
    }

    /// A secret file as `openssl rand -base64 32 > file` or a mounted Kubernetes Secret leaves
    /// it: the whitespace around the secret is not part of it, so the file's secret signs as
    /// the same secret given inline, and prints alike; one of whitespace alone is refused
    /// naming the file, as is one that is not there.
    #[test]
    fn a_secret_file_is_its_trimmed_secret_and_an_empty_one_is_refused() {
        let dir = std::env::temp_dir().join(format!("tickwire-secret-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("join.secret");
        std::fs::write(&file, "  s3cret\r\n").unwrap();
        let from_file = JoinVerifier::from_secret_file(&file).unwrap();
        let token = mint(&claims(60), &MintKey::Secret("s3cret".into())).unwrap();
        assert!(from_file.verify(&token).is_ok());
        assert_eq!(from_file.prints(), JoinVerifier::from_secret("s3cret").unwrap().prints());
        std::fs::write(&file, " \n\t").unwrap();
        let empty = JoinVerifier::from_secret_file(&file).unwrap_err();
        assert!(matches!(&empty, KeyError::EmptyFile(path) if path.ends_with("join.secret")));
        assert!(empty.to_string().contains("join.secret"), "{empty}");
        let missing = JoinVerifier::from_secret_file(&dir.join("nope")).unwrap_err();
        assert!(matches!(&missing, KeyError::Read(path, _) if path.ends_with("nope")), "{missing}");
        // Two secrets pasted into one file (the old one meant for the previous key's file).
        std::fs::write(&file, "new-secret\nold-secret\n").unwrap();
        let pasted = JoinVerifier::from_secret_file(&file).unwrap_err();
        assert!(matches!(pasted, KeyError::SecretLines(_, 2)), "{pasted}");
        assert!(pasted.to_string().contains("--join-previous-secret-file"), "{pasted}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A public key file that is empty, or holds the private key, says so: not "not an Ed25519
    /// key", which sends an operator looking at the key's format.
    #[test]
    fn an_empty_or_private_public_key_file_says_what_it_holds() {
        let dir = std::env::temp_dir().join(format!("tickwire-pem-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("join.pub.pem");
        std::fs::write(&file, "\n").unwrap();
        let empty = JoinVerifier::from_public_key_file(&file).unwrap_err();
        assert!(matches!(&empty, KeyError::EmptyFile(path) if path.ends_with("join.pub.pem")));
        let private = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIPvmUFpPRAdL\n-----END PRIVATE KEY-----\n";
        std::fs::write(&file, private).unwrap();
        let refused = JoinVerifier::from_public_key_file(&file).unwrap_err();
        assert!(matches!(refused, KeyError::PrivateKey(_)), "{refused}");
        assert!(refused.to_string().contains("-pubout"), "{refused}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Prints tell keys, kinds and claims apart, are the same for the same settings, and follow
    /// the verifier as it is built: the previous key's print after the current one's, both
    /// with the audience expected.
    #[test]
    fn prints_follow_the_keys_and_the_claims_expected() {
        let print = |secret: &str| JoinVerifier::from_secret(secret).unwrap().prints().to_vec();
        assert_eq!(print("a"), print("a"));
        assert_ne!(print("a"), print("b"));
        assert_eq!(print("a").len(), 1);
        assert_eq!(print("a")[0].len(), 16);
        let expecting = |secret: &str| {
            JoinVerifier::from_secret(secret)
                .unwrap()
                .expecting(Some("game"), None)
                .prints()
                .to_vec()
        };
        assert_ne!(expecting("a"), print("a"));
        let rotating = JoinVerifier::from_secret("new")
            .unwrap()
            .or_previous(JoinVerifier::from_secret("old").unwrap())
            .expecting(Some("game"), None);
        assert_eq!(rotating.prints(), [expecting("new"), expecting("old")].concat());
        // Built the other way round, the previous key is printed with the claims checked too.
        let expected_first = JoinVerifier::from_secret("new")
            .unwrap()
            .expecting(Some("game"), None)
            .or_previous(JoinVerifier::from_secret("old").unwrap());
        assert_eq!(expected_first.prints(), rotating.prints());
        let lengths: Vec<(bool, usize)> = rotating.secret_lengths().collect();
        assert_eq!(lengths, [(false, 3), (true, 3)]);
    }

    /// What a SIGHUP does to the keys in force: a check that began keeps the verifier it took;
    /// every check from then on uses the new one.
    #[test]
    fn replaced_keys_check_every_token_from_then_on() {
        let keys = JoinKeys::new(JoinVerifier::from_secret("old").unwrap());
        let old = mint(&claims(60), &MintKey::Secret("old".into())).unwrap();
        let new = mint(&claims(60), &MintKey::Secret("new".into())).unwrap();
        let taken = keys.current();
        assert!(taken.verify(&old).is_ok() && taken.verify(&new).is_err());
        keys.replace(JoinVerifier::from_secret("new").unwrap());
        assert!(keys.current().verify(&new).is_ok());
        assert_eq!(keys.current().verify(&old), Err(AuthError::BadSignature));
        assert!(taken.verify(&old).is_ok(), "a check under way keeps its keys");
        assert_ne!(keys.current().prints(), taken.prints());
    }

    #[test]
    fn forged_expired_early_and_malformed_tokens_are_refused_with_their_reason() {
        let verifier = JoinVerifier::from_secret("s3cret").unwrap();
        let forged = mint(&claims(60), &MintKey::Secret("guess".into())).unwrap();
        assert_eq!(verifier.verify(&forged), Err(AuthError::BadSignature));
        let expired = mint(&claims(-120), &MintKey::Secret("s3cret".into())).unwrap();
        assert_eq!(verifier.verify(&expired), Err(AuthError::Expired));
        let mut early = claims(600);
        early.nbf = Some(unix_now() + 300);
        let early = mint(&early, &MintKey::Secret("s3cret".into())).unwrap();
        assert_eq!(verifier.verify(&early), Err(AuthError::NotYetValid));
        assert!(matches!(verifier.verify("not.a.jwt"), Err(AuthError::Malformed(_))));
        let mut bad_role = claims(60);
        bad_role.role = Some("admin".into());
        let bad_role = mint(&bad_role, &MintKey::Secret("s3cret".into())).unwrap();
        assert!(
            matches!(verifier.verify(&bad_role), Err(AuthError::Malformed(m)) if m.contains("admin"))
        );
        // An empty secret is refused outright.
        assert!(matches!(JoinVerifier::from_secret(""), Err(KeyError::EmptySecret)));
    }

    /// The parser quotes an unknown `alg` whole: a client's newline and escape codes would
    /// reach the 401 and the log line of the refusal as they are, and 16 KiB of it whole.
    #[test]
    fn a_malformed_tokens_own_text_is_told_escaped_and_cut() {
        let verifier = JoinVerifier::from_secret("s3cret").unwrap();
        let alg = format!("X\n2026-12-07T05:50:00Z ERROR forged\u{1b}[2J{}", "a".repeat(16_000));
        let header = serde_json::json!({ "alg": alg }).to_string();
        let token = format!("{}.{}.x", base64url(header.as_bytes()), base64url(b"{}"));
        let Err(AuthError::Malformed(told)) = verifier.verify(&token) else {
            panic!("refused as malformed")
        };
        assert!(told.contains("X\\n2026-12-07T05:50:00Z ERROR forged\\u{1b}[2J"), "{told}");
        assert!(!told.chars().any(char::is_control), "{told}");
        assert!(told.ends_with('…') && told.len() < 400, "cut: {} bytes", told.len());
    }

    /// Base64url without padding, as a JWT's parts are written.
    fn base64url(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut text = String::new();
        for chunk in bytes.chunks(3) {
            let word =
                chunk.iter().enumerate().fold(0u32, |w, (i, b)| w | u32::from(*b) << (16 - 8 * i));
            for i in 0..=chunk.len() {
                text.push(char::from(ALPHABET[(word >> (18 - 6 * i) & 63) as usize]));
            }
        }
        text
    }

    /// While a new key rolls out, tokens signed with the previous one still join, and are
    /// judged on their claims as any other (an expired one is expired, not forged); a token
    /// signed with neither is forged.
    #[test]
    fn a_previous_key_is_accepted_while_a_new_one_rolls_out() {
        let verifier = JoinVerifier::from_secret("new-secret")
            .unwrap()
            .or_previous(JoinVerifier::from_secret("old-secret").unwrap())
            .expecting(None, Some("backend"));
        let signed = |claims: &JoinClaims, secret: &str| {
            let key = EncodingKey::from_secret(secret.as_bytes());
            let issued =
                Provider { sub: &claims.sub, exp: claims.exp, aud: None, iss: Some("backend") };
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &issued, &key).unwrap()
        };
        assert!(verifier.verify(&signed(&claims(60), "new-secret")).is_ok());
        assert!(verifier.verify(&signed(&claims(60), "old-secret")).is_ok());
        assert_eq!(verifier.verify(&signed(&claims(60), "other")), Err(AuthError::BadSignature));
        assert_eq!(verifier.verify(&signed(&claims(-120), "old-secret")), Err(AuthError::Expired));
        // The issuer the server expects holds for the previous key's tokens too.
        let unissued = mint(&claims(60), &MintKey::Secret("old-secret".into())).unwrap();
        assert!(
            matches!(verifier.verify(&unissued), Err(AuthError::Malformed(m)) if m.contains("iss"))
        );
    }

    /// SECURITY.md's promise: `exp` and `nbf` are checked with [`LEEWAY_SECS`] of leeway, no
    /// more and no less (a few seconds either side of the bound, so the clock ticking between
    /// minting and verifying cannot matter).
    #[test]
    fn exp_and_nbf_are_checked_with_the_documented_leeway() {
        let verifier = JoinVerifier::from_secret("s3cret").unwrap();
        let key = MintKey::Secret("s3cret".into());
        let leeway = LEEWAY_SECS as i64;
        let verify = |claims: JoinClaims| verifier.verify(&mint(&claims, &key).unwrap());
        assert!(verify(claims(-(leeway - 5))).is_ok(), "expired, within the leeway");
        assert_eq!(verify(claims(-(leeway + 5))), Err(AuthError::Expired));
        let not_before = |nbf_in: i64| JoinClaims {
            nbf: Some((unix_now() as i64 + nbf_in) as u64),
            ..claims(3600)
        };
        assert!(verify(not_before(leeway - 5)).is_ok(), "not yet valid, within the leeway");
        assert_eq!(verify(not_before(leeway + 5)), Err(AuthError::NotYetValid));
    }

    #[test]
    fn secrets_shorter_than_32_bytes_are_weak() {
        assert!(is_weak_secret(""));
        assert!(is_weak_secret("s3cret"));
        assert!(is_weak_secret(&"x".repeat(31)));
        assert!(!is_weak_secret(&"x".repeat(32)));
        // `openssl rand -base64 32`: 44 characters.
        assert!(!is_weak_secret("q1b0Vv6pQzq3m0Jt0yXh8yW5m5Qk3k0u9dQmN2x4e7Y="));
        // Bytes, not characters: 11 four-byte characters are 44 bytes.
        assert!(!is_weak_secret(&"\u{1F600}".repeat(11)));
        assert!(is_weak_secret(&"\u{1F600}".repeat(7)));
    }

    /// Claims with an audience and an issuer, as an identity provider mints them.
    #[derive(Serialize)]
    struct Provider<'a> {
        sub: &'a str,
        exp: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        aud: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        iss: Option<&'a str>,
    }

    fn provider_token(aud: Option<&str>, iss: Option<&str>) -> String {
        let claims = Provider { sub: "ada", exp: unix_now() + 60, aud, iss };
        let key = EncodingKey::from_secret(b"s3cret");
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &key).unwrap()
    }

    #[test]
    fn audience_and_issuer_are_checked_as_configured() {
        let plain = JoinVerifier::from_secret("s3cret").unwrap();
        assert!(plain.verify(&provider_token(None, Some("anyone"))).is_ok(), "iss unchecked");
        // A token for some other audience that shares the key is not a join token.
        let refused = plain.verify(&provider_token(Some("billing"), None));
        assert!(
            matches!(&refused, Err(AuthError::NotForUs(m)) if m.contains("--join-audience")),
            "{refused:?}"
        );

        let strict = JoinVerifier::from_secret("s3cret")
            .unwrap()
            .expecting(Some("tickwire"), Some("https://id.example"));
        let good = provider_token(Some("tickwire"), Some("https://id.example"));
        assert_eq!(strict.verify(&good).unwrap().name.as_str(), "ada");
        let other = strict.verify(&provider_token(Some("billing"), Some("https://id.example")));
        assert!(matches!(&other, Err(AuthError::NotForUs(m)) if m.contains("tickwire")));
        let issuer = strict.verify(&provider_token(Some("tickwire"), Some("https://evil")));
        assert!(matches!(&issuer, Err(AuthError::NotForUs(m)) if m.contains("iss")));
        let missing = strict.verify(&provider_token(None, Some("https://id.example")));
        assert!(matches!(&missing, Err(AuthError::Malformed(m)) if m.contains("aud")));
        let missing = strict.verify(&provider_token(Some("tickwire"), None));
        assert!(matches!(&missing, Err(AuthError::Malformed(m)) if m.contains("iss")));
    }
}
