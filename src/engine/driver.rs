//! The engine-neutral interface the service kills through.

use std::collections::HashSet;

use async_trait::async_trait;

use super::EngineError;
use crate::domain::{KillType, Session, SessionId};

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
    /// Every session the db user can see, ordered by id.
    async fn list(&self) -> Result<Snapshot, EngineError>;
    /// Sends one KILL per id, in the order given; each id gets its own result.
    async fn kill(
        &self,
        ids: &[SessionId],
        kill_type: KillType,
    ) -> Result<Vec<(SessionId, KillResult)>, EngineError>;
    /// `KILL [QUERY] USER` where the engine has it: the number of threads signalled, or `None`
    /// when the engine has no such statement. Call it only when it is exactly the planned kill.
    async fn kill_user(&self, user: &str, kill_type: KillType) -> Result<Option<u64>, EngineError>;
    /// Which of `ids` the server still lists.
    async fn presence(&self, ids: &[SessionId]) -> Result<Vec<Presence>, EngineError>;
}
