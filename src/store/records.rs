//! Plain rows the store reads and writes; no behaviour beyond shape.

use crate::domain::{
    DatastoreType, DbUserId, InstanceId, ProjectId, RuleSpec, Session, TaskState, TlsMode, UserId,
};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProjectRecord {
    pub id: ProjectId,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct UserRecord {
    pub id: UserId,
    pub name: String,
    pub password_hash: String,
    pub is_global_admin: bool,
}

pub struct NewUser<'a> {
    pub name: &'a str,
    pub password_hash: &'a str,
    pub is_global_admin: bool,
}

#[derive(Clone, Debug)]
pub struct TokenRecord {
    pub hash: String,
    pub user_id: UserId,
    /// `None` for an unscoped token.
    pub project_id: Option<ProjectId>,
    /// Unix milliseconds.
    pub issued_at: i64,
    pub expires_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceRecord {
    pub id: InstanceId,
    pub project_id: ProjectId,
    pub name: String,
    pub datastore_type: DatastoreType,
    pub host: String,
    pub port: u16,
    pub protected_users: Vec<String>,
    pub admin_port: Option<u16>,
    pub tls_mode: TlsMode,
    /// PEM of the CA that `verify_ca` / `verify_identity` trust; `None`: the system's roots.
    pub tls_ca: Option<String>,
    /// The db user rules and kill-all-session act as when they name none.
    pub default_db_user_id: Option<DbUserId>,
}

#[derive(Clone, Debug)]
pub struct DbUserRecord {
    pub id: DbUserId,
    pub instance_id: InstanceId,
    pub username: String,
    pub sealed_password: String,
}

#[derive(Clone, Debug, Default)]
pub struct DbUserFilter {
    pub id: Option<DbUserId>,
    pub username: Option<String>,
}

/// Whose secret a sealed value is; the row it is bound to (its AAD) follows from this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretOwner {
    DbUserPassword(DbUserId),
    /// The access key's id (`access`).
    AccessKeySecret(String),
}

/// One sealed secret as stored.
#[derive(Clone, Debug)]
pub struct SealedSecret {
    pub owner: SecretOwner,
    pub sealed: String,
}

/// One secret sealed again under a new key: the stored value it replaces, and the new one.
#[derive(Clone, Debug)]
pub struct Resealed {
    pub owner: SecretOwner,
    pub old: String,
    pub new: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Page {
    pub offset: i64,
    pub limit: i64,
}

impl Page {
    /// Every row, for work that walks a whole list (lifelines, deleting an instance).
    pub const ALL: Page = Page {
        offset: 0,
        limit: i64::MAX,
    };
}

/// What a kill request intends, written before the first KILL.
#[derive(Clone, Debug)]
pub struct KillIntent<'a> {
    /// The history row's own key; fresh for every request.
    pub history_id: String,
    /// The kill report's `request_id` (the caller's X-Request-Id), by which history is found.
    pub request_id: String,
    pub project_id: ProjectId,
    pub instance_id: InstanceId,
    pub db_user_id: DbUserId,
    /// `api:<user>`, `console:<user>`, `cli:<user>`, `rule:<id>`.
    pub source: String,
    /// The rule that killed (its task id), 0 for a kill someone asked for.
    pub task_id: i64,
    pub kill_type: String,
    pub filter_json: String,
    pub created_at: i64,
    pub sessions: &'a [SessionSnapshot<'a>],
    /// The replica that records it (and settles it, while it lives); '' for a store only one
    /// process uses.
    pub replica: String,
}

/// A session as it was seen when the plan was made. Borrowed from the listing: a plan of
/// 10,000 sessions is not copied on its way to the store, which happens before the first KILL.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SessionSnapshot<'a> {
    pub session_id: u64,
    pub user: &'a str,
    pub host: &'a str,
    pub db: &'a str,
    pub command: &'a str,
    pub time: i64,
    pub state: &'a str,
    pub info: &'a str,
    /// [`Session::started`]: reconciliation checks the id still names this session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started: Option<i64>,
}

/// History keeps this much of a statement; enough to recognise it.
const HISTORY_SQL_CHARS: usize = 1024;

/// The part of a statement history keeps: its first 1024 characters.
pub fn history_sql(sql: &str) -> &str {
    sql.char_indices()
        .nth(HISTORY_SQL_CHARS)
        .map_or(sql, |(end, _)| &sql[..end])
}

impl<'a> SessionSnapshot<'a> {
    pub fn of(s: &'a Session) -> Self {
        let info = history_sql(s.sql.as_deref().unwrap_or(""));
        SessionSnapshot {
            session_id: s.id.0,
            user: &s.user,
            host: &s.host,
            db: s.database.as_deref().unwrap_or(""),
            command: &s.command,
            time: s.time,
            state: &s.state,
            info,
            started: s.started,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Killed,
    NotFound,
    /// Refused by the server, or still alive after verification.
    Failed,
    /// The KILL was sent but the server stopped answering before dbkill could verify it; a
    /// reconciliation turns it into `Killed` (interrupted) or `NotKilled` once the server answers.
    Uncertain,
    /// A reconciliation found the session still there.
    NotKilled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Killed => "killed",
            Outcome::NotFound => "not_found",
            Outcome::Failed => "failed",
            Outcome::Uncertain => "uncertain",
            Outcome::NotKilled => "not_killed",
        }
    }
}

#[derive(Clone, Debug)]
pub struct SessionOutcome {
    pub session_id: u64,
    pub outcome: Outcome,
    pub error_code: Option<String>,
    /// Unix milliseconds when the server accepted the KILL.
    pub kill_time: Option<i64>,
}

/// A kill request whose outcome a reconciliation must still settle: dbkill stopped between its
/// intent and its outcomes (`crashed`), or some of its KILLs went to a server that then stopped
/// answering (outcome `uncertain`).
#[derive(Clone, Debug)]
pub struct UnreconciledRequest {
    pub history_id: String,
    /// The kill report's request id (X-Request-Id).
    pub request_id: String,
    pub project_id: ProjectId,
    pub instance_id: InstanceId,
    pub db_user_id: DbUserId,
    pub kill_type: String,
    /// When the intent was recorded (Unix ms); the KILLs followed right after it.
    pub created_at: i64,
    /// No outcome is on record: `sessions` is the whole plan.
    pub crashed: bool,
    /// What to check on the target: every planned session, or the uncertain ones.
    pub sessions: Vec<PlannedSession>,
}

/// A session a reconciliation checks, as the history has it (an owned [`SessionSnapshot`]).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct PlannedSession {
    pub session_id: u64,
    pub user: String,
    pub host: String,
    pub db: String,
    pub command: String,
    pub time: i64,
    pub state: String,
    /// The statement as planned (its first 1024 characters); empty when idle.
    pub info: String,
    /// For an uncertain session: when its KILL was sent. `None` in a plan.
    #[serde(default)]
    pub kill_time: Option<i64>,
    /// [`Session::started`] as planned; `None` where the engine does not reuse ids.
    #[serde(default)]
    pub started: Option<i64>,
}

/// What a reconciliation saw of one session on its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionCheck {
    pub session_id: u64,
    /// Still there (for a query kill: still running the planned statement).
    pub alive: bool,
}

#[derive(Clone, Debug, Default)]
pub struct HistoryQuery {
    /// Unix milliseconds, inclusive.
    pub start_time: i64,
    pub end_time: i64,
    pub offset: i64,
    pub limit: i64,
    /// Only the sessions of the kill whose report had this request id.
    pub request_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KilledSessionRecord {
    pub instance_id: String,
    pub session_id: i64,
    pub user: String,
    pub host: String,
    pub db: String,
    pub command: String,
    pub time: i64,
    pub state: String,
    pub info: String,
    pub kill_time: i64,
    pub killed_source: String,
    /// The rule that killed, 0 for a kill someone asked for.
    pub task_id: i64,
    /// The kill report's request id (X-Request-Id).
    pub request_id: String,
    /// The outcome was settled by a reconciliation: dbkill stopped (or the server stopped
    /// answering) before it could record it, and `kill_time` is when the KILLs were sent.
    pub interrupted: bool,
    /// The replica that recorded the kill; '' when one process used the store.
    pub replica: String,
}

/// A permanent access key; the secret stays sealed (AAD = the access key id).
#[derive(Clone, Debug)]
pub struct AccessKeyRecord {
    pub access: String,
    pub user_id: UserId,
    pub sealed_secret: String,
    pub description: String,
    pub status: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SessionId;

    fn session(sql: Option<String>) -> Session {
        Session {
            id: SessionId(42),
            user: "app".into(),
            host: "10.0.0.5:51234".into(),
            database: None,
            command: "Query".into(),
            time: 9,
            state: "Sending data".into(),
            sql,
            trx_seconds: 0,
            foreground: None,
            started: None,
        }
    }

    #[test]
    fn a_snapshot_keeps_the_first_1024_characters_of_a_statement() {
        // Multi-byte characters: the cut falls on a character boundary, never inside one.
        let long = "选".repeat(HISTORY_SQL_CHARS + 10);
        let s = session(Some(long));
        let snap = SessionSnapshot::of(&s);
        assert_eq!(snap.info.chars().count(), HISTORY_SQL_CHARS);
        assert!(snap.info.chars().all(|c| c == '选'));
        let short = session(Some("SELECT 1".into()));
        assert_eq!(SessionSnapshot::of(&short).info, "SELECT 1");
        let idle = session(None);
        let snap = SessionSnapshot::of(&idle);
        assert_eq!((snap.info, snap.db, snap.session_id), ("", "", 42));
    }
}

/// A kill rule as stored (DAS: a kill task). `id` is 0 before it is inserted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KillRuleRecord {
    pub id: i64,
    pub project_id: ProjectId,
    pub instance_id: InstanceId,
    pub spec: RuleSpec,
    pub state: TaskState,
    /// Unix ms.
    pub start_time: i64,
    /// Unix ms; 0 when `task_duration` is -1.
    pub end_time: i64,
    pub matched_total: i64,
    pub killed_total: i64,
    pub last_kill_time: Option<i64>,
}

impl KillRuleRecord {
    /// `rule:<id>`: the source of its kills in the history.
    pub fn source(&self) -> String {
        format!("rule:{}", self.id)
    }

    /// Its end time has come (at `now_ms`).
    pub fn expired(&self, now_ms: i64) -> bool {
        self.end_time > 0 && now_ms >= self.end_time
    }
}

/// What one tick adds to a rule's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RuleCounts {
    pub task_id: i64,
    pub matched: i64,
    pub killed: i64,
    /// Unix ms of the tick's last kill, if it killed.
    pub last_kill_time: Option<i64>,
}

/// A proof that `replica` holds the rule lease of `instance_id` at `version`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseFence {
    pub instance_id: InstanceId,
    pub replica: String,
    pub version: i64,
}

/// A rule lease as stored.
#[derive(Clone, Debug)]
pub struct LeaseRecord {
    pub instance_id: InstanceId,
    pub owner: String,
    pub version: i64,
    /// Until it expires, by the store's clock; 0 or less when it has.
    pub expires_in_ms: i64,
}
