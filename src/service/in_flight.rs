//! The kills this process is executing, by history id: between its intent and its outcomes a
//! kill looks exactly like one interrupted by a crash, so reconciliation leaves these alone.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Clone, Default)]
pub(super) struct InFlight(Arc<Mutex<HashSet<String>>>);

/// Marks one kill as executing until dropped (also when the kill fails or panics).
pub(super) struct InFlightGuard {
    set: InFlight,
    history_id: String,
}

impl InFlight {
    fn lock(&self) -> MutexGuard<'_, HashSet<String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn enter(&self, history_id: &str) -> InFlightGuard {
        self.lock().insert(history_id.to_owned());
        InFlightGuard {
            set: self.clone(),
            history_id: history_id.to_owned(),
        }
    }

    pub(super) fn contains(&self, history_id: &str) -> bool {
        self.lock().contains(history_id)
    }

    /// The history ids executing now.
    pub(super) fn ids(&self) -> Vec<String> {
        self.lock().iter().cloned().collect()
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.set.lock().remove(&self.history_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kill_is_in_flight_until_its_guard_drops() {
        let set = InFlight::default();
        let guard = set.enter("h1");
        assert!(set.contains("h1") && !set.contains("h2"));
        assert_eq!(set.ids(), ["h1"]);
        drop(guard);
        assert!(!set.contains("h1") && set.ids().is_empty());
    }
}
