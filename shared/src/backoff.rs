//! Waits between the retries Argus runs itself (optimistic incident writes, cancelled DynamoDB
//! transactions, EventBridge entries, vendor webhooks): exponential, capped, and jittered, so
//! that invocations failing together (a throttled table, a vendor outage) do not all retry at
//! the same instant and fail together again.

use std::time::Duration;

/// An exponential backoff: up to `first` before the first retry, doubling for each further
/// retry, never more than `cap`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub first: Duration,
    pub cap: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, cap: Duration) -> Self {
        Self { first, cap }
    }

    /// The longest wait before retry `retry` (1 for the first retry): `first × 2^(retry − 1)`,
    /// at most `cap`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1));
        self.first.saturating_mul(factor).min(self.cap)
    }

    /// The wait before retry `retry`: [`jitter`] of its ceiling.
    pub fn wait(&self, retry: u32) -> Duration {
        jitter(self.ceiling(retry))
    }
}

/// A wait drawn uniformly from `[ceiling / 2, ceiling]`: spread out, yet never much shorter
/// than the backoff asked for, so a throttled service still gets its pause.
pub fn jitter(ceiling: Duration) -> Duration {
    let half = ceiling / 2;
    let spread = u64::try_from((ceiling - half).as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(fastrand::u64(0..=spread))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ceiling_doubles_up_to_its_cap() {
        let backoff = Backoff::new(Duration::from_millis(100), Duration::from_millis(350));
        let ceilings: Vec<_> = (1..=4).map(|retry| backoff.ceiling(retry)).collect();
        assert_eq!(
            ceilings,
            [100, 200, 350, 350].map(Duration::from_millis),
            "retry 0 is treated as the first"
        );
        assert_eq!(backoff.ceiling(0), Duration::from_millis(100));
        assert_eq!(backoff.ceiling(u32::MAX), Duration::from_millis(350));
    }

    #[test]
    fn waits_stay_within_half_and_all_of_the_ceiling_and_spread_out() {
        let backoff = Backoff::new(Duration::from_millis(10), Duration::from_secs(1));
        let waits: Vec<_> = (0..1000).map(|_| backoff.wait(3)).collect();
        let ceiling = Duration::from_millis(40);
        assert!(
            waits
                .iter()
                .all(|wait| *wait >= ceiling / 2 && *wait <= ceiling),
            "{waits:?}"
        );
        let distinct: std::collections::BTreeSet<_> = waits.iter().collect();
        assert!(distinct.len() > 900, "{} distinct waits", distinct.len());
        let below_middle = waits.iter().filter(|wait| **wait < ceiling * 3 / 4).count();
        assert!(
            (350..=650).contains(&below_middle),
            "{below_middle} of 1000 in the lower half of the range"
        );
    }

    #[test]
    fn a_zero_backoff_never_waits() {
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        assert_eq!(
            Backoff::new(Duration::ZERO, Duration::ZERO).wait(5),
            Duration::ZERO
        );
    }
}
