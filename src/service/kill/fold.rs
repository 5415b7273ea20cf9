//! Phase 5: each KILL's answer becomes a report entry and a history outcome.

use std::collections::HashMap;

use super::execute::KillResults;
use crate::domain::{Session, SessionId};
use crate::engine::KillResult;
use crate::error::DasError;
use crate::report::{FailedSession, KillReport};
use crate::store::{Outcome, SessionOutcome};

pub(super) struct Folded {
    /// Sessions whose KILL the server accepted, with the Unix ms it did.
    pub accepted: Vec<(Session, i64)>,
    /// Planned sessions the server did not accept a KILL for (not found, failed).
    pub unaccepted: Vec<Session>,
    /// One per planned session, for the history.
    pub outcomes: Vec<SessionOutcome>,
}

pub(super) fn fold(kill: Vec<Session>, results: KillResults, report: &mut KillReport) -> Folded {
    let ids: Vec<SessionId> = kill.iter().map(|s| s.id).collect();
    let mut by_id: HashMap<SessionId, Session> = kill.into_iter().map(|s| (s.id, s)).collect();
    let mut accepted = vec![];
    let outcomes = match results {
        Ok(results) => results
            .into_iter()
            .map(|(id, result)| match result {
                KillResult::Accepted(at) => {
                    if let Some(s) = by_id.remove(&id) {
                        accepted.push((s, at));
                    }
                    outcome(id, Outcome::Killed, None, Some(at))
                }
                KillResult::NotFound => {
                    report.not_found.push(id);
                    outcome(id, Outcome::NotFound, None, None)
                }
                KillResult::Failed(e) => failed(report, id, DasError::from(e)),
            })
            .collect(),
        // The whole batch failed before any KILL got an answer: every session failed.
        Err(e) => {
            let error = DasError::from(e);
            ids.iter()
                .map(|id| failed(report, *id, error.clone()))
                .collect()
        }
    };
    Folded {
        accepted,
        unaccepted: by_id.into_values().collect(),
        outcomes,
    }
}

fn failed(report: &mut KillReport, id: SessionId, error: DasError) -> SessionOutcome {
    let code = error.code();
    report.failed.push(FailedSession { id, error });
    outcome(id, Outcome::Failed, Some(code), None)
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
