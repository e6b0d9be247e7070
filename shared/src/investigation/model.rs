//! The values investigation works on: metric series keyed by node, metric and statistic on a
//! common time axis, the alarm's target, and recorded changes.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Metric names localisation understands (X-Ray service statistics, as PetShop records them).
pub mod metric {
    /// Response time in seconds.
    pub const LATENCY: &str = "latency";
    /// Share of requests answered without error or fault, in percent.
    pub const AVAILABILITY: &str = "availability";
    /// Requests in the bucket.
    pub const REQUESTS: &str = "requests";
}

/// Statistic names (CloudWatch's spelling).
pub mod statistic {
    pub const AVERAGE: &str = "Average";
    pub const SUM: &str = "Sum";
}

/// One series: a node's metric under one statistic.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SeriesKey {
    pub node: String,
    pub metric: String,
    pub statistic: String,
}

impl SeriesKey {
    pub fn new(node: &str, metric: &str, statistic: &str) -> Self {
        Self {
            node: node.to_owned(),
            metric: metric.to_owned(),
            statistic: statistic.to_owned(),
        }
    }
}

/// Series on one time axis (bucket start times, unix seconds, ascending); a missing value is
/// `None` (the node served no request in that bucket, or nothing was recorded).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MetricTable {
    timestamps: Vec<i64>,
    series: BTreeMap<SeriesKey, Vec<Option<f64>>>,
}

impl MetricTable {
    /// Builds a table. Each series should have one value per timestamp (the readers check
    /// this and name the file and line when it does not hold); a shorter one is padded with
    /// missing values and a longer one cut, so a table is always rectangular.
    pub fn new(timestamps: Vec<i64>, mut series: BTreeMap<SeriesKey, Vec<Option<f64>>>) -> Self {
        for values in series.values_mut() {
            values.resize(timestamps.len(), None);
        }
        Self { timestamps, series }
    }

    pub fn timestamps(&self) -> &[i64] {
        &self.timestamps
    }

    pub fn len(&self) -> usize {
        self.timestamps.len()
    }

    pub fn is_empty(&self) -> bool {
        self.timestamps.is_empty()
    }

    pub fn series(&self, node: &str, metric: &str, statistic: &str) -> Option<&[Option<f64>]> {
        // A borrowed lookup without allocating would need a custom Borrow; tables are small.
        self.series
            .get(&SeriesKey::new(node, metric, statistic))
            .map(Vec::as_slice)
    }

    pub fn keys(&self) -> impl Iterator<Item = &SeriesKey> {
        self.series.keys()
    }

    /// The nodes that have at least one series.
    pub fn nodes(&self) -> std::collections::BTreeSet<&str> {
        self.series.keys().map(|key| key.node.as_str()).collect()
    }

    /// Rows `range` of this table (used to hold out quiet windows from the normal data).
    pub fn rows(&self, range: std::ops::Range<usize>) -> Self {
        let end = range.end.min(self.timestamps.len());
        let start = range.start.min(end);
        Self {
            timestamps: self.timestamps[start..end].to_vec(),
            series: self
                .series
                .iter()
                .map(|(key, values)| (key.clone(), values[start..end].to_vec()))
                .collect(),
        }
    }

    /// This table followed by `other` (rows appended; a series one side lacks is missing
    /// there). Used to pool normal behaviour recorded at different times.
    pub fn concat(&self, other: &Self) -> Self {
        let mut series: BTreeMap<SeriesKey, Vec<Option<f64>>> = BTreeMap::new();
        let keys: std::collections::BTreeSet<&SeriesKey> =
            self.series.keys().chain(other.series.keys()).collect();
        for key in keys {
            let mut values = self
                .series
                .get(key)
                .cloned()
                .unwrap_or_else(|| vec![None; self.timestamps.len()]);
            values.extend(
                other
                    .series
                    .get(key)
                    .cloned()
                    .unwrap_or_else(|| vec![None; other.timestamps.len()]),
            );
            series.insert(key.clone(), values);
        }
        let mut timestamps = self.timestamps.clone();
        timestamps.extend_from_slice(&other.timestamps);
        Self { timestamps, series }
    }

    /// The bucket length: the smallest gap between consecutive timestamps, or `None` with
    /// fewer than two rows.
    pub fn period_seconds(&self) -> Option<i64> {
        self.timestamps
            .windows(2)
            .map(|pair| pair[1] - pair[0])
            .filter(|gap| *gap > 0)
            .min()
    }
}

/// What the alarm says: which node, which metric and statistic, and when it fired.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub node: String,
    pub metric: String,
    pub statistic: String,
    /// Unix seconds.
    pub alert_time: i64,
}

/// A write call on a node's resource: a deployment, an alias move, a parameter change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The graph node the change applies to.
    pub node: String,
    /// Unix seconds.
    pub time: i64,
    /// The API call, e.g. `UpdateFunctionCode`, `UpdateAlias`, `PutParameter`.
    pub action: String,
    /// Who made it (an IAM principal), when known.
    #[serde(default)]
    pub actor: Option<String>,
    /// A short description (what changed), when known.
    #[serde(default)]
    pub summary: Option<String>,
    /// For an alias move: which alias, and the versions it pointed at before and after, as
    /// the source recorded them. A rollback's version comes from here, never from a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<AliasMove>,
}

/// An alias moved from one published version to another.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AliasMove {
    pub name: String,
    /// Unknown when the source did not record it (CloudTrail's UpdateAlias names only the
    /// new version).
    #[serde(default)]
    pub from_version: Option<String>,
    pub to_version: String,
}

impl MetricTable {
    /// Only the series of `nodes`.
    pub fn retain_nodes(&self, nodes: &[String]) -> Self {
        Self {
            timestamps: self.timestamps.clone(),
            series: self
                .series
                .iter()
                .filter(|(key, _)| nodes.contains(&key.node))
                .map(|(key, values)| (key.clone(), values.clone()))
                .collect(),
        }
    }
}
