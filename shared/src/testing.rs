//! Test support shared by every crate's tests: the store conformance suite that the embedded and
//! DynamoDB adapters must both pass, and signal builders. Compiled only with feature `testing`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::analysis::PastIncident;
use crate::catalogue::ActionId;
use crate::correlation::CorrelationId;
use crate::incident::{AuditEntry, AuditKind, Incident, IncidentStatus, verify_chain};
use crate::ports::{
    BudgetKey, BudgetLimits, BudgetOutcome, ClaimOutcome, ClearOutcome, DEFAULT_RETENTION_DAYS,
    DedupClaim, IncidentItem, IncidentQuery, IncidentStore, IncidentWrite, NewIncident,
    OpenOutcome, OriginClear, OutcomeRecord, PatternStore, SignalRecord, WriteOutcome,
};
use crate::resource::ResourceRef;
use crate::signal::{Evidence, Signal, SignalEffect, SignalSource};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::json;

pub mod fuzz;

/// A fixed instant tests start from.
pub fn epoch() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, 6, 0, 0).unwrap()
}

/// A put event as EventBridge delivers it to a rule's target (the orchestrator), with the event
/// id EventBridge would assign.
pub fn delivered(event: &crate::loganalysis::BusEvent, id: &str) -> serde_json::Value {
    json!({
        "version": "0",
        "id": id,
        "detail-type": event.detail_type,
        "source": event.source,
        "account": "123456789012",
        "time": event.time,
        "region": "us-east-1",
        "resources": event.resources,
        "detail": event.detail,
    })
}

/// SDK configuration for tests against the local peers (DynamoDB Local, moto): dummy
/// credentials and the endpoint overridden, so nothing can leave loopback, and the HTTP client
/// the functions deploy with.
#[cfg(feature = "sdk")]
pub async fn peer_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    peer_sdk_config_with(endpoint, crate::sdk::amazon_https_client().unwrap()).await
}

/// [`peer_sdk_config`] with another HTTP client (a trust store of the test's own).
#[cfg(feature = "sdk")]
pub async fn peer_sdk_config_with(
    endpoint: &str,
    http_client: aws_smithy_runtime_api::client::http::SharedHttpClient,
) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .http_client(http_client)
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "test",
            "test",
            None,
            None,
            "argus-tests",
        ))
        .load()
        .await
}

/// A unique suffix, so suites sharing one DynamoDB table never see each other's items.
pub fn unique(label: &str) -> String {
    format!(
        "{label}-{}",
        Utc::now().timestamp_nanos_opt().unwrap_or_default()
    )
}

/// An alarm-like signal that opens an incident on `resource`.
pub fn alarm_signal(
    resource: &str,
    signature: &str,
    event_id: &str,
    at: DateTime<Utc>,
    effect: SignalEffect,
) -> Signal {
    Signal {
        source_event_id: event_id.to_string(),
        source: SignalSource::AlarmEventBridge,
        effect,
        signature: signature.to_string(),
        resource: ResourceRef::parse(resource).unwrap(),
        account: Some("123456789012".into()),
        region: Some("us-east-1".into()),
        observed_at: at,
        title: format!("{signature} on {resource}"),
        state: match effect {
            SignalEffect::Opens => "ALARM",
            SignalEffect::Clears => "OK",
            SignalEffect::Informs => "INSUFFICIENT_DATA",
        }
        .into(),
        alarm_kind: Some(crate::signal::AlarmKind::Metric),
        alarm_name: Some(format!("alarm-{resource}")),
        metric: Some("AWS/EC2/StatusCheckFailed".into()),
        severity_hint: None,
        principal: None,
        correlation_hint: None,
        origin: None,
        evidence: vec![Evidence::new("alarm.state", "alarm state", "ALARM")],
    }
}

fn claim(event_id: &str, id: Option<&CorrelationId>, at: DateTime<Utc>) -> DedupClaim {
    DedupClaim {
        source_event_id: event_id.to_string(),
        correlation_id: id.cloned(),
        claimed_at: at,
        expires_at: at + Duration::hours(24),
    }
}

/// Writes `incident` once more with one audit record, as any writer does: conditional on the
/// revision it was read at, bumped.
async fn write_audited(
    store: &dyn IncidentStore,
    incident: &mut Incident,
    closes: bool,
    origin_clear: Option<&OriginClear>,
    at: DateTime<Utc>,
) -> WriteOutcome {
    let expected_revision = incident.revision;
    incident.revision += 1;
    let audit = [incident.audit(
        AuditEntry::new("test", AuditKind::StatusChanged, "written", json!({})),
        at,
    )];
    store
        .write_incident(IncidentWrite {
            incident,
            expected_revision,
            closes,
            claim: None,
            signal: None,
            audit: &audit,
            origin_clear,
        })
        .await
        .unwrap()
}

struct Opened {
    incident: Incident,
}

async fn open(
    store: &dyn IncidentStore,
    signal: &Signal,
    at: DateTime<Utc>,
) -> (OpenOutcome, Opened) {
    let id = CorrelationId::derive(
        &signal.signature,
        signal.resource.as_str(),
        &signal.source_event_id,
        at,
    );
    let mut incident = Incident::open(id.clone(), signal, at);
    let audit = [incident.audit(
        AuditEntry::new("test", AuditKind::IncidentOpened, "opened", json!({})),
        at,
    )];
    let record = SignalRecord {
        incident_id: id.clone(),
        received_at: at,
        outcome: "opened".into(),
        signal: signal.clone(),
    };
    let outcome = store
        .open_incident(NewIncident {
            incident: &incident,
            claim: &claim(&signal.source_event_id, Some(&id), at),
            signal: &record,
            audit: &audit,
        })
        .await
        .unwrap();
    (outcome, Opened { incident })
}

/// The conditional semantics every `IncidentStore` must have. Panics with the name of the
/// first property that does not hold.
pub async fn incident_store_conformance(store: &dyn IncidentStore, label: &str) {
    let run = unique(label);
    let resource = format!("ec2:instance/i-{run}");
    let signature = "alarm:AWS/EC2/StatusCheckFailed";
    let t0 = epoch();

    // GIVEN a new signal WHEN it opens THEN the incident, its guard, signal and audit exist.
    let first = alarm_signal(
        &resource,
        signature,
        &format!("{run}-e1"),
        t0,
        SignalEffect::Opens,
    );
    let (outcome, opened) = open(store, &first, t0).await;
    assert_eq!(outcome, OpenOutcome::Opened, "a new incident opens");
    let id = opened.incident.id.clone();
    assert_eq!(
        store.incident(&id).await.unwrap().as_ref(),
        Some(&opened.incident),
        "the incident reads back as written"
    );
    assert_eq!(
        store
            .open_incident_for(&first.resource, signature)
            .await
            .unwrap(),
        Some(id.clone()),
        "the open guard names it"
    );
    assert_eq!(
        store.signals(&id).await.unwrap().len(),
        1,
        "its first signal is recorded"
    );
    assert_eq!(
        store.audit_trail(&id).await.unwrap().len(),
        1,
        "its first audit record is recorded"
    );

    // The same event again is a duplicate that names its incident.
    let (again, _) = open(store, &first, t0).await;
    assert_eq!(
        again,
        OpenOutcome::Duplicate {
            correlation_id: Some(id.clone())
        },
        "a re-delivered event is a duplicate"
    );

    // Another event for the same resource and signature finds the open incident.
    let second = alarm_signal(
        &resource,
        signature,
        &format!("{run}-e2"),
        t0 + Duration::minutes(1),
        SignalEffect::Opens,
    );
    let (other, _) = open(store, &second, t0 + Duration::minutes(1)).await;
    assert_eq!(
        other,
        OpenOutcome::AlreadyOpen {
            correlation_id: id.clone()
        },
        "one open incident per resource + signature"
    );

    // Attaching is conditional on the revision and claims the event in the same write.
    let mut incident = store.incident(&id).await.unwrap().unwrap();
    let expected_revision = incident.revision;
    incident.revision += 1;
    incident.signal_count += 1;
    let t1 = t0 + Duration::minutes(1);
    let audit = [incident.audit(
        AuditEntry::new("test", AuditKind::SignalAttached, "attached", json!({})),
        t1,
    )];
    let record = SignalRecord {
        incident_id: id.clone(),
        received_at: t1,
        outcome: "attached".into(),
        signal: second.clone(),
    };
    let second_claim = claim(&second.source_event_id, Some(&id), t1);
    let write = IncidentWrite {
        incident: &incident,
        expected_revision,
        closes: false,
        claim: Some(&second_claim),
        signal: Some(&record),
        audit: &audit,
        origin_clear: None,
    };
    assert_eq!(
        store.write_incident(write).await.unwrap(),
        WriteOutcome::Written,
        "an attach with the current revision is written"
    );
    assert_eq!(
        store.write_incident(write).await.unwrap(),
        WriteOutcome::Duplicate {
            correlation_id: Some(id.clone())
        },
        "the attached event is claimed"
    );
    let stale = IncidentWrite {
        claim: None,
        signal: None,
        audit: &[],
        ..write
    };
    assert_eq!(
        store.write_incident(stale).await.unwrap(),
        WriteOutcome::Conflict,
        "a write with a stale revision conflicts"
    );
    assert_eq!(
        store.signals(&id).await.unwrap().len(),
        2,
        "the attached signal is recorded"
    );

    // Events that join nothing are still remembered, until their claim expires.
    let lone = claim(&format!("{run}-lone"), None, t1);
    assert_eq!(
        store.claim_event(&lone).await.unwrap(),
        ClaimOutcome::Claimed,
        "an unattached event is claimed"
    );
    assert_eq!(
        store.claim_event(&lone).await.unwrap(),
        ClaimOutcome::Duplicate {
            correlation_id: None
        },
        "and recognised again"
    );
    let later = DedupClaim {
        claimed_at: lone.expires_at + Duration::seconds(1),
        expires_at: lone.expires_at + Duration::hours(25),
        ..lone.clone()
    };
    assert_eq!(
        store.claim_event(&later).await.unwrap(),
        ClaimOutcome::Claimed,
        "an expired claim counts as absent"
    );

    let open_items = store.item_expiries(&id).await.unwrap();
    let mut expected_items = vec![IncidentItem::Incident];
    expected_items.extend((1..=u64::from(incident.signal_count)).map(IncidentItem::Signal));
    expected_items.extend(
        store
            .audit_trail(&id)
            .await
            .unwrap()
            .iter()
            .map(|record| IncidentItem::Audit(record.seq)),
    );
    assert_eq!(
        open_items.iter().map(|item| item.item).collect::<Vec<_>>(),
        expected_items,
        "every item of the incident is listed"
    );
    assert!(
        open_items.iter().all(|item| item.expires_at.is_none()),
        "nothing of an open incident expires: {open_items:?}"
    );

    // Closing the incident releases the guard, so the next problem opens a new incident.
    let mut incident = store.incident(&id).await.unwrap().unwrap();
    let expected_revision = incident.revision;
    incident.revision += 1;
    let t2 = t0 + Duration::minutes(2);
    incident.transition(IncidentStatus::Resolved, t2).unwrap();
    let audit = [incident.audit(
        AuditEntry::new("test", AuditKind::Cleared, "cleared", json!({})),
        t2,
    )];
    let close = IncidentWrite {
        incident: &incident,
        expected_revision,
        closes: true,
        claim: None,
        signal: None,
        audit: &audit,
        origin_clear: None,
    };
    assert_eq!(
        store.write_incident(close).await.unwrap(),
        WriteOutcome::Written,
        "closing is written"
    );
    assert_eq!(
        store
            .open_incident_for(&first.resource, signature)
            .await
            .unwrap(),
        None,
        "closing releases the guard"
    );
    let trail = store.audit_trail(&id).await.unwrap();
    assert!(
        verify_chain(&incident, &trail).is_intact(),
        "the stored audit chain verifies: {:?}",
        verify_chain(&incident, &trail)
    );

    let kept_until = incident.closed_at.unwrap() + Duration::days(DEFAULT_RETENTION_DAYS);
    let closed_items = store.item_expiries(&id).await.unwrap();
    assert_eq!(
        closed_items.len(),
        expected_items.len() + 1,
        "the closing audit record is listed too"
    );
    assert!(
        closed_items
            .iter()
            .all(|item| item.expires_at == Some(kept_until)),
        "a closed incident's items all expire together, {DEFAULT_RETENTION_DAYS} days after it closed: {closed_items:?}"
    );

    let third = alarm_signal(
        &resource,
        signature,
        &format!("{run}-e3"),
        t0 + Duration::minutes(3),
        SignalEffect::Opens,
    );
    let (reopened, next) = open(store, &third, t0 + Duration::minutes(3)).await;
    assert_eq!(
        reopened,
        OpenOutcome::Opened,
        "after closing, the next signal opens a new incident"
    );

    // Writes to the closed incident (a connector's audit record, an approval answer, the
    // workflow's outcome) still land once a newer incident holds the guard, and leave that
    // guard to the newer incident.
    let mut closed = store.incident(&id).await.unwrap().unwrap();
    let expected_revision = closed.revision;
    closed.revision += 1;
    let t4 = t0 + Duration::minutes(4);
    let audit = [closed.audit(
        AuditEntry::new(
            "test",
            AuditKind::ConnectorDelivered,
            "delivered late",
            json!({}),
        ),
        t4,
    )];
    assert_eq!(
        store
            .write_incident(IncidentWrite {
                incident: &closed,
                expected_revision,
                closes: false,
                claim: None,
                signal: None,
                audit: &audit,
                origin_clear: None,
            })
            .await
            .unwrap(),
        WriteOutcome::Written,
        "a write to a closed incident lands while a newer incident holds the guard"
    );
    assert_eq!(
        store
            .open_incident_for(&first.resource, signature)
            .await
            .unwrap(),
        Some(next.incident.id.clone()),
        "the newer incident keeps the guard"
    );
    let late_items = store.item_expiries(&id).await.unwrap();
    assert!(
        late_items.len() == expected_items.len() + 2
            && late_items
                .iter()
                .all(|item| item.expires_at == Some(kept_until)),
        "a record written after the close expires with the rest: {late_items:?}"
    );
    assert!(
        store
            .item_expiries(&CorrelationId::derive(
                signature,
                &resource,
                &format!("{run}-unknown"),
                t0
            ))
            .await
            .unwrap()
            .is_empty(),
        "an unknown incident has no items"
    );
    let on_resource = store.incidents_on(&first.resource, 10).await.unwrap();
    let ids: Vec<_> = on_resource
        .iter()
        .map(|incident| incident.id.clone())
        .collect();
    assert_eq!(
        ids,
        vec![next.incident.id.clone(), id.clone()],
        "incidents on a resource, newest first"
    );
    let resolved = store
        .list_incidents(&IncidentQuery {
            statuses: Some(vec![IncidentStatus::Resolved]),
            limit: 1000,
        })
        .await
        .unwrap();
    assert!(
        resolved.iter().any(|incident| incident.id == id),
        "listing by status finds the resolved incident"
    );
    assert!(
        !resolved
            .iter()
            .any(|incident| incident.id == next.incident.id),
        "and not the open one"
    );

    budget_conformance(store, &run).await;

    origin_clear_conformance(store, &run).await;

    approval_token_conformance(store, &run).await;

    counted_entries_conformance(store, &run).await;
}

/// Repeated attachments as the intake writes them (`Incident::record`): past the records kept
/// per group only the incident's tallies change, the event is still claimed in the same write,
/// no signal or audit item is added, and the chain with its sealed tallies reads back intact.
async fn counted_entries_conformance(store: &dyn IncidentStore, run: &str) {
    let t0 = epoch();
    let opening = alarm_signal(
        &format!("ec2:instance/i-{run}-counted"),
        "alarm:counted",
        &format!("{run}-counted-0"),
        t0,
        SignalEffect::Opens,
    );
    let (_, opened) = open(store, &opening, t0).await;
    let id = opened.incident.id.clone();
    let repeats = crate::incident::FULL_RECORDS_PER_KEY as usize + 3;
    let mut last_write = None;
    for n in 1..=repeats {
        let at = t0 + Duration::seconds(n as i64);
        let mut signal = opening.clone();
        signal.source_event_id = format!("{run}-counted-{n}");
        signal.observed_at = at;
        let mut incident = store.incident(&id).await.unwrap().unwrap();
        let expected_revision = incident.revision;
        incident.revision += 1;
        incident.signal_count += 1;
        let kept = incident.record(
            AuditEntry::new(
                "test",
                AuditKind::SignalAttached,
                "attached",
                json!({"origin": signal.origin_key(), "state": "ALARM", "outcome": "attached"}),
            ),
            at,
        );
        let audit: Vec<_> = kept.iter().cloned().collect();
        let record = SignalRecord {
            incident_id: id.clone(),
            received_at: at,
            outcome: "attached".into(),
            signal: signal.clone(),
        };
        let event_claim = claim(&signal.source_event_id, Some(&id), at);
        let write = IncidentWrite {
            incident: &incident,
            expected_revision,
            closes: false,
            claim: Some(&event_claim),
            signal: kept.is_some().then_some(&record),
            audit: &audit,
            origin_clear: None,
        };
        assert_eq!(
            store.write_incident(write).await.unwrap(),
            WriteOutcome::Written,
            "a counted attachment is written"
        );
        if kept.is_none() {
            assert_eq!(
                store.write_incident(write).await.unwrap(),
                WriteOutcome::Duplicate {
                    correlation_id: Some(id.clone())
                },
                "a counted attachment's event is claimed"
            );
        }
        last_write = Some(incident);
    }
    let written = last_write.unwrap();
    let stored = store.incident(&id).await.unwrap().unwrap();
    assert_eq!(stored, written, "the tallies read back as written");
    assert_eq!(
        crate::incident::counted_total(&stored.audit_tallies),
        3,
        "the repeats past the records kept are counted"
    );
    let full = 1 + crate::incident::FULL_RECORDS_PER_KEY as usize;
    let trail = store.audit_trail(&id).await.unwrap();
    assert_eq!(trail.len(), full, "only the records kept are audit items");
    assert_eq!(
        store.signals(&id).await.unwrap().len(),
        full,
        "only the attachments recorded are signal items"
    );
    assert!(
        verify_chain(&stored, &trail).is_intact(),
        "the chain and its sealed tallies verify"
    );
    let items = store.item_expiries(&id).await.unwrap();
    assert_eq!(
        items.len(),
        1 + 2 * full,
        "the incident, its recorded signals and audit records, nothing more"
    );
    let mut incident = stored;
    assert_eq!(
        write_audited(store, &mut incident, false, None, t0 + Duration::minutes(5)).await,
        WriteOutcome::Written
    );
    let stored = store.incident(&id).await.unwrap().unwrap();
    assert!(
        verify_chain(&stored, &store.audit_trail(&id).await.unwrap()).is_intact(),
        "a record after counted entries keeps the chain verifiable"
    );
}

/// The budget grants at most `max_attempts` in any window ending at a decision (no boundary
/// lets a burst through), honours a cooldown longer than the window, and grants an incident
/// that holds an attempt again without counting it.
async fn budget_conformance(store: &dyn IncidentStore, run: &str) {
    let t0 = epoch();
    let budget_resource = ResourceRef::parse(&format!("ecs:service/{run}/api")).unwrap();
    let key = BudgetKey {
        resource: budget_resource.clone(),
        action: ActionId::EcsForceNewDeployment,
    };
    let limits = BudgetLimits {
        max_attempts: 3,
        window: Duration::hours(1),
        cooldown: Duration::zero(),
    };
    // Each attempt is taken by its own incident, as decisions take them.
    let incident = |n: u32| {
        CorrelationId::derive(
            "budget",
            budget_resource.as_str(),
            &format!("{run}-{n}"),
            t0,
        )
    };
    let consume = |key: BudgetKey, limits: BudgetLimits, n: u32, at: DateTime<Utc>| async move {
        store
            .consume_budget(&key, &limits, &incident(n), at)
            .await
            .unwrap()
    };
    // GIVEN three attempts at 06:59 (one minute before an hour boundary)
    let before = t0 + Duration::minutes(59);
    for n in 1..=3 {
        assert_eq!(
            consume(key.clone(), limits.clone(), n, before).await,
            BudgetOutcome::Granted { used: n },
            "attempt {n} granted"
        );
    }
    assert_eq!(
        consume(key.clone(), limits.clone(), 4, before).await,
        BudgetOutcome::Spent { used: 3 },
        "a fourth in the same minute is refused"
    );
    // WHEN more arrive just past the boundary THEN the window still holds the three.
    let after = t0 + Duration::minutes(61);
    assert_eq!(
        consume(key.clone(), limits.clone(), 5, after).await,
        BudgetOutcome::Spent { used: 3 },
        "crossing a clock-hour boundary frees nothing"
    );
    assert_eq!(
        consume(key.clone(), limits.clone(), 1, after).await,
        BudgetOutcome::Granted { used: 3 },
        "an incident decided again gets the attempt it holds, counted once"
    );
    let usage = store
        .budget_usage(&budget_resource, after, limits.window)
        .await
        .unwrap();
    assert_eq!(usage.len(), 1, "usage lists the one action");
    assert_eq!(
        (
            usage[0].action,
            usage[0].used,
            usage[0].last_attempt_at,
            usage[0].oldest_in_window
        ),
        (ActionId::EcsForceNewDeployment, 3, before, Some(before)),
        "usage counts the attempts in the window ending now; a repeated grant moves nothing"
    );
    let mut consumers = usage[0].consumers.clone();
    consumers.sort();
    let mut expected = vec![incident(1), incident(2), incident(3)];
    expected.sort();
    assert_eq!(consumers, expected, "usage names who took the attempts");
    // An hour after the attempts, the window has room again.
    let later = before + Duration::hours(1) + Duration::seconds(1);
    assert_eq!(
        consume(key.clone(), limits.clone(), 6, later).await,
        BudgetOutcome::Granted { used: 1 },
        "attempts leave the window an hour after they were taken"
    );

    // A cooldown longer than the window is honoured in full.
    let cooling = BudgetKey {
        action: ActionId::AsgInstanceRefresh,
        ..key.clone()
    };
    let with_cooldown = BudgetLimits {
        max_attempts: 5,
        window: Duration::hours(1),
        cooldown: Duration::hours(3),
    };
    assert_eq!(
        consume(cooling.clone(), with_cooldown.clone(), 7, t0).await,
        BudgetOutcome::Granted { used: 1 },
        "cooldown: first attempt granted"
    );
    assert_eq!(
        consume(
            cooling.clone(),
            with_cooldown.clone(),
            8,
            t0 + Duration::hours(2)
        )
        .await,
        BudgetOutcome::CoolingDown {
            used: 0,
            last_attempt_at: t0
        },
        "cooldown: still cooling after the window has passed"
    );
    assert_eq!(
        consume(
            cooling.clone(),
            with_cooldown.clone(),
            9,
            t0 + Duration::hours(3) + Duration::seconds(1)
        )
        .await,
        BudgetOutcome::Granted { used: 1 },
        "cooldown: after it passes"
    );
    let none = BudgetLimits {
        max_attempts: 0,
        ..limits
    };
    let zero_key = BudgetKey {
        action: ActionId::Ec2Reboot,
        ..key
    };
    assert_eq!(
        consume(zero_key, none, 10, t0).await,
        BudgetOutcome::Spent { used: 0 },
        "a zero budget grants nothing"
    );
}

/// A clear that found nothing open is remembered per origin, atomically with the open guard, so
/// a late problem signal of that origin does not open; the newest clear wins; an expired one is
/// forgotten; a closing write remembers its clear too.
async fn origin_clear_conformance(store: &dyn IncidentStore, run: &str) {
    let t0 = epoch();
    let at = |minutes: i64| t0 + Duration::minutes(minutes);
    let signature = "alarm:AWS/EC2/CPUUtilization";
    let signal = |resource: &str, event: &str, minutes: i64, effect: SignalEffect| {
        let mut signal = alarm_signal(
            resource,
            signature,
            &format!("{run}-{event}"),
            at(minutes),
            effect,
        );
        signal.origin = Some(format!("alarm:{run}:{resource}"));
        signal
    };
    let clear_of = |signal: &Signal, expires: DateTime<Utc>| OriginClear {
        origin: signal.origin_key(),
        cleared_at: signal.observed_at,
        expires_at: expires,
    };
    let record = |signal: Signal, now: DateTime<Utc>| async move {
        store
            .record_clear(
                &claim(&signal.source_event_id, None, now),
                &clear_of(&signal, now + Duration::hours(24)),
                &signal.resource,
                &signal.signature,
            )
            .await
            .unwrap()
    };

    // GIVEN an OK delivered before its ALARM WHEN the ALARM arrives THEN it does not open.
    let first = format!("ec2:instance/i-{run}-origin");
    let ok = signal(&first, "ok-10", 10, SignalEffect::Clears);
    assert_eq!(
        record(ok.clone(), at(10)).await,
        ClearOutcome::Recorded,
        "a clear with nothing open is recorded"
    );
    assert_eq!(
        record(ok.clone(), at(11)).await,
        ClearOutcome::Duplicate {
            correlation_id: None
        },
        "a re-delivered clear is a duplicate"
    );
    assert_eq!(
        store
            .origin_cleared_at(&ok.origin_key(), at(11))
            .await
            .unwrap(),
        Some(at(10)),
        "the remembered clear reads back"
    );
    assert_eq!(
        store
            .origin_cleared_at(&format!("alarm:{run}:never-cleared"), at(11))
            .await
            .unwrap(),
        None,
        "an origin never cleared has no clear"
    );
    let late_alarm = signal(&first, "alarm-5", 5, SignalEffect::Opens);
    let (stale, _) = open(store, &late_alarm, at(12)).await;
    assert_eq!(
        stale,
        OpenOutcome::Stale { cleared_at: at(10) },
        "an ALARM older than a clear seen does not open"
    );
    let (again, _) = open(store, &late_alarm, at(13)).await;
    assert_eq!(
        again,
        OpenOutcome::Stale { cleared_at: at(10) },
        "and nothing of it was written"
    );
    let fresh = signal(&first, "alarm-11", 11, SignalEffect::Opens);
    let (opened, incident) = open(store, &fresh, at(14)).await;
    assert_eq!(
        opened,
        OpenOutcome::Opened,
        "an ALARM newer than the clear opens"
    );
    let later_ok = signal(&first, "ok-12", 12, SignalEffect::Clears);
    assert_eq!(
        record(later_ok, at(15)).await,
        ClearOutcome::IncidentOpen {
            correlation_id: incident.incident.id.clone()
        },
        "while an incident is open, a clear is the incident's and nothing is recorded"
    );

    // The newest clear of an origin wins over an older one recorded after it.
    let second = format!("ec2:instance/i-{run}-newest");
    assert_eq!(
        record(signal(&second, "ok-20", 20, SignalEffect::Clears), at(20)).await,
        ClearOutcome::Recorded
    );
    assert_eq!(
        record(signal(&second, "ok-15", 15, SignalEffect::Clears), at(21)).await,
        ClearOutcome::Recorded
    );
    let (kept, _) = open(
        store,
        &signal(&second, "alarm-17", 17, SignalEffect::Opens),
        at(22),
    )
    .await;
    assert_eq!(
        kept,
        OpenOutcome::Stale { cleared_at: at(20) },
        "the newest clear is the one remembered"
    );

    // An expired clear is forgotten.
    let third = format!("ec2:instance/i-{run}-expired");
    let short = signal(&third, "ok-30", 30, SignalEffect::Clears);
    store
        .record_clear(
            &claim(&short.source_event_id, None, at(30)),
            &clear_of(&short, at(40)),
            &short.resource,
            signature,
        )
        .await
        .unwrap();
    let (after_expiry, _) = open(
        store,
        &signal(&third, "alarm-29", 29, SignalEffect::Opens),
        at(41),
    )
    .await;
    assert_eq!(
        after_expiry,
        OpenOutcome::Opened,
        "a clear past its expiry counts as absent"
    );
    assert_eq!(
        store
            .origin_cleared_at(&short.origin_key(), at(40))
            .await
            .unwrap(),
        Some(at(30)),
        "a clear is kept through the second it expires in"
    );
    assert_eq!(
        store
            .origin_cleared_at(&short.origin_key(), at(40) + Duration::seconds(1))
            .await
            .unwrap(),
        None,
        "and forgotten after it"
    );

    // The write that clears an open incident remembers the clear as well.
    let fourth = format!("ec2:instance/i-{run}-closing");
    let (_, opened) = open(
        store,
        &signal(&fourth, "alarm-50", 50, SignalEffect::Opens),
        at(50),
    )
    .await;
    let mut incident = opened.incident;
    incident
        .transition(IncidentStatus::Resolved, at(61))
        .unwrap();
    let closing_ok = signal(&fourth, "ok-60", 60, SignalEffect::Clears);
    let remembered = clear_of(&closing_ok, at(61) + Duration::hours(24));
    assert_eq!(
        write_audited(store, &mut incident, true, Some(&remembered), at(61)).await,
        WriteOutcome::Written
    );
    let (late, _) = open(
        store,
        &signal(&fourth, "alarm-55", 55, SignalEffect::Opens),
        at(62),
    )
    .await;
    assert_eq!(
        late,
        OpenOutcome::Stale { cleared_at: at(60) },
        "a clear written with its incident is remembered"
    );
}

/// What every `PatternStore` must do: count each outcome once, keep the ladder's run of verified
/// successes (reset by a failure), bound the summaries, newest first, and read a signature's
/// stats and summaries together.
pub async fn pattern_store_conformance(store: &dyn PatternStore, label: &str) {
    let run = unique(label);
    let signature = format!("alarm:Test/{run}");
    let resource = ResourceRef::parse(&format!("ec2:instance/i-{run}")).unwrap();
    let outcome_of = |n: i64, verified: bool, action: ActionId| {
        let closed_at = epoch() + Duration::minutes(n);
        OutcomeRecord {
            signature: signature.clone(),
            action,
            verified,
            time_to_recover_seconds: verified.then_some(60 * n as u64),
            summary: PastIncident {
                correlation_id: CorrelationId::derive(
                    &signature,
                    resource.as_str(),
                    &format!("e{n}"),
                    closed_at,
                ),
                resource: resource.clone(),
                action: Some(action.as_str().into()),
                verified: Some(verified),
                time_to_recover_seconds: verified.then_some(60 * n as u64),
                summary: format!("incident {n}"),
                closed_at,
            },
        }
    };
    let outcome = |n: i64, verified: bool| outcome_of(n, verified, ActionId::Ec2Reboot);
    assert_eq!(
        store
            .action_stats(&signature, ActionId::Ec2Reboot)
            .await
            .unwrap(),
        Default::default(),
        "nothing learned yet"
    );
    store.record_outcome(&outcome(1, true), 2).await.unwrap();
    store.record_outcome(&outcome(1, true), 2).await.unwrap();
    store.record_outcome(&outcome(2, false), 2).await.unwrap();
    store.record_outcome(&outcome(3, true), 2).await.unwrap();
    let stats = store
        .action_stats(&signature, ActionId::Ec2Reboot)
        .await
        .unwrap();
    assert_eq!(
        (stats.attempts, stats.verified_successes, stats.failures),
        (3, 2, 1),
        "each incident counts once"
    );
    assert_eq!(
        stats.mean_time_to_recover_seconds(),
        Some(120),
        "mean time to recover over verified outcomes"
    );
    assert_eq!(
        stats.consecutive_verified_successes, 1,
        "the failure reset the run of verified successes"
    );
    assert_eq!(
        stats.last_failure_at,
        Some(epoch() + Duration::minutes(2)),
        "the failure's time is kept"
    );
    let recent = store.recent_incidents(&signature, 10).await.unwrap();
    let summaries: Vec<_> = recent.iter().map(|past| past.summary.as_str()).collect();
    assert_eq!(
        summaries,
        vec!["incident 3", "incident 2"],
        "summaries are bounded and newest first"
    );
    store.record_outcome(&outcome(4, true), 2).await.unwrap();
    store
        .record_outcome(&outcome_of(5, true, ActionId::Ec2Start), 2)
        .await
        .unwrap();
    let history = store.signature_history(&signature, 10).await.unwrap();
    let reboot = history
        .actions
        .iter()
        .find(|(action, _)| *action == ActionId::Ec2Reboot)
        .map(|(_, stats)| stats.clone())
        .unwrap();
    assert_eq!(
        (reboot.attempts, reboot.consecutive_verified_successes),
        (4, 2),
        "verified successes since the failure"
    );
    assert_eq!(history.stats(ActionId::Ec2Start).verified_successes, 1);
    assert_eq!(history.actions.len(), 2, "one entry per action tried");
    let summaries: Vec<_> = history
        .incidents
        .iter()
        .map(|past| past.summary.as_str())
        .collect();
    assert_eq!(
        summaries,
        vec!["incident 5", "incident 4"],
        "stats and summaries come together, newest first"
    );
    let limited = store.signature_history(&signature, 1).await.unwrap();
    assert_eq!(limited.incidents.len(), 1, "the summary limit holds");
    let other = store
        .signature_history(&format!("{signature}-other"), 10)
        .await
        .unwrap();
    assert_eq!(
        other,
        Default::default(),
        "another signature sharing a prefix learned nothing"
    );
}

/// Fakes of the reconciler's ports, for its logic tests in every crate.
pub mod reconcile {
    use crate::ports::WorkflowError;
    use crate::reconcile::{
        AlarmSnapshot, AlarmSource, AlarmSourceError, ExecutionLookup, ExecutionStatus,
    };
    use async_trait::async_trait;
    use chrono::{DateTime, Utc};
    use std::collections::{BTreeMap, HashMap};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// The alarms in ALARM, as the test sets them; it can be switched to fail like an outage.
    #[derive(Debug, Default)]
    pub struct FakeAlarms {
        pub alarms: Mutex<Vec<AlarmSnapshot>>,
        pub failing: AtomicBool,
        pub calls: AtomicUsize,
    }

    impl FakeAlarms {
        pub fn with(alarms: Vec<AlarmSnapshot>) -> Self {
            Self {
                alarms: Mutex::new(alarms),
                ..Self::default()
            }
        }
    }

    #[async_trait]
    impl AlarmSource for FakeAlarms {
        async fn alarms_in_alarm(&self) -> Result<Vec<AlarmSnapshot>, AlarmSourceError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.failing.load(Ordering::SeqCst) {
                return Err(AlarmSourceError::Unavailable("simulated outage".into()));
            }
            Ok(self.alarms.lock().unwrap().clone())
        }
    }

    /// Execution statuses by execution id; an id the test did not set does not exist.
    #[derive(Debug, Default)]
    pub struct FakeExecutions {
        pub statuses: Mutex<HashMap<String, ExecutionStatus>>,
        pub lookups: AtomicUsize,
    }

    impl FakeExecutions {
        pub fn set(&self, execution_id: &str, status: ExecutionStatus) {
            self.statuses
                .lock()
                .unwrap()
                .insert(execution_id.to_string(), status);
        }
    }

    #[async_trait]
    impl ExecutionLookup for FakeExecutions {
        async fn execution_status(
            &self,
            execution_id: &str,
        ) -> Result<ExecutionStatus, WorkflowError> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            Ok(self
                .statuses
                .lock()
                .unwrap()
                .get(execution_id)
                .copied()
                .unwrap_or(ExecutionStatus::NotFound))
        }
    }

    /// What the reconciler needs from `IncidentStore::incidents_due`, for every adapter: only
    /// open incidents, only those due by the time asked, soonest due first, at most `limit`.
    /// The store must hold no other incidents.
    pub async fn due_listing_conformance(store: &dyn crate::ports::IncidentStore, label: &str) {
        use crate::incident::IncidentStatus;
        use crate::ports::WriteOutcome;
        let run = super::unique(label);
        let t0 = super::epoch();
        let mut opened = Vec::new();
        for n in 0..3 {
            let at = t0 + chrono::Duration::seconds(10 * n);
            let signal = super::alarm_signal(
                &format!("ec2:instance/i-{run}-{n}"),
                "alarm:AWS/EC2/StatusCheckFailed",
                &format!("{run}-due-{n}"),
                at,
                crate::signal::SignalEffect::Opens,
            );
            opened.push(super::open(store, &signal, at).await.1.incident);
        }
        let listed = |due_by: DateTime<Utc>, limit: usize| async move {
            store
                .incidents_due(due_by, limit)
                .await
                .unwrap()
                .into_iter()
                .map(|incident| incident.id)
                .collect::<Vec<_>>()
        };
        let ids: Vec<_> = opened.iter().map(|incident| incident.id.clone()).collect();
        assert_eq!(
            listed(t0 + chrono::Duration::seconds(25), 10).await,
            ids,
            "soonest due first, all due by then"
        );
        assert_eq!(
            listed(t0 + chrono::Duration::seconds(10), 10).await,
            ids[..2].to_vec(),
            "due exactly at the time asked is due; later is not"
        );
        assert_eq!(
            listed(t0 + chrono::Duration::seconds(25), 1).await,
            ids[..1].to_vec(),
            "at most the limit, the soonest"
        );
        // Closing the first takes it out; giving the second a later look moves it behind.
        let mut first = opened[0].clone();
        let closed_at = t0 + chrono::Duration::seconds(30);
        first
            .transition(IncidentStatus::Resolved, closed_at)
            .unwrap();
        assert_eq!(
            super::write_audited(store, &mut first, true, None, closed_at).await,
            WriteOutcome::Written
        );
        let mut second = opened[1].clone();
        second.timing = Some(crate::incident::IncidentTiming {
            resume_after_seconds: 3600,
            quiet_seconds: 3600,
            workflow_deadline_seconds: 3600,
            recheck_seconds: 60,
        });
        assert_eq!(
            super::write_audited(store, &mut second, false, None, closed_at).await,
            WriteOutcome::Written
        );
        assert_eq!(
            listed(t0 + chrono::Duration::hours(2), 10).await,
            vec![ids[2].clone(), ids[1].clone()],
            "a closed incident is never due; the order follows each one's due time"
        );
        assert_eq!(
            listed(t0 + chrono::Duration::seconds(60), 10).await,
            vec![ids[2].clone()],
            "not before its own due time"
        );
    }

    /// The CPU alarm of `events/cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json` on
    /// `instance` (one alarm per instance, named `ServerCpuTooHigh-<instance>`), in ALARM since
    /// `changed_at`, as DescribeAlarms reports it. `cpu_alarm_event` is its EventBridge event.
    pub fn cpu_alarm(instance: &str, changed_at: DateTime<Utc>) -> AlarmSnapshot {
        let name = format!("ServerCpuTooHigh-{instance}");
        AlarmSnapshot {
            arn: format!("arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"),
            name,
            state: "ALARM".to_string(),
            state_reason: "Threshold Crossed: 1 out of the last 1 datapoints [99.5] was greater than the threshold (50.0)".to_string(),
            state_reason_data: Some(r#"{"version":"1.0","statistic":"Average","period":300,"recentDatapoints":[99.5],"threshold":50.0}"#.to_string()),
            state_changed_at: changed_at,
            description: Some("Goes into alarm when server CPU utilization is too high!".to_string()),
            namespace: Some("AWS/EC2".to_string()),
            metric_name: Some("CPUUtilization".to_string()),
            dimensions: BTreeMap::from([("InstanceId".to_string(), instance.to_string())]),
            metrics: Vec::new(),
            alarm_rule: None,
        }
    }

    /// The EventBridge event of `cpu_alarm(instance, changed_at)`'s transition, as the real
    /// delivery brings it (its own event id, the sample's shape).
    pub fn cpu_alarm_event(instance: &str, changed_at: DateTime<Utc>) -> serde_json::Value {
        let snapshot = cpu_alarm(instance, changed_at);
        let stamp = changed_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        serde_json::json!({
            "version": "0",
            "id": format!("eventbridge-{instance}-{stamp}"),
            "detail-type": "CloudWatch Alarm State Change",
            "source": "aws.cloudwatch",
            "account": "123456789012",
            "time": stamp,
            "region": "us-east-1",
            "resources": [snapshot.arn],
            "detail": {
                "alarmName": snapshot.name,
                "configuration": {
                    "description": snapshot.description,
                    "metrics": [{
                        "id": "30b6c6b2-a864-43a2-4877-c09a1afc3b87",
                        "metricStat": {
                            "metric": {
                                "dimensions": {"InstanceId": instance},
                                "name": "CPUUtilization",
                                "namespace": "AWS/EC2"
                            },
                            "period": 300,
                            "stat": "Average"
                        },
                        "returnData": true
                    }]
                },
                "previousState": {"value": "OK", "reason": "Threshold Crossed", "timestamp": stamp},
                "state": {"value": "ALARM", "reason": snapshot.state_reason, "reasonData": snapshot.state_reason_data, "timestamp": stamp}
            }
        })
    }
}

/// Environment variables naming the local peers that `tests/peers.sh` starts.
pub const DYNAMODB_ENDPOINT_ENV: &str = "ARGUS_TEST_DYNAMODB_ENDPOINT";
pub const MOTO_ENDPOINT_ENV: &str = "ARGUS_TEST_MOTO_ENDPOINT";

/// The endpoint of a local peer. Outside CI a missing peer skips the test and says so; in CI
/// (`CI=true`) it fails, so a broken peer start can never pass as a green run.
#[allow(clippy::panic)]
pub fn peer(variable: &str, test: &str) -> Option<String> {
    match std::env::var(variable) {
        Ok(endpoint) if !endpoint.is_empty() => {
            assert!(
                endpoint.starts_with("http://127.0.0.1:")
                    || endpoint.starts_with("http://localhost:"),
                "{variable} must be a loopback address, got {endpoint}"
            );
            Some(endpoint)
        }
        _ if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("{test}: {variable} is not set; run the tests through `bash tests/peers.sh`")
        }
        _ => {
            eprintln!(
                "SKIPPED {test}: {variable} is not set (run through `bash tests/peers.sh` to start the local peer)"
            );
            None
        }
    }
}

/// The task token the conformance suite's approval carries: no index may hold it.
pub const APPROVAL_TOKEN_CANARY: &str = "AAAAKgAAAAIAAAAAAAAAAcanary-task-token";

/// A Step Functions task token is never part of the incident's document, so no index that
/// projects the document carries it: every read of the incident (by id, by resource, by status,
/// by due time) has it withheld. (The DynamoDB suite also reads the raw indexes.)
async fn approval_token_conformance(store: &dyn IncidentStore, run: &str) {
    const CANARY: &str = APPROVAL_TOKEN_CANARY;
    let t0 = epoch();
    let signal = alarm_signal(
        &format!("ec2:instance/i-{run}-approval"),
        "alarm:approval-token",
        &format!("{run}-approval"),
        t0,
        SignalEffect::Opens,
    );
    let (_, opened) = open(store, &signal, t0).await;
    let mut incident = opened.incident;
    incident.approval = Some(crate::incident::PendingApproval {
        id: "approval-1".into(),
        execution_id: "execution-1".into(),
        action: ActionId::Ec2Reboot,
        risk: crate::catalogue::RiskClass::Low,
        requested_by: "argus".into(),
        requested_at: t0,
        expires_at: t0 + Duration::hours(1),
        task_token: crate::incident::TaskToken::new(CANARY),
        decision: None,
    });
    assert_eq!(
        write_audited(store, &mut incident, false, None, t0).await,
        WriteOutcome::Written
    );
    let carries_token = |incidents: &[Incident]| {
        incidents.iter().any(|incident| {
            serde_json::to_string(incident)
                .unwrap_or_default()
                .contains(CANARY)
        })
    };
    let by_id = store.incident(&incident.id).await.unwrap();
    assert!(
        !carries_token(by_id.as_slice()),
        "the incident's document withholds the task token"
    );
    let on_resource = store.incidents_on(&incident.resource, 10).await.unwrap();
    assert!(!on_resource.is_empty());
    assert!(!carries_token(&on_resource), "no task token by resource");
    let by_status = store
        .list_incidents(&IncidentQuery {
            statuses: Some(vec![incident.status]),
            limit: 1000,
        })
        .await
        .unwrap();
    assert!(!carries_token(&by_status), "no task token by status");
    let due = store
        .incidents_due(t0 + Duration::days(3650), 1000)
        .await
        .unwrap();
    assert!(!carries_token(&due), "no task token by due time");
    // Only the approval's own read gives it, and a write of the incident as read back (with
    // the placeholder) keeps it.
    let token = |approval: &'static str| {
        let id = incident.id.clone();
        async move { store.approval_token(&id, approval).await.unwrap() }
    };
    assert_eq!(
        token("approval-1")
            .await
            .map(|token| token.expose().to_string()),
        Some(CANARY.to_string()),
        "the approval's token is kept apart"
    );
    let mut read_back = by_id.unwrap();
    assert_eq!(
        write_audited(store, &mut read_back, false, None, t0).await,
        WriteOutcome::Written
    );
    assert_eq!(
        token("approval-1")
            .await
            .map(|token| token.expose().to_string()),
        Some(CANARY.to_string()),
        "writing the incident again keeps its approval's token"
    );
    assert_eq!(token("approval-2").await, None, "another approval has none");
    // The token is an item of the incident: kept while it is open, expiring with the rest.
    let expiries = store.item_expiries(&read_back.id).await.unwrap();
    assert!(
        expiries
            .iter()
            .any(|item| item.item == IncidentItem::ApprovalToken && item.expires_at.is_none()),
        "the open incident's token does not expire: {expiries:?}"
    );
    let closed_at = t0 + Duration::minutes(5);
    read_back
        .transition(IncidentStatus::Resolved, closed_at)
        .unwrap();
    assert_eq!(
        write_audited(store, &mut read_back, true, None, closed_at).await,
        WriteOutcome::Written
    );
    let kept_until = closed_at + Duration::days(DEFAULT_RETENTION_DAYS);
    let expiries = store.item_expiries(&read_back.id).await.unwrap();
    assert!(
        expiries
            .iter()
            .all(|item| item.expires_at == Some(kept_until)),
        "the token expires with the closed incident: {expiries:?}"
    );
}
