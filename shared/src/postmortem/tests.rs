//! Tests of the post-mortem: each timeline step, missing steps, follow-ups, determinism and
//! escaping.

use super::*;
use crate::analysis::{Assessment, Classification, Hypothesis, PastIncident, Proposal};
use crate::catalogue::{self, ActionId};
use crate::config::Config;
use crate::correlation::CorrelationId;
use crate::decision::Mode;
use crate::decision::{BudgetState, Decision};
use crate::incident::AuditEntry;
use crate::incident::{AuditKind, AuditRecord, Incident, IncidentStatus};
use crate::ports::ActionStats;
use crate::ports::{SignalRecord, SignatureHistory};
use crate::resource::ResourceRef;
use crate::signal::{Evidence, Signal, SignalEffect, SignalSource};
use chrono::{DateTime, Utc};
use chrono::{Duration, TimeZone};
use serde_json::Value;
use serde_json::json;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 30, 7, 0, 0).unwrap()
}

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + Duration::seconds(seconds)
}

fn signal() -> Signal {
    Signal {
        source_event_id: "event-1".into(),
        source: SignalSource::AlarmEventBridge,
        effect: SignalEffect::Opens,
        signature: "alarm:AWS/EC2/CPUUtilization".into(),
        resource: ResourceRef::parse("ec2:instance/i-0abc").unwrap(),
        account: Some("123456789012".into()),
        region: Some("us-east-1".into()),
        observed_at: at(-20),
        title: "ServerCpuTooHigh is ALARM".into(),
        state: "ALARM".into(),
        alarm_kind: None,
        alarm_name: Some("ServerCpuTooHigh".into()),
        metric: None,
        severity_hint: None,
        principal: None,
        correlation_hint: None,
        origin: None,
        evidence: vec![Evidence::new(
            "alarm.reason",
            "Alarm reason",
            "Threshold Crossed: 1 datapoint [99.5] was greater than 80.0",
        )],
    }
}

/// An incident as the orchestrator leaves it: opened, assessed, decided, workflow started.
struct Scenario {
    incident: Incident,
    audit: Vec<AuditRecord>,
    signals: Vec<SignalRecord>,
}

impl Scenario {
    fn new(mode: Mode, proposes: bool) -> Self {
        let signal = signal();
        let id = CorrelationId::derive(
            &signal.signature,
            signal.resource.as_str(),
            &signal.source_event_id,
            signal.observed_at,
        );
        let mut incident = Incident::open(id.clone(), &signal, t0());
        let mut scenario = Scenario {
            audit: Vec::new(),
            signals: vec![SignalRecord {
                incident_id: id,
                received_at: t0(),
                outcome: "opened".into(),
                signal: signal.clone(),
            }],
            incident: incident.clone(),
        };
        let action = proposes.then(|| {
            catalogue::validate(
                "ec2.reboot",
                &json!({"instance_id": "i-0abc"}),
                &signal.resource,
                &Config::default(),
            )
            .unwrap()
        });
        incident.assessment = Some(Assessment {
            analyst: "rules/v1".into(),
            classification: Classification::ResourceSaturation,
            severity: 5,
            confidence: 0.6,
            summary: "cpu".into(),
            hypotheses: vec![Hypothesis {
                statement: "the instance is CPU-saturated".into(),
                likelihood: 0.6,
                evidence: vec!["alarm.reason".into(), "history.1".into()],
            }],
            proposal: proposes.then(|| Proposal {
                action_id: "ec2.reboot".into(),
                params: json!({"instance_id": "i-0abc"}),
                rationale: "a reboot clears a runaway process".into(),
            }),
            usage: None,
        });
        incident.decision = Some(Decision {
            mode,
            action,
            escalate: false,
            suppressed: false,
            reasons: vec!["confidence 0.60 is below the auto threshold 0.80".into()],
            budget: proposes.then(|| BudgetState {
                used: 1,
                max: 3,
                window_start: t0(),
                window_end: at(3600),
                cooling_down_until: None,
            }),
            decided_at: at(1),
        });
        scenario.incident = incident;
        scenario.record(0, AuditKind::IncidentOpened, "opened", json!({}));
        scenario.record(1, AuditKind::Assessed, "assessed by rules/v1", json!({}));
        scenario.record(1, AuditKind::Decided, "approval — ec2.reboot", json!({}));
        scenario.record(
            2,
            AuditKind::WorkflowStarted,
            "recovery workflow started",
            json!({}),
        );
        scenario
    }

    fn record(&mut self, seconds: i64, kind: AuditKind, summary: &str, data: Value) {
        let record = self
            .incident
            .audit(AuditEntry::new("test", kind, summary, data), at(seconds));
        self.audit.push(record);
    }

    fn approve(&mut self, approved: bool) {
        self.record(
            3,
            AuditKind::ApprovalRequested,
            "approval of ec2.reboot requested",
            json!({"action": "ec2.reboot"}),
        );
        self.record(
            93,
            AuditKind::ApprovalDecided,
            "alice approved ec2.reboot through slack",
            json!({"approved": approved, "approver": "slack:alice", "channel": "slack"}),
        );
    }

    fn outcome(&mut self, seconds: i64, outcome: &str, progress: Value) {
        let mut data = json!({"outcome": outcome});
        if let (Some(data), Some(progress)) = (data.as_object_mut(), progress.as_object()) {
            data.extend(progress.clone());
        }
        let status = match outcome {
            "recovered" => IncidentStatus::Resolved,
            "escalated" => IncidentStatus::Escalated,
            _ => IncidentStatus::Advisory,
        };
        self.incident.transition(status, at(seconds)).unwrap();
        if status == IncidentStatus::Resolved {
            self.incident.resolution = Some("verified recovered by the recovery workflow".into());
        }
        self.record(seconds, AuditKind::RecoveryOutcome, outcome, data);
    }

    fn recovered(&mut self) {
        self.outcome(
            340,
            "recovered",
            json!({"action_ran": true, "action_sent_at": at(94).to_rfc3339(), "verification": {"result": {"verdict": "RECOVERED", "reasons": ["alarm is OK"]}}}),
        );
    }

    fn build(&self, history: Option<&SignatureHistory>) -> Postmortem {
        Postmortem::build(&self.incident, &self.audit, &self.signals, history)
    }
}

fn step(postmortem: &Postmortem, step: Step) -> &TimelineEntry {
    postmortem
        .timeline
        .iter()
        .find(|entry| entry.step == step)
        .unwrap_or_else(|| panic!("no {step:?} in {:#?}", postmortem.timeline))
}

fn kinds(postmortem: &Postmortem) -> Vec<FollowUpKind> {
    postmortem.follow_ups.iter().map(|item| item.kind).collect()
}

#[test]
fn an_approved_and_verified_recovery_has_every_step_timed() {
    let mut scenario = Scenario::new(Mode::Approval, true);
    scenario.approve(true);
    scenario.recovered();
    let postmortem = scenario.build(None);
    let steps: Vec<Step> = postmortem.timeline.iter().map(|entry| entry.step).collect();
    assert_eq!(
        steps,
        [
            Step::FirstSignal,
            Step::Detected,
            Step::Analysed,
            Step::Decided,
            Step::ApprovalRequested,
            Step::Approved,
            Step::Acted,
            Step::Verified,
            Step::Resolved
        ]
    );
    assert_eq!(step(&postmortem, Step::FirstSignal).at, Some(at(-20)));
    assert_eq!(step(&postmortem, Step::Detected).at, Some(t0()));
    assert_eq!(step(&postmortem, Step::Analysed).at, Some(at(1)));
    assert_eq!(step(&postmortem, Step::Decided).at, Some(at(1)));
    assert_eq!(step(&postmortem, Step::ApprovalRequested).at, Some(at(3)));
    let approved = step(&postmortem, Step::Approved);
    assert_eq!(approved.at, Some(at(93)));
    assert_eq!(approved.detail, "approved by slack:alice via slack");
    assert_eq!(step(&postmortem, Step::Acted).at, Some(at(94)));
    assert_eq!(step(&postmortem, Step::Verified).at, Some(at(340)));
    assert_eq!(step(&postmortem, Step::Resolved).at, Some(at(340)));
    assert_eq!(
        postmortem.metrics,
        Metrics {
            time_to_detect_seconds: Some(20),
            time_to_act_seconds: Some(94),
            time_to_recover_seconds: Some(340),
        }
    );
    assert!(
        postmortem.follow_ups.is_empty(),
        "{:?}",
        postmortem.follow_ups
    );
    assert!(postmortem.audit.verdict.is_intact());
    let evidence = &postmortem.hypotheses[0].evidence;
    assert_eq!(evidence[0].label.as_deref(), Some("Alarm reason"));
    assert_eq!(
        evidence[1].text, None,
        "history items are not kept with the incident"
    );
    let markdown = postmortem.to_markdown();
    assert!(markdown.starts_with(&format!(
        "# Post-mortem: ServerCpuTooHigh is ALARM ({})\n",
        scenario.incident.id
    )));
    assert!(
        markdown.contains("| 2026-11-30 07:01:33 | approved | approved by slack:alice via slack |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| Time to recover (incident opened → resolved) | 5m 40s |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("Integrity: verified — 7 records"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| Account / region | 123456789012 / us-east-1 |"),
        "{markdown}"
    );
}

#[test]
fn steps_not_reached_show_a_dash_and_are_not_invented() {
    let scenario = Scenario::new(Mode::Auto, true);
    let postmortem = scenario.build(None);
    for missing in [Step::Approved, Step::Acted, Step::Verified, Step::Resolved] {
        assert_eq!(step(&postmortem, missing).at, None, "{missing:?}");
    }
    assert_eq!(
        step(&postmortem, Step::Approved).detail,
        "not needed: auto mode"
    );
    assert!(
        !postmortem
            .timeline
            .iter()
            .any(|entry| entry.step == Step::ApprovalRequested)
    );
    assert_eq!(postmortem.metrics.time_to_recover_seconds, None);
    assert_eq!(postmortem.metrics.time_to_act_seconds, None);
    let markdown = postmortem.to_markdown();
    assert!(
        markdown.contains("| — | acted | ec2.reboot on ec2:instance/i-0abc was not run |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| Time to recover (incident opened → resolved) | — |"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| Closed | — (still open) |"),
        "{markdown}"
    );
}

#[test]
fn an_action_that_ran_without_a_recorded_time_says_so() {
    let mut scenario = Scenario::new(Mode::Auto, true);
    scenario.outcome(
        300,
        "recovered",
        json!({"action_ran": true, "verification": {"result": {"verdict": "RECOVERED", "reasons": []}}}),
    );
    let postmortem = scenario.build(None);
    let acted = step(&postmortem, Step::Acted);
    assert_eq!(acted.at, None);
    assert!(acted.detail.contains("its time was not recorded"));
}

#[test]
fn a_failed_action_is_a_follow_up() {
    let mut scenario = Scenario::new(Mode::Auto, true);
    scenario.outcome(
        30,
        "escalated",
        json!({"action_ran": false, "action_error": {"Error": "Ec2.AccessDeniedException", "Cause": "not allowed"}, "verification": {"result": {"verdict": "NOT_CHECKED", "reasons": []}}}),
    );
    let postmortem = scenario.build(None);
    assert_eq!(kinds(&postmortem), [FollowUpKind::ActionFailed]);
    let acted = step(&postmortem, Step::Acted);
    assert_eq!(acted.at, None);
    assert!(
        acted
            .detail
            .contains("failed: Ec2.AccessDeniedException: not allowed")
    );
    assert_eq!(step(&postmortem, Step::Escalated).at, Some(at(30)));
    assert_eq!(step(&postmortem, Step::Verified).at, None);
}

#[test]
fn a_failed_verification_is_a_follow_up() {
    let mut scenario = Scenario::new(Mode::Auto, true);
    scenario.outcome(
        600,
        "escalated",
        json!({"action_ran": true, "action_sent_at": at(5).to_rfc3339(), "verification": {"result": {"verdict": "FAILED", "reasons": ["alarm is still ALARM"]}}}),
    );
    let postmortem = scenario.build(None);
    assert_eq!(kinds(&postmortem), [FollowUpKind::VerificationFailed]);
    let verified = step(&postmortem, Step::Verified);
    assert_eq!(verified.at, None);
    assert!(verified.detail.contains("FAILED: alarm is still ALARM"));
    assert!(
        postmortem
            .summary
            .contains("did not confirm recovery (FAILED)")
    );
    assert!(postmortem.summary.contains("On-call was paged."));
}

#[test]
fn no_catalogue_action_is_a_runbook_gap() {
    let mut scenario = Scenario::new(Mode::Advisory, false);
    scenario.outcome(3, "advisory", json!({"action_ran": false}));
    let postmortem = scenario.build(None);
    assert_eq!(kinds(&postmortem), [FollowUpKind::RunbookGap]);
    assert_eq!(
        step(&postmortem, Step::Approved).detail,
        "not needed: advisory only"
    );
    assert!(
        step(&postmortem, Step::Acted)
            .detail
            .starts_with("no action")
    );
}

#[test]
fn a_spent_budget_is_a_follow_up_not_a_runbook_gap() {
    let mut scenario = Scenario::new(Mode::Advisory, false);
    scenario.record(
        1,
        AuditKind::BudgetSpent,
        "budget for ec2.reboot spent: 3/3 in the window",
        json!({}),
    );
    scenario.outcome(2, "escalated", json!({"action_ran": false}));
    let postmortem = scenario.build(None);
    assert_eq!(kinds(&postmortem), [FollowUpKind::BudgetSpent]);
    assert_eq!(
        step(&postmortem, Step::Acted).detail,
        "no action: the remediation budget was spent"
    );
    assert_eq!(step(&postmortem, Step::Escalated).at, Some(at(2)));
}

#[test]
fn rejected_and_unanswered_approvals_are_follow_ups() {
    let mut rejected = Scenario::new(Mode::Approval, true);
    rejected.approve(false);
    rejected.outcome(100, "escalated", json!({"action_ran": false}));
    let postmortem = rejected.build(None);
    assert_eq!(kinds(&postmortem), [FollowUpKind::ApprovalRejected]);
    assert_eq!(step(&postmortem, Step::Rejected).at, Some(at(93)));
    assert!(
        !postmortem
            .timeline
            .iter()
            .any(|entry| entry.step == Step::Approved)
    );

    let mut unanswered = Scenario::new(Mode::Approval, true);
    unanswered.record(
        3,
        AuditKind::ApprovalRequested,
        "approval requested",
        json!({}),
    );
    unanswered.outcome(
        3700,
        "escalated",
        json!({"action_ran": false, "approval_error": {"Error": "States.Timeout", "Cause": "no answer"}}),
    );
    let postmortem = unanswered.build(None);
    assert_eq!(kinds(&postmortem), [FollowUpKind::ApprovalUnanswered]);
    let approved = step(&postmortem, Step::Approved);
    assert_eq!(approved.at, None);
    assert!(approved.detail.contains("States.Timeout"));
}

#[test]
fn earlier_incidents_of_the_signature_are_a_recurring_follow_up() {
    let mut scenario = Scenario::new(Mode::Approval, true);
    scenario.approve(true);
    scenario.recovered();
    let past = |id: &CorrelationId, closed: i64| PastIncident {
        correlation_id: id.clone(),
        resource: scenario.incident.resource.clone(),
        action: Some("ec2.reboot".into()),
        verified: Some(true),
        time_to_recover_seconds: Some(300),
        summary: "cpu".into(),
        closed_at: at(closed),
    };
    let earlier =
        CorrelationId::parse("20261129T070000Z-alarm-aws-ec2-cpuutilization-000000000000").unwrap();
    // The patterns table already learned this incident too: it does not count as earlier.
    let history = SignatureHistory {
        actions: vec![(
            ActionId::Ec2Reboot,
            ActionStats {
                attempts: 2,
                verified_successes: 2,
                ..ActionStats::default()
            },
        )],
        incidents: vec![past(&scenario.incident.id, 340), past(&earlier, -86_400)],
    };
    let postmortem = scenario.build(Some(&history));
    assert_eq!(kinds(&postmortem), [FollowUpKind::RecurringSignature]);
    let recurrence = postmortem.recurrence.as_ref().unwrap();
    assert_eq!(recurrence.earlier_incidents, [earlier]);
    assert_eq!(recurrence.action_attempts, Some(2));
    assert!(postmortem.to_markdown().contains(
        "1 earlier resolved incident(s); the action has run 2 time(s) on it, 2 verified"
    ));

    let alone = SignatureHistory {
        actions: Vec::new(),
        incidents: vec![past(&scenario.incident.id, 340)],
    };
    assert!(scenario.build(Some(&alone)).follow_ups.is_empty());
}

#[test]
fn the_same_inputs_give_the_same_bytes_whatever_the_audit_order() {
    let mut scenario = Scenario::new(Mode::Approval, true);
    scenario.approve(true);
    scenario.recovered();
    let first = scenario.build(None);
    let mut shuffled = scenario.audit.clone();
    shuffled.reverse();
    let second = Postmortem::build(&scenario.incident, &shuffled, &scenario.signals, None);
    assert_eq!(first, second);
    assert_eq!(first.to_markdown(), second.to_markdown());
    assert_eq!(
        serde_json::to_string(&first).unwrap(),
        serde_json::to_string(&second).unwrap()
    );
}

#[test]
fn a_tampered_trail_is_reported_and_becomes_a_follow_up() {
    let mut scenario = Scenario::new(Mode::Approval, true);
    scenario.approve(true);
    scenario.recovered();
    scenario.audit[1].summary = "edited".into();
    let postmortem = scenario.build(None);
    assert!(!postmortem.audit.verdict.is_intact());
    assert_eq!(kinds(&postmortem), [FollowUpKind::AuditChainBroken]);
    assert!(
        postmortem
            .to_markdown()
            .contains("Integrity: **BROKEN** at record 1")
    );
}

/// The payloads of issue 20: a link that looks like Argus' own button, a tracking image, raw
/// HTML and a heading, in the title (which the summary, the timeline and the heading quote) and
/// in the analyst's hypothesis.
const MARKUP_PAYLOADS: &str = "[Re-approve](https://evil.example/approve) ![pixel](https://evil.example/t.png) <img src=x onerror=alert(1)> <https://evil.example/auto>";

#[test]
fn links_images_and_html_in_untrusted_text_are_escaped_in_the_markdown() {
    let mut scenario = Scenario::new(Mode::Auto, true);
    scenario.incident.title = format!("# {MARKUP_PAYLOADS}");
    scenario.signals[0].signal.title = scenario.incident.title.clone();
    if let Some(assessment) = scenario.incident.assessment.as_mut() {
        for hypothesis in &mut assessment.hypotheses {
            hypothesis.statement = format!("- {MARKUP_PAYLOADS}");
        }
    }
    let markdown = scenario.build(None).to_markdown();
    for raw in ["<img", "<https://", "\n# ", "\n   - - "] {
        assert!(!markdown.contains(raw), "{raw} survived: {markdown}");
    }
    assert!(
        !markdown.replace("\\](", "").contains("]("),
        "an unescaped `](` survived: {markdown}"
    );
    // Rendered, not one link or image comes out of it.
    let parser = pulldown_cmark::Parser::new_ext(&markdown, pulldown_cmark::Options::all());
    for event in parser {
        if let pulldown_cmark::Event::Start(
            tag @ (pulldown_cmark::Tag::Link { .. }
            | pulldown_cmark::Tag::Image { .. }
            | pulldown_cmark::Tag::HtmlBlock),
        ) = &event
        {
            panic!("untrusted text made {tag:?}: {markdown}");
        }
        if let pulldown_cmark::Event::InlineHtml(html) | pulldown_cmark::Event::Html(html) = &event
        {
            panic!("untrusted text made HTML {html}: {markdown}");
        }
    }
}

#[test]
fn untrusted_text_cannot_break_the_markdown() {
    let mut scenario = Scenario::new(Mode::Auto, true);
    scenario.incident.title = "bad | title <script>alert(1)</script>\n# injected".into();
    scenario.signals[0].signal.title = scenario.incident.title.clone();
    let markdown = scenario.build(None).to_markdown();
    assert!(!markdown.contains("<script>"), "{markdown}");
    assert!(!markdown.contains("\n# injected"), "{markdown}");
    assert!(markdown.contains("bad \\| title &lt;script>"), "{markdown}");
}

#[test]
fn a_source_clock_ahead_of_argus_shows_as_a_negative_time_to_detect() {
    let mut scenario = Scenario::new(Mode::Auto, true);
    scenario.signals[0].signal.observed_at = at(30);
    let postmortem = scenario.build(None);
    assert_eq!(postmortem.metrics.time_to_detect_seconds, Some(-30));
    assert!(
        postmortem
            .to_markdown()
            .contains("| Time to detect (first signal → incident opened) | -30s |")
    );
}

#[test]
fn durations_read_like_people_write_them() {
    assert_eq!(human_duration(45), "45s");
    assert_eq!(human_duration(337), "5m 37s");
    assert_eq!(human_duration(7500), "2h 05m");
    assert_eq!(human_duration(273_600), "3d 04h");
}
