//! Adapters for the store, workflow and log-analysis ports: embedded (redb, for local runs and
//! tests) and DynamoDB / Step Functions / CloudWatch / CloudWatch Logs / EventBridge (for AWS), each behind
//! its own cargo feature.

pub mod approval_token;
#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(feature = "embedded")]
mod embedded_baselines;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "dynamodb")]
pub mod dynamodb_baselines;

#[cfg(feature = "cloudwatch")]
pub mod cloudwatch;

#[cfg(feature = "cloudwatchlogs")]
pub mod cloudwatchlogs;

#[cfg(feature = "eventbridge")]
pub mod eventbridge;

#[cfg(feature = "sfn")]
pub mod sfn;
