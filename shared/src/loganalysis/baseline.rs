//! Per-template baselines: an exponentially weighted mean and variance of the count per window,
//! updated incrementally (West/Finch) and stored, plus presence bookkeeping for heartbeats.
//!
//! Windows are numbered (`window = start / window_seconds`). A template absent from a window is
//! not written; its stats are caught up with zero counts the next time they are read, which gives
//! the same numbers as writing a zero every window without the writes.

use serde::{Deserialize, Serialize};

/// Beyond this many missed windows the weighted mean and variance are zero to within any
/// precision that matters (0.9^2000 ≈ 1e-92), so the catch-up stops iterating.
const MAX_CATCH_UP: i64 = 2_000;

/// The stored state of one template's baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BaselineStats {
    /// Exponentially weighted mean of the count per window.
    pub mean: f64,
    /// Exponentially weighted variance of the count per window.
    pub variance: f64,
    /// How many windows are folded in (zeros included).
    pub windows: u64,
    /// The last window folded in; `None` before the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_window: Option<i64>,
    /// The last window the template was seen in, and how many consecutive windows up to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_present_window: Option<i64>,
    #[serde(default)]
    pub present_streak: u64,
    /// Lines counted over all windows.
    #[serde(default)]
    pub lines_total: u64,
    /// The window length the stats were learned with; other lengths start afresh.
    pub window_seconds: u32,
}

impl BaselineStats {
    pub fn new(window_seconds: u32) -> Self {
        Self {
            mean: 0.0,
            variance: 0.0,
            windows: 0,
            last_window: None,
            last_present_window: None,
            present_streak: 0,
            lines_total: 0,
            window_seconds,
        }
    }

    pub fn stddev(&self) -> f64 {
        self.variance.max(0.0).sqrt()
    }

    /// Folds one window's count in. The first window sets the mean; later ones move it by
    /// `alpha` of the difference, and the variance by the matching incremental rule
    /// `var' = (1 - alpha) * (var + alpha * diff²)`.
    fn observe(&mut self, count: u64, alpha: f64) {
        let value = count as f64;
        if self.windows == 0 {
            self.mean = value;
            self.variance = 0.0;
        } else {
            let diff = value - self.mean;
            let increment = alpha * diff;
            self.mean += increment;
            self.variance = (1.0 - alpha) * (self.variance + diff * increment);
        }
        self.windows += 1;
        self.lines_total += count;
    }

    /// The stats as of the end of window `window - 1`: windows after the last folded one and
    /// before `window` count as zero. Stats learned with another window length start afresh.
    pub fn caught_up_to(&self, window: i64, window_seconds: u32, alpha: f64) -> Self {
        if self.window_seconds != window_seconds {
            let mut fresh = Self::new(window_seconds);
            fresh.lines_total = self.lines_total;
            return fresh;
        }
        let mut stats = self.clone();
        let Some(last) = stats.last_window else {
            return stats;
        };
        let missed = (window - 1 - last).clamp(0, MAX_CATCH_UP);
        for _ in 0..missed {
            stats.observe(0, alpha);
        }
        if window - 1 - last > MAX_CATCH_UP {
            stats.windows += u64::try_from(window - 1 - last - MAX_CATCH_UP).unwrap_or(0);
        }
        if window - 1 > last {
            stats.last_window = Some(window - 1);
        }
        stats
    }

    /// Folds in window `window` with `count` lines, after catching up; a window already folded
    /// in changes nothing (that is what makes a re-processed window count once).
    pub fn with_window(&self, window: i64, count: u64, window_seconds: u32, alpha: f64) -> Self {
        if self.window_seconds == window_seconds
            && self.last_window.is_some_and(|last| last >= window)
        {
            return self.clone();
        }
        let mut stats = self.caught_up_to(window, window_seconds, alpha);
        stats.observe(count, alpha);
        stats.last_window = Some(window);
        if count > 0 {
            stats.present_streak = match stats.last_present_window {
                Some(previous) if previous == window - 1 => stats.present_streak + 1,
                _ => 1,
            };
            stats.last_present_window = Some(window);
        }
        stats
    }

    /// The stats of a template made of two (one was generalised into the other): counts add, so
    /// means and variances add (the counts are treated as independent), histories align.
    pub fn merged(&self, other: &Self, alpha: f64) -> Self {
        if self.window_seconds != other.window_seconds {
            let mut kept = self.clone();
            kept.lines_total += other.lines_total;
            return kept;
        }
        let last = match (self.last_window, other.last_window) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let (a, b) = match last {
            Some(last) => (
                self.caught_up_to(last + 1, self.window_seconds, alpha),
                other.caught_up_to(last + 1, other.window_seconds, alpha),
            ),
            None => (self.clone(), other.clone()),
        };
        let (last_present_window, present_streak) =
            match (a.last_present_window, b.last_present_window) {
                (Some(x), Some(y)) if x == y => (Some(x), a.present_streak.max(b.present_streak)),
                (Some(x), Some(y)) if x > y => (Some(x), a.present_streak),
                (Some(_), Some(y)) => (Some(y), b.present_streak),
                (Some(x), None) => (Some(x), a.present_streak),
                (None, y) => (y, b.present_streak),
            };
        Self {
            mean: a.mean + b.mean,
            variance: a.variance + b.variance,
            windows: a.windows.max(b.windows),
            last_window: last,
            last_present_window,
            present_streak,
            lines_total: a.lines_total + b.lines_total,
            window_seconds: self.window_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALPHA: f64 = 0.2;

    /// The definition, computed from scratch over the whole series: the first value weighs
    /// `(1 - alpha)^(n-1)`, value `i` weighs `alpha (1 - alpha)^(n-1-i)`; the variance is the
    /// weighted mean of squared distances to the weighted mean.
    fn reference(series: &[u64]) -> (f64, f64) {
        let n = series.len();
        let weights: Vec<f64> = (0..n)
            .map(|i| {
                if i == 0 {
                    (1.0 - ALPHA).powi(n as i32 - 1)
                } else {
                    ALPHA * (1.0 - ALPHA).powi((n - 1 - i) as i32)
                }
            })
            .collect();
        let mean: f64 = weights.iter().zip(series).map(|(w, &x)| w * x as f64).sum();
        let variance = weights
            .iter()
            .zip(series)
            .map(|(w, &x)| w * (x as f64 - mean).powi(2))
            .sum();
        (mean, variance)
    }

    #[test]
    fn the_incremental_update_equals_the_definition() {
        let series = [10, 12, 9, 30, 0, 11, 10, 10, 50, 7];
        let mut stats = BaselineStats::new(300);
        for (window, &count) in series.iter().enumerate() {
            stats = stats.with_window(window as i64, count, 300, ALPHA);
        }
        let (mean, variance) = reference(&series);
        assert!((stats.mean - mean).abs() < 1e-9, "{} vs {mean}", stats.mean);
        assert!((stats.variance - variance).abs() < 1e-9);
        assert_eq!(stats.windows, 10);
        assert_eq!(stats.lines_total, series.iter().sum::<u64>());
    }

    #[test]
    fn absent_windows_count_as_zeros_when_caught_up() {
        let mut written_every_window = BaselineStats::new(60);
        let mut written_when_seen = BaselineStats::new(60);
        let series = [5, 0, 0, 7, 0, 0, 0, 6];
        for (window, &count) in series.iter().enumerate() {
            let window = window as i64;
            written_every_window = written_every_window.with_window(window, count, 60, ALPHA);
            if count > 0 {
                written_when_seen = written_when_seen.with_window(window, count, 60, ALPHA);
            }
        }
        let caught_up = written_when_seen.caught_up_to(series.len() as i64, 60, ALPHA);
        assert!((caught_up.mean - written_every_window.mean).abs() < 1e-12);
        assert!((caught_up.variance - written_every_window.variance).abs() < 1e-12);
        assert_eq!(caught_up.windows, written_every_window.windows);
    }

    #[test]
    fn a_window_folded_in_twice_counts_once() {
        let once = BaselineStats::new(60).with_window(3, 10, 60, ALPHA);
        let twice = once.with_window(3, 10, 60, ALPHA);
        assert_eq!(once, twice);
        assert_eq!(twice.lines_total, 10);
        let earlier = twice.with_window(2, 99, 60, ALPHA);
        assert_eq!(earlier, once, "an older window changes nothing either");
    }

    #[test]
    fn presence_streaks_track_consecutive_windows() {
        let mut stats = BaselineStats::new(60);
        for window in 0..5 {
            stats = stats.with_window(window, 1, 60, ALPHA);
        }
        assert_eq!(stats.present_streak, 5);
        stats = stats.with_window(7, 1, 60, ALPHA);
        assert_eq!(stats.present_streak, 1, "a gap restarts the streak");
        assert_eq!(stats.last_present_window, Some(7));
    }

    #[test]
    fn merged_templates_add_their_rates() {
        let a = BaselineStats::new(60)
            .with_window(0, 10, 60, ALPHA)
            .with_window(1, 12, 60, ALPHA);
        let b = BaselineStats::new(60).with_window(1, 4, 60, ALPHA);
        let merged = a.merged(&b, ALPHA);
        assert!((merged.mean - (a.mean + b.mean)).abs() < 1e-12);
        assert_eq!(merged.windows, 2);
        assert_eq!(merged.lines_total, 26);
        assert_eq!(merged.last_window, Some(1));
    }

    #[test]
    fn another_window_length_starts_afresh() {
        let stats = BaselineStats::new(60).with_window(10, 5, 60, ALPHA);
        let moved = stats.caught_up_to(100, 300, ALPHA);
        assert_eq!(moved.windows, 0);
        assert_eq!(moved.window_seconds, 300);
        assert_eq!(moved.lines_total, 5);
    }

    #[test]
    fn a_long_absence_decays_to_zero_without_iterating_forever() {
        let stats = BaselineStats::new(60).with_window(0, 1000, 60, ALPHA);
        let later = stats.caught_up_to(1_000_000, 60, ALPHA);
        assert!(later.mean < 1e-6);
        assert_eq!(later.windows, 1_000_000);
        assert_eq!(later.last_window, Some(999_999));
    }
}
