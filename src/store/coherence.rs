//! Whether this process's read-through cache may answer, when other replicas write to the same
//! store. An embedded store has no other writer: its cache always answers. A shared store's cache
//! answers only while the change feed (`change_feed`) has confirmed, within [`TRUST_FOR`], that
//! it hears the store's change notifications; every change, and every loss of the feed, moves the
//! epoch on, and an entry answers only in the epoch it was loaded in.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long one confirmation that the feed hears the store lets the cache answer. With a
/// confirmation every [`super::change_feed::PING_EVERY`], a write on another replica is seen
/// here, or the cache stops answering, within this plus one ping: under the 1 s the issue sets.
pub const TRUST_FOR: Duration = Duration::from_millis(700);

pub struct Coherence {
    /// No other process writes to the store.
    exclusive: bool,
    epoch: AtomicU64,
    /// Milliseconds after `origin` of the last confirmation; 0 = none yet.
    confirmed_at: AtomicU64,
    origin: Instant,
}

impl Coherence {
    /// For a store only this process opens.
    pub fn exclusive() -> Arc<Self> {
        Arc::new(Self::new(true))
    }

    /// For a store other replicas write to: the cache stays off until the feed confirms.
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::new(false))
    }

    fn new(exclusive: bool) -> Self {
        Self {
            exclusive,
            epoch: AtomicU64::new(0),
            confirmed_at: AtomicU64::new(0),
            origin: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        // +1 so that a confirmation in the first millisecond is not "none".
        self.origin.elapsed().as_millis() as u64 + 1
    }

    /// Whether cached entries may answer now.
    pub fn trusted(&self) -> bool {
        if self.exclusive {
            return true;
        }
        let at = self.confirmed_at.load(Ordering::Acquire);
        at != 0 && self.now_ms().saturating_sub(at) < TRUST_FOR.as_millis() as u64
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Something changed in the store: every entry loaded before now stops answering.
    pub fn invalidate(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
    }

    /// The feed heard its own ping: every change committed before the ping has been heard.
    pub fn confirm(&self) {
        self.confirmed_at.store(self.now_ms(), Ordering::Release);
    }

    /// The feed lost its connection: notifications may have been missed.
    pub fn lost(&self) {
        self.confirmed_at.store(0, Ordering::Release);
        self.invalidate();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exclusive_store_is_always_trusted() {
        assert!(Coherence::exclusive().trusted());
    }

    #[test]
    fn a_shared_store_is_trusted_only_shortly_after_a_confirmation() {
        let c = Coherence::shared();
        assert!(!c.trusted(), "nothing confirmed yet");
        c.confirm();
        assert!(c.trusted());
        c.lost();
        assert!(!c.trusted());
        c.confirm();
        std::thread::sleep(TRUST_FOR + Duration::from_millis(20));
        assert!(!c.trusted(), "a confirmation lapses");
    }

    #[test]
    fn invalidation_moves_the_epoch() {
        let c = Coherence::shared();
        let before = c.epoch();
        c.invalidate();
        assert_ne!(c.epoch(), before);
        let before = c.epoch();
        c.lost();
        assert_ne!(c.epoch(), before);
    }
}
