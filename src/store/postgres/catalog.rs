//! Instances and db users in PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PgStore, corrupt, map_unique, now_ms, timed};
use crate::domain::{DatastoreType, DbUserId, InstanceId, ProjectId, TlsMode};
use crate::store::{CatalogStore, DbUserFilter, DbUserRecord, InstanceRecord, Page, StoreResult};

const INSTANCE_COLUMNS: &str = "SELECT id, project_id, name, datastore_type, host, port, \
     protected_users, admin_port, tls_mode, tls_ca, default_db_user_id FROM instances";
const DB_USER_COLUMNS: &str = "SELECT id, instance_id, username, sealed_password FROM db_users";

/// Two registrations of one new name race to insert it; the loser finds the winner's row and
/// updates it instead. More rounds than this mean something else is wrong.
const UPSERT_ROUNDS: usize = 3;

fn instance_row(row: &PgRow) -> StoreResult<InstanceRecord> {
    let id: String = row.try_get("id")?;
    let project: String = row.try_get("project_id")?;
    let ds: String = row.try_get("datastore_type")?;
    let protected: String = row.try_get("protected_users")?;
    let port: i64 = row.try_get("port")?;
    let admin_port: Option<i64> = row.try_get("admin_port")?;
    let tls_mode: String = row.try_get("tls_mode")?;
    Ok(InstanceRecord {
        id: InstanceId::parse(&id).ok_or_else(|| corrupt("instance id"))?,
        project_id: ProjectId::parse(&project).ok_or_else(|| corrupt("instance project"))?,
        name: row.try_get("name")?,
        datastore_type: DatastoreType::parse(&ds).ok_or_else(|| corrupt("datastore_type"))?,
        host: row.try_get("host")?,
        port: u16::try_from(port).map_err(|_| corrupt("port"))?,
        protected_users: serde_json::from_str(&protected)
            .map_err(|_| corrupt("protected_users"))?,
        admin_port: admin_port
            .map(u16::try_from)
            .transpose()
            .map_err(|_| corrupt("admin_port"))?,
        tls_mode: TlsMode::parse(&tls_mode).ok_or_else(|| corrupt("tls_mode"))?,
        tls_ca: row.try_get("tls_ca")?,
        default_db_user_id: row
            .try_get::<Option<String>, _>("default_db_user_id")?
            .map(|id| DbUserId::parse(&id).ok_or_else(|| corrupt("default_db_user_id")))
            .transpose()?,
    })
}

fn db_user_row(row: &PgRow) -> StoreResult<DbUserRecord> {
    let id: String = row.try_get("id")?;
    let instance: String = row.try_get("instance_id")?;
    Ok(DbUserRecord {
        id: DbUserId::parse(&id).ok_or_else(|| corrupt("db user id"))?,
        instance_id: InstanceId::parse(&instance).ok_or_else(|| corrupt("db user instance"))?,
        username: row.try_get("username")?,
        sealed_password: row.try_get("sealed_password")?,
    })
}

fn protected_json(users: &[String]) -> String {
    serde_json::to_string(users).unwrap_or_else(|_| "[]".into())
}

#[async_trait]
impl CatalogStore for PgStore {
    async fn insert_instance(&self, i: &InstanceRecord) -> StoreResult<()> {
        timed(async {
            sqlx::query(
                "INSERT INTO instances (id, project_id, name, datastore_type, host, port, \
                 protected_users, admin_port, tls_mode, tls_ca, default_db_user_id, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
            )
            .bind(i.id.as_str())
            .bind(i.project_id.as_str())
            .bind(&i.name)
            .bind(i.datastore_type.as_str())
            .bind(&i.host)
            .bind(i64::from(i.port))
            .bind(protected_json(&i.protected_users))
            .bind(i.admin_port.map(i64::from))
            .bind(i.tls_mode.as_str())
            .bind(&i.tls_ca)
            .bind(i.default_db_user_id.as_ref().map(DbUserId::as_str))
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(map_unique)?;
            Ok(())
        })
        .await
    }

    async fn update_instance(&self, i: &InstanceRecord) -> StoreResult<bool> {
        timed(async {
            let done = sqlx::query(
                "UPDATE instances SET name = $1, host = $2, port = $3, protected_users = $4, \
                 admin_port = $5, tls_mode = $6, tls_ca = $7, default_db_user_id = $8 \
                 WHERE project_id = $9 AND id = $10",
            )
            .bind(&i.name)
            .bind(&i.host)
            .bind(i64::from(i.port))
            .bind(protected_json(&i.protected_users))
            .bind(i.admin_port.map(i64::from))
            .bind(i.tls_mode.as_str())
            .bind(&i.tls_ca)
            .bind(i.default_db_user_id.as_ref().map(DbUserId::as_str))
            .bind(i.project_id.as_str())
            .bind(i.id.as_str())
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn list_instances(
        &self,
        project: &ProjectId,
        page: Page,
    ) -> StoreResult<(Vec<InstanceRecord>, i64)> {
        timed(async {
            let total: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE project_id = $1")
                    .bind(project.as_str())
                    .fetch_one(&self.pool)
                    .await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{INSTANCE_COLUMNS} WHERE project_id = $1 ORDER BY created_at, id \
                 LIMIT $2 OFFSET $3"
            )))
            .bind(project.as_str())
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
            Ok((
                rows.iter().map(instance_row).collect::<StoreResult<_>>()?,
                total,
            ))
        })
        .await
    }

    async fn get_instance(
        &self,
        project: &ProjectId,
        id: &InstanceId,
    ) -> StoreResult<Option<InstanceRecord>> {
        timed(async {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{INSTANCE_COLUMNS} WHERE project_id = $1 AND id = $2"
            )))
            .bind(project.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(instance_row).transpose()
        })
        .await
    }

    async fn delete_instance(&self, project: &ProjectId, id: &InstanceId) -> StoreResult<bool> {
        timed(async {
            // db_users and rules go with it (ON DELETE CASCADE); kill history stays.
            let done = sqlx::query("DELETE FROM instances WHERE project_id = $1 AND id = $2")
                .bind(project.as_str())
                .bind(id.as_str())
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn upsert_db_user(
        &self,
        instance: &InstanceId,
        username: &str,
        seal: &(dyn for<'a> Fn(&'a DbUserId) -> String + Send + Sync),
    ) -> StoreResult<DbUserId> {
        timed(async {
            for _ in 0..UPSERT_ROUNDS {
                if let Some(id) = self.try_upsert_db_user(instance, username, seal).await? {
                    return Ok(id);
                }
            }
            Err(corrupt(format!(
                "db user {username} could be neither inserted nor found"
            )))
        })
        .await
    }

    async fn list_db_users(
        &self,
        instance: &InstanceId,
        filter: &DbUserFilter,
        page: Page,
    ) -> StoreResult<(Vec<DbUserRecord>, i64)> {
        const WHERE: &str = "WHERE instance_id = $1 AND ($2::text IS NULL OR id = $2) \
                             AND ($3::text IS NULL OR username = $3)";
        timed(async {
            let id = filter.id.as_ref().map(|i| i.as_str().to_owned());
            let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT COUNT(*) FROM db_users {WHERE}"
            )))
            .bind(instance.as_str())
            .bind(&id)
            .bind(&filter.username)
            .fetch_one(&self.pool)
            .await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{DB_USER_COLUMNS} {WHERE} ORDER BY created_at, id LIMIT $4 OFFSET $5"
            )))
            .bind(instance.as_str())
            .bind(&id)
            .bind(&filter.username)
            .bind(page.limit)
            .bind(page.offset)
            .fetch_all(&self.pool)
            .await?;
            Ok((
                rows.iter().map(db_user_row).collect::<StoreResult<_>>()?,
                total,
            ))
        })
        .await
    }

    async fn get_db_user(&self, id: &DbUserId) -> StoreResult<Option<DbUserRecord>> {
        timed(async {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{DB_USER_COLUMNS} WHERE id = $1"
            )))
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(db_user_row).transpose()
        })
        .await
    }

    async fn update_db_user(
        &self,
        id: &DbUserId,
        username: &str,
        sealed_password: &str,
    ) -> StoreResult<bool> {
        timed(async {
            let done = sqlx::query(
                "UPDATE db_users SET username = $1, sealed_password = $2, updated_at = $3 \
                 WHERE id = $4",
            )
            .bind(username)
            .bind(sealed_password)
            .bind(now_ms())
            .bind(id.as_str())
            .execute(&self.pool)
            .await
            .map_err(map_unique)?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn delete_db_user(&self, id: &DbUserId) -> StoreResult<bool> {
        timed(async {
            // Rules acting as this db user stop with it; an instance that named it as its
            // default falls back to the oldest one left.
            let mut tx = self.pool.begin().await?;
            let done = sqlx::query("DELETE FROM db_users WHERE id = $1")
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "UPDATE kill_rules SET state = 2 WHERE db_user_id = $1 AND state IN (1, 4)",
            )
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE instances SET default_db_user_id = NULL WHERE default_db_user_id = $1",
            )
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }
}

impl PgStore {
    /// One round of [`CatalogStore::upsert_db_user`]: the existing row is locked and updated,
    /// or a new one inserted; `None` when another registration inserted the name in between.
    async fn try_upsert_db_user(
        &self,
        instance: &InstanceId,
        username: &str,
        seal: &(dyn for<'a> Fn(&'a DbUserId) -> String + Send + Sync),
    ) -> StoreResult<Option<DbUserId>> {
        let mut tx = self.pool.begin().await?;
        let existing: Option<String> = sqlx::query_scalar(
            "SELECT id FROM db_users WHERE instance_id = $1 AND username = $2 FOR UPDATE",
        )
        .bind(instance.as_str())
        .bind(username)
        .fetch_optional(&mut *tx)
        .await?;
        let now = now_ms();
        let id = match existing {
            Some(id) => {
                let id = DbUserId::parse(&id).ok_or_else(|| corrupt("db user id"))?;
                sqlx::query(
                    "UPDATE db_users SET sealed_password = $1, updated_at = $2 WHERE id = $3",
                )
                .bind(seal(&id))
                .bind(now)
                .bind(id.as_str())
                .execute(&mut *tx)
                .await?;
                id
            }
            None => {
                let id = DbUserId::new_random();
                let inserted = sqlx::query(
                    "INSERT INTO db_users (id, instance_id, username, sealed_password, \
                     created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $5) \
                     ON CONFLICT (instance_id, username) DO NOTHING",
                )
                .bind(id.as_str())
                .bind(instance.as_str())
                .bind(username)
                .bind(seal(&id))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_unique)?;
                if inserted.rows_affected() == 0 {
                    return Ok(None);
                }
                id
            }
        };
        tx.commit().await?;
        Ok(Some(id))
    }
}
