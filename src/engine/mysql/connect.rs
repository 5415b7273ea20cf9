//! Opening connections to MySQL/MariaDB targets: TCP only (`prefer_socket=false`, since a socket
//! reconnect would change the account matched), a bounded connect time, and error mapping by
//! server error number.

use mysql_async::{Conn, OptsBuilder};
use secrecy::ExposeSecret;

use crate::engine::{EngineError, Target, Timeouts};

/// 1045 access denied, 1044 no access to db, 1698 plugin refusal, 1251 auth protocol refused.
const LOGIN_REFUSED: [u16; 4] = [1045, 1044, 1698, 1251];

pub fn map_error(e: mysql_async::Error) -> EngineError {
    match e {
        // 1094 unknown thread id (KILL); 1957 unknown query id (KILL QUERY ID, MariaDB).
        mysql_async::Error::Server(s) if matches!(s.code, 1094 | 1957) => {
            EngineError::NoSuchSession
        }
        mysql_async::Error::Server(s) if LOGIN_REFUSED.contains(&s.code) => {
            EngineError::LoginRefused
        }
        // 1095 not owner of thread, 1227 needs a privilege, 1142 table access denied.
        mysql_async::Error::Server(s) if matches!(s.code, 1095 | 1227 | 1142) => {
            EngineError::Denied(format!("error {}", s.code))
        }
        mysql_async::Error::Server(s) if s.code == 1040 => EngineError::TooManyConnections,
        // 1317 query execution was interrupted: a KILL QUERY stopped the statement.
        mysql_async::Error::Server(s) if s.code == 1317 => EngineError::Interrupted,
        // 1203/1226 per-user limits, 1129 host blocked.
        mysql_async::Error::Server(s) if matches!(s.code, 1203 | 1226 | 1129) => {
            EngineError::Unreachable(format!("error {}", s.code))
        }
        mysql_async::Error::Server(s) => {
            EngineError::Server(format!("error {}: {}", s.code, s.message))
        }
        mysql_async::Error::Io(io) => EngineError::Unreachable(io.to_string()),
        mysql_async::Error::Driver(d) => EngineError::Unreachable(d.to_string()),
        other => EngineError::Unreachable(other.to_string()),
    }
}

/// Connects, retrying with backoff while the server answers 1040 "Too many connections" (a
/// storm's slots free up in milliseconds), all within the connect timeout.
pub async fn connect(target: &Target, port: u16, timeouts: Timeouts) -> Result<Conn, EngineError> {
    let deadline = tokio::time::Instant::now() + timeouts.connect;
    let mut pause = std::time::Duration::from_millis(5);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let attempt = Timeouts {
            connect: left,
            ..timeouts
        };
        match connect_once(target, port, attempt).await {
            Err(EngineError::TooManyConnections)
                if tokio::time::Instant::now() + pause < deadline =>
            {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_millis(200));
            }
            other => return other,
        }
    }
}

async fn connect_once(target: &Target, port: u16, timeouts: Timeouts) -> Result<Conn, EngineError> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(target.host.clone())
        .tcp_port(port)
        .user(Some(target.username.clone()))
        .pass(Some(target.password.expose_secret().to_owned()))
        .prefer_socket(false)
        .stmt_cache_size(0)
        .wait_timeout(None);
    match tokio::time::timeout(timeouts.connect, Conn::new(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(map_error(e)),
        Err(_) => Err(EngineError::Unreachable("connect timed out".into())),
    }
}

pub async fn check_login(target: &Target, timeouts: Timeouts) -> Result<(), EngineError> {
    let conn = connect(target, target.port, timeouts).await?;
    // A clean goodbye frees the server slot at once; if it stalls, dropping the socket does too.
    let _ = tokio::time::timeout(timeouts.statement, conn.disconnect()).await;
    Ok(())
}
