//! What the history and reconciliation tests record: planned sessions and kill intents.

use crate::domain::{DbUserId, InstanceId, ProjectId};
use crate::store::{KillIntent, SessionSnapshot};

/// A planned session: idle when `info` is empty, else running it.
pub fn snapshot(id: u64, info: &'static str) -> SessionSnapshot<'static> {
    SessionSnapshot {
        session_id: id,
        user: "app",
        host: "h:1",
        db: "shop",
        command: if info.is_empty() { "Sleep" } else { "Query" },
        time: 3,
        state: "",
        info,
    }
}

/// A connection kill's intent, its report's request id `report-<history_id>`.
pub fn intent<'a>(
    history_id: &str,
    instance: &InstanceId,
    sessions: &'a [SessionSnapshot<'a>],
    created_at: i64,
) -> KillIntent<'a> {
    KillIntent {
        history_id: history_id.into(),
        request_id: format!("report-{history_id}"),
        project_id: ProjectId::new_random(),
        instance_id: instance.clone(),
        db_user_id: DbUserId::new_random(),
        source: "api:admin".into(),
        kill_type: "connection".into(),
        filter_json: "{}".into(),
        created_at,
        sessions,
    }
}
