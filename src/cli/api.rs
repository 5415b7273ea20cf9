//! The shapes the CLI reads from and sends to dbkill's REST API (described by the service's
//! `/openapi.json`).
//!
//! Sessions are read in the server's own shapes ([`crate::wire`]), so the nine DAS fields are
//! defined once. The other types are the CLI's own: the server's responses are built from its
//! domain records and only serialize. None of them denies unknown fields, so what a newer
//! server adds is ignored; a field an older server lacks is tolerated only where it is an
//! `Option` or `#[serde(default)]`.

use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct IdName {
    pub id: String,
    pub name: String,
}

/// The body of `POST /v3/auth/tokens` (the token itself comes in `X-Subject-Token`).
#[derive(Deserialize, Debug)]
pub struct TokenInfo {
    pub expires_at: String,
    pub user: IdName,
    pub project: Option<IdName>,
}

#[derive(Deserialize, Debug)]
pub struct TokenEnvelope {
    pub token: TokenInfo,
}

#[derive(Deserialize, Debug)]
pub struct ProjectList {
    pub projects: Vec<IdName>,
}

#[derive(Deserialize, Clone, Debug)]
pub struct Instance {
    pub instance_id: String,
    pub name: String,
    pub datastore_type: String,
    pub host: String,
    pub port: u16,
    #[serde(default)]
    pub protected_users: Vec<String>,
    pub admin_port: Option<u16>,
    #[serde(default)]
    pub tls_mode: Option<String>,
}

#[derive(Deserialize, Debug)]
pub struct InstanceList {
    pub instances: Vec<Instance>,
    pub total: i64,
}

#[derive(Serialize, Debug)]
pub struct NewInstance {
    pub name: String,
    pub datastore_type: String,
    pub host: String,
    pub port: u16,
    pub protected_users: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_mode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_ca: Option<String>,
}

#[derive(Deserialize, Debug)]
pub struct InstanceId {
    pub instance_id: String,
}

#[derive(Deserialize, Clone, Debug)]
pub struct DbUser {
    pub db_user_id: String,
    pub db_username: String,
}

#[derive(Deserialize, Debug)]
pub struct DbUserList {
    pub db_users: Vec<DbUser>,
    pub total: i64,
}

#[derive(Deserialize, Debug)]
pub struct DbUserId {
    pub db_user_id: String,
}

/// Sessions come in the server's own shapes ([`crate::wire`]).
pub use crate::wire::{KilledOut as Killed, ProcessOut as Process, SessionOut};

#[derive(Deserialize, Debug)]
pub struct ProcessList {
    pub processes: Vec<Process>,
    pub count: usize,
}

/// The body of KillSession; `None` and empty filters are left out.
#[derive(Serialize, Debug, Clone)]
pub struct KillRequest {
    pub db_user_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub process_ids: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    pub dry_run: bool,
    pub kill_type: &'static str,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Skipped {
    pub id: String,
    pub user: String,
    pub reason: String,
}

#[derive(Deserialize, Debug, Clone)]
pub struct Failed {
    pub id: String,
    pub error_code: String,
    pub error_msg: String,
}

#[derive(Deserialize, Debug, Clone, Default)]
pub struct KillReport {
    pub killed: Vec<Killed>,
    pub skipped: Vec<Skipped>,
    pub not_found: Vec<String>,
    pub failed: Vec<Failed>,
}

impl KillReport {
    /// Adds the report of one more request of the same kill.
    pub fn merge(&mut self, other: KillReport) {
        self.killed.extend(other.killed);
        self.skipped.extend(other.skipped);
        self.not_found.extend(other.not_found);
        self.failed.extend(other.failed);
    }
}

#[derive(Deserialize, Debug)]
pub struct KilledSession {
    pub session_id: i64,
    pub user: String,
    pub host: String,
    pub db: String,
    pub command: String,
    /// Unix milliseconds.
    pub kill_time: i64,
    pub killed_source: String,
    /// Settled by a reconciliation after dbkill stopped mid-kill (absent from older servers).
    #[serde(default)]
    pub interrupted: bool,
}

#[derive(Deserialize, Debug)]
pub struct KillHistory {
    pub killed_sessions: Vec<KilledSession>,
    pub total_count: i64,
}

/// A DAS error body.
#[derive(Deserialize, Debug)]
pub struct ErrorBody {
    pub error_code: String,
    pub error_msg: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_killed_session_reads_as_a_process_and_its_gone() {
        let report: KillReport = serde_json::from_value(serde_json::json!({
            "killed": [
                {"id": "7", "user": "u", "host": "h:1", "database": "--", "command": "Sleep",
                 "time": "3", "state": "", "sql": "", "gone": true, "from_a_newer_server": 1},
                {"id": "8", "user": "u", "host": "h:2", "database": "d", "command": "Query",
                 "time": "0", "state": "User sleep", "sql": "SELECT SLEEP(100)"}
            ],
            "skipped": [], "not_found": ["9"], "failed": [], "dry_run": false
        }))
        .unwrap();
        let [first, second] = &report.killed[..] else {
            panic!("{report:?}")
        };
        assert_eq!(
            (first.session.id.as_str(), first.session.host.as_str()),
            ("7", "h:1")
        );
        assert_eq!(first.gone, Some(true));
        assert_eq!(second.session.sql, "SELECT SLEEP(100)");
        assert_eq!(second.gone, None);
        assert_eq!(report.not_found, ["9"]);
    }
}
