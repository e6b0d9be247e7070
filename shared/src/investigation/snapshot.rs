//! The recorded-snapshot adapter: a folder holding the world an investigation looks at, read
//! once and served through the investigation ports.
//!
//! Two layouts are read (README, "Snapshot format"):
//!
//! - **Argus' own format**: `graph.json` (nodes with optional kind and resource, and calls),
//!   `metrics.csv` (the incident's window) and `normal.csv` (normal behaviour), both in long
//!   form `node,metric,statistic,timestamp,value`, `target.json` (node, metric, statistic,
//!   alert time) and optionally `changes.json` and `resource-metrics.json` (the alarming
//!   resource's own CloudWatch metrics).
//! - **The PetShop dataset's layout**: `graph.csv` (square 0/1 matrix, row = caller, column =
//!   callee), `metrics.csv` (three header rows node / metric / statistic, a `unix_timestamp`
//!   row, then one row per bucket), `target.json`, of which only the `target` object is taken
//!   (the answer fields beside it are skipped unread), and `normal.csv` (the scenario's normal
//!   metrics, same layout as `metrics.csv`; optional).
//!
//! Bad input is a [`SnapshotError`] naming the file and, where there is one, the line.

use super::csv::{parse_value, split_record};
use super::graph::{CallGraph, NodeKind};
use super::model::{Change, MetricTable, SeriesKey, Target};
use super::ports::{
    ChangeSource, MetricsSource, ResourceMetricsSource, SourceError, TimeRange, TopologySource,
};
use super::resource_metrics::{MetricSeries, MetricSpec};
use async_trait::async_trait;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{}: not a snapshot folder: {reason}", dir.display())]
    NotASnapshot { dir: PathBuf, reason: String },
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Malformed {
        path: PathBuf,
        /// 1-based; `None` when the problem is not on one line (a missing node, say).
        line: Option<usize>,
        message: String,
    },
}

impl SnapshotError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::NotASnapshot { .. } => "NotASnapshot",
            Self::Read { .. } => "SnapshotUnreadable",
            Self::Malformed { .. } => "SnapshotMalformed",
        }
    }

    fn malformed(path: &Path, line: Option<usize>, message: impl Into<String>) -> Self {
        Self::Malformed {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

/// Which layout a folder holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapshotLayout {
    Argus,
    PetShop,
}

/// A snapshot read into memory.
#[derive(Clone, Debug)]
pub struct RecordedSnapshot {
    pub layout: SnapshotLayout,
    pub graph: CallGraph,
    pub window: MetricTable,
    pub normal: Option<MetricTable>,
    /// `None` when the folder has no `target.json` (a replay takes the target from its event).
    pub target: Option<Target>,
    pub changes: Vec<Change>,
    /// The alarming resource's own metrics, when the folder records them.
    pub resource_metrics: Option<Vec<RecordedMetric>>,
}

/// One of the alarming resource's metrics as `resource-metrics.json` records it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedMetric {
    pub namespace: String,
    pub metric_name: String,
    pub stat: String,
    /// `[unix seconds, value]` pairs.
    pub points: Vec<(i64, f64)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordedMetricsFile {
    series: Vec<RecordedMetric>,
}

fn read_text(path: &Path) -> Result<String, SnapshotError> {
    std::fs::read_to_string(path).map_err(|source| SnapshotError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn from_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SnapshotError> {
    let text = read_text(path)?;
    let mut deserializer = serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let line = error.inner().line();
        SnapshotError::malformed(
            path,
            (line > 0).then_some(line),
            format!("{} (at {})", error.inner(), error.path()),
        )
    })
}

impl RecordedSnapshot {
    /// Reads the folder, detecting its layout: `graph.json` means Argus' format, `graph.csv`
    /// the PetShop layout.
    pub fn open(dir: &Path) -> Result<Self, SnapshotError> {
        if !dir.is_dir() {
            return Err(SnapshotError::NotASnapshot {
                dir: dir.to_path_buf(),
                reason: "no such folder".to_owned(),
            });
        }
        if dir.join("graph.json").is_file() {
            Self::open_argus(dir)
        } else if dir.join("graph.csv").is_file() {
            Self::open_petshop(dir)
        } else {
            Err(SnapshotError::NotASnapshot {
                dir: dir.to_path_buf(),
                reason: "expected graph.json (Argus format) or graph.csv (PetShop layout)"
                    .to_owned(),
            })
        }
    }

    fn open_argus(dir: &Path) -> Result<Self, SnapshotError> {
        let graph = read_graph_json(&dir.join("graph.json"))?;
        let window = read_long_metrics(&dir.join("metrics.csv"))?;
        let normal_path = dir.join("normal.csv");
        let normal = if normal_path.is_file() {
            Some(read_long_metrics(&normal_path)?)
        } else {
            None
        };
        let target_path = dir.join("target.json");
        let target = if target_path.is_file() {
            Some(read_argus_target(&target_path)?)
        } else {
            None
        };
        let changes_path = dir.join("changes.json");
        let changes = if changes_path.is_file() {
            read_changes(&changes_path, &graph)?
        } else {
            Vec::new()
        };
        let resource_metrics_path = dir.join("resource-metrics.json");
        let resource_metrics = if resource_metrics_path.is_file() {
            Some(from_json::<RecordedMetricsFile>(&resource_metrics_path)?.series)
        } else {
            None
        };
        Ok(Self {
            layout: SnapshotLayout::Argus,
            graph,
            window,
            normal,
            target,
            changes,
            resource_metrics,
        })
    }

    fn open_petshop(dir: &Path) -> Result<Self, SnapshotError> {
        let graph = read_adjacency_csv(&dir.join("graph.csv"))?;
        let window = read_wide_metrics(&dir.join("metrics.csv"))?;
        let normal_path = dir.join("normal.csv");
        let normal = if normal_path.is_file() {
            Some(read_wide_metrics(&normal_path)?)
        } else {
            None
        };
        let target_path = dir.join("target.json");
        let target = if target_path.is_file() {
            Some(read_petshop_target(&target_path)?)
        } else {
            None
        };
        Ok(Self {
            layout: SnapshotLayout::PetShop,
            graph,
            window,
            normal,
            target,
            changes: Vec::new(),
            resource_metrics: None,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Argus' own format.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphFile {
    nodes: Vec<GraphNode>,
    #[serde(default)]
    calls: Vec<GraphCall>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphNode {
    id: String,
    #[serde(default)]
    kind: Option<NodeKind>,
    #[serde(default)]
    resource: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GraphCall {
    caller: String,
    callee: String,
}

fn read_graph_json(path: &Path) -> Result<CallGraph, SnapshotError> {
    let file: GraphFile = from_json(path)?;
    let mut graph = CallGraph::new();
    for node in &file.nodes {
        if node.id.trim().is_empty() {
            return Err(SnapshotError::malformed(
                path,
                None,
                "a node has an empty id",
            ));
        }
        graph.add_node(&node.id);
        if let Some(kind) = node.kind {
            graph.set_kind(&node.id, kind);
        }
        if let Some(resource) = &node.resource {
            graph.set_resource(&node.id, resource);
        }
    }
    for (index, call) in file.calls.iter().enumerate() {
        for end in [&call.caller, &call.callee] {
            if !graph.contains(end) {
                return Err(SnapshotError::malformed(
                    path,
                    None,
                    format!("calls[{index}] names {end:?}, which is not in nodes"),
                ));
            }
        }
        graph.add_call(&call.caller, &call.callee);
    }
    Ok(graph)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArgusTarget {
    node: String,
    metric: String,
    statistic: String,
    alert_time: AlertTime,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AlertTime {
    Unix(i64),
    Text(String),
}

fn read_argus_target(path: &Path) -> Result<Target, SnapshotError> {
    let target: ArgusTarget = from_json(path)?;
    let alert_time = match target.alert_time {
        AlertTime::Unix(seconds) => seconds,
        AlertTime::Text(text) => chrono::DateTime::parse_from_rfc3339(&text)
            .map_err(|error| {
                SnapshotError::malformed(path, None, format!("alert_time {text:?}: {error}"))
            })?
            .timestamp(),
    };
    Ok(Target {
        node: target.node,
        metric: target.metric,
        statistic: target.statistic,
        alert_time,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangesFile {
    changes: Vec<Change>,
}

fn read_changes(path: &Path, graph: &CallGraph) -> Result<Vec<Change>, SnapshotError> {
    let file: ChangesFile = from_json(path)?;
    for (index, change) in file.changes.iter().enumerate() {
        if !graph.contains(&change.node) {
            return Err(SnapshotError::malformed(
                path,
                None,
                format!(
                    "changes[{index}] is on {:?}, which is not in graph.json",
                    change.node
                ),
            ));
        }
    }
    let mut changes = file.changes;
    changes.sort_by_key(|change| change.time);
    Ok(changes)
}

const LONG_HEADER: [&str; 5] = ["node", "metric", "statistic", "timestamp", "value"];

/// `node,metric,statistic,timestamp,value`, one value per line; timestamps are unix seconds
/// or RFC 3339. A series without a value at some timestamp is missing there.
fn read_long_metrics(path: &Path) -> Result<MetricTable, SnapshotError> {
    let text = read_text(path)?;
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.next() else {
        return Err(SnapshotError::malformed(
            path,
            Some(1),
            "empty file: expected the header node,metric,statistic,timestamp,value",
        ));
    };
    let header = split_record(header).map_err(|m| SnapshotError::malformed(path, Some(1), m))?;
    if header.iter().map(|h| h.trim()).ne(LONG_HEADER) {
        return Err(SnapshotError::malformed(
            path,
            Some(1),
            format!("the header must be {}", LONG_HEADER.join(",")),
        ));
    }
    let mut values: BTreeMap<SeriesKey, BTreeMap<i64, f64>> = BTreeMap::new();
    let mut times = BTreeSet::new();
    for (index, line) in lines {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields =
            split_record(line).map_err(|m| SnapshotError::malformed(path, Some(number), m))?;
        let [node, metric_name, stat, time, value] = fields.as_slice() else {
            return Err(SnapshotError::malformed(
                path,
                Some(number),
                format!("expected 5 fields, found {}", fields.len()),
            ));
        };
        if node.is_empty() || metric_name.is_empty() || stat.is_empty() {
            return Err(SnapshotError::malformed(
                path,
                Some(number),
                "node, metric and statistic must not be empty",
            ));
        }
        let time = parse_time(time).map_err(|m| SnapshotError::malformed(path, Some(number), m))?;
        let Some(value) =
            parse_value(value).map_err(|m| SnapshotError::malformed(path, Some(number), m))?
        else {
            continue;
        };
        times.insert(time);
        let key = SeriesKey::new(node, metric_name, stat);
        if values.entry(key).or_default().insert(time, value).is_some() {
            return Err(SnapshotError::malformed(
                path,
                Some(number),
                format!("a second value for {node} {metric_name} {stat} at {time}"),
            ));
        }
    }
    if times.is_empty() {
        return Err(SnapshotError::malformed(path, None, "no values"));
    }
    let timestamps: Vec<i64> = times.into_iter().collect();
    let series = values
        .into_iter()
        .map(|(key, by_time)| {
            let row: Vec<Option<f64>> =
                timestamps.iter().map(|t| by_time.get(t).copied()).collect();
            (key, row)
        })
        .collect();
    Ok(MetricTable::new(timestamps, series))
}

fn parse_time(field: &str) -> Result<i64, String> {
    let field = field.trim();
    if let Ok(seconds) = field.parse::<i64>() {
        return Ok(seconds);
    }
    if let Ok(seconds) = field.parse::<f64>()
        && seconds.is_finite()
        && seconds.fract() == 0.0
        && seconds.abs() < 1.0e15
    {
        // Whole seconds written as a float (pandas writes 1681855320.0).
        #[allow(clippy::cast_possible_truncation)]
        return Ok(seconds as i64);
    }
    chrono::DateTime::parse_from_rfc3339(field)
        .map(|t| t.timestamp())
        .map_err(|_| format!("{field:?} is not a time (unix seconds or RFC 3339)"))
}

// ---------------------------------------------------------------------------------------------
// The PetShop layout.

#[derive(Deserialize)]
struct PetShopTargetFile {
    // Only this member is taken; serde skips the others (the answer) without keeping them.
    target: PetShopTarget,
}

#[derive(Deserialize)]
struct PetShopTarget {
    node: String,
    metric: String,
    agg: String,
    timestamp: f64,
}

pub fn read_petshop_target(path: &Path) -> Result<Target, SnapshotError> {
    let file: PetShopTargetFile = from_json(path)?;
    let target = file.target;
    if !target.timestamp.is_finite() || target.timestamp.abs() >= 1.0e15 {
        return Err(SnapshotError::malformed(
            path,
            None,
            "target.timestamp is not a time",
        ));
    }
    // Whole seconds: the buckets are minutes apart.
    #[allow(clippy::cast_possible_truncation)]
    let alert_time = target.timestamp.floor() as i64;
    Ok(Target {
        node: target.node,
        metric: target.metric,
        statistic: target.agg,
        alert_time,
    })
}

/// The square 0/1 matrix: a header of callee names after an empty corner, then one row per
/// caller starting with its name; a non-zero cell is a call.
pub fn read_adjacency_csv(path: &Path) -> Result<CallGraph, SnapshotError> {
    let text = read_text(path)?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(SnapshotError::malformed(path, Some(1), "empty file"));
    };
    let header = split_record(header).map_err(|m| SnapshotError::malformed(path, Some(1), m))?;
    let columns: Vec<String> = header.into_iter().skip(1).collect();
    if columns.iter().any(String::is_empty) {
        return Err(SnapshotError::malformed(
            path,
            Some(1),
            "a column has no node name",
        ));
    }
    let mut graph = CallGraph::new();
    for column in &columns {
        graph.add_node(column);
    }
    let mut rows_seen = BTreeSet::new();
    for (index, line) in lines {
        let number = index + 1;
        let fields =
            split_record(line).map_err(|m| SnapshotError::malformed(path, Some(number), m))?;
        if fields.len() != columns.len() + 1 {
            return Err(SnapshotError::malformed(
                path,
                Some(number),
                format!(
                    "expected {} fields (a name and one per column), found {}",
                    columns.len() + 1,
                    fields.len()
                ),
            ));
        }
        let caller = &fields[0];
        if !columns.contains(caller) {
            return Err(SnapshotError::malformed(
                path,
                Some(number),
                format!("row {caller:?} is not a column: the matrix must be square"),
            ));
        }
        if !rows_seen.insert(caller.clone()) {
            return Err(SnapshotError::malformed(
                path,
                Some(number),
                format!("a second row for {caller:?}"),
            ));
        }
        for (callee, cell) in columns.iter().zip(&fields[1..]) {
            let value = parse_value(cell)
                .map_err(|m| {
                    SnapshotError::malformed(path, Some(number), format!("column {callee:?}: {m}"))
                })?
                .unwrap_or(0.0);
            if value != 0.0 {
                graph.add_call(caller, callee);
            }
        }
    }
    if rows_seen.len() != columns.len() {
        return Err(SnapshotError::malformed(
            path,
            None,
            format!(
                "{} rows for {} columns: the matrix must be square",
                rows_seen.len(),
                columns.len()
            ),
        ));
    }
    Ok(graph)
}

/// Three header rows (node / metric / statistic, each after a label cell), a
/// `unix_timestamp` row, then one row per bucket: its time, then the values.
pub fn read_wide_metrics(path: &Path) -> Result<MetricTable, SnapshotError> {
    let text = read_text(path)?;
    let mut lines = text.lines().enumerate();
    let mut header_rows: Vec<Vec<String>> = Vec::with_capacity(3);
    for expected in ["node", "metric", "statistic"] {
        let Some((index, line)) = lines.next() else {
            return Err(SnapshotError::malformed(
                path,
                None,
                format!("ends before the {expected} header row"),
            ));
        };
        let fields =
            split_record(line).map_err(|m| SnapshotError::malformed(path, Some(index + 1), m))?;
        if let Some(first) = header_rows.first()
            && fields.len() != first.len()
        {
            return Err(SnapshotError::malformed(
                path,
                Some(index + 1),
                format!(
                    "the {expected} header row has {} fields, the node row {}",
                    fields.len(),
                    first.len()
                ),
            ));
        }
        if fields.iter().skip(1).any(String::is_empty) {
            return Err(SnapshotError::malformed(
                path,
                Some(index + 1),
                format!("an empty {expected} name"),
            ));
        }
        header_rows.push(fields);
    }
    let width = header_rows[0].len();
    let mut keys = Vec::with_capacity(width.saturating_sub(1));
    let mut unique = BTreeSet::new();
    let (nodes, metrics, statistics) = (&header_rows[0], &header_rows[1], &header_rows[2]);
    for ((node, metric_name), stat) in nodes.iter().zip(metrics).zip(statistics).skip(1) {
        let key = SeriesKey::new(node, metric_name, stat);
        if !unique.insert(key.clone()) {
            return Err(SnapshotError::malformed(
                path,
                Some(1),
                format!(
                    "the column {} {} {} appears twice",
                    key.node, key.metric, key.statistic
                ),
            ));
        }
        keys.push(key);
    }
    let mut timestamps = Vec::new();
    let mut columns: Vec<Vec<Option<f64>>> = vec![Vec::new(); keys.len()];
    for (index, line) in lines {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields =
            split_record(line).map_err(|m| SnapshotError::malformed(path, Some(number), m))?;
        if fields
            .first()
            .is_some_and(|label| label == "unix_timestamp")
        {
            continue;
        }
        if fields.len() != width {
            return Err(SnapshotError::malformed(
                path,
                Some(number),
                format!("expected {width} fields, found {}", fields.len()),
            ));
        }
        let time =
            parse_time(&fields[0]).map_err(|m| SnapshotError::malformed(path, Some(number), m))?;
        if timestamps.last().is_some_and(|last| *last >= time) {
            return Err(SnapshotError::malformed(
                path,
                Some(number),
                "times must increase from row to row",
            ));
        }
        timestamps.push(time);
        for (column, field) in fields[1..].iter().enumerate() {
            let value = parse_value(field).map_err(|m| {
                SnapshotError::malformed(
                    path,
                    Some(number),
                    format!("column {} ({}): {m}", column + 2, keys[column].node),
                )
            })?;
            columns[column].push(value);
        }
    }
    if timestamps.is_empty() {
        return Err(SnapshotError::malformed(
            path,
            None,
            "no rows after the header",
        ));
    }
    Ok(MetricTable::new(
        timestamps,
        keys.into_iter().zip(columns).collect(),
    ))
}

// ---------------------------------------------------------------------------------------------
// The ports, served from memory.

fn only_nodes(table: &MetricTable, nodes: &[String]) -> MetricTable {
    if nodes.is_empty() {
        return table.clone();
    }
    table.retain_nodes(nodes)
}

#[async_trait]
impl TopologySource for RecordedSnapshot {
    async fn call_graph(&self, _node: &str, _range: TimeRange) -> Result<CallGraph, SourceError> {
        Ok(self.graph.clone())
    }
}

#[async_trait]
impl MetricsSource for RecordedSnapshot {
    /// The recorded window is the window: the range is not used to cut it.
    async fn window(
        &self,
        nodes: &[String],
        _range: TimeRange,
    ) -> Result<MetricTable, SourceError> {
        Ok(only_nodes(&self.window, nodes))
    }

    async fn normal(
        &self,
        nodes: &[String],
        _range: TimeRange,
    ) -> Result<Option<MetricTable>, SourceError> {
        Ok(self.normal.as_ref().map(|normal| only_nodes(normal, nodes)))
    }
}

#[async_trait]
impl ChangeSource for RecordedSnapshot {
    async fn changes(
        &self,
        nodes: &[String],
        range: TimeRange,
    ) -> Result<Vec<Change>, SourceError> {
        Ok(self
            .changes
            .iter()
            .filter(|change| nodes.is_empty() || nodes.contains(&change.node))
            .filter(|change| change.time >= range.from && change.time < range.to)
            .cloned()
            .collect())
    }
}

#[async_trait]
impl ResourceMetricsSource for RecordedSnapshot {
    /// Each spec's recorded points in `range` (matched by namespace, metric and statistic: the
    /// file records one resource's metrics); a spec the file does not record is empty.
    async fn series(
        &self,
        specs: &[MetricSpec],
        range: TimeRange,
    ) -> Result<Vec<MetricSeries>, SourceError> {
        let recorded = self.resource_metrics.as_deref().unwrap_or_default();
        Ok(specs
            .iter()
            .map(|spec| MetricSeries {
                spec: spec.clone(),
                points: recorded
                    .iter()
                    .find(|metric| {
                        metric.namespace == spec.namespace
                            && metric.metric_name == spec.metric_name
                            && metric.stat == spec.stat
                    })
                    .map(|metric| {
                        metric
                            .points
                            .iter()
                            .copied()
                            .filter(|(time, _)| *time >= range.from && *time < range.to)
                            .collect()
                    })
                    .unwrap_or_default(),
                complete: true,
            })
            .collect())
    }
}
