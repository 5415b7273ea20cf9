//! Phase 4: the KILLs, by the strategy the chooser picks from what the plan shows (one
//! `KILL USER`, batches on one connection, or batches on several), within the request's time.

use std::collections::HashMap;

use super::timing::KillTiming;
use crate::domain::{KillFilter, KillType, SessionId};
use crate::engine::{EngineError, KillOrder, KillResult, SessionDriver};
use crate::planner::{KillPlan, KillStrategy, Observations, choose, kill_user_equivalent};
use crate::service::KillSettings;

pub(super) type KillResults = Vec<(SessionId, KillResult)>;

/// Sends the plan's KILLs and counts, in `dbkill_kill_statements_total`, the sessions this
/// replica sent one to (whatever the answer): with several replicas, their sum shows that no
/// session was sent two.
pub(super) async fn execute(
    driver: &dyn SessionDriver,
    planned: &KillPlan,
    filter: &KillFilter,
    kill_type: KillType,
    settings: KillSettings,
    timing: KillTiming,
) -> KillResults {
    let results = send(driver, planned, filter, kill_type, settings, timing).await;
    let sent = results
        .iter()
        .filter(|(_, r)| !matches!(r, KillResult::NotAttempted))
        .count();
    metrics::counter!("dbkill_kill_statements_total").increment(sent as u64);
    results
}

async fn send(
    driver: &dyn SessionDriver,
    planned: &KillPlan,
    filter: &KillFilter,
    kill_type: KillType,
    settings: KillSettings,
    timing: KillTiming,
) -> KillResults {
    let ids: Vec<SessionId> = planned.kill.iter().map(|s| s.id).collect();
    let kill_user = kill_user_equivalent(planned, filter);
    let strategy = choose(&Observations {
        kill_user_exact: kill_user.is_some(),
        kill_user_allowed: settings.kill_user_statement,
        max_connections: settings.kill_connections,
        ..Observations::of(&planned.kill)
    });
    tracing::debug!(?strategy, sessions = ids.len(), "kill strategy");
    if let (KillStrategy::KillUser, Some(user)) = (strategy, kill_user) {
        let sent_at = crate::clock::now_ms();
        match driver.kill_user(user, kill_type, timing.stop_sending).await {
            // Signalled at least every planned session: one statement did the whole plan.
            Ok(Some(n)) if usize::try_from(n).unwrap_or(usize::MAX) >= ids.len() => {
                let at = crate::clock::now_ms();
                return all(&ids, |_| KillResult::Accepted(at));
            }
            // Sent, no answer: any of them may be signalled; verification decides.
            Err(EngineError::StatementTimeout) => {
                return all(&ids, |_| KillResult::Unanswered(sent_at));
            }
            // No KILL USER here, fewer signalled than planned (sessions that ended since the
            // listing, or no privilege: MariaDB then signals none), or not sent: per id, each
            // session gets its own exact answer.
            _ => {}
        }
    }
    let started: HashMap<SessionId, i64> = planned
        .kill
        .iter()
        .filter_map(|s| s.started.map(|t| (s.id, t)))
        .collect();
    let order = KillOrder {
        ids: &ids,
        started: &started,
        kill_type,
        strategy,
        stop_sending: timing.stop_sending,
        give_up: timing.give_up,
    };
    driver.execute(&order).await
}

fn all(ids: &[SessionId], result: impl Fn(SessionId) -> KillResult) -> KillResults {
    ids.iter().map(|&id| (id, result(id))).collect()
}
