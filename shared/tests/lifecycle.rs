//! The incident lifecycle through the intake path: which alarm clears what, and signals
//! delivered late, retried or out of the order the source raised them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::config::Config;
use argus::incident::IncidentStatus;
use argus::intake::Outcome;
use argus::ports::IncidentStore;
use argus::testing::epoch;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use support::{Harness, alarm_event};

/// The sample CPU alarm under another name (and so another ARN), as a second alarm on the same
/// instance and metric would be: a warning beside a critical one.
fn named_alarm(name: &str, state: &str, at: DateTime<Utc>, instance: &str) -> Value {
    let mut event = alarm_event(state, at, instance);
    event["id"] = Value::String(format!("{name}-{}", event["id"].as_str().unwrap()));
    event["detail"]["alarmName"] = Value::String(name.to_string());
    event["resources"] = serde_json::json!([format!(
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
    )]);
    event
}

fn at(minutes: i64) -> DateTime<Utc> {
    epoch() + Duration::minutes(minutes)
}

#[tokio::test]
async fn a_warning_alarms_ok_does_not_resolve_what_the_critical_alarm_still_reports() {
    let harness = Harness::new(Config::default());
    // GIVEN a warning and a critical alarm on the same instance and metric, both in ALARM.
    let warning = harness
        .deliver(&named_alarm("cpu-warning", "ALARM", at(0), "i-0pair"))
        .await
        .unwrap();
    assert_eq!(warning.signals[0].outcome, Outcome::Opened);
    let id = warning.signals[0].correlation_id.clone().unwrap();
    let critical = harness
        .deliver(&named_alarm("cpu-critical", "ALARM", at(1), "i-0pair"))
        .await
        .unwrap();
    assert_eq!(critical.signals[0].outcome, Outcome::Attached);
    assert_eq!(critical.signals[0].correlation_id.as_ref(), Some(&id));
    // WHEN the warning returns to OK THEN the incident stays open for the critical alarm.
    let warning_ok = harness
        .deliver(&named_alarm("cpu-warning", "OK", at(2), "i-0pair"))
        .await
        .unwrap();
    assert_eq!(
        warning_ok.signals[0].outcome,
        Outcome::Attached,
        "one alarm's OK does not resolve another alarm's problem"
    );
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert!(incident.status.is_open(), "{:?}", incident.status);
    // AND when the critical alarm is OK too THEN it resolves.
    let critical_ok = harness
        .deliver(&named_alarm("cpu-critical", "OK", at(3), "i-0pair"))
        .await
        .unwrap();
    assert_eq!(critical_ok.signals[0].outcome, Outcome::Resolved);
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
}

#[tokio::test]
async fn a_late_ok_from_an_earlier_flap_does_not_close_the_new_incident() {
    let harness = Harness::new(Config::default());
    let first = harness
        .deliver(&named_alarm("cpu", "ALARM", at(0), "i-0flap"))
        .await
        .unwrap();
    let first_id = first.signals[0].correlation_id.clone().unwrap();
    harness
        .deliver(&named_alarm("cpu", "OK", at(5), "i-0flap"))
        .await
        .unwrap();
    harness.advance(600);
    let second = harness
        .deliver(&named_alarm("cpu", "ALARM", at(10), "i-0flap"))
        .await
        .unwrap();
    assert_eq!(second.signals[0].outcome, Outcome::Opened);
    let second_id = second.signals[0].correlation_id.clone().unwrap();
    assert_ne!(first_id, second_id);
    // WHEN an OK of the first flap, observed before the second ALARM, arrives late
    let late_ok = harness
        .deliver(&named_alarm("cpu", "OK", at(7), "i-0flap"))
        .await
        .unwrap();
    // THEN it is recorded against the new incident and ignored.
    assert_eq!(late_ok.signals[0].outcome, Outcome::Stale);
    let incident = harness.store.incident(&second_id).await.unwrap().unwrap();
    assert!(incident.status.is_open(), "{:?}", incident.status);
    let trail = harness.store.audit_trail(&second_id).await.unwrap();
    assert!(
        trail.iter().any(|record| record.summary.contains("stale")),
        "the audit trail says the signal was stale"
    );
    // AND the OK the alarm really sent after the second ALARM resolves it.
    let ok = harness
        .deliver(&named_alarm("cpu", "OK", at(12), "i-0flap"))
        .await
        .unwrap();
    assert_eq!(ok.signals[0].outcome, Outcome::Resolved);
}

#[tokio::test]
async fn an_ok_processed_before_its_alarm_leaves_nothing_open() {
    let harness = Harness::new(Config::default());
    // GIVEN the OK of a flap is processed first
    let ok = harness
        .deliver(&named_alarm("cpu", "OK", at(3), "i-0swap"))
        .await
        .unwrap();
    assert_eq!(ok.signals[0].outcome, Outcome::Unattached);
    // WHEN its ALARM, observed earlier, arrives after it
    let alarm = harness
        .deliver(&named_alarm("cpu", "ALARM", at(1), "i-0swap"))
        .await
        .unwrap();
    // THEN no incident opens that nothing would ever clear.
    assert_eq!(alarm.signals[0].outcome, Outcome::Stale);
    assert_eq!(alarm.signals[0].correlation_id, None);
    assert_eq!(harness.analyses(), 0, "nothing was analysed");
    // AND a re-delivery of that ALARM is recognised as a duplicate.
    let again = harness
        .deliver(&named_alarm("cpu", "ALARM", at(1), "i-0swap"))
        .await
        .unwrap();
    assert_eq!(again.signals[0].outcome, Outcome::Duplicate);
    // AND a later ALARM of the same alarm opens as usual.
    let later = harness
        .deliver(&named_alarm("cpu", "ALARM", at(4), "i-0swap"))
        .await
        .unwrap();
    assert_eq!(later.signals[0].outcome, Outcome::Opened);
}

#[tokio::test]
async fn a_retried_alarm_older_than_the_state_known_changes_nothing() {
    let harness = Harness::new(Config::default());
    let opened = harness
        .deliver(&named_alarm("cpu", "ALARM", at(2), "i-0retry"))
        .await
        .unwrap();
    let id = opened.signals[0].correlation_id.clone().unwrap();
    harness
        .deliver(&named_alarm("cpu-other", "ALARM", at(3), "i-0retry"))
        .await
        .unwrap();
    harness
        .deliver(&named_alarm("cpu", "OK", at(4), "i-0retry"))
        .await
        .unwrap();
    // An ALARM of `cpu` observed before its OK, delivered after it, must not set it firing again.
    let late = harness
        .deliver(&named_alarm("cpu", "ALARM", at(1), "i-0retry"))
        .await
        .unwrap();
    assert_eq!(late.signals[0].outcome, Outcome::Stale);
    let resolved = harness
        .deliver(&named_alarm("cpu-other", "OK", at(5), "i-0retry"))
        .await
        .unwrap();
    assert_eq!(
        resolved.signals[0].outcome,
        Outcome::Resolved,
        "only the other alarm was still firing"
    );
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    assert_eq!(incident.status, IncidentStatus::Resolved);
}
