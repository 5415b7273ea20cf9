//! The MySQL-family driver over one persistent lifeline connection per (instance, db user):
//! opened while the server is healthy, kept alive, reused for listing and killing, and rebuilt
//! when lost. Every call runs under a timeout; a connection whose call timed out is dropped,
//! never reused (mysql_async connections are not cancel-safe).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex as StdMutex;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use tokio::sync::Mutex;

use super::connect::{connect, map_error};
use super::flavor::{Flavor, Prefilter, decode_trx};
#[cfg(test)]
use super::kill::kill_result;
use super::kill::{BATCH, batch_sql, is_plain_account_name, kill_on, kill_user, run_batch, settle};
use crate::domain::{KillFilter, KillType, SessionId};
use crate::engine::driver::{KillResult, Presence, SessionDriver, Snapshot};
use crate::engine::{EngineError, OwnConnections, Target, Timeouts};

type OpFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, EngineError>> + Send + 'c>>;

struct Lifeline {
    conn: Conn,
    flavor: Flavor,
}

pub struct MysqlDriver {
    target: Target,
    /// The port used: `admin_port` / `extra_port` when configured, else the main port.
    port: u16,
    timeouts: Timeouts,
    lifeline: Mutex<Option<Lifeline>>,
    /// Connections a large kill may use; the lifeline is one of them.
    kill_connections: usize,
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
            kill_connections: 1,
            current: StdMutex::new(None),
            own,
        }
    }

    /// Lets a kill of many sessions spread its batches over up to `n` connections. One (the
    /// default) is fastest on small servers, where the server, not the round trip, is the limit.
    pub fn with_kill_connections(mut self, n: usize) -> Self {
        self.kill_connections = n.max(1);
        self
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
        // String literals in prefilters are quoted with backslash escapes.
        timed(self.timeouts, async {
            conn.query_drop(
                "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
            )
            .await
            .map_err(map_error)
        })
        .await?;
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

    /// Sends `ids` in batches over the lifeline, reopening it when lost.
    async fn kill_on_lifeline(
        &self,
        ids: &[SessionId],
        kill_type: KillType,
    ) -> Vec<(SessionId, KillResult)> {
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
            match outcome {
                Ok(outcome) => pos += settle(batch, outcome, &mut results),
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
        results
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

/// Lists with the flavor's preferred source, falling back (once, for good) when it fails.
/// The rows come with the flavor that produced them, which is the one to decode them.
async fn list_rows(
    line: &mut Lifeline,
    timeouts: Timeouts,
    primary: String,
    fallback: Option<(Flavor, String)>,
) -> Result<(Flavor, Vec<Row>), EngineError> {
    let rows = timed(timeouts, async {
        line.conn.query::<Row, _>(primary).await.map_err(map_error)
    })
    .await;
    match (rows, fallback) {
        (Err(EngineError::Server(_) | EngineError::Denied(_)), Some((flavor, sql))) => {
            line.flavor = flavor;
            timed(timeouts, async {
                line.conn.query::<Row, _>(sql).await.map_err(map_error)
            })
            .await
            .map(|rows| (flavor, rows))
        }
        (rows, _) => rows.map(|rows| (line.flavor, rows)),
    }
}

#[async_trait]
impl SessionDriver for MysqlDriver {
    async fn list(&self, filter: &KillFilter) -> Result<Snapshot, EngineError> {
        let pre = match &filter.process_ids {
            Some(ids) => Prefilter {
                ids: Some(ids),
                ..Default::default()
            },
            None => Prefilter {
                ids: None,
                user: filter.user.as_deref(),
                database: filter.database.as_deref(),
            },
        };
        let (flavor, rows) = self
            .with_lifeline(|line, t| {
                let primary = line.flavor.list_sql(&pre);
                let fallback = line.flavor.fallback().map(|f| (f, f.list_sql(&pre)));
                Box::pin(list_rows(line, t, primary, fallback))
            })
            .await?;
        let sessions = rows
            .into_iter()
            .filter_map(|r| flavor.decode(&r.unwrap()))
            .collect();
        Ok(Snapshot {
            sessions,
            own_ids: self.own.ids_on(self.current().map(|c| c.0).as_deref()),
        })
    }

    async fn trx_ages(&self, ids: &[SessionId]) -> Result<HashMap<SessionId, i64>, EngineError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let rows: Vec<Row> = self
            .with_lifeline(|line, t| {
                let sql = Flavor::trx_sql(ids);
                Box::pin(timed(t, async move {
                    line.conn.query::<Row, _>(sql).await.map_err(map_error)
                }))
            })
            .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| decode_trx(&r.unwrap()))
            .collect())
    }

    async fn kill(
        &self,
        ids: &[SessionId],
        kill_type: KillType,
    ) -> Result<Vec<(SessionId, KillResult)>, EngineError> {
        let helpers = self
            .kill_connections
            .min(ids.len().div_ceil(BATCH))
            .saturating_sub(1);
        if helpers == 0 {
            return Ok(self.kill_on_lifeline(ids, kill_type).await);
        }
        // Batch i goes to connection i % n, keeping newest-first order within each share.
        let n = helpers + 1;
        let shares: Vec<Vec<SessionId>> = (0..n)
            .map(|w| {
                ids.chunks(BATCH)
                    .skip(w)
                    .step_by(n)
                    .flatten()
                    .copied()
                    .collect()
            })
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for share in shares.iter().skip(1).cloned() {
            let (target, port, timeouts) = (self.target.clone(), self.port, self.timeouts);
            tasks.spawn(async move {
                let done = match connect(&target, port, timeouts).await {
                    Ok(mut conn) => {
                        let done = kill_on(&mut conn, &share, kill_type, timeouts).await;
                        let _ = tokio::time::timeout(timeouts.statement, conn.disconnect()).await;
                        done
                    }
                    // No extra connection (a full server): the lifeline takes the share.
                    Err(_) => vec![],
                };
                (share, done)
            });
        }
        let mut results = self.kill_on_lifeline(&shares[0], kill_type).await;
        while let Some(joined) = tasks.join_next().await {
            let (share, done) = joined.map_err(|e| EngineError::Server(e.to_string()))?;
            let rest = &share[done.len()..];
            results.extend(done);
            results.extend(self.kill_on_lifeline(rest, kill_type).await);
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

    async fn connected_count(&self) -> Result<u64, EngineError> {
        self.with_lifeline(|line, t| {
            Box::pin(timed(t, async move {
                let row: Option<(String, u64)> = line
                    .conn
                    .query_first("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
                    .await
                    .map_err(map_error)?;
                Ok(row.map(|(_, n)| n).unwrap_or(0))
            }))
        })
        .await
    }

    async fn presence(&self, ids: &[SessionId]) -> Result<Vec<Presence>, EngineError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let (flavor, rows) = self
            .with_lifeline(|line, t| {
                let (flavor, sql) = (line.flavor, line.flavor.presence_sql(ids));
                Box::pin(timed(t, async move {
                    let rows = line.conn.query::<Row, _>(sql).await.map_err(map_error)?;
                    Ok((flavor, rows))
                }))
            })
            .await?;
        let asked: HashSet<SessionId> = ids.iter().copied().collect();
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let values: Vec<Value> = r.unwrap();
                flavor
                    .decode_presence(&values)
                    .filter(|(id, _, _)| asked.contains(id))
                    .map(|(id, command, sql)| Presence { id, command, sql })
            })
            .collect())
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
