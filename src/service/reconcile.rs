//! Reconciliation: kills whose outcome is not on record — dbkill stopped between the intent and
//! the outcomes, or the server stopped answering after the KILLs (`uncertain`) — are settled
//! from what their target shows now: a session still there was not killed, one that is gone
//! was (`interrupted`). Runs at start and then periodically. A request whose target cannot be
//! read (unreachable, timed out, its instance or db user deleted) waits for the next round; it
//! is never dropped. Kills this process is still executing are left alone. While a KILL of
//! dbkill's account still runs on the target, and for one round after, the target's requests
//! wait: a session it signalled may still be leaving.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use super::Services;
use super::kill::{same_session, still_running};
use super::target::driver_of;
use crate::domain::{DbUserId, KillType, Session, SessionId};
use crate::engine::{EngineError, Presence, SessionDriver};
use crate::error::DasResult;
use crate::store::{PlannedSession, SessionCheck, UnreconciledRequest, history_sql};

/// Most ids one presence query names.
const PRESENCE_CHUNK: usize = 1000;

/// What reconciliation remembers from one round to the next.
#[derive(Debug, Default)]
pub struct Rounds {
    /// Db users whose KILLs were still running on their target at their last check.
    kills_seen: HashSet<DbUserId>,
}

impl Services {
    /// Reconciles at once, then every `every`, until the task is aborted.
    pub fn spawn_reconciler(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let services = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut rounds = Rounds::default();
            loop {
                tick.tick().await;
                if let Err(e) = services.reconcile_once(&mut rounds).await {
                    tracing::warn!("reconciliation failed, next try in {every:?}: {e}");
                }
            }
        })
    }

    /// One round over every unreconciled request, after the rounds `rounds` remembers;
    /// returns how many sessions it settled.
    #[tracing::instrument(skip_all)]
    pub async fn reconcile_once(&self, rounds: &mut Rounds) -> DasResult<usize> {
        let requests = self
            .store
            .unreconciled(&self.in_flight.ids(), &self.replica)
            .await?;
        // A db user whose target did not answer this round is not asked again in it.
        let mut silent: HashSet<DbUserId> = HashSet::new();
        let mut settled = 0;
        for request in &requests {
            if self.in_flight.contains(&request.history_id) || silent.contains(&request.db_user_id)
            {
                continue;
            }
            match self.reconcile(request, rounds).await {
                Ok(Some(n)) => settled += n,
                Ok(None) => {
                    silent.insert(request.db_user_id.clone());
                }
                // The store failed this request; the others still get their turn.
                Err(e) => tracing::warn!(
                    "kill request {} not reconciled, next round: {e}",
                    request.history_id
                ),
            }
        }
        Ok(settled)
    }

    /// Checks one request on its target and records what it saw: the sessions settled, or
    /// `None` when the target could not be read this time.
    async fn reconcile(
        &self,
        request: &UnreconciledRequest,
        rounds: &mut Rounds,
    ) -> DasResult<Option<usize>> {
        let Some(kill_type) = KillType::parse(&request.kill_type) else {
            tracing::warn!(
                "kill request {} has an unknown kill type; left unreconciled",
                request.history_id
            );
            return Ok(Some(0));
        };
        let Some(driver) = self.driver_of_request(request).await? else {
            return Ok(None);
        };
        let until = tokio::time::Instant::now() + self.engines.timeouts().statement;
        // A server that stopped answering mid-batch runs the rest of it once it resumes: until
        // no KILL of dbkill's account still runs, a listed session may yet die.
        // And a KILL that just ended may have left its sessions leaving (PostgreSQL's
        // pg_terminate_backend returns before the backend exits): one more round for them.
        match driver.kills_running(until).await {
            Ok(0) if rounds.kills_seen.remove(&request.db_user_id) => {
                tracing::debug!("KILLs ended on the target since the last round; next round");
                return Ok(None);
            }
            Ok(0) => {}
            Ok(n) => {
                tracing::debug!("{n} KILLs still run on the target; next round");
                rounds.kills_seen.insert(request.db_user_id.clone());
                return Ok(None);
            }
            Err(e) => {
                tracing::debug!("the target did not answer, next round: {e}");
                return Ok(None);
            }
        }
        let checks = match check(driver.as_ref(), &request.sessions, kill_type, until).await {
            Ok(checks) => checks,
            Err(e) => {
                tracing::debug!(
                    "the target of kill request {} did not answer, next round: {e}",
                    request.history_id
                );
                return Ok(None);
            }
        };
        let settled = self
            .store
            .record_reconciliation(&request.history_id, &checks)
            .await?;
        if settled > 0 {
            let alive = checks.iter().filter(|c| c.alive).count();
            tracing::info!(
                history_id = %request.history_id,
                request_id = %request.request_id,
                instance = %request.instance_id,
                "reconciled {settled} sessions of an {} kill: {} killed, {alive} not killed",
                if request.crashed { "interrupted" } else { "uncertain" },
                checks.len() - alive,
            );
        }
        Ok(Some(settled))
    }

    /// The driver the request was made with; `None` (logged) when its instance or db user is
    /// no longer registered, or no driver can be made.
    async fn driver_of_request(
        &self,
        request: &UnreconciledRequest,
    ) -> DasResult<Option<Arc<dyn SessionDriver>>> {
        let instance = self
            .store
            .get_instance(&request.project_id, &request.instance_id)
            .await?;
        let db_user = self.store.get_db_user(&request.db_user_id).await?;
        let (Some(instance), Some(db_user)) = (instance, db_user) else {
            tracing::debug!(
                "kill request {}: its instance or db user is deleted; left unreconciled",
                request.history_id
            );
            return Ok(None);
        };
        match driver_of(self, &instance, &db_user) {
            Ok(driver) => Ok(Some(driver)),
            Err(e) => {
                tracing::debug!("kill request {}: no driver: {e}", request.history_id);
                Ok(None)
            }
        }
    }
}

/// Whether each session is still there, in presence queries of at most [`PRESENCE_CHUNK`] ids,
/// all done by `until`.
async fn check(
    driver: &dyn SessionDriver,
    sessions: &[PlannedSession],
    kill_type: KillType,
    until: tokio::time::Instant,
) -> Result<Vec<SessionCheck>, EngineError> {
    let mut present: HashMap<u64, Presence> = HashMap::new();
    for chunk in sessions.chunks(PRESENCE_CHUNK) {
        let ids: Vec<SessionId> = chunk.iter().map(|s| SessionId(s.session_id)).collect();
        present.extend(
            driver
                .presence(&ids, until)
                .await?
                .into_iter()
                .map(|p| (p.id.0, p)),
        );
    }
    Ok(sessions
        .iter()
        .map(|s| SessionCheck {
            session_id: s.session_id,
            alive: present
                .get(&s.session_id)
                .is_some_and(|p| alive(p, s, kill_type)),
        })
        .collect())
}

/// A listed session survived a connection kill; a query kill only if it still runs the planned
/// statement. History keeps a statement's first 1024 characters, so both sides are cut alike.
fn alive(present: &Presence, planned: &PlannedSession, kill_type: KillType) -> bool {
    let now = Presence {
        id: present.id,
        started: present.started,
        command: present.command.clone(),
        running: present.running,
        sql: present.sql.as_deref().map(|s| history_sql(s).to_owned()),
    };
    let before = Session {
        id: SessionId(planned.session_id),
        user: planned.user.clone(),
        host: planned.host.clone(),
        database: Some(planned.db.clone()).filter(|d| !d.is_empty()),
        command: planned.command.clone(),
        time: planned.time,
        state: planned.state.clone(),
        sql: Some(planned.info.clone()).filter(|s| !s.is_empty()),
        trx_seconds: 0,
        foreground: None,
        started: planned.started,
    };
    same_session(&now, Some(&before)) && still_running(&now, Some(&before), kill_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn planned(info: &str) -> PlannedSession {
        PlannedSession {
            session_id: 7,
            user: "app".into(),
            host: "h:1".into(),
            db: String::new(),
            command: "Query".into(),
            time: 3,
            state: String::new(),
            info: info.into(),
            kill_time: None,
            started: None,
        }
    }

    fn presence(command: &str, sql: Option<String>) -> Presence {
        Presence {
            id: SessionId(7),
            started: None,
            running: command == "Query",
            command: command.into(),
            sql,
        }
    }

    #[test]
    fn a_query_kill_failed_only_where_the_planned_statement_still_runs() {
        let long = format!("SELECT '{}'", "x".repeat(2000));
        let planned_long = planned(history_sql(&long));
        let running = presence("Query", Some(long.clone()));
        assert!(alive(&running, &planned_long, KillType::Query), "cut alike");
        let other = presence("Query", Some("SELECT 2".into()));
        assert!(!alive(&other, &planned_long, KillType::Query));
        let idle = presence("Sleep", None);
        assert!(!alive(&idle, &planned_long, KillType::Query));
        // Idle when planned: a query kill had nothing to end.
        assert!(!alive(&running, &planned(""), KillType::Query));
        // A listed session survived a connection kill, whatever it does.
        assert!(alive(&idle, &planned(""), KillType::Connection));
    }
}
