//! AWS adapters that are not stores: each implements a port of the library with one AWS
//! service, behind its own cargo feature, and lists the IAM actions its calls need.

#[cfg(feature = "cloudtrail")]
pub mod cloudtrail;
#[cfg(feature = "tagging")]
pub mod tagging;
#[cfg(feature = "xray")]
pub mod xray;
