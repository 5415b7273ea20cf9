//! Projects and users (Keystone v3 shapes): created by the global admin; a project lists for
//! whoever holds a role in it.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::error::ErrorBody;
use super::extract::{JsonObject, check_len};
use super::openapi::CallerErrors;
use super::openapi::shapes;
use crate::domain::Principal;
use crate::error::{DasError, DasResult, Problem};
use crate::secrets::hash_password;
use crate::store::{NewUser, ProjectRecord, UserRecord};

#[derive(Serialize, ToSchema)]
pub struct IdName {
    pub id: String,
    pub name: String,
}

pub fn id_name(p: &ProjectRecord) -> IdName {
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
    #[schema(schema_with = shapes::name)]
    pub name: String,
}

/// The object under `key` of a body only the global admin may send (the creation of a project
/// or a user); the role is checked before the body is read.
async fn global_admin_body(caller: &Principal, body: Body, key: &str) -> DasResult<JsonObject> {
    if !caller.is_global_admin() {
        return Err(DasError::Forbidden);
    }
    JsonObject::read(body).await?.object(key)
}

/// `POST /v3/projects` (global admin).
#[utoipa::path(post, path = "/v3/projects", tag = "identity", request_body = ProjectIn,
    responses((status = 201, body = ProjectEnvelope), (status = 409, body = ErrorBody, description = "IAM.0409: the name exists already"),
              CallerErrors))]
pub async fn create_project(
    caller: Principal,
    State(state): State<AppState>,
    body: Body,
) -> DasResult<Response> {
    let project = global_admin_body(&caller, body, "project").await?;
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
    responses((status = 200, body = ProjectList), CallerErrors))]
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
    #[schema(schema_with = shapes::name)]
    pub name: String,
    #[schema(schema_with = shapes::password)]
    pub password: String,
}

/// `POST /v3/users` (global admin).
#[utoipa::path(post, path = "/v3/users", tag = "identity", request_body = UserIn,
    responses((status = 201, body = UserEnvelope), (status = 409, body = ErrorBody, description = "IAM.0409: the name exists already"),
              CallerErrors))]
pub async fn create_user(
    caller: Principal,
    State(state): State<AppState>,
    body: Body,
) -> DasResult<Response> {
    let user = global_admin_body(&caller, body, "user").await?;
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
