//! Projects, users, role bindings and tokens in PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PgStore, corrupt, map_unique, now_ms, timed};
use crate::domain::{ProjectId, Role, UserId};
use crate::store::{IdentityStore, NewUser, ProjectRecord, StoreResult, TokenRecord, UserRecord};

fn project_row(row: &PgRow) -> StoreResult<ProjectRecord> {
    let id: String = row.try_get("id")?;
    Ok(ProjectRecord {
        id: ProjectId::parse(&id).ok_or_else(|| corrupt(format!("project id {id}")))?,
        name: row.try_get("name")?,
    })
}

fn user_row(row: &PgRow) -> StoreResult<UserRecord> {
    let id: String = row.try_get("id")?;
    Ok(UserRecord {
        id: UserId::parse(&id).ok_or_else(|| corrupt(format!("user id {id}")))?,
        name: row.try_get("name")?,
        password_hash: row.try_get("password_hash")?,
        is_global_admin: row.try_get("is_global_admin")?,
    })
}

const USER_COLUMNS: &str = "SELECT id, name, password_hash, is_global_admin FROM users";

#[async_trait]
impl IdentityStore for PgStore {
    async fn ping(&self) -> StoreResult<()> {
        timed(async {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        })
        .await
    }

    /// The `health` row rewritten. The server keeps its own files; a write that commits shows
    /// it has room (a full disk fails it, SQLSTATE 53100).
    async fn probe_write(&self) -> StoreResult<()> {
        timed(async {
            sqlx::query(
                "INSERT INTO health (id, checked_at) VALUES (1, $1) \
                 ON CONFLICT (id) DO UPDATE SET checked_at = EXCLUDED.checked_at",
            )
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn create_project(&self, name: &str) -> StoreResult<ProjectRecord> {
        timed(async {
            let id = ProjectId::new_random();
            sqlx::query("INSERT INTO projects (id, name, created_at) VALUES ($1, $2, $3)")
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
        })
        .await
    }

    async fn list_projects(&self) -> StoreResult<Vec<ProjectRecord>> {
        timed(async {
            let rows = sqlx::query("SELECT id, name FROM projects ORDER BY created_at, id")
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(project_row).collect()
        })
        .await
    }

    async fn get_project(&self, id: &ProjectId) -> StoreResult<Option<ProjectRecord>> {
        timed(async {
            let row = sqlx::query("SELECT id, name FROM projects WHERE id = $1")
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(project_row).transpose()
        })
        .await
    }

    async fn get_project_by_name(&self, name: &str) -> StoreResult<Option<ProjectRecord>> {
        timed(async {
            let row = sqlx::query("SELECT id, name FROM projects WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(project_row).transpose()
        })
        .await
    }

    async fn create_user(&self, new: NewUser<'_>) -> StoreResult<UserRecord> {
        timed(async {
            let id = UserId::new_random();
            sqlx::query(
                "INSERT INTO users (id, name, password_hash, is_global_admin, created_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id.as_str())
            .bind(new.name)
            .bind(new.password_hash)
            .bind(new.is_global_admin)
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
        })
        .await
    }

    async fn get_user(&self, id: &UserId) -> StoreResult<Option<UserRecord>> {
        timed(async {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("{USER_COLUMNS} WHERE id = $1")))
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(user_row).transpose()
        })
        .await
    }

    async fn get_user_by_name(&self, name: &str) -> StoreResult<Option<UserRecord>> {
        timed(async {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{USER_COLUMNS} WHERE name = $1"
            )))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(user_row).transpose()
        })
        .await
    }

    async fn count_users(&self) -> StoreResult<i64> {
        timed(async {
            Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users")
                .fetch_one(&self.pool)
                .await?)
        })
        .await
    }

    async fn bind_role(&self, project: &ProjectId, user: &UserId, role: Role) -> StoreResult<()> {
        timed(async {
            sqlx::query(
                "INSERT INTO role_bindings (project_id, user_id, role) VALUES ($1, $2, $3) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(project.as_str())
            .bind(user.as_str())
            .bind(role.as_str())
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn unbind_role(&self, project: &ProjectId, user: &UserId, role: Role) -> StoreResult<()> {
        timed(async {
            sqlx::query(
                "DELETE FROM role_bindings WHERE project_id = $1 AND user_id = $2 AND role = $3",
            )
            .bind(project.as_str())
            .bind(user.as_str())
            .bind(role.as_str())
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn roles_of(&self, user: &UserId) -> StoreResult<Vec<(ProjectId, Role)>> {
        timed(async {
            let rows = sqlx::query("SELECT project_id, role FROM role_bindings WHERE user_id = $1")
                .bind(user.as_str())
                .fetch_all(&self.pool)
                .await?;
            rows.iter()
                .map(|row| {
                    let p: String = row.try_get("project_id")?;
                    let r: String = row.try_get("role")?;
                    match (ProjectId::parse(&p), Role::parse(&r)) {
                        (Some(p), Some(r)) => Ok((p, r)),
                        _ => Err(corrupt(format!("role binding {p}/{r}"))),
                    }
                })
                .collect()
        })
        .await
    }

    async fn insert_token(&self, token: &TokenRecord) -> StoreResult<()> {
        timed(async {
            // Expired tokens are useless; dropping them here keeps the table small without a
            // job. Usually it deletes nothing, and then its change trigger stays quiet.
            sqlx::query("DELETE FROM tokens WHERE expires_at < $1")
                .bind(now_ms())
                .execute(&self.pool)
                .await?;
            sqlx::query(
                "INSERT INTO tokens (hash, user_id, project_id, issued_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&token.hash)
            .bind(token.user_id.as_str())
            .bind(token.project_id.as_ref().map(|p| p.as_str()))
            .bind(token.issued_at)
            .bind(token.expires_at)
            .execute(&self.pool)
            .await?;
            Ok(())
        })
        .await
    }

    async fn find_token(&self, hash: &str) -> StoreResult<Option<TokenRecord>> {
        timed(async {
            let row = sqlx::query(
                "SELECT hash, user_id, project_id, issued_at, expires_at FROM tokens \
                 WHERE hash = $1",
            )
            .bind(hash)
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let user: String = row.try_get("user_id")?;
            let project: Option<String> = row.try_get("project_id")?;
            Ok(Some(TokenRecord {
                hash: row.try_get("hash")?,
                user_id: UserId::parse(&user).ok_or_else(|| corrupt("token user"))?,
                project_id: project.as_deref().and_then(ProjectId::parse),
                issued_at: row.try_get("issued_at")?,
                expires_at: row.try_get("expires_at")?,
            }))
        })
        .await
    }

    async fn delete_token(&self, hash: &str) -> StoreResult<bool> {
        timed(async {
            let done = sqlx::query("DELETE FROM tokens WHERE hash = $1")
                .bind(hash)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }
}
