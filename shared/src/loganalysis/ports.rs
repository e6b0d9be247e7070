//! The log analyzer's ports: where log events come from (`LogSource`), where anomalies go
//! (`EventBus`), and where per-template baselines and the read checkpoint live (`BaselineStore`),
//! with the values they exchange. Adapters: CloudWatch Logs, EventBridge, DynamoDB and the
//! embedded store; in-memory fakes sit in `loganalysis::memory`.

use super::baseline::BaselineStats;
use crate::logmine::{SavedToken, TemplateId};
use crate::ports::StoreError;
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// One log event as the source delivers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogEvent {
    /// Milliseconds since the epoch, as CloudWatch Logs stamps events.
    pub timestamp_ms: i64,
    pub message: String,
}

/// A request for one page of events of one log group with `start_ms <= timestamp < end_ms`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogPageRequest<'a> {
    pub log_group: &'a str,
    pub start_ms: i64,
    /// Exclusive.
    pub end_ms: i64,
    /// The token a previous page returned; `None` for the first page.
    pub next_token: Option<&'a str>,
    /// At most this many events.
    pub limit: usize,
}

/// One page; `next_token` is `None` when the range is exhausted. A page may be empty and still
/// have a next token (the source searched part of the range and found nothing).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct LogPage {
    pub events: Vec<LogEvent>,
    pub next_token: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogSourceError {
    #[error("the log source is throttling requests: {0}")]
    Throttled(String),
    #[error("the log source is unavailable: {0}")]
    Unavailable(String),
    #[error("log group {0} does not exist")]
    NotFound(String),
    /// A saved page token is no longer accepted (CloudWatch Logs tokens expire after a day); the
    /// window is then read again from its start.
    #[error("the page token was refused: {0}")]
    TokenRejected(String),
}

impl LogSourceError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Throttled(_) => "LogSourceThrottled",
            Self::Unavailable(_) => "LogSourceUnavailable",
            Self::NotFound(_) => "LogGroupNotFound",
            Self::TokenRejected(_) => "LogSourceTokenRejected",
        }
    }
}

/// Reads log events by time range, one page at a time (CloudWatch Logs FilterLogEvents).
#[async_trait]
pub trait LogSource: Send + Sync {
    async fn page(&self, request: &LogPageRequest<'_>) -> Result<LogPage, LogSourceError>;
}

/// One event for the bus, in EventBridge's terms.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BusEvent {
    pub source: String,
    pub detail_type: String,
    pub detail: Value,
    pub resources: Vec<String>,
    pub time: DateTime<Utc>,
}

/// EventBridge refuses a PutEvents request whose entries total 256 KB or more (and so any
/// single entry that large).
pub const MAX_PUT_EVENTS_BYTES: usize = 256 * 1024;

impl BusEvent {
    /// The size EventBridge counts for this entry ("Calculating PutEvents event entry size"):
    /// `Time` 14 bytes, then `Source`, `DetailType`, `Detail` and each of `Resources` in UTF-8.
    pub fn entry_size(&self) -> usize {
        14 + self.source.len()
            + self.detail_type.len()
            + self.detail.to_string().len()
            + self.resources.iter().map(String::len).sum::<usize>()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventBusError {
    #[error("the event bus is throttling: {0}")]
    Throttled(String),
    #[error("the event bus is unavailable: {0}")]
    Unavailable(String),
    #[error("the event bus refused {failed} of {total} events: {reason}")]
    Rejected {
        failed: usize,
        total: usize,
        reason: String,
    },
}

impl EventBusError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Throttled(_) => "EventBusThrottled",
            Self::Unavailable(_) => "EventBusUnavailable",
            Self::Rejected { .. } => "EventBusRejected",
        }
    }
}

/// Puts events on a bus (EventBridge PutEvents). All of them are delivered, or it is an error.
#[async_trait]
pub trait EventBus: Send + Sync {
    async fn put(&self, events: &[BusEvent]) -> Result<(), EventBusError>;
}

/// What is stored per log group and template: the template itself (so a restarted analyzer
/// rebuilds the same miner and so assigns the same ids) and its baseline. A record whose template
/// was generalised into another one stays as a tombstone naming its successor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TemplateRecord {
    pub template_id: TemplateId,
    /// Optimistic-concurrency revision: a write of revision `n` requires `n - 1` to be stored
    /// (or nothing, for revision 1).
    pub revision: u64,
    pub text: String,
    /// The miner's tokens, so the template can be rebuilt exactly.
    pub tokens: Vec<SavedToken>,
    /// `error`, `fatal`, `critical` or `warn` when the template reads as one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<String>,
    /// One sanitised line.
    pub sample: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub stats: BaselineStats,
    /// The stats before the last window was folded in, so a window processed again after an
    /// interrupted run is judged against the same baseline and not counted twice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prior: Option<BaselineStats>,
    /// Set on a tombstone: the template this one was generalised into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renamed_to: Option<TemplateId>,
    /// Set on a tombstone of a template evicted at the group's template cap (the least recently
    /// seen, fewest lines first): its id stays known, and if its lines come back it is learned
    /// again under the same id with its baseline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evicted_at: Option<DateTime<Utc>>,
}

impl TemplateRecord {
    /// A live template: neither generalised into another nor evicted.
    pub fn is_live(&self) -> bool {
        self.renamed_to.is_none() && self.evicted_at.is_none()
    }

    /// A tombstone (generalised or evicted), which the store lets expire.
    pub fn is_tombstone(&self) -> bool {
        !self.is_live()
    }
}

/// A window read in part: where to resume and what was counted so far.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PartialWindow {
    /// The source's page token to resume from.
    pub next_token: String,
    pub counts: BTreeMap<TemplateId, u64>,
    #[serde(default)]
    pub samples: BTreeMap<TemplateId, Vec<String>>,
    pub events: u64,
    pub bytes: u64,
}

/// How far the analyzer has read one log group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub log_group: String,
    pub revision: u64,
    pub window_seconds: u32,
    /// Start of the next window to close (inclusive); everything before it is counted.
    pub window_start: DateTime<Utc>,
    /// Progress inside that window, when a run stopped part-way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial: Option<PartialWindow>,
    /// Windows closed so far (the analyzer's learning period is counted in these).
    pub windows_closed: u64,
    pub updated_at: DateTime<Utc>,
}

/// Everything stored for one log group.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct LogGroupState {
    pub checkpoint: Option<Checkpoint>,
    /// Live templates and tombstones, in no particular order.
    pub templates: Vec<TemplateRecord>,
}

/// One save: template records first, then the checkpoint. Each is conditional on its revision.
#[derive(Clone, Copy, Debug)]
pub struct LogGroupWrite<'a> {
    pub log_group: &'a str,
    pub templates: &'a [TemplateRecord],
    pub checkpoint: Option<&'a Checkpoint>,
    /// Tombstones are kept this long, so ids in past incidents still resolve.
    pub tombstone_expires_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SaveOutcome {
    Saved,
    /// A record or the checkpoint changed since it was read: another run is working on the group.
    Conflict,
}

/// Baselines and checkpoints of the log analyzer, in the patterns table (`LOG#<group>` items).
#[async_trait]
pub trait BaselineStore: Send + Sync {
    async fn load_log_group(&self, log_group: &str) -> Result<LogGroupState, StoreError>;
    /// Writes the records, then the checkpoint. The embedded store does it in one transaction;
    /// DynamoDB in transactions of up to 100 items, records before the checkpoint, so an
    /// interruption leaves the checkpoint behind the records, never ahead of them.
    async fn save_log_group(&self, write: LogGroupWrite<'_>) -> Result<SaveOutcome, StoreError>;
}
