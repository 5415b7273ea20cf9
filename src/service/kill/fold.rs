//! Phase 5: each KILL's fate becomes a report entry and a history outcome. A KILL that got no
//! answer is never `failed` on that ground alone: verification decides (gone or shown as
//! `Killed` → killed); a session still listed, or not seen because the server did not answer,
//! is failed as "may still take effect" — the KILL may still be running on the server — and
//! recorded `uncertain`, which reconciliation settles once no KILL of dbkill's runs there.

use std::collections::HashMap;

use super::execute::KillResults;
use super::verify::Verified;
use crate::domain::{Session, SessionId};
use crate::engine::{EngineError, KillResult};
use crate::error::DasError;
use crate::report::{FailedSession, KillReport};
use crate::store::{Outcome, SessionOutcome};

/// The planned sessions by what became of their KILL.
#[derive(Default)]
pub(super) struct Sorted {
    /// Accepted by the server at this Unix ms.
    pub accepted: Vec<(Session, i64)>,
    /// Sent at this Unix ms; no answer came.
    pub unanswered: Vec<(Session, i64)>,
    pub not_found: Vec<Session>,
    pub refused: Vec<(Session, EngineError)>,
    pub not_attempted: Vec<Session>,
}

/// What the report and the history say of every planned session.
#[derive(Default)]
pub(super) struct Folded {
    /// Killed sessions with their kill time and whether verification saw them leave.
    pub killed: Vec<(Session, i64, bool)>,
    /// Every other planned session.
    pub others: Vec<Session>,
    /// One per planned session.
    pub outcomes: Vec<SessionOutcome>,
}

pub(super) fn sort(kill: Vec<Session>, results: KillResults) -> Sorted {
    let mut by_id: HashMap<SessionId, Session> = kill.into_iter().map(|s| (s.id, s)).collect();
    let mut sorted = Sorted::default();
    for (id, result) in results {
        let Some(s) = by_id.remove(&id) else { continue };
        match result {
            KillResult::Accepted(at) => sorted.accepted.push((s, at)),
            KillResult::Unanswered(at) => sorted.unanswered.push((s, at)),
            KillResult::NotFound => sorted.not_found.push(s),
            KillResult::Failed(e) => sorted.refused.push((s, e)),
            KillResult::NotAttempted => sorted.not_attempted.push(s),
        }
    }
    // An engine answers every id; one it did not is treated as sent and unanswered.
    let now = crate::clock::now_ms();
    sorted
        .unanswered
        .extend(by_id.into_values().map(|s| (s, now)));
    sorted
}

impl Sorted {
    /// The sessions a KILL was sent to: accepted, or sent without an answer.
    pub(super) fn sent_to(&self) -> Vec<&Session> {
        self.accepted
            .iter()
            .chain(&self.unanswered)
            .map(|(s, _)| s)
            .collect()
    }
}

pub(super) fn fold(sorted: Sorted, v: &Verified, report: &mut KillReport) -> Folded {
    let mut f = Folded::default();
    for (s, at) in sorted.accepted {
        f.killed(s, at, v);
    }
    for (s, sent_at) in sorted.unanswered {
        if v.checked && (v.gone.contains(&s.id) || v.marked_killed.contains(&s.id)) {
            f.killed(s, sent_at, v);
        } else {
            // Still listed, or not seen: an unanswered KILL may still be running on the server
            // (MariaDB retries a contended KILL for up to 2 s), so the session may yet die.
            let e = DasError::KillUnconfirmed;
            f.failed(report, s, e, Outcome::Uncertain, Some(sent_at));
        }
    }
    for s in sorted.not_found {
        report.not_found.push(s.id);
        f.outcomes
            .push(outcome(s.id, Outcome::NotFound, None, None));
        f.others.push(s);
    }
    for (s, e) in sorted.refused {
        f.failed(report, s, DasError::from(e), Outcome::Failed, None);
    }
    for s in sorted.not_attempted {
        f.failed(report, s, DasError::KillNotAttempted, Outcome::Failed, None);
    }
    f
}

impl Folded {
    fn killed(&mut self, s: Session, at: i64, v: &Verified) {
        self.outcomes
            .push(outcome(s.id, Outcome::Killed, None, Some(at)));
        let gone = v.gone.contains(&s.id);
        self.killed.push((s, at, gone));
    }

    fn failed(
        &mut self,
        report: &mut KillReport,
        s: Session,
        error: DasError,
        recorded: Outcome,
        kill_time: Option<i64>,
    ) {
        self.outcomes
            .push(outcome(s.id, recorded, Some(error.code()), kill_time));
        report.failed.push(FailedSession { id: s.id, error });
        self.others.push(s);
    }
}

fn outcome(
    id: SessionId,
    outcome: Outcome,
    error_code: Option<&str>,
    kill_time: Option<i64>,
) -> SessionOutcome {
    SessionOutcome {
        session_id: id.0,
        outcome,
        error_code: error_code.map(str::to_owned),
        kill_time,
    }
}
