//! Plain rows the store reads and writes; no behaviour beyond shape.

use crate::domain::{DatastoreType, DbUserId, InstanceId, ProjectId, Session, UserId};

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
    /// `api:<user>`, `console:<user>`, `rule:<id>`.
    pub source: String,
    pub kill_type: String,
    pub filter_json: String,
    pub created_at: i64,
    pub sessions: &'a [SessionSnapshot<'a>],
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
}

/// History keeps this much of a statement; enough to recognise it.
const HISTORY_SQL_CHARS: usize = 1024;

impl<'a> SessionSnapshot<'a> {
    pub fn of(s: &'a Session) -> Self {
        let sql = s.sql.as_deref().unwrap_or("");
        let info = sql
            .char_indices()
            .nth(HISTORY_SQL_CHARS)
            .map_or(sql, |(end, _)| &sql[..end]);
        SessionSnapshot {
            session_id: s.id.0,
            user: &s.user,
            host: &s.host,
            db: s.database.as_deref().unwrap_or(""),
            command: &s.command,
            time: s.time,
            state: &s.state,
            info,
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

#[derive(Clone, Debug)]
pub struct HistoryQuery {
    /// Unix milliseconds, inclusive.
    pub start_time: i64,
    pub end_time: i64,
    pub offset: i64,
    pub limit: i64,
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
