//! An incident holds a bounded number of records whatever arrives: thousands of attached
//! signals and refused approval answers are counted, not recorded one by one, the audit chain
//! still verifies, and the post-mortem reports every one of them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::incident::{AuditEntry, AuditKind, update_incident, verify_chain};
use argus::ports::IncidentStore;
use argus::postmortem::Postmortem;
use chrono::Duration;
use serde_json::json;
use support::{Harness, alarm_event};

const INSTANCE: &str = "i-0123456789abcdef0";
/// More records than this on one incident means repeats were recorded one by one.
const RECORD_BOUND: usize = 200;

async fn opened(harness: &Harness) -> CorrelationId {
    let report = harness
        .deliver(&alarm_event("ALARM", argus::testing::epoch(), INSTANCE))
        .await
        .unwrap();
    report.signals[0].correlation_id.clone().unwrap()
}

#[tokio::test]
async fn attack_5000_attached_signals_keep_a_bounded_trail_and_every_one_is_counted() {
    let harness = Harness::new(Config::default());
    let id = opened(&harness).await;
    for n in 1..=5_000 {
        harness.advance(1);
        let at = argus::testing::epoch() + Duration::seconds(n);
        harness
            .deliver(&alarm_event("ALARM", at, INSTANCE))
            .await
            .unwrap();
    }
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    let audit = harness.store.audit_trail(&id).await.unwrap();
    let signals = harness.store.signals(&id).await.unwrap();
    assert_eq!(incident.signal_count, 5_001);
    assert!(audit.len() <= RECORD_BOUND, "{} audit records", audit.len());
    assert!(
        signals.len() <= RECORD_BOUND,
        "{} signal records",
        signals.len()
    );
    assert!(verify_chain(&incident, &audit).is_intact());

    let postmortem = Postmortem::build(&incident, &audit, &signals, None);
    assert_eq!(postmortem.impact.signals, 5_001);
    assert_eq!(
        postmortem.impact.signals_by_outcome.get("attached"),
        Some(&5_000),
        "{:?}",
        postmortem.impact.signals_by_outcome
    );
    assert!(postmortem.audit.verdict.is_intact());
    let markdown = postmortem.to_markdown();
    assert!(
        markdown.contains("- signal_attached: 5000 in all (5 recorded, 4995 counted between"),
        "{markdown}"
    );
}

fn refusal(identity: &str, reason: &str) -> AuditEntry {
    AuditEntry::new(
        "argus/connectors",
        AuditKind::ApprovalRefused,
        format!("refused an answer from {identity} through slack: {reason}"),
        json!({
            "approval": "a-1",
            "reason": reason,
            "identity": identity,
            "channel": "slack",
            "approve": true,
        }),
    )
}

#[tokio::test]
async fn attack_5000_refused_answers_keep_a_bounded_trail_and_every_one_is_counted() {
    let harness = Harness::new(Config::default());
    let id = opened(&harness).await;
    let refusals_before = harness
        .store
        .audit_trail(&id)
        .await
        .unwrap()
        .iter()
        .filter(|record| record.kind == AuditKind::ApprovalRefused)
        .count();
    assert_eq!(refusals_before, 0);
    // One approver clicking a decided approval 5,000 times, and 50 others once each (more
    // groups than an incident keeps tallies of).
    for n in 0..5_050 {
        harness.advance(1);
        let entry = if n < 5_000 {
            refusal("slack:U0ATTACKER", "already_decided")
        } else {
            refusal(&format!("slack:U0OTHER{n}"), "self_approval")
        };
        update_incident(&harness.store, &harness.clock, &id, None, |_| {
            vec![entry.clone()]
        })
        .await
        .unwrap()
        .unwrap();
    }
    let incident = harness.store.incident(&id).await.unwrap().unwrap();
    let audit = harness.store.audit_trail(&id).await.unwrap();
    let signals = harness.store.signals(&id).await.unwrap();
    assert!(audit.len() <= RECORD_BOUND, "{} audit records", audit.len());
    assert!(verify_chain(&incident, &audit).is_intact());
    let postmortem = Postmortem::build(&incident, &audit, &signals, None);
    assert!(postmortem.audit.verdict.is_intact());
    let recorded = audit
        .iter()
        .filter(|record| record.kind == AuditKind::ApprovalRefused)
        .count() as u64;
    let counted: u64 = postmortem
        .audit
        .repeated
        .iter()
        .filter(|repeated| repeated.kind == AuditKind::ApprovalRefused)
        .map(|repeated| repeated.counted)
        .sum();
    assert_eq!(
        recorded + counted,
        5_050,
        "every refusal is recorded or counted"
    );
    let attacker = postmortem
        .audit
        .repeated
        .iter()
        .find(|repeated| repeated.summary.contains("U0ATTACKER"))
        .unwrap();
    assert_eq!((attacker.recorded, attacker.counted), (5, 4_995));
    assert!(
        postmortem
            .to_markdown()
            .contains("- approval_refused: 5000 in all (5 recorded, 4995 counted between"),
    );

    // A count edited in the store breaks verification as an edited record does.
    let mut edited = incident.clone();
    let tally = edited
        .audit_tallies
        .values_mut()
        .find(|tally| tally.counted > 0)
        .unwrap();
    tally.counted -= 1;
    assert!(!verify_chain(&edited, &audit).is_intact());
    let mut dropped = incident.clone();
    dropped.audit_tallies.clear();
    assert!(!verify_chain(&dropped, &audit).is_intact());
}
