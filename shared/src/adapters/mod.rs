//! AWS adapters that are not stores (the workflow, alarms, log source, event bus and
//! investigation's sources): each implements a port of the library with one AWS
//! service, behind its own cargo feature, and lists the IAM actions its calls need.

#[cfg(feature = "cloudtrail")]
pub mod cloudtrail;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;
#[cfg(feature = "cloudwatch")]
pub mod cloudwatch_metrics;
#[cfg(feature = "cloudwatchlogs")]
pub mod cloudwatchlogs;
#[cfg(feature = "eventbridge")]
pub mod eventbridge;
#[cfg(feature = "sfn")]
pub mod sfn;
#[cfg(feature = "xray")]
pub mod xray;
