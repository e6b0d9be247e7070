//! Replays of external alerts: a captured webhook re-sent once its de-duplication claim has
//! expired must not open an incident again.
//!
//! Alertmanager (bearer token), Datadog (a shared header) and PagerDuty (a signature over the
//! body alone) sign no send time, so the endpoint cannot tell a replay from a delivery; Grafana's
//! signed timestamp is required but the same alert can still come through another vendor. What
//! every external alert carries is its own time (the alert's start), which is part of its source
//! event id. Within `dedup_ttl_seconds` of that time the claim answers "duplicate"; after it, the
//! alert's age does, so de-duplication lasts for as long as a replay can matter. A real new
//! firing has a new start time, so it is a new alert and opens.

use super::{Outcome, SignalReport};
use crate::signal::{Signal, SignalEffect, SignalSource};
use chrono::{DateTime, Duration, Utc};

/// The report for an external alert whose own time is older than the de-duplication window,
/// or `None` when the signal is not one.
pub(super) fn older_than_dedup_window(
    signal: &Signal,
    now: DateTime<Utc>,
    dedup_ttl_seconds: u64,
) -> Option<SignalReport> {
    let window = Duration::seconds(i64::try_from(dedup_ttl_seconds).unwrap_or(i64::MAX));
    let replayable = signal.source == SignalSource::ExternalAlert
        && signal.effect == SignalEffect::Opens
        && now.signed_duration_since(signal.observed_at) > window;
    if !replayable {
        return None;
    }
    let mut report = SignalReport::new(signal, Outcome::Duplicate);
    report.step(
        "dedup",
        format!(
            "the alert started at {}, longer ago than the de-duplication window ({dedup_ttl_seconds} s): \
             once its claim has expired a replay cannot be told from it, so it opens nothing",
            signal.observed_at.to_rfc3339()
        ),
    );
    Some(report)
}
