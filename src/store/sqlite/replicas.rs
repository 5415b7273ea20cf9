//! Replica heartbeats, rule leases and signature claims in SQLite. Only one process opens an
//! embedded store, so there is one replica; the leases still work as on a shared store (the
//! rule runner need not know which store it has), by the process clock.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::{Row, Sqlite, Transaction};

use super::{SqliteStore, now_ms};
use crate::domain::InstanceId;
use crate::store::{LeaseFence, LeaseRecord, ReplicaStore, StoreError, StoreResult};

fn ttl_ms(ttl: Duration) -> i64 {
    i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Whether `fence` still holds, inside a transaction that holds the write lock.
pub(super) async fn holds(
    tx: &mut Transaction<'_, Sqlite>,
    fence: &LeaseFence,
) -> StoreResult<bool> {
    let held: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM rule_leases WHERE instance_id = ? AND owner = ? AND version = ? \
         AND expires_at > ?",
    )
    .bind(fence.instance_id.as_str())
    .bind(&fence.replica)
    .bind(fence.version)
    .bind(now_ms())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(held.is_some())
}

#[async_trait]
impl ReplicaStore for SqliteStore {
    async fn heartbeat(&self, replica: &str, ttl: Duration) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO replicas (name, expires_at) VALUES (?1, ?2) \
             ON CONFLICT (name) DO UPDATE SET expires_at = excluded.expires_at",
        )
        .bind(replica)
        .bind(now.saturating_add(ttl_ms(ttl)))
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM signature_claims WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn retire_replica(&self, replica: &str) -> StoreResult<()> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM replicas WHERE name = ?")
            .bind(replica)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE rule_leases SET expires_at = ?1 WHERE owner = ?2 AND expires_at > ?1")
            .bind(now)
            .bind(replica)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn live_replicas(&self) -> StoreResult<Vec<String>> {
        Ok(
            sqlx::query_scalar("SELECT name FROM replicas WHERE expires_at > ? ORDER BY name")
                .bind(now_ms())
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn acquire_lease(
        &self,
        instance: &InstanceId,
        replica: &str,
        ttl: Duration,
    ) -> StoreResult<Option<i64>> {
        let now = now_ms();
        // One statement: the row is inserted, or updated only where it is free for `replica`;
        // the SET expressions read the row as it was.
        let version: Option<i64> = sqlx::query_scalar(
            "INSERT INTO rule_leases (instance_id, owner, version, expires_at) \
             VALUES (?1, ?2, 1, ?3) \
             ON CONFLICT (instance_id) DO UPDATE SET \
             version = CASE WHEN rule_leases.owner = excluded.owner \
                 AND rule_leases.expires_at > ?4 \
                 THEN rule_leases.version ELSE rule_leases.version + 1 END, \
             owner = excluded.owner, expires_at = excluded.expires_at \
             WHERE rule_leases.owner = excluded.owner OR rule_leases.expires_at <= ?4 \
             RETURNING version",
        )
        .bind(instance.as_str())
        .bind(replica)
        .bind(now.saturating_add(ttl_ms(ttl)))
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        Ok(version)
    }

    async fn release_lease(&self, instance: &InstanceId, replica: &str) -> StoreResult<()> {
        sqlx::query(
            "UPDATE rule_leases SET expires_at = ?1 \
             WHERE instance_id = ?2 AND owner = ?3 AND expires_at > ?1",
        )
        .bind(now_ms())
        .bind(instance.as_str())
        .bind(replica)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn list_leases(&self) -> StoreResult<Vec<LeaseRecord>> {
        let rows = sqlx::query(
            "SELECT instance_id, owner, version, expires_at - ? AS expires_in_ms \
             FROM rule_leases ORDER BY instance_id",
        )
        .bind(now_ms())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("instance_id")?;
                Ok(LeaseRecord {
                    instance_id: InstanceId::parse(&id)
                        .ok_or_else(|| StoreError::Corrupt(format!("lease instance {id}")))?,
                    owner: row.try_get("owner")?,
                    version: row.try_get("version")?,
                    expires_in_ms: row.try_get("expires_in_ms")?,
                })
            })
            .collect()
    }

    async fn claim_signature(&self, key: &str, until_ms: i64) -> StoreResult<bool> {
        // A claim that expired is taken over; a live one is not.
        let claimed: Option<i64> = sqlx::query_scalar(
            "INSERT INTO signature_claims (key, expires_at) VALUES (?1, ?2) \
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
             WHERE signature_claims.expires_at <= ?3 RETURNING 1",
        )
        .bind(key)
        .bind(until_ms)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(claimed.is_some())
    }
}
