//! KillSession: list → plan (pure) → record the intent → KILL newest first → verify → record
//! the outcomes → report. Runs as its own task, so a client that hangs up cannot stop a kill
//! halfway.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::{KillFilter, KillType, Session, SessionId};
use crate::engine::{EngineError, KillResult, Presence, SessionDriver};
use crate::error::{DasError, DasResult};
use crate::planner::{Protections, kill_user_equivalent, plan};
use crate::report::{FailedSession, KillReport, KilledSession, SkippedSession};
use crate::state::AppState;
use crate::store::{
    DbUserRecord, InstanceRecord, KillIntent, Outcome, SessionOutcome, SessionSnapshot,
};

pub struct KillCommand {
    /// The history row's key; fresh for every request.
    pub history_id: String,
    /// The X-Request-Id the report carries.
    pub request_id: String,
    pub instance: InstanceRecord,
    pub db_user: DbUserRecord,
    pub filter: KillFilter,
    pub kill_type: KillType,
    pub dry_run: bool,
    /// `api:<user>` and friends, for history.
    pub source: String,
    pub filter_json: String,
}

pub async fn kill_sessions(state: AppState, cmd: KillCommand) -> DasResult<KillReport> {
    let started = Instant::now();
    let driver = super::target::driver_for(&state, &cmd.instance, &cmd.db_user)?;
    let snap = driver.list(&cmd.filter).await?;
    let protections = Protections {
        own_ids: snap.own_ids,
        protected_users: cmd.instance.protected_users.clone(),
    };
    let planned = plan(&snap.sessions, &cmd.filter, &protections);
    let listed = started.elapsed();
    let mut report = KillReport {
        request_id: cmd.request_id.clone(),
        dry_run: cmd.dry_run,
        kill_type: cmd.kill_type,
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
    };
    if cmd.dry_run {
        report.killed = planned
            .kill
            .into_iter()
            .map(|session| KilledSession {
                session,
                gone: None,
                kill_time: None,
            })
            .collect();
        return Ok(report);
    }

    let snapshots: Vec<SessionSnapshot> = planned.kill.iter().map(SessionSnapshot::of).collect();
    state
        .store
        .record_kill_plan(&KillIntent {
            request_id: cmd.history_id.clone(),
            project_id: cmd.instance.project_id.clone(),
            instance_id: cmd.instance.id.clone(),
            db_user_id: cmd.db_user.id.clone(),
            source: cmd.source.clone(),
            kill_type: cmd.kill_type.as_str().to_owned(),
            filter_json: cmd.filter_json.clone(),
            created_at: crate::clock::now_ms(),
            sessions: &snapshots,
        })
        .await?;

    let recorded = started.elapsed();
    let ids: Vec<SessionId> = planned.kill.iter().map(|s| s.id).collect();
    let kill_user_statement = state.settings.kill_user_statement;
    let results = match kill_user_equivalent(&planned, &cmd.filter).filter(|_| kill_user_statement)
    {
        Some(user) => match driver.kill_user(user, cmd.kill_type).await {
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
            Ok(_) | Err(EngineError::Denied(_)) => driver.kill(&ids, cmd.kill_type).await,
            Err(e) => Err(e),
        },
        None => driver.kill(&ids, cmd.kill_type).await,
    };
    let sent = started.elapsed();
    let mut by_id: HashMap<SessionId, Session> =
        planned.kill.into_iter().map(|s| (s.id, s)).collect();
    let mut outcomes = Vec::with_capacity(ids.len());
    let mut accepted = vec![];
    match results {
        Ok(results) => {
            for (id, result) in results {
                let (outcome, error_code, kill_time) = match result {
                    KillResult::Accepted(at) => {
                        if let Some(s) = by_id.remove(&id) {
                            accepted.push((s, at));
                        }
                        (Outcome::Killed, None, Some(at))
                    }
                    KillResult::NotFound => {
                        report.not_found.push(id);
                        (Outcome::NotFound, None, None)
                    }
                    KillResult::Failed(e) => {
                        let error = DasError::from(e);
                        let code = crate::http::error::status_and_code(&error).1;
                        report.failed.push(FailedSession { id, error });
                        (Outcome::Failed, Some(code.to_owned()), None)
                    }
                };
                outcomes.push(SessionOutcome {
                    session_id: id.0,
                    outcome,
                    error_code,
                    kill_time,
                });
            }
        }
        Err(e) => {
            // The whole batch failed before any KILL got an answer: every session failed.
            let error = DasError::from(e);
            let code = crate::http::error::status_and_code(&error).1;
            for id in &ids {
                report.failed.push(FailedSession {
                    id: *id,
                    error: error.clone(),
                });
                outcomes.push(SessionOutcome {
                    session_id: id.0,
                    outcome: Outcome::Failed,
                    error_code: Some(code.to_owned()),
                    kill_time: None,
                });
            }
        }
    }
    let gone = verify(
        driver,
        &accepted,
        cmd.kill_type,
        state.settings.verify_timeout,
    )
    .await;
    let verified = started.elapsed();
    // Outcomes are written once the sessions are gone, not while they exit: the write takes
    // CPU (milliseconds per thousand sessions) that the exiting server threads need on a small
    // machine. The intent is on record since before the first KILL.
    let snapshots: Vec<SessionSnapshot> = accepted
        .iter()
        .map(|(s, _)| s)
        .chain(by_id.values())
        .map(SessionSnapshot::of)
        .collect();
    state
        .store
        .record_kill_outcomes(&cmd.history_id, &snapshots, &outcomes)
        .await?;
    // Where a slow kill spent its time, cumulative from the start of the request's work.
    tracing::debug!(
        sessions = ids.len(),
        listed_ms = listed.as_millis(),
        intent_ms = recorded.as_millis(),
        killed_ms = sent.as_millis(),
        verified_ms = verified.as_millis(),
        done_ms = started.elapsed().as_millis(),
        "kill phases"
    );
    report.not_found.sort();
    report.killed = accepted
        .into_iter()
        .map(|(session, at)| KilledSession {
            gone: Some(gone.contains(&session.id)),
            session,
            kill_time: Some(at),
        })
        .collect();
    Ok(report)
}

/// Waits until every accepted session is gone or the time is up; returns the ids seen gone.
/// For a query kill, "gone" means the killed statement no longer runs.
///
/// Each processlist read walks every thread under a global lock, slowing the very exits it
/// waits for; so between reads it watches the cheap connection counter and reads the
/// processlist again only once the counter stops falling.
async fn verify(
    driver: Arc<dyn SessionDriver>,
    accepted: &[(Session, i64)],
    kill_type: KillType,
    budget: Duration,
) -> HashSet<SessionId> {
    let mut pending: HashMap<SessionId, &Session> =
        accepted.iter().map(|(s, _)| (s.id, s)).collect();
    let mut gone = HashSet::new();
    let deadline = Instant::now() + budget;
    let mut last_count = u64::MAX;
    loop {
        // Connection kills: wait while the counter still falls (sessions are leaving).
        if kill_type == KillType::Connection {
            while Instant::now() < deadline {
                match driver.connected_count().await {
                    Ok(n) if n < last_count => last_count = n,
                    _ => break,
                }
                // Each read costs the server a fraction of a millisecond of CPU, which the
                // sessions being killed need to exit; one read per 25 ms keeps that negligible.
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
        }
        let ids: Vec<SessionId> = pending.keys().copied().collect();
        let Ok(present) = driver.presence(&ids).await else {
            break;
        };
        let still: HashSet<SessionId> = present
            .iter()
            .filter(|p| still_running(p, pending.get(&p.id).copied(), kill_type))
            .map(|p| p.id)
            .collect();
        pending.retain(|id, _| {
            let left = !still.contains(id);
            if left {
                gone.insert(*id);
            }
            !left
        });
        if pending.is_empty() || Instant::now() + Duration::from_millis(20) > deadline {
            break;
        }
        // Lingering sessions (rolling back): look again a little later.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gone
}

fn still_running(p: &Presence, before: Option<&Session>, kill_type: KillType) -> bool {
    match kill_type {
        KillType::Connection => true,
        KillType::Query => {
            p.command == "Query" && before.is_some_and(|b| b.sql.is_some() && b.sql == p.sql)
        }
    }
}
