//! Recent failed logins per key (a user name, a client address) in fixed memory: a count-min
//! sketch of `ROWS` rows, each key counted in one slot per row under an independent random hash.
//! Keys that share a slot share its count, so a key's estimate may be too high (a stranger's
//! failures slow it down) but never too low (no key escapes its own failures), and no flood of
//! new keys can grow it or push a key's record out. A slot forgets after `FORGET_AFTER_MS`
//! without a failure. Pure: the caller supplies the time and does the locking.

use std::hash::{BuildHasher, Hash, RandomState};

const ROWS: usize = 2;
const SLOTS_PER_ROW: usize = 16_384;
/// Failures older than this no longer count.
pub const FORGET_AFTER_MS: u64 = 15 * 60 * 1000;

#[derive(Clone, Copy, Default)]
struct Slot {
    count: u32,
    last_ms: u64,
}

impl Slot {
    fn live(self, now_ms: u64) -> Self {
        if now_ms.saturating_sub(self.last_ms) > FORGET_AFTER_MS {
            Slot::default()
        } else {
            self
        }
    }
}

/// A key's recent failures: how many, and when the latest (or the latest reserved attempt) was.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Failures {
    pub count: u32,
    pub last_ms: u64,
}

pub struct FailureSketch {
    hashers: [RandomState; ROWS],
    rows: Vec<Slot>,
}

impl Default for FailureSketch {
    fn default() -> Self {
        Self {
            hashers: std::array::from_fn(|_| RandomState::new()),
            rows: vec![Slot::default(); ROWS * SLOTS_PER_ROW],
        }
    }
}

impl FailureSketch {
    fn slots<K: Hash + ?Sized>(&self, key: &K) -> [usize; ROWS] {
        std::array::from_fn(|row| {
            row * SLOTS_PER_ROW + (self.hashers[row].hash_one(key) as usize) % SLOTS_PER_ROW
        })
    }

    /// The smallest count and the earliest time over the key's slots: each slot holds at least
    /// the key's own, so the smallest is the closest to it.
    pub fn estimate<K: Hash + ?Sized>(&self, key: &K, now_ms: u64) -> Failures {
        self.slots(key)
            .iter()
            .map(|&i| self.rows[i].live(now_ms))
            .fold(None, |acc: Option<Failures>, s| {
                Some(match acc {
                    None => Failures {
                        count: s.count,
                        last_ms: s.last_ms,
                    },
                    Some(f) => Failures {
                        count: f.count.min(s.count),
                        last_ms: f.last_ms.min(s.last_ms),
                    },
                })
            })
            .unwrap_or_default()
    }

    /// Counts one failure (or an attempt that may become one) of `key` at `at_ms`.
    pub fn record<K: Hash + ?Sized>(&mut self, key: &K, at_ms: u64, now_ms: u64) {
        for i in self.slots(key) {
            let live = self.rows[i].live(now_ms);
            self.rows[i] = Slot {
                count: live.count.saturating_add(1),
                last_ms: live.last_ms.max(at_ms),
            };
        }
    }

    /// Takes back one count of `key` (an attempt counted in advance that succeeded).
    pub fn take_back<K: Hash + ?Sized>(&mut self, key: &K) {
        for i in self.slots(key) {
            self.rows[i].count = self.rows[i].count.saturating_sub(1);
        }
    }

    /// Forgets `key`'s failures (its password was just given right).
    pub fn clear<K: Hash + ?Sized>(&mut self, key: &K) {
        for i in self.slots(key) {
            self.rows[i].count = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_key_forget_and_clear() {
        let mut sketch = FailureSketch::default();
        for t in 0..3 {
            sketch.record("alice", 1_000 + t, 1_000 + t);
        }
        assert_eq!(
            sketch.estimate("alice", 2_000),
            Failures {
                count: 3,
                last_ms: 1_002
            }
        );
        assert_eq!(sketch.estimate("bob", 2_000).count, 0);
        sketch.take_back("alice");
        assert_eq!(sketch.estimate("alice", 2_000).count, 2);
        assert_eq!(
            sketch.estimate("alice", 1_002 + FORGET_AFTER_MS + 1).count,
            0,
            "forgotten after a quiet spell"
        );
        sketch.clear("alice");
        assert_eq!(sketch.estimate("alice", 2_000).count, 0);
    }

    #[test]
    fn a_flood_of_other_keys_never_lowers_a_key_and_rarely_raises_it() {
        let mut sketch = FailureSketch::default();
        for _ in 0..10 {
            sketch.record("target", 0, 0);
        }
        for n in 0..5_000u32 {
            sketch.record(&n, 1, 1);
        }
        assert!(sketch.estimate("target", 2).count >= 10);
        let raised = (100_000..110_000u32)
            .filter(|n| sketch.estimate(n, 2).count > 0)
            .count();
        // 5,000 keys in 16,384 slots per row: about 8 % of fresh keys collide in both rows.
        assert!(raised < 1_500, "{raised} of 10,000 fresh keys look guilty");
    }
}
