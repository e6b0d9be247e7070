//! How anomalous a node is against its own normal behaviour, and by how much it is worse.
//!
//! Latency: a robust z-score against the node's normal distribution of the same statistic
//! (median, and a scale that is the larger of 1.4826·MAD and 1.2533·mean absolute deviation, so
//! a series that is flat most of the time still has a scale), in the bad direction only: a
//! node that got faster explains no latency alarm. Availability: the failure rate
//! (100 − availability) must be high both against the node's own normal spread and beyond
//! binomial noise at the bucket's request count with the node's pooled normal failure rate —
//! three failures in nine Lambda invocations is noise, thirty in eight hundred is not.
//!
//! The *excess* is the amount of badness a node adds in a bucket, in units that add up along
//! calls: request-seconds over normal for latency, failed requests over normal for
//! availability. Comparing a dependency's excess with the alarming node's is how localisation
//! judges whether the dependency can explain the alarm.

use super::model::{MetricTable, metric, statistic};

/// Fewer normal points than this and a node has no model (its readings are unknown).
pub const MIN_NORMAL_POINTS: usize = 10;
/// Scales a median absolute deviation to a standard deviation under a normal distribution.
const MAD_TO_SIGMA: f64 = 1.4826;
/// Scales a mean absolute deviation to a standard deviation under a normal distribution.
const MEAN_AD_TO_SIGMA: f64 = 1.2533;
/// z-scores are capped here so a zero-spread series gives a large finite number, not infinity.
pub const Z_CAP: f64 = 1.0e6;

/// The middle and the spread of a node's normal values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub scale: f64,
    pub points: usize,
}

/// The median of `values` (sorted in place); `None` when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    })
}

/// The robust spread of `values`, or `None` with fewer than [`MIN_NORMAL_POINTS`].
pub fn spread(values: &[f64]) -> Option<Spread> {
    if values.len() < MIN_NORMAL_POINTS {
        return None;
    }
    let mut sorted = values.to_vec();
    let middle = median(&mut sorted)?;
    let mut deviations: Vec<f64> = values.iter().map(|v| (v - middle).abs()).collect();
    let mad = median(&mut deviations)?;
    let mean_ad = deviations.iter().sum::<f64>() / deviations.len() as f64;
    Some(Spread {
        median: middle,
        scale: (MAD_TO_SIGMA * mad).max(MEAN_AD_TO_SIGMA * mean_ad),
        points: values.len(),
    })
}

fn z_of(deviation: f64, scale: f64) -> f64 {
    if scale > 0.0 {
        (deviation / scale).min(Z_CAP)
    } else if deviation > 0.0 {
        Z_CAP
    } else {
        0.0
    }
}

/// One node's reading in one bucket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Reading {
    /// How unusual, in robust standard deviations, in the bad direction (negative = better).
    pub z: f64,
    /// Badness added over the reference level, in additive units (see the module comment).
    pub excess: f64,
    /// The value in the bucket (seconds, or percent available).
    pub value: f64,
    /// The normal value (median) it is compared with.
    pub normal: f64,
}

/// A node's normal behaviour for one metric and statistic.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NodeModel {
    Latency {
        spread: Spread,
    },
    Availability {
        /// Spread of the failure rate in percent.
        failure_percent: Spread,
        /// Pooled failures over requests in the normal period, with one failure and two
        /// requests added so a node that never failed still has a (small) rate.
        pooled_failure_rate: f64,
    },
}

fn requests<'a>(table: &'a MetricTable, node: &str) -> Option<&'a [Option<f64>]> {
    table.series(node, metric::REQUESTS, statistic::SUM)
}

impl NodeModel {
    /// Fits a node's model from the normal table; `None` when the metric is not one
    /// localisation understands or there are too few normal points.
    pub fn fit(normal: &MetricTable, node: &str, metric_name: &str, stat: &str) -> Option<Self> {
        let values = normal.series(node, metric_name, stat)?;
        match metric_name {
            metric::LATENCY => {
                let present: Vec<f64> = values.iter().flatten().copied().collect();
                spread(&present).map(|spread| Self::Latency { spread })
            }
            metric::AVAILABILITY => {
                let counts = requests(normal, node);
                let (mut failures, mut total) = (0.0, 0.0);
                let mut rates = Vec::with_capacity(values.len());
                for (row, value) in values.iter().enumerate() {
                    let Some(available) = value else { continue };
                    rates.push(100.0 - available);
                    if let Some(Some(count)) = counts.and_then(|c| c.get(row)) {
                        failures += count * (100.0 - available) / 100.0;
                        total += count;
                    }
                }
                let failure_percent = spread(&rates)?;
                Some(Self::Availability {
                    failure_percent,
                    pooled_failure_rate: (failures + 1.0) / (total + 2.0),
                })
            }
            _ => None,
        }
    }

    /// How much worse than normal `value` is, in the metric's own unit (seconds, or failure
    /// percentage points); used for the level a node already had before the alarm.
    pub fn badness(&self, value: f64) -> f64 {
        match self {
            Self::Latency { spread } => value - spread.median,
            Self::Availability {
                failure_percent, ..
            } => (100.0 - value) - failure_percent.median,
        }
    }

    /// The reading of `node` at `row` of `window`. `already_bad` raises the reference level by
    /// what the node already showed before the alarm (in [`Self::badness`] units), so only the
    /// new part counts as excess; the z-score is always against normal.
    pub fn read(
        &self,
        window: &MetricTable,
        node: &str,
        metric_name: &str,
        stat: &str,
        row: usize,
        already_bad: f64,
    ) -> Option<Reading> {
        let value = (*window.series(node, metric_name, stat)?.get(row)?)?;
        let count = requests(window, node)
            .and_then(|c| c.get(row).copied().flatten())
            .filter(|count| *count > 0.0);
        let already_bad = already_bad.max(0.0);
        match self {
            Self::Latency { spread } => Some(Reading {
                z: z_of(value - spread.median, spread.scale),
                excess: (value - spread.median - already_bad).max(0.0) * count.unwrap_or(1.0),
                value,
                normal: spread.median,
            }),
            Self::Availability {
                failure_percent,
                pooled_failure_rate,
            } => {
                let rate = 100.0 - value;
                let against_spread = z_of(rate - failure_percent.median, failure_percent.scale);
                let normal = 100.0 - failure_percent.median;
                let Some(count) = count else {
                    return Some(Reading {
                        z: against_spread,
                        excess: (rate - failure_percent.median - already_bad).max(0.0) / 100.0,
                        value,
                        normal,
                    });
                };
                let p = *pooled_failure_rate;
                let failures = count * rate / 100.0;
                let expected = count * p;
                let beyond_noise = z_of(failures - expected, (count * p * (1.0 - p)).sqrt());
                Some(Reading {
                    z: against_spread.min(beyond_noise),
                    excess: (failures - count * (p + already_bad / 100.0)).max(0.0),
                    value,
                    normal,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spread_needs_enough_points_and_survives_a_flat_series() {
        assert!(spread(&[1.0; 9]).is_none());
        let flat = spread(&[100.0; 20]).unwrap();
        assert_eq!(flat.scale, 0.0);
        assert_eq!(z_of(1.0, flat.scale), Z_CAP);
        let mut mostly_flat = vec![100.0; 19];
        mostly_flat.push(90.0);
        let spread = spread(&mostly_flat).unwrap();
        assert_eq!(spread.median, 100.0);
        assert!(spread.scale > 0.0, "one dip gives the series a scale");
    }

    #[test]
    fn median_of_even_and_odd_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), Some(2.5));
        assert_eq!(median(&mut []), None);
    }
}
