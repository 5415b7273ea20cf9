//! The engine-neutral interface the service kills through.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;

use super::EngineError;
use crate::domain::{KillFilter, KillType, Session, SessionId};

/// The server's sessions at one moment, and which of them are dbkill's own connections.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    pub sessions: Vec<Session>,
    pub own_ids: HashSet<SessionId>,
}

/// What the server said to one KILL.
#[derive(Debug)]
pub enum KillResult {
    /// The server accepted the KILL at this Unix millisecond.
    Accepted(i64),
    /// "Unknown thread id": the session ended before the KILL reached it.
    NotFound,
    Failed(EngineError),
}

/// A session still listed after its KILL: what it is doing now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presence {
    pub id: SessionId,
    pub command: String,
    pub sql: Option<String>,
}

#[async_trait]
pub trait SessionDriver: Send + Sync {
    /// The sessions the db user can see that may pass `filter`, ordered by id: a superset the
    /// engine narrows cheaply (when ids are given, by ids alone, so listed sessions that fail
    /// user/database still show up); the planner applies the exact filters.
    async fn list(&self, filter: &KillFilter) -> Result<Snapshot, EngineError>;
    /// Age in seconds of each given session's open transaction (absent: none, or not visible).
    async fn trx_ages(&self, ids: &[SessionId]) -> Result<HashMap<SessionId, i64>, EngineError>;
    /// Sends one KILL per id, in the order given; each id gets its own result.
    async fn kill(
        &self,
        ids: &[SessionId],
        kill_type: KillType,
    ) -> Result<Vec<(SessionId, KillResult)>, EngineError>;
    /// `KILL [QUERY] USER` where the engine has it: the number of threads signalled, or `None`
    /// when the engine has no such statement. Call it only when it is exactly the planned kill.
    async fn kill_user(&self, user: &str, kill_type: KillType) -> Result<Option<u64>, EngineError>;
    /// How many client connections the server holds now: a cheap counter to watch instead of
    /// the processlist, whose every read walks all threads under a global lock.
    async fn connected_count(&self) -> Result<u64, EngineError>;
    /// Which of `ids` the server still lists.
    async fn presence(&self, ids: &[SessionId]) -> Result<Vec<Presence>, EngineError>;
}
