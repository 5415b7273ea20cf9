//! Where the store lives: the embedded SQLite store in the data dir, or a PostgreSQL database
//! several replicas share. Settings (`config::store`) parse it; [`super::open`] opens it.

use std::str::FromStr;

use secrecy::{ExposeSecret, SecretString};

/// Where the metadata store lives.
#[derive(Clone, Debug)]
pub enum StoreLocation {
    /// `<data_dir>/dbkill.db`.
    Embedded,
    /// A PostgreSQL database; the URL may carry a password, so it is a secret and never logged.
    Postgres(SecretString),
}

impl StoreLocation {
    pub fn is_shared(&self) -> bool {
        matches!(self, StoreLocation::Postgres(_))
    }

    /// `postgres://user@host:port/db` without the password or query, for logs and messages.
    pub fn describe(&self) -> String {
        match self {
            StoreLocation::Embedded => "the embedded SQLite store".into(),
            StoreLocation::Postgres(url) => {
                match sqlx::postgres::PgConnectOptions::from_str(url.expose_secret()) {
                    Ok(o) => format!(
                        "postgres://{}@{}:{}/{}",
                        o.get_username(),
                        o.get_host(),
                        o.get_port(),
                        o.get_database().unwrap_or("")
                    ),
                    Err(_) => "a PostgreSQL store".into(),
                }
            }
        }
    }
}
