//! A session as an engine reports it, normalised across MySQL, MariaDB and (later) PostgreSQL.

use super::SessionId;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    /// Account name; `system user`, `event_scheduler`, `unauthenticated user` for server threads.
    pub user: String,
    pub host: String,
    /// Current schema, `None` when the session has none.
    pub database: Option<String>,
    pub command: String,
    /// Seconds in the current state.
    pub time: i64,
    pub state: String,
    /// Statement text, `None` when idle.
    pub sql: Option<String>,
    /// Age in seconds of the session's open transaction, 0 when none.
    pub trx_seconds: i64,
    /// MySQL's `threads.TYPE`: `Some(false)` for BACKGROUND threads; `None` where unknown.
    pub foreground: Option<bool>,
}
