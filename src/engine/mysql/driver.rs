//! The MySQL-family driver over one persistent lifeline connection per (instance, db user):
//! opened while the server is healthy, kept alive, reused for listing and killing, and rebuilt
//! when lost. Every call runs under a timeout; a connection whose call timed out is dropped,
//! never reused (mysql_async connections are not cancel-safe).

use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex as StdMutex;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use tokio::sync::Mutex;

use super::connect::{connect, map_error};
use super::flavor::{Flavor, decode_presence, decode_session};
use super::kill::{BATCH, batch_sql, is_plain_account_name, kill_user, run_batch};
use crate::domain::{KillType, SessionId};
use crate::engine::driver::{KillResult, Presence, SessionDriver, Snapshot};
use crate::engine::{EngineError, OwnConnections, Target, Timeouts};

type OpFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, EngineError>> + Send + 'c>>;

struct Lifeline {
    conn: Conn,
    flavor: Flavor,
    /// Cleared when the account may not read INNODB_TRX (no PROCESS privilege).
    with_trx: bool,
}

pub struct MysqlDriver {
    target: Target,
    /// The port used: `admin_port` / `extra_port` when configured, else the main port.
    port: u16,
    timeouts: Timeouts,
    lifeline: Mutex<Option<Lifeline>>,
    /// (server identity, connection id) of the open lifeline, readable without the async lock.
    current: StdMutex<Option<(String, SessionId)>>,
    own: OwnConnections,
}

async fn timed<T>(
    timeouts: Timeouts,
    fut: impl Future<Output = Result<T, EngineError>>,
) -> Result<T, EngineError> {
    tokio::time::timeout(timeouts.statement, fut)
        .await
        .unwrap_or(Err(EngineError::StatementTimeout))
}

impl MysqlDriver {
    pub fn new(target: Target, port: u16, timeouts: Timeouts, own: OwnConnections) -> Self {
        Self {
            target,
            port,
            timeouts,
            lifeline: Mutex::new(None),
            current: StdMutex::new(None),
            own,
        }
    }

    /// (server identity, connection id) of this driver's open connection, if any.
    pub fn current(&self) -> Option<(String, SessionId)> {
        self.current.lock().expect("not poisoned").clone()
    }

    fn set_current(&self, value: Option<(String, SessionId)>) {
        *self.current.lock().expect("not poisoned") = value;
    }

    async fn open(&self) -> Result<Lifeline, EngineError> {
        let mut conn = connect(&self.target, self.port, self.timeouts).await?;
        let row: Option<(String, u64, String, u64)> = timed(self.timeouts, async {
            conn.query_first("SELECT VERSION(), @@server_id, @@hostname, @@port")
                .await
                .map_err(map_error)
        })
        .await?;
        let (version, server_id, hostname, port) =
            row.ok_or_else(|| EngineError::Server("no answer to SELECT VERSION()".into()))?;
        // The identity is the server's own view, so two addresses of one server still match.
        let identity = format!("{hostname}:{port}:{server_id}");
        self.set_current(Some((identity, SessionId(u64::from(conn.id())))));
        Ok(Lifeline {
            conn,
            flavor: Flavor::detect(&version),
            with_trx: true,
        })
    }

    /// Runs `op` on the lifeline, opening it first when needed. A failure that may have broken
    /// the connection drops it; a lost connection is reopened and `op` retried once.
    async fn with_lifeline<T, F>(&self, op: F) -> Result<T, EngineError>
    where
        F: for<'c> Fn(&'c mut Lifeline, Timeouts) -> OpFuture<'c, T>,
    {
        let mut guard = self.lifeline.lock().await;
        let mut attempt = 0;
        loop {
            if guard.is_none() {
                *guard = Some(self.open().await?);
            }
            let line = guard.as_mut().expect("opened above");
            match op(line, self.timeouts).await {
                Err(e @ (EngineError::Unreachable(_) | EngineError::StatementTimeout)) => {
                    *guard = None;
                    self.set_current(None);
                    attempt += 1;
                    if attempt == 2 || matches!(e, EngineError::StatementTimeout) {
                        return Err(e);
                    }
                }
                other => return other,
            }
        }
    }

    /// Keeps the lifeline open (reopening it when lost), so it exists before it is needed:
    /// when the server is at max_connections a new connection may not get in.
    pub async fn keep_alive(&self) -> Result<(), EngineError> {
        self.with_lifeline(|line, t| {
            Box::pin(
                async move { timed(t, async { line.conn.ping().await.map_err(map_error) }).await },
            )
        })
        .await
    }
}

async fn list_rows(line: &mut Lifeline, timeouts: Timeouts) -> Result<Vec<Row>, EngineError> {
    loop {
        let sql = line.flavor.list_sql(line.with_trx);
        let rows = timed(timeouts, async {
            line.conn.query::<Row, _>(sql).await.map_err(map_error)
        })
        .await;
        match rows {
            Err(EngineError::Denied(_)) if line.with_trx => line.with_trx = false,
            Err(EngineError::Server(_) | EngineError::Denied(_))
                if line.flavor.fallback().is_some() =>
            {
                line.flavor = line.flavor.fallback().expect("checked");
            }
            other => return other,
        }
    }
}

#[async_trait]
impl SessionDriver for MysqlDriver {
    async fn list(&self) -> Result<Snapshot, EngineError> {
        let rows = self
            .with_lifeline(|line, t| Box::pin(list_rows(line, t)))
            .await?;
        let sessions = rows
            .into_iter()
            .filter_map(|r| decode_session(&r.unwrap()))
            .collect();
        Ok(Snapshot {
            sessions,
            own_ids: self.own.ids_on(self.current().map(|c| c.0).as_deref()),
        })
    }

    async fn kill(
        &self,
        ids: &[SessionId],
        kill_type: KillType,
    ) -> Result<Vec<(SessionId, KillResult)>, EngineError> {
        let mut results = Vec::with_capacity(ids.len());
        let mut pos = 0;
        while pos < ids.len() {
            let batch = &ids[pos..(pos + BATCH).min(ids.len())];
            let outcome = self
                .with_lifeline(|line, t| {
                    let sql = batch_sql(kill_type, batch);
                    Box::pin(timed(t, run_batch(&mut line.conn, sql)))
                })
                .await;
            let at = crate::clock::now_ms();
            match outcome {
                Ok((done, stopped)) => {
                    results.extend(
                        batch[..done]
                            .iter()
                            .map(|&id| (id, KillResult::Accepted(at))),
                    );
                    pos += done;
                    if let Some(e) = stopped {
                        results.push((batch[done], kill_result(Err(e))));
                        pos += 1;
                    }
                }
                // The batch's fate is unknown; verification still reports what left.
                Err(e @ EngineError::StatementTimeout) => {
                    results.extend(batch.iter().map(|&id| (id, KillResult::Failed(e.clone()))));
                    pos += batch.len();
                }
                Err(e) => {
                    results.extend(
                        ids[pos..]
                            .iter()
                            .map(|&id| (id, KillResult::Failed(e.clone()))),
                    );
                    break;
                }
            }
        }
        Ok(results)
    }

    async fn kill_user(&self, user: &str, kill_type: KillType) -> Result<Option<u64>, EngineError> {
        if !is_plain_account_name(user) {
            return Ok(None);
        }
        self.with_lifeline(|line, t| {
            let user = user.to_owned();
            Box::pin(async move {
                if line.flavor != Flavor::MariaDb {
                    return Ok(None);
                }
                timed(t, kill_user(&mut line.conn, kill_type, &user))
                    .await
                    .map(Some)
            })
        })
        .await
    }

    async fn presence(&self, ids: &[SessionId]) -> Result<Vec<Presence>, EngineError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let rows: Vec<Row> = self
            .with_lifeline(|line, t| {
                let sql = line.flavor.presence_sql(ids);
                Box::pin(timed(t, async move {
                    line.conn.query::<Row, _>(sql).await.map_err(map_error)
                }))
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let values: Vec<Value> = r.unwrap();
                decode_presence(&values).map(|(id, command, sql)| Presence { id, command, sql })
            })
            .collect())
    }
}

/// 1094 "Unknown thread id" means the session is gone already; everything else is per session.
pub fn kill_result(outcome: Result<(), EngineError>) -> KillResult {
    match outcome {
        Ok(()) => KillResult::Accepted(crate::clock::now_ms()),
        Err(EngineError::NoSuchSession) => KillResult::NotFound,
        Err(e) => KillResult::Failed(e),
    }
}

#[cfg(test)]
mod tests {
    use mysql_async::{Error, ServerError};

    use super::*;
    use crate::engine::mysql::connect::map_error;

    fn server_error(code: u16, message: &str) -> EngineError {
        map_error(Error::Server(ServerError {
            code,
            message: message.into(),
            state: "HY000".into(),
        }))
    }

    #[test]
    fn kill_errors_map_per_session() {
        assert!(matches!(kill_result(Ok(())), KillResult::Accepted(_)));
        assert!(matches!(
            kill_result(Err(server_error(1094, "Unknown thread id: 7"))),
            KillResult::NotFound
        ));
        // MySQL 8.0.16+: a session running with SYSTEM_USER refuses a KILL from an account
        // without SYSTEM_USER with 1095, as a missing CONNECTION_ADMIN does.
        assert!(matches!(
            kill_result(Err(server_error(1095, "You are not owner of thread 11213"))),
            KillResult::Failed(EngineError::Denied(_))
        ));
        assert!(matches!(
            kill_result(Err(server_error(1040, "Too many connections"))),
            KillResult::Failed(EngineError::TooManyConnections)
        ));
        assert!(matches!(
            kill_result(Err(EngineError::StatementTimeout)),
            KillResult::Failed(EngineError::StatementTimeout)
        ));
    }
}
