//! What the runner remembers of each rule between ticks, in this process: the sessions it
//! matched last tick (so a session matched tick after tick counts once in `matched_total`) and
//! the times of its kills in the last minute (its `max_kills_per_minute` budget).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::SessionId;

const MINUTE: Duration = Duration::from_secs(60);

#[derive(Default)]
struct RuleMemory {
    last_matched: HashSet<SessionId>,
    kills: VecDeque<Instant>,
}

#[derive(Clone, Default)]
pub(super) struct Memories(Arc<Mutex<HashMap<i64, RuleMemory>>>);

impl Memories {
    fn with<T>(&self, task_id: i64, f: impl FnOnce(&mut RuleMemory) -> T) -> T {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        f(map.entry(task_id).or_default())
    }

    /// Remembers this tick's matches; how many of them the last tick had not matched.
    pub(super) fn new_matches(&self, task_id: i64, matched: &[SessionId]) -> usize {
        self.with(task_id, |m| {
            let now: HashSet<SessionId> = matched.iter().copied().collect();
            let fresh = now.difference(&m.last_matched).count();
            m.last_matched = now;
            fresh
        })
    }

    /// Kills left this minute under `per_minute` (0: no limit → `None`).
    pub(super) fn budget(&self, task_id: i64, per_minute: u32) -> Option<usize> {
        if per_minute == 0 {
            return None;
        }
        self.with(task_id, |m| {
            let now = Instant::now();
            while m
                .kills
                .front()
                .is_some_and(|t| now.duration_since(*t) >= MINUTE)
            {
                m.kills.pop_front();
            }
            Some((per_minute as usize).saturating_sub(m.kills.len()))
        })
    }

    /// Spends `n` kills of the rule's budget now.
    pub(super) fn spend(&self, task_id: i64, n: usize) {
        self.with(task_id, |m| {
            let now = Instant::now();
            m.kills.extend(std::iter::repeat_n(now, n));
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_matched_tick_after_tick_counts_once() {
        let m = Memories::default();
        assert_eq!(m.new_matches(1, &[SessionId(1), SessionId(2)]), 2);
        assert_eq!(
            m.new_matches(1, &[SessionId(1), SessionId(2), SessionId(3)]),
            1
        );
        assert_eq!(m.new_matches(1, &[SessionId(3)]), 0);
        // Gone and back is a new match.
        assert_eq!(m.new_matches(1, &[SessionId(1), SessionId(3)]), 1);
        assert_eq!(m.new_matches(2, &[SessionId(1)]), 1);
    }

    #[test]
    fn the_budget_is_spent_per_minute() {
        let m = Memories::default();
        assert_eq!(m.budget(1, 0), None);
        assert_eq!(m.budget(1, 3), Some(3));
        m.spend(1, 2);
        assert_eq!(m.budget(1, 3), Some(1));
        m.spend(1, 5);
        assert_eq!(m.budget(1, 3), Some(0));
        assert_eq!(m.budget(2, 3), Some(3));
    }
}
