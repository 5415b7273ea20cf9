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

/// The body of AddKillProcessTask, and of its preview (DAS previews with the same body). `None`
/// is left out, so the server's defaults apply.
#[derive(Serialize, Debug, Clone, Default)]
pub struct RuleBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db_user_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub db: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    pub time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_trx_time: Option<u64>,
    /// Seconds, or -1: until stopped.
    pub task_duration: i64,
    pub task_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kill_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_kills_per_minute: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pause_above: Option<u64>,
}

/// A session a rule would kill now, as the preview lists it (DAS's shape: integer id and time).
#[derive(Deserialize, Debug)]
pub struct PreviewedSession {
    pub id: i64,
    pub user: String,
    pub host: String,
    #[serde(default)]
    pub db: Option<String>,
    pub command: String,
    #[serde(default)]
    pub sql_info: Option<String>,
    pub state_duration: i64,
    #[serde(default)]
    pub state: Option<String>,
}

impl PreviewedSession {
    /// In the shape the session tables show.
    pub fn as_session(&self) -> SessionOut {
        SessionOut {
            id: self.id.to_string(),
            user: self.user.clone(),
            host: self.host.clone(),
            database: self
                .db
                .clone()
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| "--".into()),
            command: self.command.clone(),
            time: self.state_duration.to_string(),
            state: self.state.clone().unwrap_or_default(),
            sql: self.sql_info.clone().unwrap_or_default(),
        }
    }
}

#[derive(Deserialize, Debug)]
pub struct RulePreview {
    pub processes: Vec<PreviewedSession>,
    pub total_count: i64,
}

#[derive(Deserialize, Debug)]
pub struct RuleAdded {
    pub task_id: i64,
}

#[derive(Deserialize, Debug)]
pub struct RuleSwitch {
    pub status: String,
}

/// One rule as QueryKillProcessTask lists it: DAS's fields, then dbkill's (absent from DAS
/// itself, hence optional). An empty condition may come as `""` or `null`.
#[derive(Deserialize, Debug)]
pub struct Rule {
    pub task_id: i64,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub db: Option<String>,
    #[serde(default)]
    pub command: Option<String>,
    #[serde(default)]
    pub info: Option<String>,
    pub time: i64,
    /// 1 running, 2 stopped, 3 finished, 4 paused.
    pub task_state: i64,
    /// Unix milliseconds.
    pub start_time: i64,
    /// Unix milliseconds; 0 when the rule runs until stopped.
    pub end_time: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub mode: Option<String>,
    #[serde(default)]
    pub kill_type: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub min_trx_time: Option<i64>,
    #[serde(default)]
    pub matched_total: Option<i64>,
    #[serde(default)]
    pub killed_total: Option<i64>,
    /// Unix milliseconds; absent, `null` or 0 before the rule's first kill.
    #[serde(default)]
    pub last_kill_time: Option<i64>,
}

#[derive(Deserialize, Debug)]
pub struct RuleList {
    pub sql_killing_task_resp_list: Vec<Rule>,
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
