//! Kill history in SQLite: the intent is committed before any KILL, outcomes after.

use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::Row;

use super::{SqliteStore, now_ms};
use crate::domain::InstanceId;
use crate::store::{
    HistoryQuery, HistoryStore, KillIntent, KilledSessionRecord, SessionOutcome, StoreResult,
};

/// Rows per multi-row statement: 9 parameters each stays far below SQLite's limit.
const ROWS_PER_INSERT: usize = 500;

#[async_trait]
impl HistoryStore for SqliteStore {
    async fn record_kill_plan(&self, plan: &KillIntent) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO kill_requests (id, project_id, instance_id, db_user_id, source, kill_type, \
             filter_json, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&plan.request_id)
        .bind(plan.project_id.as_str())
        .bind(plan.instance_id.as_str())
        .bind(plan.db_user_id.as_str())
        .bind(&plan.source)
        .bind(&plan.kill_type)
        .bind(&plan.filter_json)
        .bind(plan.created_at)
        .execute(&mut *tx)
        .await?;
        // Many rows per statement: a 10,000-session plan is on record in milliseconds, before
        // the first KILL.
        for chunk in plan.sessions.chunks(ROWS_PER_INSERT) {
            let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, 'planned')"; chunk.len()].join(", ");
            let sql = format!(
                "INSERT INTO kill_sessions (request_id, session_id, user, host, db, command, time, \
                 state, info, outcome) VALUES {values}"
            );
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
            for s in chunk {
                insert = insert
                    .bind(&plan.request_id)
                    .bind(s.session_id as i64)
                    .bind(&s.user)
                    .bind(&s.host)
                    .bind(&s.db)
                    .bind(&s.command)
                    .bind(s.time)
                    .bind(&s.state)
                    .bind(&s.info);
            }
            insert.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn record_kill_outcomes(
        &self,
        request_id: &str,
        outcomes: &[SessionOutcome],
    ) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        // Sessions that share an outcome (a KILL batch shares its time) are updated together.
        let mut groups: BTreeMap<(&str, Option<&str>, Option<i64>), Vec<i64>> = BTreeMap::new();
        for o in outcomes {
            groups
                .entry((o.outcome.as_str(), o.error_code.as_deref(), o.kill_time))
                .or_default()
                .push(o.session_id as i64);
        }
        for ((outcome, error_code, kill_time), ids) in groups {
            for chunk in ids.chunks(ROWS_PER_INSERT) {
                let marks = vec!["?"; chunk.len()].join(",");
                let sql = format!(
                    "UPDATE kill_sessions SET outcome = ?, error_code = ?, kill_time = ? \
                     WHERE request_id = ? AND session_id IN ({marks})"
                );
                let mut update = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(outcome)
                    .bind(error_code)
                    .bind(kill_time)
                    .bind(request_id);
                for id in chunk {
                    update = update.bind(id);
                }
                update.execute(&mut *tx).await?;
            }
        }
        sqlx::query("UPDATE kill_requests SET finished_at = ? WHERE id = ?")
            .bind(now_ms())
            .bind(request_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn list_kill_history(
        &self,
        instance: &InstanceId,
        q: &HistoryQuery,
    ) -> StoreResult<(Vec<KilledSessionRecord>, i64)> {
        const FROM: &str = "FROM kill_sessions s JOIN kill_requests r ON r.id = s.request_id \
                            WHERE r.instance_id = ?1 AND s.outcome = 'killed' \
                            AND s.kill_time BETWEEN ?2 AND ?3";
        let total: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) {FROM}")))
            .bind(instance.as_str())
            .bind(q.start_time)
            .bind(q.end_time)
            .fetch_one(&self.pool)
            .await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT r.instance_id, s.session_id, s.user, s.host, s.db, s.command, s.time, s.state, \
             s.info, s.kill_time, r.source {FROM} \
             ORDER BY s.kill_time DESC, s.session_id DESC LIMIT ?4 OFFSET ?5"
        )))
        .bind(instance.as_str())
        .bind(q.start_time)
        .bind(q.end_time)
        .bind(q.limit)
        .bind(q.offset)
        .fetch_all(&self.pool)
        .await?;
        let records = rows
            .iter()
            .map(|row| {
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
                })
            })
            .collect::<StoreResult<_>>()?;
        Ok((records, total))
    }
}
