//! Kill history in the shape of DAS ListKillProcessHistory.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::access::InstancePath;
use super::extract::{QueryMap, QueryParams, query_str};
use super::openapi::CallerErrors;
use crate::domain::{Principal, Role};
use crate::error::{DasError, DasResult, Problem};
use crate::store::{HistoryQuery, KilledSessionRecord};

#[derive(Serialize, ToSchema)]
pub struct KilledSessionOut {
    pub instance_id: String,
    pub node_id: String,
    /// 0 for kills made through the API.
    pub task_id: i64,
    pub session_id: i64,
    pub user: String,
    pub host: String,
    pub db: String,
    pub command: String,
    pub time: i64,
    pub state: String,
    pub info: String,
    /// Unix milliseconds.
    pub kill_time: i64,
    /// `api:<user name>`, `console:<user name>`, `rule:<id>`.
    pub killed_source: String,
    /// dbkill extension: the `request_id` of the kill's report (its X-Request-Id).
    pub request_id: String,
    /// dbkill extension: true when dbkill stopped (or the server stopped answering) before it
    /// could record this outcome, and a later check found the session gone; `kill_time` is then
    /// when the kill was sent.
    pub interrupted: bool,
    /// dbkill extension: the replica that made the kill (`replica_name`); with several replicas
    /// on one store, which of them it was.
    pub replica: String,
}

impl From<KilledSessionRecord> for KilledSessionOut {
    fn from(r: KilledSessionRecord) -> Self {
        Self {
            instance_id: r.instance_id,
            node_id: String::new(),
            task_id: r.task_id,
            session_id: r.session_id,
            user: r.user,
            host: r.host,
            db: r.db,
            command: r.command,
            time: r.time,
            state: r.state,
            info: r.info,
            kill_time: r.kill_time,
            killed_source: r.killed_source,
            request_id: r.request_id,
            interrupted: r.interrupted,
            replica: r.replica,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KillHistory {
    pub killed_sessions: Vec<KilledSessionOut>,
    pub total_count: i64,
}

/// Longest `request_id` the history is searched by.
const MAX_REQUEST_ID_CHARS: usize = 128;

fn request_id_param(q: &QueryMap) -> DasResult<Option<String>> {
    match query_str(q, "request_id") {
        Some(id) if id.chars().count() > MAX_REQUEST_ID_CHARS => Err(DasError::bad(
            "request_id",
            Problem::Length {
                min: 1,
                max: MAX_REQUEST_ID_CHARS,
            },
        )),
        id => Ok(id.map(str::to_owned)),
    }
}

fn int_param(q: &QueryMap, key: &str, default: i64, min: i64, max: i64) -> DasResult<i64> {
    match query_str(q, key) {
        None => Ok(default),
        Some(s) => match s.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(DasError::bad(key, Problem::Range { min, max })),
        },
    }
}

/// `GET …/auto-flow/query-kill-process-history` (viewer): sessions actually killed, newest first;
/// with `request_id`, only those of that kill.
#[utoipa::path(get, path = "/v3/{project_id}/instances/{instance_id}/auto-flow/query-kill-process-history", tag = "sessions",
    params(InstancePath,
           ("start_time" = Option<i64>, Query, minimum = 0, description = "Unix ms, default 0"),
           ("end_time" = Option<i64>, Query, minimum = 0, description = "Unix ms, default now"),
           ("page_num" = Option<i64>, Query, minimum = 1, maximum = 2147483647, description = "default 1"),
           ("page_size" = Option<i64>, Query, minimum = 1, maximum = 100, description = "default 10"),
           ("node_id" = Option<String>, Query, description = "accepted and ignored"),
           ("request_id" = Option<String>, Query, max_length = 128, description = "dbkill extension: only the kill whose report had this request_id (empty is ignored)")),
    responses((status = 200, body = KillHistory), CallerErrors))]
pub async fn kill_history(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    QueryParams(query): QueryParams,
) -> DasResult<Json<KillHistory>> {
    let access = path.access(&state, &caller, Role::Viewer).await?;
    let start_time = int_param(&query, "start_time", 0, 0, i64::MAX)?;
    let end_time = int_param(&query, "end_time", crate::clock::now_ms(), 0, i64::MAX)?;
    let page_num = int_param(&query, "page_num", 1, 1, i64::from(i32::MAX))?;
    let page_size = int_param(&query, "page_size", 10, 1, 100)?;
    let q = HistoryQuery {
        start_time,
        end_time,
        offset: (page_num - 1) * page_size,
        limit: page_size,
        request_id: request_id_param(&query)?,
    };
    let (rows, total_count) = state
        .store
        .list_kill_history(&access.instance().id, &q)
        .await?;
    Ok(Json(KillHistory {
        killed_sessions: rows.into_iter().map(KilledSessionOut::from).collect(),
        total_count,
    }))
}
