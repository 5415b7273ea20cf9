//! KillSession in named phases: plan → planned report → record the intent → execute → fold the
//! results → verify → record the outcomes → report. Each phase is its own function, so the rule
//! runner can drive the same phases without an HTTP request. A kill runs as its own task (the
//! caller spawns it), so a client that hangs up cannot stop it halfway.

mod execute;
mod fold;
mod plan;
mod record;
mod report;
mod verify;

use std::time::Instant;

pub(super) use verify::still_running;

use super::target::driver_for;
use super::{DbUserAccess, Services};
use crate::domain::{KillFilter, KillType, Role};
use crate::error::DasResult;
use crate::report::KillReport;

/// One kill as asked for; who may do it is in the [`DbUserAccess`] it runs with.
pub struct KillRequest {
    /// The history row's key; fresh for every request.
    pub history_id: String,
    /// The X-Request-Id the report carries.
    pub request_id: String,
    pub filter: KillFilter,
    pub kill_type: KillType,
    pub dry_run: bool,
    /// `api:<user>` and friends, for history.
    pub source: String,
    pub filter_json: String,
}

impl Services {
    /// KillSession (operator).
    #[tracing::instrument(skip_all, fields(request_id = %req.request_id, instance = %access.instance().id))]
    pub async fn kill_sessions(
        &self,
        access: DbUserAccess,
        req: KillRequest,
    ) -> DasResult<KillReport> {
        access.require(Role::Operator)?;
        let started = Instant::now();
        let driver = driver_for(self, &access)?;
        let planned = plan::plan_kill(driver.as_ref(), &req.filter, access.instance()).await?;
        let mut report = report::planned(&req, &planned);
        if req.dry_run {
            return Ok(report::dry_run(report, planned));
        }
        let listed = started.elapsed();
        // Until its outcomes are on record this kill looks crashed: reconciliation skips it.
        let _in_flight = self.in_flight.enter(&req.history_id);
        record::intent(self.store.as_ref(), &access, &req, &planned.kill).await?;
        let recorded = started.elapsed();
        let results = execute::execute(driver.as_ref(), &planned, &req, self.kill).await;
        let sent = started.elapsed();
        let folded = fold::fold(planned.kill, results, &mut report);
        let gone = verify::verify(driver, &folded.accepted, req.kill_type, self.kill).await;
        let verified = started.elapsed();
        record::outcomes(self.store.as_ref(), &req.history_id, &folded).await?;
        // Where a slow kill spent its time, cumulative from the start of the request's work.
        tracing::debug!(
            sessions = folded.outcomes.len(),
            listed_ms = listed.as_millis(),
            intent_ms = recorded.as_millis(),
            killed_ms = sent.as_millis(),
            verified_ms = verified.as_millis(),
            done_ms = started.elapsed().as_millis(),
            "kill phases"
        );
        Ok(report::finished(report, folded.accepted, &gone))
    }
}
