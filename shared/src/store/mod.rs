//! The stores: incidents, patterns and log baselines, embedded (redb, for local runs and tests)
//! and on DynamoDB (for AWS), each behind its own cargo feature. Adapters that store nothing live
//! in `crate::adapters`.

pub mod approval_token;
#[cfg(feature = "embedded")]
pub mod embedded;
#[cfg(feature = "embedded")]
mod embedded_baselines;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "dynamodb")]
pub mod dynamodb_baselines;
