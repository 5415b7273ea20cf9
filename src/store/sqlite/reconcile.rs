//! Reconciliation in SQLite: which kill requests have no known outcome (dbkill stopped between
//! intent and outcomes, or KILLs went to a server that then stopped answering), and settling
//! them from what a reconciliation saw on the target.

use std::collections::HashMap;

use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, SqlitePool, Transaction};

use super::history::ROWS_PER_INSERT;
use super::now_ms;
use crate::domain::{DbUserId, InstanceId, ProjectId};
use crate::store::{PlannedSession, SessionCheck, StoreError, StoreResult, UnreconciledRequest};

const REQUEST_COLUMNS: &str =
    "r.id, r.request_id, r.project_id, r.instance_id, r.db_user_id, r.kill_type, r.created_at";

pub(super) async fn unreconciled(
    pool: &SqlitePool,
    busy: &[String],
) -> StoreResult<Vec<UnreconciledRequest>> {
    let mut all = crashed(pool, busy).await?;
    all.extend(uncertain(pool, busy).await?);
    all.sort_by_key(|r| r.created_at);
    Ok(all)
}

/// Requests with an intent and no outcomes, each with its whole plan.
async fn crashed(pool: &SqlitePool, busy: &[String]) -> StoreResult<Vec<UnreconciledRequest>> {
    let ids: Vec<String> = sqlx::query_scalar(
        "SELECT id FROM kill_requests WHERE finished_at IS NULL ORDER BY created_at",
    )
    .fetch_all(pool)
    .await?;
    let mut out = vec![];
    for id in ids.iter().filter(|id| !busy.contains(id)) {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {REQUEST_COLUMNS}, r.plan_json FROM kill_requests r \
             WHERE r.id = ? AND r.finished_at IS NULL"
        )))
        .bind(id)
        .fetch_optional(pool)
        .await?;
        // Finished since the first read.
        let Some(row) = row else { continue };
        match plan_of(id, &row.try_get::<String, _>("plan_json")?) {
            Ok(sessions) => out.push(request_of(&row, true, sessions)?),
            // One unreadable plan must not hold up every other request.
            Err(e) => tracing::warn!("kill request {id} cannot be reconciled: {e}"),
        }
    }
    Ok(out)
}

/// Finished requests with sessions whose outcome is `uncertain`, with those sessions.
async fn uncertain(pool: &SqlitePool, busy: &[String]) -> StoreResult<Vec<UnreconciledRequest>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {REQUEST_COLUMNS}, s.session_id, s.user, s.host, s.db, s.command, s.time, \
         s.state, s.info, s.kill_time, s.started \
         FROM kill_sessions s JOIN kill_requests r ON r.id = s.request_id \
         WHERE s.outcome = 'uncertain' AND r.finished_at IS NOT NULL \
         ORDER BY s.request_id, s.session_id"
    )))
    .fetch_all(pool)
    .await?;
    let mut by_id: HashMap<String, UnreconciledRequest> = HashMap::new();
    for row in &rows {
        let id: String = row.try_get("id")?;
        if busy.contains(&id) {
            continue;
        }
        let session = PlannedSession {
            session_id: row.try_get::<i64, _>("session_id")? as u64,
            user: row.try_get("user")?,
            host: row.try_get("host")?,
            db: row.try_get("db")?,
            command: row.try_get("command")?,
            time: row.try_get("time")?,
            state: row.try_get("state")?,
            info: row.try_get("info")?,
            kill_time: row.try_get("kill_time")?,
            started: row.try_get("started")?,
        };
        if !by_id.contains_key(&id) {
            by_id.insert(id.clone(), request_of(row, false, vec![])?);
        }
        by_id
            .get_mut(&id)
            .expect("inserted above")
            .sessions
            .push(session);
    }
    Ok(by_id.into_values().collect())
}

fn plan_of(id: &str, plan_json: &str) -> StoreResult<Vec<PlannedSession>> {
    serde_json::from_str(plan_json)
        .map_err(|e| StoreError::Corrupt(format!("plan of kill request {id}: {e}")))
}

fn request_of(
    row: &SqliteRow,
    crashed: bool,
    sessions: Vec<PlannedSession>,
) -> StoreResult<UnreconciledRequest> {
    let id = |column: &str| -> StoreResult<String> { Ok(row.try_get(column)?) };
    let corrupt = |what: &str| StoreError::Corrupt(format!("kill request {what}"));
    Ok(UnreconciledRequest {
        history_id: id("id")?,
        request_id: id("request_id")?,
        project_id: ProjectId::parse(&id("project_id")?).ok_or_else(|| corrupt("project"))?,
        instance_id: InstanceId::parse(&id("instance_id")?).ok_or_else(|| corrupt("instance"))?,
        db_user_id: DbUserId::parse(&id("db_user_id")?).ok_or_else(|| corrupt("db user"))?,
        kill_type: row.try_get("kill_type")?,
        created_at: row.try_get("created_at")?,
        crashed,
        sessions,
    })
}

pub(super) async fn record(
    pool: &SqlitePool,
    history_id: &str,
    checks: &[SessionCheck],
) -> StoreResult<usize> {
    let mut tx = pool.begin().await?;
    // A write first, so the transaction holds the write lock from its start: it claims a
    // request without outcomes (and reads its plan), or finds it finished.
    let claimed: Option<(i64, String)> = sqlx::query_as(
        "UPDATE kill_requests SET finished_at = ?1 WHERE id = ?2 AND finished_at IS NULL \
         RETURNING created_at, plan_json",
    )
    .bind(now_ms())
    .bind(history_id)
    .fetch_optional(&mut *tx)
    .await?;
    let settled = match claimed {
        Some((created_at, plan_json)) => {
            let plan = plan_of(history_id, &plan_json)?;
            insert_planned(&mut tx, history_id, created_at, &plan, checks).await?
        }
        None => settle_uncertain(&mut tx, history_id, checks).await?,
    };
    tx.commit().await?;
    Ok(settled)
}

/// A row per planned session: gone ones `killed` at the intent's time, live ones `not_killed`.
/// A session without a check stays `planned` (no outcome known), as in a normal record.
async fn insert_planned(
    tx: &mut Transaction<'_, Sqlite>,
    history_id: &str,
    created_at: i64,
    plan: &[PlannedSession],
    checks: &[SessionCheck],
) -> StoreResult<usize> {
    let alive: HashMap<u64, bool> = checks.iter().map(|c| (c.session_id, c.alive)).collect();
    for chunk in plan.chunks(ROWS_PER_INSERT) {
        let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT OR IGNORE INTO kill_sessions (request_id, session_id, user, host, db, \
             command, time, state, info, outcome, error_code, kill_time, interrupted, started) \
             VALUES {values}"
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
    tx: &mut Transaction<'_, Sqlite>,
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
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            let marks = vec!["?"; chunk.len()].join(", ");
            let sql = format!(
                "UPDATE kill_sessions SET outcome = ?, interrupted = 1 \
                 WHERE request_id = ? AND outcome = 'uncertain' AND session_id IN ({marks})"
            );
            let mut update = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(outcome)
                .bind(history_id);
            for id in chunk {
                update = update.bind(id);
            }
            settled += update.execute(&mut **tx).await?.rows_affected() as usize;
        }
    }
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::fixtures::{intent, snapshot};
    use crate::store::{HistoryQuery, HistoryStore, Outcome, SessionOutcome, SessionSnapshot};
    use crate::store::{KilledSessionRecord, SqliteStore};

    async fn record_plan(
        store: &SqliteStore,
        history_id: &str,
        instance: &InstanceId,
        sessions: &[SessionSnapshot<'_>],
        created_at: i64,
    ) {
        store
            .record_kill_plans(&[intent(history_id, instance, sessions, created_at)], None)
            .await
            .unwrap();
    }

    fn check(session_id: u64, alive: bool) -> SessionCheck {
        SessionCheck { session_id, alive }
    }

    async fn history(
        store: &SqliteStore,
        instance: &InstanceId,
        request_id: Option<&str>,
    ) -> (Vec<KilledSessionRecord>, i64) {
        let q = HistoryQuery {
            start_time: 0,
            end_time: i64::MAX,
            offset: 0,
            limit: 100,
            request_id: request_id.map(str::to_owned),
        };
        store.list_kill_history(instance, &q).await.unwrap()
    }

    async fn outcome_of(store: &SqliteStore, history_id: &str, session_id: i64) -> (String, bool) {
        sqlx::query_as(
            "SELECT outcome, interrupted FROM kill_sessions WHERE request_id = ? AND session_id = ?",
        )
        .bind(history_id)
        .bind(session_id)
        .fetch_one(&store.pool)
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_kill_without_outcomes_is_settled_from_its_plan() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let instance = InstanceId::new_random("in01");
        let plan = [
            snapshot(7, ""),
            snapshot(8, "SELECT SLEEP(100)"),
            snapshot(9, ""),
        ];
        record_plan(&store, "crashed", &instance, &plan, 1_000).await;

        // A kill this process still executes is left out.
        assert!(
            store
                .unreconciled(&["crashed".into()], "")
                .await
                .unwrap()
                .is_empty()
        );
        let found = store.unreconciled(&[], "").await.unwrap();
        let [request] = &found[..] else {
            panic!("{found:?}")
        };
        assert!(request.crashed);
        assert_eq!(
            (request.history_id.as_str(), request.request_id.as_str()),
            ("crashed", "report-crashed")
        );
        assert_eq!(
            (request.kill_type.as_str(), request.created_at),
            ("connection", 1_000)
        );
        assert_eq!(request.instance_id, instance);
        let second = &request.sessions[1];
        assert_eq!(
            (second.session_id, second.info.as_str(), second.db.as_str()),
            (8, "SELECT SLEEP(100)", "shop")
        );
        assert_eq!(request.sessions.len(), 3);

        let checks = [check(7, false), check(8, true), check(9, false)];
        assert_eq!(
            store
                .record_reconciliation("crashed", &checks)
                .await
                .unwrap(),
            3
        );
        assert!(store.unreconciled(&[], "").await.unwrap().is_empty());
        // Settled once: a second round finds nothing to do.
        assert_eq!(
            store
                .record_reconciliation("crashed", &checks)
                .await
                .unwrap(),
            0
        );

        let (rows, total) = history(&store, &instance, None).await;
        assert_eq!(total, 2);
        for (row, id) in rows.iter().zip([9, 7]) {
            assert_eq!(row.session_id, id);
            assert_eq!(row.kill_time, 1_000, "the KILLs followed the intent");
            assert!(row.interrupted);
            assert_eq!(row.request_id, "report-crashed");
            assert_eq!((row.user.as_str(), row.db.as_str()), ("app", "shop"));
        }
        assert_eq!(
            outcome_of(&store, "crashed", 8).await,
            (Outcome::NotKilled.as_str().to_owned(), true)
        );
        let finished: Option<i64> =
            sqlx::query_scalar("SELECT finished_at FROM kill_requests WHERE id = 'crashed'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert!(finished.is_some());
    }

    #[tokio::test]
    async fn uncertain_sessions_are_settled_keeping_their_kill_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let instance = InstanceId::new_random("in01");
        let plan = [snapshot(7, ""), snapshot(8, ""), snapshot(9, "")];
        record_plan(&store, "stalled", &instance, &plan, 50).await;
        let outcome = |id, outcome, kill_time| SessionOutcome {
            session_id: id,
            outcome,
            error_code: None,
            kill_time: Some(kill_time),
        };
        let outcomes = [
            outcome(7, Outcome::Killed, 100),
            outcome(8, Outcome::Uncertain, 200),
            outcome(9, Outcome::Uncertain, 300),
        ];
        store
            .record_kill_outcomes("stalled", &plan, &outcomes)
            .await
            .unwrap();
        assert_eq!(history(&store, &instance, None).await.1, 1);

        let found = store.unreconciled(&[], "").await.unwrap();
        let [request] = &found[..] else {
            panic!("{found:?}")
        };
        assert!(!request.crashed);
        let uncertain: Vec<(u64, Option<i64>)> = request
            .sessions
            .iter()
            .map(|s| (s.session_id, s.kill_time))
            .collect();
        assert_eq!(uncertain, [(8, Some(200)), (9, Some(300))]);
        assert!(
            store
                .unreconciled(&["stalled".into()], "")
                .await
                .unwrap()
                .is_empty()
        );

        let settled = store
            .record_reconciliation("stalled", &[check(8, false), check(9, true)])
            .await
            .unwrap();
        assert_eq!(settled, 2);
        assert!(store.unreconciled(&[], "").await.unwrap().is_empty());
        let (rows, total) = history(&store, &instance, None).await;
        assert_eq!(total, 2);
        let shown: Vec<(i64, i64, bool)> = rows
            .iter()
            .map(|r| (r.session_id, r.kill_time, r.interrupted))
            .collect();
        assert_eq!(shown, [(8, 200, true), (7, 100, false)]);
        assert_eq!(
            outcome_of(&store, "stalled", 9).await,
            ("not_killed".to_owned(), true)
        );
    }

    #[tokio::test]
    async fn history_is_found_by_the_reports_request_id() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let instance = InstanceId::new_random("in01");
        for (history_id, ids) in [("a", [1, 2]), ("b", [3, 4])] {
            let plan = ids.map(|id| snapshot(id, ""));
            record_plan(&store, history_id, &instance, &plan, 10).await;
            let outcomes = ids.map(|id| SessionOutcome {
                session_id: id,
                outcome: Outcome::Killed,
                error_code: None,
                kill_time: Some(20),
            });
            store
                .record_kill_outcomes(history_id, &plan, &outcomes)
                .await
                .unwrap();
        }
        assert_eq!(history(&store, &instance, None).await.1, 4);
        let (rows, total) = history(&store, &instance, Some("report-b")).await;
        assert_eq!(total, 2);
        let ids: Vec<i64> = rows.iter().map(|r| r.session_id).collect();
        assert_eq!(ids, [4, 3]);
        assert!(
            rows.iter()
                .all(|r| r.request_id == "report-b" && !r.interrupted)
        );
        assert_eq!(
            history(&store, &instance, Some("b")).await.1,
            0,
            "not the row key"
        );
        let elsewhere = InstanceId::new_random("in01");
        assert_eq!(history(&store, &elsewhere, Some("report-b")).await.1, 0);
    }
}
