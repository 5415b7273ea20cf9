//! Opening connections to PostgreSQL targets — the login check of a registration and the
//! lifeline — and mapping PostgreSQL's errors by SQLSTATE.

use secrecy::ExposeSecret;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use sqlx::{ConnectOptions, Connection};

use crate::domain::TlsMode;
use crate::engine::{EngineError, Target, Timeouts};

/// Every connection dbkill opens says so: its sessions are never kill candidates, also for
/// another dbkill process (a replica) that does not know their pids.
pub const APPLICATION_NAME: &str = "dbkill";

/// The database every connection opens: it exists on every cluster, and `pg_stat_activity`
/// shows the sessions of all databases from any of them.
const DATABASE: &str = "postgres";

fn options(target: &Target, timeouts: Timeouts) -> PgConnectOptions {
    let statement_ms = timeouts.statement.as_millis().max(1).to_string();
    PgConnectOptions::new()
        .host(&target.host)
        .port(target.port)
        .username(&target.username)
        .password(target.password.expose_secret())
        .database(DATABASE)
        .application_name(APPLICATION_NAME)
        // The server ends a statement whose client gave up on it, so no signal is sent late.
        .options([("statement_timeout", statement_ms.as_str())])
        .ssl_mode(match target.tls.mode {
            TlsMode::Disabled => PgSslMode::Disable,
            _ => PgSslMode::Prefer,
        })
        .disable_statement_logging()
}

/// Opens one connection within the connect timeout.
pub(super) async fn connect(
    target: &Target,
    timeouts: Timeouts,
) -> Result<PgConnection, EngineError> {
    match tokio::time::timeout(
        timeouts.connect,
        PgConnection::connect_with(&options(target, timeouts)),
    )
    .await
    {
        Err(_) => Err(EngineError::Unreachable("connect timed out".into())),
        Ok(result) => result.map_err(map_error),
    }
}

/// Logs in once and disconnects: proves the registered credentials work.
pub async fn check_login(target: &Target, timeouts: Timeouts) -> Result<(), EngineError> {
    let conn = connect(target, timeouts).await?;
    let _ = tokio::time::timeout(timeouts.statement, conn.close()).await;
    Ok(())
}

pub(super) fn map_error(e: sqlx::Error) -> EngineError {
    match e {
        sqlx::Error::Database(db) => match db.code().as_deref() {
            // invalid_password, invalid_authorization_specification (no such role, pg_hba).
            Some("28P01" | "28000") => EngineError::LoginRefused,
            // too_many_connections: every slot this role may use is taken.
            Some("53300") => EngineError::TooManyConnections,
            // insufficient_privilege.
            Some("42501") => EngineError::Denied(db.message().to_owned()),
            // query_canceled: the server's statement_timeout.
            Some("57014") => EngineError::StatementTimeout,
            // admin_shutdown, crash_shutdown, cannot_connect_now (starting or stopping).
            Some("57P01" | "57P02" | "57P03") => EngineError::Unreachable(db.message().to_owned()),
            Some(code) => EngineError::Server(format!("SQLSTATE {code}: {}", db.message())),
            None => EngineError::Server(db.message().to_owned()),
        },
        sqlx::Error::Tls(t) => EngineError::Unreachable(format!("TLS: {t}")),
        other => EngineError::Unreachable(other.to_string()),
    }
}
