//! Kill history in PostgreSQL: the intent is committed before any KILL, outcomes after; what a
//! reconciliation reads and writes is in `reconcile`.

use std::collections::HashMap;

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PgStore, ROWS_PER_INSERT, now_ms, timed};
use crate::domain::InstanceId;
use crate::store::{
    HistoryQuery, HistoryStore, KillIntent, KilledSessionRecord, LeaseFence, SessionCheck,
    SessionOutcome, SessionSnapshot, StoreError, StoreResult, UnreconciledRequest,
};

/// `($1, $2, …, $n), ($n+1, …)`: the VALUES of a multi-row insert of `rows` rows.
pub(super) fn values(rows: usize, columns: usize) -> String {
    (0..rows)
        .map(|r| {
            let marks: Vec<String> = (1..=columns)
                .map(|c| format!("${}", r * columns + c))
                .collect();
            format!("({})", marks.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[async_trait]
impl HistoryStore for PgStore {
    async fn record_kill_plans(
        &self,
        plans: &[KillIntent<'_>],
        fence: Option<&LeaseFence>,
    ) -> StoreResult<()> {
        timed(async {
            let mut tx = self.pool.begin().await?;
            if let Some(fence) = fence
                && !super::replicas::holds(&mut tx, fence).await?
            {
                return Err(StoreError::LeaseLost);
            }
            for plan in plans {
                // One row, one statement per request: the intent is on record at once even for
                // 10,000 sessions.
                let plan_json = serde_json::to_string(&plan.sessions)
                    .map_err(|e| super::corrupt(format!("plan: {e}")))?;
                sqlx::query(
                    "INSERT INTO kill_requests (id, project_id, instance_id, db_user_id, source, \
                     kill_type, filter_json, created_at, plan_json, request_id, task_id, replica) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
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
        })
        .await
    }

    async fn record_kill_outcomes(
        &self,
        request_id: &str,
        sessions: &[SessionSnapshot<'_>],
        outcomes: &[SessionOutcome],
    ) -> StoreResult<()> {
        timed(async {
            let by_id: HashMap<u64, &SessionOutcome> =
                outcomes.iter().map(|o| (o.session_id, o)).collect();
            let mut tx = self.pool.begin().await?;
            for chunk in sessions.chunks(ROWS_PER_INSERT) {
                let sql = format!(
                    "INSERT INTO kill_sessions (request_id, session_id, username, host, db, \
                     command, time, state, info, outcome, error_code, kill_time, started) \
                     VALUES {}",
                    values(chunk.len(), 13)
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
            sqlx::query("UPDATE kill_requests SET finished_at = $1 WHERE id = $2")
                .bind(now_ms())
                .bind(request_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn list_kill_history(
        &self,
        instance: &InstanceId,
        q: &HistoryQuery,
    ) -> StoreResult<(Vec<KilledSessionRecord>, i64)> {
        timed(async {
            // $4 is always bound, so both forms take the same parameters; with a request id the
            // planner starts from that request (kill_requests_request_id).
            let by_request = if q.request_id.is_some() {
                "r.request_id = $4"
            } else {
                "$4::text IS NULL"
            };
            let from = format!(
                "FROM kill_sessions s JOIN kill_requests r ON r.id = s.request_id \
                 WHERE r.instance_id = $1 AND s.outcome = 'killed' \
                 AND s.kill_time BETWEEN $2 AND $3 AND {by_request}"
            );
            let total: i64 =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {from}")))
                    .bind(instance.as_str())
                    .bind(q.start_time)
                    .bind(q.end_time)
                    .bind(q.request_id.as_deref())
                    .fetch_one(&self.pool)
                    .await?;
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT r.instance_id, s.session_id, s.username, s.host, s.db, s.command, s.time, \
                 s.state, s.info, s.kill_time, r.source, r.request_id, r.task_id, s.interrupted, \
                 r.replica {from} ORDER BY s.kill_time DESC, s.session_id DESC LIMIT $5 OFFSET $6"
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
        })
        .await
    }

    async fn unreconciled(
        &self,
        busy: &[String],
        replica: &str,
    ) -> StoreResult<Vec<UnreconciledRequest>> {
        timed(super::reconcile::unreconciled(&self.pool, busy, replica)).await
    }

    async fn record_reconciliation(
        &self,
        history_id: &str,
        checks: &[SessionCheck],
    ) -> StoreResult<usize> {
        timed(super::reconcile::record(&self.pool, history_id, checks)).await
    }
}

fn killed_session(row: &PgRow) -> StoreResult<KilledSessionRecord> {
    Ok(KilledSessionRecord {
        instance_id: row.try_get("instance_id")?,
        session_id: row.try_get("session_id")?,
        user: row.try_get("username")?,
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
    #[test]
    fn values_number_the_parameters_row_by_row() {
        assert_eq!(super::values(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(super::values(1, 1), "($1)");
    }
}
