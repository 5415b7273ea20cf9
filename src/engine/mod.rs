//! Target database drivers. Each engine implements [`SessionDriver`]; connecting, listing and
//! killing always run under a timeout, and a connection whose call timed out is dropped.
//! Which engine serves an instance is decided here, by one `match` on its datastore type
//! ([`Engines::driver`], [`check_login`]); nothing outside `engine` branches on the engine.
//! Errors stay [`EngineError`]s: the service decides what each means to a caller.

mod driver;
mod lifeline;
pub mod mysql;
pub mod postgres;
mod registry;
pub mod tls;

use std::time::Duration;

use secrecy::SecretString;

use crate::domain::{DatastoreType, TlsFailure};

pub use driver::{KillOrder, KillResult, Presence, SessionDriver, Snapshot};
pub use registry::{EngineDriver, Engines, KeptConnection, OwnConnections};
pub use tls::TargetTls;

/// Where and as whom to connect.
#[derive(Clone)]
pub struct Target {
    pub datastore: DatastoreType,
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: SecretString,
    /// Every connection to the target follows its TLS settings.
    pub tls: TargetTls,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target")
            .field("datastore", &self.datastore)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("tls_mode", &self.tls.mode)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    pub statement: Duration,
}

#[derive(Clone, Debug, thiserror::Error)]
pub enum EngineError {
    #[error("the instance refused the login")]
    LoginRefused,
    #[error("the instance could not be reached: {0}")]
    Unreachable(String),
    #[error("TLS to the instance failed: {0:?}")]
    Tls(TlsFailure),
    #[error("the instance is at max_connections")]
    TooManyConnections,
    #[error("a statement timed out")]
    StatementTimeout,
    #[error("the instance refused the statement for lack of privilege: {0}")]
    Denied(String),
    #[error("no such session")]
    NoSuchSession,
    #[error("the statement was interrupted")]
    Interrupted,
    #[error("the instance answered an error: {0}")]
    Server(String),
}

/// Logs in once and disconnects: proves the registered credentials work.
pub async fn check_login(target: &Target, timeouts: Timeouts) -> Result<(), EngineError> {
    match target.datastore {
        DatastoreType::Mysql | DatastoreType::Mariadb => mysql::check_login(target, timeouts).await,
        DatastoreType::Postgresql => postgres::check_login(target, timeouts).await,
    }
}
