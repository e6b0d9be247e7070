//! Slack (incoming webhook, or `chat.postMessage` with Block Kit) and Microsoft Teams
//! (incoming webhook with an Adaptive Card): the messages and the calls that send them.

use super::brief::{Brief, outcome_text, risk_word};
use super::channels::{SLACK, Slack, TEAMS, Teams};
use crate::delivery::{Delivery, DeliveryError, HttpRequest, Method};
use serde_json::{Value, json};

/// Slack refuses section texts longer than this.
const SLACK_TEXT_LIMIT: usize = 3000;
/// Slack refuses header texts longer than this.
const SLACK_HEADER_LIMIT: usize = 150;
/// Slack refuses section fields longer than this.
const SLACK_FIELD_LIMIT: usize = 2000;
/// Slack refuses confirmation dialog texts longer than this.
const SLACK_CONFIRM_TEXT_LIMIT: usize = 300;

/// The action ids of the approval buttons, as the approval endpoint reads them.
pub use crate::inbound::slack::{APPROVE_ACTION_ID, REJECT_ACTION_ID};

/// What a button carries back (the endpoint's own `ButtonValue`): which approval, never the task
/// token, and not the answer: that is what the button's `action_id` means to Argus.
pub fn button_value(incident: &str, approval: &str) -> String {
    serde_json::to_string(&crate::inbound::slack::ButtonValue {
        incident: incident.to_string(),
        approval: approval.to_string(),
        approve: None,
    })
    .unwrap_or_default()
}

/// `&`, `<` and `>` are control characters in Slack's mrkdwn; untrusted text is escaped.
pub fn slack_escape(text: &str) -> String {
    argus::escape::slack_mrkdwn(text)
}

/// Untrusted text for a Teams card's Markdown (`TextBlock` texts and `Fact` values).
fn teams(text: &str) -> String {
    argus::escape::teams_markdown(text)
}

fn cap(text: &str, limit: usize) -> String {
    argus::signal::cap_text(text, limit)
}

fn mrkdwn(text: &str) -> Value {
    json!({"type": "mrkdwn", "text": cap(text, SLACK_TEXT_LIMIT)})
}

fn mrkdwn_field(text: &str) -> Value {
    json!({"type": "mrkdwn", "text": cap(text, SLACK_FIELD_LIMIT)})
}

/// The blocks every Argus message shares: headline, facts, why, plan.
pub fn incident_blocks(brief: &Brief, intro: &str) -> Vec<Value> {
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cap(&brief.headline(), SLACK_HEADER_LIMIT), "emoji": false}}),
        json!({"type": "section", "text": mrkdwn(&format!("{}\n*What:* {}", slack_escape(intro), slack_escape(&brief.summary)))}),
        json!({"type": "section", "fields": [
            mrkdwn_field(&format!("*Resource*\n`{}`", slack_escape(&brief.resource))),
            mrkdwn_field(&format!("*Where*\n{}", slack_escape(&brief.location()))),
            mrkdwn_field(&format!("*Severity*\n{} ({})", brief.severity.map_or_else(|| "?".to_string(), |s| format!("{s}/10")), brief.severity_word())),
            mrkdwn_field(&format!("*Status*\n{}", brief.status.as_str())),
            mrkdwn_field(&format!("*Confidence*\n{}", brief.confidence_text())),
            mrkdwn_field(&format!("*Budget*\n{}", brief.budget_text())),
        ]}),
    ];
    if !brief.hypotheses.is_empty() {
        let mut text = String::from("*Why Argus thinks so*\n");
        for (index, hypothesis) in brief.hypotheses.iter().enumerate() {
            text.push_str(&format!(
                "{}. {} _({:.0}% likely)_\n",
                index + 1,
                slack_escape(&hypothesis.statement),
                hypothesis.likelihood * 100.0
            ));
            for evidence in &hypothesis.evidence {
                text.push_str(&format!("    • {}\n", slack_escape(evidence)));
            }
        }
        blocks.push(json!({"type": "section", "text": mrkdwn(&text)}));
    }
    let mut plan = format!("*Plan*\n{}", slack_escape(&brief.plan_text()));
    if let Some(action) = &brief.action {
        if !action.parameters.is_empty() {
            plan.push_str(&format!(
                "\n*Parameters:* `{}`",
                slack_escape(&action.parameters)
            ));
        }
        plan.push_str(&format!(
            "\n*Risk:* {}\n*Roll back:* {}",
            risk_word(action.risk),
            slack_escape(&action.rollback)
        ));
    }
    for reason in &brief.reasons {
        plan.push_str(&format!("\n• {}", slack_escape(reason)));
    }
    blocks.push(json!({"type": "section", "text": mrkdwn(&plan)}));
    if let Some(action) = brief
        .action
        .as_ref()
        .filter(|action| !action.sources.is_empty())
    {
        let mut text = String::from("*Where the values come from*");
        for source in &action.sources {
            text.push_str(&format!("\n• {}", slack_escape(source)));
        }
        blocks.push(json!({"type": "section", "text": mrkdwn(&text)}));
    }
    if let Some(root_cause) = brief
        .action
        .as_ref()
        .and_then(|action| action.root_cause.as_ref())
    {
        let mut text = format!(
            "*Why {} and not the alarming resource*\nPath: {}",
            slack_escape(&root_cause.node),
            slack_escape(&root_cause.path)
        );
        for evidence in &root_cause.evidence {
            text.push_str(&format!("\n• {}", slack_escape(evidence)));
        }
        blocks.push(json!({"type": "section", "text": mrkdwn(&text)}));
    }
    if let Some(outcome) = &brief.outcome {
        blocks.push(json!({"type": "section", "text": mrkdwn(&format!("*Outcome*\n{}", slack_escape(&outcome_text(outcome))))}));
    }
    let mut context = format!("Correlation id `{}`", brief.id);
    if let Some(link) = &brief.execution_link {
        context.push_str(&format!(" · <{link}|recovery workflow>"));
    }
    blocks.push(json!({"type": "context", "elements": [mrkdwn(&context)]}));
    blocks
}

/// The approval request: the incident's blocks and Approve / Reject buttons, each with a
/// confirmation dialog so a stray click does not decide.
pub fn approval_blocks(brief: &Brief, approval_id: &str, expires: &str) -> Vec<Value> {
    let action = brief.action.as_ref().map_or_else(
        || "the proposed action".to_string(),
        |action| action.id.to_string(),
    );
    let mut blocks = incident_blocks(
        brief,
        &format!("Argus asks for approval to run {action}. The request expires at {expires}."),
    );
    let confirm = |title: &str, text: String, verb: &str| json!({"title": {"type": "plain_text", "text": title}, "text": {"type": "mrkdwn", "text": text}, "confirm": {"type": "plain_text", "text": verb}, "deny": {"type": "plain_text", "text": "Cancel"}});
    blocks.push(json!({
        "type": "actions",
        "block_id": crate::inbound::slack::approval_block_id(approval_id),
        "elements": [
            {"type": "button", "action_id": APPROVE_ACTION_ID, "style": "primary",
             "text": {"type": "plain_text", "text": "Approve"},
             "value": button_value(&brief.id, approval_id),
             "confirm": confirm("Run the action?", cap(&format!("Argus will run {action} on `{}`.", slack_escape(&brief.resource)), SLACK_CONFIRM_TEXT_LIMIT), "Approve")},
            {"type": "button", "action_id": REJECT_ACTION_ID, "style": "danger",
             "text": {"type": "plain_text", "text": "Reject"},
             "value": button_value(&brief.id, approval_id),
             "confirm": confirm("Reject the action?", "Argus will not act and will page on-call.".to_string(), "Reject")},
        ]
    }));
    blocks
}

/// Posts `blocks` (with `text` as the notification fallback); returns the message's `ts` when
/// the bot posted it.
pub async fn post_slack(
    delivery: &Delivery,
    slack: &Slack,
    text: &str,
    blocks: Vec<Value>,
) -> Result<Option<String>, DeliveryError> {
    Ok(post_slack_message(delivery, slack, text, blocks)
        .await?
        .map(|(_, ts)| ts))
}

/// [`post_slack`], answering where the message is: `(channel id, ts)` when the bot posted it
/// (an incoming webhook says neither).
pub async fn post_slack_message(
    delivery: &Delivery,
    slack: &Slack,
    text: &str,
    blocks: Vec<Value>,
) -> Result<Option<(String, String)>, DeliveryError> {
    // The notification text is mrkdwn as well: `<!channel>` in an alarm name would page a channel.
    let text = &slack_escape(text);
    match slack {
        Slack::Webhook { url } => {
            let request = HttpRequest::new(Method::POST, url.expose())
                .json(json!({"text": text, "blocks": blocks}));
            delivery.send(SLACK, &request).await?;
            Ok(None)
        }
        Slack::Bot {
            api_url,
            token,
            channel,
        } => {
            let request = HttpRequest::new(Method::POST, format!("{api_url}/chat.postMessage"))
                .bearer(token.expose())
                .json(json!({"channel": channel, "text": text, "blocks": blocks, "unfurl_links": false}));
            let response = delivery.send(SLACK, &request).await?;
            // The Web API answers 200 with `ok: false` for errors such as `channel_not_found`.
            if response.body.get("ok").and_then(Value::as_bool) != Some(true) {
                let error = response
                    .body
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("no ok in the answer");
                return Err(DeliveryError::Refused {
                    channel: SLACK.to_string(),
                    status: response.status,
                    detail: error.to_string(),
                });
            }
            let field = |name: &str| {
                response
                    .body
                    .get(name)
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            // chat.postMessage answers the channel's id even when it was given by name.
            Ok(field("ts").map(|ts| (field("channel").unwrap_or_else(|| channel.clone()), ts)))
        }
    }
}

/// Teams refuses a message over about 28 KB, measured as UTF-16; a card is kept under this.
const TEAMS_CARD_UTF16_BYTES: usize = 27_000;

/// How much of the parameters' sources and a candidate's evidence a Teams card carries.
#[derive(Clone, Copy, PartialEq)]
enum Provenance {
    /// Every source and evidence line the brief holds.
    Full,
    /// Two of each.
    Short,
    /// A pointer to the incident's record.
    Pointer,
}

/// An Adaptive Card in the message envelope that Teams incoming webhooks (and Workflows
/// webhooks) accept. Where the values came from is shown in full when the card stays inside
/// Teams' limit, else shortened, else pointed at: the rest of the card is bounded on its own.
pub fn teams_card(brief: &Brief, intro: &str) -> Value {
    let fits = |card: &Value| {
        serde_json::to_string(card).map_or(0, |text| text.encode_utf16().count() * 2)
            <= TEAMS_CARD_UTF16_BYTES
    };
    let full = teams_card_with(brief, intro, Provenance::Full);
    if fits(&full) {
        return full;
    }
    let short = teams_card_with(brief, intro, Provenance::Short);
    if fits(&short) {
        return short;
    }
    teams_card_with(brief, intro, Provenance::Pointer)
}

fn teams_card_with(brief: &Brief, intro: &str, provenance: Provenance) -> Value {
    let shown = match provenance {
        Provenance::Full => usize::MAX,
        Provenance::Short => 2,
        Provenance::Pointer => 0,
    };
    let mut body = vec![
        json!({"type": "TextBlock", "size": "Large", "weight": "Bolder", "wrap": true, "text": teams(&brief.headline())}),
        json!({"type": "TextBlock", "wrap": true, "text": teams(intro)}),
        json!({"type": "TextBlock", "wrap": true, "text": format!("**What:** {}", teams(&brief.summary))}),
        json!({"type": "FactSet", "facts": [
            {"title": "Resource", "value": teams(&brief.resource)},
            {"title": "Where", "value": teams(&brief.location())},
            {"title": "Severity", "value": format!("{} ({})", brief.severity.map_or_else(|| "?".to_string(), |s| format!("{s}/10")), brief.severity_word())},
            {"title": "Status", "value": brief.status.as_str()},
            {"title": "Confidence", "value": teams(&brief.confidence_text())},
            {"title": "Budget", "value": teams(&brief.budget_text())},
            {"title": "Correlation id", "value": brief.id},
        ]}),
    ];
    if !brief.hypotheses.is_empty() {
        let text = brief
            .hypotheses
            .iter()
            .enumerate()
            .map(|(index, hypothesis)| {
                let evidence: String = hypothesis
                    .evidence
                    .iter()
                    .map(|evidence| format!("\n    - {}", teams(evidence)))
                    .collect();
                format!(
                    "{}. {} ({:.0}% likely){evidence}",
                    index + 1,
                    teams(&hypothesis.statement),
                    hypothesis.likelihood * 100.0
                )
            })
            .collect::<Vec<_>>()
            .join("\n");
        body.push(json!({"type": "TextBlock", "weight": "Bolder", "text": "Why Argus thinks so"}));
        body.push(json!({"type": "TextBlock", "wrap": true, "text": text}));
    }
    let mut plan = teams(&brief.plan_text());
    if let Some(action) = &brief.action {
        if !action.sources.is_empty() {
            plan.push_str("\n\nWhere the values come from:");
            for source in action.sources.iter().take(shown) {
                plan.push_str(&format!("\n- {}", teams(source)));
            }
            if action.sources.len() > shown {
                plan.push_str("\n- (more on the incident's record: `argus incidents show`)");
            }
        }
        plan.push_str(&format!("\n\nRoll back: {}", teams(&action.rollback)));
    }
    body.push(json!({"type": "TextBlock", "weight": "Bolder", "text": "Plan"}));
    body.push(json!({"type": "TextBlock", "wrap": true, "text": plan}));
    if let Some(root_cause) = brief
        .action
        .as_ref()
        .and_then(|action| action.root_cause.as_ref())
    {
        let mut text = if provenance == Provenance::Pointer {
            "Path and evidence: on the incident's record (`argus incidents show`)".to_string()
        } else {
            format!("Path: {}", teams(&root_cause.path))
        };
        for evidence in root_cause.evidence.iter().take(shown) {
            text.push_str(&format!("\n- {}", teams(evidence)));
        }
        body.push(json!({"type": "TextBlock", "weight": "Bolder", "text": format!("Why {} and not the alarming resource", teams(&root_cause.node))}));
        body.push(json!({"type": "TextBlock", "wrap": true, "text": text}));
    }
    if let Some(outcome) = &brief.outcome {
        body.push(json!({"type": "TextBlock", "weight": "Bolder", "text": "Outcome"}));
        body.push(
            json!({"type": "TextBlock", "wrap": true, "text": teams(&outcome_text(outcome))}),
        );
    }
    let actions: Vec<Value> = brief
        .execution_link
        .iter()
        .map(|link| json!({"type": "Action.OpenUrl", "title": "Open the recovery workflow", "url": link}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
                "actions": actions,
            }
        }]
    })
}

pub async fn post_teams(
    delivery: &Delivery,
    teams: &Teams,
    card: Value,
) -> Result<Option<String>, DeliveryError> {
    let request = HttpRequest::new(Method::POST, teams.webhook_url.expose()).json(card);
    delivery.send(TEAMS, &request).await?;
    Ok(None)
}
