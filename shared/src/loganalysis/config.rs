//! The log analyzer's configuration: which log groups to watch (and the resource each belongs
//! to), and the tuning of windows, bounds and anomaly rules, every field with a default.

use crate::resource::ResourceRef;
use serde::{Deserialize, Serialize};

/// Comma-separated log groups, each optionally `name=resource`
/// (`/aws/lambda/checkout=lambda:function/checkout,/ecs/prod/api`).
pub const LOG_GROUPS_ENV: &str = "ARGUS_LOG_GROUPS";
/// The EventBridge bus anomalies go to (name or ARN; `default` for the account's default bus).
pub const EVENT_BUS_ENV: &str = "ARGUS_EVENT_BUS";
/// Optional JSON object overriding [`AnalyzerTuning`] fields.
pub const TUNING_ENV: &str = "ARGUS_LOG_ANALYZER";

/// CloudWatch Logs returns at most this many events per FilterLogEvents page.
const MAX_PAGE_SIZE: u32 = 10_000;
/// The largest template cap a log group may be given: a part-read window's checkpoint holds a
/// count per template seen (about 40 bytes each as stored), and must stay far below DynamoDB's
/// 400 KB item limit.
pub const MAX_TEMPLATES_PER_GROUP: usize = 4_000;

/// How the analyzer windows, bounds and judges. `{}` is a complete tuning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyzerTuning {
    /// Length of a window; baselines are counts per window. Windows are aligned to the epoch.
    pub window_seconds: u32,
    /// A window is read only once it ended this long ago, so late-ingested events are in it.
    pub ingestion_lag_seconds: u32,
    /// Windows closed per log group and run at most (catching up after an outage takes runs).
    pub max_windows_per_run: u32,
    /// Events and message bytes read per run, shared evenly between the log groups.
    pub max_events_per_run: u64,
    pub max_bytes_per_run: u64,
    /// Events asked for per page (CloudWatch Logs allows up to 10,000).
    pub page_size: u32,
    /// Stop reading when less than this much of the invocation's time is left, to save state.
    pub time_reserve_seconds: u32,
    /// Weight of the newest window in the moving mean and variance.
    pub ewma_alpha: f64,
    /// Windows a log group is only learned before new error templates are reported.
    pub learning_windows: u64,
    /// Windows of history a template needs before a rate spike can be reported.
    pub min_history_windows: u64,
    /// Rate spike: the z-score over the baseline, the count, and the ratio to the mean that a
    /// window must all reach.
    pub spike_z: f64,
    pub spike_min_count: u64,
    pub spike_min_ratio: f64,
    /// A template seen in at least this many consecutive windows that is then missing is a
    /// missing heartbeat; 0 turns the rule off.
    pub heartbeat_min_windows: u64,
    /// Anomalies published per run at most; the most anomalous first, the rest are logged.
    pub max_anomalies_per_run: usize,
    /// Sanitised sample lines per anomaly.
    pub samples_per_anomaly: usize,
    /// Records of templates that were generalised into others are kept this long.
    pub tombstone_days: u32,
    /// Templates a log group may hold (at most [`MAX_TEMPLATES_PER_GROUP`]). At the cap, a line
    /// that fits no template learned so far evicts the stalest templates (least recently seen,
    /// then fewest lines; never one seen in the window being read), which become tombstones
    /// (`templates_evicted`, a metric); when none may go it is counted
    /// (`lines_over_template_cap`, a metric) and left out. So a flood of distinct lines cannot
    /// grow the group's records, its checkpoint's part-read counts (a DynamoDB item of at most
    /// 400 KB) or the miner's memory without bound.
    pub max_templates_per_group: usize,
}

impl Default for AnalyzerTuning {
    fn default() -> Self {
        Self {
            window_seconds: 300,
            ingestion_lag_seconds: 60,
            max_windows_per_run: 24,
            max_events_per_run: 200_000,
            max_bytes_per_run: 64 * 1024 * 1024,
            page_size: 1_000,
            time_reserve_seconds: 20,
            ewma_alpha: 0.1,
            learning_windows: 1,
            min_history_windows: 12,
            spike_z: 4.0,
            spike_min_count: 20,
            spike_min_ratio: 2.0,
            heartbeat_min_windows: 0,
            max_anomalies_per_run: 20,
            samples_per_anomaly: 3,
            tombstone_days: 30,
            max_templates_per_group: 2_000,
        }
    }
}

/// One watched log group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogGroupTarget {
    pub name: String,
    /// The resource incidents from this log group are about; `logs:log-group/<name>` when absent.
    pub resource: Option<ResourceRef>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct AnalyzerConfig {
    pub log_groups: Vec<LogGroupTarget>,
    pub tuning: AnalyzerTuning,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnalyzerConfigError {
    #[error("{LOG_GROUPS_ENV} names no log group")]
    NoLogGroups,
    #[error("{LOG_GROUPS_ENV}: `{0}` is not a log group name (1-512 of A-Z a-z 0-9 _ - / . #)")]
    BadLogGroup(String),
    #[error("{LOG_GROUPS_ENV}: log group {0} is listed twice")]
    DuplicateLogGroup(String),
    #[error("{LOG_GROUPS_ENV}: resource of {group}: {reason}")]
    BadResource { group: String, reason: String },
    #[error("{TUNING_ENV} is not valid: {0}")]
    BadTuning(String),
}

fn valid_log_group(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 512
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-/.#".contains(&b))
}

impl AnalyzerTuning {
    /// Parses a tuning document; unknown fields and out-of-range values are refused.
    pub fn from_json(text: &str) -> Result<Self, AnalyzerConfigError> {
        let mut deserializer = serde_json::Deserializer::from_str(text);
        let tuning: Self = serde_path_to_error::deserialize(&mut deserializer)
            .map_err(|error| AnalyzerConfigError::BadTuning(error.to_string()))?;
        tuning.validate()?;
        Ok(tuning)
    }

    pub fn validate(&self) -> Result<(), AnalyzerConfigError> {
        let bad = |reason: &str| Err(AnalyzerConfigError::BadTuning(reason.to_string()));
        if self.window_seconds < 60 || self.window_seconds > 86_400 {
            return bad("window_seconds must be between 60 and 86400");
        }
        if self.page_size == 0 || self.page_size > MAX_PAGE_SIZE {
            return bad("page_size must be between 1 and 10000");
        }
        if !(self.ewma_alpha > 0.0 && self.ewma_alpha < 1.0) {
            return bad("ewma_alpha must be between 0 and 1 (exclusive)");
        }
        if self.max_windows_per_run == 0 || self.max_events_per_run == 0 {
            return bad("max_windows_per_run and max_events_per_run must be at least 1");
        }
        if self.max_bytes_per_run == 0 {
            return bad("max_bytes_per_run must be at least 1");
        }
        let spike_valid = self.spike_z.is_finite()
            && self.spike_z > 0.0
            && self.spike_min_ratio.is_finite()
            && self.spike_min_ratio >= 1.0;
        if !spike_valid {
            return bad("spike_z must be positive and spike_min_ratio at least 1");
        }
        if self.max_templates_per_group == 0
            || self.max_templates_per_group > MAX_TEMPLATES_PER_GROUP
        {
            return bad("max_templates_per_group must be between 1 and 4000");
        }
        if self.samples_per_anomaly > 5 {
            return bad("samples_per_anomaly is at most 5 (the orchestrator keeps 5)");
        }
        Ok(())
    }
}

impl AnalyzerConfig {
    /// Reads the log groups (`name` or `name=resource`, comma-separated) and the optional tuning.
    pub fn parse(log_groups: &str, tuning: Option<&str>) -> Result<Self, AnalyzerConfigError> {
        let mut targets: Vec<LogGroupTarget> = Vec::new();
        for entry in log_groups
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
        {
            let (name, resource) = match entry.split_once('=') {
                Some((name, resource)) => (name.trim(), Some(resource.trim())),
                None => (entry, None),
            };
            if !valid_log_group(name) {
                return Err(AnalyzerConfigError::BadLogGroup(name.to_string()));
            }
            if targets.iter().any(|target| target.name == name) {
                return Err(AnalyzerConfigError::DuplicateLogGroup(name.to_string()));
            }
            let resource = resource
                .map(|text| {
                    ResourceRef::parse_checked(text).map_err(|error| {
                        AnalyzerConfigError::BadResource {
                            group: name.to_string(),
                            reason: error.to_string(),
                        }
                    })
                })
                .transpose()?;
            targets.push(LogGroupTarget {
                name: name.to_string(),
                resource,
            });
        }
        if targets.is_empty() {
            return Err(AnalyzerConfigError::NoLogGroups);
        }
        let tuning = match tuning.map(str::trim).filter(|text| !text.is_empty()) {
            Some(text) => AnalyzerTuning::from_json(text)?,
            None => AnalyzerTuning::default(),
        };
        Ok(Self {
            log_groups: targets,
            tuning,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_groups_and_resources_are_read() {
        let config = AnalyzerConfig::parse(
            " /aws/lambda/checkout=lambda:function/checkout , /ecs/prod/api ",
            None,
        )
        .unwrap();
        assert_eq!(config.log_groups.len(), 2);
        assert_eq!(config.log_groups[0].name, "/aws/lambda/checkout");
        assert_eq!(
            config.log_groups[0].resource.as_ref().map(|r| r.as_str()),
            Some("lambda:function/checkout")
        );
        assert_eq!(config.log_groups[1].resource, None);
        assert_eq!(config.tuning, AnalyzerTuning::default());
    }

    #[test]
    fn bad_configuration_is_refused_with_its_reason() {
        let cases = [
            ("", None, "names no log group"),
            ("bad name", None, "not a log group name"),
            ("/a,/a", None, "listed twice"),
            ("/a=not a resource", None, "resource of /a"),
            ("/a", Some("{\"window_secs\": 60}"), "window_secs"),
            ("/a", Some("{\"window_seconds\": 5}"), "between 60"),
            ("/a", Some("{\"ewma_alpha\": 1.5}"), "ewma_alpha"),
            ("/a", Some("{\"page_size\": 20000}"), "page_size"),
        ];
        for (groups, tuning, expected) in cases {
            let error = AnalyzerConfig::parse(groups, tuning).unwrap_err();
            assert!(
                error.to_string().contains(expected),
                "{groups:?} {tuning:?}: {error}"
            );
        }
        let tuned = AnalyzerConfig::parse("/a", Some("{\"window_seconds\": 60}")).unwrap();
        assert_eq!(tuned.tuning.window_seconds, 60);
    }
}
