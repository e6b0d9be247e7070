//! The connectors' secrets (webhook URLs, API tokens, signing keys), read once at init from
//! Secrets Manager or SSM Parameter Store and held here. Nothing in this module ever prints a
//! value: `Debug` lists only names, and errors name the secret, never its content.

use std::collections::BTreeMap;

/// Environment variable naming the Secrets Manager secret (a JSON object of `names`).
pub const SECRET_ID_ENV: &str = "ARGUS_CONNECTORS_SECRET_ID";
/// Environment variable naming the Parameter Store path holding one SecureString per name.
pub const SSM_PATH_ENV: &str = "ARGUS_CONNECTORS_SSM_PATH";

/// IAM actions the loader's calls need (one of the two, depending on the source configured).
pub const API_CALLS: &[&str] = &["secretsmanager:GetSecretValue", "ssm:GetParametersByPath"];

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

    /// Only the values named in `wanted`; the rest are dropped from memory.
    pub fn only(&self, wanted: &[&str]) -> Self {
        Self {
            values: self
                .values
                .iter()
                .filter(|(name, _)| wanted.contains(&name.as_str()))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        }
    }
}

impl Secrets {
    /// A secret as a value whose `Debug` form is redacted, for the channel settings that keep it.
    pub fn value(&self, name: &str) -> Option<SecretValue> {
        self.get(name).map(|value| SecretValue(value.to_string()))
    }

    /// `text` with every secret value in it replaced by `<redacted:name>`: vendor answers and
    /// transport errors pass through this before they reach a log line, an error or the audit
    /// trail, in case a vendor echoes a credential back.
    pub fn redact(&self, text: &str) -> String {
        let mut redacted = text.to_string();
        // Longer values first, so a value containing a shorter one is replaced whole.
        let mut values: Vec<(&String, &String)> = self.values.iter().collect();
        values.sort_by_key(|(_, value)| std::cmp::Reverse(value.len()));
        for (name, value) in values {
            // Very short values would redact ordinary words; no real credential is that short.
            if value.len() >= 6 && redacted.contains(value.as_str()) {
                redacted = redacted.replace(value.as_str(), &format!("<redacted:{name}>"));
            }
        }
        redacted
    }
}

/// One secret value, kept by the channel that needs it; `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one request header or body field that carries it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

/// Where the secrets come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// One Secrets Manager secret whose string is a JSON object of `names` to values.
    SecretsManager { secret_id: String },
    /// SecureString parameters under a path, one per name (the last path segment).
    ParameterStore { path: String },
    /// Nothing configured: every channel that needs a secret stays off.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretsError {
    #[error("the connectors' secrets could not be read from {source_name}: {reason}")]
    Unavailable { source_name: String, reason: String },
    #[error("the connectors' secret {source_name} is not a JSON object of string values")]
    Malformed { source_name: String },
}

impl SecretsError {
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Unavailable { .. } => "SecretsUnavailable",
            Self::Malformed { .. } => "SecretsMalformed",
        }
    }
}

/// Reads the secrets once; the composition root keeps the result for the life of the process.
pub async fn load(
    source: &SecretSource,
    aws: &aws_config::SdkConfig,
) -> Result<Secrets, SecretsError> {
    match source {
        SecretSource::SecretsManager { secret_id } => {
            load_from_secrets_manager(&aws_sdk_secretsmanager::Client::new(aws), secret_id).await
        }
        SecretSource::ParameterStore { path } => {
            load_from_parameter_store(&aws_sdk_ssm::Client::new(aws), path).await
        }
        SecretSource::None => Ok(Secrets::default()),
    }
}

/// `GetSecretValue` on one secret holding a JSON object of names to string values.
pub async fn load_from_secrets_manager(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
) -> Result<Secrets, SecretsError> {
    use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
    let answer = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|error| SecretsError::Unavailable {
            source_name: format!("Secrets Manager secret {secret_id}"),
            // Only the error code and the service's message: neither carries the value.
            reason: error
                .code()
                .map_or_else(|| "the request failed".to_string(), str::to_string),
        })?;
    let malformed = || SecretsError::Malformed {
        source_name: format!("Secrets Manager secret {secret_id}"),
    };
    let text = answer.secret_string().ok_or_else(malformed)?;
    let object: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|_| malformed())?;
    let mut values = BTreeMap::new();
    for (name, value) in object {
        match value {
            serde_json::Value::String(text) => {
                values.insert(name, text);
            }
            serde_json::Value::Null => {}
            _ => return Err(malformed()),
        }
    }
    Ok(Secrets::from_map(values))
}

/// `GetParametersByPath` (decrypted, every page) under `path`; each parameter's last path
/// segment is its name.
pub async fn load_from_parameter_store(
    client: &aws_sdk_ssm::Client,
    path: &str,
) -> Result<Secrets, SecretsError> {
    use aws_sdk_ssm::error::ProvideErrorMetadata;
    let mut values = BTreeMap::new();
    let mut pages = client
        .get_parameters_by_path()
        .path(path)
        .recursive(false)
        .with_decryption(true)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|error| SecretsError::Unavailable {
            source_name: format!("Parameter Store path {path}"),
            reason: error
                .code()
                .map_or_else(|| "the request failed".to_string(), str::to_string),
        })?;
        for parameter in page.parameters() {
            let (Some(full_name), Some(value)) = (parameter.name(), parameter.value()) else {
                continue;
            };
            let name = full_name.rsplit('/').next().unwrap_or(full_name);
            values.insert(name.to_string(), value.to_string());
        }
    }
    Ok(Secrets::from_map(values))
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

    #[test]
    fn redaction_replaces_every_value_by_its_name() {
        let secrets = Secrets::from_map(BTreeMap::from([
            (
                names::GITHUB_TOKEN.to_string(),
                "ghp_very_secret".to_string(),
            ),
            (
                names::SLACK_WEBHOOK_URL.to_string(),
                "https://hooks.slack.com/services/T0/B0/XYZ".to_string(),
            ),
        ]));
        let text = "POST https://hooks.slack.com/services/T0/B0/XYZ failed; token ghp_very_secret";
        let redacted = secrets.redact(text);
        assert_eq!(
            redacted,
            "POST <redacted:slack_webhook_url> failed; token <redacted:github_token>"
        );
        assert_eq!(
            format!("{:?}", secrets.value(names::GITHUB_TOKEN)),
            "Some(SecretValue(<redacted>))"
        );
    }
}
