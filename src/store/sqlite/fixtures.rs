//! What the store's tests record: planned sessions, kill intents, an instance to hang db users on.

use super::SqliteStore;
use crate::domain::{DatastoreType, DbUserId, InstanceId, ProjectId, TlsMode};
use crate::store::{CatalogStore, IdentityStore, InstanceRecord, KillIntent, SessionSnapshot};

/// A MariaDB instance in a new project `p`, stored.
pub async fn stored_instance(store: &SqliteStore) -> InstanceRecord {
    let project = store.create_project("p").await.unwrap();
    let instance = InstanceRecord {
        id: InstanceId::new_random("in01"),
        project_id: project.id,
        name: "i".into(),
        datastore_type: DatastoreType::Mariadb,
        host: "127.0.0.1".into(),
        port: 3306,
        protected_users: vec![],
        admin_port: None,
        tls_mode: TlsMode::Preferred,
        tls_ca: None,
        default_db_user_id: None,
    };
    store.insert_instance(&instance).await.unwrap();
    instance
}

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
        started: None,
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
        task_id: 0,
        kill_type: "connection".into(),
        filter_json: "{}".into(),
        created_at,
        sessions,
        replica: String::new(),
    }
}
