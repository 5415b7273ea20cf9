//! Access keys in SQLite.

use async_trait::async_trait;
use sqlx::Row;

use super::{SqliteStore, map_unique};
use crate::domain::UserId;
use crate::store::{AccessKeyRecord, AccessKeyStore, StoreError, StoreResult};

fn key_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<AccessKeyRecord> {
    let user: String = row.try_get("user_id")?;
    Ok(AccessKeyRecord {
        access: row.try_get("access")?,
        user_id: UserId::parse(&user)
            .ok_or_else(|| StoreError::Corrupt("access key user".into()))?,
        sealed_secret: row.try_get("sealed_secret")?,
        description: row.try_get("description")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl AccessKeyStore for SqliteStore {
    async fn insert_access_key(&self, k: &AccessKeyRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO access_keys (access, user_id, sealed_secret, description, status, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .bind(&k.access)
        .bind(k.user_id.as_str())
        .bind(&k.sealed_secret)
        .bind(&k.description)
        .bind(&k.status)
        .bind(k.created_at)
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    async fn get_access_key(&self, access: &str) -> StoreResult<Option<AccessKeyRecord>> {
        let row = sqlx::query("SELECT * FROM access_keys WHERE access = ?")
            .bind(access)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(key_row).transpose()
    }

    async fn list_access_keys(&self, user: Option<&UserId>) -> StoreResult<Vec<AccessKeyRecord>> {
        let rows = sqlx::query(
            "SELECT * FROM access_keys WHERE (?1 IS NULL OR user_id = ?1) ORDER BY created_at, access",
        )
        .bind(user.map(|u| u.as_str().to_owned()))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(key_row).collect()
    }

    async fn delete_access_key(&self, access: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM access_keys WHERE access = ?")
            .bind(access)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
