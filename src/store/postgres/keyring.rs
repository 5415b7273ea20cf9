//! The master key's check value and the sealed columns (`db_users.sealed_password`,
//! `access_keys.sealed_secret`) in PostgreSQL.

use async_trait::async_trait;
use sqlx::{PgConnection, Row};

use super::{PgStore, corrupt, now_ms, timed};
use crate::domain::DbUserId;
use crate::store::{KeyringStore, Resealed, SealedSecret, SecretOwner, StoreResult};

#[async_trait]
impl KeyringStore for PgStore {
    async fn key_check(&self) -> StoreResult<Option<String>> {
        timed(async {
            Ok(
                sqlx::query_scalar("SELECT key_check FROM keyring WHERE id = 1")
                    .fetch_optional(&self.pool)
                    .await?,
            )
        })
        .await
    }

    async fn init_key_check(&self, sealed: &str) -> StoreResult<()> {
        timed(async {
            sqlx::query(
                "INSERT INTO keyring (id, key_check, sealed_at) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(sealed)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn sealed_secrets(&self) -> StoreResult<Vec<SealedSecret>> {
        timed(async {
            let mut conn = self.pool.acquire().await?;
            read_secrets(&mut conn).await
        })
        .await
    }

    async fn reseal(&self, resealed: &[Resealed], key_check: &str) -> StoreResult<()> {
        timed(async {
            let mut tx = self.pool.begin().await?;
            // The new key file replaces the old one once this returns: the commit must be
            // durable then, whatever the server's default.
            sqlx::query("SET LOCAL synchronous_commit = on")
                .execute(&mut *tx)
                .await?;
            // No secret may be added, changed or removed (through any replica) between the
            // count and the commit; a second rotation waits for this one.
            sqlx::query("LOCK TABLE db_users, access_keys, keyring IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
            let stored = read_secrets(&mut tx).await?.len();
            if stored != resealed.len() {
                return Err(corrupt(format!(
                    "{stored} secrets are stored, {} were re-sealed",
                    resealed.len()
                )));
            }
            for r in resealed {
                let query = match &r.owner {
                    SecretOwner::DbUserPassword(id) => sqlx::query(
                        "UPDATE db_users SET sealed_password = $1 \
                         WHERE id = $2 AND sealed_password = $3",
                    )
                    .bind(&r.new)
                    .bind(id.to_string()),
                    SecretOwner::AccessKeySecret(access) => sqlx::query(
                        "UPDATE access_keys SET sealed_secret = $1 \
                         WHERE access = $2 AND sealed_secret = $3",
                    )
                    .bind(&r.new)
                    .bind(access),
                };
                if query.bind(&r.old).execute(&mut *tx).await?.rows_affected() != 1 {
                    return Err(corrupt(format!(
                        "{:?} changed while it was re-sealed",
                        r.owner
                    )));
                }
            }
            sqlx::query(
                "INSERT INTO keyring (id, key_check, sealed_at) VALUES (1, $1, $2) \
                 ON CONFLICT (id) DO UPDATE SET key_check = EXCLUDED.key_check, \
                 sealed_at = EXCLUDED.sealed_at",
            )
            .bind(key_check)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }
}

async fn read_secrets(conn: &mut PgConnection) -> StoreResult<Vec<SealedSecret>> {
    let mut all = Vec::new();
    for row in sqlx::query("SELECT id, sealed_password FROM db_users ORDER BY id")
        .fetch_all(&mut *conn)
        .await?
    {
        let id: String = row.try_get("id")?;
        all.push(SealedSecret {
            owner: SecretOwner::DbUserPassword(
                DbUserId::parse(&id).ok_or_else(|| corrupt("db user id"))?,
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
