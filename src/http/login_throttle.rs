//! Password guessing slowed down: failed logins count against the user name and against the
//! client address ([`FailureSketch`]), and after `FREE_FAILURES` of either, each further attempt
//! must wait 1 s, 2 s, 4 s … (at most `MAX_DELAY`) after the previous one. An early attempt
//! waits out its turn when the wait is short and a delay slot is free; otherwise it is refused
//! at once with 429 and the seconds to wait, so no attacker can pile up sleeping tasks. Each
//! attempt is counted as a failure when it starts (so concurrent guesses see each other) and
//! taken back if the password was right. Password checks (Argon2, one at a time: they share one
//! memory block) run off the async workers, with a bounded queue.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use super::failure_sketch::FailureSketch;
use super::metrics::{LimitKind, limit_hit};
use super::rate_limit::ClientAddress;
use crate::error::{DasError, DasResult};
use crate::secrets::PasswordHasher;

/// Failures of a name or an address that cost no delay.
pub const FREE_FAILURES: u32 = 5;
/// The longest delay between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(30);
/// Longer waits are answered 429 instead of held.
const MAX_HELD_WAIT: Duration = Duration::from_secs(10);
/// Attempts held while they wait their turn, all callers together.
const MAX_DELAYED_LOGINS: usize = 32;
/// Password checks waiting or running, all callers together.
const MAX_QUEUED_CHECKS: usize = 32;

/// The delay owed after `failures` failures.
pub fn delay_after(failures: u32) -> Duration {
    match failures.checked_sub(FREE_FAILURES) {
        None => Duration::ZERO,
        Some(extra) => Duration::from_secs(1u64 << extra.min(6)).min(MAX_DELAY),
    }
}

#[derive(Default)]
struct Sketches {
    names: FailureSketch,
    addresses: FailureSketch,
}

pub struct LoginThrottle {
    epoch: Instant,
    sketches: Mutex<Sketches>,
    delayed: Semaphore,
    queued: Semaphore,
    /// One Argon2 check at a time: they share one memory block, and a second core is left to
    /// everything else.
    hashing: tokio::sync::Mutex<()>,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            sketches: Mutex::default(),
            delayed: Semaphore::new(MAX_DELAYED_LOGINS),
            queued: Semaphore::new(MAX_QUEUED_CHECKS),
            hashing: tokio::sync::Mutex::new(()),
        }
    }
}

/// Whole seconds to wait, rounded up and at least 1 (what `Retry-After` says).
pub fn whole_seconds(wait: Duration) -> u64 {
    u64::try_from(wait.as_millis().div_ceil(1000))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// An admitted login attempt, counted as a failure until its password proves right.
pub struct LoginAttempt<'a> {
    throttle: &'a LoginThrottle,
    name: String,
    address: ClientAddress,
}

impl LoginThrottle {
    /// Milliseconds since the epoch, rounded up: an attempt's recorded time is never before
    /// it happened, so the turn a delay after it is never early.
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_micros().div_ceil(1000)).unwrap_or(u64::MAX)
    }

    /// The exact time left until `at_ms`.
    fn until_ms(&self, at_ms: u64) -> Duration {
        Duration::from_millis(at_ms).saturating_sub(self.epoch.elapsed())
    }

    fn sketches(&self) -> std::sync::MutexGuard<'_, Sketches> {
        self.sketches.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Admits a login of `name` from `address`: at once, after waiting its turn, or not at all
    /// (429 with the seconds to wait).
    pub async fn attempt(&self, name: &str, address: ClientAddress) -> DasResult<LoginAttempt<'_>> {
        let wait = self.reserve(name, &address)?;
        if let Some((wait, _permit)) = wait {
            limit_hit(LimitKind::LoginDelayed);
            tokio::time::sleep(wait).await;
        }
        Ok(LoginAttempt {
            throttle: self,
            name: name.to_owned(),
            address,
        })
    }

    /// Counts the attempt now and says how long it must wait first (with the delay slot it
    /// holds meanwhile), or refuses it.
    fn reserve(
        &self,
        name: &str,
        address: &ClientAddress,
    ) -> DasResult<Option<(Duration, tokio::sync::SemaphorePermit<'_>)>> {
        let now = self.now_ms();
        let mut sketches = self.sketches();
        let by_name = sketches.names.estimate(name, now);
        let by_address = sketches.addresses.estimate(address, now);
        // A key owes nothing until its free failures are spent; then its next turn comes a
        // delay after its latest attempt (which may itself be a turn reserved in the future).
        let turn_at = [by_name, by_address]
            .iter()
            .map(|f| match delay_after(f.count) {
                Duration::ZERO => now,
                delay => f.last_ms + delay.as_millis() as u64,
            })
            .fold(now, u64::max);
        let wait = if turn_at > now {
            self.until_ms(turn_at)
        } else {
            Duration::ZERO
        };
        let permit = if wait.is_zero() {
            None
        } else {
            let permit = (wait <= MAX_HELD_WAIT)
                .then(|| self.delayed.try_acquire().ok())
                .flatten();
            match permit {
                Some(p) => Some((wait, p)),
                None => {
                    limit_hit(LimitKind::LoginRefused);
                    return Err(DasError::RateLimited {
                        retry_after_secs: whole_seconds(wait),
                    });
                }
            }
        };
        sketches.names.record(name, turn_at, now);
        sketches.addresses.record(address, turn_at, now);
        Ok(permit)
    }
}

impl LoginAttempt<'_> {
    /// Checks `password` against `phc` (or burns the same time when there is no such user) and
    /// settles the attempt: a right password clears the name's failures and takes back the
    /// address's count.
    pub async fn check_password(
        self,
        hasher: Arc<PasswordHasher>,
        password: String,
        phc: Option<String>,
    ) -> DasResult<bool> {
        let throttle = self.throttle;
        let Ok(_queued) = throttle.queued.try_acquire() else {
            // Not a guess: it was never checked.
            let mut sketches = throttle.sketches();
            sketches.names.take_back(self.name.as_str());
            sketches.addresses.take_back(&self.address);
            limit_hit(LimitKind::LoginBusy);
            return Err(DasError::RateLimited {
                retry_after_secs: 1,
            });
        };
        let _hashing = throttle.hashing.lock().await;
        let ok = tokio::task::spawn_blocking(move || hasher.check(&password, phc.as_deref()))
            .await
            .map_err(DasError::internal)?;
        if ok {
            let mut sketches = throttle.sketches();
            sketches.names.clear(self.name.as_str());
            sketches.addresses.take_back(&self.address);
        }
        Ok(ok)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_from_the_sixth_failure_and_are_bounded() {
        let secs: Vec<u64> = (0..14).map(|n| delay_after(n).as_secs()).collect();
        assert_eq!(secs, [0, 0, 0, 0, 0, 1, 2, 4, 8, 16, 30, 30, 30, 30]);
        assert_eq!(delay_after(u32::MAX), MAX_DELAY);
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1001)), 2);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
    }

    fn address(last: u8) -> ClientAddress {
        ClientAddress::from(std::net::IpAddr::from([10, 0, 0, last]))
    }

    #[tokio::test]
    async fn the_attempt_after_the_free_ones_waits_or_is_refused() {
        let throttle = LoginThrottle::default();
        for _ in 0..FREE_FAILURES {
            assert!(matches!(throttle.reserve("eve", &address(1)), Ok(None)));
        }
        // The name is owed a delay from any address, and so is the address for any name.
        let (wait, _slot) = throttle.reserve("eve", &address(2)).unwrap().unwrap();
        assert!(wait > Duration::from_millis(900), "{wait:?}");
        assert!(throttle.reserve("bob", &address(1)).unwrap().is_some());
        assert!(matches!(throttle.reserve("bob", &address(3)), Ok(None)));
        // Reserved turns queue up until the wait is too long to hold.
        let mut refused = None;
        for _ in 0..10 {
            if let Err(e) = throttle.reserve("eve", &address(4)) {
                refused = Some(e);
                break;
            }
        }
        match refused {
            Some(DasError::RateLimited { retry_after_secs }) => {
                assert!(
                    retry_after_secs > MAX_HELD_WAIT.as_secs(),
                    "{retry_after_secs}"
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
