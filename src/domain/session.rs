//! A session as an engine reports it, normalised across MySQL, MariaDB and PostgreSQL.

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
    /// MySQL's `threads.TYPE` or PostgreSQL's `backend_type`: `Some(false)` for a server's own
    /// threads and processes; `None` where unknown.
    pub foreground: Option<bool>,
    /// When the session began (Unix µs), where the engine reuses ids (PostgreSQL's pids): an id
    /// names the same session only while this is unchanged. `None` where ids are never reused
    /// while the server runs (MySQL's connection ids), or the start is not visible.
    pub started: Option<i64>,
}

impl Session {
    /// Connected but doing nothing: MySQL's `Sleep`, PostgreSQL's `idle` (an idle session in a
    /// transaction is not idle: it holds the transaction open). The one place that says so.
    pub fn is_idle(&self) -> bool {
        self.command == "Sleep" || self.command == "idle"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SessionId;

    fn doing(command: &str) -> Session {
        Session {
            id: SessionId(1),
            user: "app".into(),
            host: "h:1".into(),
            database: None,
            command: command.into(),
            time: 0,
            state: String::new(),
            sql: None,
            trx_seconds: 0,
            foreground: None,
            started: None,
        }
    }

    #[test]
    fn idle_is_sleep_or_idle_and_nothing_else() {
        assert!(doing("Sleep").is_idle());
        assert!(doing("idle").is_idle());
        for busy in [
            "Query",
            "Daemon",
            "Killed",
            "active",
            "idle in transaction",
            "idle in transaction (aborted)",
            "sleep",
        ] {
            assert!(!doing(busy).is_idle(), "{busy}");
        }
    }
}
