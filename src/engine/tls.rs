//! An instance's TLS settings as the engines use them: the mode, the CA it trusts (or the
//! system's roots), and what connecting has learned about the server, shared by every
//! connection to it (the lifeline, KILL batches, the KILL QUERY connection).

use std::sync::{Arc, Mutex, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::{self, SectionKind};
use sha2::{Digest, Sha256};

use crate::domain::TlsMode;

/// Longest `tls_ca` accepted: a bundle of a few dozen certificates.
pub const MAX_CA_PEM_BYTES: usize = 64 * 1024;

#[derive(Clone, Debug, Default)]
pub struct TargetTls {
    pub mode: TlsMode,
    /// PEM of the CA `verify_ca` / `verify_identity` trust; `None`: the system's roots.
    pub ca: Option<Arc<str>>,
    learned: Arc<Mutex<Learned>>,
}

/// What one connection found out that the next one should not have to find out again.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Learned {
    /// `preferred` met a server without TLS: later connections go plain at once.
    pub server_lacks_tls: bool,
    /// `verify_ca`: a name the server's CA-verified certificate presents, checked in place of
    /// the host name (see `engine::mysql::tls`).
    pub certificate_name: Option<String>,
}

impl TargetTls {
    pub fn new(mode: TlsMode, ca: Option<&str>) -> Self {
        Self {
            mode,
            ca: ca.map(Arc::from),
            learned: Arc::default(),
        }
    }

    pub fn learned(&self) -> Learned {
        self.learned.lock().expect("not poisoned").clone()
    }

    pub fn learn(&self, update: impl FnOnce(&mut Learned)) {
        update(&mut self.learned.lock().expect("not poisoned"));
    }

    /// Changes with the mode or the CA: part of a driver's key, so a change gives new
    /// connections.
    pub fn fingerprint(&self) -> String {
        let ca = self
            .ca
            .as_deref()
            .map(|pem| hex::encode(Sha256::digest(pem.as_bytes())))
            .unwrap_or_default();
        format!("{}:{ca}", self.mode.as_str())
    }
}

/// The roots of the system's trust store (`/etc/ssl/certs` and friends), read once.
pub fn system_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!("system trust store: {e}");
        }
        if found.certs.is_empty() {
            tracing::warn!(
                "no certificate in the system trust store: verify_ca / verify_identity instances \
                 without tls_ca will trust only the bundled Mozilla roots"
            );
        }
        found.certs
    })
}

/// Checks a `tls_ca` as given: PEM with at least one CERTIFICATE, each usable as a trust
/// anchor, and nothing else (a private key pasted by mistake must not be stored). Returns how
/// many certificates it holds.
pub fn check_ca_pem(text: &str) -> Result<usize, String> {
    if text.len() > MAX_CA_PEM_BYTES {
        return Err(format!("longer than {MAX_CA_PEM_BYTES} bytes"));
    }
    let mut roots = RootCertStore::empty();
    for section in pem::SliceIter::<(SectionKind, Vec<u8>)>::new(text.as_bytes()) {
        let (kind, der) = section.map_err(|e| format!("not PEM: {e}"))?;
        if kind != SectionKind::Certificate {
            return Err(format!(
                "holds a {kind:?} PEM section; only CERTIFICATE sections belong here"
            ));
        }
        roots
            .add(CertificateDer::from(der))
            .map_err(|e| format!("a certificate is unusable as a CA: {e}"))?;
    }
    match roots.len() {
        0 => Err("holds no PEM CERTIFICATE section".into()),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    #[test]
    fn ca_pem_needs_certificates_and_nothing_else() {
        let one = ca_pem();
        assert_eq!(check_ca_pem(&one), Ok(1));
        assert_eq!(check_ca_pem(&format!("{one}\n{}", ca_pem())), Ok(2));
        assert!(check_ca_pem("").unwrap_err().contains("no PEM CERTIFICATE"));
        assert!(check_ca_pem("hello").unwrap_err().contains("no PEM"));
        let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
        let with_key = check_ca_pem(&format!("{one}{key}")).unwrap_err();
        assert!(with_key.contains("PrivateKey"), "{with_key}");
        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(check_ca_pem(junk).unwrap_err().contains("unusable"));
        assert!(
            check_ca_pem(&"x".repeat(MAX_CA_PEM_BYTES + 1))
                .unwrap_err()
                .contains("longer")
        );
    }

    #[test]
    fn clones_share_what_was_learned_and_fingerprints_follow_the_settings() {
        let a = TargetTls::new(TlsMode::Preferred, None);
        let b = a.clone();
        b.learn(|l| l.server_lacks_tls = true);
        assert!(a.learned().server_lacks_tls);
        let with_ca = TargetTls::new(TlsMode::VerifyCa, Some("pem"));
        assert_ne!(a.fingerprint(), with_ca.fingerprint());
        assert_ne!(
            with_ca.fingerprint(),
            TargetTls::new(TlsMode::VerifyCa, Some("other")).fingerprint()
        );
        assert_eq!(a.fingerprint(), TargetTls::default().fingerprint());
    }
}
