//! Projects, users, role bindings and tokens in SQLite.

use async_trait::async_trait;
use sqlx::Row;

use super::{SqliteStore, map_unique, now_ms};
use crate::domain::{ProjectId, Role, UserId};
use crate::store::{
    IdentityStore, NewUser, ProjectRecord, StoreError, StoreResult, TokenRecord, UserRecord,
};

fn project_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<ProjectRecord> {
    let id: String = row.try_get("id")?;
    Ok(ProjectRecord {
        id: ProjectId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("project id {id}")))?,
        name: row.try_get("name")?,
    })
}

fn user_row(row: &sqlx::sqlite::SqliteRow) -> StoreResult<UserRecord> {
    let id: String = row.try_get("id")?;
    Ok(UserRecord {
        id: UserId::parse(&id).ok_or_else(|| StoreError::Corrupt(format!("user id {id}")))?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        is_global_admin: row.try_get::<i64, _>("is_global_admin")? != 0,
    })
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn probe_write(&self) -> StoreResult<()> {
        self.probe().await
    }

    async fn create_project(&self, name: &str) -> StoreResult<ProjectRecord> {
        let id = ProjectId::new_random();
        sqlx::query("INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)")
            .bind(id.as_str())
            .bind(name)
            .bind(now_ms())
            .execute(&self.pool)
            .await
            .map_err(map_unique)?;
        Ok(ProjectRecord {
            id,
            name: name.to_owned(),
        })
    }

    async fn list_projects(&self) -> StoreResult<Vec<ProjectRecord>> {
        let rows = sqlx::query("SELECT id, name FROM projects ORDER BY created_at, id")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(project_row).collect()
    }

    async fn get_project(&self, id: &ProjectId) -> StoreResult<Option<ProjectRecord>> {
        let row = sqlx::query("SELECT id, name FROM projects WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(project_row).transpose()
    }

    async fn get_project_by_name(&self, name: &str) -> StoreResult<Option<ProjectRecord>> {
        let row = sqlx::query("SELECT id, name FROM projects WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(project_row).transpose()
    }

    async fn create_user(&self, new: NewUser<'_>) -> StoreResult<UserRecord> {
        let id = UserId::new_random();
        sqlx::query(
            "INSERT INTO users (id, name, password_hash, is_global_admin, created_at) \
             VALUES (?, ?, ?, ?, ?)",
        )
        .bind(id.as_str())
        .bind(new.name)
        .bind(new.password_hash)
        .bind(i64::from(new.is_global_admin))
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(map_unique)?;
        Ok(UserRecord {
            id,
            name: new.name.to_owned(),
            password_hash: new.password_hash.to_owned(),
            is_global_admin: new.is_global_admin,
        })
    }

    async fn get_user(&self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE id = ?")
            .bind(id.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_row).transpose()
    }

    async fn get_user_by_name(&self, name: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query("SELECT * FROM users WHERE name = ?")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(user_row).transpose()
    }

    async fn count_users(&self) -> StoreResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn bind_role(&self, project: &ProjectId, user: &UserId, role: Role) -> StoreResult<()> {
        sqlx::query(
            "INSERT OR IGNORE INTO role_bindings (project_id, user_id, role) VALUES (?, ?, ?)",
        )
        .bind(project.as_str())
        .bind(user.as_str())
        .bind(role.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn unbind_role(&self, project: &ProjectId, user: &UserId, role: Role) -> StoreResult<()> {
        sqlx::query("DELETE FROM role_bindings WHERE project_id = ? AND user_id = ? AND role = ?")
            .bind(project.as_str())
            .bind(user.as_str())
            .bind(role.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn roles_of(&self, user: &UserId) -> StoreResult<Vec<(ProjectId, Role)>> {
        let rows = sqlx::query("SELECT project_id, role FROM role_bindings WHERE user_id = ?")
            .bind(user.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let p: String = row.try_get("project_id")?;
                let r: String = row.try_get("role")?;
                match (ProjectId::parse(&p), Role::parse(&r)) {
                    (Some(p), Some(r)) => Ok((p, r)),
                    _ => Err(StoreError::Corrupt(format!("role binding {p}/{r}"))),
                }
            })
            .collect()
    }

    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
        // Expired tokens are useless; dropping them here keeps the table small without a job.
        sqlx::query("DELETE FROM tokens WHERE expires_at < ?")
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        sqlx::query(
            "INSERT INTO tokens (hash, user_id, project_id, issued_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(&token.hash)
        .bind(token.user_id.as_str())
        .bind(token.project_id.as_ref().map(|p| p.as_str()))
        .bind(token.issued_at)
        .bind(token.expires_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_token(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        let row = sqlx::query("SELECT * FROM tokens WHERE hash = ?")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let user: String = row.try_get("user_id")?;
        let project: Option<String> = row.try_get("project_id")?;
        Ok(Some(TokenRecord {
            hash: row.try_get("hash")?,
            user_id: UserId::parse(&user)
                .ok_or_else(|| StoreError::Corrupt("token user".into()))?,
            project_id: project.as_deref().and_then(ProjectId::parse),
            issued_at: row.try_get("issued_at")?,
            expires_at: row.try_get("expires_at")?,
        }))
    }

    async fn delete_token(&self, hash: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM tokens WHERE hash = ?")
            .bind(hash)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
