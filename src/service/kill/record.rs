//! Phases 3 and 7: the history. The intent is on record before the first KILL; the outcomes are
//! written once the sessions are gone, not while they exit: the write takes CPU (milliseconds
//! per thousand sessions) that the exiting server threads need on a small machine.

use super::KillRequest;
use super::fold::Folded;
use crate::domain::Session;
use crate::error::DasResult;
use crate::service::DbUserAccess;
use crate::store::{KillIntent, LeaseFence, SessionSnapshot, Store};

/// Records the intent of every kill in `kills` (each request and the sessions it will kill) in
/// one transaction, by `replica`; under `lease` only while this replica still holds it
/// (`DasError::LeaseLost` otherwise, and nothing is recorded).
pub(super) async fn intents(
    store: &dyn Store,
    access: &DbUserAccess,
    replica: &str,
    kills: &[(&KillRequest, &[Session])],
    lease: Option<&LeaseFence>,
) -> DasResult<()> {
    let snapshots: Vec<Vec<SessionSnapshot>> = kills
        .iter()
        .map(|(_, sessions)| sessions.iter().map(SessionSnapshot::of).collect())
        .collect();
    let instance = access.instance();
    let created_at = crate::clock::now_ms();
    let plans: Vec<KillIntent> = kills
        .iter()
        .zip(&snapshots)
        .map(|((req, _), snapshots)| KillIntent {
            history_id: req.history_id.clone(),
            request_id: req.request_id.clone(),
            project_id: instance.project_id.clone(),
            instance_id: instance.id.clone(),
            db_user_id: access.db_user().id.clone(),
            source: req.source.clone(),
            task_id: req.task_id,
            kill_type: req.kill_type.as_str().to_owned(),
            filter_json: req.filter_json.clone(),
            created_at,
            replica: replica.to_owned(),
            sessions: snapshots,
        })
        .collect();
    store.record_kill_plans(&plans, lease).await?;
    Ok(())
}

pub(super) async fn outcomes(
    store: &dyn Store,
    history_id: &str,
    folded: &Folded,
) -> DasResult<()> {
    let snapshots: Vec<SessionSnapshot> = folded
        .killed
        .iter()
        .map(|(s, _, _)| s)
        .chain(&folded.others)
        .map(SessionSnapshot::of)
        .collect();
    store
        .record_kill_outcomes(history_id, &snapshots, &folded.outcomes)
        .await?;
    Ok(())
}
