//! The JSON shapes of sessions in DAS's form, written by the server and read by the CLI: one
//! definition, so the two cannot drift. Every field is a string, as DAS sends them.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::Session;

/// What identifies a session and what it was doing: the fields ListProcesses and KillSession
/// share.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
pub struct SessionOut {
    pub id: String,
    pub user: String,
    pub host: String,
    /// `--` when the session has no current database.
    pub database: String,
    pub command: String,
    pub time: String,
    pub state: String,
    /// `""` when idle.
    pub sql: String,
}

/// One session as ListProcesses lists it.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
pub struct ProcessOut {
    #[serde(flatten)]
    pub session: SessionOut,
    /// Age in seconds of the session's open transaction, `"0"` when none.
    pub trx_executed_time: String,
}

/// A killed (or, in a dry run, targeted) session as the kill saw it.
#[derive(Serialize, Deserialize, ToSchema, Clone, Debug, PartialEq, Eq)]
pub struct KilledOut {
    #[serde(flatten)]
    pub session: SessionOut,
    /// Seen leaving the processlist (query kill: its statement ended); absent in a dry run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gone: Option<bool>,
}

impl From<&Session> for SessionOut {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.to_string(),
            user: s.user.clone(),
            host: s.host.clone(),
            database: s.database.clone().unwrap_or_else(|| "--".into()),
            command: s.command.clone(),
            time: s.time.to_string(),
            state: s.state.clone(),
            sql: s.sql.clone().unwrap_or_default(),
        }
    }
}

impl From<&Session> for ProcessOut {
    fn from(s: &Session) -> Self {
        Self {
            session: s.into(),
            trx_executed_time: s.trx_seconds.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SessionId;

    #[test]
    fn shapes_are_flat_strings_and_read_back() {
        let s = Session {
            id: SessionId(7),
            user: "app".into(),
            host: "h:1".into(),
            database: None,
            command: "Query".into(),
            time: 3,
            state: "User sleep".into(),
            sql: Some("SELECT SLEEP(9)".into()),
            trx_seconds: 2,
            foreground: None,
            started: None,
        };
        let listed = serde_json::to_value(ProcessOut::from(&s)).unwrap();
        assert_eq!(
            listed,
            serde_json::json!({"id": "7", "user": "app", "host": "h:1", "database": "--",
                "command": "Query", "time": "3", "state": "User sleep", "sql": "SELECT SLEEP(9)",
                "trx_executed_time": "2"})
        );
        let killed = KilledOut {
            session: (&s).into(),
            gone: None,
        };
        let json = serde_json::to_value(&killed).unwrap();
        assert!(json.get("gone").is_none() && json.get("trx_executed_time").is_none());
        assert_eq!(serde_json::from_value::<KilledOut>(json).unwrap(), killed);
        assert_eq!(
            serde_json::from_value::<ProcessOut>(listed).unwrap(),
            ProcessOut::from(&s)
        );
    }
}
