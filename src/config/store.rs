//! Where the store lives and which replica this process is: `store_url` (absent or `sqlite://`:
//! the embedded store in the data dir; `postgres://…`: a PostgreSQL store several replicas can
//! share) and `replica_name` (how this process is named in leases, history and metrics).

use std::str::FromStr;

use secrecy::SecretString;

use super::ConfigError;
pub use crate::store::StoreLocation;

/// The message never repeats the URL: it may hold a password.
pub(super) fn validate_store_url(url: Option<&str>) -> Result<StoreLocation, ConfigError> {
    let invalid = |why: &str| ConfigError::Invalid {
        key: "store_url",
        why: format!("{why} (set DBKILL_STORE_URL or --store)"),
    };
    match url.map(str::trim) {
        None | Some("") | Some("sqlite://") | Some("sqlite:") => Ok(StoreLocation::Embedded),
        Some(u) if u.starts_with("sqlite:") => Err(invalid(
            "the embedded store always lives in the data dir: give `sqlite://` alone and set \
             data_dir",
        )),
        Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
            match sqlx::postgres::PgConnectOptions::from_str(u) {
                Ok(_) => Ok(StoreLocation::Postgres(SecretString::from(u.to_owned()))),
                Err(_) => Err(invalid("is not a valid postgres:// URL")),
            }
        }
        Some(_) => Err(invalid("must be absent, `sqlite://` or a postgres:// URL")),
    }
}

/// A name of 1..=64 letters, digits, `.`, `_`, `:` or `-`; `None` leaves it to the start
/// (`<host name>:<port>`).
pub(super) fn validate_replica_name(name: Option<&str>) -> Result<Option<String>, ConfigError> {
    let Some(name) = name.map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    let ok = name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if ok {
        Ok(Some(name.to_owned()))
    } else {
        Err(ConfigError::Invalid {
            key: "replica_name",
            why: "must be 1..64 letters, digits, `.`, `_`, `:` or `-`".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_or_sqlite_is_the_embedded_store() {
        for url in [None, Some(""), Some("sqlite://"), Some(" sqlite: ")] {
            assert!(matches!(
                validate_store_url(url).unwrap(),
                StoreLocation::Embedded
            ));
        }
    }

    #[test]
    fn a_postgres_url_is_shared_and_described_without_its_password() {
        let loc =
            validate_store_url(Some("postgres://dbkill:s3cret@db.example:6432/meta")).unwrap();
        assert!(loc.is_shared());
        let shown = loc.describe();
        assert_eq!(shown, "postgres://dbkill@db.example:6432/meta");
        assert!(!format!("{loc:?}").contains("s3cret"));
    }

    #[test]
    fn other_urls_are_refused_without_echoing_them() {
        for url in [
            "sqlite:///var/lib/x.db",
            "mysql://u:pw@h/db",
            "postgres://u:pw@h:notaport/db",
        ] {
            let e = validate_store_url(Some(url)).unwrap_err().to_string();
            assert!(e.contains("store_url"), "{e}");
            assert!(!e.contains("pw@"), "{e}");
        }
    }

    #[test]
    fn replica_names_are_checked() {
        assert_eq!(validate_replica_name(None).unwrap(), None);
        assert_eq!(
            validate_replica_name(Some("node-a:8080"))
                .unwrap()
                .as_deref(),
            Some("node-a:8080")
        );
        assert!(validate_replica_name(Some("a b")).is_err());
        assert!(validate_replica_name(Some(&"x".repeat(65))).is_err());
    }
}
