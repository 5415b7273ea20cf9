//! A read-through cache in front of a store, for what every request reads: its token, user,
//! roles, project, instance and db user. Every write that could change a cached row goes
//! through here and drops it, so in one process the cache is never stale; only rows that exist
//! are cached. On a store other replicas write to, [`Coherence`] says when the cache may answer
//! and which entries still count (those loaded in the current epoch).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::coherence::Coherence;
use super::*;
use crate::domain::{DbUserId, InstanceId, ProjectId, Role, RuleSwitch, TaskState, UserId};

/// More entries than this and the map starts over: a cache, not a second store.
const MAX_ENTRIES: usize = 10_000;

/// Entries with the epoch they were loaded in.
struct Map<K, V>(Mutex<HashMap<K, (u64, V)>>);

impl<K: Eq + Hash, V: Clone> Map<K, V> {
    fn new() -> Self {
        Self(Mutex::new(HashMap::new()))
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (u64, V)>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn get(&self, k: &K, epoch: u64) -> Option<V> {
        match self.lock().get(k) {
            Some((e, v)) if *e == epoch => Some(v.clone()),
            _ => None,
        }
    }
    fn put(&self, k: K, v: V, epoch: u64) {
        let mut m = self.lock();
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(k, (epoch, v));
    }
    fn remove(&self, k: &K) {
        self.lock().remove(k);
    }
    fn clear(&self) {
        self.lock().clear();
    }
}

pub struct CachedStore<S> {
    inner: S,
    tokens: Map<String, TokenRecord>,
    users: Map<UserId, UserRecord>,
    roles: Map<UserId, Vec<(ProjectId, Role)>>,
    projects: Map<ProjectId, ProjectRecord>,
    instances: Map<(ProjectId, InstanceId), InstanceRecord>,
    db_users: Map<DbUserId, DbUserRecord>,
    coherence: Arc<Coherence>,
}

impl<S> CachedStore<S> {
    pub fn new(inner: S, coherence: Arc<Coherence>) -> Self {
        Self {
            inner,
            coherence,
            tokens: Map::new(),
            users: Map::new(),
            roles: Map::new(),
            projects: Map::new(),
            instances: Map::new(),
            db_users: Map::new(),
        }
    }
}

impl<S> CachedStore<S> {
    /// The epoch entries must be from to answer now; `None` when the cache may not answer.
    fn answering_epoch(&self) -> Option<u64> {
        let epoch = self.coherence.epoch();
        self.coherence.trusted().then_some(epoch)
    }

    /// Whether a row loaded since `epoch` began may be kept: nothing changed meanwhile.
    fn still(&self, epoch: Option<u64>) -> Option<u64> {
        epoch.filter(|e| *e == self.coherence.epoch() && self.coherence.trusted())
    }
}

/// Reads `key` from `map`, or from the store (caching a row that exists when nothing changed
/// while it was read).
macro_rules! read_through {
    ($self:expr, $map:expr, $key:expr, $load:expr) => {{
        let epoch = $self.answering_epoch();
        if let Some(v) = epoch.and_then(|e| $map.get(&$key, e)) {
            return Ok(Some(v));
        }
        let loaded = $load.await?;
        if let (Some(v), Some(e)) = (&loaded, $self.still(epoch)) {
            $map.put($key, v.clone(), e);
        }
        Ok(loaded)
    }};
}

#[async_trait]
impl<S: Store> IdentityStore for CachedStore<S> {
    async fn ping(&self) -> StoreResult<()> {
        self.inner.ping().await
    }
    async fn probe_write(&self) -> StoreResult<()> {
        self.inner.probe_write().await
    }
    async fn create_project(&self, name: &str) -> StoreResult<ProjectRecord> {
        self.inner.create_project(name).await
    }
    async fn list_projects(&self) -> StoreResult<Vec<ProjectRecord>> {
        self.inner.list_projects().await
    }
    async fn get_project(&self, id: &ProjectId) -> StoreResult<Option<ProjectRecord>> {
        read_through!(self, self.projects, id.clone(), self.inner.get_project(id))
    }
    async fn get_project_by_name(&self, name: &str) -> StoreResult<Option<ProjectRecord>> {
        self.inner.get_project_by_name(name).await
    }
    async fn create_user(&self, new: NewUser<'_>) -> StoreResult<UserRecord> {
        self.inner.create_user(new).await
    }
    async fn get_user(&self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        read_through!(self, self.users, id.clone(), self.inner.get_user(id))
    }
    async fn get_user_by_name(&self, name: &str) -> StoreResult<Option<UserRecord>> {
        self.inner.get_user_by_name(name).await
    }
    async fn count_users(&self) -> StoreResult<i64> {
        self.inner.count_users().await
    }
    async fn bind_role(&self, project: &ProjectId, user: &UserId, role: Role) -> StoreResult<()> {
        let done = self.inner.bind_role(project, user, role).await;
        self.roles.remove(user);
        done
    }
    async fn unbind_role(&self, project: &ProjectId, user: &UserId, role: Role) -> StoreResult<()> {
        let done = self.inner.unbind_role(project, user, role).await;
        self.roles.remove(user);
        done
    }
    async fn roles_of(&self, user: &UserId) -> StoreResult<Vec<(ProjectId, Role)>> {
        let epoch = self.answering_epoch();
        if let Some(v) = epoch.and_then(|e| self.roles.get(user, e)) {
            return Ok(v);
        }
        let loaded = self.inner.roles_of(user).await?;
        if let Some(e) = self.still(epoch) {
            self.roles.put(user.clone(), loaded.clone(), e);
        }
        Ok(loaded)
    }
    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
        self.inner.insert_token(token).await
    }
    async fn find_token(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        read_through!(
            self,
            self.tokens,
            hash.to_owned(),
            self.inner.find_token(hash)
        )
    }
    async fn delete_token(&self, hash: &str) -> StoreResult<bool> {
        let done = self.inner.delete_token(hash).await;
        self.tokens.remove(&hash.to_owned());
        done
    }
}

#[async_trait]
impl<S: Store> AccessKeyStore for CachedStore<S> {
    async fn insert_access_key(&self, key: &AccessKeyRecord) -> StoreResult<()> {
        self.inner.insert_access_key(key).await
    }
    async fn get_access_key(&self, access: &str) -> StoreResult<Option<AccessKeyRecord>> {
        self.inner.get_access_key(access).await
    }
    async fn list_access_keys(&self, user: Option<&UserId>) -> StoreResult<Vec<AccessKeyRecord>> {
        self.inner.list_access_keys(user).await
    }
    async fn delete_access_key(&self, access: &str) -> StoreResult<bool> {
        self.inner.delete_access_key(access).await
    }
}

#[async_trait]
impl<S: Store> CatalogStore for CachedStore<S> {
    async fn insert_instance(&self, instance: &InstanceRecord) -> StoreResult<()> {
        self.inner.insert_instance(instance).await
    }
    async fn update_instance(&self, instance: &InstanceRecord) -> StoreResult<bool> {
        let done = self.inner.update_instance(instance).await;
        self.instances
            .remove(&(instance.project_id.clone(), instance.id.clone()));
        done
    }
    async fn list_instances(
        &self,
        project: &ProjectId,
        page: Page,
    ) -> StoreResult<(Vec<InstanceRecord>, i64)> {
        self.inner.list_instances(project, page).await
    }
    async fn get_instance(
        &self,
        project: &ProjectId,
        id: &InstanceId,
    ) -> StoreResult<Option<InstanceRecord>> {
        read_through!(
            self,
            self.instances,
            (project.clone(), id.clone()),
            self.inner.get_instance(project, id)
        )
    }
    async fn delete_instance(&self, project: &ProjectId, id: &InstanceId) -> StoreResult<bool> {
        let done = self.inner.delete_instance(project, id).await;
        self.instances.remove(&(project.clone(), id.clone()));
        // Its db users went with it (ON DELETE CASCADE).
        self.db_users.clear();
        done
    }
    async fn upsert_db_user(
        &self,
        instance: &InstanceId,
        username: &str,
        seal: &(dyn for<'a> Fn(&'a DbUserId) -> String + Send + Sync),
    ) -> StoreResult<DbUserId> {
        let id = self.inner.upsert_db_user(instance, username, seal).await?;
        self.db_users.remove(&id);
        Ok(id)
    }
    async fn list_db_users(
        &self,
        instance: &InstanceId,
        filter: &DbUserFilter,
        page: Page,
    ) -> StoreResult<(Vec<DbUserRecord>, i64)> {
        self.inner.list_db_users(instance, filter, page).await
    }
    async fn get_db_user(&self, id: &DbUserId) -> StoreResult<Option<DbUserRecord>> {
        read_through!(self, self.db_users, id.clone(), self.inner.get_db_user(id))
    }
    async fn update_db_user(
        &self,
        id: &DbUserId,
        username: &str,
        sealed_password: &str,
    ) -> StoreResult<bool> {
        let done = self
            .inner
            .update_db_user(id, username, sealed_password)
            .await;
        self.db_users.remove(id);
        done
    }
    async fn delete_db_user(&self, id: &DbUserId) -> StoreResult<bool> {
        let done = self.inner.delete_db_user(id).await;
        self.db_users.remove(id);
        // An instance that named it as its default no longer does.
        self.instances.clear();
        done
    }
}

#[async_trait]
impl<S: Store> HistoryStore for CachedStore<S> {
    async fn record_kill_plans(
        &self,
        plans: &[KillIntent<'_>],
        fence: Option<&LeaseFence>,
    ) -> StoreResult<()> {
        self.inner.record_kill_plans(plans, fence).await
    }
    async fn record_kill_outcomes(
        &self,
        request_id: &str,
        sessions: &[SessionSnapshot<'_>],
        outcomes: &[SessionOutcome],
    ) -> StoreResult<()> {
        self.inner
            .record_kill_outcomes(request_id, sessions, outcomes)
            .await
    }
    async fn list_kill_history(
        &self,
        instance: &InstanceId,
        query: &HistoryQuery,
    ) -> StoreResult<(Vec<KilledSessionRecord>, i64)> {
        self.inner.list_kill_history(instance, query).await
    }
    async fn unreconciled(
        &self,
        busy: &[String],
        replica: &str,
    ) -> StoreResult<Vec<UnreconciledRequest>> {
        self.inner.unreconciled(busy, replica).await
    }
    async fn record_reconciliation(
        &self,
        history_id: &str,
        checks: &[SessionCheck],
    ) -> StoreResult<usize> {
        self.inner.record_reconciliation(history_id, checks).await
    }
}

/// Rules are read through: a tick must see a terminate or a switch turned off at once.
#[async_trait]
impl<S: Store> RuleStore for CachedStore<S> {
    async fn insert_rule(&self, rule: &KillRuleRecord, limit: usize) -> StoreResult<Option<i64>> {
        self.inner.insert_rule(rule, limit).await
    }
    async fn list_rules(
        &self,
        instance: &InstanceId,
        limit: i64,
    ) -> StoreResult<Vec<KillRuleRecord>> {
        self.inner.list_rules(instance, limit).await
    }
    async fn rules_in_state(
        &self,
        instance: &InstanceId,
        state: TaskState,
    ) -> StoreResult<Vec<KillRuleRecord>> {
        self.inner.rules_in_state(instance, state).await
    }
    async fn set_rule_state(
        &self,
        instance: &InstanceId,
        id: i64,
        from: &[TaskState],
        to: TaskState,
    ) -> StoreResult<bool> {
        self.inner.set_rule_state(instance, id, from, to).await
    }
    async fn add_rule_counts(&self, counts: &[RuleCounts]) -> StoreResult<()> {
        self.inner.add_rule_counts(counts).await
    }
    async fn rule_switch(&self, instance: &InstanceId) -> StoreResult<RuleSwitch> {
        self.inner.rule_switch(instance).await
    }
    async fn set_rule_switch(&self, instance: &InstanceId, switch: RuleSwitch) -> StoreResult<()> {
        self.inner.set_rule_switch(instance, switch).await
    }
    async fn rule_instances(&self) -> StoreResult<Vec<(ProjectId, InstanceId)>> {
        self.inner.rule_instances().await
    }
}

/// Leases, heartbeats and signature claims are never cached: they are how replicas agree.
#[async_trait]
impl<S: Store> ReplicaStore for CachedStore<S> {
    async fn heartbeat(&self, replica: &str, ttl: std::time::Duration) -> StoreResult<()> {
        self.inner.heartbeat(replica, ttl).await
    }
    async fn retire_replica(&self, replica: &str) -> StoreResult<()> {
        self.inner.retire_replica(replica).await
    }
    async fn live_replicas(&self) -> StoreResult<Vec<String>> {
        self.inner.live_replicas().await
    }
    async fn acquire_lease(
        &self,
        instance: &InstanceId,
        replica: &str,
        ttl: std::time::Duration,
    ) -> StoreResult<Option<i64>> {
        self.inner.acquire_lease(instance, replica, ttl).await
    }
    async fn release_lease(&self, instance: &InstanceId, replica: &str) -> StoreResult<()> {
        self.inner.release_lease(instance, replica).await
    }
    async fn list_leases(&self) -> StoreResult<Vec<LeaseRecord>> {
        self.inner.list_leases().await
    }
    async fn claim_signature(&self, key: &str, until_ms: i64) -> StoreResult<bool> {
        self.inner.claim_signature(key, until_ms).await
    }
}
