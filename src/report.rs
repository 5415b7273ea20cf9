//! The per-session account of a kill request, shared by the API, the CLI and the console.

use crate::domain::{KillType, Session, SessionId};
use crate::error::DasError;
use crate::planner::SkipReason;

#[derive(Clone, Debug)]
pub struct KillReport {
    pub request_id: String,
    pub dry_run: bool,
    pub kill_type: KillType,
    /// Sessions whose KILL the server accepted (or, in a dry run, would be sent a KILL).
    pub killed: Vec<KilledSession>,
    pub skipped: Vec<SkippedSession>,
    /// Listed ids with no session, or whose session ended before its KILL.
    pub not_found: Vec<SessionId>,
    pub failed: Vec<FailedSession>,
}

#[derive(Clone, Debug)]
pub struct KilledSession {
    pub session: Session,
    /// Whether verification saw the session leave (a query kill: its statement end);
    /// `None` in a dry run.
    pub gone: Option<bool>,
    /// Unix ms when the server accepted the KILL; `None` in a dry run.
    pub kill_time: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct SkippedSession {
    pub id: SessionId,
    pub user: String,
    pub reason: SkipReason,
}

#[derive(Clone, Debug)]
pub struct FailedSession {
    pub id: SessionId,
    pub error: DasError,
}
