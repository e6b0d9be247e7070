//! A captured webhook replayed later must not re-open an incident: sources that carry no signed
//! send time (PagerDuty, bearer-token senders) are de-duplicated by their alert's own time, and
//! an alert older than the de-duplication window (whose claim may have expired) is a duplicate.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::clock::Clock;
use argus::config::Config;
use argus::intake::Outcome;
use chrono::{DateTime, Utc};
use serde_json::Value;
use support::{Harness, sample};

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// The same alert as another EventBridge delivery (a replay through the endpoint gets a new
/// envelope id, but the alert inside is the captured one).
fn redelivered(mut event: Value, id: &str) -> Value {
    event["id"] = Value::String(id.to_string());
    event
}

#[tokio::test]
async fn attack_a_firing_replayed_after_the_dedup_window_does_not_reopen_the_incident() {
    let config = Config::default();
    let window = config.dedup_ttl_seconds as i64;
    let harness = Harness::new(config);
    let firing = sample("argus/external-alert-firing.json");
    let resolved = sample("argus/external-alert-resolved.json");

    harness.clock.set(at("2026-11-22T04:52:00Z"));
    let report = harness.deliver(&firing).await.unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Opened);
    harness.clock.set(at("2026-11-22T05:19:00Z"));
    let report = harness.deliver(&resolved).await.unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Resolved);

    // Within the window the claim answers; after it, the alert's own time does.
    harness.advance(3600);
    let report = harness
        .deliver(&redelivered(firing.clone(), "replay-1"))
        .await
        .unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Duplicate);
    harness.advance(window + 86_400);
    let report = harness
        .deliver(&redelivered(firing, "replay-2"))
        .await
        .unwrap();
    assert_eq!(
        report.signals[0].outcome,
        Outcome::Duplicate,
        "{:?}",
        report.signals[0].steps
    );
    assert_eq!(harness.starts(), 1, "no second workflow");
}

#[tokio::test]
async fn attack_a_captured_firing_replayed_once_everything_that_remembered_it_expired() {
    // The claim has a TTL and incident records do not live forever either: a firing replayed
    // after both (here: to a store that never saw it) must still open nothing.
    let config = Config::default();
    let window = config.dedup_ttl_seconds as i64;
    let harness = Harness::new(config);
    harness
        .clock
        .set(at("2026-11-22T04:51:30Z") + chrono::Duration::seconds(window + 86_400));
    let report = harness
        .deliver(&sample("argus/external-alert-firing.json"))
        .await
        .unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Duplicate);
    assert!(
        report.signals[0].steps[0]
            .detail
            .contains("de-duplication window"),
        "{:?}",
        report.signals[0].steps
    );
    assert_eq!(harness.starts(), 0);
}

#[tokio::test]
async fn a_new_firing_of_the_same_alert_still_opens() {
    let config = Config::default();
    let window = config.dedup_ttl_seconds as i64;
    let harness = Harness::new(config);
    let mut firing = sample("argus/external-alert-firing.json");
    harness.clock.set(at("2026-11-22T04:52:00Z"));
    harness.deliver(&firing).await.unwrap();
    harness
        .deliver(&sample("argus/external-alert-resolved.json"))
        .await
        .unwrap();

    // Weeks later the alert fires again: a new start time, so a new alert, not a replay.
    harness.advance(window + 86_400);
    let now = harness.clock.now();
    firing["id"] = Value::String("later".into());
    firing["detail"]["starts_at"] =
        Value::String((now - chrono::Duration::minutes(1)).to_rfc3339());
    let report = harness.deliver(&firing).await.unwrap();
    assert_eq!(report.signals[0].outcome, Outcome::Opened);
}
