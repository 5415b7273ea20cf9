//! Instances: the self-hosted registry of target databases (DAS gets them from the cloud).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::access::{InstancePath, ProjectPath};
use super::extract::{JsonObject, QueryParams, check_len};
use crate::domain::{DatastoreType, InstanceId, Principal, Role};
use crate::error::{DasError, DasResult, Problem};
use crate::store::InstanceRecord;

/// The body of `POST /v3/{project_id}/instances`, as parsed (strict: unknown fields are refused).
#[derive(ToSchema, Debug)]
pub struct CreateInstanceIn {
    pub name: String,
    /// `mysql`, `mariadb` or `postgresql`, case-insensitive.
    #[schema(value_type = String)]
    pub datastore_type: DatastoreType,
    pub host: String,
    pub port: u16,
    /// Accounts whose sessions are never killed.
    pub protected_users: Vec<String>,
    /// MySQL `admin_port` / MariaDB `extra_port`, used for kills when set.
    pub admin_port: Option<u16>,
}

impl CreateInstanceIn {
    fn parse(body: &JsonObject) -> DasResult<Self> {
        body.deny_unknown(&[
            "name",
            "datastore_type",
            "host",
            "port",
            "protected_users",
            "admin_port",
        ])?;
        let name = body.str_req("name")?;
        check_len("name", &name, 1, 64)?;
        let datastore_type = body.str_req("datastore_type")?;
        let kind = DatastoreType::parse(&datastore_type).ok_or(DasError::UnsupportedDatastore)?;
        let host = body.str_req("host")?;
        check_len("host", &host, 1, 253)?;
        if host.chars().any(char::is_whitespace) {
            return Err(DasError::bad(
                "host",
                Problem::Invalid("contains white space".into()),
            ));
        }
        let port = body
            .int_opt("port", 1, 65535)?
            .ok_or_else(|| DasError::bad("port", Problem::Missing))? as u16;
        let protected_users = body.str_array_opt("protected_users")?.unwrap_or_default();
        if protected_users.len() > 100 {
            return Err(DasError::bad(
                "protected_users",
                Problem::Length { min: 0, max: 100 },
            ));
        }
        for (i, u) in protected_users.iter().enumerate() {
            check_len(&format!("protected_users[{i}]"), u, 1, 80)?;
        }
        let admin_port = body.int_opt("admin_port", 1, 65535)?.map(|p| p as u16);
        Ok(Self {
            name,
            datastore_type: kind,
            host,
            port,
            protected_users,
            admin_port,
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct InstanceOut {
    pub instance_id: String,
    pub name: String,
    pub datastore_type: &'static str,
    pub host: String,
    pub port: u16,
    pub protected_users: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_port: Option<u16>,
}

impl From<InstanceRecord> for InstanceOut {
    fn from(i: InstanceRecord) -> Self {
        Self {
            instance_id: i.id.to_string(),
            name: i.name,
            datastore_type: i.datastore_type.as_str(),
            host: i.host,
            port: i.port,
            protected_users: i.protected_users,
            admin_port: i.admin_port,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct InstanceIdOut {
    pub instance_id: String,
}

#[derive(Serialize, ToSchema)]
pub struct InstanceList {
    pub instances: Vec<InstanceOut>,
    pub total: i64,
}

#[derive(Serialize, ToSchema)]
pub struct InstanceEnvelope {
    pub instance: InstanceOut,
}

#[derive(Serialize, ToSchema)]
pub struct ResultOk {
    /// Always `OK`.
    pub result: &'static str,
}

pub const OK: ResultOk = ResultOk { result: "OK" };

/// `POST /v3/{project_id}/instances` (project admin). Stores the address without connecting.
#[utoipa::path(post, path = "/v3/{project_id}/instances", tag = "instances", request_body = CreateInstanceIn,
    params(("project_id" = String, Path)),
    responses((status = 200, body = InstanceIdOut), (status = 400, body = super::error::ErrorBody),
              (status = 401, body = super::error::ErrorBody), (status = 403, body = super::error::ErrorBody)))]
pub async fn create_instance(
    caller: Principal,
    State(state): State<AppState>,
    path: ProjectPath,
    body: Body,
) -> DasResult<Json<InstanceIdOut>> {
    let access = path.access(&state, &caller, Role::Admin).await?;
    let input = CreateInstanceIn::parse(&JsonObject::read(body).await?)?;
    let record = InstanceRecord {
        id: InstanceId::new_random(input.datastore_type.instance_id_suffix()),
        project_id: access.project().id.clone(),
        name: input.name,
        datastore_type: input.datastore_type,
        host: input.host,
        port: input.port,
        protected_users: input.protected_users,
        admin_port: input.admin_port,
    };
    state.store.insert_instance(&record).await?;
    Ok(Json(InstanceIdOut {
        instance_id: record.id.to_string(),
    }))
}

/// `GET /v3/{project_id}/instances?offset&limit` (viewer).
#[utoipa::path(get, path = "/v3/{project_id}/instances", tag = "instances",
    params(("project_id" = String, Path), ("offset" = Option<i64>, Query), ("limit" = Option<i64>, Query, description = "1..100, default 100")),
    responses((status = 200, body = InstanceList), (status = 400, body = super::error::ErrorBody)))]
pub async fn list_instances(
    caller: Principal,
    State(state): State<AppState>,
    path: ProjectPath,
    QueryParams(query): QueryParams,
) -> DasResult<Json<InstanceList>> {
    let access = path.access(&state, &caller, Role::Viewer).await?;
    let page = super::extract::page(&query, 100, 100)?;
    let (rows, total) = state
        .store
        .list_instances(&access.project().id, page)
        .await?;
    Ok(Json(InstanceList {
        instances: rows.into_iter().map(InstanceOut::from).collect(),
        total,
    }))
}

/// `GET /v3/{project_id}/instances/{instance_id}` (viewer).
#[utoipa::path(get, path = "/v3/{project_id}/instances/{instance_id}", tag = "instances",
    params(("project_id" = String, Path), ("instance_id" = String, Path)),
    responses((status = 200, body = InstanceEnvelope), (status = 400, body = super::error::ErrorBody)))]
pub async fn get_instance(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
) -> DasResult<Json<InstanceEnvelope>> {
    let access = path.access(&state, &caller, Role::Viewer).await?;
    Ok(Json(InstanceEnvelope {
        instance: access.instance().clone().into(),
    }))
}

/// `DELETE /v3/{project_id}/instances/{instance_id}` (project admin). Its db users' credentials
/// go with it; its kill history stays.
#[utoipa::path(delete, path = "/v3/{project_id}/instances/{instance_id}", tag = "instances",
    params(("project_id" = String, Path), ("instance_id" = String, Path)),
    responses((status = 200, body = ResultOk), (status = 400, body = super::error::ErrorBody)))]
pub async fn delete_instance(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
) -> DasResult<Json<ResultOk>> {
    let access = path.access(&state, &caller, Role::Admin).await?;
    state.services.delete_instance(&access).await?;
    Ok(Json(OK))
}
