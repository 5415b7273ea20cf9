//! The engine-neutral interface the service kills through.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use tokio::time::Instant;

use super::EngineError;
use crate::domain::{KillFilter, KillType, Session, SessionId};
use crate::planner::KillStrategy;

/// The server's sessions at one moment, and which of them are dbkill's own connections.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub sessions: Vec<Session>,
    pub own_ids: HashSet<SessionId>,
}

/// What became of one KILL.
#[derive(Debug)]
pub enum KillResult {
    /// The server accepted the KILL at this Unix millisecond.
    Accepted(i64),
    /// "Unknown thread id": the session ended before the KILL reached it.
    NotFound,
    /// The server refused this KILL (e.g. no privilege over that session).
    Failed(EngineError),
    /// Sent at this Unix millisecond, but no answer came (timeout, lost connection, a server
    /// that stopped answering, or a batch stopped at the deadline while this KILL ran): it may
    /// have taken effect. Verification decides.
    Unanswered(i64),
    /// Never sent: the time for sending ran out first.
    NotAttempted,
}

/// A plan's KILLs and the time they have.
#[derive(Clone, Copy, Debug)]
pub struct KillOrder<'a> {
    /// Newest first.
    pub ids: &'a [SessionId],
    /// When each session began, as listed ([`Session::started`]): where ids are reused, a KILL
    /// goes only to the session that still has this start, never to a newer one with its id.
    pub started: &'a HashMap<SessionId, i64>,
    pub kill_type: KillType,
    pub strategy: KillStrategy,
    /// No KILL is sent from here on.
    pub stop_sending: Instant,
    /// A batch still unanswered then is left unanswered (the server stopped answering).
    pub give_up: Instant,
}

/// A session still listed after its KILL: what it is doing now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    pub id: SessionId,
    /// As [`Session::started`]: a different value means the id now names another session.
    pub started: Option<i64>,
    pub command: String,
    /// A statement is running (MySQL's `Query`, PostgreSQL's `active`).
    pub running: bool,
    pub sql: Option<String>,
}

/// Every call is bounded by the driver's statement timeout and, where it takes one, by `until`.
#[async_trait]
pub trait SessionDriver: Send + Sync {
    /// The sessions the db user can see that may pass `filter`, ordered by id: a superset the
    /// engine narrows cheaply (when ids are given, by ids alone, so listed sessions that fail
    /// user/database still show up); the planner applies the exact filters.
    async fn list(&self, filter: &KillFilter, until: Instant) -> Result<Snapshot, EngineError>;
    /// Age in seconds of each given session's open transaction (absent: none, or not visible).
    async fn trx_ages(&self, ids: &[SessionId]) -> Result<HashMap<SessionId, i64>, EngineError>;
    /// Sends the order's KILLs by its strategy (per id, in the order given; or `KILL USER`
    /// through [`SessionDriver::kill_user`], which the caller runs), and answers every id once.
    /// Nothing it sent is still running on the server when it returns, unless the server
    /// stopped answering (those ids are [`KillResult::Unanswered`]).
    async fn execute(&self, order: &KillOrder<'_>) -> Vec<(SessionId, KillResult)>;
    /// `KILL [QUERY] USER` where the engine has it: the number of threads signalled, or `None`
    /// when the engine has no such statement. Call it only when it is exactly the planned kill.
    async fn kill_user(
        &self,
        user: &str,
        kill_type: KillType,
        until: Instant,
    ) -> Result<Option<u64>, EngineError>;
    /// How many client connections the server holds now: a cheap counter to watch instead of
    /// the processlist, whose every read walks all threads under a global lock.
    async fn connected_count(&self, until: Instant) -> Result<u64, EngineError>;
    /// Which of `ids` the server still lists.
    async fn presence(
        &self,
        ids: &[SessionId],
        until: Instant,
    ) -> Result<Vec<Presence>, EngineError>;
}
