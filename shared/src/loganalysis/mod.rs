//! The log analyzer: learns the shape of each log group (templates mined from its lines, with a
//! baseline of how often each appears per window) and reports a real change as an
//! "Argus Log Anomaly": a new template at error level, a rate spike over the baseline, or a
//! heartbeat template that stopped. The `log-analyzer` Lambda runs [`LogAnalyzer::run`] on a
//! schedule; everything it needs comes through the ports in [`ports`].

pub mod analyzer;
pub mod baseline;
pub mod config;
#[cfg(feature = "testing")]
pub mod conformance;
pub mod memory;
pub mod ports;
pub mod redact;
pub mod text;

pub use analyzer::{
    AnalyzerError, AnomalySummary, GroupReport, LogAnalyzer, RunReport, StopReason,
};
pub use baseline::BaselineStats;
pub use config::{AnalyzerConfig, AnalyzerConfigError, AnalyzerTuning, LogGroupTarget};
pub use ports::{
    BaselineStore, BusEvent, Checkpoint, EventBus, EventBusError, LogEvent, LogGroupState,
    LogGroupWrite, LogPage, LogPageRequest, LogSource, LogSourceError, PartialWindow, SaveOutcome,
    TemplateRecord,
};
