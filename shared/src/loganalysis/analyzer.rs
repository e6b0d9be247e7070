//! One run of the log analyzer: for each log group, read the windows that ended since its
//! checkpoint, mine their lines into templates, fold the counts into the baselines, publish
//! anomalies, and move the checkpoint, within the run's bounds.
//!
//! Exactly-once counting rests on three rules. A window is closed (baselines updated, checkpoint
//! moved past it) only when it was read completely; a run that stops part-way saves the page
//! token and the counts so far in the checkpoint, and the next run resumes from that token. Each
//! baseline remembers the last window folded into it, so a window processed again after an
//! interruption between storing the baselines and moving the checkpoint changes nothing (and is
//! judged against the stored `prior`, so it raises the same anomalies). And the checkpoint is
//! written after the records it depends on.

use super::baseline::BaselineStats;
use super::config::{AnalyzerConfig, AnalyzerTuning, LogGroupTarget};
use super::ports::{
    BaselineStore, BusEvent, Checkpoint, EventBus, EventBusError, LogGroupState, LogGroupWrite,
    LogPageRequest, LogSource, LogSourceError, PartialWindow, SaveOutcome, TemplateRecord,
};
use super::text::{is_error_level, level_of, sanitise};
use crate::clock::Clock;
use crate::logmine::{
    MinerConfig, MinerState, STATE_FORMAT_VERSION, SavedTemplate, TemplateId, TemplateMiner,
};
use crate::ports::StoreError;
use crate::signal::{
    Baseline, LOG_ANOMALY_DETAIL_TYPE, LOG_ANOMALY_SOURCE, LogAnomalyDetail, TimeWindow,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

const SCHEMA_VERSION: u32 = 1;
/// Lines are cut to this many bytes before mining: the start of a line is enough to template
/// it, and it keeps every stored template record far below DynamoDB's 400 KB item limit
/// (CloudWatch Logs events can be 256 KB).
pub const MAX_LINE_BYTES: usize = 8 * 1024;
/// A part-read window keeps samples for at most this many templates (the most frequent), so
/// the checkpoint item stays small however many templates a burst has.
const MAX_PARTIAL_SAMPLED_TEMPLATES: usize = 64;
/// Bound on following renames, which only ever point from a template to a more general one.
const MAX_RENAME_HOPS: usize = 64;
/// At the template cap, up to the cap divided by this is evicted at once.
const EVICTION_BATCH_DIVISOR: usize = 50;
/// A part-read window's samples take at most this many bytes (as stored), so with the counts of
/// at most [`super::config::MAX_TEMPLATES_PER_GROUP`] templates the checkpoint item stays far
/// below DynamoDB's 400 KB.
const MAX_PARTIAL_SAMPLE_BYTES: usize = 48 * 1024;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum AnalyzerError {
    #[error(transparent)]
    Source(#[from] LogSourceError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Bus(#[from] EventBusError),
    #[error("log group {0} was changed by another run while this one worked on it")]
    ConcurrentRun(String),
    #[error("the stored templates of {log_group} cannot be rebuilt: {reason}")]
    CorruptTemplates { log_group: String, reason: String },
}

impl AnalyzerError {
    /// The stable name the Lambda reports as `errorType`.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Source(error) => error.error_type(),
            Self::Store(error) => error.error_type(),
            Self::Bus(error) => error.error_type(),
            Self::ConcurrentRun(_) => "ConcurrentRun",
            Self::CorruptTemplates { .. } => "StoreCorrupt",
        }
    }
}

/// Why a log group's processing stopped before it caught up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    EventBudget,
    ByteBudget,
    Time,
    WindowBudget,
}

/// One anomaly that was published.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnomalySummary {
    pub kind: String,
    pub template_id: String,
    pub count: u64,
    pub score: f64,
}

/// What one run did to one log group.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct GroupReport {
    pub log_group: String,
    pub windows_closed: u64,
    pub events_read: u64,
    pub bytes_read: u64,
    pub templates: usize,
    pub new_templates: usize,
    /// Lines that fit no template while the group held `max_templates_per_group` and no
    /// template could be evicted (all were seen in the window being read): not learned.
    pub lines_over_template_cap: u64,
    /// Templates evicted at the cap to make room for new ones (kept as tombstones).
    pub templates_evicted: u64,
    pub anomalies: Vec<AnomalySummary>,
    pub anomalies_suppressed: usize,
    /// Where the next window starts (the checkpoint after this run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_window_start: Option<DateTime<Utc>>,
    /// Set when the group stopped before catching up; a window read in part resumes next run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<StopReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize)]
pub struct RunReport {
    pub groups: Vec<GroupReport>,
}

impl RunReport {
    pub fn anomalies_published(&self) -> usize {
        self.groups.iter().map(|group| group.anomalies.len()).sum()
    }

    /// The first failure, if a group failed; the other groups were still processed.
    pub fn first_error(&self) -> Option<(&str, &str)> {
        self.groups
            .iter()
            .find_map(|group| Some((group.error_type.as_deref()?, group.error.as_deref()?)))
    }
}

/// The analyzer's dependencies: its ports, the clock, and the configuration.
#[derive(Clone, Copy)]
pub struct LogAnalyzer<'a> {
    pub source: &'a dyn LogSource,
    pub store: &'a dyn BaselineStore,
    pub bus: &'a dyn EventBus,
    pub clock: &'a dyn Clock,
    pub config: &'a AnalyzerConfig,
}

impl std::fmt::Debug for LogAnalyzer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogAnalyzer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Per-group limits of one run.
struct Limits {
    events: u64,
    bytes: u64,
    deadline: Option<DateTime<Utc>>,
}

/// Counts of one window, keyed by template id.
#[derive(Default)]
struct WindowCounts {
    counts: BTreeMap<TemplateId, u64>,
    samples: BTreeMap<TemplateId, Vec<String>>,
    first_last_ms: BTreeMap<TemplateId, (i64, i64)>,
    events: u64,
    bytes: u64,
}

impl WindowCounts {
    fn from_partial(partial: PartialWindow) -> Self {
        Self {
            counts: partial.counts,
            samples: partial.samples,
            first_last_ms: BTreeMap::new(),
            events: partial.events,
            bytes: partial.bytes,
        }
    }

    fn add(&mut self, id: TemplateId, line: &str, timestamp_ms: i64, samples_kept: usize) {
        *self.counts.entry(id).or_default() += 1;
        let samples = self.samples.entry(id).or_default();
        if samples.len() < samples_kept {
            samples.push(sanitise(line));
        }
        let seen = self
            .first_last_ms
            .entry(id)
            .or_insert((timestamp_ms, timestamp_ms));
        seen.0 = seen.0.min(timestamp_ms);
        seen.1 = seen.1.max(timestamp_ms);
        self.events += 1;
        self.bytes += line.len() as u64;
    }

    /// The same counts with every id replaced by the id that covers it now.
    fn resolved(self, resolve: impl Fn(TemplateId) -> TemplateId, samples_kept: usize) -> Self {
        let mut out = WindowCounts {
            events: self.events,
            bytes: self.bytes,
            ..WindowCounts::default()
        };
        for (id, count) in self.counts {
            *out.counts.entry(resolve(id)).or_default() += count;
        }
        for (id, samples) in self.samples {
            let kept = out.samples.entry(resolve(id)).or_default();
            kept.extend(samples);
            kept.truncate(samples_kept);
        }
        for (id, (first, last)) in self.first_last_ms {
            let seen = out
                .first_last_ms
                .entry(resolve(id))
                .or_insert((first, last));
            seen.0 = seen.0.min(first);
            seen.1 = seen.1.max(last);
        }
        out
    }

    fn to_partial(&self, next_token: String) -> PartialWindow {
        let mut by_count: Vec<(&TemplateId, &u64)> = self.counts.iter().collect();
        by_count.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        let mut sample_bytes = 0usize;
        let mut samples = BTreeMap::new();
        for (id, _) in by_count.into_iter().take(MAX_PARTIAL_SAMPLED_TEMPLATES) {
            let Some(kept) = self.samples.get(id) else {
                continue;
            };
            let mut fitting = Vec::new();
            for sample in kept {
                // Measured as stored (JSON), where escapes can double a line's size.
                let size = serde_json::to_string(sample).map_or(usize::MAX, |json| json.len());
                if sample_bytes.saturating_add(size) > MAX_PARTIAL_SAMPLE_BYTES {
                    break;
                }
                sample_bytes += size;
                fitting.push(sample.clone());
            }
            if !fitting.is_empty() {
                samples.insert(*id, fitting);
            }
        }
        PartialWindow {
            next_token,
            counts: self.counts.clone(),
            samples,
            events: self.events,
            bytes: self.bytes,
        }
    }
}

/// The analyzer's picture of one log group during a run: the miner rebuilt from the stored
/// templates, the records by id, and renames (tombstones) to follow.
struct GroupState {
    miner: TemplateMiner,
    records: HashMap<TemplateId, TemplateRecord>,
    aliases: HashMap<TemplateId, TemplateId>,
    /// Records to write with the next save.
    dirty: Vec<TemplateId>,
}

/// `line` cut to [`MAX_LINE_BYTES`] at a character boundary.
fn cut_line(line: &str) -> &str {
    if line.len() <= MAX_LINE_BYTES {
        return line;
    }
    let mut end = MAX_LINE_BYTES;
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

fn millis(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// The start of the window holding `time`.
fn window_floor(time: DateTime<Utc>, window_seconds: u32) -> DateTime<Utc> {
    let length = i64::from(window_seconds);
    let start = time.timestamp().div_euclid(length) * length;
    Utc.timestamp_opt(start, 0).single().unwrap_or_default()
}

fn window_index(start: DateTime<Utc>, window_seconds: u32) -> i64 {
    start.timestamp().div_euclid(i64::from(window_seconds))
}

/// The miner rebuilt from live template records.
fn build_miner(
    log_group: &str,
    mut live: Vec<&TemplateRecord>,
) -> Result<TemplateMiner, AnalyzerError> {
    // Creation order decides which of several candidate templates a line is compared with
    // first, so the rebuilt miner must see them in the order they were first seen.
    live.sort_by(|a, b| {
        a.first_seen
            .cmp(&b.first_seen)
            .then(a.template_id.cmp(&b.template_id))
    });
    let miner_state = MinerState {
        format_version: STATE_FORMAT_VERSION,
        config: MinerConfig::default(),
        templates: live
            .iter()
            .map(|record| SavedTemplate {
                id: record.template_id,
                text: record.text.clone(),
                count: record.stats.lines_total,
                sample: record.sample.clone(),
                tokens: record.tokens.clone(),
            })
            .collect(),
    };
    TemplateMiner::from_state(&miner_state).map_err(|error| AnalyzerError::CorruptTemplates {
        log_group: log_group.to_string(),
        reason: error.to_string(),
    })
}

impl GroupState {
    fn load(log_group: &str, state: &LogGroupState) -> Result<Self, AnalyzerError> {
        let mut live: Vec<&TemplateRecord> = state
            .templates
            .iter()
            .filter(|record| record.is_live())
            .collect();
        live.sort_by(|a, b| {
            a.first_seen
                .cmp(&b.first_seen)
                .then(a.template_id.cmp(&b.template_id))
        });
        let miner = build_miner(log_group, live.clone())?;
        let mut aliases = HashMap::new();
        for record in &state.templates {
            if let Some(successor) = record.renamed_to {
                aliases.insert(record.template_id, successor);
            }
        }
        // A template whose id the miner derives differently (the miner changed between
        // versions) is treated as renamed to the id the miner gives it now.
        if miner.template_count() == live.len() {
            for (record, view) in live.iter().zip(miner.templates()) {
                if record.template_id != view.id {
                    aliases.insert(record.template_id, view.id);
                }
            }
        }
        let records = state
            .templates
            .iter()
            .map(|record| (record.template_id, record.clone()))
            .collect();
        Ok(Self {
            miner,
            records,
            aliases,
            dirty: Vec::new(),
        })
    }

    /// The id that covers `id` now: through the miner's renames in this run and the stored
    /// tombstones.
    fn resolve(&self, id: TemplateId) -> TemplateId {
        let mut current = id;
        for _ in 0..MAX_RENAME_HOPS {
            if let Some(live) = self.miner.resolve_id(current) {
                return live;
            }
            match self.aliases.get(&current) {
                Some(next) if *next != current => current = *next,
                _ => return current,
            }
        }
        current
    }

    fn mark(&mut self, id: TemplateId) {
        if !self.dirty.contains(&id) {
            self.dirty.push(id);
        }
    }

    /// Makes the records match the miner: templates it generalised become tombstones whose
    /// baselines are merged into their successor's, new templates get records, and templates
    /// whose text changed are rewritten. `window` is the window being read; a new record's
    /// first and last seen start at its end and start, and narrow to the lines' own times.
    fn reconcile(&mut self, (start, end): (DateTime<Utc>, DateTime<Utc>), tuning: &AnalyzerTuning) {
        let alpha = tuning.ewma_alpha;
        let mut merged_into: BTreeMap<TemplateId, Vec<TemplateRecord>> = BTreeMap::new();
        let mut renamed: Vec<(TemplateId, TemplateId)> = Vec::new();
        for record in self.records.values() {
            if !record.is_live() {
                continue;
            }
            let current = self.resolve(record.template_id);
            if current != record.template_id {
                renamed.push((record.template_id, current));
                merged_into.entry(current).or_default().push(record.clone());
            }
        }
        for (old, new) in &renamed {
            if let Some(record) = self.records.get_mut(old) {
                record.renamed_to = Some(*new);
            }
            self.aliases.insert(*old, *new);
            self.mark(*old);
        }
        let saved = self.miner.save_state();
        for template in saved.templates {
            let sources = merged_into.remove(&template.id).unwrap_or_default();
            match self.records.get_mut(&template.id) {
                Some(record) if record.renamed_to.is_none() => {
                    // An evicted template whose lines came back is live again, baseline and all.
                    let mut changed =
                        record.tokens != template.tokens || record.evicted_at.take().is_some();
                    if changed {
                        record.tokens = template.tokens.clone();
                        record.text = template.text.clone();
                    }
                    for source in &sources {
                        record.stats = record.stats.merged(&source.stats, alpha);
                        record.first_seen = record.first_seen.min(source.first_seen);
                        record.last_seen = record.last_seen.max(source.last_seen);
                        record.prior = None;
                        changed = true;
                    }
                    if changed {
                        self.mark(template.id);
                    }
                }
                existing => {
                    // A new template, or one whose id was a tombstone and is live again.
                    let revision = existing.map_or(0, |record| record.revision);
                    let mut stats = BaselineStats::new(tuning.window_seconds);
                    let mut first_seen = end;
                    let mut last_seen = start;
                    let mut sample = sanitise(&template.sample);
                    for source in &sources {
                        stats = if stats.windows == 0 && stats.lines_total == 0 {
                            source.stats.clone()
                        } else {
                            stats.merged(&source.stats, alpha)
                        };
                        first_seen = first_seen.min(source.first_seen);
                        last_seen = last_seen.max(source.last_seen);
                        sample.clone_from(&source.sample);
                    }
                    let level = level_of(&template.text).or_else(|| level_of(&sample));
                    let record = TemplateRecord {
                        template_id: template.id,
                        revision,
                        text: template.text.clone(),
                        tokens: template.tokens.clone(),
                        level: level.map(str::to_string),
                        sample,
                        first_seen,
                        last_seen,
                        stats,
                        prior: None,
                        renamed_to: None,
                        evicted_at: None,
                    };
                    self.records.insert(template.id, record);
                    self.mark(template.id);
                }
            }
        }
    }

    /// The records to write, each with its revision moved on.
    fn take_dirty(&mut self) -> Vec<TemplateRecord> {
        let ids = std::mem::take(&mut self.dirty);
        let mut records = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(record) = self.records.get_mut(&id) {
                record.revision += 1;
                records.push(record.clone());
            }
        }
        records
    }

    /// Makes room at the template cap: the stalest live templates (least recently seen, then
    /// fewest lines) become tombstones and leave the miner, never one seen in the window being
    /// read (`counts`, already resolved, and whatever was last seen at or after `start`). Up to
    /// a fiftieth of the cap goes at once, so a run rebuilds the miner rarely. Returns how many.
    fn evict(
        &mut self,
        log_group: &str,
        start: DateTime<Utc>,
        counts: &WindowCounts,
        tuning: &AnalyzerTuning,
        now: DateTime<Utc>,
    ) -> Result<usize, AnalyzerError> {
        let mut candidates: Vec<&TemplateRecord> = self
            .records
            .values()
            .filter(|record| {
                record.is_live()
                    && record.last_seen < start
                    && !counts.counts.contains_key(&record.template_id)
            })
            .collect();
        candidates.sort_by(|a, b| {
            a.last_seen
                .cmp(&b.last_seen)
                .then(a.stats.lines_total.cmp(&b.stats.lines_total))
                .then(a.template_id.cmp(&b.template_id))
        });
        let batch = (tuning.max_templates_per_group / EVICTION_BATCH_DIVISOR).max(1);
        let victims: Vec<TemplateId> = candidates
            .iter()
            .take(batch)
            .map(|record| record.template_id)
            .collect();
        if victims.is_empty() {
            return Ok(0);
        }
        for id in &victims {
            if let Some(record) = self.records.get_mut(id) {
                record.evicted_at = Some(now);
            }
            self.mark(*id);
        }
        self.miner = build_miner(
            log_group,
            self.records
                .values()
                .filter(|record| record.is_live())
                .collect(),
        )?;
        Ok(victims.len())
    }

    /// Undoes `take_dirty`'s revision moves after a failed save.
    fn restore_dirty(&mut self, written: &[TemplateRecord]) {
        for record in written {
            if let Some(stored) = self.records.get_mut(&record.template_id) {
                stored.revision = stored.revision.saturating_sub(1);
            }
            self.mark(record.template_id);
        }
    }
}

/// One anomaly before it is published.
struct Candidate {
    detail: LogAnomalyDetail,
    /// Kind (new error over spike over heartbeat), then severity, then score.
    rank: (u8, u8, f64),
}

fn severity_rank(level: Option<&str>) -> u8 {
    match level {
        Some("fatal") => 3,
        Some("critical") => 2,
        Some("error") => 1,
        _ => 0,
    }
}

impl LogAnalyzer<'_> {
    /// Runs every configured log group once. A failing group is reported and the others still
    /// run. `deadline` is when the invocation must have returned (the Lambda's deadline).
    pub async fn run(&self, deadline: Option<DateTime<Utc>>) -> RunReport {
        let tuning = &self.config.tuning;
        let groups = self.config.log_groups.len().max(1) as u64;
        let limits = Limits {
            events: (tuning.max_events_per_run / groups).max(u64::from(tuning.page_size)),
            bytes: (tuning.max_bytes_per_run / groups).max(1),
            deadline,
        };
        let mut anomalies_left = tuning.max_anomalies_per_run;
        let mut report = RunReport::default();
        for target in &self.config.log_groups {
            let mut group = GroupReport {
                log_group: target.name.clone(),
                ..GroupReport::default()
            };
            if self.out_of_time(&limits) {
                group.stopped = Some(StopReason::Time);
            } else if let Err(error) = self
                .run_group(target, &limits, &mut anomalies_left, &mut group)
                .await
            {
                tracing::error!(log_group = %target.name, error_type = error.error_type(), %error, "log group not analysed");
                group.error_type = Some(error.error_type().to_string());
                group.error = Some(error.to_string());
            }
            tracing::info!(
                log_group = %group.log_group,
                windows_closed = group.windows_closed,
                events = group.events_read,
                templates = group.templates,
                lines_over_template_cap = group.lines_over_template_cap,
                templates_evicted = group.templates_evicted,
                anomalies = group.anomalies.len(),
                stopped = ?group.stopped,
                "log group analysed"
            );
            report.groups.push(group);
        }
        report
    }

    fn out_of_time(&self, limits: &Limits) -> bool {
        let reserve = Duration::seconds(i64::from(self.config.tuning.time_reserve_seconds));
        limits
            .deadline
            .is_some_and(|deadline| self.clock.now() + reserve >= deadline)
    }

    async fn run_group(
        &self,
        target: &LogGroupTarget,
        limits: &Limits,
        anomalies_left: &mut usize,
        report: &mut GroupReport,
    ) -> Result<(), AnalyzerError> {
        let tuning = &self.config.tuning;
        let length = tuning.window_seconds;
        let log_group = target.name.as_str();
        let stored = self.store.load_log_group(log_group).await?;
        let mut group = GroupState::load(log_group, &stored)?;
        let now = self.clock.now();
        let horizon = now - Duration::seconds(i64::from(tuning.ingestion_lag_seconds));
        let mut checkpoint = stored.checkpoint.clone().unwrap_or_else(|| Checkpoint {
            log_group: log_group.to_string(),
            revision: 0,
            window_seconds: length,
            // A new log group starts with the last window that has ended; history before it
            // is not read.
            window_start: window_floor(horizon, length) - Duration::seconds(i64::from(length)),
            partial: None,
            windows_closed: 0,
            updated_at: now,
        });
        if checkpoint.window_seconds != length {
            checkpoint.partial = None;
            checkpoint.window_start = window_floor(checkpoint.window_start, length);
            checkpoint.window_seconds = length;
        }
        let mut windows_this_run = 0u32;
        loop {
            report.templates = group.miner.template_count();
            report.next_window_start = Some(checkpoint.window_start);
            let start = checkpoint.window_start;
            let end = start + Duration::seconds(i64::from(length));
            if end > horizon {
                return Ok(());
            }
            if windows_this_run >= tuning.max_windows_per_run {
                report.stopped = Some(StopReason::WindowBudget);
                return Ok(());
            }
            let partial = checkpoint.partial.take();
            let mut token = partial.as_ref().map(|partial| partial.next_token.clone());
            let mut counts = partial.map(WindowCounts::from_partial).unwrap_or_default();
            let complete = loop {
                let stop = if report.events_read >= limits.events {
                    Some(StopReason::EventBudget)
                } else if report.bytes_read >= limits.bytes {
                    Some(StopReason::ByteBudget)
                } else if self.out_of_time(limits) {
                    Some(StopReason::Time)
                } else {
                    None
                };
                if let Some(reason) = stop {
                    report.stopped = Some(reason);
                    break false;
                }
                let left = limits.events.saturating_sub(report.events_read);
                let request = LogPageRequest {
                    log_group,
                    start_ms: millis(start),
                    end_ms: millis(end),
                    next_token: token.as_deref(),
                    limit: usize::try_from(left.min(u64::from(tuning.page_size)))
                        .unwrap_or(usize::MAX)
                        .max(1),
                };
                let page = match self.source.page(&request).await {
                    Ok(page) => page,
                    Err(LogSourceError::TokenRejected(reason)) if token.is_some() => {
                        // The saved position expired: count the window again from its start,
                        // dropping what was counted from it so far, so it still counts once.
                        tracing::warn!(log_group, %reason, "page token refused; re-reading the window from its start");
                        token = None;
                        counts = WindowCounts::default();
                        continue;
                    }
                    Err(error) => return Err(error.into()),
                };
                for event in &page.events {
                    // Secrets go before the miner sees the line, so no template text, token,
                    // sample or published anomaly ever carries one.
                    let line = super::redact::redact(cut_line(&event.message));
                    let line = line.as_ref();
                    // At the cap a line that fits no template learned so far makes room by
                    // evicting stale templates, or is left out when none may go.
                    let mut template_id = None;
                    if group.miner.template_count() >= tuning.max_templates_per_group {
                        template_id = group.miner.match_line(line);
                        if template_id.is_none() {
                            // Renames and new templates become records first, and the counts
                            // move to the ids that cover them, since the miner is rebuilt.
                            group.reconcile((start, end), tuning);
                            counts = std::mem::take(&mut counts)
                                .resolved(|id| group.resolve(id), tuning.samples_per_anomaly);
                            let evicted = group.evict(log_group, start, &counts, tuning, now)?;
                            report.templates_evicted += evicted as u64;
                        }
                    }
                    if template_id.is_none()
                        && group.miner.template_count() < tuning.max_templates_per_group
                    {
                        let learned = group.miner.add_line(line);
                        if learned.is_new {
                            report.new_templates += 1;
                        }
                        template_id = Some(learned.template_id);
                    }
                    match template_id {
                        Some(id) => {
                            counts.add(id, line, event.timestamp_ms, tuning.samples_per_anomaly);
                        }
                        None => report.lines_over_template_cap += 1,
                    }
                    report.events_read += 1;
                    report.bytes_read += event.message.len() as u64;
                }
                match page.next_token {
                    Some(next) => token = Some(next),
                    None => break true,
                }
            };
            if !complete {
                if let Some(token) = token {
                    // Stopped inside the window: keep the position and the counts so far.
                    group.reconcile((start, end), tuning);
                    let counts =
                        counts.resolved(|id| group.resolve(id), tuning.samples_per_anomaly);
                    let mut next = checkpoint.clone();
                    next.partial = Some(counts.to_partial(token));
                    next.revision += 1;
                    next.updated_at = now;
                    self.save(log_group, &mut group, &next).await?;
                }
                report.templates = group.miner.template_count();
                return Ok(());
            }
            let next = self
                .close_window(
                    target,
                    &mut group,
                    &checkpoint,
                    counts,
                    anomalies_left,
                    report,
                )
                .await?;
            checkpoint = next;
            windows_this_run += 1;
            report.windows_closed += 1;
        }
    }

    async fn save(
        &self,
        log_group: &str,
        group: &mut GroupState,
        checkpoint: &Checkpoint,
    ) -> Result<(), AnalyzerError> {
        let records = group.take_dirty();
        let write = LogGroupWrite {
            log_group,
            templates: &records,
            checkpoint: Some(checkpoint),
            tombstone_expires_at: self.clock.now()
                + Duration::days(i64::from(self.config.tuning.tombstone_days)),
        };
        match self.store.save_log_group(write).await {
            Ok(SaveOutcome::Saved) => Ok(()),
            Ok(SaveOutcome::Conflict) => {
                group.restore_dirty(&records);
                Err(AnalyzerError::ConcurrentRun(log_group.to_string()))
            }
            Err(error) => {
                group.restore_dirty(&records);
                Err(error.into())
            }
        }
    }

    /// Folds a completely read window into the baselines, publishes its anomalies, and saves
    /// the records and the moved checkpoint. Returns the new checkpoint.
    async fn close_window(
        &self,
        target: &LogGroupTarget,
        group: &mut GroupState,
        checkpoint: &Checkpoint,
        counts: WindowCounts,
        anomalies_left: &mut usize,
        report: &mut GroupReport,
    ) -> Result<Checkpoint, AnalyzerError> {
        let tuning = &self.config.tuning;
        let length = tuning.window_seconds;
        let alpha = tuning.ewma_alpha;
        let start = checkpoint.window_start;
        let end = start + Duration::seconds(i64::from(length));
        let window = window_index(start, length);
        group.reconcile((start, end), tuning);
        let counts = counts.resolved(|id| group.resolve(id), tuning.samples_per_anomaly);
        let learning = checkpoint.windows_closed < tuning.learning_windows;
        let mut candidates = Vec::new();
        let ids: Vec<TemplateId> = group
            .records
            .values()
            .filter(|record| record.is_live())
            .map(|record| record.template_id)
            .collect();
        for id in ids {
            let count = counts.counts.get(&id).copied().unwrap_or(0);
            let Some(record) = group.records.get_mut(&id) else {
                continue;
            };
            // A template absent from the window matters only as a possible missing heartbeat;
            // skipping the others keeps a window's cost proportional to what it contains.
            let heartbeat_candidate = tuning.heartbeat_min_windows > 0
                && record.stats.last_present_window == Some(window - 1);
            if count == 0 && !heartbeat_candidate {
                continue;
            }
            let already_folded = record.stats.window_seconds == length
                && record.stats.last_window.is_some_and(|last| last >= window);
            let before = match (&record.prior, already_folded) {
                (Some(prior), true) => prior.caught_up_to(window, length, alpha),
                _ => record.stats.caught_up_to(window, length, alpha),
            };
            let samples = counts.samples.get(&id).cloned().unwrap_or_default();
            if let Some(candidate) = self.judge(
                target,
                record,
                &before,
                count,
                samples,
                learning,
                (start, end),
            ) {
                candidates.push(candidate);
            }
            if count > 0 && !already_folded {
                record.prior = Some(before);
                record.stats = record.stats.with_window(window, count, length, alpha);
                if let Some((first, last)) = counts.first_last_ms.get(&id) {
                    record.first_seen = record.first_seen.min(from_millis(*first));
                    record.last_seen = record.last_seen.max(from_millis(*last));
                } else {
                    record.last_seen = record.last_seen.max(end);
                }
                group.mark(id);
            }
        }
        candidates.sort_by(|a, b| {
            b.rank
                .0
                .cmp(&a.rank.0)
                .then(b.rank.1.cmp(&a.rank.1))
                .then(b.rank.2.total_cmp(&a.rank.2))
                .then(a.detail.template_id.cmp(&b.detail.template_id))
        });
        let keep = candidates.len().min(*anomalies_left);
        let suppressed = candidates.split_off(keep);
        if !suppressed.is_empty() {
            tracing::warn!(
                log_group = %target.name,
                suppressed = suppressed.len(),
                "anomalies over the per-run cap were not published"
            );
        }
        let events: Vec<BusEvent> = candidates
            .iter()
            .map(|candidate| BusEvent {
                source: LOG_ANOMALY_SOURCE.to_string(),
                detail_type: LOG_ANOMALY_DETAIL_TYPE.to_string(),
                detail: serde_json::to_value(&candidate.detail).unwrap_or_default(),
                resources: Vec::new(),
                time: end,
            })
            .collect();
        if !events.is_empty() {
            // Published before the checkpoint moves: an interruption after this republishes
            // the same anomalies (at least once) rather than losing them.
            self.bus.put(&events).await?;
        }
        let mut next = checkpoint.clone();
        next.window_start = end;
        next.partial = None;
        next.windows_closed += 1;
        next.revision += 1;
        next.updated_at = self.clock.now();
        next.window_seconds = length;
        self.save(&target.name, group, &next).await?;
        *anomalies_left -= candidates.len();
        report.anomalies_suppressed += suppressed.len();
        report
            .anomalies
            .extend(candidates.iter().map(|candidate| AnomalySummary {
                kind: candidate.detail.kind.clone(),
                template_id: candidate.detail.template_id.clone(),
                count: candidate.detail.count,
                score: candidate.detail.score,
            }));
        Ok(next)
    }

    /// The anomaly rules for one template in one window, judged against the baseline before it.
    #[allow(clippy::too_many_arguments)]
    fn judge(
        &self,
        target: &LogGroupTarget,
        record: &TemplateRecord,
        before: &BaselineStats,
        count: u64,
        samples: Vec<String>,
        learning: bool,
        (start, end): (DateTime<Utc>, DateTime<Utc>),
    ) -> Option<Candidate> {
        let tuning = &self.config.tuning;
        let window = window_index(start, tuning.window_seconds);
        let (kind, score, rank) = if count > 0 && before.windows == 0 && before.lines_total == 0 {
            if learning || !is_error_level(record.level.as_deref()) {
                return None;
            }
            ("new_error_template", count as f64, 3)
        } else if count > 0 {
            if before.windows < tuning.min_history_windows
                || count < tuning.spike_min_count
                || (count as f64) < tuning.spike_min_ratio * before.mean
            {
                return None;
            }
            let spread = before.stddev().max(before.mean.sqrt()).max(1.0);
            let z = (count as f64 - before.mean) / spread;
            if z < tuning.spike_z {
                return None;
            }
            ("rate_spike", z, 2)
        } else {
            let heartbeat = tuning.heartbeat_min_windows > 0
                && before.last_present_window == Some(window - 1)
                && before.present_streak >= tuning.heartbeat_min_windows;
            if !heartbeat {
                return None;
            }
            ("heartbeat_missing", before.present_streak as f64, 1)
        };
        let samples = if samples.is_empty() {
            vec![record.sample.clone()]
        } else {
            samples
        };
        Some(Candidate {
            rank: (rank, severity_rank(record.level.as_deref()), score),
            detail: LogAnomalyDetail {
                schema_version: SCHEMA_VERSION,
                log_group: target.name.clone(),
                resource: target.resource.as_ref().map(|r| r.as_str().to_string()),
                kind: kind.to_string(),
                level: record.level.clone(),
                window: TimeWindow { start, end },
                template_id: record.template_id.to_string(),
                template: record.text.clone(),
                count,
                baseline: Baseline {
                    mean: before.mean,
                    stddev: before.stddev(),
                    windows: before.windows,
                },
                score,
                samples,
            },
        })
    }
}
