//! Every normalised signal is bounded before the intake sees it: an alarm name longer than AWS
//! allows is refused, display text is cut with a marker, and the identities that become store
//! keys are hashed past a length.
//!
//! Key budget (DynamoDB: partition key at most 2,048 bytes, sort key at most 1,024): a resource
//! is at most 1,024 bytes (`ResourceRef::parse`), a signature at most `MAX_SIGNATURE_BYTES`, a
//! source event id and an origin at most `MAX_IDENTITY_BYTES`, so `OPEN#<resource>#<signature>`,
//! `DEDUP#<source event id>`, `SIG#<signature>` and the origin's clear stay well inside.

use super::Signal;
use super::normalise::{NormaliseError, Normalised, invalid};
use crate::bounds::truncate_with_marker;
use sha2::{Digest, Sha256};

/// PutMetricAlarm: an alarm name is 1-255 characters.
const MAX_ALARM_NAME_CHARS: usize = 255;
pub const MAX_SIGNATURE_BYTES: usize = 512;
pub const MAX_IDENTITY_BYTES: usize = 1_024;
const MAX_TITLE_BYTES: usize = 512;
const MAX_STATE_BYTES: usize = 128;
const MAX_METRIC_BYTES: usize = 512;
const MAX_PRINCIPAL_BYTES: usize = 2_048;

pub(super) fn bound(normalised: Normalised) -> Result<Normalised, NormaliseError> {
    match normalised {
        Normalised::Signals(signals) => signals
            .into_iter()
            .map(bound_signal)
            .collect::<Result<Vec<_>, _>>()
            .map(Normalised::Signals),
        ignored => Ok(ignored),
    }
}

fn bound_signal(mut signal: Signal) -> Result<Signal, NormaliseError> {
    if let Some(name) = &signal.alarm_name
        && name.chars().count() > MAX_ALARM_NAME_CHARS
    {
        return Err(invalid(
            "CloudWatch alarm",
            "alarmName",
            "longer than the 255 characters an alarm name may have",
        ));
    }
    signal.signature = hashed_past(&signal.signature, MAX_SIGNATURE_BYTES);
    signal.source_event_id = hashed_past(&signal.source_event_id, MAX_IDENTITY_BYTES);
    signal.origin = signal
        .origin
        .map(|origin| hashed_past(&origin, MAX_IDENTITY_BYTES));
    signal.title = truncate_with_marker(&signal.title, MAX_TITLE_BYTES).into_owned();
    signal.state = truncate_with_marker(&signal.state, MAX_STATE_BYTES).into_owned();
    signal.metric = signal
        .metric
        .map(|metric| truncate_with_marker(&metric, MAX_METRIC_BYTES).into_owned());
    signal.principal = signal
        .principal
        .map(|principal| truncate_with_marker(&principal, MAX_PRINCIPAL_BYTES).into_owned());
    Ok(signal)
}

/// `text` if it fits in `max_bytes`, else a readable prefix and `#sha256:<hex of the whole>`:
/// as stable and as distinct as the text itself, and never longer than `max_bytes`.
fn hashed_past(text: &str, max_bytes: usize) -> String {
    if text.len() <= max_bytes {
        return text.to_string();
    }
    let digest: String = Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    let suffix = format!("#sha256:{digest}");
    let mut end = max_bytes.saturating_sub(suffix.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hashed_identity_fits_and_stays_distinct() {
        let a = hashed_past(&format!("{}a", "é".repeat(2_000)), 512);
        let b = hashed_past(&format!("{}b", "é".repeat(2_000)), 512);
        assert!(a.len() <= 512 && b.len() <= 512);
        assert_ne!(a, b);
        assert_eq!(hashed_past("short", 512), "short");
    }
}
