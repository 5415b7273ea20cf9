//! ListPostgresProcesses (`GET …/pg/query-process-list`) in DAS's shape: the rows (every field a
//! string) and DAS's statistics. It lists through the instance's default db user and works on
//! every engine; `service::process_list` does the work, `crate::process_list` the computing.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::access::InstancePath;
use super::extract::{QueryMap, QueryParams, query_str};
use super::openapi::CallerErrors;
use crate::domain::{Principal, Role, Session};
use crate::error::{DasError, DasResult, Problem};
use crate::process_list::{GroupCount, ListQuery, ListStats, OrderBy, ProcessList, db_of};

const MAX_PER_PAGE: u32 = 100;

/// One row; every field a string, as DAS sends them.
#[derive(Serialize, ToSchema)]
pub struct PgProcessOut {
    pub id: String,
    pub user: String,
    pub host: String,
    /// `--` when the session has no current database.
    pub db: String,
    /// MySQL's command (`Sleep`, `Query`, …); PostgreSQL's backend state (`active`, `idle`, …).
    pub command: String,
    /// Seconds in the current state.
    pub time: String,
    pub state: String,
    /// The SQL text, `""` when idle.
    pub info: String,
    /// Age in seconds of the open transaction, `"0"` when none.
    pub trx_duration: String,
}

impl From<&Session> for PgProcessOut {
    fn from(s: &Session) -> Self {
        Self {
            id: s.id.to_string(),
            user: s.user.clone(),
            host: s.host.clone(),
            db: db_of(s).to_owned(),
            command: s.command.clone(),
            time: s.time.to_string(),
            state: s.state.clone(),
            info: s.sql.clone().unwrap_or_default(),
            trx_duration: s.trx_seconds.to_string(),
        }
    }
}

/// Active sessions by how long they have been in their state (whole seconds: `<1s` is 0,
/// `1-3s` 1 and 2, `3-10s` 3 to 10, `>10s` 11 and more).
#[derive(Serialize, ToSchema)]
pub struct SessionExecTimeOut {
    #[serde(rename = "<1s")]
    pub under_1s: usize,
    #[serde(rename = "1-3s")]
    pub from_1s_to_3s: usize,
    #[serde(rename = "3-10s")]
    pub from_3s_to_10s: usize,
    #[serde(rename = ">10s")]
    pub over_10s: usize,
}

/// How many sessions have one command (PostgreSQL: one backend state).
#[derive(Serialize, ToSchema)]
pub struct SummaryOut {
    /// The command.
    pub key: String,
    pub value: usize,
}

/// The sessions of one user, host address (without the port) or database.
#[derive(Serialize, ToSchema)]
pub struct GroupStatOut {
    /// The user, host address or database (`--`: none); `value` repeats it.
    pub key: String,
    pub value: String,
    /// Those that are not idle.
    pub active_count: usize,
    pub total_count: usize,
}

impl From<GroupCount> for GroupStatOut {
    fn from(g: GroupCount) -> Self {
        Self {
            key: g.name.clone(),
            value: g.name,
            active_count: g.active,
            total_count: g.total,
        }
    }
}

/// The answer. Statistics are over every session that passes the filters other than
/// `show_all`, so idle sessions are counted while they are hidden from the rows.
#[derive(Serialize, ToSchema)]
pub struct PgProcessList {
    /// The page, in the order asked for.
    pub process_info_list: Vec<PgProcessOut>,
    /// All rows, not the page size.
    pub total: usize,
    /// Distinct non-empty values, ascending.
    pub user_info_list: Vec<String>,
    pub db_info_list: Vec<String>,
    /// Host addresses without their ports.
    pub host_info_list: Vec<String>,
    pub state_info_list: Vec<String>,
    pub command_info_list: Vec<String>,
    pub session_exec_time: SessionExecTimeOut,
    pub idle_session: usize,
    pub active_session: usize,
    /// Sessions per command, most first.
    pub summary: Vec<SummaryOut>,
    /// Most sessions first.
    pub user_stats: Vec<GroupStatOut>,
    pub host_stats: Vec<GroupStatOut>,
    pub db_stats: Vec<GroupStatOut>,
    /// Always false.
    pub show_version_support_message: bool,
    /// Always false.
    pub show_warn_message: bool,
}

impl PgProcessList {
    fn new(list: ProcessList) -> Self {
        let ListStats {
            users,
            dbs,
            hosts,
            states,
            commands,
            exec_time,
            idle,
            active,
            by_command,
            by_user,
            by_host,
            by_db,
        } = list.stats;
        let groups = |g: Vec<GroupCount>| g.into_iter().map(GroupStatOut::from).collect();
        Self {
            process_info_list: list.page.iter().map(PgProcessOut::from).collect(),
            total: list.total,
            user_info_list: users,
            db_info_list: dbs,
            host_info_list: hosts,
            state_info_list: states,
            command_info_list: commands,
            session_exec_time: SessionExecTimeOut {
                under_1s: exec_time.under_1s,
                from_1s_to_3s: exec_time.from_1s_to_3s,
                from_3s_to_10s: exec_time.from_3s_to_10s,
                over_10s: exec_time.over_10s,
            },
            idle_session: idle,
            active_session: active,
            summary: by_command
                .into_iter()
                .map(|(key, value)| SummaryOut { key, value })
                .collect(),
            user_stats: groups(by_user),
            host_stats: groups(by_host),
            db_stats: groups(by_db),
            show_version_support_message: false,
            show_warn_message: false,
        }
    }
}

/// `true` / `false` in any case (the Python SDK sends `True`).
fn bool_param(q: &QueryMap, key: &str, default: bool) -> DasResult<bool> {
    match query_str(q, key) {
        None => Ok(default),
        Some(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(DasError::bad(key, Problem::OneOf(&["true", "false"]))),
    }
}

/// An integer in `min..=max`, else `err`.
fn int_param(q: &QueryMap, key: &str, min: i64, max: i64, err: DasError) -> DasResult<Option<i64>> {
    match query_str(q, key) {
        None => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(err),
        },
    }
}

fn parse_query(q: &QueryMap) -> DasResult<ListQuery> {
    let text = |key: &str| query_str(q, key).map(str::to_owned);
    let max_page = i64::from(i32::MAX);
    let seconds = DasError::bad(
        "time",
        Problem::Range {
            min: 0,
            max: max_page,
        },
    );
    let order_by = match query_str(q, "order_by") {
        None => OrderBy::Id,
        Some(s) => OrderBy::parse(s)
            .ok_or_else(|| DasError::bad("order_by", Problem::OneOf(OrderBy::NAMES)))?,
    };
    let descending = match query_str(q, "order") {
        None => false,
        Some(s) if s.eq_ignore_ascii_case("asc") => false,
        Some(s) if s.eq_ignore_ascii_case("desc") => true,
        Some(_) => return Err(DasError::bad("order", Problem::OneOf(&["asc", "desc"]))),
    };
    let defaults = ListQuery::default();
    // The bounds make the casts exact.
    let cur_page = int_param(q, "cur_page", 1, max_page, DasError::BadCurPage)?
        .map_or(defaults.cur_page, |v| v as u32);
    let per_page = int_param(
        q,
        "per_page",
        1,
        i64::from(MAX_PER_PAGE),
        DasError::BadPerPage,
    )?
    .map_or(defaults.per_page, |v| v as u32);
    Ok(ListQuery {
        user: text("user"),
        host: text("host"),
        db: text("db"),
        state: text("state"),
        command: text("command"),
        keywords: text("keywords"),
        min_time: int_param(q, "time", 0, max_page, seconds)?,
        show_all: bool_param(q, "show_all", defaults.show_all)?,
        hide_sys: bool_param(q, "hide_sys", defaults.hide_sys)?,
        order_by,
        descending,
        cur_page,
        per_page,
    })
}

/// `GET /v3/{project_id}/instances/{instance_id}/pg/query-process-list` (viewer):
/// ListPostgresProcesses, as the instance's default db user; on every engine.
#[utoipa::path(get, path = "/v3/{project_id}/instances/{instance_id}/pg/query-process-list", tag = "sessions",
    params(InstancePath,
           ("user" = Option<String>, Query, description = "equal to the user"),
           ("host" = Option<String>, Query, description = "equal to the host as listed, or to its address without the port"),
           ("db" = Option<String>, Query, description = "equal to the database (`--`: none)"),
           ("state" = Option<String>, Query, description = "equal to the state"),
           ("command" = Option<String>, Query, description = "equal to the command, ignoring case"),
           ("keywords" = Option<String>, Query, description = "a substring of the SQL text, ignoring case"),
           ("show_all" = Option<bool>, Query, description = "default false: idle sessions are left out of the rows (true/false in any case)"),
           ("hide_sys" = Option<bool>, Query, description = "default true: system and background threads are left out"),
           ("time" = Option<i64>, Query, minimum = 0, maximum = 2147483647, description = "only sessions at least this many seconds in their state"),
           ("cur_page" = Option<i64>, Query, minimum = 1, maximum = 2147483647, description = "default 1; out of range: DAS.200103"),
           ("per_page" = Option<i64>, Query, minimum = 1, maximum = 100, description = "default 10; out of range: DAS.200104"),
           ("order_by" = Option<String>, Query, pattern = "^(id|user|host|db|command|time|state)$", description = "default id (any case)"),
           ("order" = Option<String>, Query, pattern = "^(asc|desc)$", description = "default asc (any case)"),
           ("node_id" = Option<String>, Query, description = "accepted and ignored"),
           ("node_role" = Option<String>, Query, description = "accepted and ignored"),
           ("show_no_pid" = Option<String>, Query, description = "accepted and ignored")),
    responses((status = 200, body = PgProcessList), CallerErrors))]
pub async fn list_pg_processes(
    caller: Principal,
    State(state): State<AppState>,
    path: InstancePath,
    QueryParams(query): QueryParams,
) -> DasResult<Json<PgProcessList>> {
    let access = path.access(&state, &caller, Role::Viewer).await?;
    let query = parse_query(&query)?;
    let list = state.services.query_process_list(&access, &query).await?;
    Ok(Json(PgProcessList::new(list)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(pairs: &[(&str, &str)]) -> DasResult<ListQuery> {
        let q: QueryMap = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        parse_query(&q)
    }

    #[test]
    fn defaults_and_spellings() {
        assert_eq!(parsed(&[]).unwrap(), ListQuery::default());
        let q = parsed(&[
            ("show_all", "True"),
            ("hide_sys", "FALSE"),
            ("order_by", "Time"),
            ("order", "DESC"),
            ("cur_page", "3"),
            ("per_page", "100"),
            ("time", "0"),
            ("user", ""),
            ("node_id", "x"),
            ("show_no_pid", "whatever"),
        ])
        .unwrap();
        assert!(q.show_all && !q.hide_sys && q.descending);
        assert_eq!(
            (q.order_by, q.cur_page, q.per_page),
            (OrderBy::Time, 3, 100)
        );
        assert_eq!((q.min_time, q.user), (Some(0), None));
    }

    #[test]
    fn bad_values_have_their_codes() {
        let code = |pairs: &[(&str, &str)]| parsed(pairs).unwrap_err().code();
        for page in ["0", "-1", "x", "2147483648", "1.5"] {
            assert_eq!(code(&[("cur_page", page)]), "DAS.200103", "{page}");
        }
        for size in ["0", "101", "ten"] {
            assert_eq!(code(&[("per_page", size)]), "DAS.200104", "{size}");
        }
        for bad in [
            ("show_all", "yes"),
            ("hide_sys", "1"),
            ("time", "-1"),
            ("time", "soon"),
            ("order_by", "sql"),
            ("order", "up"),
        ] {
            assert_eq!(code(&[bad]), "DAS.200100", "{bad:?}");
        }
    }
}
