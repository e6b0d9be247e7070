//! What the log analyzer needs from its deployment: the environment it reads at init, the AWS
//! calls its adapters make, and the `errorType` names it can report. tests/tests/wiring.rs
//! compiles this file (it cannot depend on a function crate) and holds Terraform to it.

use argus::loganalysis::analyzer::AnalyzerError;
use argus::loganalysis::config::{EVENT_BUS_ENV, LOG_GROUPS_ENV, TUNING_ENV};
use argus::loganalysis::ports::{EventBusError, LogSourceError};
use argus::ports::StoreError;
use argus::store::dynamodb::schema::PATTERNS_TABLE_ENV;

/// Environment variables read once at init (the optional tuning included: Terraform sets it).
pub const ENVIRONMENT: &[&str] = &[
    PATTERNS_TABLE_ENV,
    EVENT_BUS_ENV,
    LOG_GROUPS_ENV,
    TUNING_ENV,
    argus::sdk::TLS_ROOTS_ENV,
];

/// IAM actions of every AWS call the log analyzer's adapters make.
pub fn api_calls() -> Vec<&'static str> {
    [
        argus::adapters::cloudwatchlogs::API_CALLS,
        argus::adapters::eventbridge::API_CALLS,
        argus::store::dynamodb_baselines::API_CALLS,
    ]
    .concat()
}

/// Every `errorType` the handler can report, named by the library's own `error_type()`.
pub fn error_types() -> Vec<&'static str> {
    let text = String::new;
    let errors = [
        AnalyzerError::Source(LogSourceError::Throttled(text())),
        AnalyzerError::Source(LogSourceError::Unavailable(text())),
        AnalyzerError::Source(LogSourceError::NotFound(text())),
        AnalyzerError::Source(LogSourceError::TokenRejected(text())),
        AnalyzerError::Store(StoreError::Throttled(text())),
        AnalyzerError::Store(StoreError::Unavailable(text())),
        AnalyzerError::Store(StoreError::Corrupt(text())),
        AnalyzerError::Bus(EventBusError::Throttled(text())),
        AnalyzerError::Bus(EventBusError::Unavailable(text())),
        AnalyzerError::Bus(EventBusError::Rejected {
            failed: 0,
            total: 0,
            reason: text(),
        }),
        AnalyzerError::ConcurrentRun(text()),
    ];
    let mut names: Vec<&'static str> = errors.iter().map(AnalyzerError::error_type).collect();
    // A payload that is not JSON (`handler::INVALID_EVENT`; this file is also compiled alone).
    names.push("InvalidEvent");
    names.sort_unstable();
    names.dedup();
    names
}
