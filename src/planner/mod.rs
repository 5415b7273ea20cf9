//! The pure kill planner: sessions + filters + protections → [`KillPlan`]. No I/O; shared by the
//! API, the CLI's dry run and the console, and tested exhaustively.

mod protections;
mod rules;
mod strategy;

use std::collections::{BTreeSet, HashSet};

use crate::domain::{KillFilter, Session, SessionId};

pub use protections::{Protections, SkipReason, is_system_thread, protection_of};
pub use rules::{
    RuleDecision, TickRule, client_address, like_matches, plan_tick, rule_matches, rule_victims,
};
pub use strategy::{KillStrategy, MAX_BATCH, Observations, choose, next_batch};

/// What a request will do to each session it names or matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KillPlan {
    /// Sessions to kill, newest (highest id) first: MariaDB finds a thread by scanning its list
    /// from the newest end, so this order makes each KILL cheapest.
    pub kill: Vec<Session>,
    /// Sessions that matched (or were listed) but are protected or failed the other filters.
    pub skipped: Vec<(Session, SkipReason)>,
    /// Listed ids with no session, ascending.
    pub not_found: Vec<SessionId>,
}

fn matches_attributes(s: &Session, filter: &KillFilter) -> bool {
    filter.user.as_ref().is_none_or(|u| &s.user == u)
        && filter
            .database
            .as_ref()
            .is_none_or(|d| s.database.as_ref() == Some(d))
}

pub fn plan(sessions: &[Session], filter: &KillFilter, protections: &Protections) -> KillPlan {
    let listed: Option<HashSet<SessionId>> = filter
        .process_ids
        .as_ref()
        .map(|ids| ids.iter().copied().collect());
    let mut out = KillPlan::default();
    let mut seen = HashSet::new();
    for s in sessions {
        // A server never lists one id twice, but a plan must not kill anything twice either.
        if !seen.insert(s.id) {
            continue;
        }
        let is_listed = listed.as_ref().is_none_or(|l| l.contains(&s.id));
        if !is_listed {
            continue;
        }
        if !matches_attributes(s, filter) {
            if listed.is_some() {
                out.skipped.push((s.clone(), SkipReason::NotMatched));
            }
            continue;
        }
        match protection_of(s, protections) {
            Some(reason) => out.skipped.push((s.clone(), reason)),
            None => out.kill.push(s.clone()),
        }
    }
    if let Some(listed) = listed {
        let missing: BTreeSet<SessionId> =
            listed.into_iter().filter(|id| !seen.contains(id)).collect();
        out.not_found = missing.into_iter().collect();
    }
    out.kill.sort_by_key(|s| std::cmp::Reverse(s.id));
    out.skipped.sort_by_key(|(s, _)| s.id);
    out
}

/// The user whose `KILL USER` does exactly what `plan` does: the request names only a user, and
/// every session of that user is planned for killing (none protected, none already killing).
pub fn kill_user_equivalent<'f>(planned: &KillPlan, filter: &'f KillFilter) -> Option<&'f str> {
    match filter {
        KillFilter {
            process_ids: None,
            database: None,
            user: Some(user),
        } if planned.skipped.is_empty() && !planned.kill.is_empty() => Some(user),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
