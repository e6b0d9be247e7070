//! Fixtures for the outbound tests: a sample incident in the embedded store, an `Outbound`
//! wired to local HTTP peers, and a pause that records retry waits instead of sleeping.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::analysis::{Assessment, Classification, Hypothesis};
use argus::catalogue::{ActionId, ActionParams, InstanceParams, RiskClass, ValidatedAction};
use argus::clock::ManualClock;
use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::decision::{BudgetState, Decision, Mode};
use argus::incident::{AuditEntry, AuditKind, AuditRecord, ExecutionRef, Incident, IncidentStatus};
use argus::ports::{
    DedupClaim, IncidentStore, NewIncident, OpenOutcome, PatternStore, SignalRecord,
};
use argus::signal::{Evidence, SignalEffect};
use argus::store::embedded::EmbeddedStore;
use async_trait::async_trait;
use chrono::Duration;
use connectors::delivery::{BreakerPolicy, Delivery, Pause, RetryPolicy};
use connectors::outbound::Outbound;
use connectors::outbound::aws::{MemoryArchive, MemoryTopic};
use connectors::outbound::channels::Channels;
use connectors::secrets::Secrets;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

pub const RESOURCE: &str = "ec2:instance/i-0abc123";
pub const SIGNATURE: &str = "alarm:AWS/EC2/StatusCheckFailed";
pub const PRINCIPAL: &str = "arn:aws:iam::123456789012:user/deployer";

/// Records every wait the retry loop asks for, and returns at once.
#[derive(Debug, Default)]
pub struct RecordingPause {
    pub waits: Mutex<Vec<std::time::Duration>>,
}

#[async_trait]
impl Pause for RecordingPause {
    async fn pause(&self, duration: std::time::Duration) {
        self.waits.lock().unwrap().push(duration);
    }
}

pub struct Fixture {
    pub store: Arc<dyn IncidentStore>,
    pub patterns: Arc<dyn PatternStore>,
    pub clock: Arc<ManualClock>,
    pub topic: Arc<MemoryTopic>,
    pub archive: Arc<MemoryArchive>,
    pub pause: Arc<RecordingPause>,
    pub incident: Incident,
}

impl Fixture {
    pub fn id(&self) -> &CorrelationId {
        &self.incident.id
    }

    pub fn outbound(&self, channels: Channels, config: Config, secrets: Secrets) -> Outbound {
        Outbound {
            store: self.store.clone(),
            patterns: self.patterns.clone(),
            clock: self.clock.clone(),
            config,
            channels,
            delivery: self.delivery(BreakerPolicy::default()),
            topic: Some(self.topic.clone()),
            archive: Some(self.archive.clone()),
            secrets,
        }
    }

    pub fn delivery(&self, breaker: BreakerPolicy) -> Delivery {
        Delivery::new(
            test_retry(),
            breaker,
            self.clock.clone(),
            self.pause.clone(),
        )
        .unwrap()
    }

    pub async fn audit(&self) -> Vec<AuditRecord> {
        self.store.audit_trail(self.id()).await.unwrap()
    }

    pub async fn current(&self) -> Incident {
        self.store.incident(self.id()).await.unwrap().unwrap()
    }

    pub fn published(&self) -> Vec<connectors::outbound::aws::TopicMessage> {
        self.topic.published.lock().unwrap().clone()
    }

    /// Marks the incident as the workflow's outcome recorded it.
    pub async fn settle(&self, status: IncidentStatus, summary: &str, verdict: &str) {
        let at = self.clock.now_plus(Duration::minutes(7));
        self.clock.set(at);
        argus::incident::update_incident(
            &*self.store,
            &*self.clock,
            self.id(),
            None,
            |incident| {
                incident.transition(status, at).unwrap();
                if status == IncidentStatus::Resolved {
                    incident.resolution = Some("verified recovered by the recovery workflow".into());
                }
                vec![AuditEntry::new(
                    "argus/recovery",
                    AuditKind::RecoveryOutcome,
                    summary,
                    json!({"outcome": status.as_str(), "action_ran": true, "verification": {"result": {"verdict": verdict}}}),
                )]
            },
        )
        .await
        .unwrap()
        .unwrap();
    }
}

trait ClockExt {
    fn now_plus(&self, by: Duration) -> chrono::DateTime<chrono::Utc>;
}

impl ClockExt for ManualClock {
    fn now_plus(&self, by: Duration) -> chrono::DateTime<chrono::Utc> {
        argus::ports::Clock::now(self) + by
    }
}

/// Short timeouts and tiny backoffs: the pause records waits, so nothing sleeps anyway.
pub fn test_retry() -> RetryPolicy {
    RetryPolicy {
        timeout: std::time::Duration::from_secs(3),
        max_attempts: 3,
        initial_backoff: std::time::Duration::from_millis(100),
        max_backoff: std::time::Duration::from_secs(1),
        max_retry_after: std::time::Duration::from_secs(10),
    }
}

/// An EC2 instance failing its status checks, assessed (severity 7, confidence 0.82) with a
/// proposed reboot in `mode`, one budget attempt of three used, and a running execution.
pub async fn fixture(mode: Mode) -> Fixture {
    let store = Arc::new(EmbeddedStore::in_memory().unwrap());
    fixture_in(store.clone(), store, mode).await
}

/// The same incident, written to `store`.
pub async fn fixture_in(
    store: Arc<dyn IncidentStore>,
    patterns: Arc<dyn PatternStore>,
    mode: Mode,
) -> Fixture {
    let at = argus::testing::epoch();
    let clock = Arc::new(ManualClock::new(at));
    let mut signal = argus::testing::alarm_signal(
        RESOURCE,
        SIGNATURE,
        &argus::testing::unique("evt"),
        at,
        SignalEffect::Opens,
    );
    signal.principal = Some(PRINCIPAL.to_string());
    signal.evidence.push(Evidence::new(
        "metric.status_check",
        "StatusCheckFailed_Instance",
        "1 for 3 of the last 3 one-minute periods",
    ));
    let id = CorrelationId::derive(SIGNATURE, RESOURCE, &signal.source_event_id, at);
    let mut incident = Incident::open(id.clone(), &signal, at);
    incident.assessment = Some(Assessment {
        analyst: "rules".into(),
        classification: Classification::Availability,
        severity: 7,
        confidence: 0.82,
        summary: "i-0abc123 fails its instance status check; the host looks healthy".into(),
        hypotheses: vec![
            Hypothesis {
                statement: "The guest OS is hung (kernel or memory exhaustion)".into(),
                likelihood: 0.7,
                evidence: vec!["alarm.state".into(), "metric.status_check".into()],
            },
            Hypothesis {
                statement: "A network misconfiguration inside the instance".into(),
                likelihood: 0.2,
                evidence: vec!["history.1".into()],
            },
        ],
        proposal: None,
        usage: None,
    });
    let resource = argus::resource::ResourceRef::parse(RESOURCE).unwrap();
    incident.decision = Some(Decision {
        mode,
        action: Some(ValidatedAction {
            action: ActionId::Ec2Reboot,
            params: ActionParams::Instance(InstanceParams {
                instance_id: "i-0abc123".into(),
            }),
            risk: RiskClass::Low,
            target: Some(resource),
            on_candidate: false,
            provenance: Vec::new(),
            root_cause: None,
        }),
        escalate: false,
        suppressed: false,
        reasons: vec!["confidence 0.82 is below the auto threshold for this signature".into()],
        budget: Some(BudgetState {
            used: 1,
            max: 3,
            window_start: at,
            window_end: at + Duration::hours(1),
            cooling_down_until: None,
        }),
        decided_at: at,
    });
    incident.status = match mode {
        Mode::Approval => IncidentStatus::AwaitingApproval,
        Mode::Auto => IncidentStatus::Recovering,
        Mode::Advisory => IncidentStatus::Advisory,
    };
    incident.execution = Some(ExecutionRef {
        name: id.to_string(),
        id: format!("arn:aws:states:us-east-1:123456789012:execution:argus-recovery:{id}"),
        started_at: at,
    });
    let audit = [incident.audit(
        AuditEntry::new(
            "argus/intake",
            AuditKind::IncidentOpened,
            "opened",
            json!({}),
        ),
        at,
    )];
    let record = SignalRecord {
        incident_id: id.clone(),
        received_at: at,
        outcome: "opened".into(),
        signal: signal.clone(),
    };
    let claim = DedupClaim {
        source_event_id: signal.source_event_id.clone(),
        correlation_id: Some(id.clone()),
        claimed_at: at,
        expires_at: at + Duration::days(1),
    };
    let outcome = store
        .open_incident(NewIncident {
            incident: &incident,
            claim: &claim,
            signal: &record,
            audit: &audit,
        })
        .await
        .unwrap();
    assert_eq!(outcome, OpenOutcome::Opened);
    Fixture {
        store,
        patterns,
        clock,
        topic: Arc::new(MemoryTopic::default()),
        archive: Arc::new(MemoryArchive::default()),
        pause: Arc::new(RecordingPause::default()),
        incident,
    }
}

pub fn secrets(pairs: &[(&str, &str)]) -> Secrets {
    Secrets::from_map(
        pairs
            .iter()
            .map(|(name, value)| (name.to_string(), value.to_string()))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// Audit records of `kind`, as JSON data.
pub fn records_of(audit: &[AuditRecord], kind: AuditKind) -> Vec<Value> {
    audit
        .iter()
        .filter(|record| record.kind == kind)
        .map(|record| record.data.clone())
        .collect()
}

/// What the state machine sends for `operation` (see statemachines/recovery.asl.json), with
/// `extra` fields added; `incident` and `decision` come along as the ASL sends them, and the
/// connectors ignore them.
pub fn operation_payload(operation: &str, id: &str, extra: Value) -> Value {
    let mut payload = json!({
        "operation": operation,
        "correlation_id": id,
        "execution_id": format!("arn:aws:states:us-east-1:123456789012:execution:argus-recovery:{id}"),
        "incident": {"ignored": true},
        "decision": {"ignored": true},
    });
    if let (Value::Object(target), Value::Object(extra)) = (&mut payload, extra) {
        target.extend(extra);
    }
    payload
}
