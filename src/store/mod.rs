//! The metadata store: projects, users, role bindings, tokens, instances, sealed db-user
//! credentials and kill history. Handlers see only the [`Store`] trait, implemented by the
//! embedded SQLite store and by the PostgreSQL one several replicas share; [`open`] picks one
//! from the settings.

mod cached;
pub mod change_feed;
pub mod coherence;
mod location;
mod open;
mod postgres;
mod records;
mod sqlite;

use std::time::Duration;

use async_trait::async_trait;

use crate::domain::{DbUserId, InstanceId, ProjectId, Role, RuleSwitch, TaskState, UserId};

pub use cached::CachedStore;
pub use coherence::Coherence;
pub use location::StoreLocation;
pub use open::{OpenedStore, open};
pub use postgres::PgStore;
pub use records::*;
pub use sqlite::SqliteStore;
#[cfg(test)]
pub(crate) use sqlite::fixtures;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique name is taken.
    #[error("already exists")]
    Conflict,
    /// The store could not write (disk full, read-only, I/O error, or locked past its busy
    /// timeout; a PostgreSQL store also when it cannot be reached, has no connection free or
    /// did not answer in time); what was being written is not stored.
    #[error("store cannot write: {0}")]
    Unwritable(String),
    #[error("store: {0}")]
    Db(sqlx::Error),
    #[error("store: migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("store: corrupt row: {0}")]
    Corrupt(String),
    /// A fenced write found the rule lease held by another replica, at another version or
    /// expired: this replica no longer owns the instance's rules, and nothing was written.
    #[error("the rule lease was lost")]
    LeaseLost,
}

pub type StoreResult<T> = Result<T, StoreError>;

/// SQLite's primary result codes that mean the write did not happen for want of storage:
/// SQLITE_PERM, SQLITE_BUSY, SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN.
const SQLITE_UNWRITABLE: [i64; 6] = [3, 5, 8, 10, 13, 14];

/// PostgreSQL's SQLSTATEs (or their classes) that mean the store cannot take the write now:
/// connection exceptions (08), insufficient resources (53: disk full, out of memory, too many
/// connections), a read-only transaction (25006: a standby), a statement or lock timeout
/// (57014, 55P03) and a server shutting down or starting (57P01-57P03).
const PG_UNWRITABLE: [&str; 7] = ["08", "53", "25006", "57014", "55P03", "57P0", "58030"];

fn unwritable_db_error(db: &dyn sqlx::error::DatabaseError) -> bool {
    let Some(code) = db.code() else { return false };
    if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() {
        // Extended codes carry the primary one in their low byte.
        return code
            .parse::<i64>()
            .is_ok_and(|code| SQLITE_UNWRITABLE.contains(&(code & 0xff)));
    }
    PG_UNWRITABLE.iter().any(|prefix| code.starts_with(prefix))
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        let unwritable = match &e {
            sqlx::Error::Database(db) => unwritable_db_error(db.as_ref()),
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
            _ => false,
        };
        if unwritable {
            StoreError::Unwritable(e.to_string())
        } else {
            StoreError::Db(e)
        }
    }
}

/// Everything the service needs from its store.
pub trait Store:
    IdentityStore + AccessKeyStore + CatalogStore + HistoryStore + RuleStore + ReplicaStore
{
}
impl<T> Store for T where
    T: IdentityStore + AccessKeyStore + CatalogStore + HistoryStore + RuleStore + ReplicaStore
{
}

/// Projects, users, role bindings and tokens.
#[async_trait]
pub trait IdentityStore: Send + Sync + 'static {
    async fn ping(&self) -> StoreResult<()>;
    /// A tiny real write where the store keeps its data (and, for a store on local files, a
    /// little room to grow): what `/healthz` asks.
    async fn probe_write(&self) -> StoreResult<()>;

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

/// The master key's check value and every sealed secret: opening the store with the right key
/// at start, and re-sealing everything under a new key (`dbkill rotate-master-key`). Requests
/// never need it.
#[async_trait]
pub trait KeyringStore: Send + Sync + 'static {
    /// The check value sealed under the key the secrets are sealed with; `None` before the first
    /// start that knew about it.
    async fn key_check(&self) -> StoreResult<Option<String>>;
    /// Records the check value of a store that has none; an existing one is left as it is.
    async fn init_key_check(&self, sealed: &str) -> StoreResult<()>;
    /// Every sealed secret.
    async fn sealed_secrets(&self) -> StoreResult<Vec<SealedSecret>>;
    /// Replaces every sealed secret and the check value in one transaction, on disk when it
    /// returns. Changes nothing, and fails, unless `resealed` covers exactly the secrets stored,
    /// each still as it was read.
    async fn reseal(&self, resealed: &[Resealed], key_check: &str) -> StoreResult<()>;
}

/// The record of every kill: intent first, outcomes after.
#[async_trait]
pub trait HistoryStore: Send + Sync + 'static {
    /// Records each request and every planned session before any KILL is sent, all plans in
    /// one transaction. With a `fence`, the same transaction first checks that the fence's
    /// replica still holds the instance's rule lease at the fence's version, unexpired (and
    /// keeps a takeover waiting until it commits); otherwise nothing is written and it returns
    /// [`StoreError::LeaseLost`].
    async fn record_kill_plans(
        &self,
        plans: &[KillIntent<'_>],
        fence: Option<&LeaseFence>,
    ) -> StoreResult<()>;
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
    /// is still executing) are left out before their plans are read. A shared store also leaves
    /// out requests recorded by another replica whose heartbeat is live (it settles its own);
    /// those of `replica`, of no replica ('') or of a dead or retired one are included.
    async fn unreconciled(
        &self,
        busy: &[String],
        replica: &str,
    ) -> StoreResult<Vec<UnreconciledRequest>>;
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

/// Kill rules, their counters and the per-instance switch. Never cached: a tick must see a
/// terminate or a switch turned off at once.
#[async_trait]
pub trait RuleStore: Send + Sync + 'static {
    /// Inserts `rule` unless its instance has `limit` rules running or paused already (checked
    /// in the same transaction); its id, or `None` at the limit.
    async fn insert_rule(&self, rule: &KillRuleRecord, limit: usize) -> StoreResult<Option<i64>>;
    /// The instance's rules, newest first, at most `limit`.
    async fn list_rules(
        &self,
        instance: &InstanceId,
        limit: i64,
    ) -> StoreResult<Vec<KillRuleRecord>>;
    /// The instance's rules in `state`, oldest first.
    async fn rules_in_state(
        &self,
        instance: &InstanceId,
        state: TaskState,
    ) -> StoreResult<Vec<KillRuleRecord>>;
    /// Moves the rule to `to` if it is in one of `from`; whether it moved.
    async fn set_rule_state(
        &self,
        instance: &InstanceId,
        id: i64,
        from: &[TaskState],
        to: TaskState,
    ) -> StoreResult<bool>;
    /// Adds one tick's counts, in one transaction.
    async fn add_rule_counts(&self, counts: &[RuleCounts]) -> StoreResult<()>;
    async fn rule_switch(&self, instance: &InstanceId) -> StoreResult<RuleSwitch>;
    async fn set_rule_switch(&self, instance: &InstanceId, switch: RuleSwitch) -> StoreResult<()>;
    /// Instances whose switch is on and that have a running rule: where ticks must run.
    async fn rule_instances(&self) -> StoreResult<Vec<(ProjectId, InstanceId)>>;
}

/// Replicas sharing the store and the leases by which one of them runs an instance's rules.
/// Times are the store's own clock (PostgreSQL's, or the process clock for SQLite) so replicas'
/// clocks need not agree.
#[async_trait]
pub trait ReplicaStore: Send + Sync + 'static {
    /// Records that `replica` is alive for `ttl` from now (upsert); also purges expired
    /// signature claims.
    async fn heartbeat(&self, replica: &str, ttl: Duration) -> StoreResult<()>;
    /// A clean shutdown: the replica's row goes and every lease it holds is released (expired
    /// now).
    async fn retire_replica(&self, replica: &str) -> StoreResult<()>;
    /// The replicas whose heartbeat has not expired, by name.
    async fn live_replicas(&self) -> StoreResult<Vec<String>>;
    /// Takes the lease of `instance` for `replica` for `ttl` from now when it is free, expired,
    /// or already `replica`'s: renewing one's own live lease keeps its version; taking it (new
    /// row, expired, or released) bumps the version. `None` when another replica holds a live
    /// lease. One atomic statement: two replicas racing can never both get `Some`.
    async fn acquire_lease(
        &self,
        instance: &InstanceId,
        replica: &str,
        ttl: Duration,
    ) -> StoreResult<Option<i64>>;
    /// Releases `replica`'s lease of `instance` (if it holds it), so another can take it at
    /// once.
    async fn release_lease(&self, instance: &InstanceId, replica: &str) -> StoreResult<()>;
    async fn list_leases(&self) -> StoreResult<Vec<LeaseRecord>>;
    /// Claims a signature (its hash) as used until `until_ms` (Unix ms); false when it was
    /// claimed already and has not expired. Shared across replicas so a signed request cannot
    /// be replayed on another replica.
    async fn claim_signature(&self, key: &str, until_ms: i64) -> StoreResult<bool>;
}
