//! HTTPS: the certificate chain and key from PEM files, served with rustls (ring provider), and
//! reloaded on SIGHUP. A reload swaps what new handshakes present; open connections keep
//! theirs. A file that cannot be read or does not match its key fails the start, and on reload
//! keeps the certificate in use (the log says why).

use std::path::Path;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio_rustls::TlsAcceptor;

use crate::config::TlsFiles;

/// The certificate new handshakes present; replaced whole on reload.
#[derive(Debug)]
pub struct CurrentCertificate {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    key: RwLock<Arc<CertifiedKey>>,
}

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.key.read().unwrap_or_else(|p| p.into_inner()).clone())
    }
}

/// Reads the chain and key and checks that they belong together.
fn load(files: &TlsFiles, provider: &CryptoProvider) -> anyhow::Result<CertifiedKey> {
    let read = |path: &Path, what: &str| {
        std::fs::read(path)
            .with_context(|| format!("cannot read the TLS {what} {}", path.display()))
    };
    let cert_pem = read(&files.cert, "certificate")?;
    let key_pem = read(&files.key, "key")?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", files.cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no PEM certificate",
        files.cert.display()
    );
    let key = PrivateKeyDer::from_pem_slice(&key_pem).with_context(|| {
        format!(
            "{} holds no PEM private key (PKCS#8, PKCS#1 or SEC1)",
            files.key.display()
        )
    })?;
    CertifiedKey::from_der(chain, key, provider).with_context(|| {
        format!(
            "the key {} does not fit the certificate {}",
            files.key.display(),
            files.cert.display()
        )
    })
}

impl CurrentCertificate {
    /// Loads the files; an error names the file and what is wrong with it.
    pub fn load(files: &TlsFiles) -> anyhow::Result<Arc<Self>> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = load(files, &provider)?;
        Ok(Arc::new(Self {
            files: files.clone(),
            provider,
            key: RwLock::new(Arc::new(key)),
        }))
    }

    /// Reads the files again; on success new handshakes use them, on failure the certificate
    /// in use stays.
    pub fn reload(&self) -> anyhow::Result<()> {
        let key = load(&self.files, &self.provider)?;
        *self.key.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(key);
        Ok(())
    }

    /// The acceptor every connection's handshake goes through: TLS 1.2 and 1.3, HTTP/1.1 only.
    pub fn acceptor(self: &Arc<Self>) -> anyhow::Result<TlsAcceptor> {
        let mut config = rustls::ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .context("the TLS provider supports no protocol version")?
            .with_no_client_auth()
            .with_cert_resolver(self.clone());
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(TlsAcceptor::from(Arc::new(config)))
    }

    /// Reloads on every SIGHUP until the task is dropped.
    pub fn reload_on_sighup(self: Arc<Self>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
        let mut hangups = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot listen for SIGHUP")?;
        Ok(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                match self.reload() {
                    Ok(()) => tracing::info!(
                        "SIGHUP: reloaded the TLS certificate {}",
                        self.files.cert.display()
                    ),
                    Err(e) => tracing::warn!(
                        "SIGHUP: kept the TLS certificate in use, the new one cannot be used: {e:#}"
                    ),
                }
            }
        }))
    }
}
