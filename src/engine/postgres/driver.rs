//! The PostgreSQL driver over one persistent lifeline connection per (instance, db user):
//! opened while the server is healthy, kept alive, used for listing and signalling, rebuilt
//! when lost. Every call runs under a timeout; a connection whose call was cut short is
//! dropped, never reused (the server's `statement_timeout` ends what it was running).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex as StdMutex;

use async_trait::async_trait;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::connect::{connect, map_error};
use super::rows::{ActivityRow, PresenceRow, session_id};
use super::signal::{CHUNK, signal_chunk};
use super::sql;
use crate::domain::{KillFilter, KillType, SessionId};
use crate::engine::driver::{KillOrder, KillResult, Presence, SessionDriver, Snapshot};
use crate::engine::lifeline::{HoldsLifeline, timed, with_lifeline};
use crate::engine::{EngineError, KeptConnection, OwnConnections, Target, Timeouts};

pub struct PgDriver {
    target: Target,
    timeouts: Timeouts,
    lifeline: Mutex<Option<PgConnection>>,
    /// (server identity, pid) of the open lifeline, readable without the async lock.
    current: StdMutex<Option<(String, SessionId)>>,
    own: OwnConnections,
}

fn pids(ids: &[SessionId]) -> Vec<i32> {
    ids.iter()
        .filter_map(|id| i32::try_from(id.0).ok())
        .collect()
}

impl PgDriver {
    pub fn new(target: Target, timeouts: Timeouts, own: OwnConnections) -> Self {
        Self {
            target,
            timeouts,
            lifeline: Mutex::new(None),
            current: StdMutex::new(None),
            own,
        }
    }

    fn set_current(&self, value: Option<(String, SessionId)>) {
        *self.current.lock().expect("not poisoned") = value;
    }

    /// The `until` of a call no request is waiting for.
    fn unhurried(&self) -> Instant {
        Instant::now() + self.timeouts.connect + self.timeouts.statement
    }

    fn call_deadline(&self, until: Instant) -> Instant {
        until.min(Instant::now() + self.timeouts.statement)
    }

    /// Opens the lifeline and learns its pid and the server's identity, all by `until`.
    async fn open(&self, until: Instant) -> Result<PgConnection, EngineError> {
        let left = until.saturating_duration_since(Instant::now());
        let timeouts = Timeouts {
            connect: self.timeouts.connect.min(left),
            ..self.timeouts
        };
        let mut conn = connect(&self.target, timeouts).await?;
        let (pid, identity): (i32, String) = timed(self.call_deadline(until), async {
            sqlx::query_as(sql::IDENTITY)
                .fetch_one(&mut conn)
                .await
                .map_err(map_error)
        })
        .await?;
        self.set_current(Some((format!("postgres:{identity}"), session_id(pid))));
        Ok(conn)
    }

    /// Signals the order's sessions chunk by chunk on the lifeline, each chunk in one
    /// statement; a chunk refused as a whole is retried pid by pid so each session gets its
    /// own answer.
    async fn signal_all(&self, order: &KillOrder<'_>) -> Vec<(SessionId, KillResult)> {
        let mut results = Vec::with_capacity(order.ids.len());
        let Ok(mut guard) = tokio::time::timeout_at(order.stop_sending, self.lifeline.lock()).await
        else {
            results.extend(order.ids.iter().map(|&id| (id, KillResult::NotAttempted)));
            return results;
        };
        for chunk in order.ids.chunks(CHUNK) {
            if Instant::now() >= order.stop_sending {
                results.extend(chunk.iter().map(|&id| (id, KillResult::NotAttempted)));
                continue;
            }
            if guard.is_none() {
                match self.open(order.stop_sending).await {
                    Ok(conn) => *guard = Some(conn),
                    Err(e) => {
                        results.extend(chunk.iter().map(|&id| (id, KillResult::Failed(e.clone()))));
                        continue;
                    }
                }
            }
            let conn = guard.as_mut().expect("opened above");
            let sent_at = crate::clock::now_ms();
            match signal_chunk(conn, chunk, order.started, order.kill_type, order.give_up).await {
                Ok(chunk_results) => results.extend(chunk_results),
                Err(EngineError::Denied(_)) => {
                    for id in chunk {
                        results.push((*id, self.signal_one(conn, *id, order).await));
                    }
                }
                // Sent, and then no answer, or an error part-way: some signals may have gone
                // out. Verification decides. The connection is not trusted again.
                Err(_) => {
                    *guard = None;
                    self.set_current(None);
                    results.extend(
                        chunk
                            .iter()
                            .map(|&id| (id, KillResult::Unanswered(sent_at))),
                    );
                }
            }
        }
        results
    }

    async fn signal_one(
        &self,
        conn: &mut PgConnection,
        id: SessionId,
        order: &KillOrder<'_>,
    ) -> KillResult {
        if Instant::now() >= order.stop_sending {
            return KillResult::NotAttempted;
        }
        let sent_at = crate::clock::now_ms();
        match signal_chunk(conn, &[id], order.started, order.kill_type, order.give_up).await {
            Ok(mut one) => one.pop().map_or(KillResult::NotFound, |(_, r)| r),
            Err(e @ EngineError::Denied(_)) => KillResult::Failed(e),
            Err(_) => KillResult::Unanswered(sent_at),
        }
    }

    /// Pings the lifeline (reopening it when lost), so it exists before it is needed: when the
    /// server is at max_connections a new connection may not get in.
    pub async fn keep_alive(&self) -> Result<(), EngineError> {
        with_lifeline(self, self.unhurried(), |conn, d| {
            Box::pin(async move { timed(d, async { conn.ping().await.map_err(map_error) }).await })
        })
        .await
    }

    /// (server identity, pid) of this driver's open connection, if any.
    pub fn current(&self) -> Option<(String, SessionId)> {
        self.current.lock().expect("not poisoned").clone()
    }
}

#[async_trait]
impl HoldsLifeline for PgDriver {
    type Conn = PgConnection;

    fn slot(&self) -> &Mutex<Option<PgConnection>> {
        &self.lifeline
    }

    async fn open(&self, until: Instant) -> Result<PgConnection, EngineError> {
        PgDriver::open(self, until).await
    }

    fn forget(&self) {
        self.set_current(None);
    }

    fn call_deadline(&self, until: Instant) -> Instant {
        PgDriver::call_deadline(self, until)
    }
}

#[async_trait]
impl KeptConnection for PgDriver {
    fn current(&self) -> Option<(String, SessionId)> {
        PgDriver::current(self)
    }

    async fn keep_alive(&self) -> Result<(), EngineError> {
        PgDriver::keep_alive(self).await
    }
}

#[async_trait]
impl SessionDriver for PgDriver {
    async fn list(&self, filter: &KillFilter, until: Instant) -> Result<Snapshot, EngineError> {
        let (ids, user, database) = match &filter.process_ids {
            Some(ids) => (Some(pids(ids)), None, None),
            None => (None, filter.user.clone(), filter.database.clone()),
        };
        let rows: Vec<ActivityRow> = with_lifeline(self, until, |conn, d| {
            let (ids, user, database) = (ids.clone(), user.clone(), database.clone());
            Box::pin(timed(d, async move {
                sqlx::query_as(sql::LIST)
                    .bind(ids)
                    .bind(user)
                    .bind(database)
                    .fetch_all(conn)
                    .await
                    .map_err(map_error)
            }))
        })
        .await?;
        let mut own_ids: HashSet<SessionId> =
            self.own.ids_on(self.current().map(|c| c.0).as_deref());
        own_ids.extend(
            rows.iter()
                .filter(|r| r.is_dbkill())
                .map(|r| session_id(r.pid)),
        );
        Ok(Snapshot {
            sessions: rows.into_iter().map(ActivityRow::into_session).collect(),
            own_ids,
        })
    }

    async fn trx_ages(&self, ids: &[SessionId]) -> Result<HashMap<SessionId, i64>, EngineError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let pids = pids(ids);
        let rows: Vec<(i32, i64)> = with_lifeline(self, self.unhurried(), |conn, d| {
            let pids = pids.clone();
            Box::pin(timed(d, async move {
                sqlx::query_as(sql::TRX_AGES)
                    .bind(pids)
                    .fetch_all(conn)
                    .await
                    .map_err(map_error)
            }))
        })
        .await?;
        Ok(rows
            .into_iter()
            .map(|(pid, age)| (session_id(pid), age))
            .collect())
    }

    /// PostgreSQL's signals cost the server nothing to send, so every strategy is the same
    /// here: set-based statements on the lifeline.
    async fn execute(&self, order: &KillOrder<'_>) -> Vec<(SessionId, KillResult)> {
        self.signal_all(order).await
    }

    async fn kill_user(
        &self,
        _user: &str,
        _kill_type: KillType,
        _until: Instant,
    ) -> Result<Option<u64>, EngineError> {
        Ok(None)
    }

    async fn connected_count(&self, until: Instant) -> Result<u64, EngineError> {
        with_lifeline(self, until, |conn, d| {
            Box::pin(timed(d, async move {
                let n: i64 = sqlx::query_scalar(sql::CONNECTED)
                    .fetch_one(conn)
                    .await
                    .map_err(map_error)?;
                Ok(u64::try_from(n).unwrap_or(0))
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
        let pids = pids(ids);
        let rows: Vec<PresenceRow> = with_lifeline(self, until, |conn, d| {
            let pids = pids.clone();
            Box::pin(timed(d, async move {
                sqlx::query_as(sql::PRESENCE)
                    .bind(pids)
                    .fetch_all(conn)
                    .await
                    .map_err(map_error)
            }))
        })
        .await?;
        Ok(rows.into_iter().map(PresenceRow::into_presence).collect())
    }
}
