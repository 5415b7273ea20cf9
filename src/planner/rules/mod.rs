//! Kill rules, pure: whether a session meets a rule's conditions ([`rule_matches`]), what one rule
//! would kill now ([`rule_victims`], which the preview answers), and what one tick of all an
//! instance's rules does with one listing ([`plan_tick`]): pauses, observe-only rules, the
//! per-minute budgets and the union of victims, each credited to one rule.

mod like;

use std::collections::HashSet;

pub use like::{client_address, like_matches};

use super::{Protections, protection_of};
use crate::domain::{KillType, RuleConditions, Session, SessionId};

fn contains_ignoring_case(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

/// Every condition of `c` holds for `s` (an absent condition always holds). `s.trx_seconds`
/// must be filled when `c` has `min_trx_time`.
pub fn rule_matches(s: &Session, c: &RuleConditions) -> bool {
    s.time >= c.time
        && c.user.as_ref().is_none_or(|u| &s.user == u)
        && c.db.as_ref().is_none_or(|d| s.database.as_ref() == Some(d))
        && c.command
            .as_ref()
            .is_none_or(|cmd| s.command.eq_ignore_ascii_case(cmd))
        && c.host
            .as_ref()
            .is_none_or(|h| like_matches(h, client_address(&s.host)))
        && c.info.as_ref().is_none_or(|i| {
            s.sql
                .as_deref()
                .is_some_and(|sql| contains_ignoring_case(sql, i))
        })
        && c.state
            .as_ref()
            .is_none_or(|st| contains_ignoring_case(&s.state, st))
        && c.min_trx_time.is_none_or(|t| s.trx_seconds >= t)
}

/// What a rule kills now: its matches that no protection keeps alive, newest first (the order
/// KILLs are cheapest in).
pub fn rule_victims(sessions: &[Session], c: &RuleConditions, p: &Protections) -> Vec<Session> {
    // The cheap checks first, on every session; the set that drops a repeated id only holds
    // matches (a tick runs 20 rules over 10,000 sessions).
    let mut seen = HashSet::new();
    let mut out: Vec<Session> = sessions
        .iter()
        .filter(|s| rule_matches(s, c) && protection_of(s, p).is_none())
        .filter(|s| seen.insert(s.id))
        .cloned()
        .collect();
    out.sort_by_key(|s| std::cmp::Reverse(s.id));
    out
}

/// One rule as a tick sees it.
#[derive(Clone, Debug)]
pub struct TickRule<'a> {
    pub task_id: i64,
    pub conditions: &'a RuleConditions,
    pub kill_type: KillType,
    /// Counts its matches, kills nothing.
    pub observe: bool,
    /// More matches than this pause the rule instead (0: never).
    pub pause_above: usize,
    /// Kills left in this minute (`None`: no limit).
    pub budget: Option<usize>,
}

/// What a tick does for one rule.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleDecision {
    pub task_id: i64,
    /// Every unprotected session the rule matched.
    pub matched: Vec<SessionId>,
    /// The sessions this rule kills (credited to it), newest first.
    pub kill: Vec<Session>,
    pub kill_type: KillType,
    /// The rule matched more than its `pause_above`: it kills nothing and pauses.
    pub paused: bool,
}

/// Decides one tick for every rule, in the given order (the lead's order: oldest rule first).
/// A session two rules match is killed once, credited to the first; a rule over its
/// `pause_above` kills nothing; an observing rule kills nothing; a budget keeps the sessions that
/// have run longest.
pub fn plan_tick(
    sessions: &[Session],
    rules: &[TickRule<'_>],
    p: &Protections,
) -> Vec<RuleDecision> {
    let mut claimed: HashSet<SessionId> = HashSet::new();
    rules
        .iter()
        .map(|rule| {
            let victims = rule_victims(sessions, rule.conditions, p);
            let matched: Vec<SessionId> = victims.iter().map(|s| s.id).collect();
            let paused = rule.pause_above > 0 && victims.len() > rule.pause_above;
            let mut kill = Vec::new();
            if !paused && !rule.observe {
                let mut free: Vec<Session> = victims
                    .into_iter()
                    .filter(|s| !claimed.contains(&s.id))
                    .collect();
                if let Some(budget) = rule.budget {
                    free.sort_by_key(|s| (std::cmp::Reverse(s.time), s.id));
                    free.truncate(budget);
                    free.sort_by_key(|s| std::cmp::Reverse(s.id));
                }
                claimed.extend(free.iter().map(|s| s.id));
                kill = free;
            }
            RuleDecision {
                task_id: rule.task_id,
                matched,
                kill,
                kill_type: rule.kill_type,
                paused,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
