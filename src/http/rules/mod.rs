//! The DAS auto-flow operations (kill rules, DAS "kill tasks"): the switch, add, preview, list,
//! terminate and kill-all-session, in DAS's shapes with dbkill's extensions. The work is in
//! `service::rules`; this file parses bodies and writes answers.

mod body;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use tracing::Instrument;
use utoipa::ToSchema;

use super::AppState;
use super::access::InstancePath;
use super::extract::JsonObject;
use super::openapi::CallerErrors;
use crate::domain::{Principal, Role, Session};
use crate::error::{DasError, DasResult};
use crate::store::KillRuleRecord;
use body::{KillRuleIn, SwitchIn, TaskIdIn};

/// Preview rows: the count says how many matched, the rows stop here.
const PREVIEW_ROWS: usize = 1000;

#[derive(Serialize, ToSchema)]
pub struct SwitchOut {
    /// `ON` or `OFF`.
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct SuccessOut {
    pub success: bool,
    /// ext: the new rule's id (add-kill-process-task only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_id: Option<i64>,
}

const SUCCESS: SuccessOut = SuccessOut {
    success: true,
    task_id: None,
};

#[derive(Serialize, ToSchema)]
pub struct PreviewProcessOut {
    pub id: i64,
    pub user: String,
    pub host: String,
    /// `--` when the session has no current database.
    pub db: String,
    pub command: String,
    pub sql_info: String,
    pub state_duration: i64,
    pub state: String,
}

impl From<&Session> for PreviewProcessOut {
    fn from(s: &Session) -> Self {
        Self {
            id: i64::try_from(s.id.0).unwrap_or(i64::MAX),
            user: s.user.clone(),
            host: s.host.clone(),
            db: s.database.clone().unwrap_or_else(|| "--".into()),
            command: s.command.clone(),
            sql_info: s.sql.clone().unwrap_or_default(),
            state_duration: s.time,
            state: s.state.clone(),
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PreviewOut {
    /// The first 1,000 of them, newest first.
    pub processes: Vec<PreviewProcessOut>,
    /// Unix ms of the listing.
    pub data_sync_time: i64,
    pub total_count: usize,
}

#[derive(Serialize, ToSchema)]
pub struct KillTaskOut {
    pub user: String,
    pub host: String,
    pub db: String,
    pub info: String,
    pub command: String,
    pub time: i64,
    pub task_id: i64,
    pub task_type: String,
    pub task_duration: i64,
    /// 1 running, 2 stopped by a user, 3 finished, 4 paused.
    pub task_state: i64,
    pub start_time: i64,
    /// 0 when it runs until stopped.
    pub end_time: i64,
    /// ext.
    pub name: String,
    pub mode: &'static str,
    pub kill_type: &'static str,
    /// `null`: the instance's default db user.
    pub db_user_id: Option<String>,
    pub state: String,
    pub min_trx_time: Option<i64>,
    pub max_kills_per_minute: u32,
    pub pause_above: u32,
    pub matched_total: i64,
    pub killed_total: i64,
    pub last_kill_time: Option<i64>,
}

impl From<KillRuleRecord> for KillTaskOut {
    fn from(r: KillRuleRecord) -> Self {
        let spec = r.spec;
        let c = spec.conditions;
        Self {
            user: c.user.unwrap_or_default(),
            host: c.host.unwrap_or_default(),
            db: c.db.unwrap_or_default(),
            info: c.info.unwrap_or_default(),
            command: c.command.unwrap_or_default(),
            time: c.time,
            task_id: r.id,
            task_type: spec.task_type,
            task_duration: spec.task_duration,
            task_state: r.state.code(),
            start_time: r.start_time,
            end_time: r.end_time,
            name: spec.name,
            mode: spec.mode.as_str(),
            kill_type: spec.kill_type.as_str(),
            db_user_id: spec.db_user_id.map(|id| id.to_string()),
            state: c.state.unwrap_or_default(),
            min_trx_time: c.min_trx_time,
            max_kills_per_minute: spec.max_kills_per_minute,
            pause_above: spec.pause_above,
            matched_total: r.matched_total,
            killed_total: r.killed_total,
            last_kill_time: r.last_kill_time,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct KillTaskList {
    pub sql_killing_task_resp_list: Vec<KillTaskOut>,
}

/// `GET …/auto-flow/get-kill-process-task-switch` (viewer).
#[utoipa::path(get, path = "/v3/{project_id}/instances/{instance_id}/auto-flow/get-kill-process-task-switch",
    tag = "kill rules", params(InstancePath), responses((status = 200, body = SwitchOut), CallerErrors))]
pub async fn get_rule_switch(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
) -> DasResult<Json<SwitchOut>> {
    let access = path.access(&state, &caller, Role::Viewer).await?;
    let status = state.services.rule_switch(&access).await?.as_str();
    Ok(Json(SwitchOut { status }))
}

/// `POST …/auto-flow/set-kill-process-task-switch` (operator).
#[utoipa::path(post, path = "/v3/{project_id}/instances/{instance_id}/auto-flow/set-kill-process-task-switch",
    tag = "kill rules", request_body = SwitchIn, params(InstancePath), responses((status = 200, body = SuccessOut), CallerErrors))]
pub async fn set_rule_switch(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    body: Body,
) -> DasResult<Json<SuccessOut>> {
    let access = path.access(&state, &caller, Role::Operator).await?;
    let switch = body::switch(&JsonObject::read(body).await?)?;
    state.services.set_rule_switch(&access, switch).await?;
    Ok(Json(SUCCESS))
}

/// `PUT …/auto-flow/add-kill-process-task` (operator): a new rule, running from now.
#[utoipa::path(put, path = "/v3/{project_id}/instances/{instance_id}/auto-flow/add-kill-process-task",
    tag = "kill rules", request_body = KillRuleIn, params(InstancePath), responses((status = 200, body = SuccessOut), CallerErrors))]
pub async fn add_rule(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    body: Body,
) -> DasResult<Json<SuccessOut>> {
    let access = path.access(&state, &caller, Role::Operator).await?;
    let rule = body::new_rule(&JsonObject::read(body).await?)?;
    let id = state.services.add_rule(&access, rule).await?;
    Ok(Json(SuccessOut {
        success: true,
        task_id: Some(id),
    }))
}

/// `POST …/auto-flow/preview-session-for-kill-process-task` (viewer): what a rule with these
/// conditions would kill now.
#[utoipa::path(post, path = "/v3/{project_id}/instances/{instance_id}/auto-flow/preview-session-for-kill-process-task",
    tag = "kill rules", request_body = KillRuleIn, params(InstancePath), responses((status = 200, body = PreviewOut), CallerErrors))]
pub async fn preview_rule(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    body: Body,
) -> DasResult<Json<PreviewOut>> {
    let access = path.access(&state, &caller, Role::Viewer).await?;
    let rule = body::new_rule(&JsonObject::read(body).await?)?;
    let preview = state
        .services
        .preview_rule(&access, rule.db_user_id.as_ref(), &rule.conditions)
        .await?;
    Ok(Json(PreviewOut {
        processes: preview
            .sessions
            .iter()
            .take(PREVIEW_ROWS)
            .map(PreviewProcessOut::from)
            .collect(),
        data_sync_time: preview.listed_at,
        total_count: preview.sessions.len(),
    }))
}

/// `GET …/auto-flow/query-kill-process-task` (viewer): the rules, newest first, at most 200.
#[utoipa::path(get, path = "/v3/{project_id}/instances/{instance_id}/auto-flow/query-kill-process-task",
    tag = "kill rules", params(InstancePath), responses((status = 200, body = KillTaskList), CallerErrors))]
pub async fn list_rules(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
) -> DasResult<Json<KillTaskList>> {
    let access = path.access(&state, &caller, Role::Viewer).await?;
    let rules = state.services.list_rules(&access).await?;
    Ok(Json(KillTaskList {
        sql_killing_task_resp_list: rules.into_iter().map(KillTaskOut::from).collect(),
    }))
}

/// `POST …/auto-flow/terminate-kill-process-task` (operator): the rule never kills again after
/// this answer.
#[utoipa::path(post, path = "/v3/{project_id}/instances/{instance_id}/auto-flow/terminate-kill-process-task",
    tag = "kill rules", request_body = TaskIdIn, params(InstancePath), responses((status = 200, body = SuccessOut), CallerErrors))]
pub async fn terminate_rule(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    body: Body,
) -> DasResult<Json<SuccessOut>> {
    let access = path.access(&state, &caller, Role::Operator).await?;
    let task_id = body::task_id(&JsonObject::read(body).await?)?;
    state.services.terminate_rule(&access, task_id).await?;
    Ok(Json(SUCCESS))
}

/// `POST …/auto-flow/kill-all-session` (operator): kills every unprotected client session as
/// the default db user, as one KillSession; only while the switch is ON.
#[utoipa::path(post, path = "/v3/{project_id}/instances/{instance_id}/auto-flow/kill-all-session",
    tag = "kill rules", params(InstancePath), responses((status = 200, body = SuccessOut), CallerErrors))]
pub async fn kill_all_sessions(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    headers: HeaderMap,
) -> DasResult<Json<SuccessOut>> {
    let access = path.access(&state, &caller, Role::Operator).await?;
    let request_id = super::extract::report_request_id(&headers);
    // Its own task: a client that hangs up must not stop a kill halfway.
    let services = state.services.clone();
    let source = caller.source();
    let kill = async move {
        services
            .kill_all_sessions(&access, request_id, source)
            .await
    };
    tokio::spawn(kill.in_current_span())
        .await
        .map_err(DasError::internal)??;
    Ok(Json(SUCCESS))
}
