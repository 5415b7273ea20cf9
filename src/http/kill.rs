//! KillSession in DAS's shape, with dbkill's extensions (`dry_run`, `kill_type`, `deadline_ms`)
//! and its
//! per-session report.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use serde::Serialize;
use tracing::Instrument;
use utoipa::ToSchema;

use super::AppState;
use super::access::InstancePath;
use super::error::{Lang, message};
use super::extract::{JsonObject, db_user_id};
use super::openapi::CallerErrors;
use super::openapi::shapes;
use crate::domain::{DbUserId, KillFilter, KillType, Principal, Role, SessionId};
use crate::error::{DasError, DasResult, Problem};
use crate::report::KillReport;
use crate::service::KillRequest;
use crate::wire::KilledOut;

/// The body of KillSession, as parsed. Unknown fields (e.g. `node_id`) are ignored; `""` and
/// `null` count as absent; at least one of `process_ids`, `user` and `database` is needed.
#[derive(ToSchema, Debug)]
pub struct KillSessionIn {
    #[schema(schema_with = shapes::db_user_id)]
    pub db_user_id: DbUserId,
    /// Decimal session ids.
    #[schema(schema_with = shapes::process_ids)]
    pub process_ids: Option<Vec<SessionId>>,
    pub user: Option<String>,
    pub database: Option<String>,
    /// List what would be killed; send nothing to the instance. Default false.
    #[schema(value_type = Option<bool>)]
    pub dry_run: bool,
    /// Milliseconds by which dbkill has stopped sending KILLs, verified and answered; default
    /// the setting `kill_deadline_ms`.
    #[schema(value_type = Option<u64>, minimum = 100, maximum = 600_000)]
    pub deadline_ms: Option<u64>,
    /// `connection` (default) or `query`.
    #[schema(schema_with = shapes::kill_type, required = false)]
    pub kill_type: KillType,
}

/// Most ids one request may name.
const MAX_PROCESS_IDS: usize = 100_000;

impl KillSessionIn {
    fn db_user_id(body: &JsonObject) -> DasResult<DbUserId> {
        match body.str_opt("db_user_id") {
            Ok(Some(id)) => db_user_id(&id),
            _ => Err(DasError::BadDbUserId),
        }
    }

    fn parse(body: &JsonObject, db_user_id: DbUserId) -> DasResult<Self> {
        let process_ids = match body.str_array_opt("process_ids")? {
            None => None,
            Some(raw) if raw.len() > MAX_PROCESS_IDS => {
                return Err(DasError::bad(
                    "process_ids",
                    Problem::Length {
                        min: 0,
                        max: MAX_PROCESS_IDS,
                    },
                ));
            }
            Some(raw) => Some(
                raw.iter()
                    .enumerate()
                    .map(|(i, s)| {
                        SessionId::parse(s).ok_or_else(|| {
                            DasError::bad(
                                format!("process_ids[{i}]"),
                                Problem::Invalid("must be a non-negative decimal integer".into()),
                            )
                        })
                    })
                    .collect::<DasResult<Vec<_>>>()?,
            ),
        };
        let kill_type = match body.str_opt("kill_type")? {
            None => KillType::Connection,
            Some(k) => KillType::parse(&k).ok_or_else(|| {
                DasError::bad("kill_type", Problem::OneOf(&["connection", "query"]))
            })?,
        };
        let parsed = Self {
            db_user_id,
            process_ids,
            user: body.str_opt("user")?,
            database: body.str_opt("database")?,
            dry_run: body.bool_opt("dry_run")?.unwrap_or(false),
            deadline_ms: body
                .int_opt("deadline_ms", 100, 600_000)?
                .map(|ms| ms as u64),
            kill_type,
        };
        if parsed.filter().is_empty() {
            return Err(DasError::NoKillFilter);
        }
        Ok(parsed)
    }

    fn filter(&self) -> KillFilter {
        KillFilter {
            process_ids: self.process_ids.clone(),
            user: self.user.clone(),
            database: self.database.clone(),
        }
    }

    fn filter_json(&self) -> String {
        serde_json::json!({
            "db_user_id": self.db_user_id.as_str(),
            "process_ids": self.process_ids.as_ref().map(|v| v.iter().map(|i| i.to_string()).collect::<Vec<_>>()),
            "user": self.user, "database": self.database,
        })
        .to_string()
    }
}

#[derive(Serialize, ToSchema)]
pub struct SkippedOut {
    pub id: String,
    pub user: String,
    /// `own_connection`, `system_thread`, `protected_user`, `already_killed` or `not_matched`.
    pub reason: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct FailedOut {
    pub id: String,
    pub error_code: &'static str,
    pub error_msg: String,
}

#[derive(Serialize, ToSchema)]
pub struct KillReportOut {
    pub request_id: String,
    pub dry_run: bool,
    pub kill_type: &'static str,
    pub killed: Vec<KilledOut>,
    pub skipped: Vec<SkippedOut>,
    pub not_found: Vec<String>,
    pub failed: Vec<FailedOut>,
}

impl KillReportOut {
    fn new(r: KillReport, lang: Lang) -> Self {
        Self {
            request_id: r.request_id,
            dry_run: r.dry_run,
            kill_type: r.kill_type.as_str(),
            killed: r
                .killed
                .iter()
                .map(|k| KilledOut {
                    session: (&k.session).into(),
                    gone: k.gone,
                })
                .collect(),
            skipped: r
                .skipped
                .into_iter()
                .map(|s| SkippedOut {
                    id: s.id.to_string(),
                    user: s.user,
                    reason: s.reason.as_str(),
                })
                .collect(),
            not_found: r.not_found.iter().map(ToString::to_string).collect(),
            failed: r
                .failed
                .iter()
                .map(|f| FailedOut {
                    id: f.id.to_string(),
                    error_code: f.error.code(),
                    error_msg: message(&f.error, lang),
                })
                .collect(),
        }
    }
}

/// `DELETE /v3/{project_id}/instances/{instance_id}/process` (operator): KillSession.
#[utoipa::path(delete, path = "/v3/{project_id}/instances/{instance_id}/process", tag = "sessions",
    request_body = KillSessionIn, params(InstancePath), responses((status = 200, body = KillReportOut), CallerErrors))]
pub async fn kill_sessions_handler(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    headers: HeaderMap,
    body: Body,
) -> DasResult<Json<KillReportOut>> {
    let access = path.access(&state, &caller, Role::Operator).await?;
    let body = JsonObject::read(body).await?;
    let access = state
        .services
        .db_user_access(access, &KillSessionIn::db_user_id(&body)?)
        .await?;
    let input = KillSessionIn::parse(&body, access.db_user().id.clone())?;
    let request_id = super::extract::report_request_id(&headers);
    let req = KillRequest {
        history_id: uuid::Uuid::new_v4().to_string(),
        request_id,
        filter: input.filter(),
        filter_json: input.filter_json(),
        kill_type: input.kill_type,
        dry_run: input.dry_run,
        deadline: input.deadline_ms.map(std::time::Duration::from_millis),
        source: caller.source(),
        task_id: 0,
    };
    // Its own task: a client that hangs up must not stop a kill halfway.
    let services = state.services.clone();
    let kill = async move { services.kill_sessions(access, req).await };
    let report = tokio::spawn(kill.in_current_span())
        .await
        .map_err(DasError::internal)??;
    Ok(Json(KillReportOut::new(
        report,
        Lang::from_headers(&headers),
    )))
}
