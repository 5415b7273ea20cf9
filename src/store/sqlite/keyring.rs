//! The master key's check value and the sealed columns (`db_users.sealed_password`,
//! `access_keys.sealed_secret`) in SQLite.

use async_trait::async_trait;
use sqlx::{Connection, Row, SqliteConnection};

use super::{SqliteStore, now_ms};
use crate::domain::DbUserId;
use crate::store::{KeyringStore, Resealed, SealedSecret, SecretOwner, StoreError, StoreResult};

#[async_trait]
impl KeyringStore for SqliteStore {
    async fn key_check(&self) -> StoreResult<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT key_check FROM keyring WHERE id = 1")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn init_key_check(&self, sealed: &str) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO keyring (id, key_check, sealed_at) VALUES (1, ?, ?) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(sealed)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn sealed_secrets(&self) -> StoreResult<Vec<SealedSecret>> {
        let mut conn = self.pool.acquire().await?;
        read_secrets(&mut conn).await
    }

    async fn reseal(&self, resealed: &[Resealed], key_check: &str) -> StoreResult<()> {
        let mut conn = self.pool.acquire().await?;
        // The new key file replaces the old one once this returns: the commit must be on disk
        // by then, not only in a WAL the OS has yet to write.
        sqlx::query("PRAGMA synchronous = FULL")
            .execute(&mut *conn)
            .await?;
        let done = reseal_in_one_transaction(&mut conn, resealed, key_check).await;
        sqlx::query("PRAGMA synchronous = NORMAL")
            .execute(&mut *conn)
            .await?;
        done
    }
}

async fn read_secrets(conn: &mut SqliteConnection) -> StoreResult<Vec<SealedSecret>> {
    let mut all = Vec::new();
    for row in sqlx::query("SELECT id, sealed_password FROM db_users ORDER BY id")
        .fetch_all(&mut *conn)
        .await?
    {
        let id: String = row.try_get("id")?;
        all.push(SealedSecret {
            owner: SecretOwner::DbUserPassword(
                DbUserId::parse(&id).ok_or_else(|| StoreError::Corrupt("db user id".into()))?,
            ),
            sealed: row.try_get("sealed_password")?,
        });
    }
    for row in sqlx::query("SELECT access, sealed_secret FROM access_keys ORDER BY access")
        .fetch_all(&mut *conn)
        .await?
    {
        all.push(SealedSecret {
            owner: SecretOwner::AccessKeySecret(row.try_get("access")?),
            sealed: row.try_get("sealed_secret")?,
        });
    }
    Ok(all)
}

async fn reseal_in_one_transaction(
    conn: &mut SqliteConnection,
    resealed: &[Resealed],
    key_check: &str,
) -> StoreResult<()> {
    let mut tx = conn.begin().await?;
    let stored = read_secrets(&mut tx).await?.len();
    if stored != resealed.len() {
        return Err(StoreError::Corrupt(format!(
            "{stored} secrets are stored, {} were re-sealed",
            resealed.len()
        )));
    }
    for r in resealed {
        let query = match &r.owner {
            SecretOwner::DbUserPassword(id) => sqlx::query(
                "UPDATE db_users SET sealed_password = ? WHERE id = ? AND sealed_password = ?",
            )
            .bind(&r.new)
            .bind(id.to_string()),
            SecretOwner::AccessKeySecret(access) => sqlx::query(
                "UPDATE access_keys SET sealed_secret = ? WHERE access = ? AND sealed_secret = ?",
            )
            .bind(&r.new)
            .bind(access),
        };
        if query.bind(&r.old).execute(&mut *tx).await?.rows_affected() != 1 {
            return Err(StoreError::Corrupt(format!(
                "{:?} changed while it was re-sealed",
                r.owner
            )));
        }
    }
    sqlx::query(
        "INSERT INTO keyring (id, key_check, sealed_at) VALUES (1, ?1, ?2) \
         ON CONFLICT (id) DO UPDATE SET key_check = ?1, sealed_at = ?2",
    )
    .bind(key_check)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}
