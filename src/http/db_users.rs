//! DB users (the DAS RegisterDbUser family): the credentials dbkill uses to reach an instance.
//! The service checks each password by a real login before anything is stored and seals it;
//! no answer ever returns one.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use secrecy::SecretString;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::access::{DbUserPath, InstancePath};
use super::extract::{JsonObject, QueryParams, check_len, db_user_id, page, query_str};
use super::instances::{OK, ResultOk};
use super::openapi::shapes;
use super::openapi::{CallerErrors, DbUserFilterQuery};
use crate::domain::{DbUserDatastore, Principal, Role};
use crate::error::{DasError, DasResult};
use crate::service::DbUserCredentials;
use crate::store::{DbUserFilter, DbUserRecord};

/// The body of RegisterDbUser, as parsed. Unknown fields are ignored (DAS SDKs send extras).
#[derive(ToSchema)]
pub struct RegisterDbUserIn {
    #[schema(schema_with = shapes::db_username)]
    pub db_username: String,
    #[schema(schema_with = shapes::db_password)]
    pub db_user_password: String,
    /// `MySQL` (fits MySQL and MariaDB instances), `mariadb` or `postgresql`; case-insensitive.
    #[schema(schema_with = shapes::db_user_datastore_type)]
    pub datastore_type: DbUserDatastore,
}

impl RegisterDbUserIn {
    fn parse(body: &JsonObject) -> DasResult<Self> {
        let UpdateDbUserIn {
            db_username,
            db_user_password,
        } = credentials(body)?;
        let datastore_type = body.str_req("datastore_type")?;
        let datastore_type =
            DbUserDatastore::parse(&datastore_type).ok_or(DasError::UnsupportedDatastore)?;
        Ok(Self {
            db_username,
            db_user_password,
            datastore_type,
        })
    }

    fn credentials(self) -> DbUserCredentials {
        DbUserCredentials {
            username: self.db_username,
            password: SecretString::from(self.db_user_password),
        }
    }
}

/// The body of UpdateDbUser, as parsed.
#[derive(ToSchema)]
pub struct UpdateDbUserIn {
    #[schema(schema_with = shapes::db_username)]
    pub db_username: String,
    #[schema(schema_with = shapes::db_password)]
    pub db_user_password: String,
}

fn credentials(body: &JsonObject) -> DasResult<UpdateDbUserIn> {
    let db_username = body.str_req("db_username")?;
    check_len("db_username", &db_username, 1, 128)?;
    let db_user_password = body.str_req("db_user_password")?;
    check_len("db_user_password", &db_user_password, 1, 512)?;
    Ok(UpdateDbUserIn {
        db_username,
        db_user_password,
    })
}

impl From<UpdateDbUserIn> for DbUserCredentials {
    fn from(u: UpdateDbUserIn) -> Self {
        DbUserCredentials {
            username: u.db_username,
            password: SecretString::from(u.db_user_password),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DbUserIdOut {
    pub db_user_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct DbUserOut {
    pub db_user_id: String,
    pub db_username: String,
}

impl From<DbUserRecord> for DbUserOut {
    fn from(u: DbUserRecord) -> Self {
        Self {
            db_user_id: u.id.to_string(),
            db_username: u.username,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct DbUserList {
    pub db_users: Vec<DbUserOut>,
    pub total: i64,
}

#[derive(Serialize, ToSchema)]
pub struct DbUserEnvelope {
    pub db_user: DbUserOut,
}

/// `POST /v3/{project_id}/instances/{instance_id}/db-users` (project admin).
#[utoipa::path(post, path = "/v3/{project_id}/instances/{instance_id}/db-users", tag = "db-users",
    request_body = RegisterDbUserIn, params(InstancePath), responses((status = 200, body = DbUserIdOut), CallerErrors))]
pub async fn register_db_user(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    body: Body,
) -> DasResult<Json<DbUserIdOut>> {
    let access = path.access(&state, &caller, Role::Admin).await?;
    let input = RegisterDbUserIn::parse(&JsonObject::read(body).await?)?;
    let datastore = input.datastore_type;
    let id = state
        .services
        .register_db_user(&access, datastore, input.credentials())
        .await?;
    Ok(Json(DbUserIdOut {
        db_user_id: id.to_string(),
    }))
}

/// `GET …/db-users?offset&limit&db_user_id&db_username` (viewer).
#[utoipa::path(get, path = "/v3/{project_id}/instances/{instance_id}/db-users", tag = "db-users",
    params(InstancePath, ("offset" = Option<i64>, Query, minimum = 0, maximum = 2147483647),
           ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "default 100"), DbUserFilterQuery,
           ("db_username" = Option<String>, Query, description = "exact match")),
    responses((status = 200, body = DbUserList), CallerErrors))]
pub async fn list_db_users(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    QueryParams(query): QueryParams,
) -> DasResult<Json<DbUserList>> {
    let access = path.access(&state, &caller, Role::Viewer).await?;
    let page = page(&query, 100, 100)?;
    let filter = DbUserFilter {
        id: query_str(&query, "db_user_id")
            .map(db_user_id)
            .transpose()?,
        username: query_str(&query, "db_username").map(str::to_owned),
    };
    let (rows, total) = state
        .store
        .list_db_users(&access.instance().id, &filter, page)
        .await?;
    Ok(Json(DbUserList {
        db_users: rows.into_iter().map(DbUserOut::from).collect(),
        total,
    }))
}

/// `GET …/db-users/{db_user_id}` (viewer).
#[utoipa::path(get, path = "/v3/{project_id}/instances/{instance_id}/db-users/{db_user_id}", tag = "db-users",
    params(DbUserPath), responses((status = 200, body = DbUserEnvelope), CallerErrors))]
pub async fn get_db_user(
    caller: Principal,
    State(state): State<AppState>,
    path: DbUserPath,
) -> DasResult<Json<DbUserEnvelope>> {
    let access = path.access(&state, &caller, Role::Viewer).await?;
    Ok(Json(DbUserEnvelope {
        db_user: access.db_user().clone().into(),
    }))
}

/// `PUT …/db-users/{db_user_id}` (project admin): new name and password, checked by a login.
#[utoipa::path(put, path = "/v3/{project_id}/instances/{instance_id}/db-users/{db_user_id}", tag = "db-users",
    request_body = UpdateDbUserIn,
    params(DbUserPath), responses((status = 200, body = ResultOk), CallerErrors))]
pub async fn update_db_user(
    caller: Principal,
    State(state): State<AppState>,
    path: DbUserPath,
    body: Body,
) -> DasResult<Json<ResultOk>> {
    let access = path.access(&state, &caller, Role::Admin).await?;
    let creds = credentials(&JsonObject::read(body).await?)?;
    state.services.update_db_user(&access, creds.into()).await?;
    Ok(Json(OK))
}

/// `DELETE …/db-users/{db_user_id}` (project admin).
#[utoipa::path(delete, path = "/v3/{project_id}/instances/{instance_id}/db-users/{db_user_id}", tag = "db-users",
    params(DbUserPath), responses((status = 200, body = ResultOk), CallerErrors))]
pub async fn delete_db_user(
    caller: Principal,
    State(state): State<AppState>,
    path: DbUserPath,
) -> DasResult<Json<ResultOk>> {
    let access = path.access(&state, &caller, Role::Admin).await?;
    state.services.delete_db_user(&access).await?;
    Ok(Json(OK))
}
