//! The auto-flow operations on an instance: the switch, adding, listing, previewing and
//! terminating rules, and kill-all-session; and which db user a rule acts as.

use tokio::time::Instant;

use super::super::target::driver_for;
use super::super::{DbUserAccess, InstanceAccess, KillRequest, Services};
use crate::domain::{
    DbUserId, KillFilter, KillType, Role, RuleConditions, RuleSpec, RuleSwitch, Session, TaskState,
};
use crate::error::{DasError, DasResult};
use crate::planner::{Protections, rule_victims};
use crate::report::KillReport;
use crate::store::{DbUserFilter, KillRuleRecord, Page};

/// At most this many rules are listed, newest first (DAS's page).
const LISTED: i64 = 200;

/// What a rule would kill now, and when the sessions were read.
pub struct RulePreview {
    pub sessions: Vec<Session>,
    /// Unix ms of the listing.
    pub listed_at: i64,
}

impl Services {
    /// The db user a rule (or kill-all-session, or DAS's PostgreSQL operations) acts as: the
    /// one named, else the instance's default, else the oldest registered on it; none →
    /// DAS.200112.
    pub async fn rule_db_user(
        &self,
        access: &InstanceAccess,
        named: Option<&DbUserId>,
    ) -> DasResult<DbUserAccess> {
        let chosen = match named.or(access.instance().default_db_user_id.as_ref()) {
            Some(id) => id.clone(),
            None => {
                let (oldest, _) = self
                    .store
                    .list_db_users(
                        &access.instance().id,
                        &DbUserFilter::default(),
                        Page {
                            offset: 0,
                            limit: 1,
                        },
                    )
                    .await?;
                oldest.into_iter().next().ok_or(DasError::BadDbUserId)?.id
            }
        };
        self.db_user_access(access.clone(), &chosen).await
    }

    /// GetKillProcessTaskSwitch (viewer).
    pub async fn rule_switch(&self, access: &InstanceAccess) -> DasResult<RuleSwitch> {
        access.project().require(Role::Viewer)?;
        Ok(self.store.rule_switch(&access.instance().id).await?)
    }

    /// SetKillProcessTaskSwitch (operator). Turning it off answers once no tick of the instance
    /// is sending KILLs any more.
    pub async fn set_rule_switch(
        &self,
        access: &InstanceAccess,
        switch: RuleSwitch,
    ) -> DasResult<()> {
        access.project().require(Role::Operator)?;
        let instance = &access.instance().id;
        self.store.set_rule_switch(instance, switch).await?;
        if switch == RuleSwitch::Off {
            self.rules.gates.wait_idle(instance).await;
        } else {
            self.rules.wake();
        }
        Ok(())
    }

    /// AddKillProcessTask (operator): the new rule's task id.
    pub async fn add_rule(&self, access: &InstanceAccess, new: RuleSpec) -> DasResult<i64> {
        access.project().require(Role::Operator)?;
        // The db user must exist now (named, default or oldest).
        self.rule_db_user(access, new.db_user_id.as_ref()).await?;
        let now = crate::clock::now_ms();
        let end_time = if new.task_duration < 0 {
            0
        } else {
            now.saturating_add(new.task_duration.saturating_mul(1000))
        };
        let record = KillRuleRecord {
            id: 0,
            project_id: access.project().project().id.clone(),
            instance_id: access.instance().id.clone(),
            spec: new,
            state: TaskState::Running,
            start_time: now,
            end_time,
            matched_total: 0,
            killed_total: 0,
            last_kill_time: None,
        };
        let limit = self.rules.settings.per_instance;
        let id = self
            .store
            .insert_rule(&record, limit)
            .await?
            .ok_or(DasError::RuleLimit(limit))?;
        self.rules.wake();
        Ok(id)
    }

    /// ShowKillProcessTask (viewer): newest first, at most 200; a running rule whose end time
    /// has passed is shown finished even before a tick records it.
    pub async fn list_rules(&self, access: &InstanceAccess) -> DasResult<Vec<KillRuleRecord>> {
        access.project().require(Role::Viewer)?;
        let now = crate::clock::now_ms();
        let mut rules = self.store.list_rules(&access.instance().id, LISTED).await?;
        for r in &mut rules {
            if r.state == TaskState::Running && r.expired(now) {
                r.state = TaskState::Finished;
            }
        }
        Ok(rules)
    }

    /// PreviewSessionForKillProcessTask (viewer): what a rule with `conditions` acting as
    /// `db_user` would kill now — the matcher and protections a tick uses.
    pub async fn preview_rule(
        &self,
        access: &InstanceAccess,
        db_user: Option<&DbUserId>,
        conditions: &RuleConditions,
    ) -> DasResult<RulePreview> {
        access.project().require(Role::Viewer)?;
        let db_user = self.rule_db_user(access, db_user).await?;
        let driver = driver_for(self, &db_user)?;
        let until = Instant::now() + self.engines.timeouts().statement;
        let snap = driver.list(&KillFilter::default(), until).await?;
        let listed_at = crate::clock::now_ms();
        let mut sessions = snap.sessions;
        if conditions.min_trx_time.is_some() {
            super::trx::add_trx_ages(
                driver.as_ref(),
                &mut sessions,
                std::slice::from_ref(conditions),
            )
            .await?;
        }
        let protections = Protections {
            own_ids: snap.own_ids,
            protected_users: access.instance().protected_users.clone(),
        };
        Ok(RulePreview {
            sessions: rule_victims(&sessions, conditions, &protections),
            listed_at,
        })
    }

    /// StopKillTask (operator). Answers once the rule can kill no more: a tick of the instance
    /// that read it before it stopped has finished sending.
    pub async fn terminate_rule(&self, access: &InstanceAccess, task_id: i64) -> DasResult<()> {
        access.project().require(Role::Operator)?;
        let instance = &access.instance().id;
        let stopped = self
            .store
            .set_rule_state(
                instance,
                task_id,
                &[TaskState::Running, TaskState::Paused],
                TaskState::Stopped,
            )
            .await?;
        if !stopped {
            // Already ended is fine; unknown is not.
            let known = self
                .store
                .list_rules(instance, i64::MAX)
                .await?
                .iter()
                .any(|r| r.id == task_id);
            if !known {
                return Err(DasError::UnknownTask);
            }
        }
        self.rules.gates.wait_idle(instance).await;
        Ok(())
    }

    /// KillAllSession (operator): one KillSession of every unprotected client session, as the
    /// default db user; only while the switch is on.
    pub async fn kill_all_sessions(
        &self,
        access: &InstanceAccess,
        request_id: String,
        source: String,
    ) -> DasResult<KillReport> {
        access.project().require(Role::Operator)?;
        if self.store.rule_switch(&access.instance().id).await? != RuleSwitch::On {
            return Err(DasError::RuleSwitchOff);
        }
        let db_user = self.rule_db_user(access, None).await?;
        let req = KillRequest {
            history_id: uuid::Uuid::new_v4().to_string(),
            request_id,
            filter: KillFilter::default(),
            kill_type: KillType::Connection,
            dry_run: false,
            deadline: None,
            source,
            task_id: 0,
            filter_json: r#"{"all_sessions":true}"#.into(),
        };
        self.kill_sessions(db_user, req).await
    }
}
