//! Kill rules, their counters and the per-instance switch in PostgreSQL.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::postgres::PgRow;

use super::{PgStore, corrupt, timed};
use crate::domain::{
    DbUserId, InstanceId, KillType, ProjectId, RuleConditions, RuleMode, RuleSpec, RuleSwitch,
    TaskState,
};
use crate::store::{KillRuleRecord, RuleCounts, RuleStore, StoreError, StoreResult};

fn bad(what: &str) -> StoreError {
    corrupt(format!("kill rule {what}"))
}

fn rule_row(row: &PgRow) -> StoreResult<KillRuleRecord> {
    let project: String = row.try_get("project_id")?;
    let instance: String = row.try_get("instance_id")?;
    let db_user: Option<String> = row.try_get("db_user_id")?;
    let kill_type: String = row.try_get("kill_type")?;
    let mode: String = row.try_get("mode")?;
    let state: i64 = row.try_get("state")?;
    let count = |col: &str| -> StoreResult<u32> {
        u32::try_from(row.try_get::<i64, _>(col)?).map_err(|_| bad(col))
    };
    Ok(KillRuleRecord {
        id: row.try_get("id")?,
        project_id: ProjectId::parse(&project).ok_or_else(|| bad("project"))?,
        instance_id: InstanceId::parse(&instance).ok_or_else(|| bad("instance"))?,
        spec: RuleSpec {
            db_user_id: db_user
                .map(|id| DbUserId::parse(&id).ok_or_else(|| bad("db user")))
                .transpose()?,
            name: row.try_get("name")?,
            task_type: row.try_get("task_type")?,
            conditions: RuleConditions {
                user: row.try_get("cond_user")?,
                host: row.try_get("cond_host")?,
                db: row.try_get("cond_db")?,
                command: row.try_get("cond_command")?,
                info: row.try_get("cond_info")?,
                state: row.try_get("cond_state")?,
                time: row.try_get("cond_time")?,
                min_trx_time: row.try_get("cond_min_trx_time")?,
            },
            kill_type: KillType::parse(&kill_type).ok_or_else(|| bad("kill_type"))?,
            mode: RuleMode::parse(&mode).ok_or_else(|| bad("mode"))?,
            max_kills_per_minute: count("max_kills_per_minute")?,
            pause_above: count("pause_above")?,
            task_duration: row.try_get("task_duration")?,
        },
        state: TaskState::from_code(state).ok_or_else(|| bad("state"))?,
        start_time: row.try_get("start_time")?,
        end_time: row.try_get("end_time")?,
        matched_total: row.try_get("matched_total")?,
        killed_total: row.try_get("killed_total")?,
        last_kill_time: row.try_get("last_kill_time")?,
    })
}

const COLUMNS: &str = "SELECT id, project_id, instance_id, db_user_id, name, task_type, \
     cond_user, cond_host, cond_db, cond_command, cond_info, cond_state, cond_time, \
     cond_min_trx_time, kill_type, mode, max_kills_per_minute, pause_above, task_duration, \
     state, start_time, end_time, matched_total, killed_total, last_kill_time FROM kill_rules";

#[async_trait]
impl RuleStore for PgStore {
    async fn insert_rule(&self, r: &KillRuleRecord, limit: usize) -> StoreResult<Option<i64>> {
        timed(async {
            let mut tx = self.pool.begin().await?;
            // The instance's row locked: two adds to one instance (on any replica) take turns,
            // so they cannot both pass the count.
            sqlx::query("SELECT 1 FROM instances WHERE id = $1 FOR UPDATE")
                .bind(r.instance_id.as_str())
                .execute(&mut *tx)
                .await?;
            let active: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM kill_rules WHERE instance_id = $1 AND state IN (1, 4)",
            )
            .bind(r.instance_id.as_str())
            .fetch_one(&mut *tx)
            .await?;
            if usize::try_from(active).unwrap_or(usize::MAX) >= limit {
                return Ok(None);
            }
            let (spec, c) = (&r.spec, &r.spec.conditions);
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO kill_rules (project_id, instance_id, db_user_id, name, task_type, \
                 cond_user, cond_host, cond_db, cond_command, cond_info, cond_state, cond_time, \
                 cond_min_trx_time, kill_type, mode, max_kills_per_minute, pause_above, \
                 task_duration, state, start_time, end_time) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                 $17, $18, $19, $20, $21) RETURNING id",
            )
            .bind(r.project_id.as_str())
            .bind(r.instance_id.as_str())
            .bind(spec.db_user_id.as_ref().map(DbUserId::as_str))
            .bind(&spec.name)
            .bind(&spec.task_type)
            .bind(&c.user)
            .bind(&c.host)
            .bind(&c.db)
            .bind(&c.command)
            .bind(&c.info)
            .bind(&c.state)
            .bind(c.time)
            .bind(c.min_trx_time)
            .bind(spec.kill_type.as_str())
            .bind(spec.mode.as_str())
            .bind(i64::from(spec.max_kills_per_minute))
            .bind(i64::from(spec.pause_above))
            .bind(spec.task_duration)
            .bind(r.state.code())
            .bind(r.start_time)
            .bind(r.end_time)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some(id))
        })
        .await
    }

    async fn list_rules(
        &self,
        instance: &InstanceId,
        limit: i64,
    ) -> StoreResult<Vec<KillRuleRecord>> {
        timed(async {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{COLUMNS} WHERE instance_id = $1 ORDER BY id DESC LIMIT $2"
            )))
            .bind(instance.as_str())
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rule_row)
            .collect()
        })
        .await
    }

    async fn rules_in_state(
        &self,
        instance: &InstanceId,
        state: TaskState,
    ) -> StoreResult<Vec<KillRuleRecord>> {
        timed(async {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{COLUMNS} WHERE instance_id = $1 AND state = $2 ORDER BY id"
            )))
            .bind(instance.as_str())
            .bind(state.code())
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rule_row)
            .collect()
        })
        .await
    }

    async fn set_rule_state(
        &self,
        instance: &InstanceId,
        id: i64,
        from: &[TaskState],
        to: TaskState,
    ) -> StoreResult<bool> {
        timed(async {
            let from: Vec<i64> = from.iter().map(|s| s.code()).collect();
            let done = sqlx::query(
                "UPDATE kill_rules SET state = $1 WHERE instance_id = $2 AND id = $3 \
                 AND state = ANY($4)",
            )
            .bind(to.code())
            .bind(instance.as_str())
            .bind(id)
            .bind(&from)
            .execute(&self.pool)
            .await?;
            Ok(done.rows_affected() > 0)
        })
        .await
    }

    async fn add_rule_counts(&self, counts: &[RuleCounts]) -> StoreResult<()> {
        timed(async {
            let mut tx = self.pool.begin().await?;
            for c in counts {
                sqlx::query(
                    "UPDATE kill_rules SET matched_total = matched_total + $1, \
                     killed_total = killed_total + $2, \
                     last_kill_time = COALESCE($3, last_kill_time) WHERE id = $4",
                )
                .bind(c.matched)
                .bind(c.killed)
                .bind(c.last_kill_time)
                .bind(c.task_id)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
        .await
    }

    async fn rule_switch(&self, instance: &InstanceId) -> StoreResult<RuleSwitch> {
        timed(async {
            let on: Option<bool> =
                sqlx::query_scalar("SELECT rule_switch FROM instances WHERE id = $1")
                    .bind(instance.as_str())
                    .fetch_optional(&self.pool)
                    .await?;
            Ok(if on == Some(true) {
                RuleSwitch::On
            } else {
                RuleSwitch::Off
            })
        })
        .await
    }

    async fn set_rule_switch(&self, instance: &InstanceId, switch: RuleSwitch) -> StoreResult<()> {
        timed(async {
            sqlx::query("UPDATE instances SET rule_switch = $1 WHERE id = $2")
                .bind(switch == RuleSwitch::On)
                .bind(instance.as_str())
                .execute(&self.pool)
                .await?;
            Ok(())
        })
        .await
    }

    async fn rule_instances(&self) -> StoreResult<Vec<(ProjectId, InstanceId)>> {
        timed(async {
            let rows = sqlx::query(
                "SELECT i.project_id, i.id FROM instances i WHERE i.rule_switch AND EXISTS \
                 (SELECT 1 FROM kill_rules r WHERE r.instance_id = i.id AND r.state = 1)",
            )
            .fetch_all(&self.pool)
            .await?;
            rows.iter()
                .map(|row| {
                    let p: String = row.try_get(0)?;
                    let i: String = row.try_get(1)?;
                    Ok((
                        ProjectId::parse(&p).ok_or_else(|| bad("project"))?,
                        InstanceId::parse(&i).ok_or_else(|| bad("instance"))?,
                    ))
                })
                .collect()
        })
        .await
    }
}
