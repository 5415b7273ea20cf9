//! The signatures accepted within the clock window, so that none is accepted twice. A signature
//! dated `d` can only verify while `|now - d| <= skew`, so it is kept until `d + skew` and then
//! forgotten: entries are grouped by their date's second and whole seconds leave at once. The
//! cache holds at most `capacity` signatures; when it is full it refuses to take more (the caller
//! refuses the request) — it never forgets a live signature to make room, which would let that
//! signature be replayed. Pure: the caller supplies the time and does the locking.

use std::collections::{BTreeMap, HashSet};

pub type Signature = [u8; 32];

/// Why a signature was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayRefusal {
    /// This signature was accepted before, within the window.
    Replayed,
    /// The cache is full of live signatures; the oldest leaves in this many seconds.
    Full { retry_after_secs: u64 },
}

pub struct ReplayCache {
    skew_secs: i64,
    capacity: usize,
    len: usize,
    by_date: BTreeMap<i64, HashSet<Signature>>,
}

impl ReplayCache {
    pub fn new(skew_secs: i64, capacity: usize) -> Self {
        Self {
            skew_secs,
            capacity,
            len: 0,
            by_date: BTreeMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes `signature`, dated `date` (Unix seconds, already checked to be within the window of
    /// `now`), unless it was taken before or there is no room.
    pub fn remember(
        &mut self,
        signature: Signature,
        date: i64,
        now: i64,
    ) -> Result<(), ReplayRefusal> {
        self.forget_expired(now);
        if self
            .by_date
            .get(&date)
            .is_some_and(|seen| seen.contains(&signature))
        {
            return Err(ReplayRefusal::Replayed);
        }
        if self.len >= self.capacity {
            let oldest = self.by_date.keys().next().copied().unwrap_or(now);
            let leaves_at = oldest + self.skew_secs + 1;
            return Err(ReplayRefusal::Full {
                retry_after_secs: u64::try_from(leaves_at - now).unwrap_or(0).max(1),
            });
        }
        self.by_date.entry(date).or_default().insert(signature);
        self.len += 1;
        Ok(())
    }

    /// Gives back a signature taken by [`remember`](Self::remember) for a request that was then
    /// refused for another reason (a rate limit), so that the client may send it again.
    pub fn forget(&mut self, signature: &Signature, date: i64) {
        if let Some(seen) = self.by_date.get_mut(&date)
            && seen.remove(signature)
        {
            self.len -= 1;
            if seen.is_empty() {
                self.by_date.remove(&date);
            }
        }
    }

    /// Drops every second whose signatures can no longer verify.
    fn forget_expired(&mut self, now: i64) {
        while let Some(entry) = self.by_date.first_entry() {
            if *entry.key() >= now - self.skew_secs {
                break;
            }
            self.len -= entry.remove().len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SKEW: i64 = 300;
    const NOW: i64 = 1_800_000_000;

    fn sig(n: u8) -> Signature {
        [n; 32]
    }

    #[test]
    fn a_signature_is_taken_once_within_its_window() {
        let mut cache = ReplayCache::new(SKEW, 10);
        assert_eq!(cache.remember(sig(1), NOW, NOW), Ok(()));
        assert_eq!(
            cache.remember(sig(1), NOW, NOW + SKEW),
            Err(ReplayRefusal::Replayed),
            "still refused at the window's edge"
        );
        // The same bytes under another date are another request.
        assert_eq!(cache.remember(sig(1), NOW - 1, NOW), Ok(()));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn signatures_leave_once_their_date_is_out_of_the_window() {
        let mut cache = ReplayCache::new(SKEW, 10);
        cache.remember(sig(1), NOW - SKEW, NOW).unwrap();
        cache.remember(sig(2), NOW + SKEW, NOW).unwrap();
        cache.remember(sig(3), NOW + 5, NOW).unwrap();
        assert_eq!(cache.len(), 3);
        // One second later the first can no longer verify, so it is dropped.
        cache.remember(sig(4), NOW + 1, NOW + 1).unwrap();
        assert_eq!(cache.len(), 3);
        cache
            .remember(sig(5), NOW + 2 * SKEW, NOW + 2 * SKEW)
            .unwrap();
        assert_eq!(cache.len(), 2, "only the future-dated one and the new one");
    }

    #[test]
    fn a_full_cache_refuses_and_never_forgets_a_live_signature() {
        let mut cache = ReplayCache::new(SKEW, 2);
        cache.remember(sig(1), NOW - 10, NOW).unwrap();
        cache.remember(sig(2), NOW, NOW).unwrap();
        assert_eq!(
            cache.remember(sig(3), NOW, NOW),
            Err(ReplayRefusal::Full {
                retry_after_secs: (SKEW - 10 + 1) as u64
            })
        );
        assert_eq!(
            cache.remember(sig(1), NOW - 10, NOW + 1),
            Err(ReplayRefusal::Replayed),
            "a replay is named as such even when the cache is full"
        );
        // Room again once the oldest date leaves the window.
        assert_eq!(cache.remember(sig(3), NOW, NOW + SKEW - 9), Ok(()));
    }

    #[test]
    fn a_forgotten_signature_may_come_again() {
        let mut cache = ReplayCache::new(SKEW, 2);
        cache.remember(sig(1), NOW, NOW).unwrap();
        cache.forget(&sig(1), NOW);
        cache.forget(&sig(9), NOW);
        assert!(cache.is_empty());
        assert_eq!(cache.remember(sig(1), NOW, NOW), Ok(()));
    }
}
