//! TLS to MySQL-family servers over mysql_async's rustls support: the [`SslOpts`] of each
//! `tls_mode`, and what a failed TLS connection means.
//!
//! `verify_ca` (chain checked, host name not) cannot use mysql_async's
//! `with_danger_skip_domain_validation`: in 0.37.1 it recognises a name mismatch by text that
//! rustls 0.23 no longer prints (blackbeam/mysql_async#404, fixed by #408 but unreleased), so it
//! has no effect. rustls checks the chain before the name, so a name mismatch proves the chain
//! good; dbkill then connects again, checking the name the certificate presents in place of the
//! host's. That second connection verifies the chain and that name in full, so a certificate
//! must still be issued by the trusted CA. A certificate with no subjectAltName presents no name
//! and cannot pass `verify_ca` this way (nor `verify_identity`: rustls never matches the CN).

use mysql_async::{DriverError, IoError, SslOpts};
use rustls::CertificateError;

use crate::domain::{TlsFailure, TlsMode};
use crate::engine::tls::{TargetTls, system_roots};

/// How one connection attempt uses TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum TlsPlan {
    Plain,
    /// TLS without checking the certificate (`preferred`, `required`).
    Unverified,
    /// TLS with the chain checked, and the host name, or this name in its place.
    Verified {
        name: Option<String>,
    },
}

impl TlsPlan {
    /// The first attempt's plan for `tls`, using what earlier connections learned.
    pub(super) fn first(tls: &TargetTls) -> Self {
        let learned = tls.learned();
        match tls.mode {
            TlsMode::Disabled => Self::Plain,
            TlsMode::Preferred if learned.server_lacks_tls => Self::Plain,
            TlsMode::Preferred | TlsMode::Required => Self::Unverified,
            TlsMode::VerifyCa => Self::Verified {
                name: learned.certificate_name,
            },
            TlsMode::VerifyIdentity => Self::Verified { name: None },
        }
    }

    pub(super) fn ssl_opts(&self, tls: &TargetTls) -> Option<SslOpts> {
        match self {
            Self::Plain => None,
            // The built-in roots stay: rustls refuses to build a verifier without any, though
            // it is never asked.
            Self::Unverified => Some(SslOpts::default().with_danger_accept_invalid_certs(true)),
            Self::Verified { name } => {
                let opts = match tls.ca.as_deref() {
                    Some(pem) => SslOpts::default()
                        .with_root_certs(vec![pem.as_bytes().to_vec().into()])
                        .with_disable_built_in_roots(true),
                    None if system_roots().is_empty() => SslOpts::default(),
                    None => SslOpts::default()
                        .with_root_certs(
                            system_roots()
                                .iter()
                                .map(|der| -> &'static [u8] { der.as_ref() })
                                .map(Into::into)
                                .collect(),
                        )
                        .with_disable_built_in_roots(true),
                };
                Some(match name {
                    Some(name) => opts.with_danger_tls_hostname_override(Some(name.clone())),
                    None => opts,
                })
            }
        }
    }
}

/// What went wrong at TLS, as far as connecting needs to know.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum TlsTrouble {
    /// Asked for TLS; the server's greeting offers none.
    NotOffered,
    /// The chain verified, the name did not: a name the certificate presents, if any, and
    /// rustls's words.
    NameMismatch {
        presented: Option<String>,
        detail: String,
    },
    Failed(TlsFailure),
}

/// The TLS trouble in `e`, if it is one.
pub(super) fn tls_trouble(e: &mysql_async::Error) -> Option<TlsTrouble> {
    let rustls_error = match e {
        mysql_async::Error::Driver(DriverError::NoClientSslFlagFromServer) => {
            return Some(TlsTrouble::NotOffered);
        }
        // A handshake failure comes through tokio-rustls as an io::Error wrapping rustls's.
        mysql_async::Error::Io(IoError::Io(io)) => io
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())?,
        mysql_async::Error::Io(IoError::Tls(mysql_async::TlsError::Tls(inner))) => inner,
        mysql_async::Error::Io(IoError::Tls(other)) => {
            return Some(TlsTrouble::Failed(TlsFailure::Handshake(other.to_string())));
        }
        _ => return None,
    };
    Some(match rustls_error {
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            presented,
            ..
        }) => TlsTrouble::NameMismatch {
            presented: presented.iter().find_map(|p| presented_name(p)),
            detail: rustls_error.to_string(),
        },
        rustls::Error::InvalidCertificate(CertificateError::NotValidForName) => {
            TlsTrouble::NameMismatch {
                presented: None,
                detail: rustls_error.to_string(),
            }
        }
        rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
            TlsTrouble::Failed(TlsFailure::Certificate(rustls_error.to_string()))
        }
        other => TlsTrouble::Failed(TlsFailure::Handshake(other.to_string())),
    })
}

/// A server name from one of rustls-webpki's renderings of a presented subjectAltName,
/// `DnsName("db.example")` or `IpAddress(10.0.0.5)`; a wildcard gets a label of ours.
fn presented_name(presented: &str) -> Option<String> {
    if let Some(dns) = presented
        .strip_prefix("DnsName(\"")
        .and_then(|r| r.strip_suffix("\")"))
    {
        return Some(match dns.strip_prefix("*.") {
            Some(parent) => format!("dbkill-verify-ca.{parent}"),
            None => dns.to_owned(),
        });
    }
    presented
        .strip_prefix("IpAddress(")
        .and_then(|r| r.strip_suffix(')'))
        .filter(|ip| ip.parse::<std::net::IpAddr>().is_ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use rustls::pki_types::ServerName;

    use super::*;

    fn name_mismatch(presented: &[&str]) -> mysql_async::Error {
        let e = rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext {
            expected: ServerName::try_from("127.0.0.1").unwrap(),
            presented: presented.iter().map(|s| s.to_string()).collect(),
        });
        std::io::Error::new(std::io::ErrorKind::InvalidData, e).into()
    }

    fn presented(e: &mysql_async::Error) -> Option<String> {
        match tls_trouble(e) {
            Some(TlsTrouble::NameMismatch { presented, detail }) => {
                assert!(detail.contains("not valid for name"), "{detail}");
                presented
            }
            other => panic!("not a name mismatch: {other:?}"),
        }
    }

    #[test]
    fn presented_names_become_server_names() {
        assert_eq!(
            presented(&name_mismatch(&["DnsName(\"db.internal\")"])).as_deref(),
            Some("db.internal")
        );
        assert_eq!(
            presented(&name_mismatch(&[
                "Unsupported(0x00)",
                "IpAddress(10.0.0.5)"
            ]))
            .as_deref(),
            Some("10.0.0.5")
        );
        assert_eq!(
            presented(&name_mismatch(&["DnsName(\"*.db.example\")"])).as_deref(),
            Some("dbkill-verify-ca.db.example")
        );
        assert_eq!(presented(&name_mismatch(&[])), None);
    }

    #[test]
    fn the_rendering_parsed_is_the_one_webpki_produces() {
        // Pins rustls-webpki's format of presented names: a certificate for one DNS name and one
        // IP, checked against a third name.
        let key = rcgen::KeyPair::generate().unwrap();
        let params =
            rcgen::CertificateParams::new(vec!["db.internal".into(), "10.1.2.3".into()]).unwrap();
        let cert = params.self_signed(&key).unwrap();
        let der = cert.der().clone();
        let mut roots = rustls::RootCertStore::empty();
        roots.add(der.clone()).unwrap();
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            std::sync::Arc::new(roots),
            std::sync::Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .unwrap();
        use rustls::client::danger::ServerCertVerifier;
        let err = verifier
            .verify_server_cert(
                &der,
                &[],
                &ServerName::try_from("127.0.0.1").unwrap(),
                &[],
                rustls::pki_types::UnixTime::now(),
            )
            .unwrap_err();
        let wrapped: mysql_async::Error =
            std::io::Error::new(std::io::ErrorKind::InvalidData, err).into();
        assert_eq!(presented(&wrapped).as_deref(), Some("db.internal"));
    }

    #[test]
    fn other_failures_name_tls() {
        let unknown_issuer: mysql_async::Error = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
        )
        .into();
        assert!(matches!(
            tls_trouble(&unknown_issuer),
            Some(TlsTrouble::Failed(TlsFailure::Certificate(d))) if d.contains("UnknownIssuer")
        ));
        let not_offered: mysql_async::Error = DriverError::NoClientSslFlagFromServer.into();
        assert_eq!(tls_trouble(&not_offered), Some(TlsTrouble::NotOffered));
        let plain_io: mysql_async::Error =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused").into();
        assert_eq!(tls_trouble(&plain_io), None);
    }

    #[test]
    fn plans_follow_the_mode_and_what_was_learned() {
        let preferred = TargetTls::new(TlsMode::Preferred, None);
        assert_eq!(TlsPlan::first(&preferred), TlsPlan::Unverified);
        preferred.learn(|l| l.server_lacks_tls = true);
        assert_eq!(TlsPlan::first(&preferred), TlsPlan::Plain);
        let disabled = TargetTls::new(TlsMode::Disabled, None);
        assert!(TlsPlan::first(&disabled).ssl_opts(&disabled).is_none());
        let ca = TargetTls::new(TlsMode::VerifyCa, Some("pem"));
        ca.learn(|l| l.certificate_name = Some("db.internal".into()));
        let plan = TlsPlan::first(&ca);
        let opts = plan.ssl_opts(&ca).unwrap();
        assert_eq!(opts.tls_hostname_override(), Some("db.internal"));
        assert!(opts.disable_built_in_roots() && !opts.accept_invalid_certs());
        let identity = TargetTls::new(TlsMode::VerifyIdentity, Some("pem"));
        let opts = TlsPlan::first(&identity).ssl_opts(&identity).unwrap();
        assert_eq!(opts.tls_hostname_override(), None);
        let required = TargetTls::new(TlsMode::Required, None);
        assert!(
            TlsPlan::first(&required)
                .ssl_opts(&required)
                .unwrap()
                .accept_invalid_certs()
        );
    }
}
