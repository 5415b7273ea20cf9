//! Role bindings: a global or project admin grants a user viewer, operator or admin on a project.

use axum::extract::State;
use axum::http::StatusCode;

use super::AppState;
use super::extract::{PathParams, project_id};
use super::openapi::{CallerErrors, RoleBindingPath};
use crate::domain::{Principal, ProjectId, Role, UserId};
use crate::error::{DasError, DasResult, Problem};

/// The binding a path names, once the caller is found to be an admin of its project.
async fn role_binding_target(
    caller: &Principal,
    state: &AppState,
    (project, user, role): &(String, String, String),
) -> DasResult<(ProjectId, UserId, Role)> {
    let project = project_id(project)?;
    let user_id = UserId::parse(user)
        .ok_or_else(|| DasError::bad("user_id", Problem::Invalid("32 lowercase hex".into())))?;
    let role = Role::parse(role)
        .ok_or_else(|| DasError::bad("role", Problem::OneOf(&["viewer", "operator", "admin"])))?;
    state
        .services
        .project_access(caller, &project, Role::Admin)
        .await?;
    if state.store.get_user(&user_id).await?.is_none() {
        return Err(DasError::bad(
            "user_id",
            Problem::Invalid("no such user".into()),
        ));
    }
    Ok((project, user_id, role))
}

/// `PUT /v3/projects/{project_id}/users/{user_id}/roles/{role}` (global or project admin).
#[utoipa::path(put, path = "/v3/projects/{project_id}/users/{user_id}/roles/{role}", tag = "identity",
    params(RoleBindingPath), responses((status = 204, description = "Bound"), CallerErrors))]
pub async fn bind_role(
    caller: Principal,
    State(state): State<AppState>,
    PathParams(path): PathParams<(String, String, String)>,
) -> DasResult<StatusCode> {
    let (project, user, role) = role_binding_target(&caller, &state, &path).await?;
    state.store.bind_role(&project, &user, role).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v3/projects/{project_id}/users/{user_id}/roles/{role}`.
#[utoipa::path(delete, path = "/v3/projects/{project_id}/users/{user_id}/roles/{role}", tag = "identity",
    params(RoleBindingPath), responses((status = 204, description = "Unbound"), CallerErrors))]
pub async fn unbind_role(
    caller: Principal,
    State(state): State<AppState>,
    PathParams(path): PathParams<(String, String, String)>,
) -> DasResult<StatusCode> {
    let (project, user, role) = role_binding_target(&caller, &state, &path).await?;
    state.store.unbind_role(&project, &user, role).await?;
    Ok(StatusCode::NO_CONTENT)
}
