//! `pg_stat_activity` rows as dbkill's sessions, mapped as the contract's "PostgreSQL
//! instances" section says: `command` is the backend's `state`, `state` its wait event, `host`
//! `addr:port` or `local`, and only a `client backend` is a client (a row whose type the db user
//! may not see is not known to be one, so it is never a candidate).

use super::connect::APPLICATION_NAME;
use crate::domain::{Session, SessionId};
use crate::engine::Presence;

/// One row of [`super::sql::LIST`].
#[derive(Debug, Default, sqlx::FromRow)]
pub struct ActivityRow {
    pub pid: i32,
    pub usename: Option<String>,
    pub datname: Option<String>,
    pub addr: Option<String>,
    pub client_port: Option<i32>,
    pub started: Option<i64>,
    pub state: Option<String>,
    pub wait_event_type: Option<String>,
    pub wait_event: Option<String>,
    pub query: Option<String>,
    pub backend_type: Option<String>,
    pub application_name: Option<String>,
    pub time: i64,
    pub trx: i64,
}

/// One row of [`super::sql::PRESENCE`].
#[derive(Debug, sqlx::FromRow)]
pub struct PresenceRow {
    pub pid: i32,
    pub started: Option<i64>,
    pub state: Option<String>,
    pub query: Option<String>,
}

pub fn session_id(pid: i32) -> SessionId {
    SessionId(u64::try_from(pid).unwrap_or_default())
}

impl ActivityRow {
    /// Set by dbkill on every connection it opens (this process's or another's).
    pub fn is_dbkill(&self) -> bool {
        self.application_name.as_deref() == Some(APPLICATION_NAME)
    }

    pub fn into_session(self) -> Session {
        let host = match (self.addr, self.client_port) {
            (_, Some(-1)) => "local".to_owned(),
            (Some(addr), Some(port)) => format!("{addr}:{port}"),
            (Some(addr), None) => addr,
            (None, _) => String::new(),
        };
        let state = match (self.wait_event_type, self.wait_event) {
            (Some(kind), Some(event)) => format!("{kind}:{event}"),
            _ => String::new(),
        };
        let command = self.state.unwrap_or_default();
        Session {
            id: session_id(self.pid),
            user: self.usename.unwrap_or_default(),
            host,
            database: self.datname,
            sql: statement_of(&command, self.query),
            command,
            time: self.time,
            state,
            trx_seconds: self.trx,
            foreground: self.backend_type.map(|t| t == "client backend"),
            started: self.started,
        }
    }
}

impl PresenceRow {
    pub fn into_presence(self) -> Presence {
        let command = self.state.unwrap_or_default();
        Presence {
            id: session_id(self.pid),
            started: self.started,
            running: command == "active",
            sql: statement_of(&command, self.query),
            command,
        }
    }
}

/// `query` holds the last statement even when the backend is idle: an idle session runs none.
fn statement_of(state: &str, query: Option<String>) -> Option<String> {
    if state == "idle" || state.is_empty() {
        None
    } else {
        query.filter(|q| !q.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(state: &str) -> ActivityRow {
        ActivityRow {
            pid: 4242,
            usename: Some("app".into()),
            datname: Some("shop".into()),
            addr: Some("10.0.0.7".into()),
            client_port: Some(51234),
            started: Some(1_700_000_000_123_456),
            state: Some(state.into()),
            query: Some("SELECT pg_sleep(60)".into()),
            backend_type: Some("client backend".into()),
            application_name: Some("psql".into()),
            time: 12,
            trx: 12,
            ..ActivityRow::default()
        }
    }

    #[test]
    fn an_active_client_backend_maps_to_the_nine_fields() {
        let mut row = client("active");
        row.wait_event_type = Some("Timeout".into());
        row.wait_event = Some("PgSleep".into());
        let s = row.into_session();
        assert_eq!(s.id, SessionId(4242));
        assert_eq!(s.user, "app");
        assert_eq!(s.host, "10.0.0.7:51234");
        assert_eq!(s.database.as_deref(), Some("shop"));
        assert_eq!(s.command, "active");
        assert_eq!(s.state, "Timeout:PgSleep");
        assert_eq!(s.sql.as_deref(), Some("SELECT pg_sleep(60)"));
        assert_eq!((s.time, s.trx_seconds), (12, 12));
        assert_eq!(s.foreground, Some(true));
        assert_eq!(s.started, Some(1_700_000_000_123_456));
    }

    #[test]
    fn an_idle_backend_runs_no_statement_but_idle_in_transaction_does() {
        assert_eq!(client("idle").into_session().sql, None);
        assert_eq!(
            client("idle in transaction").into_session().sql.as_deref(),
            Some("SELECT pg_sleep(60)")
        );
    }

    #[test]
    fn a_unix_socket_client_is_local() {
        let mut row = client("idle");
        row.addr = None;
        row.client_port = Some(-1);
        assert_eq!(row.into_session().host, "local");
    }

    #[test]
    fn other_backend_types_and_invisible_rows_are_not_clients() {
        let mut worker = client("active");
        worker.backend_type = Some("parallel worker".into());
        assert_eq!(worker.into_session().foreground, Some(false));
        // Another role's row without pg_read_all_stats: only pid, user and database show.
        let hidden = ActivityRow {
            pid: 7,
            usename: Some("postgres".into()),
            datname: Some("postgres".into()),
            query: Some("<insufficient privilege>".into()),
            ..ActivityRow::default()
        };
        let s = hidden.into_session();
        assert_eq!((s.foreground, s.command.as_str(), s.sql), (None, "", None));
        assert_eq!(s.started, None);
    }

    #[test]
    fn presence_of_a_cancelled_statement_is_not_running() {
        let p = PresenceRow {
            pid: 9,
            started: Some(1),
            state: Some("idle".into()),
            query: Some("SELECT pg_sleep(60)".into()),
        }
        .into_presence();
        assert!(!p.running);
        assert_eq!(p.sql, None);
    }
}
