//! A keyed rate limiter (GCRA: one "theoretical arrival time" per key) whose table an attacker
//! cannot grow without bound. A key whose budget is whole again carries no information and is
//! swept when its shard fills; if a shard is still full of keys in debt, a new key is refused
//! rather than tracked (the table caps memory; keys already tracked keep their budgets). Pure:
//! the caller supplies the time, in nanoseconds since any fixed epoch.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::Mutex;
use std::time::Duration;

const SHARDS: usize = 16;
/// A full shard is swept at most this often, so a flood of new keys costs no repeated scans.
const SWEEP_EVERY_NS: u64 = 100_000_000;

/// Why a request was not let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Over the rate: the key's next request fits after this long.
    Wait(Duration),
    /// The table is full of keys in debt and this key is not one of them.
    TableFull,
}

struct Shard<K> {
    arrivals: HashMap<K, u64>,
    next_sweep: u64,
}

pub struct KeyedLimiter<K> {
    /// Nanoseconds one request costs.
    interval: u64,
    /// How far ahead of now a key's arrival time may run: `burst - 1` intervals.
    tolerance: u64,
    shard_capacity: usize,
    hasher: RandomState,
    shards: Box<[Mutex<Shard<K>>]>,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    /// `per_second` and `burst` are at least 1; `capacity` keys are tracked at most.
    pub fn new(per_second: u32, burst: u32, capacity: usize) -> Self {
        let interval = 1_000_000_000 / u64::from(per_second.max(1));
        Self {
            interval,
            tolerance: interval * u64::from(burst.max(1) - 1),
            shard_capacity: capacity.div_ceil(SHARDS).max(1),
            hasher: RandomState::new(),
            shards: (0..SHARDS)
                .map(|_| {
                    Mutex::new(Shard {
                        arrivals: HashMap::new(),
                        next_sweep: 0,
                    })
                })
                .collect(),
        }
    }

    fn shard(&self, key: &K) -> std::sync::MutexGuard<'_, Shard<K>> {
        let i = (self.hasher.hash_one(key) as usize) % SHARDS;
        self.shards[i].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether `key` could make a request at `now`, without spending anything.
    pub fn peek(&self, key: &K, now: u64) -> Result<(), Refusal> {
        let shard = self.shard(key);
        let arrival = shard.arrivals.get(key).copied().unwrap_or(now).max(now);
        self.fits(arrival, now)
    }

    /// Spends one request of `key`'s budget at `now`, if it has one.
    pub fn check(&self, key: &K, now: u64) -> Result<(), Refusal> {
        let mut shard = self.shard(key);
        let arrival = match shard.arrivals.get(key) {
            Some(at) => (*at).max(now),
            None => {
                if shard.arrivals.len() >= self.shard_capacity {
                    Self::sweep(&mut shard, now);
                }
                if shard.arrivals.len() >= self.shard_capacity {
                    return Err(Refusal::TableFull);
                }
                now
            }
        };
        self.fits(arrival, now)?;
        shard.arrivals.insert(key.clone(), arrival + self.interval);
        Ok(())
    }

    fn fits(&self, arrival: u64, now: u64) -> Result<(), Refusal> {
        let ahead = arrival - now;
        if ahead > self.tolerance {
            Err(Refusal::Wait(Duration::from_nanos(ahead - self.tolerance)))
        } else {
            Ok(())
        }
    }

    /// Drops the keys whose budget is whole again (forgetting them changes nothing).
    fn sweep(shard: &mut Shard<K>, now: u64) {
        if now < shard.next_sweep {
            return;
        }
        shard.next_sweep = now + SWEEP_EVERY_NS;
        shard.arrivals.retain(|_, arrival| *arrival > now);
    }

    /// Keys tracked now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).arrivals.len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn a_burst_then_the_rate() {
        let limiter = KeyedLimiter::new(2, 3, 100);
        for _ in 0..3 {
            assert_eq!(limiter.check(&"a", 0), Ok(()));
        }
        assert_eq!(
            limiter.check(&"a", 0),
            Err(Refusal::Wait(Duration::from_millis(500)))
        );
        assert_eq!(limiter.peek(&"a", 0), limiter.check(&"a", 0));
        assert_eq!(limiter.check(&"b", 0), Ok(()), "keys are separate");
        assert_eq!(limiter.check(&"a", SECOND / 2), Ok(()));
        assert!(limiter.check(&"a", SECOND / 2).is_err());
        // Refused requests cost nothing: after a full pause the whole burst is back.
        for _ in 0..3 {
            assert_eq!(limiter.check(&"a", 10 * SECOND), Ok(()));
        }
    }

    #[test]
    fn peeking_spends_nothing() {
        let limiter = KeyedLimiter::new(1, 1, 100);
        for _ in 0..5 {
            assert_eq!(limiter.peek(&"a", 0), Ok(()));
        }
        assert_eq!(limiter.check(&"a", 0), Ok(()));
        assert_eq!(
            limiter.peek(&"a", 0),
            Err(Refusal::Wait(Duration::from_secs(1)))
        );
    }

    #[test]
    fn the_table_is_bounded_and_new_keys_are_refused_while_it_is_full_of_debt() {
        let limiter = KeyedLimiter::new(1, 2, SHARDS);
        let mut refused = 0;
        for key in 0..10_000u32 {
            if limiter.check(&key, 0) == Err(Refusal::TableFull) {
                refused += 1;
            }
        }
        assert!(limiter.len() <= SHARDS, "{}", limiter.len());
        assert!(refused >= 10_000 - SHARDS);
        // Keys in the table keep their budget.
        let tracked = (0..10_000u32)
            .find(|k| limiter.peek(k, 0) == Ok(()) && limiter.check(k, 0) == Ok(()))
            .expect("a tracked key with budget left");
        assert_eq!(
            limiter.check(&tracked, 0),
            Err(Refusal::Wait(Duration::from_secs(1)))
        );
        // Once budgets are whole again, the sweep makes room.
        assert_eq!(limiter.check(&20_000u32, 5 * SECOND), Ok(()));
    }
}
