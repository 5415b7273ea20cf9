//! How dbkill secures its connections to an instance: the instance's `tls_mode`, with the
//! meanings of the MySQL client's `--ssl-mode`.

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TlsMode {
    /// Plain TCP, never TLS.
    Disabled,
    /// TLS when the server offers it (certificate not checked), plain otherwise.
    #[default]
    Preferred,
    /// TLS or no connection; the certificate is not checked.
    Required,
    /// TLS with the certificate chain checked against the instance's CA (or the system's
    /// roots); the host name is not.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host dbkill connects to.
    VerifyIdentity,
}

impl TlsMode {
    pub const NAMES: &'static [&'static str] = &[
        "disabled",
        "preferred",
        "required",
        "verify_ca",
        "verify_identity",
    ];

    /// One of [`TlsMode::NAMES`], case-insensitive.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "disabled" => Some(Self::Disabled),
            "preferred" => Some(Self::Preferred),
            "required" => Some(Self::Required),
            "verify_ca" => Some(Self::VerifyCa),
            "verify_identity" => Some(Self::VerifyIdentity),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disabled => "disabled",
            Self::Preferred => "preferred",
            Self::Required => "required",
            Self::VerifyCa => "verify_ca",
            Self::VerifyIdentity => "verify_identity",
        }
    }

    /// Whether the server's certificate chain is checked, so a CA (`tls_ca`) means something.
    pub fn verifies(self) -> bool {
        matches!(self, Self::VerifyCa | Self::VerifyIdentity)
    }
}

/// Why a connection to an instance failed at TLS: the engine finds it, the API reports it (as
/// DAS.210001, the instance could not be reached, with a message that names TLS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TlsFailure {
    /// The server refused a plain connection: it requires TLS (MariaDB/MySQL
    /// `require_secure_transport`, or an account created `REQUIRE SSL`).
    RequiredByServer,
    /// The instance's `tls_mode` requires TLS and the server does not offer it.
    NotOffered,
    /// The server's certificate failed verification; the detail says why (no secret in it).
    Certificate(String),
    /// The TLS handshake failed otherwise; the detail says how.
    Handshake(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_default_is_preferred() {
        for name in TlsMode::NAMES {
            assert_eq!(TlsMode::parse(name).unwrap().as_str(), *name);
        }
        assert_eq!(TlsMode::parse("VERIFY_CA"), Some(TlsMode::VerifyCa));
        assert_eq!(TlsMode::parse("verify-ca"), None);
        assert_eq!(TlsMode::parse(""), None);
        assert_eq!(TlsMode::default(), TlsMode::Preferred);
        assert!(TlsMode::VerifyCa.verifies() && !TlsMode::Required.verifies());
    }
}
