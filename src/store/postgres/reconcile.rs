//! Reconciliation in PostgreSQL: which kill requests have no known outcome (a replica stopped
//! between intent and outcomes, or KILLs went to a server that then stopped answering), and
//! settling them. Replicas may settle the same request at once: the request's row is locked
//! first, so the second finds it settled and settles nothing.

use std::collections::HashMap;

use sqlx::postgres::PgRow;
use sqlx::{PgPool, Postgres, Row, Transaction};

use super::history::values;
use super::{NOW_MS, ROWS_PER_INSERT, corrupt, now_ms};
use crate::domain::{DbUserId, InstanceId, ProjectId};
use crate::store::{PlannedSession, SessionCheck, StoreResult, UnreconciledRequest};

const REQUEST_COLUMNS: &str =
    "r.id, r.request_id, r.project_id, r.instance_id, r.db_user_id, r.kill_type, r.created_at";

/// Requests of another replica whose heartbeat is live are left to it (it settles its own, and
/// may still be executing them); those of `$2`, of no replica, or of a replica that died or
/// retired are this one's to settle.
fn not_anothers_live(now: &str) -> String {
    format!(
        "(r.replica = '' OR r.replica = $2 OR NOT EXISTS \
         (SELECT 1 FROM replicas p WHERE p.name = r.replica AND p.expires_at > {now}))"
    )
}

pub(super) async fn unreconciled(
    pool: &PgPool,
    busy: &[String],
    replica: &str,
) -> StoreResult<Vec<UnreconciledRequest>> {
    let mut all = crashed(pool, busy, replica).await?;
    all.extend(uncertain(pool, busy, replica).await?);
    all.sort_by_key(|r| r.created_at);
    Ok(all)
}

/// Requests with an intent and no outcomes, each with its whole plan.
async fn crashed(
    pool: &PgPool,
    busy: &[String],
    replica: &str,
) -> StoreResult<Vec<UnreconciledRequest>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS}, r.plan_json FROM kill_requests r \
         WHERE r.finished_at IS NULL AND r.id <> ALL($1) AND {} ORDER BY r.created_at",
        not_anothers_live(NOW_MS)
    )))
    .bind(busy)
    .bind(replica)
    .fetch_all(pool)
    .await?;
    let mut out = vec![];
    for row in &rows {
        let id: String = row.try_get("id")?;
        match plan_of(&id, &row.try_get::<String, _>("plan_json")?) {
            Ok(sessions) => out.push(request_of(row, true, sessions)?),
            // One unreadable plan must not hold up every other request.
            Err(e) => tracing::warn!("kill request {id} cannot be reconciled: {e}"),
        }
    }
    Ok(out)
}

/// Finished requests with sessions whose outcome is `uncertain`, with those sessions.
async fn uncertain(
    pool: &PgPool,
    busy: &[String],
    replica: &str,
) -> StoreResult<Vec<UnreconciledRequest>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS}, s.session_id, s.username, s.host, s.db, s.command, s.time, \
         s.state, s.info, s.kill_time, s.started \
         FROM kill_sessions s JOIN kill_requests r ON r.id = s.request_id \
         WHERE s.outcome = 'uncertain' AND r.finished_at IS NOT NULL AND r.id <> ALL($1) \
         AND {} ORDER BY s.request_id, s.session_id",
        not_anothers_live(NOW_MS)
    )))
    .bind(busy)
    .bind(replica)
    .fetch_all(pool)
    .await?;
    let mut by_id: HashMap<String, UnreconciledRequest> = HashMap::new();
    for row in &rows {
        let id: String = row.try_get("id")?;
        let session = PlannedSession {
            session_id: row.try_get::<i64, _>("session_id")? as u64,
            user: row.try_get("username")?,
            host: row.try_get("host")?,
            db: row.try_get("db")?,
            command: row.try_get("command")?,
            time: row.try_get("time")?,
            state: row.try_get("state")?,
            info: row.try_get("info")?,
            kill_time: row.try_get("kill_time")?,
            started: row.try_get("started")?,
        };
        match by_id.get_mut(&id) {
            Some(request) => request.sessions.push(session),
            None => {
                by_id.insert(id, request_of(row, false, vec![session])?);
            }
        }
    }
    Ok(by_id.into_values().collect())
}

fn plan_of(id: &str, plan_json: &str) -> StoreResult<Vec<PlannedSession>> {
    serde_json::from_str(plan_json).map_err(|e| corrupt(format!("plan of kill request {id}: {e}")))
}

fn request_of(
    row: &PgRow,
    crashed: bool,
    sessions: Vec<PlannedSession>,
) -> StoreResult<UnreconciledRequest> {
    let id = |column: &str| -> StoreResult<String> { Ok(row.try_get(column)?) };
    let bad = |what: &str| corrupt(format!("kill request {what}"));
    Ok(UnreconciledRequest {
        history_id: id("id")?,
        request_id: id("request_id")?,
        project_id: ProjectId::parse(&id("project_id")?).ok_or_else(|| bad("project"))?,
        instance_id: InstanceId::parse(&id("instance_id")?).ok_or_else(|| bad("instance"))?,
        db_user_id: DbUserId::parse(&id("db_user_id")?).ok_or_else(|| bad("db user"))?,
        kill_type: row.try_get("kill_type")?,
        created_at: row.try_get("created_at")?,
        crashed,
        sessions,
    })
}

pub(super) async fn record(
    pool: &PgPool,
    history_id: &str,
    checks: &[SessionCheck],
) -> StoreResult<usize> {
    let mut tx = pool.begin().await?;
    // The request's row locked first: a second reconciliation of it waits here, then reads the
    // request as the first left it (finished, its uncertain rows settled) and settles nothing.
    let request: Option<(Option<i64>, i64, String)> = sqlx::query_as(
        "SELECT finished_at, created_at, plan_json FROM kill_requests WHERE id = $1 FOR UPDATE",
    )
    .bind(history_id)
    .fetch_optional(&mut *tx)
    .await?;
    let settled = match request {
        None => 0,
        Some((None, created_at, plan_json)) => {
            sqlx::query("UPDATE kill_requests SET finished_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(history_id)
                .execute(&mut *tx)
                .await?;
            let plan = plan_of(history_id, &plan_json)?;
            insert_planned(&mut tx, history_id, created_at, &plan, checks).await?
        }
        Some((Some(_), _, _)) => settle_uncertain(&mut tx, history_id, checks).await?,
    };
    tx.commit().await?;
    Ok(settled)
}

/// A row per planned session: gone ones `killed` at the intent's time, live ones `not_killed`.
/// A session without a check stays `planned` (no outcome known), as in a normal record.
async fn insert_planned(
    tx: &mut Transaction<'_, Postgres>,
    history_id: &str,
    created_at: i64,
    plan: &[PlannedSession],
    checks: &[SessionCheck],
) -> StoreResult<usize> {
    let alive: HashMap<u64, bool> = checks.iter().map(|c| (c.session_id, c.alive)).collect();
    for chunk in plan.chunks(ROWS_PER_INSERT) {
        let sql = format!(
            "INSERT INTO kill_sessions (request_id, session_id, username, host, db, command, \
             time, state, info, outcome, error_code, kill_time, interrupted, started) \
             VALUES {} ON CONFLICT DO NOTHING",
            values(chunk.len(), 14)
        );
        let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
        for s in chunk {
            let (outcome, kill_time) = match alive.get(&s.session_id) {
                Some(false) => ("killed", Some(created_at)),
                Some(true) => ("not_killed", None),
                None => ("planned", None),
            };
            insert = insert
                .bind(history_id)
                .bind(s.session_id as i64)
                .bind(&s.user)
                .bind(&s.host)
                .bind(&s.db)
                .bind(&s.command)
                .bind(s.time)
                .bind(&s.state)
                .bind(&s.info)
                .bind(outcome)
                .bind(None::<String>)
                .bind(kill_time)
                .bind(alive.contains_key(&s.session_id))
                .bind(s.started);
        }
        insert.execute(&mut **tx).await?;
    }
    Ok(plan
        .iter()
        .filter(|s| alive.contains_key(&s.session_id))
        .count())
}

/// Uncertain rows become `killed` (keeping the time their KILL was sent) or `not_killed`.
async fn settle_uncertain(
    tx: &mut Transaction<'_, Postgres>,
    history_id: &str,
    checks: &[SessionCheck],
) -> StoreResult<usize> {
    let mut settled = 0;
    for (outcome, alive) in [("killed", false), ("not_killed", true)] {
        let ids: Vec<i64> = checks
            .iter()
            .filter(|c| c.alive == alive)
            .map(|c| c.session_id as i64)
            .collect();
        if ids.is_empty() {
            continue;
        }
        // One array parameter, however many sessions.
        let done = sqlx::query(
            "UPDATE kill_sessions SET outcome = $1, interrupted = TRUE \
             WHERE request_id = $2 AND outcome = 'uncertain' AND session_id = ANY($3)",
        )
        .bind(outcome)
        .bind(history_id)
        .bind(&ids)
        .execute(&mut **tx)
        .await?;
        settled += done.rows_affected() as usize;
    }
    Ok(settled)
}
