//! Access keys in PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PgStore, corrupt, map_unique, timed};
use crate::domain::UserId;
use crate::store::{AccessKeyRecord, AccessKeyStore, StoreResult};

const COLUMNS: &str =
    "SELECT access, user_id, sealed_secret, description, status, created_at FROM access_keys";

fn key_row(row: &PgRow) -> StoreResult<AccessKeyRecord> {
    let user: String = row.try_get("user_id")?;
    Ok(AccessKeyRecord {
        access: row.try_get("access")?,
        user_id: UserId::parse(&user).ok_or_else(|| corrupt("access key user"))?,
        sealed_secret: row.try_get("sealed_secret")?,
        description: row.try_get("description")?,
        status: row.try_get("status")?,
        created_at: row.try_get("created_at")?,
    })
}

#[async_trait]
impl AccessKeyStore for PgStore {
    async fn insert_access_key(&self, k: &AccessKeyRecord) -> StoreResult<()> {
        timed(async {
            sqlx::query(
                "INSERT INTO access_keys (access, user_id, sealed_secret, description, status, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6)",
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
        })
        .await
    }

    async fn get_access_key(&self, access: &str) -> StoreResult<Option<AccessKeyRecord>> {
        timed(async {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("{COLUMNS} WHERE access = $1")))
                .bind(access)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(key_row).transpose()
        })
        .await
    }

    async fn list_access_keys(&self, user: Option<&UserId>) -> StoreResult<Vec<AccessKeyRecord>> {
        timed(async {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{COLUMNS} WHERE ($1::text IS NULL OR user_id = $1) ORDER BY created_at, access"
            )))
            .bind(user.map(|u| u.as_str().to_owned()))
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(key_row).collect()
        })
        .await
    }

    async fn delete_access_key(&self, access: &str) -> StoreResult<bool> {
        timed(async {
            let done = sqlx::query("DELETE FROM access_keys WHERE access = $1")
                .bind(access)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }
}
