//! One tick of an instance's rules: read the running rules, list the sessions once per db user
//! they act as, decide every rule on that one listing (the pure `planner::plan_tick`), pause
//! the rules over their `pause_above`, and kill the union of the victims through the
//! KillSession phases — one history request per rule. A tick that cannot list kills nothing;
//! a listing older than one interval when the KILLs would start is not used.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::super::target::driver_for;
use super::super::{DbUserAccess, KillPart, KillRequest, KillTiming, SentUnder, Services};
use super::events;
use crate::domain::{DbUserId, KillFilter, KillType, ProjectId, RuleMode, TaskState};
use crate::error::DasError;
use crate::planner::{Protections, RuleDecision, TickRule, plan_tick};
use crate::store::{KillRuleRecord, LeaseFence, RuleCounts};

/// Where a tick's kills go: as which db user, through which driver, under which lease.
#[derive(Clone, Copy)]
struct TickTarget<'a> {
    db_user: &'a DbUserAccess,
    driver: &'a dyn crate::engine::SessionDriver,
    lease: &'a LeaseFence,
}

/// The failure reason of a tick whose intent the store refused: the lease is another's.
pub(super) const LEASE_LOST: &str = "lease_lost";

/// What the instance loop does after a tick.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum TickEnd {
    Continue,
    /// Nothing left to run here (switch off, no running rule, instance gone): the loop ends.
    Idle,
}

/// Why a tick killed nothing; the `reason` label of `dbkill_rule_tick_failures_total`.
#[derive(Clone, Debug)]
pub(super) struct TickFailure {
    pub reason: &'static str,
    pub detail: String,
}

impl From<DasError> for TickFailure {
    fn from(e: DasError) -> Self {
        let reason = match &e {
            DasError::Unreachable | DasError::TargetTls(_) => "unreachable",
            DasError::LoginRefused | DasError::PrivilegeDenied => "refused",
            DasError::StatementTimeout => "timeout",
            DasError::BadDbUserId => "no_db_user",
            DasError::LeaseLost => LEASE_LOST,
            _ => "store",
        };
        Self {
            reason,
            detail: format!("{e:?}"),
        }
    }
}

impl From<crate::store::StoreError> for TickFailure {
    fn from(e: crate::store::StoreError) -> Self {
        DasError::from(e).into()
    }
}

/// The time one tick's kill has: sending, verification and the outcomes. Terminate and
/// switch-off wait at most the sending part of it.
const TICK_KILL_DEADLINE: Duration = Duration::from_secs(5);

impl Services {
    /// Runs one tick of `instance`; a failure is counted and returned for the loop to log.
    pub(super) async fn tick(
        &self,
        project: &ProjectId,
        lease: &LeaseFence,
    ) -> Result<TickEnd, TickFailure> {
        let started = Instant::now();
        let label = lease.instance_id.to_string();
        metrics::counter!("dbkill_rule_ticks_total", "instance_id" => label.clone()).increment(1);
        let result = self.run_tick(project, lease).await;
        metrics::histogram!("dbkill_rule_tick_seconds").record(started.elapsed().as_secs_f64());
        if let Err(f) = &result {
            metrics::counter!("dbkill_rule_tick_failures_total", "instance_id" => label, "reason" => f.reason)
                .increment(1);
        }
        result
    }

    async fn run_tick(
        &self,
        project: &ProjectId,
        lease: &LeaseFence,
    ) -> Result<TickEnd, TickFailure> {
        let instance = &lease.instance_id;
        let Some(access) = self.rule_runner_access(project, instance).await? else {
            return Ok(TickEnd::Idle);
        };
        if self.store.rule_switch(instance).await? != crate::domain::RuleSwitch::On {
            return Ok(TickEnd::Idle);
        }
        let now = crate::clock::now_ms();
        let mut rules = Vec::new();
        for rule in self
            .store
            .rules_in_state(instance, TaskState::Running)
            .await?
        {
            if rule.expired(now) {
                self.store
                    .set_rule_state(
                        instance,
                        rule.id,
                        &[TaskState::Running],
                        TaskState::Finished,
                    )
                    .await?;
            } else {
                rules.push(rule);
            }
        }
        if rules.is_empty() {
            return Ok(TickEnd::Idle);
        }
        // Usually one group: every rule acts as the instance's default db user, resolved once
        // per tick (the oldest db user is a store query), not once per rule.
        let mut resolved: HashMap<Option<DbUserId>, DbUserAccess> = HashMap::new();
        let mut groups: BTreeMap<DbUserId, (DbUserAccess, Vec<KillRuleRecord>)> = BTreeMap::new();
        for rule in rules {
            let named = rule.spec.db_user_id.clone();
            let db_user = match resolved.get(&named) {
                Some(db_user) => db_user.clone(),
                None => {
                    let db_user = self.rule_db_user(&access, named.as_ref()).await?;
                    resolved.insert(named, db_user.clone());
                    db_user
                }
            };
            groups
                .entry(db_user.db_user().id.clone())
                .or_insert_with(|| (db_user, Vec::new()))
                .1
                .push(rule);
        }
        for (db_user, rules) in groups.into_values() {
            self.tick_as(&db_user, &rules, lease).await?;
        }
        Ok(TickEnd::Continue)
    }

    /// The rules acting as one db user: one listing, one decision, one kill.
    async fn tick_as(
        &self,
        db_user: &DbUserAccess,
        rules: &[KillRuleRecord],
        lease: &LeaseFence,
    ) -> Result<(), TickFailure> {
        let driver = driver_for(self, db_user)?;
        // A listing is as old as its request: one held up on the way is no fresher for it.
        let listed = Instant::now();
        let until = listed + self.engines.timeouts().statement;
        let snap = driver
            .list(&KillFilter::default(), until)
            .await
            .map_err(DasError::from)?;
        let mut sessions = snap.sessions;
        let conditions: Vec<_> = rules.iter().map(|r| r.spec.conditions.clone()).collect();
        super::trx::add_trx_ages(driver.as_ref(), &mut sessions, &conditions).await?;
        let protections = Protections {
            own_ids: snap.own_ids,
            protected_users: db_user.instance().protected_users.clone(),
        };
        let matching = std::time::Instant::now();
        let tick_rules: Vec<TickRule<'_>> = rules
            .iter()
            .map(|r| TickRule {
                task_id: r.id,
                conditions: &r.spec.conditions,
                kill_type: r.spec.kill_type,
                observe: r.spec.mode == RuleMode::Observe,
                pause_above: r.spec.pause_above as usize,
                budget: self
                    .rules
                    .memories
                    .budget(r.id, r.spec.max_kills_per_minute),
            })
            .collect();
        let decisions = plan_tick(&sessions, &tick_rules, &protections);
        metrics::histogram!("dbkill_rule_match_seconds").record(matching.elapsed().as_secs_f64());
        let by_id: HashMap<i64, &KillRuleRecord> = rules.iter().map(|r| (r.id, r)).collect();
        let mut counts: HashMap<i64, RuleCounts> = HashMap::new();
        for d in &decisions {
            let fresh = self.rules.memories.new_matches(d.task_id, &d.matched);
            let c = counts.entry(d.task_id).or_insert(RuleCounts {
                task_id: d.task_id,
                ..RuleCounts::default()
            });
            c.matched = fresh as i64;
            metrics::counter!("dbkill_rule_matches_total", "task_id" => d.task_id.to_string())
                .increment(fresh as u64);
            if d.paused {
                self.pause(db_user, by_id[&d.task_id], d.matched.len())
                    .await?;
            }
        }
        let result = self
            .kill_decided(
                TickTarget {
                    db_user,
                    driver: driver.as_ref(),
                    lease,
                },
                &by_id,
                decisions,
                listed,
                &mut counts,
            )
            .await;
        // Counters are written even when the kill failed part-way: what was matched stays counted.
        let counts: Vec<RuleCounts> = counts
            .into_values()
            .filter(|c| c.matched > 0 || c.killed > 0)
            .collect();
        if !counts.is_empty() {
            self.store.add_rule_counts(&counts).await?;
        }
        result
    }

    async fn pause(
        &self,
        db_user: &DbUserAccess,
        rule: &KillRuleRecord,
        would_kill: usize,
    ) -> Result<(), TickFailure> {
        let instance = &db_user.instance().id;
        let paused = self
            .store
            .set_rule_state(instance, rule.id, &[TaskState::Running], TaskState::Paused)
            .await?;
        if paused {
            tracing::warn!(task_id = rule.id, %instance, would_kill, "kill rule paused: it matched more sessions than its pause_above");
            metrics::counter!("dbkill_rule_pauses_total", "task_id" => rule.id.to_string())
                .increment(1);
            self.rules
                .notifier
                .send(events::paused(db_user.instance(), rule, would_kill));
        }
        Ok(())
    }

    /// The parts whose rule still runs, read under the instance's gate: a rule terminated, or a
    /// switch turned off, since the tick began kills nothing more.
    async fn still_running(
        &self,
        db_user: &DbUserAccess,
        parts: Vec<KillPart>,
    ) -> Result<Vec<KillPart>, TickFailure> {
        let instance = &db_user.instance().id;
        if self.store.rule_switch(instance).await? != crate::domain::RuleSwitch::On {
            return Ok(vec![]);
        }
        let running: std::collections::HashSet<i64> = self
            .store
            .rules_in_state(instance, TaskState::Running)
            .await?
            .iter()
            .map(|r| r.id)
            .collect();
        Ok(parts
            .into_iter()
            .filter(|p| running.contains(&p.req.task_id))
            .collect())
    }

    /// Kills what the decisions credit to each rule, one execution per kind of KILL.
    async fn kill_decided(
        &self,
        target: TickTarget<'_>,
        rules: &HashMap<i64, &KillRuleRecord>,
        decisions: Vec<RuleDecision>,
        listed: Instant,
        counts: &mut HashMap<i64, RuleCounts>,
    ) -> Result<(), TickFailure> {
        let TickTarget {
            db_user,
            driver,
            lease,
        } = target;
        let mut by_type: BTreeMap<&'static str, (KillType, Vec<KillPart>)> = BTreeMap::new();
        for d in decisions.into_iter().filter(|d| !d.kill.is_empty()) {
            let rule = rules[&d.task_id];
            let part = KillPart {
                req: KillRequest {
                    history_id: uuid::Uuid::new_v4().to_string(),
                    request_id: uuid::Uuid::new_v4().to_string(),
                    filter: KillFilter::default(),
                    kill_type: d.kill_type,
                    dry_run: false,
                    deadline: None,
                    source: rule.source(),
                    task_id: rule.id,
                    filter_json: events::conditions_json(rule),
                },
                sessions: d.kill,
            };
            by_type
                .entry(d.kill_type.as_str())
                .or_insert_with(|| (d.kill_type, Vec::new()))
                .1
                .push(part);
        }
        for (kill_type, parts) in by_type.into_values() {
            // Terminate and switch-off wait for this gate after writing: with it held, what is
            // still running now may be killed, and nothing else.
            let gate = self.rules.gates.enter(&db_user.instance().id).await;
            let parts = self.still_running(db_user, parts).await?;
            if parts.is_empty() {
                continue;
            }
            // Never kill from a stale listing: a session may have changed since.
            if listed.elapsed() > self.rules.settings.interval {
                return Err(TickFailure {
                    reason: "stale",
                    detail: format!("the listing is {:?} old", listed.elapsed()),
                });
            }
            let timing =
                KillTiming::new(Instant::now(), TICK_KILL_DEADLINE, self.kill.verify_timeout);
            let outcomes = self
                .kill_parts(
                    db_user,
                    driver,
                    parts,
                    kill_type,
                    timing,
                    SentUnder { gate, lease },
                )
                .await?;
            for o in outcomes {
                let killed = o.killed.len();
                if killed == 0 {
                    continue;
                }
                self.rules.memories.spend(o.task_id, killed);
                let last = o.killed.iter().map(|k| k.1).max();
                if let Some(c) = counts.get_mut(&o.task_id) {
                    c.killed += killed as i64;
                    c.last_kill_time = last;
                }
                metrics::counter!("dbkill_rule_kills_total", "task_id" => o.task_id.to_string())
                    .increment(killed as u64);
                let rule = rules[&o.task_id];
                tracing::info!(task_id = rule.id, instance = %db_user.instance().id, killed, "kill rule killed sessions");
                self.rules
                    .notifier
                    .send(events::killed(db_user.instance(), rule, &o.killed));
            }
        }
        Ok(())
    }
}
