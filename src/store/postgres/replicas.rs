//! Replica heartbeats, rule leases and signature claims in PostgreSQL, timed by the store's
//! clock ([`NOW_MS`]). A lease is taken or renewed by one `INSERT … ON CONFLICT DO UPDATE …
//! WHERE`, which PostgreSQL makes atomic: of two replicas racing for a free lease, one inserts
//! or updates and the other finds the winner's live row and gets nothing.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Postgres, Row, Transaction};

use super::{NOW_MS, PgStore, corrupt, timed};
use crate::domain::InstanceId;
use crate::store::{LeaseFence, LeaseRecord, ReplicaStore, StoreResult};

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Whether `fence` still holds. The lease row is locked `FOR SHARE` until the transaction ends:
/// a takeover (which updates the row) waits for the intent being fenced to commit, and a fence
/// checked while a takeover commits sees the new version.
pub(super) async fn holds(
    tx: &mut Transaction<'_, Postgres>,
    fence: &LeaseFence,
) -> StoreResult<bool> {
    let held: Option<i32> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT 1 FROM rule_leases WHERE instance_id = $1 AND owner = $2 AND version = $3 \
         AND expires_at > {NOW_MS} FOR SHARE"
    )))
    .bind(fence.instance_id.as_str())
    .bind(&fence.replica)
    .bind(fence.version)
    .fetch_optional(&mut **tx)
    .await?;
    Ok(held.is_some())
}

#[async_trait]
impl ReplicaStore for PgStore {
    async fn heartbeat(&self, replica: &str, ttl: Duration) -> StoreResult<()> {
        timed(async {
            let mut tx = self.pool.begin().await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO replicas (name, expires_at) VALUES ($1, {NOW_MS} + $2) \
                 ON CONFLICT (name) DO UPDATE SET expires_at = EXCLUDED.expires_at"
            )))
            .bind(replica)
            .bind(ttl_ms(ttl))
            .execute(&mut *tx)
            .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM signature_claims WHERE expires_at <= {NOW_MS}"
            )))
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn retire_replica(&self, replica: &str) -> StoreResult<()> {
        timed(async {
            let mut tx = self.pool.begin().await?;
            sqlx::query("DELETE FROM replicas WHERE name = $1")
                .bind(replica)
                .execute(&mut *tx)
                .await?;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE rule_leases SET expires_at = {NOW_MS} \
                 WHERE owner = $1 AND expires_at > {NOW_MS}"
            )))
            .bind(replica)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn live_replicas(&self) -> StoreResult<Vec<String>> {
        timed(async {
            Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT name FROM replicas WHERE expires_at > {NOW_MS} ORDER BY name"
            )))
            .fetch_all(&self.pool)
            .await?)
        })
        .await
    }

    async fn acquire_lease(
        &self,
        instance: &InstanceId,
        replica: &str,
        ttl: Duration,
    ) -> StoreResult<Option<i64>> {
        timed(async {
            // The SET expressions read the row as it was; the WHERE leaves a live lease of
            // another replica alone (then no row is returned).
            let version: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "INSERT INTO rule_leases AS l (instance_id, owner, version, expires_at) \
                 VALUES ($1, $2, 1, {NOW_MS} + $3) \
                 ON CONFLICT (instance_id) DO UPDATE SET \
                 version = CASE WHEN l.owner = EXCLUDED.owner AND l.expires_at > {NOW_MS} \
                     THEN l.version ELSE l.version + 1 END, \
                 owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at \
                 WHERE l.owner = EXCLUDED.owner OR l.expires_at <= {NOW_MS} \
                 RETURNING l.version"
            )))
            .bind(instance.as_str())
            .bind(replica)
            .bind(ttl_ms(ttl))
            .fetch_optional(&self.pool)
            .await?;
            Ok(version)
        })
        .await
    }

    async fn release_lease(&self, instance: &InstanceId, replica: &str) -> StoreResult<()> {
        timed(async {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE rule_leases SET expires_at = {NOW_MS} \
                 WHERE instance_id = $1 AND owner = $2 AND expires_at > {NOW_MS}"
            )))
            .bind(instance.as_str())
            .bind(replica)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn list_leases(&self) -> StoreResult<Vec<LeaseRecord>> {
        timed(async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT instance_id, owner, version, expires_at - {NOW_MS} AS expires_in_ms \
                 FROM rule_leases ORDER BY instance_id"
            )))
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let id: String = row.try_get("instance_id")?;
                    Ok(LeaseRecord {
                        instance_id: InstanceId::parse(&id)
                            .ok_or_else(|| corrupt(format!("lease instance {id}")))?,
                        owner: row.try_get("owner")?,
                        version: row.try_get("version")?,
                        expires_in_ms: row.try_get("expires_in_ms")?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn claim_signature(&self, key: &str, until_ms: i64) -> StoreResult<bool> {
        timed(async {
            // A claim that expired is taken over; a live one is not (then no row comes back).
            let claimed: Option<i32> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "INSERT INTO signature_claims AS c (key, expires_at) VALUES ($1, $2) \
                 ON CONFLICT (key) DO UPDATE SET expires_at = EXCLUDED.expires_at \
                 WHERE c.expires_at <= {NOW_MS} RETURNING 1"
            )))
            .bind(key)
            .bind(until_ms)
            .fetch_optional(&self.pool)
            .await?;
            Ok(claimed.is_some())
        })
        .await
    }
}
