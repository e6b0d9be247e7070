//! Publishing a post-mortem: the S3 key it is stored under, and the Confluence page (REST
//! content API, storage format) that is created once and updated on later publications.

use super::channels::{self, CONFLUENCE, Confluence};
use super::{
    ACTOR, ChannelFuture, ConnectorError, OperationReport, OperationRequest, Outbound, channel,
};
use crate::delivery::{Delivery, DeliveryError, HttpRequest, Method};
use argus::incident::update_incident;
use argus::incident::{AuditEntry, AuditKind, Incident};
use serde_json::{Value, json};

impl Outbound {
    /// Builds the post-mortem from the incident, its audit trail, its signals and what the
    /// patterns table learned about its signature, then publishes it.
    pub(super) async fn publish_postmortem(
        &self,
        request: &OperationRequest,
    ) -> Result<OperationReport, ConnectorError> {
        let (incident, signals, audit) = self.load(&request.correlation_id).await?;
        let history = self
            .patterns
            .signature_history(&incident.signature, self.config.analysis.history_limit)
            .await?;
        let postmortem =
            argus::postmortem::Postmortem::build(&incident, &audit, &signals, Some(&history));
        self.publish_markdown(&incident, &postmortem.title(), &postmortem.to_markdown())
            .await
    }

    /// Stores `markdown` as the incident's post-mortem in S3 and, when Confluence is on, as a
    /// page; audits each channel and, when anything was published, `PostmortemPublished`.
    pub async fn publish_markdown(
        &self,
        incident: &Incident,
        title: &str,
        markdown: &str,
    ) -> Result<OperationReport, ConnectorError> {
        let key = postmortem_key(incident);
        let title = argus::signal::cap_text(title, 255);
        let mut sends: Vec<ChannelFuture<'_>> = Vec::new();
        if let Some(archive) = &self.archive {
            let key = key.clone();
            sends.push(channel(channels::S3, async move {
                archive
                    .put(&key, markdown, "text/markdown; charset=utf-8")
                    .await
                    .map(Some)
            }));
        }
        if let Some(confluence) = &self.channels.confluence {
            let title = title.clone();
            sends.push(channel(CONFLUENCE, async move {
                self::confluence(&self.delivery, confluence, &title, markdown).await
            }));
        }
        let results = futures_util::future::join_all(sends).await;
        let report = self
            .finish(&incident.id, None, "publish_postmortem", None, results)
            .await?;
        if !report.delivered.is_empty() {
            let places: Vec<Value> = report
                .delivered
                .iter()
                .map(|delivered| json!({"channel": delivered.channel, "external_id": delivered.external_id}))
                .collect();
            update_incident(&*self.store, &*self.clock, &incident.id, None, |_| {
                vec![AuditEntry::new(
                    ACTOR,
                    AuditKind::PostmortemPublished,
                    format!("post-mortem published ({} bytes)", markdown.len()),
                    json!({"key": key, "title": title, "published": places}),
                )]
            })
            .await?;
        }
        Ok(report)
    }
}

/// `postmortems/YYYY/MM/DD/<correlation id>.md`, dated by when the incident opened, so the
/// key of an incident never changes and a republication overwrites it.
pub fn postmortem_key(incident: &Incident) -> String {
    format!(
        "postmortems/{}/{}.md",
        incident.opened_at.format("%Y/%m/%d"),
        incident.id
    )
}

/// Markdown as Confluence storage format (XHTML). Raw HTML in the Markdown is shown as text,
/// so text taken from alarms or logs cannot inject markup or macros; links and images are
/// dropped to their text (a post-mortem makes none: its writer escapes untrusted text, and this
/// is the second line of defence).
pub fn storage_format(markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};
    let parser =
        Parser::new_ext(markdown, Options::ENABLE_TABLES).filter_map(|event| match event {
            Event::Html(text) | Event::InlineHtml(text) => Some(Event::Text(text)),
            Event::Start(Tag::Link { .. } | Tag::Image { .. })
            | Event::End(TagEnd::Link | TagEnd::Image) => None,
            other => Some(other),
        });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    html
}

/// Creates the page, or updates the page of that title (next version); returns its id.
pub async fn confluence(
    delivery: &Delivery,
    confluence: &Confluence,
    title: &str,
    markdown: &str,
) -> Result<Option<String>, DeliveryError> {
    let auth = |request: HttpRequest| {
        request.basic_auth(confluence.email.expose(), confluence.api_token.expose())
    };
    let search_url = reqwest::Url::parse_with_params(
        &format!("{}/rest/api/content", confluence.base_url),
        &[
            ("spaceKey", confluence.space.as_str()),
            ("title", title),
            ("type", "page"),
            ("expand", "version"),
        ],
    )
    .map_err(|_| DeliveryError::NotConfigured {
        channel: CONFLUENCE.to_string(),
        missing: "a base URL that joins with /rest/api/content".to_string(),
    })?;
    let found = delivery
        .send(
            CONFLUENCE,
            &auth(HttpRequest::new(Method::GET, search_url.as_str())),
        )
        .await?;
    let body = json!({"storage": {"value": storage_format(markdown), "representation": "storage"}});
    let existing = found.body.pointer("/results/0").cloned();
    let answer = match existing {
        None => {
            let create = auth(HttpRequest::new(
                Method::POST,
                format!("{}/rest/api/content", confluence.base_url),
            ))
            .json(json!({
                "type": "page",
                "title": title,
                "space": {"key": confluence.space},
                "body": body,
            }));
            delivery.send(CONFLUENCE, &create).await?
        }
        Some(page) => {
            let id = page.get("id").and_then(Value::as_str).ok_or_else(|| {
                DeliveryError::UnexpectedAnswer {
                    channel: CONFLUENCE.to_string(),
                    detail: "the page found has no id".to_string(),
                }
            })?;
            let version = page
                .pointer("/version/number")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            let update = auth(HttpRequest::new(
                Method::PUT,
                format!("{}/rest/api/content/{id}", confluence.base_url),
            ))
            .json(json!({
                "id": id,
                "type": "page",
                "title": title,
                "space": {"key": confluence.space},
                "body": body,
                "version": {"number": version + 1, "message": "Republished by Argus"},
            }));
            delivery.send(CONFLUENCE, &update).await?
        }
    };
    Ok(answer
        .body
        .get("id")
        .and_then(Value::as_str)
        .map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_format_is_xhtml_and_shows_raw_html_as_text() {
        let html = storage_format(
            "# Title\n\nSome <script>x</script> text\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
        );
        assert!(html.contains("<h1>Title</h1>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<table>"), "{html}");
    }

    #[test]
    fn storage_format_shows_links_and_images_as_text() {
        // Post-mortems escape untrusted text; this is the second line of defence should any
        // Markdown that makes a link or an image reach Confluence.
        let html = storage_format(
            "See [Re-approve](https://evil.example/approve) ![pixel](https://evil.example/t.png) <https://evil.example/auto>\n",
        );
        for markup in ["<a ", "<img", "href="] {
            assert!(!html.contains(markup), "{markup} in {html}");
        }
        assert!(html.contains("Re-approve"), "{html}");
    }
}
