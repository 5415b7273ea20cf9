//! Several kills carried out by one execution: a rule tick records one intent per rule (its own
//! history request, `task_id` and `rule:<id>` source) and kills the union of their victims at
//! once, newest first, through the same phases as KillSession; the outcomes are then split back
//! to the rule each session was credited to.

use std::collections::HashMap;

use super::fold::{self, Folded};
use super::timing::KillTiming;
use super::{KillRequest, execute, record, verify};
use crate::domain::{KillFilter, KillType, Session, SessionId};
use crate::engine::SessionDriver;
use crate::error::DasResult;
use crate::planner::KillPlan;
use crate::report::KillReport;
use crate::service::{DbUserAccess, Services};
use crate::store::LeaseFence;

/// One kill of a batch: its request (history id, source, task id) and its sessions.
pub struct KillPart {
    pub req: KillRequest,
    pub sessions: Vec<Session>,
}

/// What one part killed: each session with its kill time and whether it was seen to leave.
pub struct PartOutcome {
    pub task_id: i64,
    pub killed: Vec<(Session, i64, bool)>,
}

/// What a batch is sent under: the instance's gate, released once the KILLs are sent, and the
/// rule lease its intents must still be held under when they are recorded.
pub struct SentUnder<'a> {
    pub gate: tokio::sync::OwnedMutexGuard<()>,
    pub lease: &'a LeaseFence,
}

impl Services {
    /// Records every part's intent, then kills all their sessions with `kill_type` in one
    /// execution by `timing`, verifies, and records each part's outcomes. Nothing is sent when
    /// the intents cannot be recorded (all in one transaction, while the lease holds).
    pub(in crate::service) async fn kill_parts(
        &self,
        access: &DbUserAccess,
        driver: &dyn SessionDriver,
        parts: Vec<KillPart>,
        kill_type: KillType,
        timing: KillTiming,
        under: SentUnder<'_>,
    ) -> DasResult<Vec<PartOutcome>> {
        let SentUnder {
            gate: held_while_sending,
            lease,
        } = under;
        let _in_flight: Vec<_> = parts
            .iter()
            .map(|p| self.in_flight.enter(&p.req.history_id))
            .collect();
        let kills: Vec<_> = parts
            .iter()
            .map(|p| (&p.req, p.sessions.as_slice()))
            .collect();
        record::intents(
            self.store.as_ref(),
            access,
            &self.replica,
            &kills,
            Some(lease),
        )
        .await?;
        let mut owner: HashMap<SessionId, usize> = HashMap::new();
        let mut union: Vec<Session> = Vec::new();
        for (i, part) in parts.iter().enumerate() {
            for s in &part.sessions {
                if owner.insert(s.id, i).is_none() {
                    union.push(s.clone());
                }
            }
        }
        union.sort_by_key(|s| std::cmp::Reverse(s.id));
        let planned = KillPlan {
            kill: union,
            ..KillPlan::default()
        };
        let results = execute::execute(
            driver,
            &planned,
            &KillFilter::default(),
            kill_type,
            self.kill,
            timing,
        )
        .await;
        drop(held_while_sending);
        let sorted = fold::sort(planned.kill, results);
        let verified = verify::verify_sent(
            driver,
            &sorted.sent_to(),
            kill_type,
            timing,
            self.kill.verify_timeout,
        )
        .await;
        // A tick has no caller to report to: its failures are in the history's outcomes.
        let mut scratch = KillReport {
            request_id: String::new(),
            dry_run: false,
            kill_type,
            killed: vec![],
            skipped: vec![],
            not_found: vec![],
            failed: vec![],
        };
        let folded = fold::fold(sorted, &verified, &mut scratch);
        let mut split: Vec<Folded> = parts.iter().map(|_| Folded::default()).collect();
        for o in folded.outcomes {
            if let Some(&i) = owner.get(&SessionId(o.session_id)) {
                split[i].outcomes.push(o);
            }
        }
        for k in folded.killed {
            if let Some(&i) = owner.get(&k.0.id) {
                split[i].killed.push(k);
            }
        }
        for s in folded.others {
            if let Some(&i) = owner.get(&s.id) {
                split[i].others.push(s);
            }
        }
        let mut out = Vec::with_capacity(parts.len());
        for (part, folded) in parts.iter().zip(split) {
            if let Err(e) =
                record::outcomes(self.store.as_ref(), &part.req.history_id, &folded).await
            {
                // The intent is on record: reconciliation settles the history later.
                tracing::error!(history_id = %part.req.history_id, "rule kill outcomes not recorded: {e}");
            }
            out.push(PartOutcome {
                task_id: part.req.task_id,
                killed: folded.killed,
            });
        }
        Ok(out)
    }
}
