//! KillSession in named phases: plan → planned report → record the intent → execute → verify →
//! fold the results → record the outcomes → report, all within the request's deadline
//! ([`timing`]). Each phase is its own function, so the rule runner can drive the same phases
//! without an HTTP request. A kill runs as its own task (the caller spawns it), so a client that
//! hangs up cannot stop it halfway.

mod batch;
mod execute;
mod fold;
mod plan;
mod record;
mod report;
mod timing;
mod verify;

use std::time::Duration;

use tokio::time::Instant;

pub(super) use batch::{KillPart, SentUnder};
pub(super) use timing::KillTiming;
pub(super) use verify::{same_session, still_running};

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
    /// By when the answer is due, from the start of the work; `None`: the setting.
    pub deadline: Option<Duration>,
    /// `api:<user>` and friends, for history.
    pub source: String,
    /// The rule this kill is a tick of; 0 for a kill someone asked for.
    pub task_id: i64,
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
        let deadline = req.deadline.unwrap_or(self.kill.deadline);
        let timing = KillTiming::new(started, deadline, self.kill.verify_timeout);
        let driver = driver_for(self, &access)?;
        let driver = driver.as_ref();
        let planned =
            plan::plan_kill(driver, &req.filter, access.instance(), timing.stop_sending).await?;
        let mut report = report::planned(&req, &planned);
        if req.dry_run {
            return Ok(report::dry_run(report, planned));
        }
        let listed = started.elapsed();
        // Until its outcomes are on record this kill looks crashed: reconciliation skips it.
        let _in_flight = self.in_flight.enter(&req.history_id);
        record::intents(
            self.store.as_ref(),
            &access,
            &self.replica,
            &[(&req, planned.kill.as_slice())],
            None,
        )
        .await?;
        let recorded = started.elapsed();
        let results = execute::execute(
            driver,
            &planned,
            &req.filter,
            req.kill_type,
            self.kill,
            timing,
        )
        .await;
        let sent = started.elapsed();
        let sorted = fold::sort(planned.kill, results);
        let verified = verify::verify_sent(
            driver,
            &sorted.sent_to(),
            req.kill_type,
            timing,
            self.kill.verify_timeout,
        )
        .await;
        let verified_at = started.elapsed();
        let folded = fold::fold(sorted, &verified, &mut report);
        if let Err(e) = record::outcomes(self.store.as_ref(), &req.history_id, &folded).await {
            // The KILLs went out: the answer must say what they did. The intent is on record,
            // so reconciliation settles the history once the store can write again.
            tracing::error!(history_id = %req.history_id, "kill outcomes not recorded: {e}");
        }
        // Where a slow kill spent its time, cumulative from the start of the request's work.
        tracing::debug!(
            sessions = folded.outcomes.len(),
            listed_ms = listed.as_millis(),
            intent_ms = recorded.as_millis(),
            killed_ms = sent.as_millis(),
            verified_ms = verified_at.as_millis(),
            done_ms = started.elapsed().as_millis(),
            "kill phases"
        );
        Ok(report::finished(report, folded.killed))
    }
}
