//! The connectors' secrets (webhook URLs, API tokens, signing keys), read once at init from
//! Secrets Manager or SSM Parameter Store and held here. Nothing in this module ever prints a
//! value: `Debug` lists only names, and errors name the secret, never its content.

use std::collections::BTreeMap;

/// Names of the values the connectors read. In Secrets Manager they are the keys of one JSON
/// secret; in Parameter Store, the last path segment of SecureString parameters under a path.
pub mod names {
    pub const SLACK_WEBHOOK_URL: &str = "slack_webhook_url";
    pub const SLACK_BOT_TOKEN: &str = "slack_bot_token";
    pub const SLACK_SIGNING_SECRET: &str = "slack_signing_secret";
    pub const TEAMS_WEBHOOK_URL: &str = "teams_webhook_url";
    pub const PAGERDUTY_ROUTING_KEY: &str = "pagerduty_routing_key";
    pub const SERVICENOW_USERNAME: &str = "servicenow_username";
    pub const SERVICENOW_PASSWORD: &str = "servicenow_password";
    pub const JIRA_EMAIL: &str = "jira_email";
    pub const JIRA_API_TOKEN: &str = "jira_api_token";
    pub const GITHUB_TOKEN: &str = "github_token";
    pub const CONFLUENCE_EMAIL: &str = "confluence_email";
    pub const CONFLUENCE_API_TOKEN: &str = "confluence_api_token";
    /// Signs and verifies approval links.
    pub const APPROVAL_LINK_KEY: &str = "approval_link_key";
    /// Bearer token Alertmanager sends (`http_config.authorization`).
    pub const ALERTMANAGER_TOKEN: &str = "alertmanager_token";
    /// Shared secret Datadog sends in a custom header of the webhook.
    pub const DATADOG_WEBHOOK_SECRET: &str = "datadog_webhook_secret";
    /// PagerDuty v3 webhook subscription secret (X-PagerDuty-Signature).
    pub const PAGERDUTY_WEBHOOK_SECRET: &str = "pagerduty_webhook_secret";
    /// Grafana contact point: bearer token, or HMAC secret (X-Grafana-Alerting-Signature).
    pub const GRAFANA_TOKEN: &str = "grafana_token";
    pub const GRAFANA_HMAC_SECRET: &str = "grafana_hmac_secret";
}

/// Secret values by name. A missing name means that channel or vendor is not configured.
#[derive(Clone, Default)]
pub struct Secrets {
    values: BTreeMap<String, String>,
}

impl Secrets {
    pub fn from_map(values: BTreeMap<String, String>) -> Self {
        Self {
            values: values
                .into_iter()
                .filter(|(_, value)| !value.trim().is_empty())
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secrets")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_and_never_values() {
        let secrets = Secrets::from_map(BTreeMap::from([
            (
                names::GITHUB_TOKEN.to_string(),
                "ghp_very_secret".to_string(),
            ),
            (names::JIRA_EMAIL.to_string(), "   ".to_string()),
        ]));
        let shown = format!("{secrets:?}");
        assert!(shown.contains("github_token"));
        assert!(!shown.contains("ghp_very_secret"));
        assert_eq!(secrets.get(names::JIRA_EMAIL), None);
    }
}
