//! Tickets in ServiceNow (Table API, `incident`), Jira Cloud (REST v3) and GitHub Issues, keyed
//! by the correlation id: each call looks the ticket up first, so a retried call comments on
//! the ticket it opened before instead of opening another.

use super::brief::{Brief, outcome_text};
use super::channels::{GITHUB, GitHub, JIRA, Jira, SERVICENOW, ServiceNow};
use crate::delivery::{Delivery, DeliveryError, HttpRequest, Method};
use serde_json::{Value, json};

/// What to do with the incident's ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TicketAction {
    /// Open it, or comment on the one that exists.
    Open,
    /// Comment with the outcome on the one that exists, if any.
    Update,
    /// Comment with the outcome and resolve or close it, if it exists.
    Resolve,
}

/// The label GitHub and Jira find the ticket by: `argus-` and the correlation id's time and
/// hash (GitHub labels are at most 50 characters; the slug in between is not needed to be
/// unique).
pub fn ticket_label(correlation_id: &str) -> String {
    let time = correlation_id.get(..16).unwrap_or(correlation_id);
    let hash = correlation_id
        .rsplit('-')
        .next()
        .filter(|hash| hash.len() == 12 && *hash != time)
        .unwrap_or("");
    let label = if hash.is_empty() {
        format!("argus-{correlation_id}")
    } else {
        format!("argus-{time}-{hash}")
    };
    label.chars().take(50).collect()
}

fn url_with(base: &str, path: &str, query: &[(&str, &str)]) -> Result<String, DeliveryError> {
    reqwest::Url::parse_with_params(&format!("{base}{path}"), query)
        .map(String::from)
        .map_err(|_| DeliveryError::NotConfigured {
            channel: "tickets".to_string(),
            missing: "a base URL that joins with the API path".to_string(),
        })
}

fn comment_text(brief: &Brief, action: TicketAction) -> String {
    match (action, &brief.outcome) {
        (TicketAction::Open, _) => format!(
            "Argus saw this incident again (status {}).\n\n{}",
            brief.status.as_str(),
            brief.plain_text()
        ),
        (_, Some(outcome)) => format!("Argus outcome: {}", outcome_text(outcome)),
        (_, None) => format!("Argus status: {}", brief.status.as_str()),
    }
}

// ---------------------------------------------------------------- ServiceNow

/// Urgency and impact, 1 (high) to 3 (low), from the assessment's severity.
fn servicenow_priority(brief: &Brief) -> &'static str {
    match brief.severity {
        Some(8..) => "1",
        Some(5..=7) | None => "2",
        Some(_) => "3",
    }
}

pub async fn servicenow(
    delivery: &Delivery,
    servicenow: &ServiceNow,
    brief: &Brief,
    action: TicketAction,
) -> Result<Option<String>, DeliveryError> {
    let auth = |request: HttpRequest| {
        request.basic_auth(servicenow.username.expose(), servicenow.password.expose())
    };
    let query = format!("correlation_id={}^ORDERBYDESCsys_created_on", brief.id);
    let search = auth(HttpRequest::new(
        Method::GET,
        url_with(
            &servicenow.base_url,
            "/api/now/table/incident",
            &[
                ("sysparm_query", query.as_str()),
                ("sysparm_fields", "sys_id,number,state"),
                ("sysparm_limit", "1"),
            ],
        )?,
    ));
    let found = delivery.send(SERVICENOW, &search).await?;
    let existing = found.body.pointer("/result/0").cloned();
    let Some(existing) = existing else {
        if action != TicketAction::Open {
            return Ok(None);
        }
        let create = auth(HttpRequest::new(
            Method::POST,
            format!("{}/api/now/table/incident", servicenow.base_url),
        ))
        .json(json!({
            "short_description": argus::signal::cap_text(&brief.headline(), 160),
            "description": brief.plain_text(),
            "correlation_id": brief.id,
            "correlation_display": "Argus",
            "urgency": servicenow_priority(brief),
            "impact": servicenow_priority(brief),
        }));
        let created = delivery.send(SERVICENOW, &create).await?;
        return servicenow_id(&created.body["result"]).map(Some);
    };
    let sys_id = existing
        .get("sys_id")
        .and_then(Value::as_str)
        .ok_or_else(|| unexpected(SERVICENOW, "the incident found has no sys_id"))?;
    let mut patch = json!({"work_notes": comment_text(brief, action)});
    if action == TicketAction::Resolve {
        patch["state"] = json!("6");
        patch["close_code"] = json!("Solved (Permanently)");
        patch["close_notes"] = json!(
            brief
                .outcome
                .as_ref()
                .map_or_else(|| "Resolved by Argus.".to_string(), outcome_text)
        );
    }
    let update = auth(HttpRequest::new(
        Method::PATCH,
        format!("{}/api/now/table/incident/{sys_id}", servicenow.base_url),
    ))
    .json(patch);
    delivery.send(SERVICENOW, &update).await?;
    servicenow_id(&existing).map(Some)
}

/// The human-facing number (INC0010001) when there is one, else the sys_id.
fn servicenow_id(record: &Value) -> Result<String, DeliveryError> {
    record
        .get("number")
        .or_else(|| record.get("sys_id"))
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| unexpected(SERVICENOW, "the answer has no incident number or sys_id"))
}

fn unexpected(channel: &str, detail: &str) -> DeliveryError {
    DeliveryError::UnexpectedAnswer {
        channel: channel.to_string(),
        detail: detail.to_string(),
    }
}

// ---------------------------------------------------------------- Jira

/// Atlassian Document Format: one paragraph per non-empty line of `text`.
pub fn adf(text: &str) -> Value {
    let content: Vec<Value> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| json!({"type": "paragraph", "content": [{"type": "text", "text": line}]}))
        .collect();
    json!({"type": "doc", "version": 1, "content": content})
}

pub async fn jira(
    delivery: &Delivery,
    jira: &Jira,
    brief: &Brief,
    action: TicketAction,
) -> Result<Option<String>, DeliveryError> {
    let auth =
        |request: HttpRequest| request.basic_auth(jira.email.expose(), jira.api_token.expose());
    let label = ticket_label(&brief.id);
    let search = auth(HttpRequest::new(
        Method::POST,
        format!("{}/rest/api/3/search/jql", jira.base_url),
    ))
    .json(json!({
        "jql": format!("project = \"{}\" AND labels = \"{label}\" ORDER BY created DESC", jira.project),
        "fields": ["status"],
        "maxResults": 1,
    }));
    let found = delivery.send(JIRA, &search).await?;
    let existing = found
        .body
        .pointer("/issues/0/key")
        .and_then(Value::as_str)
        .map(str::to_string);
    let Some(key) = existing else {
        if action != TicketAction::Open {
            return Ok(None);
        }
        let create = auth(HttpRequest::new(
            Method::POST,
            format!("{}/rest/api/3/issue", jira.base_url),
        ))
        .json(json!({
            "fields": {
                "project": {"key": jira.project},
                "issuetype": {"name": jira.issue_type},
                "summary": argus::signal::cap_text(&brief.headline(), 255),
                "description": adf(&brief.plain_text()),
                "labels": ["argus", label],
            }
        }));
        let created = delivery.send(JIRA, &create).await?;
        return created
            .body
            .get("key")
            .and_then(Value::as_str)
            .map(|key| Some(key.to_string()))
            .ok_or_else(|| unexpected(JIRA, "the created issue has no key"));
    };
    let comment = auth(HttpRequest::new(
        Method::POST,
        format!("{}/rest/api/3/issue/{key}/comment", jira.base_url),
    ))
    .json(json!({"body": adf(&comment_text(brief, action))}));
    delivery.send(JIRA, &comment).await?;
    if action == TicketAction::Resolve {
        let transitions = auth(HttpRequest::new(
            Method::GET,
            format!("{}/rest/api/3/issue/{key}/transitions", jira.base_url),
        ));
        let answer = delivery.send(JIRA, &transitions).await?;
        // The workflow's names differ per project; the status category `done` does not.
        let done = answer
            .body
            .get("transitions")
            .and_then(Value::as_array)
            .and_then(|transitions| {
                transitions.iter().find(|transition| {
                    transition
                        .pointer("/to/statusCategory/key")
                        .and_then(Value::as_str)
                        == Some("done")
                })
            })
            .and_then(|transition| transition.get("id").and_then(Value::as_str))
            .ok_or_else(|| unexpected(JIRA, "no transition leads to a done status"))?;
        let transition = auth(HttpRequest::new(
            Method::POST,
            format!("{}/rest/api/3/issue/{key}/transitions", jira.base_url),
        ))
        .json(json!({"transition": {"id": done}}));
        delivery.send(JIRA, &transition).await?;
    }
    Ok(Some(key))
}

// ---------------------------------------------------------------- GitHub

fn github_request(github: &GitHub, method: Method, path: String) -> HttpRequest {
    HttpRequest::new(method, format!("{}{path}", github.api_url))
        .header("accept", "application/vnd.github+json")
        .header("x-github-api-version", "2022-11-28")
        .bearer(github.token.expose())
}

pub async fn github(
    delivery: &Delivery,
    github: &GitHub,
    brief: &Brief,
    action: TicketAction,
) -> Result<Option<String>, DeliveryError> {
    let label = ticket_label(&brief.id);
    let repository = &github.repository;
    let list = HttpRequest {
        url: url_with(
            &github.api_url,
            &format!("/repos/{repository}/issues"),
            &[
                ("labels", label.as_str()),
                ("state", "all"),
                ("per_page", "1"),
            ],
        )?,
        ..github_request(github, Method::GET, String::new())
    };
    let found = delivery.send(GITHUB, &list).await?;
    let existing = found.body.pointer("/0/number").and_then(Value::as_u64);
    let Some(number) = existing else {
        if action != TicketAction::Open {
            return Ok(None);
        }
        let create = github_request(github, Method::POST, format!("/repos/{repository}/issues"))
            .json(json!({
                "title": argus::signal::cap_text(&brief.headline(), 256),
                "body": brief.markdown(),
                "labels": ["argus", label],
            }));
        let created = delivery.send(GITHUB, &create).await?;
        return created
            .body
            .get("number")
            .and_then(Value::as_u64)
            .map(|number| Some(format!("{repository}#{number}")))
            .ok_or_else(|| unexpected(GITHUB, "the created issue has no number"));
    };
    let comment = github_request(
        github,
        Method::POST,
        format!("/repos/{repository}/issues/{number}/comments"),
    )
    .json(json!({"body": comment_text(brief, action)}));
    delivery.send(GITHUB, &comment).await?;
    if action == TicketAction::Resolve {
        let close = github_request(
            github,
            Method::PATCH,
            format!("/repos/{repository}/issues/{number}"),
        )
        .json(json!({"state": "closed", "state_reason": "completed"}));
        delivery.send(GITHUB, &close).await?;
    }
    Ok(Some(format!("{repository}#{number}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_the_time_and_hash_within_fifty_characters() {
        let id = "20261122T060000Z-alarm-aws-ec2-statuscheckfailed-0123456789ab";
        let label = ticket_label(id);
        assert_eq!(label, "argus-20261122T060000Z-0123456789ab");
        assert!(label.len() <= 50);
        assert_eq!(ticket_label("short"), "argus-short");
    }

    #[test]
    fn adf_has_one_paragraph_per_line() {
        let doc = adf("one\n\ntwo");
        assert_eq!(doc["content"].as_array().unwrap().len(), 2);
        assert_eq!(doc["content"][1]["content"][0]["text"], "two");
    }
}
