//! The time a kill request has, cut into phases so the answer comes by its deadline: list and
//! send until `stop_sending`, wait for a batch still in flight until `give_up`, verify until
//! `verify_until`, and answer right after.

use std::time::Duration;

use tokio::time::Instant;

/// Kept after verification for recording the outcomes and sending the answer.
const ANSWER_MARGIN: Duration = Duration::from_millis(150);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::service) struct KillTiming {
    pub stop_sending: Instant,
    pub give_up: Instant,
    pub verify_until: Instant,
}

impl KillTiming {
    /// Phases of `deadline` from `start`. Verification gets a fifth of it, between 50 ms and
    /// `verify_timeout`; a batch still in flight when sending stops gets half of that.
    pub fn new(start: Instant, deadline: Duration, verify_timeout: Duration) -> Self {
        let answer_by = start + deadline - ANSWER_MARGIN.min(deadline / 10);
        let reserve = (deadline / 5).clamp(
            Duration::from_millis(50),
            verify_timeout.max(Duration::from_millis(50)),
        );
        let stop_sending = answer_by - reserve;
        Self {
            stop_sending,
            give_up: stop_sending + reserve / 2,
            verify_until: answer_by,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phases_are_ordered_and_end_before_the_deadline() {
        let start = Instant::now();
        let ms = Duration::from_millis;
        for (deadline, verify) in [(100, 2000), (2000, 2000), (15_000, 2000), (600_000, 0)] {
            let t = KillTiming::new(start, ms(deadline), ms(verify));
            assert!(start < t.stop_sending, "{deadline}");
            assert!(
                t.stop_sending < t.give_up && t.give_up < t.verify_until,
                "{deadline}"
            );
            assert!(t.verify_until < start + ms(deadline), "{deadline}");
        }
        // The default: 15 s to answer, 2 s kept for verification.
        let t = KillTiming::new(start, ms(15_000), ms(2000));
        assert_eq!(t.verify_until - t.stop_sending, ms(2000));
        assert_eq!(t.verify_until, start + ms(14_850));
    }
}
