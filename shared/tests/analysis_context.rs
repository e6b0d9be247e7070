//! The context an analyst is given: within its token budget by dropping the least relevant
//! items first (and saying so in the audit trail), recent changes to the same resource from the
//! CloudTrail calls Argus recorded, and only changes inside the lookback window.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::analysis::{AnalysisContext, ContextInputs, PastIncident, Relevance};
use argus::catalogue::ActionId;
use argus::config::{AnalysisPolicy, Config};
use argus::correlation::CorrelationId;
use argus::incident::AuditKind;
use argus::ports::{ActionStats, IncidentStore, SignatureHistory};
use argus::signal::{Normalised, Signal, normalise};
use argus::testing::epoch;
use chrono::Duration;
use serde_json::{Value, json};
use support::{Harness, sample};

/// The sample log anomaly with three long log lines.
fn noisy_log_anomaly() -> Value {
    let mut event = sample("argus/log-anomaly.json");
    for index in 0..3 {
        event["detail"]["samples"][index] = json!(format!(
            "ERROR payment provider timeout {index} {}",
            "stack frame at checkout::pay(); ".repeat(40)
        ));
    }
    event
}

fn signal_of(event: &Value) -> Signal {
    match normalise(event, &Config::default().signals).unwrap() {
        Normalised::Signals(mut signals) => signals.remove(0),
        Normalised::Ignored { reason } => panic!("ignored: {reason}"),
    }
}

fn past(signal: &Signal, index: i64) -> PastIncident {
    let closed_at = epoch() - Duration::days(index);
    PastIncident {
        correlation_id: CorrelationId::derive(
            &signal.signature,
            signal.resource.as_str(),
            &format!("past-{index}"),
            closed_at,
        ),
        resource: signal.resource.clone(),
        action: Some("lambda.rollback_alias".into()),
        verified: Some(index % 2 == 0),
        time_to_recover_seconds: Some(120),
        summary: format!(
            "error_rate severity 6: {}",
            "the provider timed out. ".repeat(12)
        ),
        closed_at,
    }
}

fn tight_config() -> Config {
    Config {
        analysis: AnalysisPolicy {
            context_token_budget: 2_000,
            ..AnalysisPolicy::default()
        },
        ..Config::default()
    }
}

#[test]
fn over_budget_the_least_relevant_items_go_first_and_the_signal_stays() {
    let config = tight_config();
    let signal = signal_of(&noisy_log_anomaly());
    let id = CorrelationId::derive(
        &signal.signature,
        signal.resource.as_str(),
        &signal.source_event_id,
        signal.observed_at,
    );
    let learned = SignatureHistory {
        actions: vec![(
            ActionId::LambdaRollbackAlias,
            ActionStats {
                attempts: 4,
                verified_successes: 3,
                failures: 1,
                total_recovery_seconds: 360,
                consecutive_verified_successes: 1,
                last_failure_at: Some(epoch() - Duration::days(3)),
            },
        )],
        incidents: (0..5).map(|index| past(&signal, index)).collect(),
    };
    let full = AnalysisContext::assemble(ContextInputs {
        incident_id: id.clone(),
        signal: &signal,
        learned: learned.clone(),
        resource_incidents: Vec::new(),
        now: signal.observed_at,
        config: &Config {
            analysis: AnalysisPolicy {
                context_token_budget: 20_000,
                ..AnalysisPolicy::default()
            },
            ..Config::default()
        },
    });
    assert!(full.dropped.is_empty(), "a large budget holds it all");
    assert_eq!(full.history.len(), 5);

    let context = AnalysisContext::assemble(ContextInputs {
        incident_id: id,
        signal: &signal,
        learned,
        resource_incidents: Vec::new(),
        now: signal.observed_at,
        config: &config,
    });
    assert!(
        context.estimated_tokens() <= 2_000,
        "~{} tokens",
        context.estimated_tokens()
    );
    assert!(
        context.has_evidence("signal"),
        "the signal is never dropped"
    );
    assert!(!context.dropped.is_empty());
    let order: Vec<Relevance> = context.dropped.iter().map(|item| item.relevance).collect();
    let mut least_relevant_first = order.clone();
    least_relevant_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(order, least_relevant_first, "{:?}", context.dropped);
    assert_eq!(
        context.dropped[0].id, "log.sample.3",
        "more of the same goes first, the newest kept"
    );
    if let Some(first_history) = context
        .dropped
        .iter()
        .find(|item| item.relevance == Relevance::History)
    {
        assert_eq!(
            first_history.id, "history.5",
            "the oldest past incident goes first"
        );
    }
    // What is kept still lines up with its evidence ids.
    let history_items = context
        .items
        .iter()
        .filter(|item| item.id.starts_with("history."))
        .count();
    assert_eq!(context.history.len(), history_items);
    for (index, _) in context.history.iter().enumerate() {
        assert!(context.has_evidence(&format!("history.{}", index + 1)));
    }
    assert!(
        context
            .budget_note()
            .unwrap()
            .contains(&context.dropped[0].id)
    );
    assert_eq!(
        context
            .stats(ActionId::LambdaRollbackAlias)
            .verified_successes,
        3,
        "the ladder still sees what was learned"
    );
}

#[tokio::test]
async fn trimming_the_context_is_recorded_in_the_audit_trail() {
    let harness = Harness::new(tight_config());
    let report = harness.deliver(&noisy_log_anomaly()).await.unwrap();
    let signal = &report.signals[0];
    assert!(
        signal
            .steps
            .iter()
            .any(|step| step.stage == "context" && step.detail.contains("dropped")),
        "{:?}",
        signal.steps
    );
    let trail = harness
        .store
        .audit_trail(signal.correlation_id.as_ref().unwrap())
        .await
        .unwrap();
    let assessed = trail
        .iter()
        .find(|record| record.kind == AuditKind::Assessed)
        .unwrap();
    assert!(
        assessed.summary.contains("over its budget") && assessed.summary.contains("log.sample.3"),
        "{}",
        assessed.summary
    );
    assert!(
        !assessed.data["context"]["dropped"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(
        assessed.data["context"]["estimated_tokens"]
            .as_u64()
            .unwrap()
            <= 2_000
    );
}

#[tokio::test]
async fn a_recorded_cloudtrail_call_on_the_resource_is_a_recent_change() {
    let harness = Harness::new(Config::default());
    let stop = harness
        .deliver(&sample("cloudtrail/ec2-StopInstances.json"))
        .await
        .unwrap();
    let stop_id = stop.signals[0].correlation_id.clone().unwrap();
    harness.advance(60);
    let stopped = harness
        .deliver(&sample("ec2-state-change/stopped.json"))
        .await
        .unwrap();
    let context = stopped.signals[0].context.as_ref().unwrap();
    assert_eq!(context.changes.len(), 1);
    let change = context
        .items
        .iter()
        .find(|item| item.id == "change.1")
        .unwrap();
    assert_eq!(change.label, "recent change to this resource");
    assert!(
        change.text.contains("StopInstances")
            && change.text.contains("jane.doe")
            && change.text.contains(stop_id.as_str()),
        "{}",
        change.text
    );
    assert_eq!(harness.analyses(), 2, "one analysis per new incident");
}

#[tokio::test]
async fn changes_older_than_the_lookback_are_left_out() {
    let harness = Harness::new(Config {
        analysis: AnalysisPolicy {
            recent_changes_lookback_seconds: 3_600,
            ..AnalysisPolicy::default()
        },
        ..Config::default()
    });
    harness
        .deliver(&sample("cloudtrail/ec2-StopInstances.json"))
        .await
        .unwrap();
    harness.advance(2 * 3_600);
    let stopped = harness
        .deliver(&sample("ec2-state-change/stopped.json"))
        .await
        .unwrap();
    let context = stopped.signals[0].context.as_ref().unwrap();
    assert!(context.changes.is_empty(), "{:?}", context.changes);
    assert!(!context.has_evidence("change.1"));
}
