//! Instances: the self-hosted registry of target databases (DAS gets them from the cloud).

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::access::{InstancePath, ProjectPath};
use super::extract::{JsonObject, QueryParams, check_len};
use super::openapi::CallerErrors;
use super::openapi::shapes;
use crate::domain::{DatastoreType, DbUserId, InstanceId, Principal, Role, TlsMode};
use crate::engine::tls::check_ca_pem;
use crate::error::{DasError, DasResult, Problem};
use crate::store::InstanceRecord;

/// The body of `POST /v3/{project_id}/instances`, as parsed (strict: unknown fields are refused).
#[derive(ToSchema, Debug)]
#[serde(deny_unknown_fields)]
pub struct CreateInstanceIn {
    #[schema(schema_with = shapes::instance_name)]
    pub name: String,
    /// `mysql`, `mariadb` or `postgresql`, case-insensitive.
    #[schema(schema_with = shapes::datastore_type)]
    pub datastore_type: DatastoreType,
    #[schema(schema_with = shapes::host)]
    pub host: String,
    #[schema(minimum = 1, maximum = 65535)]
    pub port: u16,
    /// Accounts whose sessions are never killed.
    #[schema(schema_with = shapes::protected_users, required = false)]
    pub protected_users: Vec<String>,
    /// MySQL `admin_port` / MariaDB `extra_port`, used for kills when set.
    #[schema(minimum = 1, maximum = 65535)]
    pub admin_port: Option<u16>,
    /// `disabled`, `preferred` (default), `required`, `verify_ca` or `verify_identity`: how
    /// dbkill secures every connection it opens to the instance.
    #[schema(schema_with = shapes::tls_mode, required = false)]
    pub tls_mode: TlsMode,
    /// PEM of the CA that `verify_ca` / `verify_identity` trust (else the system's roots).
    #[schema(schema_with = shapes::tls_ca)]
    pub tls_ca: Option<String>,
}

const CREATE_FIELDS: &[&str] = &[
    "name",
    "datastore_type",
    "host",
    "port",
    "protected_users",
    "admin_port",
    "tls_mode",
    "tls_ca",
];

/// A change may also name the db user kill rules act as by default.
const UPDATE_FIELDS: &[&str] = &[
    "name",
    "host",
    "port",
    "protected_users",
    "admin_port",
    "tls_mode",
    "tls_ca",
    "default_db_user_id",
];

impl CreateInstanceIn {
    fn parse(body: &JsonObject) -> DasResult<Self> {
        body.deny_unknown(CREATE_FIELDS)?;
        let name = name(body.str_req("name")?)?;
        let datastore_type = body.str_req("datastore_type")?;
        let kind = DatastoreType::parse(&datastore_type).ok_or(DasError::UnsupportedDatastore)?;
        let host = host(body.str_req("host")?)?;
        let port = body
            .int_opt("port", 1, 65535)?
            .ok_or_else(|| DasError::bad("port", Problem::Missing))? as u16;
        let protected_users = protected_users(body.str_array_opt("protected_users")?)?;
        let admin_port = body.int_opt("admin_port", 1, 65535)?.map(|p| p as u16);
        let tls_mode = tls_mode(body)?.unwrap_or_default();
        let tls_ca = tls_ca(body)?;
        check_tls(kind, tls_mode, tls_ca.as_deref())?;
        Ok(Self {
            name,
            datastore_type: kind,
            host,
            port,
            protected_users,
            admin_port,
            tls_mode,
            tls_ca,
        })
    }
}

/// The body of `PUT /v3/{project_id}/instances/{instance_id}`: any of the fields of a creation
/// but `datastore_type`; an absent field keeps its value, `null` clears `admin_port` and `tls_ca`,
/// `[]` clears `protected_users`.
#[derive(ToSchema, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct UpdateInstanceIn {
    #[schema(schema_with = shapes::instance_name_change)]
    pub name: Option<String>,
    #[schema(schema_with = shapes::host_change)]
    pub host: Option<String>,
    #[schema(minimum = 1, maximum = 65535)]
    pub port: Option<u16>,
    #[schema(schema_with = shapes::protected_users)]
    pub protected_users: Option<Vec<String>>,
    #[schema(value_type = Option<u16>, minimum = 1, maximum = 65535)]
    pub admin_port: Change<u16>,
    #[schema(schema_with = shapes::tls_mode)]
    pub tls_mode: Option<TlsMode>,
    #[schema(schema_with = shapes::tls_ca, required = false)]
    pub tls_ca: Change<String>,
    /// The db user kill rules and kill-all-session act as when they name none; `null` clears
    /// it (then the oldest db user registered on the instance).
    #[schema(schema_with = shapes::db_user_id_change, required = false)]
    pub default_db_user_id: Change<DbUserId>,
}

/// A field of an update that may be cleared.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub enum Change<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Change<T> {
    fn of(body: &JsonObject, key: &str, value: Option<T>) -> Self {
        match (value, body.0.get(key)) {
            (Some(v), _) => Self::Set(v),
            (None, None) => Self::Keep,
            (None, Some(_)) => Self::Clear,
        }
    }

    fn apply(self, old: Option<T>) -> Option<T> {
        match self {
            Self::Keep => old,
            Self::Clear => None,
            Self::Set(v) => Some(v),
        }
    }
}

impl UpdateInstanceIn {
    fn parse(body: &JsonObject) -> DasResult<Self> {
        body.deny_unknown(UPDATE_FIELDS)?;
        if body.0.contains_key("datastore_type") {
            return Err(DasError::bad(
                "datastore_type",
                Problem::Invalid("cannot change; register a new instance".into()),
            ));
        }
        let admin_port = body.int_opt("admin_port", 1, 65535)?.map(|p| p as u16);
        let tls_ca = tls_ca(body)?;
        Ok(Self {
            name: body.str_opt("name")?.map(name).transpose()?,
            host: body.str_opt("host")?.map(host).transpose()?,
            port: body.int_opt("port", 1, 65535)?.map(|p| p as u16),
            protected_users: match body.0.get("protected_users") {
                None => None,
                Some(_) => Some(protected_users(body.str_array_opt("protected_users")?)?),
            },
            admin_port: Change::of(body, "admin_port", admin_port),
            tls_mode: tls_mode(body)?,
            tls_ca: Change::of(body, "tls_ca", tls_ca),
            default_db_user_id: Change::of(
                body,
                "default_db_user_id",
                body.str_opt("default_db_user_id")?
                    .map(|id| DbUserId::parse(&id).ok_or(DasError::BadDbUserId))
                    .transpose()?,
            ),
        })
    }

    /// The instance as it will be; its TLS fields are checked together, as at creation.
    fn apply(self, old: &InstanceRecord) -> DasResult<InstanceRecord> {
        let new = InstanceRecord {
            name: self.name.unwrap_or_else(|| old.name.clone()),
            host: self.host.unwrap_or_else(|| old.host.clone()),
            port: self.port.unwrap_or(old.port),
            protected_users: self
                .protected_users
                .unwrap_or_else(|| old.protected_users.clone()),
            admin_port: self.admin_port.apply(old.admin_port),
            tls_mode: self.tls_mode.unwrap_or(old.tls_mode),
            tls_ca: self.tls_ca.apply(old.tls_ca.clone()),
            default_db_user_id: self
                .default_db_user_id
                .apply(old.default_db_user_id.clone()),
            ..old.clone()
        };
        check_tls(new.datastore_type, new.tls_mode, new.tls_ca.as_deref())?;
        Ok(new)
    }
}

fn name(name: String) -> DasResult<String> {
    check_len("name", &name, 1, 64)?;
    Ok(name)
}

fn host(host: String) -> DasResult<String> {
    check_len("host", &host, 1, 253)?;
    if host.chars().any(char::is_whitespace) {
        return Err(DasError::bad(
            "host",
            Problem::Invalid("contains white space".into()),
        ));
    }
    Ok(host)
}

fn protected_users(users: Option<Vec<String>>) -> DasResult<Vec<String>> {
    let users = users.unwrap_or_default();
    if users.len() > 100 {
        return Err(DasError::bad(
            "protected_users",
            Problem::Length { min: 0, max: 100 },
        ));
    }
    for (i, u) in users.iter().enumerate() {
        check_len(&format!("protected_users[{i}]"), u, 1, 80)?;
    }
    Ok(users)
}

fn tls_mode(body: &JsonObject) -> DasResult<Option<TlsMode>> {
    body.str_opt("tls_mode")?
        .map(|m| {
            TlsMode::parse(&m)
                .ok_or_else(|| DasError::bad("tls_mode", Problem::OneOf(TlsMode::NAMES)))
        })
        .transpose()
}

fn tls_ca(body: &JsonObject) -> DasResult<Option<String>> {
    let ca = body.str_opt("tls_ca")?;
    if let Some(pem) = &ca {
        check_ca_pem(pem).map_err(|why| DasError::bad("tls_ca", Problem::Invalid(why)))?;
    }
    Ok(ca)
}

/// A CA means something only to the modes that verify; PostgreSQL has no TLS in this build.
fn check_tls(kind: DatastoreType, mode: TlsMode, ca: Option<&str>) -> DasResult<()> {
    if ca.is_some() && !mode.verifies() {
        return Err(DasError::bad(
            "tls_ca",
            Problem::Invalid(format!(
                "only tls_mode verify_ca and verify_identity use a CA, not {}",
                mode.as_str()
            )),
        ));
    }
    if kind == DatastoreType::Postgresql && !matches!(mode, TlsMode::Disabled | TlsMode::Preferred)
    {
        return Err(DasError::bad(
            "tls_mode",
            Problem::Invalid("postgresql instances support disabled and preferred only".into()),
        ));
    }
    Ok(())
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
    pub tls_mode: &'static str,
    /// Whether a `tls_ca` is stored; the PEM itself is never returned.
    pub tls_ca_set: bool,
    /// The db user kill rules act as when they name none (`null`: the oldest one).
    pub default_db_user_id: Option<String>,
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
            tls_mode: i.tls_mode.as_str(),
            tls_ca_set: i.tls_ca.is_some(),
            default_db_user_id: i.default_db_user_id.map(|id| id.to_string()),
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
    params(ProjectPath), responses((status = 200, body = InstanceIdOut), CallerErrors))]
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
        tls_mode: input.tls_mode,
        tls_ca: input.tls_ca,
        default_db_user_id: None,
    };
    state.store.insert_instance(&record).await?;
    Ok(Json(InstanceIdOut {
        instance_id: record.id.to_string(),
    }))
}

/// `GET /v3/{project_id}/instances?offset&limit` (viewer).
#[utoipa::path(get, path = "/v3/{project_id}/instances", tag = "instances",
    params(ProjectPath, ("offset" = Option<i64>, Query, minimum = 0, maximum = 2147483647), ("limit" = Option<i64>, Query, minimum = 1, maximum = 100, description = "default 100")),
    responses((status = 200, body = InstanceList), CallerErrors))]
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
    params(InstancePath), responses((status = 200, body = InstanceEnvelope), CallerErrors))]
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

/// `PUT /v3/{project_id}/instances/{instance_id}` (project admin). A change of address, port,
/// admin port or TLS settings closes the instance's connections and lifelines and opens new ones.
#[utoipa::path(put, path = "/v3/{project_id}/instances/{instance_id}", tag = "instances",
    request_body = UpdateInstanceIn, params(InstancePath), responses((status = 200, body = ResultOk), CallerErrors))]
pub async fn update_instance(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    body: Body,
) -> DasResult<Json<ResultOk>> {
    let access = path.access(&state, &caller, Role::Admin).await?;
    let input = UpdateInstanceIn::parse(&JsonObject::read(body).await?)?;
    if let Change::Set(id) = &input.default_db_user_id {
        // It must be registered on this instance: DAS.200112 otherwise.
        state.services.db_user_access(access.clone(), id).await?;
    }
    let updated = input.apply(access.instance())?;
    state.services.update_instance(&access, updated).await?;
    Ok(Json(OK))
}

/// `DELETE /v3/{project_id}/instances/{instance_id}` (project admin). Its db users' credentials
/// go with it; its kill history stays.
#[utoipa::path(delete, path = "/v3/{project_id}/instances/{instance_id}", tag = "instances",
    params(InstancePath), responses((status = 200, body = ResultOk), CallerErrors))]
pub async fn delete_instance(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
) -> DasResult<Json<ResultOk>> {
    let access = path.access(&state, &caller, Role::Admin).await?;
    state.services.delete_instance(&access).await?;
    Ok(Json(OK))
}
