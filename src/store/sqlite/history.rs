//! Kill history in SQLite: the intent is committed before any KILL, outcomes after; what a
//! reconciliation reads and writes is in `reconcile`.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::{SqliteStore, now_ms};
use crate::domain::InstanceId;
use crate::store::{
    HistoryQuery, HistoryStore, KillIntent, KilledSessionRecord, LeaseFence, SessionCheck,
    SessionOutcome, SessionSnapshot, StoreError, StoreResult, UnreconciledRequest,
};

/// Rows per multi-row statement: 14 parameters each stays far below SQLite's limit.
pub(super) const ROWS_PER_INSERT: usize = 500;

#[async_trait]
impl HistoryStore for SqliteStore {
    async fn record_kill_plans(
        &self,
        plans: &[KillIntent<'_>],
        fence: Option<&LeaseFence>,
    ) -> StoreResult<()> {
        // IMMEDIATE: the write lock from the start, so the fence checked is the fence held
        // until the commit (a takeover writes the lease row, and waits).
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if let Some(fence) = fence
            && !super::replicas::holds(&mut tx, fence).await?
        {
            return Err(StoreError::LeaseLost);
        }
        for plan in plans {
            // One row, one statement per request: the intent is on record in a millisecond even
            // for 10,000 sessions, so the first KILL is not kept waiting.
            let plan_json = serde_json::to_string(&plan.sessions)
                .map_err(|e| StoreError::Corrupt(format!("plan: {e}")))?;
            sqlx::query(
                "INSERT INTO kill_requests (id, project_id, instance_id, db_user_id, source, \
                 kill_type, filter_json, created_at, plan_json, request_id, task_id, replica) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&plan.history_id)
            .bind(plan.project_id.as_str())
            .bind(plan.instance_id.as_str())
            .bind(plan.db_user_id.as_str())
            .bind(&plan.source)
            .bind(&plan.kill_type)
            .bind(&plan.filter_json)
            .bind(plan.created_at)
            .bind(plan_json)
            .bind(&plan.request_id)
            .bind(plan.task_id)
            .bind(&plan.replica)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_kill_outcomes(
        &self,
        request_id: &str,
        sessions: &[SessionSnapshot<'_>],
        outcomes: &[SessionOutcome],
    ) -> StoreResult<()> {
        let by_id: HashMap<u64, &SessionOutcome> =
            outcomes.iter().map(|o| (o.session_id, o)).collect();
        let mut tx = self.pool.begin().await?;
        for chunk in sessions.chunks(ROWS_PER_INSERT) {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO kill_sessions (request_id, session_id, user, host, db, command, time, \
                 state, info, outcome, error_code, kill_time, started) VALUES {values}"
            );
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                let o = by_id.get(&s.session_id);
                insert = insert
                    .bind(request_id)
                    .bind(s.session_id as i64)
                    .bind(s.user)
                    .bind(s.host)
                    .bind(s.db)
                    .bind(s.command)
                    .bind(s.time)
                    .bind(s.state)
                    .bind(s.info)
                    .bind(o.map_or("planned", |o| o.outcome.as_str()))
                    .bind(o.and_then(|o| o.error_code.as_deref()))
                    .bind(o.and_then(|o| o.kill_time))
                    .bind(s.started);
            }
            insert.execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE kill_requests SET finished_at = ? WHERE id = ?")
            .bind(now_ms())
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        super::checkpoint_in_background(&self.pool);
        Ok(())
    }

    async fn list_kill_history(
        &self,
        instance: &InstanceId,
        q: &HistoryQuery,
    ) -> StoreResult<(Vec<KilledSessionRecord>, i64)> {
        // ?4 is always bound, so both forms take the same parameters. With a request id, the
        // unary `+` keeps SQLite (which has no statistics) off the outcome index: it starts from
        // that request (kill_requests_request_id) and reads only its sessions.
        let (killed, by_request) = if q.request_id.is_some() {
            ("+s.outcome = 'killed'", "r.request_id = ?4")
        } else {
            ("s.outcome = 'killed'", "?4 IS NULL")
        };
        let from = format!(
            "FROM kill_sessions s JOIN kill_requests r ON r.id = s.request_id \
             WHERE r.instance_id = ?1 AND {killed} \
             AND s.kill_time BETWEEN ?2 AND ?3 AND {by_request}"
        );
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {from}")))
            .bind(instance.as_str())
            .bind(q.start_time)
            .bind(q.end_time)
            .bind(q.request_id.as_deref())
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT r.instance_id, s.session_id, s.user, s.host, s.db, s.command, s.time, s.state, \
             s.info, s.kill_time, r.source, r.request_id, r.task_id, s.interrupted, r.replica \
             {from} \
             ORDER BY s.kill_time DESC, s.session_id DESC LIMIT ?5 OFFSET ?6"
        )))
        .bind(instance.as_str())
        .bind(q.start_time)
        .bind(q.end_time)
        .bind(q.request_id.as_deref())
        .bind(q.limit)
        .bind(q.offset)
        .fetch_all(&self.pool)
        .await?;
        let records = rows
            .iter()
            .map(killed_session)
            .collect::<StoreResult<_>>()?;
        Ok((records, total))
    }

    /// `replica` changes nothing here: only one process can open an embedded store (the data
    /// dir's lock), so every request in it is this process's to settle.
    async fn unreconciled(
        &self,
        busy: &[String],
        _replica: &str,
    ) -> StoreResult<Vec<UnreconciledRequest>> {
        super::reconcile::unreconciled(&self.pool, busy).await
    }

    async fn record_reconciliation(
        &self,
        history_id: &str,
        checks: &[SessionCheck],
    ) -> StoreResult<usize> {
        super::reconcile::record(&self.pool, history_id, checks).await
    }
}

fn killed_session(row: &SqliteRow) -> StoreResult<KilledSessionRecord> {
    Ok(KilledSessionRecord {
        instance_id: row.try_get("instance_id")?,
        session_id: row.try_get("session_id")?,
        user: row.try_get("user")?,
        host: row.try_get("host")?,
        db: row.try_get("db")?,
        command: row.try_get("command")?,
        time: row.try_get("time")?,
        state: row.try_get("state")?,
        info: row.try_get("info")?,
        kill_time: row.try_get("kill_time")?,
        killed_source: row.try_get("source")?,
        task_id: row.try_get("task_id")?,
        request_id: row.try_get("request_id")?,
        interrupted: row.try_get("interrupted")?,
        replica: row.try_get("replica")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::InstanceId;
    use crate::store::sqlite::fixtures::{intent, snapshot};
    use crate::store::{Outcome, SessionOutcome};

    #[tokio::test]
    async fn the_intent_is_on_record_before_any_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let instance = InstanceId::new_random("in01");
        let sessions = vec![snapshot(7, ""), snapshot(9, "")];
        store
            .record_kill_plans(&[intent("r1", &instance, &sessions, 1)], None)
            .await
            .unwrap();
        // As after a crash right here: the plan is on record, nothing is reported killed yet.
        let (plan, finished): (String, Option<i64>) =
            sqlx::query_as("SELECT plan_json, finished_at FROM kill_requests WHERE id = 'r1'")
                .fetch_one(&store.pool)
                .await
                .unwrap();
        assert!(
            plan.contains("\"session_id\":7") && plan.contains("\"session_id\":9"),
            "{plan}"
        );
        assert_eq!(finished, None);
        let q = HistoryQuery {
            start_time: 0,
            end_time: i64::MAX,
            offset: 0,
            limit: 10,
            request_id: None,
        };
        assert_eq!(store.list_kill_history(&instance, &q).await.unwrap().1, 0);

        let outcomes = [
            SessionOutcome {
                session_id: 7,
                outcome: Outcome::Killed,
                error_code: None,
                kill_time: Some(100),
            },
            SessionOutcome {
                session_id: 9,
                outcome: Outcome::Failed,
                error_code: Some("DAS.210003".into()),
                kill_time: None,
            },
        ];
        store
            .record_kill_outcomes("r1", &sessions, &outcomes)
            .await
            .unwrap();
        let (rows, total) = store.list_kill_history(&instance, &q).await.unwrap();
        assert_eq!(total, 1);
        assert_eq!((rows[0].session_id, rows[0].kill_time), (7, 100));
    }

    #[tokio::test]
    async fn a_kill_checkpoints_the_wal_itself_so_no_intent_waits_for_one() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        let backstop: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(backstop, i64::from(super::super::WAL_BACKSTOP_PAGES));
        let db_file = dir.path().join("dbkill.db");
        let before = std::fs::metadata(&db_file).unwrap().len();
        let sessions: Vec<SessionSnapshot> = (0..3000).map(|id| snapshot(id, "")).collect();
        let instance = InstanceId::new_random("in01");
        store
            .record_kill_plans(&[intent("big", &instance, &sessions, 1)], None)
            .await
            .unwrap();
        // Far below the backstop: the rows are still only in the WAL.
        assert_eq!(std::fs::metadata(&db_file).unwrap().len(), before);
        let outcomes: Vec<SessionOutcome> = sessions
            .iter()
            .map(|s| SessionOutcome {
                session_id: s.session_id,
                outcome: Outcome::Killed,
                error_code: None,
                kill_time: Some(5),
            })
            .collect();
        store
            .record_kill_outcomes("big", &sessions, &outcomes)
            .await
            .unwrap();
        // The checkpoint after the outcomes copies them into the database file.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while std::fs::metadata(&db_file).unwrap().len() < before + 256 * 1024 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint: {} bytes",
                std::fs::metadata(&db_file).unwrap().len()
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
