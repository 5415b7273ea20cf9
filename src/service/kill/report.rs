//! Phases 2 and 8: the report as planned (all a dry run answers), and as finished once the
//! kills are verified.

use super::KillRequest;
use crate::domain::Session;
use crate::planner::KillPlan;
use crate::report::{KillReport, KilledSession, SkippedSession};

/// What the plan already settles: the skipped sessions and the ids without a session.
pub(super) fn planned(req: &KillRequest, planned: &KillPlan) -> KillReport {
    KillReport {
        request_id: req.request_id.clone(),
        dry_run: req.dry_run,
        kill_type: req.kill_type,
        killed: vec![],
        skipped: planned
            .skipped
            .iter()
            .map(|(s, reason)| SkippedSession {
                id: s.id,
                user: s.user.clone(),
                reason: *reason,
            })
            .collect(),
        not_found: planned.not_found.clone(),
        failed: vec![],
    }
}

/// A dry run lists the sessions it would kill, with no KILL time and no `gone`.
pub(super) fn dry_run(mut report: KillReport, planned: KillPlan) -> KillReport {
    report.killed = planned
        .kill
        .into_iter()
        .map(|session| KilledSession {
            session,
            gone: None,
            kill_time: None,
        })
        .collect();
    report
}

/// The killed sessions, each with whether verification saw it leave.
pub(super) fn finished(mut report: KillReport, killed: Vec<(Session, i64, bool)>) -> KillReport {
    report.not_found.sort();
    report.killed = killed
        .into_iter()
        .map(|(session, at, gone)| KilledSession {
            session,
            gone: Some(gone),
            kill_time: Some(at),
        })
        .collect();
    report
}
