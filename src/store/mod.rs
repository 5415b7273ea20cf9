//! The metadata store: projects, users, role bindings, tokens, instances, sealed db-user
//! credentials and kill history. Handlers see only the [`Store`] trait, so a PostgreSQL
//! implementation can replace the embedded SQLite one without touching them.

mod cached;
mod records;
mod sqlite;

use async_trait::async_trait;

use crate::domain::{DbUserId, InstanceId, ProjectId, Role, UserId};

pub use cached::CachedStore;
pub use records::*;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique name is taken.
    #[error("already exists")]
    Conflict,
    #[error("store: {0}")]
    Db(#[from] sqlx::Error),
    #[error("store: migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store: corrupt row: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the service needs from its store.
pub trait Store: IdentityStore + AccessKeyStore + CatalogStore + HistoryStore {}
impl<T: IdentityStore + AccessKeyStore + CatalogStore + HistoryStore> Store for T {}

/// Projects, users, role bindings and tokens.
#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    async fn ping(&self) -> StoreResult<()>;

    async fn create_project(&self, name: &str) -> StoreResult<ProjectRecord>;
    async fn list_projects(&self) -> StoreResult<Vec<ProjectRecord>>;
    async fn get_project(&self, id: &ProjectId) -> StoreResult<Option<ProjectRecord>>;
    async fn get_project_by_name(&self, name: &str) -> StoreResult<Option<ProjectRecord>>;
    async fn create_user(&self, new: NewUser<'_>) -> StoreResult<UserRecord>;
    async fn get_user(&self, id: &UserId) -> StoreResult<Option<UserRecord>>;
    async fn get_user_by_name(&self, name: &str) -> StoreResult<Option<UserRecord>>;
    async fn count_users(&self) -> StoreResult<i64>;

    // Role bindings.
    async fn bind_role(&self, project: &ProjectId, user: &UserId, role: Role) -> StoreResult<()>;
    async fn unbind_role(&self, project: &ProjectId, user: &UserId, role: Role) -> StoreResult<()>;
    async fn roles_of(&self, user: &UserId) -> StoreResult<Vec<(ProjectId, Role)>>;

    // Tokens (by SHA-256 hash only).
    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()>;
    async fn find_token(&self, hash: &str) -> StoreResult<Option<TokenRecord>>;
    async fn delete_token(&self, hash: &str) -> StoreResult<bool>;
}

/// Access keys for signed requests.
#[async_trait]
pub trait AccessKeyStore: Send + Sync + 'static {
    async fn insert_access_key(&self, key: &AccessKeyRecord) -> StoreResult<()>;
    async fn get_access_key(&self, access: &str) -> StoreResult<Option<AccessKeyRecord>>;
    /// Every key of `user`, or of every user when `None`.
    async fn list_access_keys(&self, user: Option<&UserId>) -> StoreResult<Vec<AccessKeyRecord>>;
    async fn delete_access_key(&self, access: &str) -> StoreResult<bool>;
}

/// Instances and the db users (sealed credentials) registered on them.
#[async_trait]
pub trait CatalogStore: Send + Sync + 'static {
    async fn insert_instance(&self, instance: &InstanceRecord) -> StoreResult<()>;
    /// Replaces the instance's mutable fields (all but id, project and datastore type).
    async fn update_instance(&self, instance: &InstanceRecord) -> StoreResult<bool>;
    async fn list_instances(
        &self,
        project: &ProjectId,
        page: Page,
    ) -> StoreResult<(Vec<InstanceRecord>, i64)>;
    async fn get_instance(
        &self,
        project: &ProjectId,
        id: &InstanceId,
    ) -> StoreResult<Option<InstanceRecord>>;
    async fn delete_instance(&self, project: &ProjectId, id: &InstanceId) -> StoreResult<bool>;

    /// Inserts, or when the username is registered on the instance already, replaces its password.
    /// `seal` is called with the row id the password will live under.
    async fn upsert_db_user(
        &self,
        instance: &InstanceId,
        username: &str,
        seal: &(dyn for<'a> Fn(&'a DbUserId) -> String + Send + Sync),
    ) -> StoreResult<DbUserId>;
    async fn list_db_users(
        &self,
        instance: &InstanceId,
        filter: &DbUserFilter,
        page: Page,
    ) -> StoreResult<(Vec<DbUserRecord>, i64)>;
    async fn get_db_user(&self, id: &DbUserId) -> StoreResult<Option<DbUserRecord>>;
    /// Sets username and sealed password; `Conflict` if the username belongs to another row.
    async fn update_db_user(
        &self,
        id: &DbUserId,
        username: &str,
        sealed_password: &str,
    ) -> StoreResult<bool>;
    async fn delete_db_user(&self, id: &DbUserId) -> StoreResult<bool>;
}

/// The record of every kill: intent first, outcomes after.
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// Records the request and every planned session before any KILL is sent.
    async fn record_kill_plan(&self, plan: &KillIntent<'_>) -> StoreResult<()>;
    /// Records each planned session with its outcome and closes the request.
    async fn record_kill_outcomes(
        &self,
        request_id: &str,
        sessions: &[SessionSnapshot<'_>],
        outcomes: &[SessionOutcome],
    ) -> StoreResult<()>;
    async fn list_kill_history(
        &self,
        instance: &InstanceId,
        query: &HistoryQuery,
    ) -> StoreResult<(Vec<KilledSessionRecord>, i64)>;
    /// Every request a reconciliation must settle, oldest first: without outcomes (dbkill
    /// stopped mid-kill), or with `uncertain` sessions. Requests in `busy` (kills this process
    /// is still executing) are left out before their plans are read.
    async fn unreconciled(&self, busy: &[String]) -> StoreResult<Vec<UnreconciledRequest>>;
    /// Settles one request in one transaction. Without outcomes: a row per planned session,
    /// gone ones `killed` at the intent's time, live ones `not_killed`, both `interrupted`, and
    /// the request finished. Uncertain rows become `killed` (keeping their KILL time) or
    /// `not_killed`, `interrupted`. Returns how many sessions it settled; 0 when another writer
    /// settled the request first.
    async fn record_reconciliation(
        &self,
        history_id: &str,
        checks: &[SessionCheck],
    ) -> StoreResult<usize>;
}
