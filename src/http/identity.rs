//! Identity (a self-hosted stand-in for Huawei IAM, in Keystone v3 shapes): tokens, projects,
//! users and role bindings.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Principal;
use super::extract::{JsonObject, PathParams, check_len, project_id};
use crate::clock::{now_ms, rfc3339_ms};
use crate::domain::{ProjectId, Role, UserId};
use crate::error::{DasError, DasResult, Problem};
use crate::secrets::{generate_token, hash_password, hash_token};
use crate::store::{NewUser, ProjectRecord, TokenRecord, UserRecord};

#[derive(Serialize, ToSchema)]
pub struct IdName {
    pub id: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct RoleName {
    pub name: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub expires_at: String,
    pub issued_at: String,
    pub methods: Vec<&'static str>,
    pub user: IdName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<IdName>,
    pub roles: Vec<RoleName>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenEnvelope {
    pub token: TokenOut,
}

/// Keystone's password-auth body, as parsed.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenIn {
    /// `{"identity":{"methods":["password"],"password":{"user":{"name","password"}}},"scope":{"project":{"id"|"name"}}}`
    pub auth: serde_json::Value,
}

fn id_name(p: &ProjectRecord) -> IdName {
    IdName {
        id: p.id.to_string(),
        name: p.name.clone(),
    }
}

fn check_name(field: &str, name: &str) -> DasResult<()> {
    check_len(field, name, 1, 64)?;
    if name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_.-@".contains(c))
    {
        Ok(())
    } else {
        Err(DasError::bad(
            field,
            Problem::Invalid("letters, digits and _ . - @ only".into()),
        ))
    }
}

fn check_password(field: &str, pw: &str) -> DasResult<()> {
    let n = pw.chars().count();
    if (8..=128).contains(&n) {
        Ok(())
    } else {
        Err(DasError::bad(field, Problem::Length { min: 8, max: 128 }))
    }
}

/// `POST /v3/auth/tokens`: a password login; 201 with the token in `X-Subject-Token`.
#[utoipa::path(post, path = "/v3/auth/tokens", tag = "identity", request_body = TokenIn,
    responses((status = 201, body = TokenEnvelope, headers(("X-Subject-Token" = String))),
              (status = 400, body = super::error::ErrorBody), (status = 401, body = super::error::ErrorBody)))]
pub async fn create_token(State(state): State<AppState>, body: Body) -> DasResult<Response> {
    let body = JsonObject::read(body).await?;
    let auth = body.object("auth")?;
    let identity = auth.object("identity")?;
    let user = identity.object("password")?.object("user")?;
    let name = user.str_req("name")?;
    let password = user.str_req("password")?;
    let scope = match auth.object_opt("scope")? {
        Some(scope) => scope.object_opt("project")?,
        None => None,
    };
    let scope_ref = match &scope {
        Some(p) => Some((p.str_opt("id")?, p.str_opt("name")?)),
        None => None,
    };

    let found = state.store.get_user_by_name(&name).await?;
    let ok = state
        .hasher
        .check(&password, found.as_ref().map(|u| u.password_hash.as_str()));
    let user = match (ok, found) {
        (true, Some(u)) => u,
        _ => return Err(DasError::Unauthenticated("wrong user name or password")),
    };
    let roles = state.store.roles_of(&user.id).await?;

    let project = match scope_ref {
        None => None,
        Some((id, name)) => {
            let p = match (id, name) {
                (Some(id), _) => match ProjectId::parse(&id) {
                    Some(id) => state.store.get_project(&id).await?,
                    None => None,
                },
                (None, Some(name)) => state.store.get_project_by_name(&name).await?,
                (None, None) => {
                    return Err(DasError::bad("auth.scope.project", Problem::Missing));
                }
            };
            let allowed = p
                .as_ref()
                .is_some_and(|p| user.is_global_admin || roles.iter().any(|(rp, _)| rp == &p.id));
            if !allowed {
                return Err(DasError::Unauthenticated(
                    "no access to the requested project",
                ));
            }
            p
        }
    };

    let token = generate_token();
    let issued_at = now_ms();
    let ttl_ms = i64::try_from(state.settings.token_ttl.as_millis()).unwrap_or(i64::MAX);
    let record = TokenRecord {
        hash: hash_token(&token),
        user_id: user.id.clone(),
        project_id: project.as_ref().map(|p| p.id.clone()),
        issued_at,
        expires_at: issued_at.saturating_add(ttl_ms),
    };
    state.store.insert_token(&record).await?;

    let mut role_names: Vec<Role> = if user.is_global_admin {
        vec![Role::Admin]
    } else {
        roles
            .iter()
            .filter(|(p, _)| project.as_ref().is_none_or(|s| &s.id == p))
            .map(|(_, r)| *r)
            .collect()
    };
    role_names.sort();
    role_names.dedup();
    let out = TokenEnvelope {
        token: TokenOut {
            expires_at: rfc3339_ms(record.expires_at),
            issued_at: rfc3339_ms(issued_at),
            methods: vec!["password"],
            user: IdName {
                id: user.id.to_string(),
                name: user.name.clone(),
            },
            project: project.as_ref().map(id_name),
            roles: role_names
                .into_iter()
                .map(|r| RoleName { name: r.as_str() })
                .collect(),
        },
    };
    let mut resp = (StatusCode::CREATED, Json(out)).into_response();
    resp.headers_mut().insert(
        "x-subject-token",
        HeaderValue::from_str(&token).expect("token is header-safe"),
    );
    Ok(resp)
}

/// `DELETE /v3/auth/tokens`: revokes the token named in `X-Subject-Token`.
#[utoipa::path(delete, path = "/v3/auth/tokens", tag = "identity",
    params(("X-Subject-Token" = String, Header, description = "the token to revoke")),
    responses((status = 204), (status = 401, body = super::error::ErrorBody)))]
pub async fn revoke_token(
    caller: Principal,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> DasResult<StatusCode> {
    let subject = headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .ok_or(DasError::bad("X-Subject-Token", Problem::Missing))?;
    let hash = hash_token(subject.trim());
    // Anyone may revoke their own token; only the global admin may revoke another user's.
    match state.store.find_token(&hash).await? {
        Some(t) if t.user_id == caller.user.id || caller.is_global_admin() => {
            state.store.delete_token(&hash).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        Some(_) => Err(DasError::Forbidden),
        None => Err(DasError::Unauthenticated(
            "the subject token is unknown or revoked",
        )),
    }
}

#[derive(Serialize, ToSchema)]
pub struct ProjectEnvelope {
    pub project: IdName,
}

#[derive(Serialize, ToSchema)]
pub struct ProjectList {
    pub projects: Vec<IdName>,
}

/// `{"project":{"name"}}` as parsed.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ProjectIn {
    pub project: NameIn,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NameIn {
    pub name: String,
}

/// `POST /v3/projects` (global admin).
#[utoipa::path(post, path = "/v3/projects", tag = "identity", request_body = ProjectIn,
    responses((status = 201, body = ProjectEnvelope), (status = 400, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn create_project(
    caller: Principal,
    State(state): State<AppState>,
    body: Body,
) -> DasResult<Response> {
    if !caller.is_global_admin() {
        return Err(DasError::Forbidden);
    }
    let body = JsonObject::read(body).await?;
    let project = body.object("project")?;
    let name = project.str_req("name")?;
    check_name("project.name", &name)?;
    let created = state.store.create_project(&name).await?;
    Ok((
        StatusCode::CREATED,
        Json(ProjectEnvelope {
            project: id_name(&created),
        }),
    )
        .into_response())
}

/// `GET /v3/projects`: those the caller has a role in (all, for the global admin).
#[utoipa::path(get, path = "/v3/projects", tag = "identity",
    responses((status = 200, body = ProjectList), (status = 401, body = super::error::ErrorBody)))]
pub async fn list_projects(
    caller: Principal,
    State(state): State<AppState>,
) -> DasResult<Json<ProjectList>> {
    let all = state.store.list_projects().await?;
    let projects = all
        .iter()
        .filter(|p| caller.role_in(&p.id).is_some())
        .map(id_name)
        .collect();
    Ok(Json(ProjectList { projects }))
}

#[derive(Serialize, ToSchema)]
pub struct UserEnvelope {
    pub user: IdName,
}

/// `{"user":{"name","password"}}` as parsed.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UserIn {
    pub user: NewUserIn,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct NewUserIn {
    pub name: String,
    pub password: String,
}

/// `POST /v3/users` (global admin).
#[utoipa::path(post, path = "/v3/users", tag = "identity", request_body = UserIn,
    responses((status = 201, body = UserEnvelope), (status = 400, body = super::error::ErrorBody),
              (status = 403, body = super::error::ErrorBody), (status = 409, body = super::error::ErrorBody)))]
pub async fn create_user(
    caller: Principal,
    State(state): State<AppState>,
    body: Body,
) -> DasResult<Response> {
    if !caller.is_global_admin() {
        return Err(DasError::Forbidden);
    }
    let body = JsonObject::read(body).await?;
    let user = body.object("user")?;
    let name = user.str_req("name")?;
    let password = user.str_req("password")?;
    check_name("user.name", &name)?;
    check_password("user.password", &password)?;
    let hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(DasError::internal)?;
    let created: UserRecord = state
        .store
        .create_user(NewUser {
            name: &name,
            password_hash: &hash,
            is_global_admin: false,
        })
        .await?;
    let out = UserEnvelope {
        user: IdName {
            id: created.id.to_string(),
            name: created.name,
        },
    };
    Ok((StatusCode::CREATED, Json(out)).into_response())
}

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
    crate::service::authorize(state.store.as_ref(), caller, &project, Role::Admin).await?;
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
    params(("project_id" = String, Path), ("user_id" = String, Path), ("role" = String, Path, description = "viewer | operator | admin")),
    responses((status = 204), (status = 400, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody)))]
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
    params(("project_id" = String, Path), ("user_id" = String, Path), ("role" = String, Path)),
    responses((status = 204), (status = 400, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody)))]
pub async fn unbind_role(
    caller: Principal,
    State(state): State<AppState>,
    PathParams(path): PathParams<(String, String, String)>,
) -> DasResult<StatusCode> {
    let (project, user, role) = role_binding_target(&caller, &state, &path).await?;
    state.store.unbind_role(&project, &user, role).await?;
    Ok(StatusCode::NO_CONTENT)
}
