//! DB users (the DAS RegisterDbUser family): the credentials dbkill uses to reach an instance.
//! Passwords are checked by a real login before anything is stored, sealed at rest, and never
//! returned.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use secrecy::SecretString;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::auth::Principal;
use super::extract::{
    JsonObject, PathParams, QueryParams, check_len, db_user_id, instance_id, page, project_id,
    query_str,
};
use super::instances::{OK, ResultOk};
use crate::domain::{DbUserDatastore, DbUserId, Role};
use crate::engine::{Target, check_login};
use crate::error::{DasError, DasResult};
use crate::service::{authorize, resolve_db_user, resolve_instance};
use crate::store::{DbUserFilter, DbUserRecord, InstanceRecord};

/// The sealed password is bound to its row: moving it to another row makes it unreadable.
pub fn password_aad(id: &DbUserId) -> String {
    format!("db_users:{id}:password")
}

/// The body of RegisterDbUser, as parsed. Unknown fields are ignored (DAS SDKs send extras).
#[derive(ToSchema)]
pub struct RegisterDbUserIn {
    pub db_username: String,
    #[schema(format = Password)]
    pub db_user_password: String,
    /// `MySQL` (fits MySQL and MariaDB instances), `mariadb` or `postgresql`; case-insensitive.
    #[schema(value_type = String)]
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

    fn credentials(self) -> UpdateDbUserIn {
        UpdateDbUserIn {
            db_username: self.db_username,
            db_user_password: self.db_user_password,
        }
    }
}

/// The body of UpdateDbUser, as parsed.
#[derive(ToSchema)]
pub struct UpdateDbUserIn {
    pub db_username: String,
    #[schema(format = Password)]
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

async fn verify_login(
    state: &AppState,
    instance: &InstanceRecord,
    creds: &UpdateDbUserIn,
) -> DasResult<()> {
    let target = Target {
        datastore: instance.datastore_type,
        host: instance.host.clone(),
        port: instance.port,
        username: creds.db_username.clone(),
        password: SecretString::from(creds.db_user_password.clone()),
    };
    check_login(&target, state.timeouts()).await?;
    Ok(())
}

/// `POST /v3/{project_id}/instances/{instance_id}/db-users` (project admin).
#[utoipa::path(post, path = "/v3/{project_id}/instances/{instance_id}/db-users", tag = "db-users",
    request_body = RegisterDbUserIn, params(("project_id" = String, Path), ("instance_id" = String, Path)),
    responses((status = 200, body = DbUserIdOut), (status = 400, body = super::error::ErrorBody),
              (status = 500, body = super::error::ErrorBody)))]
pub async fn register_db_user(
    caller: Principal,
    State(state): State<AppState>,
    PathParams((project, instance)): PathParams<(String, String)>,
    body: Body,
) -> DasResult<Json<DbUserIdOut>> {
    let project = project_id(&project)?;
    let instance = instance_id(&instance)?;
    let access = authorize(state.store.as_ref(), &caller, &project, Role::Admin).await?;
    let instance = resolve_instance(state.store.as_ref(), &access, &instance).await?;
    let input = RegisterDbUserIn::parse(&JsonObject::read(body).await?)?;
    if !input.datastore_type.fits(instance.datastore_type) {
        return Err(DasError::UnsupportedDatastore);
    }
    let creds = input.credentials();
    verify_login(&state, &instance, &creds).await?;
    let secret = SecretString::from(creds.db_user_password);
    let sealer = state.sealer.clone();
    let id = state
        .store
        .upsert_db_user(&instance.id, &creds.db_username, &move |id: &DbUserId| {
            sealer.seal(&secret, &password_aad(id))
        })
        .await?;
    state.engines.evict(&id);
    if let Some(record) = state.store.get_db_user(&id).await? {
        crate::service::warm(&state, &instance, &record);
    }
    Ok(Json(DbUserIdOut {
        db_user_id: id.to_string(),
    }))
}

/// `GET …/db-users?offset&limit&db_user_id&db_username` (viewer).
#[utoipa::path(get, path = "/v3/{project_id}/instances/{instance_id}/db-users", tag = "db-users",
    params(("project_id" = String, Path), ("instance_id" = String, Path), ("offset" = Option<i64>, Query),
           ("limit" = Option<i64>, Query, description = "1..100, default 100"), ("db_user_id" = Option<String>, Query),
           ("db_username" = Option<String>, Query, description = "exact match")),
    responses((status = 200, body = DbUserList), (status = 400, body = super::error::ErrorBody)))]
pub async fn list_db_users(
    caller: Principal,
    State(state): State<AppState>,
    PathParams((project, instance)): PathParams<(String, String)>,
    QueryParams(query): QueryParams,
) -> DasResult<Json<DbUserList>> {
    let project = project_id(&project)?;
    let instance = instance_id(&instance)?;
    let access = authorize(state.store.as_ref(), &caller, &project, Role::Viewer).await?;
    let instance = resolve_instance(state.store.as_ref(), &access, &instance).await?;
    let page = page(&query, 100, 100)?;
    let filter = DbUserFilter {
        id: query_str(&query, "db_user_id")
            .map(db_user_id)
            .transpose()?,
        username: query_str(&query, "db_username").map(str::to_owned),
    };
    let (rows, total) = state
        .store
        .list_db_users(&instance.id, &filter, page)
        .await?;
    Ok(Json(DbUserList {
        db_users: rows.into_iter().map(DbUserOut::from).collect(),
        total,
    }))
}

async fn resolve(
    caller: &Principal,
    state: &AppState,
    (project, instance, db_user): &(String, String, String),
    needed: Role,
) -> DasResult<(InstanceRecord, DbUserRecord)> {
    let project = project_id(project)?;
    let instance = instance_id(instance)?;
    let db_user = db_user_id(db_user)?;
    let access = authorize(state.store.as_ref(), caller, &project, needed).await?;
    let instance = resolve_instance(state.store.as_ref(), &access, &instance).await?;
    let db_user = resolve_db_user(state.store.as_ref(), &instance, &db_user).await?;
    Ok((instance, db_user))
}

/// `GET …/db-users/{db_user_id}` (viewer).
#[utoipa::path(get, path = "/v3/{project_id}/instances/{instance_id}/db-users/{db_user_id}", tag = "db-users",
    params(("project_id" = String, Path), ("instance_id" = String, Path), ("db_user_id" = String, Path)),
    responses((status = 200, body = DbUserEnvelope), (status = 400, body = super::error::ErrorBody)))]
pub async fn get_db_user(
    caller: Principal,
    State(state): State<AppState>,
    PathParams(path): PathParams<(String, String, String)>,
) -> DasResult<Json<DbUserEnvelope>> {
    let (_, db_user) = resolve(&caller, &state, &path, Role::Viewer).await?;
    Ok(Json(DbUserEnvelope {
        db_user: db_user.into(),
    }))
}

/// `PUT …/db-users/{db_user_id}` (project admin): new name and password, checked by a login.
#[utoipa::path(put, path = "/v3/{project_id}/instances/{instance_id}/db-users/{db_user_id}", tag = "db-users",
    request_body = UpdateDbUserIn,
    params(("project_id" = String, Path), ("instance_id" = String, Path), ("db_user_id" = String, Path)),
    responses((status = 200, body = ResultOk), (status = 400, body = super::error::ErrorBody),
              (status = 500, body = super::error::ErrorBody)))]
pub async fn update_db_user(
    caller: Principal,
    State(state): State<AppState>,
    PathParams(path): PathParams<(String, String, String)>,
    body: Body,
) -> DasResult<Json<ResultOk>> {
    let (instance, db_user) = resolve(&caller, &state, &path, Role::Admin).await?;
    let creds = credentials(&JsonObject::read(body).await?)?;
    verify_login(&state, &instance, &creds).await?;
    let sealed = state.sealer.seal(
        &SecretString::from(creds.db_user_password),
        &password_aad(&db_user.id),
    );
    match state
        .store
        .update_db_user(&db_user.id, &creds.db_username, &sealed)
        .await
    {
        Ok(_) => Ok(Json(OK)),
        Err(crate::store::StoreError::Conflict) => Err(DasError::bad(
            "db_username",
            crate::error::Problem::Invalid("registered already as another db user".into()),
        )),
        Err(e) => Err(e.into()),
    }
}

/// `DELETE …/db-users/{db_user_id}` (project admin).
#[utoipa::path(delete, path = "/v3/{project_id}/instances/{instance_id}/db-users/{db_user_id}", tag = "db-users",
    params(("project_id" = String, Path), ("instance_id" = String, Path), ("db_user_id" = String, Path)),
    responses((status = 200, body = ResultOk), (status = 400, body = super::error::ErrorBody)))]
pub async fn delete_db_user(
    caller: Principal,
    State(state): State<AppState>,
    PathParams(path): PathParams<(String, String, String)>,
) -> DasResult<Json<ResultOk>> {
    let (_, db_user) = resolve(&caller, &state, &path, Role::Admin).await?;
    state.store.delete_db_user(&db_user.id).await?;
    state.engines.evict(&db_user.id);
    Ok(Json(OK))
}
