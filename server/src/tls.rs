//! `https://` and `wss://` on the server's port: rustls (ring), a certificate and key from PEM
//! files, reloaded in place (on SIGHUP, see `server::run`) without dropping a connection.
//!
//! [`Certificates`] answers every TLS handshake with the key pair loaded last; a reload that
//! fails (a half-written file, a key that does not match) keeps serving the previous one and
//! says why in the log, so rotating certificates can never take the server down.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::ring::default_provider;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig as RustlsConfig};

/// Why a certificate and key could not be used. At start the server refuses to run (naming the
/// flag); on reload it keeps the previous pair.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The certificate file holds no PEM certificate.
    #[error("{0} holds no PEM certificate")]
    NoCertificate(PathBuf),
    /// A block of the certificate file cannot be read: usually a file caught half-written.
    /// Serving the blocks before it would drop the intermediates, and browsers would refuse
    /// the leaf alone.
    #[error("{path} holds a broken PEM block: {reason}")]
    BadCertificate {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        reason: String,
    },
    /// The key file holds no PEM private key (PKCS#8, PKCS#1 or SEC1).
    #[error("{path} holds no usable PEM private key: {reason}")]
    BadKey {
        /// The file.
        path: PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// The key does not belong to the certificate.
    #[error("the key does not match the certificate: {0}")]
    Mismatch(String),
}

/// The certificate files and the key pair loaded from them last.
#[derive(Debug)]
pub struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
}

impl Certificates {
    /// Loads `cert` (a PEM chain, leaf first) and `key` (PEM).
    pub fn load(cert: &Path, key: &Path) -> Result<Arc<Self>, TlsError> {
        let current = RwLock::new(Arc::new(certified_key(cert, key)?));
        Ok(Arc::new(Certificates { cert: cert.into(), key: key.into(), current }))
    }

    /// Reads the files again. New handshakes use the new pair; connections already open keep
    /// theirs. On an error the previous pair stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = Arc::new(certified_key(&self.cert, &self.key)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = fresh;
        Ok(())
    }

    /// A rustls acceptor that serves whatever pair is current, HTTP/1.1 over ALPN.
    pub fn acceptor(self: &Arc<Self>) -> TlsAcceptor {
        let config = RustlsConfig::builder_with_provider(Arc::new(default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| unreachable!("ring supports the default versions: {e}"))
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        let mut config = config;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// What is wrong with a PEM file, in words: the reader's own message shows the marker it
/// missed as a list of bytes (`[67, 69, 82, 84, ...]` for `CERTIFICATE`).
fn pem_reason(error: &pem::Error) -> String {
    match error {
        pem::Error::MissingSectionEnd { end_marker } => format!(
            "no `-----END {}-----` line after its BEGIN line (a file cut short, or caught half-written?)",
            String::from_utf8_lossy(end_marker).trim()
        ),
        pem::Error::IllegalSectionStart { line } => {
            format!("a malformed BEGIN line: `{}`", String::from_utf8_lossy(line).trim())
        }
        pem::Error::NoItemsFound => "no PEM block of the kind expected".into(),
        other => other.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.into(), source })
}

fn certified_key(cert: &Path, key: &Path) -> Result<CertifiedKey, TlsError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&read(cert)?)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadCertificate { path: cert.into(), reason: pem_reason(&e) })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.into()));
    }
    let bad_key = |reason: String| TlsError::BadKey { path: key.into(), reason };
    let private =
        PrivateKeyDer::from_pem_slice(&read(key)?).map_err(|e| bad_key(pem_reason(&e)))?;
    let signing = default_provider()
        .key_provider
        .load_private_key(private)
        .map_err(|e| bad_key(e.to_string()))?;
    let pair = CertifiedKey::new(chain, signing);
    match pair.keys_match() {
        Ok(()) => Ok(pair),
        // A key type rustls cannot check (it says so) is let through; a mismatch is not.
        Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::Unknown)) => Ok(pair),
        Err(e) => Err(TlsError::Mismatch(e.to_string())),
    }
}

/// The first byte of a TLS handshake record. A connection to the TLS port that starts with
/// anything else is plain HTTP (or garbage) and gets a plain-text 400 saying to use TLS.
pub const TLS_HANDSHAKE_RECORD: u8 = 0x16;

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let pair = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let (cert, key) = (dir.join(format!("{name}.crt")), dir.join(format!("{name}.key")));
        std::fs::write(&cert, pair.cert.pem()).unwrap();
        std::fs::write(&key, pair.signing_key.serialize_pem()).unwrap();
        (cert, key)
    }

    #[test]
    fn bad_files_are_named_and_a_failed_reload_keeps_the_pair() {
        let dir = std::env::temp_dir().join(format!("tickwire-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = write_pair(&dir, "a");
        let (_, other_key) = write_pair(&dir, "b");
        let missing = dir.join("missing.pem");
        assert!(matches!(Certificates::load(&missing, &key), Err(TlsError::Read { .. })));
        assert!(matches!(Certificates::load(&key, &key), Err(TlsError::NoCertificate(_))));
        assert!(matches!(Certificates::load(&cert, &cert), Err(TlsError::BadKey { .. })));
        assert!(matches!(Certificates::load(&cert, &other_key), Err(TlsError::Mismatch(_))));

        let certificates = Certificates::load(&cert, &key).unwrap();
        let before = certificates.current.read().unwrap().clone();
        std::fs::write(&cert, "not a certificate").unwrap();
        assert!(certificates.reload().is_err());
        assert!(Arc::ptr_eq(&before, &certificates.current.read().unwrap()), "kept");
        // Caught half-written: the leaf is whole, the intermediate after it is cut off.
        let (leaf, _) = write_pair(&dir, "d");
        let (second, _) = write_pair(&dir, "e");
        let leaf = std::fs::read_to_string(leaf).unwrap();
        let second = std::fs::read_to_string(second).unwrap();
        std::fs::write(&cert, format!("{leaf}{}", &second[..second.len() / 2])).unwrap();
        let error = certificates.reload().unwrap_err();
        assert!(matches!(error, TlsError::BadCertificate { .. }), "{error}");
        // In words an operator reads, not the marker's bytes.
        assert!(
            error.to_string().ends_with(
                "holds a broken PEM block: no `-----END CERTIFICATE-----` line after its BEGIN \
                 line (a file cut short, or caught half-written?)"
            ),
            "{error}"
        );
        assert!(Arc::ptr_eq(&before, &certificates.current.read().unwrap()), "kept");
        let (fresh_cert, fresh_key) = write_pair(&dir, "c");
        std::fs::copy(&fresh_cert, &cert).unwrap();
        std::fs::copy(&fresh_key, &key).unwrap();
        certificates.reload().unwrap();
        assert!(!Arc::ptr_eq(&before, &certificates.current.read().unwrap()), "replaced");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
