//! Kill history in the shape of DAS ListKillProcessHistory.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::access::InstancePath;
use super::extract::{QueryMap, QueryParams, query_str};
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
}

impl From<KilledSessionRecord> for KilledSessionOut {
    fn from(r: KilledSessionRecord) -> Self {
        Self {
            instance_id: r.instance_id,
            node_id: String::new(),
            task_id: 0,
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
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KillHistory {
    pub killed_sessions: Vec<KilledSessionOut>,
    pub total_count: i64,
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

/// `GET …/auto-flow/query-kill-process-history` (viewer): sessions actually killed, newest first.
#[utoipa::path(get, path = "/v3/{project_id}/instances/{instance_id}/auto-flow/query-kill-process-history", tag = "sessions",
    params(("project_id" = String, Path), ("instance_id" = String, Path),
           ("start_time" = Option<i64>, Query, description = "Unix ms, default 0"), ("end_time" = Option<i64>, Query, description = "Unix ms, default now"),
           ("page_num" = Option<i64>, Query, description = "default 1"), ("page_size" = Option<i64>, Query, description = "1..100, default 10"),
           ("node_id" = Option<String>, Query, description = "accepted and ignored")),
    responses((status = 200, body = KillHistory), (status = 400, body = super::error::ErrorBody)))]
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
