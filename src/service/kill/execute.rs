//! Phase 4: the KILLs. One MariaDB `KILL USER` where that is exactly the plan and the setting
//! allows it; otherwise (and whenever it did not signal every planned session) one KILL per id,
//! newest first, each with its own answer.

use super::KillRequest;
use crate::domain::SessionId;
use crate::engine::{EngineError, KillResult, SessionDriver};
use crate::planner::{KillPlan, kill_user_equivalent};
use crate::service::KillSettings;

pub(super) type KillResults = Result<Vec<(SessionId, KillResult)>, EngineError>;

pub(super) async fn execute(
    driver: &dyn SessionDriver,
    planned: &KillPlan,
    req: &KillRequest,
    settings: KillSettings,
) -> KillResults {
    let ids: Vec<SessionId> = planned.kill.iter().map(|s| s.id).collect();
    let user = kill_user_equivalent(planned, &req.filter).filter(|_| settings.kill_user_statement);
    let Some(user) = user else {
        return driver.kill(&ids, req.kill_type).await;
    };
    match driver.kill_user(user, req.kill_type).await {
        // Signalled at least every planned session: one statement did the whole plan.
        Ok(Some(n)) if usize::try_from(n).unwrap_or(usize::MAX) >= ids.len() => {
            let at = crate::clock::now_ms();
            Ok(ids
                .iter()
                .map(|&id| (id, KillResult::Accepted(at)))
                .collect())
        }
        // No KILL USER here, or fewer signalled than planned (sessions that ended since the
        // listing, or no privilege: MariaDB then signals none, or refuses). Per id, each
        // session gets its own exact answer.
        Ok(_) | Err(EngineError::Denied(_)) => driver.kill(&ids, req.kill_type).await,
        Err(e) => Err(e),
    }
}
