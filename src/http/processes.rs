//! ListProcesses, in DAS's shape ([`ProcessOut`]: every field a string).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::access::InstancePath;
use super::extract::{QueryParams, db_user_id, page, query_str};
use super::openapi::{CallerErrors, DbUserQuery};
use crate::domain::{Principal, Role};
use crate::error::{DasError, DasResult};
use crate::wire::ProcessOut;

#[derive(Serialize, ToSchema)]
pub struct ProcessList {
    pub processes: Vec<ProcessOut>,
    /// Total matching sessions, not the page size.
    pub count: usize,
}

/// `GET /v3/{project_id}/instances/{instance_id}/processes` (viewer).
#[utoipa::path(get, path = "/v3/{project_id}/instances/{instance_id}/processes", tag = "sessions",
    params(InstancePath, DbUserQuery,
           ("user" = Option<String>, Query, description = "exact match"), ("database" = Option<String>, Query, description = "exact match"),
           ("offset" = Option<i64>, Query, minimum = 0, maximum = 2147483647), ("limit" = Option<i64>, Query, minimum = 1, maximum = 1000, description = "default 20"),
           ("node_id" = Option<String>, Query, description = "accepted and ignored")),
    responses((status = 200, body = ProcessList), CallerErrors))]
pub async fn list_processes_handler(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    QueryParams(query): QueryParams,
) -> DasResult<Json<ProcessList>> {
    let access = path.access(&state, &caller, Role::Viewer).await?;
    let db_user = query_str(&query, "db_user_id").ok_or(DasError::BadDbUserId)?;
    let access = state
        .services
        .db_user_access(access, &db_user_id(db_user)?)
        .await?;
    let page = page(&query, 20, 1000)?;
    let result = state
        .services
        .list_processes(
            &access,
            query_str(&query, "user"),
            query_str(&query, "database"),
            page,
        )
        .await?;
    Ok(Json(ProcessList {
        processes: result.sessions.iter().map(ProcessOut::from).collect(),
        count: result.count,
    }))
}
