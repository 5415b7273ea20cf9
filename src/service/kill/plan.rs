//! Phase 1: one listing of the target, then the pure planner with the instance's protections.

use tokio::time::Instant;

use crate::domain::KillFilter;
use crate::engine::SessionDriver;
use crate::error::DasResult;
use crate::planner::{KillPlan, Protections, plan};
use crate::store::InstanceRecord;

/// Lists the sessions `filter` may touch (by `until`) and plans the kill: what to kill, what to
/// skip and why, which ids do not exist.
pub(super) async fn plan_kill(
    driver: &dyn SessionDriver,
    filter: &KillFilter,
    instance: &InstanceRecord,
    until: Instant,
) -> DasResult<KillPlan> {
    let snap = driver.list(filter, until).await?;
    let protections = Protections {
        own_ids: snap.own_ids,
        protected_users: instance.protected_users.clone(),
    };
    Ok(plan(&snap.sessions, filter, &protections))
}
