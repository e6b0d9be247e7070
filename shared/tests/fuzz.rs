//! Fuzz targets for the library's parsers: event normalisation (every source), the intake path
//! behind it, the model's answer and its validation, the verifier's request (and the property
//! that malformed or missing evidence is never RECOVERED) and the recovery record request. Seeds come from events/; see the README's "Fuzzing" section for long runs.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::analysis::prompt::parse_answer;
use argus::analysis::{AnalysisContext, validate_assessment};
use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::ports::AnalystError;
use argus::recovery::verifier::{VerifyRequest, verify};
use argus::resource::ResourceRef;
use argus::signal::{Normalised, Signal, normalise};
use argus::testing::epoch;
use argus::testing::fuzz::{self, mutated};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use support::{Harness, sample};

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// An `error_type()` is a contract with the state machine: a non-empty identifier.
fn is_stable_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// What every signal a normaliser accepts must satisfy before the intake stores it.
fn check_signal(signal: &Signal) -> Result<(), TestCaseError> {
    prop_assert!(ResourceRef::parse(signal.resource.as_str()).is_ok());
    // Issue 20: every accepted signal's resource fits its kind's grammar.
    prop_assert!(
        signal.resource.check_grammar().is_ok(),
        "{} is outside its kind's grammar",
        signal.resource
    );
    prop_assert!(!signal.signature.is_empty(), "empty signature");
    // Issue 20: identities that become store keys and display text are bounded.
    prop_assert!(
        signal.signature.len() <= 512,
        "signature of {} bytes",
        signal.signature.len()
    );
    prop_assert!(signal.source_event_id.len() <= 1024);
    prop_assert!(
        signal.title.len() <= 512,
        "title of {} bytes",
        signal.title.len()
    );
    prop_assert!(!signal.source_event_id.is_empty(), "empty source event id");
    // The signal is stored and handed between Lambdas as JSON, so it must come back intact.
    let text = serde_json::to_string(signal).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let back: Signal = serde_json::from_str(&text)
        .map_err(|e| TestCaseError::fail(format!("the signal does not read back: {e}")))?;
    prop_assert_eq!(&back, signal);
    Ok(())
}

fn check_normalise(event: &Value) -> Result<(), TestCaseError> {
    match normalise(event, &Config::default().signals) {
        Ok(Normalised::Signals(signals)) => signals.iter().try_for_each(check_signal),
        Ok(Normalised::Ignored { reason }) => {
            prop_assert!(!reason.is_empty());
            Ok(())
        }
        Err(error) => {
            prop_assert!(
                matches!(
                    error.error_type(),
                    "InvalidEvent" | "UnsupportedEvent" | "UntrustedSource"
                ),
                "unexpected error type {}",
                error.error_type()
            );
            Ok(())
        }
    }
}

/// Every event in events/ except the scenario policies, which are not events.
fn event_seeds() -> Vec<Value> {
    let mut seeds = Vec::new();
    for source in [
        "argus",
        "aws-health",
        "cloudtrail",
        "cloudwatch-alarm",
        "ec2-state-change",
        "invalid",
        "scheduled",
    ] {
        seeds.extend(fuzz::seeds_in(&events_dir().join(source)));
    }
    seeds
}

#[test]
fn fuzz_normalise_events() {
    fuzz::run("normalise", mutated(event_seeds()), |event| {
        check_normalise(&event)
    });
}

/// The same events through the whole intake path: store, guards, analysis and workflow start.
#[test]
fn fuzz_intake_process_event() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let harness = Harness::new(Config::default());
    fuzz::run("intake", mutated(event_seeds()), |event| {
        match runtime.block_on(harness.deliver(&event)) {
            Ok(report) => {
                for signal in &report.signals {
                    check_signal(&signal.signal)?;
                }
            }
            Err(error) => prop_assert!(is_stable_name(error.error_type()), "{error}"),
        }
        Ok(())
    });
}

/// The context the intake builds for the sample CPU alarm, which the recorded answers cite.
fn alarm_context() -> AnalysisContext {
    let event = sample("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let signal = match normalise(&event, &Config::default().signals).unwrap() {
        Normalised::Signals(mut signals) => signals.remove(0),
        other => panic!("the sample is a signal: {other:?}"),
    };
    let id = CorrelationId::derive(
        &signal.signature,
        signal.resource.as_str(),
        &signal.source_event_id,
        signal.observed_at,
    );
    AnalysisContext::build(id, &signal, Vec::new())
}

/// The tool inputs of the recorded Bedrock answers, plus a proposal of every shape of action.
fn answer_seeds() -> Vec<Value> {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/converse");
    let mut seeds: Vec<Value> = fuzz::seeds_in(&fixtures)
        .iter()
        .filter_map(|response| {
            response
                .pointer("/output/message/content")?
                .as_array()?
                .iter()
                .find_map(|block| block.pointer("/toolUse/input").cloned())
        })
        .collect();
    let base = json!({
        "classification": "resource_saturation",
        "severity": 6,
        "confidence": 0.8,
        "summary": "s",
        "hypotheses": [{"statement": "h", "likelihood": 0.5, "evidence": ["signal"]}],
    });
    for (action, params) in [
        ("ec2.reboot", json!({"instance_id": "i-12345678901234567"})),
        ("ec2.start", json!({"instance_id": "i-12345678901234567"})),
        (
            "ecs.force_new_deployment",
            json!({"cluster": "prod", "service": "checkout"}),
        ),
        (
            "lambda.rollback_alias",
            json!({"function_name": "checkout", "alias": "live", "target_version": "3"}),
        ),
        (
            "asg.instance_refresh",
            json!({"auto_scaling_group_name": "web", "min_healthy_percentage": 90}),
        ),
        (
            "ssm.automation",
            json!({"document_name": "AWS-RestartEC2Instance",
                   "resource": "ec2:instance/i-12345678901234567",
                   "parameters": {"InstanceId": ["i-12345678901234567"]}}),
        ),
        (
            "codebuild.terraform_apply",
            json!({"project_name": "infra", "resource": "ec2:instance/i-12345678901234567"}),
        ),
        ("notify.only", json!({})),
    ] {
        let mut seed = base.clone();
        seed["proposal"] = json!({"action_id": action, "params": params, "rationale": "r"});
        seeds.push(seed);
    }
    seeds
}

#[test]
fn fuzz_model_answer_and_validation() {
    let context = alarm_context();
    let config = Config::default();
    fuzz::run("assessment", mutated(answer_seeds()), |input| {
        let assessment = match parse_answer(&input, "fuzz", None) {
            Ok(assessment) => assessment,
            Err(error) => {
                let out_of_schema = matches!(error, AnalystError::OutOfSchema { .. });
                prop_assert!(out_of_schema, "unexpected error {}", error);
                return Ok(());
            }
        };
        let had_proposal = assessment.proposal.is_some();
        match validate_assessment(assessment, &context, &config) {
            Ok(validated) => {
                let kept = &validated.assessment;
                prop_assert!((1..=10).contains(&kept.severity));
                prop_assert!((0.0..=1.0).contains(&kept.confidence));
                for hypothesis in &kept.hypotheses {
                    prop_assert!((0.0..=1.0).contains(&hypothesis.likelihood));
                    prop_assert!(!hypothesis.evidence.is_empty());
                    prop_assert!(
                        hypothesis
                            .evidence
                            .iter()
                            .all(|id| context.has_evidence(id))
                    );
                }
                prop_assert_eq!(validated.action.is_some(), had_proposal);
                serde_json::to_string(&validated)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
        Ok(())
    });
}

#[test]
fn fuzz_verifier_request() {
    let seeds = fuzz::seeds_in(&events_dir().join("verifier"));
    assert!(!seeds.is_empty(), "no verifier seeds found");
    fuzz::run("verifier", mutated(seeds), |payload| {
        // A payload that is not a request is the Lambda's InvalidRequest; any request gets a verdict.
        if let Ok(request) = serde_json::from_value::<VerifyRequest>(payload) {
            let response = verify(&request, epoch());
            serde_json::to_value(&response).map_err(|e| TestCaseError::fail(e.to_string()))?;
        }
        Ok(())
    });
}

/// The verifier's healthy seeds, each with the pointers of the evidence it stands on (and
/// whether the place holds a timestamp, which may be text or a number): removing any of them,
/// or giving it a value of another JSON type, leaves evidence that proves nothing.
fn evidence_seeds() -> Vec<(Value, Vec<(&'static str, bool)>)> {
    let other_alarms = [
        ("/other_alarms", false),
        ("/other_alarms/metric_alarm_names", false),
        ("/other_alarms/metric_alarm_states", false),
        ("/other_alarms/metric_alarm_dimensions", false),
        ("/other_alarms/composite_alarm_names", false),
        ("/other_alarms/composite_alarm_states", false),
    ];
    let instance = "/resource/InstanceStatuses/0";
    let ec2: Vec<(&'static str, bool)> = [
        ("/alarm", false),
        ("/alarm/MetricAlarms", false),
        ("/alarm/MetricAlarms/0", false),
        ("/alarm/MetricAlarms/0/StateValue", false),
        ("/alarm/MetricAlarms/0/StateUpdatedTimestamp", true),
        ("/resource", false),
        ("/resource/InstanceStatuses", false),
        (instance, false),
        ("/resource/InstanceStatuses/0/InstanceState", false),
        ("/resource/InstanceStatuses/0/InstanceState/Name", false),
        ("/resource/InstanceStatuses/0/InstanceStatus", false),
        ("/resource/InstanceStatuses/0/InstanceStatus/Status", false),
        ("/resource/InstanceStatuses/0/SystemStatus", false),
        ("/resource/InstanceStatuses/0/SystemStatus/Status", false),
    ]
    .into_iter()
    .chain(other_alarms)
    .collect();
    let ecs: Vec<(&'static str, bool)> = [
        ("/resource", false),
        ("/resource/Services", false),
        ("/resource/Services/0", false),
        ("/resource/Services/0/RunningCount", false),
        ("/resource/Services/0/DesiredCount", false),
        ("/resource/Services/0/Deployments", false),
        ("/resource/Services/0/Deployments/0", false),
    ]
    .into_iter()
    .chain(other_alarms)
    .collect();
    let lambda: Vec<(&'static str, bool)> = [
        ("/resource", false),
        ("/resource/FunctionVersion", false),
        ("/decision/action/params/target_version", false),
    ]
    .into_iter()
    .chain(other_alarms)
    .collect();
    vec![
        (sample("verifier/recovered.json"), ec2),
        (sample("verifier/ecs-recovered.json"), ecs),
        (sample("verifier/lambda-recovered.json"), lambda),
    ]
}

fn verifier_now() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2026-11-22T06:20:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn delete_at(document: &mut Value, pointer: &str) {
    let Some((parent, last)) = pointer.rsplit_once('/') else {
        return;
    };
    match document.pointer_mut(parent) {
        Some(Value::Object(fields)) => {
            fields.remove(last);
        }
        Some(Value::Array(items)) => {
            if let Ok(index) = last.parse::<usize>()
                && index < items.len()
            {
                items.remove(index);
            }
        }
        _ => {}
    }
}

/// Issue 15: the verifier read an ECS answer with no counts as healthy. Whatever part of the
/// evidence is missing or malformed, the verdict is never RECOVERED.
#[test]
fn fuzz_malformed_verifier_evidence_is_never_recovered() {
    let seeds = evidence_seeds();
    for (seed, _) in &seeds {
        let request: VerifyRequest = serde_json::from_value(seed.clone()).unwrap();
        assert_eq!(
            verify(&request, verifier_now()).verdict,
            argus::recovery::verifier::Verdict::Recovered,
            "a seed must be healthy evidence as it is: {seed}"
        );
    }
    let seeds = std::sync::Arc::new(seeds);
    let breaks = proptest::collection::vec(
        (
            any::<proptest::sample::Index>(),
            prop_oneof![Just(None), fuzz::arbitrary_json().prop_map(Some)],
        ),
        1..4,
    );
    let strategy = (any::<proptest::sample::Index>(), breaks);
    fuzz::run("evidence", strategy, move |(pick, breaks)| {
        let (seed, pointers) = pick.get(&seeds);
        let mut document = seed.clone();
        let mut broken = Vec::new();
        for (at, replacement) in &breaks {
            let (pointer, timestamp) = *at.get(pointers);
            // Breaking one place twice could put a value of its own type back.
            if broken.contains(&pointer) {
                continue;
            }
            broken.push(pointer);
            // An earlier break may have removed it already.
            let Some(node) = document.pointer_mut(pointer) else {
                continue;
            };
            match replacement {
                // A value of the same JSON type could be valid evidence; only another type (or
                // for a timestamp, neither text nor a number) is malformed for sure.
                Some(value)
                    if std::mem::discriminant(value) != std::mem::discriminant(node)
                        && !(timestamp && (value.is_number() || value.is_string())) =>
                {
                    *node = value.clone();
                }
                _ => delete_at(&mut document, pointer),
            }
        }
        // A payload that is not a request is the Lambda's InvalidRequest, not a verdict.
        if let Ok(request) = serde_json::from_value::<VerifyRequest>(document.clone()) {
            let response = verify(&request, verifier_now());
            prop_assert_ne!(
                response.verdict,
                argus::recovery::verifier::Verdict::Recovered,
                "{} {:?}",
                document,
                response.reasons
            );
        }
        Ok(())
    });
}

/// The state machine's record requests for the incident `id`, at every step of the workflow.
fn record_seeds(id: &str) -> Vec<Value> {
    let verification = json!({"result": {"verdict": "RECOVERED", "reasons": ["ok"]}});
    let failure = json!({"Error": "States.TaskFailed", "Cause": "boom"});
    vec![
        json!({"operation": "record_start", "correlation_id": id, "execution_id": "exec-1"}),
        json!({"operation": "record_outcome", "correlation_id": id, "execution_id": "exec-1",
               "outcome": "recovered",
               "progress": {"action_ran": true, "verification": verification,
                            "action_sent_at": "2026-11-22T06:15:00.000Z"}}),
        json!({"operation": "record_outcome", "correlation_id": id, "outcome": "escalated",
               "progress": {"action_ran": false, "action_error": failure,
                            "approval_error": failure}}),
        json!({"operation": "record_outcome", "correlation_id": id, "outcome": "advisory"}),
        json!({"operation": "check_still_open", "correlation_id": id, "execution_id": "exec-1"}),
        json!({"operation": "record_outcome", "correlation_id": id, "execution_id": "exec-1",
               "outcome": "resolved_before_action",
               "progress": {"action_ran": false,
                            "approval_error": {"Error": "Argus.IncidentResolved", "Cause": "resolved"}}}),
    ]
}

#[test]
fn fuzz_recovery_record_request() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let harness = Harness::new(Config::default());
    let event = sample("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let report = runtime.block_on(harness.deliver(&event)).unwrap();
    let id = report.signals[0].correlation_id.clone().unwrap();
    fuzz::run("record", mutated(record_seeds(id.as_str())), |request| {
        let result = runtime.block_on(argus::recovery::record::handle(
            &request,
            &harness.store,
            &harness.store,
            &harness.clock,
            &harness.config,
        ));
        if let Err(error) = result {
            prop_assert!(is_stable_name(error.error_type()), "{error}");
        }
        Ok(())
    });
}

/// Found by `fuzz_verifier_request`: `Period × EvaluationPeriods` overflowed (a panic in debug
/// builds, and in release a negative requirement that made any OK alarm "recovered").
#[test]
fn regression_verifier_huge_alarm_period_is_not_recovered_at_once() {
    let mut payload = sample("verifier/recovered.json");
    let alarm = &mut payload["alarm"]["MetricAlarms"][0];
    alarm["Period"] = json!(4_611_686_018_427_387_904_i64);
    alarm["EvaluationPeriods"] = json!(2);
    let request: VerifyRequest = serde_json::from_value(payload).unwrap();
    let response = verify(&request, epoch());
    assert_ne!(
        response.verdict,
        argus::recovery::verifier::Verdict::Recovered,
        "{:?}",
        response.reasons
    );
}

/// Found by `fuzz_malformed_verifier_evidence_is_never_recovered`: a deployments list holding
/// `null` instead of a deployment counted as "one deployment", so the service read healthy.
#[test]
fn regression_verifier_a_null_ecs_deployment_is_not_healthy() {
    let mut payload = sample("verifier/ecs-recovered.json");
    payload["resource"]["Services"][0]["Deployments"] = json!([null]);
    let request: VerifyRequest = serde_json::from_value(payload).unwrap();
    let response = verify(&request, verifier_now());
    assert_ne!(
        response.verdict,
        argus::recovery::verifier::Verdict::Recovered,
        "{:?}",
        response.reasons
    );
}

/// The escapers of `argus::escape` on hostile text: the terminal sees no control or hidden
/// character (and JSON stays the same JSON), Slack sees no `<` or `>`, Markdown renders no
/// link, image, HTML or line break, a code span cannot be closed.
#[test]
fn fuzz_escapers() {
    use argus::escape::{self, TerminalStyle};
    fuzz::run("escapers", fuzz::hostile_text(), |text| {
        let shown = escape::terminal(&text, TerminalStyle::Text);
        prop_assert!(
            !shown.chars().any(escape::is_hidden_or_control),
            "{shown:?}"
        );
        let json = serde_json::to_string(&text).unwrap_or_default();
        let shown = escape::terminal(&json, TerminalStyle::Json);
        prop_assert!(
            !shown.chars().any(escape::is_hidden_or_control),
            "{shown:?}"
        );
        let back: String = serde_json::from_str(&shown)
            .map_err(|error| TestCaseError::fail(format!("{error}: {shown}")))?;
        prop_assert_eq!(&back, &text);
        let slack = escape::slack_mrkdwn(&text);
        prop_assert!(!slack.contains(['<', '>']), "{slack}");
        for markdown in [
            escape::markdown_inline(&text),
            format!("- {}", escape::markdown_inline(&text)),
            format!("| a | {} |", escape::markdown_inline(&text)),
            escape::teams_markdown(&text),
        ] {
            prop_assert!(!markdown.contains('\n'), "{markdown:?}");
            let parser = pulldown_cmark::Parser::new_ext(&markdown, pulldown_cmark::Options::all());
            for event in parser {
                let markup = matches!(
                    event,
                    pulldown_cmark::Event::Start(
                        pulldown_cmark::Tag::Link { .. }
                            | pulldown_cmark::Tag::Image { .. }
                            | pulldown_cmark::Tag::Heading { .. }
                            | pulldown_cmark::Tag::BlockQuote(_)
                            | pulldown_cmark::Tag::HtmlBlock
                    ) | pulldown_cmark::Event::Html(_)
                        | pulldown_cmark::Event::InlineHtml(_)
                );
                prop_assert!(!markup, "{event:?} from {markdown:?}");
            }
        }
        let code = escape::markdown_code(&text, true);
        prop_assert!(!code.contains(['`', '\n', '\r']), "{code:?}");
        Ok(())
    });
}

/// The redactor on hostile text: no panic, a secret placed after a secret key or in a URI never
/// survives, and a sample is clean and capped.
#[test]
fn fuzz_redaction() {
    use argus::loganalysis::redact::redact;
    use argus::loganalysis::text::{MAX_SAMPLE_BYTES, sanitise};
    fuzz::run("redaction", fuzz::hostile_text(), |text| {
        let _ = redact(&text);
        for line in [
            format!("{text} password=Zq9secretZq9 {text}"),
            format!("{text} postgres://app:Zq9secretZq9@db/x {text}"),
            format!("{text} Authorization: Bearer Zq9secretZq9 {text}"),
        ] {
            let redacted = redact(&line);
            prop_assert!(
                !redacted.contains("Zq9secretZq9"),
                "{line:?} → {redacted:?}"
            );
        }
        let sample = sanitise(&text);
        prop_assert!(!sample.chars().any(char::is_control), "{sample:?}");
        prop_assert!(
            sample.len() <= MAX_SAMPLE_BYTES + '…'.len_utf8(),
            "{}",
            sample.len()
        );
        Ok(())
    });
}

/// The resource grammars (`argus::resource_grammar`) on hostile text and on real ids with
/// hostile pieces spliced in: they never panic, and an id accepted for any kind an action can
/// target holds no space, control character, shell metacharacter or `.`/`..` path segment.
#[test]
fn fuzz_resource_grammars() {
    use argus::resource_grammar;
    const TARGETABLE: &[(&str, &str)] = &[
        ("ec2", "instance"),
        ("ecs", "cluster"),
        ("ecs", "service"),
        ("lambda", "function"),
        ("autoscaling", "group"),
        ("dynamodb", "table"),
        ("rds", "db"),
        ("sqs", "queue"),
        ("logs", "log-group"),
        ("ssm", "parameter"),
        ("s3", "bucket"),
        ("external", "alertmanager"),
        ("elasticloadbalancing", "loadbalancer"),
    ];
    const REAL: &[&str] = &[
        "i-1234567890abcdef0",
        "prod/checkout",
        "checkout-api",
        "web.tier-1",
        "orders.v2",
        "orders-db",
        "orders.fifo",
        "/aws/lambda/checkout",
        "/checkout/prod/timeout",
        "receipts-123456789012",
    ];
    let strategy = prop_oneof![
        fuzz::hostile_text(),
        (
            proptest::sample::select(REAL),
            fuzz::hostile_text(),
            any::<prop::sample::Index>()
        )
            .prop_map(|(real, hostile, at)| {
                let at = at.index(real.len() + 1);
                format!("{}{hostile}{}", &real[..at], &real[at..])
            }),
    ];
    fuzz::run("resource-grammars", strategy, |id| {
        for (service, kind) in TARGETABLE {
            if resource_grammar::check(service, kind, &id).is_ok() {
                prop_assert!(
                    !id.chars().any(|c| c.is_whitespace() || c.is_control()),
                    "{service}:{kind}/{id:?}"
                );
                prop_assert!(
                    !id.contains(['`', '$', ';', '&', '|', '<', '>', '(', ')', '\\', '\'', '"'])
                );
                prop_assert!(
                    !id.split('/')
                        .any(|segment| segment == "." || segment == "..")
                );
                let resource = ResourceRef::checked(service, kind, &id)
                    .map_err(|error| TestCaseError::fail(error.to_string()))?;
                prop_assert_eq!(resource.id(), id.as_str());
            }
        }
        if resource_grammar::lambda_function_reference(&id).is_ok() {
            prop_assert!(
                id.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_:$".contains(c))
            );
        }
        let _ = resource_grammar::alarm_name(&id);
        Ok(())
    });
}

/// Found by `fuzz_escapers`: `[[…]]` is a wiki link in renderers with that extension on.
#[test]
fn regression_wiki_link_brackets_make_no_link() {
    let markdown = argus::escape::markdown_inline("[[Re-approve](https://evil.example)]]]");
    let links = pulldown_cmark::Parser::new_ext(&markdown, pulldown_cmark::Options::all())
        .filter(|event| {
            matches!(
                event,
                pulldown_cmark::Event::Start(pulldown_cmark::Tag::Link { .. })
            )
        })
        .count();
    assert_eq!(links, 0, "{markdown}");
}

/// Repeated audit entries (`Incident::record`) on hostile approvers, reasons and origins: the
/// chain with its sealed tallies always verifies, every entry is recorded or counted exactly
/// once, and an incident holds a bounded number of records and tallies whatever arrives.
#[test]
fn fuzz_audit_tallies() {
    use argus::incident::{
        AuditEntry, AuditKind, FULL_RECORDS_PER_KEY, Incident, MAX_FULL_REPEATED_RECORDS,
        MAX_TALLIES, counted_total, verify_chain,
    };
    let kinds = [
        AuditKind::ApprovalRefused,
        AuditKind::SignalAttached,
        AuditKind::SelfCausedAttached,
        AuditKind::Decided,
    ];
    // Mostly a few repeated values (what an attacker repeats), sometimes hostile text.
    let key_text = prop_oneof![
        8 => proptest::sample::select(vec!["slack:U0ATTACKER", "already_decided", "alarm-arn"])
            .prop_map(str::to_string),
        2 => fuzz::hostile_text(),
    ];
    let entry = (
        0..kinds.len(),
        key_text.clone(),
        key_text,
        proptest::option::weighted(0.02, fuzz::hostile_text()),
    );
    let strategy = proptest::collection::vec(entry, 0..200);
    fuzz::run("audit-tallies", strategy, |entries| {
        let signal = argus::testing::alarm_signal(
            "ec2:instance/i-0123456789abcdef0",
            "alarm:fuzz",
            "fuzz-open",
            epoch(),
            argus::signal::SignalEffect::Opens,
        );
        let id = CorrelationId::derive(&signal.signature, signal.resource.as_str(), "e", epoch());
        let mut incident = Incident::open(id, &signal, epoch());
        let mut records = Vec::new();
        let mut principals = std::collections::BTreeSet::new();
        for (n, (kind, first, second, principal)) in entries.iter().enumerate() {
            let kind = kinds[*kind];
            if let Some(principal) = principal {
                principals.insert((first.clone(), second.clone(), principal.clone()));
            }
            let data = match kind {
                AuditKind::ApprovalRefused => {
                    json!({"reason": first, "identity": second, "channel": "slack"})
                }
                _ => {
                    json!({"origin": first, "state": second, "outcome": "attached", "principal": principal})
                }
            };
            let at = epoch() + chrono::Duration::seconds(n as i64);
            records
                .extend(incident.record(AuditEntry::new("fuzz", kind, second.clone(), data), at));
        }
        prop_assert!(verify_chain(&incident, &records).is_intact());
        let repeatable = |kind: AuditKind| kind != AuditKind::Decided;
        let recorded_repeatable = records.iter().filter(|r| repeatable(r.kind)).count() as u64;
        let inputs_repeatable = entries.iter().filter(|e| repeatable(kinds[e.0])).count() as u64;
        prop_assert_eq!(
            recorded_repeatable + counted_total(&incident.audit_tallies),
            inputs_repeatable,
            "every entry recorded or counted once"
        );
        let principal_groups = principals.len() as u64;
        prop_assert!(
            recorded_repeatable
                <= u64::from(MAX_FULL_REPEATED_RECORDS)
                    + principal_groups * u64::from(FULL_RECORDS_PER_KEY),
            "{recorded_repeatable} records"
        );
        prop_assert!(
            incident.audit_tallies.len() as u64 <= MAX_TALLIES as u64 + 3 + principal_groups
        );
        for tally in incident.audit_tallies.values() {
            prop_assert!(tally.recorded <= FULL_RECORDS_PER_KEY);
            prop_assert!(tally.summary.len() <= 256 && tally.actor.len() <= 256);
        }
        if principals.is_empty() {
            let size = serde_json::to_vec(&incident.audit_tallies).unwrap().len();
            prop_assert!(size < 64 * 1024, "tallies of {size} bytes");
        }
        Ok(())
    });
}
