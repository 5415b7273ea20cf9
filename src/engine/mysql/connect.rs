//! Opening connections to MySQL/MariaDB targets: TCP only (`prefer_socket=false`, since a socket
//! reconnect would change the account matched), TLS as the instance's `tls_mode` says, a
//! bounded connect time, and error mapping by server error number.

use mysql_async::{Conn, OptsBuilder};
use secrecy::ExposeSecret;
use tokio::time::Instant;

use super::tls::{TlsPlan, TlsTrouble, tls_trouble};
use crate::domain::{TlsFailure, TlsMode};
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
        // 3159 ER_SECURE_TRANSPORT_REQUIRED (MySQL; MariaDB answers 1045, see `connect_once`).
        mysql_async::Error::Server(s) if s.code == 3159 => {
            EngineError::Tls(TlsFailure::RequiredByServer)
        }
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

/// One connection, TLS by the instance's mode. What a failure teaches (a `preferred` server
/// without TLS, the name a `verify_ca` certificate presents) is kept for the next connections
/// and acted on at once with a second attempt, all within the connect timeout.
async fn connect_once(target: &Target, port: u16, timeouts: Timeouts) -> Result<Conn, EngineError> {
    let deadline = Instant::now() + timeouts.connect;
    let tls = &target.tls;
    let plan = TlsPlan::first(tls);
    let retry = match attempt(target, port, &plan, deadline).await {
        Ok(conn) => return Ok(conn),
        Err(Failure::Engine(EngineError::LoginRefused)) if plan == TlsPlan::Plain => {
            return plain_login_refused(target, port, timeouts, deadline).await;
        }
        Err(Failure::Tls(TlsTrouble::NotOffered)) if tls.mode == TlsMode::Preferred => {
            tls.learn(|l| l.server_lacks_tls = true);
            TlsPlan::Plain
        }
        Err(Failure::Tls(TlsTrouble::NameMismatch {
            presented: Some(name),
            ..
        })) if tls.mode == TlsMode::VerifyCa
            && plan
                != (TlsPlan::Verified {
                    name: Some(name.clone()),
                }) =>
        {
            tls.learn(|l| l.certificate_name = Some(name.clone()));
            TlsPlan::Verified { name: Some(name) }
        }
        Err(other) => return Err(other.into()),
    };
    attempt(target, port, &retry, deadline)
        .await
        .map_err(EngineError::from)
}

/// Why one connection attempt failed.
enum Failure {
    Tls(TlsTrouble),
    Engine(EngineError),
}

impl From<Failure> for EngineError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Engine(e) => e,
            Failure::Tls(TlsTrouble::NotOffered) => EngineError::Tls(TlsFailure::NotOffered),
            Failure::Tls(TlsTrouble::NameMismatch { detail, .. }) => {
                EngineError::Tls(TlsFailure::Certificate(detail))
            }
            Failure::Tls(TlsTrouble::Failed(f)) => EngineError::Tls(f),
        }
    }
}

async fn attempt(
    target: &Target,
    port: u16,
    plan: &TlsPlan,
    deadline: Instant,
) -> Result<Conn, Failure> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(target.host.clone())
        .tcp_port(port)
        .user(Some(target.username.clone()))
        .pass(Some(target.password.expose_secret().to_owned()))
        .prefer_socket(false)
        .stmt_cache_size(0)
        .wait_timeout(None)
        .ssl_opts(plan.ssl_opts(&target.tls));
    match tokio::time::timeout_at(deadline, Conn::new(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(match tls_trouble(&e) {
            Some(trouble) => Failure::Tls(trouble),
            None => Failure::Engine(map_error(e)),
        }),
        Err(_) => Err(Failure::Engine(EngineError::Unreachable(
            "connect timed out".into(),
        ))),
    }
}

/// A plain login was refused. MariaDB refuses a plain login to a server or account that requires
/// TLS with the same 1045 "Access denied" as a wrong password, so the same login is tried once
/// over TLS: if it gets in, TLS was what was missing. The password goes no less protected than
/// over the plain connection the instance asked for. `preferred` (on a server that had no TLS
/// when last seen) keeps that connection; `disabled` reports that the server requires TLS.
async fn plain_login_refused(
    target: &Target,
    port: u16,
    timeouts: Timeouts,
    deadline: Instant,
) -> Result<Conn, EngineError> {
    match attempt(target, port, &TlsPlan::Unverified, deadline).await {
        Ok(conn) if target.tls.mode == TlsMode::Preferred => {
            target.tls.learn(|l| l.server_lacks_tls = false);
            Ok(conn)
        }
        Ok(conn) => {
            let _ = tokio::time::timeout(timeouts.statement, conn.disconnect()).await;
            Err(EngineError::Tls(TlsFailure::RequiredByServer))
        }
        Err(_) => Err(EngineError::LoginRefused),
    }
}

pub async fn check_login(target: &Target, timeouts: Timeouts) -> Result<(), EngineError> {
    let conn = connect(target, target.port, timeouts).await?;
    // A clean goodbye frees the server slot at once; if it stalls, dropping the socket does too.
    let _ = tokio::time::timeout(timeouts.statement, conn.disconnect()).await;
    Ok(())
}
