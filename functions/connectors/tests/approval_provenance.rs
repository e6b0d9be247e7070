//! The approval request shows where each parameter's value came from and, for an action on a
//! root-cause candidate, the path from the alarming resource to it and the evidence behind it
//! (issue 16 item 11, issue 17 item 3): read from the rendered Slack blocks, Teams card, e-mail
//! text and Markdown, with hostile text escaped per target and every rendering in its limits.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use argus::catalogue::{ActionId, ActionParams, LambdaAliasParams, RiskClass, ValidatedAction};
use argus::decision::{Decision, Mode};
use argus::incident::{Incident, IncidentStatus};
use argus::provenance::{EvidenceRef, ParameterSource, RootCausePath, Source};
use argus::resource::ResourceRef;
use argus::signal::SignalEffect;
use argus::testing::{alarm_signal, epoch};
use connectors::outbound::brief::Brief;
use connectors::outbound::chat;
use serde_json::Value;

const ALIAS_MOVE: &str = "change.pricing.UpdateAlias.1773482620";
const HOSTILE: &str = "<!channel> [Approve here](https://evil.example) <https://evil.example|Approve> *now*\n\nApprove: https://evil.example";

fn source(parameter: &str, value: &str, source: Source) -> ParameterSource {
    ParameterSource {
        parameter: parameter.into(),
        value: value.into(),
        source,
    }
}

/// An alarm on the front end, and a rollback of the dependency the investigation blamed,
/// awaiting approval; `text` stands in for what the investigated world wrote into a change.
fn candidate_rollback(text: &str) -> Incident {
    let at = epoch();
    let signal = alarm_signal(
        "ecs:service/prod/storefront",
        "alarm:storefront-latency-high",
        "evt-provenance",
        at,
        SignalEffect::Opens,
    );
    let id = argus::correlation::CorrelationId::derive(
        &signal.signature,
        signal.resource.as_str(),
        &signal.source_event_id,
        at,
    );
    let mut incident = Incident::open(id, &signal, at);
    let fact = Source::Fact {
        evidence: ALIAS_MOVE.into(),
        summary: format!("UpdateAlias on pricing: alias live moved from version 41 to 42; {text}"),
    };
    incident.decision = Some(Decision {
        mode: Mode::Approval,
        action: Some(ValidatedAction {
            action: ActionId::LambdaRollbackAlias,
            params: ActionParams::LambdaAlias(LambdaAliasParams {
                function_name: "pricing".into(),
                alias: "live".into(),
                target_version: "41".into(),
            }),
            risk: RiskClass::Medium,
            target: Some(ResourceRef::parse("lambda:function/pricing").unwrap()),
            on_candidate: true,
            provenance: vec![
                source(
                    "function_name",
                    "pricing",
                    Source::Candidate {
                        node: "pricing".into(),
                        evidence: "topology.candidate.pricing".into(),
                    },
                ),
                source("alias", "live", fact.clone()),
                source("target_version", "41", fact),
            ],
            root_cause: Some(RootCausePath {
                node: "pricing".into(),
                path: vec!["storefront".into(), "orders-api".into(), "pricing".into()],
                score: 3.2,
                evidence: vec![
                    EvidenceRef {
                        id: "topology.candidate.pricing".into(),
                        text: "root-cause candidate #1 pricing (score 3.20)".into(),
                    },
                    EvidenceRef {
                        id: "metric.pricing.latency".into(),
                        text: "pricing latency was 0.85 s, normally 0.045 s".into(),
                    },
                    EvidenceRef {
                        id: ALIAS_MOVE.into(),
                        text: format!("UpdateAlias on pricing 4 min before the alarm: {text}"),
                    },
                ],
            }),
        }),
        escalate: false,
        suppressed: false,
        reasons: vec!["an action on a root-cause candidate is always approved by a person".into()],
        budget: None,
        decided_at: at,
    });
    incident.status = IncidentStatus::AwaitingApproval;
    incident
}

fn slack_texts(blocks: &[Value]) -> Vec<String> {
    let mut texts = Vec::new();
    for block in blocks {
        if let Some(text) = block["text"]["text"].as_str() {
            texts.push(text.to_string());
        }
        for field in block["fields"].as_array().into_iter().flatten() {
            texts.push(field["text"].as_str().unwrap_or_default().to_string());
        }
    }
    texts
}

#[test]
fn the_slack_approval_shows_where_each_value_came_from_and_the_path_to_the_candidate() {
    let incident = candidate_rollback("deployed by ci");
    let brief = Brief::new(&incident, &[], &[], None);
    let blocks = chat::approval_blocks(&brief, "approval-1", "2026-11-22 07:00 UTC");
    let text = slack_texts(&blocks).join("\n");
    for expected in [
        "*Where the values come from*",
        "target_version=41: fact change.pricing.UpdateAlias.1773482620: UpdateAlias on pricing: alias live moved from version 41 to 42",
        "function_name=pricing: root-cause candidate pricing (topology.candidate.pricing)",
        "Path: storefront → orders-api → pricing",
        "• metric.pricing.latency: pricing latency was 0.85 s",
        "• change.pricing.UpdateAlias.1773482620: UpdateAlias on pricing 4 min before the alarm",
    ] {
        assert!(text.contains(expected), "lacks {expected:?}:\n{text}");
    }
}

#[test]
fn the_teams_card_and_the_email_show_provenance_path_and_evidence() {
    let incident = candidate_rollback("deployed by ci");
    let brief = Brief::new(&incident, &[], &[], None);
    let card = chat::teams_card(&brief, "Approval needed");
    let card_text = card.to_string();
    for expected in [
        "Where the values come from:",
        "target_version=41: fact change.pricing.UpdateAlias.1773482620",
        "Path: storefront → orders-api → pricing",
        "metric.pricing.latency: pricing latency",
        "Why pricing and not the alarming resource",
    ] {
        assert!(
            card_text.contains(expected),
            "Teams lacks {expected:?}: {card_text}"
        );
    }
    let email = brief.plain_text();
    for expected in [
        "      Where the values come from:",
        "        - alias=live: fact change.pricing.UpdateAlias.1773482620",
        "      Root cause: pricing (path storefront → orders-api → pricing)",
        "        - topology.candidate.pricing: root-cause candidate #1 pricing (score 3.20)",
    ] {
        assert!(
            email.contains(expected),
            "e-mail lacks {expected:?}:\n{email}"
        );
    }
    let markdown = brief.markdown();
    assert!(
        markdown.contains("  - target_version=41: fact change.pricing.UpdateAlias.1773482620"),
        "{markdown}"
    );
    assert!(markdown.contains("- Root cause: pricing (path storefront → orders-api → pricing)"));
}

#[test]
fn hostile_text_in_a_change_record_is_escaped_per_target() {
    let incident = candidate_rollback(HOSTILE);
    let brief = Brief::new(&incident, &[], &[], None);
    let slack = slack_texts(&chat::approval_blocks(&brief, "approval-1", "later")).join("\n");
    assert!(!slack.contains("<!channel>"), "{slack}");
    assert!(!slack.contains("<https://evil.example|"), "{slack}");
    assert!(slack.contains("&lt;!channel&gt;"), "{slack}");
    let teams = chat::teams_card(&brief, "Approval needed").to_string();
    assert!(
        !teams.contains("[Approve here](https://evil.example)"),
        "{teams}"
    );
    let markdown = brief.markdown();
    assert!(
        !markdown.contains("[Approve here](https://evil.example)"),
        "{markdown}"
    );
    assert!(!markdown.contains("<!channel>"), "{markdown}");
    // The e-mail is plain text: one line per item, no line break smuggled in.
    let email = brief.plain_text();
    assert!(!email.contains("\n\nApprove:"), "{email}");
}

#[test]
fn huge_provenance_and_evidence_stay_inside_every_vendor_limit() {
    let huge = "x".repeat(20_000);
    let mut incident = candidate_rollback(&huge);
    if let Some(action) = incident
        .decision
        .as_mut()
        .and_then(|decision| decision.action.as_mut())
    {
        let entry = action.provenance[2].clone();
        action.provenance = vec![
            ParameterSource {
                value: huge.clone(),
                ..entry
            };
            200
        ];
        let root_cause = action.root_cause.as_mut().unwrap();
        root_cause.path = vec![huge.clone(); 200];
        root_cause.evidence = vec![
            EvidenceRef {
                id: huge.clone(),
                text: huge.clone(),
            };
            200
        ];
    }
    let brief = Brief::new(&incident, &[], &[], None);
    let blocks = chat::approval_blocks(&brief, "approval-1", "later");
    for text in slack_texts(&blocks) {
        assert!(text.chars().count() <= 3000, "{}", text.len());
    }
    assert!(blocks.len() <= 50, "Slack takes at most 50 blocks");
    let card = serde_json::to_string(&chat::teams_card(&brief, "Approval needed")).unwrap();
    assert!(card.len() <= 28_000, "Teams card of {} bytes", card.len());
    assert!(
        brief.plain_text().len() <= 32_767,
        "Jira's description limit"
    );
    assert!(brief.markdown().len() <= 32_767);
}

#[tokio::test]
async fn the_approval_email_sent_for_a_candidate_rollback_says_where_its_version_came_from() {
    use connectors::outbound::channels::{ApprovalLinks, Channels};
    use connectors::secrets::names;
    use connectors::signing::SigningKey;
    let fixture = support::fixture(Mode::Approval).await;
    // The incident's decision becomes the candidate rollback, as the intake would record it.
    let rollback = candidate_rollback("deployed by ci")
        .decision
        .unwrap()
        .action;
    argus::incident::update_incident(
        &*fixture.store,
        &*fixture.clock,
        fixture.id(),
        None,
        |incident| {
            incident.decision.as_mut().unwrap().action = rollback.clone();
            vec![argus::incident::AuditEntry::new(
                "test",
                argus::incident::AuditKind::Decided,
                "decided on the candidate",
                serde_json::json!({}),
            )]
        },
    )
    .await
    .unwrap()
    .unwrap();
    let mut config = argus::config::Config::default();
    config.approvals.medium = vec!["email:alice@example.com".into()];
    let key = "approval-link-key-for-tests";
    let channels = Channels {
        approval_links: Some(ApprovalLinks {
            base_url: "https://argus.example.com".into(),
            key: SigningKey::new(key.as_bytes().to_vec()),
        }),
        ..Channels::default()
    };
    let outbound = fixture.outbound(
        channels,
        config,
        support::secrets(&[(names::APPROVAL_LINK_KEY, key)]),
    );
    let request = support::operation_payload(
        "request_approval",
        fixture.id().as_str(),
        serde_json::json!({"task_token": "AAAAKgAAAAIAAAAAAAAAAcanary-provenance"}),
    );
    outbound.handle(&request).await.unwrap();
    let emails = fixture.published();
    assert_eq!(emails.len(), 1);
    let body = &emails[0].body;
    for expected in [
        "target_version=41: fact change.pricing.UpdateAlias.1773482620",
        "Root cause: pricing (path storefront → orders-api → pricing)",
        "metric.pricing.latency: pricing latency was 0.85 s",
    ] {
        assert!(
            body.contains(expected),
            "the e-mail lacks {expected:?}:\n{body}"
        );
    }
}
