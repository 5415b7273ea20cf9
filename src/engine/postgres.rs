//! PostgreSQL targets. For now only the login check used when registering a db user; session
//! listing and killing come with the PostgreSQL driver. This build has no TLS to PostgreSQL:
//! `preferred` connects plain, `disabled` plain, and the instance API refuses the other modes.

use secrecy::ExposeSecret;
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};

use super::{EngineError, Target, Timeouts};
use crate::domain::TlsMode;

pub async fn check_login(target: &Target, timeouts: Timeouts) -> Result<(), EngineError> {
    let options = PgConnectOptions::new()
        .host(&target.host)
        .port(target.port)
        .username(&target.username)
        .password(target.password.expose_secret())
        .database("postgres")
        .ssl_mode(match target.tls.mode {
            TlsMode::Disabled => PgSslMode::Disable,
            _ => PgSslMode::Prefer,
        });
    match tokio::time::timeout(timeouts.connect, PgConnection::connect_with(&options)).await {
        Err(_) => Err(EngineError::Unreachable("connect timed out".into())),
        Ok(Ok(conn)) => {
            let _ = tokio::time::timeout(timeouts.statement, conn.close()).await;
            Ok(())
        }
        // 28P01 invalid_password, 28000 invalid_authorization_specification.
        Ok(Err(sqlx::Error::Database(db)))
            if matches!(db.code().as_deref(), Some("28P01") | Some("28000")) =>
        {
            Err(EngineError::LoginRefused)
        }
        Ok(Err(sqlx::Error::Database(db))) => Err(EngineError::Server(db.message().to_owned())),
        Ok(Err(e)) => Err(EngineError::Unreachable(e.to_string())),
    }
}
