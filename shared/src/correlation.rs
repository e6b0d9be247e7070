//! Correlation ids: derived, not random, and valid as Step Functions execution names.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// The identity of an incident: its table key, its execution name, and a tag on every action.
///
/// Shape: `<UTC yyyymmddThhmmssZ>-<slug of the signature>-<12 hex of a SHA-256>`, at most 80
/// characters of `[A-Za-z0-9_-]`. The hash covers the signature, the resource and the first
/// signal's source event id, so every delivery of one event derives the same id.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CorrelationId(String);

const TIME_FORMAT: &str = "%Y%m%dT%H%M%SZ";
const TIME_LENGTH: usize = 16;
const HASH_LENGTH: usize = 12;
const SLUG_MAX: usize = 40;
pub const MAX_LENGTH: usize = 80;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not an Argus correlation id: {reason}")]
pub struct CorrelationIdError {
    pub value: String,
    pub reason: &'static str,
}

impl CorrelationId {
    pub fn derive(
        signature: &str,
        resource: &str,
        first_source_event_id: &str,
        first_seen: DateTime<Utc>,
    ) -> Self {
        let mut hasher = Sha256::new();
        for part in [signature, resource, first_source_event_id] {
            hasher.update(part.as_bytes());
            // A separator that cannot appear in the parts keeps ("ab","c") and ("a","bc") apart.
            hasher.update([0u8]);
        }
        let digest = hasher.finalize();
        let hash: String = digest
            .iter()
            .take(HASH_LENGTH / 2)
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let slug = slug(signature);
        let time = first_seen.format(TIME_FORMAT);
        if slug.is_empty() {
            Self(format!("{time}-{hash}"))
        } else {
            Self(format!("{time}-{slug}-{hash}"))
        }
    }

    pub fn parse(value: &str) -> Result<Self, CorrelationIdError> {
        let error = |reason| CorrelationIdError {
            value: value.chars().take(100).collect(),
            reason,
        };
        if value.len() > MAX_LENGTH {
            return Err(error("longer than 80 characters"));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(error("only letters, digits, `-` and `_` are allowed"));
        }
        let time = value.get(..TIME_LENGTH).ok_or_else(|| error("too short"))?;
        if chrono::NaiveDateTime::parse_from_str(time, TIME_FORMAT).is_err() {
            return Err(error("does not start with a yyyymmddThhmmssZ time"));
        }
        let hash = value
            .rsplit('-')
            .next()
            .filter(|hash| hash.len() == HASH_LENGTH)
            .ok_or_else(|| error("does not end with a 12-character hash"))?;
        if !hash.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(error("the hash is not hexadecimal"));
        }
        Ok(Self(value.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Lower-case letters and digits of the signature's last segments, joined by `-`, so that the
/// id says what the incident is about at a glance in the Step Functions console.
fn slug(signature: &str) -> String {
    let mut slug = String::new();
    let mut pending_dash = false;
    for c in signature.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    if slug.len() > SLUG_MAX {
        // Keep the end: it names the metric or call, which reads better than the namespace.
        let cut = slug.len() - SLUG_MAX;
        slug = slug[cut..].trim_start_matches('-').to_string();
    }
    slug
}

impl TryFrom<String> for CorrelationId {
    type Error = CorrelationIdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CorrelationId> for String {
    fn from(value: CorrelationId) -> Self {
        value.0
    }
}

impl fmt::Display for CorrelationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 5, 4, 12).unwrap()
    }

    #[test]
    fn the_same_inputs_derive_the_same_valid_execution_name() {
        let signature = "metric:AWS/EC2/CPUUtilization/ServerCpuTooHigh";
        let a = CorrelationId::derive(signature, "ec2:instance/i-1", "event-1", at());
        let b = CorrelationId::derive(signature, "ec2:instance/i-1", "event-1", at());
        assert_eq!(a, b);
        assert!(a.as_str().starts_with("20261122T050412Z-"));
        assert!(a.as_str().len() <= MAX_LENGTH);
        assert_eq!(CorrelationId::parse(a.as_str()).unwrap(), a);
    }

    #[test]
    fn a_different_first_event_derives_a_different_id() {
        let a = CorrelationId::derive("s", "r", "event-1", at());
        let b = CorrelationId::derive("s", "r", "event-2", at());
        assert_ne!(a, b);
    }

    #[test]
    fn very_long_signatures_still_fit_in_an_execution_name() {
        let signature = "x".repeat(500) + "/" + &"y".repeat(300);
        let id = CorrelationId::derive(&signature, "r", "e", at());
        assert!(id.as_str().len() <= MAX_LENGTH, "{id}");
        CorrelationId::parse(id.as_str()).unwrap();
    }

    #[test]
    fn foreign_strings_are_not_taken_for_correlation_ids() {
        for bad in [
            "",
            "abc",
            "20261122T050412Z",
            "20261122T050412Z-x-zzzzzzzzzzzz",
            "2026-11-22-abcdefabcdef",
        ] {
            assert!(CorrelationId::parse(bad).is_err(), "{bad}");
        }
    }
}
