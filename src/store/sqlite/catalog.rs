//! Instances and db users in SQLite.

use async_trait::async_trait;
use sqlx::Row;

use super::{SqliteStore, map_unique, now_ms};
use crate::domain::{DatastoreType, DbUserId, InstanceId, ProjectId, TlsMode};
use crate::store::{
    CatalogStore, DbUserFilter, DbUserRecord, InstanceRecord, Page, StoreError, StoreResult,
};

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(what.to_owned())
}

fn instance_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<InstanceRecord> {
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

fn db_user_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<DbUserRecord> {
    let id: String = row.try_get("id")?;
    let instance: String = row.try_get("instance_id")?;
    Ok(DbUserRecord {
        id: DbUserId::parse(&id).ok_or_else(|| corrupt("db user id"))?,
        instance_id: InstanceId::parse(&instance).ok_or_else(|| corrupt("db user instance"))?,
        username: row.try_get("username")?,
        sealed_password: row.try_get("sealed_password")?,
    })
}

#[async_trait]
impl CatalogStore for SqliteStore {
    async fn insert_instance(&self, i: &InstanceRecord) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO instances (id, project_id, name, datastore_type, host, port, \
             protected_users, admin_port, tls_mode, tls_ca, default_db_user_id, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(i.id.as_str())
        .bind(i.project_id.as_str())
        .bind(&i.name)
        .bind(i.datastore_type.as_str())
        .bind(&i.host)
        .bind(i64::from(i.port))
        .bind(serde_json::to_string(&i.protected_users).expect("strings serialise"))
        .bind(i.admin_port.map(i64::from))
        .bind(i.tls_mode.as_str())
        .bind(&i.tls_ca)
        .bind(i.default_db_user_id.as_ref().map(DbUserId::as_str))
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(())
    }

    async fn update_instance(&self, i: &InstanceRecord) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE instances SET name = ?, host = ?, port = ?, protected_users = ?, \
             admin_port = ?, tls_mode = ?, tls_ca = ?, default_db_user_id = ? \
             WHERE project_id = ? AND id = ?",
        )
        .bind(&i.name)
        .bind(&i.host)
        .bind(i64::from(i.port))
        .bind(serde_json::to_string(&i.protected_users).expect("strings serialise"))
        .bind(i.admin_port.map(i64::from))
        .bind(i.tls_mode.as_str())
        .bind(&i.tls_ca)
        .bind(i.default_db_user_id.as_ref().map(DbUserId::as_str))
        .bind(i.project_id.as_str())
        .bind(i.id.as_str())
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn list_instances(
        &self,
        project: &ProjectId,
        page: Page,
    ) -> StoreResult<(Vec<InstanceRecord>, i64)> {
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM instances WHERE project_id = ?")
            .bind(project.as_str())
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(
            "SELECT * FROM instances WHERE project_id = ? ORDER BY created_at, id LIMIT ? OFFSET ?",
        )
        .bind(project.as_str())
        .bind(page.limit)
        .bind(page.offset)
        .fetch_all(&self.pool)
        .await?;
        Ok((
            rows.iter().map(instance_row).collect::<StoreResult<_>>()?,
            total,
        ))
    }

    async fn get_instance(
        &self,
        project: &ProjectId,
        id: &InstanceId,
    ) -> StoreResult<Option<InstanceRecord>> {
        let row = sqlx::query("SELECT * FROM instances WHERE project_id = ? AND id = ?")
            .bind(project.as_str())
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(instance_row).transpose()
    }

    async fn delete_instance(&self, project: &ProjectId, id: &InstanceId) -> StoreResult<bool> {
        // db_users go with it (ON DELETE CASCADE); kill history has no foreign key and stays.
        let done = sqlx::query("DELETE FROM instances WHERE project_id = ? AND id = ?")
            .bind(project.as_str())
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn upsert_db_user(
        &self,
        instance: &InstanceId,
        username: &str,
        seal: &(dyn for<'a> Fn(&'a DbUserId) -> String + Send + Sync),
    ) -> StoreResult<DbUserId> {
        // IMMEDIATE: the transaction holds the write lock from its start. A deferred one that
        // reads first cannot write once another registration has committed in between; SQLite
        // refuses it at once (SQLITE_BUSY_SNAPSHOT, no busy wait), which was a 500.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let existing: Option<String> =
            sqlx::query_scalar("SELECT id FROM db_users WHERE instance_id = ? AND username = ?")
                .bind(instance.as_str())
                .bind(username)
                .fetch_optional(&mut *tx)
                .await?;
        let now = now_ms();
        let id = match existing {
            Some(id) => {
                let id = DbUserId::parse(&id).ok_or_else(|| corrupt("db user id"))?;
                let sealed = seal(&id);
                sqlx::query("UPDATE db_users SET sealed_password = ?, updated_at = ? WHERE id = ?")
                    .bind(sealed)
                    .bind(now)
                    .bind(id.to_string())
                    .execute(&mut *tx)
                    .await?;
                id
            }
            None => {
                let id = DbUserId::new_random();
                let sealed = seal(&id);
                sqlx::query(
                    "INSERT INTO db_users (id, instance_id, username, sealed_password, created_at, \
                     updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                )
                .bind(id.to_string())
                .bind(instance.as_str())
                .bind(username)
                .bind(sealed)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(map_unique)?;
                id
            }
        };
        tx.commit().await?;
        Ok(id)
    }

    async fn list_db_users(
        &self,
        instance: &InstanceId,
        filter: &DbUserFilter,
        page: Page,
    ) -> StoreResult<(Vec<DbUserRecord>, i64)> {
        const WHERE: &str = "WHERE instance_id = ?1 AND (?2 IS NULL OR id = ?2) \
                             AND (?3 IS NULL OR username = ?3)";
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
            "SELECT * FROM db_users {WHERE} ORDER BY created_at, id LIMIT ?4 OFFSET ?5"
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
    }

    async fn get_db_user(&self, id: &DbUserId) -> StoreResult<Option<DbUserRecord>> {
        let row = sqlx::query("SELECT * FROM db_users WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(db_user_row).transpose()
    }

    async fn update_db_user(
        &self,
        id: &DbUserId,
        username: &str,
        sealed_password: &str,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE db_users SET username = ?, sealed_password = ?, updated_at = ? WHERE id = ?",
        )
        .bind(username)
        .bind(sealed_password)
        .bind(now_ms())
        .bind(id.as_str())
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_db_user(&self, id: &DbUserId) -> StoreResult<bool> {
        // Rules acting as this db user stop with it; an instance that named it as its default
        // falls back to the oldest one left.
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query("DELETE FROM db_users WHERE id = ?")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE kill_rules SET state = 2 WHERE db_user_id = ? AND state IN (1, 4)")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE instances SET default_db_user_id = NULL WHERE default_db_user_id = ?")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures::stored_instance;

    /// Registrations read and then write; run side by side, each must still land (a transaction
    /// that read before another one wrote cannot write afterwards: SQLITE_BUSY_SNAPSHOT).
    #[tokio::test]
    async fn concurrent_db_user_registrations_all_land() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let instance = stored_instance(&store).await;
        let registrations = (0..64).map(|i| {
            let (store, instance) = (store.clone(), instance.id.clone());
            // Half of them register a name another one registers too.
            let name = format!("user{}", i % 32);
            tokio::spawn(async move {
                store
                    .upsert_db_user(&instance, &name, &|id| format!("sealed-{id}"))
                    .await
            })
        });
        for registration in registrations.collect::<Vec<_>>() {
            registration.await.unwrap().unwrap();
        }
        let (users, total) = store
            .list_db_users(&instance.id, &DbUserFilter::default(), Page::ALL)
            .await
            .unwrap();
        assert_eq!((users.len(), total), (32, 32));
    }
}
