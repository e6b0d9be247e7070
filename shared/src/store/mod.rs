//! Adapters for the store and workflow ports: embedded (redb, for local runs and tests) and
//! DynamoDB / Step Functions (for AWS), each behind its own cargo feature.

#[cfg(feature = "embedded")]
pub mod embedded;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;

#[cfg(feature = "sfn")]
pub mod sfn;
