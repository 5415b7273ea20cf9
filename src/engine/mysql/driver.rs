//! The MySQL-family driver over one persistent lifeline connection per (instance, db user):
//! opened while the server is healthy, kept alive, reused for listing and killing, and rebuilt
//! when lost. Every call runs under a timeout; a connection whose call timed out is dropped,
//! never reused (mysql_async connections are not cancel-safe).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex as StdMutex;

use async_trait::async_trait;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::connect::{connect, map_error};
use super::executor::{Sender, Timing};
use super::flavor::{Flavor, Prefilter, decode_trx};
#[cfg(test)]
use super::kill::kill_result;
use super::kill::{is_plain_account_name, kill_user};
use crate::domain::{KillFilter, KillType, SessionId};
use crate::engine::driver::{KillOrder, KillResult, Presence, SessionDriver, Snapshot};
use crate::engine::lifeline::{HoldsLifeline, timed, with_lifeline};
use crate::engine::{EngineError, KeptConnection, OwnConnections, Target, Timeouts};
use crate::planner::{KillStrategy, MAX_BATCH};

pub(crate) struct Lifeline {
    pub(super) conn: Conn,
    flavor: Flavor,
}

pub struct MysqlDriver {
    pub(super) target: Target,
    /// The port used: `admin_port` / `extra_port` when configured, else the main port.
    pub(super) port: u16,
    pub(super) timeouts: Timeouts,
    pub(super) lifeline: Mutex<Option<Lifeline>>,
    /// (server identity, connection id) of the open lifeline, readable without the async lock.
    current: StdMutex<Option<(String, SessionId)>>,
    own: OwnConnections,
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

    pub(super) fn set_current(&self, value: Option<(String, SessionId)>) {
        *self.current.lock().expect("not poisoned") = value;
    }

    /// The `until` of a call no request is waiting for: time to (re)open the lifeline and run
    /// one statement.
    fn unhurried(&self) -> Instant {
        Instant::now() + self.timeouts.connect + self.timeouts.statement
    }

    /// The end of one call started now: the statement timeout, or `until` if sooner.
    fn call_deadline(&self, until: Instant) -> Instant {
        until.min(Instant::now() + self.timeouts.statement)
    }

    /// Opens the lifeline, all of it (connect, session set-up, identity) done by `until`.
    pub(super) async fn open(&self, until: Instant) -> Result<Lifeline, EngineError> {
        let left = until.saturating_duration_since(Instant::now());
        let timeouts = Timeouts {
            connect: self.timeouts.connect.min(left),
            ..self.timeouts
        };
        let mut conn = connect(&self.target, self.port, timeouts).await?;
        let deadline = self.call_deadline(until);
        // String literals in prefilters are quoted with backslash escapes.
        timed(deadline, async {
            conn.query_drop(
                "SET SESSION sql_mode = REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')",
            )
            .await
            .map_err(map_error)
        })
        .await?;
        let row: Option<(String, u64, String, u64)> = timed(deadline, async {
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

    /// Keeps the lifeline open (reopening it when lost), so it exists before it is needed:
    /// when the server is at max_connections a new connection may not get in.
    pub async fn keep_alive(&self) -> Result<(), EngineError> {
        let until = self.unhurried();
        with_lifeline(self, until, |line, d| {
            Box::pin(
                async move { timed(d, async { line.conn.ping().await.map_err(map_error) }).await },
            )
        })
        .await
    }

    /// Sends KILLs by the order's timing, the same way every strategy does.
    fn sender(&self, order: &KillOrder<'_>) -> Sender {
        Sender {
            target: self.target.clone(),
            port: self.port,
            timeouts: self.timeouts,
            timing: Timing {
                kill_type: order.kill_type,
                stop_sending: order.stop_sending,
                give_up: order.give_up,
            },
        }
    }
}

/// Lists with the flavor's preferred source, falling back (once, for good) when it fails.
/// The rows come with the flavor that produced them, which is the one to decode them.
async fn list_rows(
    line: &mut Lifeline,
    deadline: Instant,
    primary: String,
    fallback: Option<(Flavor, String)>,
) -> Result<(Flavor, Vec<Row>), EngineError> {
    let rows = timed(deadline, async {
        line.conn.query::<Row, _>(primary).await.map_err(map_error)
    })
    .await;
    match (rows, fallback) {
        (Err(EngineError::Server(_) | EngineError::Denied(_)), Some((flavor, sql))) => {
            line.flavor = flavor;
            timed(deadline, async {
                line.conn.query::<Row, _>(sql).await.map_err(map_error)
            })
            .await
            .map(|rows| (flavor, rows))
        }
        (rows, _) => rows.map(|rows| (line.flavor, rows)),
    }
}

#[async_trait]
impl HoldsLifeline for MysqlDriver {
    type Conn = Lifeline;

    fn slot(&self) -> &Mutex<Option<Lifeline>> {
        &self.lifeline
    }

    async fn open(&self, until: Instant) -> Result<Lifeline, EngineError> {
        MysqlDriver::open(self, until).await
    }

    fn forget(&self) {
        self.set_current(None);
    }

    fn call_deadline(&self, until: Instant) -> Instant {
        MysqlDriver::call_deadline(self, until)
    }
}

#[async_trait]
impl KeptConnection for MysqlDriver {
    fn current(&self) -> Option<(String, SessionId)> {
        MysqlDriver::current(self)
    }

    async fn keep_alive(&self) -> Result<(), EngineError> {
        MysqlDriver::keep_alive(self).await
    }
}

#[async_trait]
impl SessionDriver for MysqlDriver {
    async fn list(&self, filter: &KillFilter, until: Instant) -> Result<Snapshot, EngineError> {
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
        let (flavor, rows) = with_lifeline(self, until, |line, d| {
            let primary = line.flavor.list_sql(&pre);
            let fallback = line.flavor.fallback().map(|f| (f, f.list_sql(&pre)));
            Box::pin(list_rows(line, d, primary, fallback))
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
        let until = self.unhurried();
        let rows: Vec<Row> = with_lifeline(self, until, |line, d| {
            let sql = Flavor::trx_sql(ids);
            Box::pin(timed(d, async move {
                line.conn.query::<Row, _>(sql).await.map_err(map_error)
            }))
        })
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| decode_trx(&r.unwrap()))
            .collect())
    }

    async fn execute(&self, order: &KillOrder<'_>) -> Vec<(SessionId, KillResult)> {
        let sender = self.sender(order);
        match order.strategy {
            KillStrategy::Sequential { batch } => self.on_lifeline(&sender, order.ids, batch).await,
            KillStrategy::Parallel { connections, batch } => {
                self.in_parallel(&sender, order.ids, connections, batch)
                    .await
            }
            // The caller runs `kill_user` itself; per id is what is left when it cannot.
            KillStrategy::KillUser => self.on_lifeline(&sender, order.ids, MAX_BATCH).await,
        }
    }

    async fn kill_user(
        &self,
        user: &str,
        kill_type: KillType,
        until: Instant,
    ) -> Result<Option<u64>, EngineError> {
        if !is_plain_account_name(user) {
            return Ok(None);
        }
        with_lifeline(self, until, |line, d| {
            let user = user.to_owned();
            Box::pin(async move {
                if line.flavor != Flavor::MariaDb {
                    return Ok(None);
                }
                timed(d, kill_user(&mut line.conn, kill_type, &user))
                    .await
                    .map(Some)
            })
        })
        .await
    }

    async fn connected_count(&self, until: Instant) -> Result<u64, EngineError> {
        with_lifeline(self, until, |line, d| {
            Box::pin(timed(d, async move {
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

    async fn presence(
        &self,
        ids: &[SessionId],
        until: Instant,
    ) -> Result<Vec<Presence>, EngineError> {
        if ids.is_empty() {
            return Ok(vec![]);
        }
        let (flavor, rows) = with_lifeline(self, until, |line, d| {
            let (flavor, sql) = (line.flavor, line.flavor.presence_sql(ids));
            Box::pin(timed(d, async move {
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
                    .map(|(id, command, sql)| Presence {
                        id,
                        started: None,
                        running: command == "Query",
                        command,
                        sql,
                    })
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
