//! The outbound connectors' configuration from their environment, validated once at init. A
//! vendor's settings may be absent (that channel is off); a present one must be well-formed.

use crate::secrets::{SECRET_ID_ENV, SSM_PATH_ENV, SecretSource};
use argus::config::{Config, POLICY_ENV};
use argus::store::dynamodb::schema::{INCIDENTS_TABLE_ENV, PATTERNS_TABLE_ENV};

pub const SNS_TOPIC_ARN_ENV: &str = "ARGUS_SNS_TOPIC_ARN";
pub const SLACK_CHANNEL_ENV: &str = "ARGUS_SLACK_CHANNEL";
pub const SERVICENOW_URL_ENV: &str = "ARGUS_SERVICENOW_URL";
pub const JIRA_URL_ENV: &str = "ARGUS_JIRA_URL";
pub const JIRA_PROJECT_ENV: &str = "ARGUS_JIRA_PROJECT";
pub const GITHUB_REPOSITORY_ENV: &str = "ARGUS_GITHUB_REPOSITORY";
pub const POSTMORTEM_BUCKET_ENV: &str = "ARGUS_POSTMORTEM_BUCKET";
pub const CONFLUENCE_URL_ENV: &str = "ARGUS_CONFLUENCE_URL";
pub const CONFLUENCE_SPACE_ENV: &str = "ARGUS_CONFLUENCE_SPACE";
pub const APPROVAL_BASE_URL_ENV: &str = "ARGUS_APPROVAL_BASE_URL";

/// Vendor API endpoints. They are fields of `Settings` (and of each channel) rather than
/// environment variables, so tests point them at local peers without widening the deployment.
pub const DEFAULT_SLACK_API_URL: &str = "https://slack.com/api";
pub const DEFAULT_PAGERDUTY_EVENTS_URL: &str = "https://events.pagerduty.com/v2/enqueue";
pub const DEFAULT_GITHUB_API_URL: &str = "https://api.github.com";
pub const DEFAULT_JIRA_ISSUE_TYPE: &str = "Task";

#[derive(Debug, Clone)]
pub struct Settings {
    pub incidents_table: String,
    pub patterns_table: String,
    pub config: Config,
    pub secret_source: SecretSource,
    pub sns_topic_arn: Option<String>,
    pub slack_channel: Option<String>,
    pub slack_api_url: String,
    pub pagerduty_events_url: String,
    pub servicenow_url: Option<String>,
    pub jira_url: Option<String>,
    pub jira_project: Option<String>,
    pub jira_issue_type: String,
    pub github_repository: Option<String>,
    pub github_api_url: String,
    pub postmortem_bucket: Option<String>,
    pub confluence_url: Option<String>,
    pub confluence_space: Option<String>,
    pub approval_base_url: Option<String>,
    pub tls_roots: argus::sdk::TrustRoots,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {0} is not set; it must name {1}")]
    Missing(&'static str, &'static str),
    #[error("environment variable {POLICY_ENV} is invalid: {0}")]
    Policy(String),
    #[error("environment variable {0} is `{1}`, which is not {2}")]
    Invalid(&'static str, String, &'static str),
    #[error("set only one of {SECRET_ID_ENV} and {SSM_PATH_ENV}: the secrets come from one place")]
    TwoSecretSources,
    #[error(transparent)]
    Tls(#[from] argus::sdk::SdkSetupError),
}

impl Settings {
    pub fn from_env(read: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let optional = |name: &str| {
            read(name)
                .map(|value| value.trim().to_string())
                .filter(|value| !value.is_empty())
        };
        let required = |name: &'static str, meaning: &'static str| {
            optional(name).ok_or(SettingsError::Missing(name, meaning))
        };
        let url = |name: &'static str| -> Result<Option<String>, SettingsError> {
            optional(name)
                .map(|value| checked_url(name, value))
                .transpose()
        };
        let incidents_table = required(INCIDENTS_TABLE_ENV, "the incidents DynamoDB table")?;
        let patterns_table = required(PATTERNS_TABLE_ENV, "the patterns DynamoDB table")?;
        let config = match optional(POLICY_ENV) {
            Some(text) => Config::from_json(&text)
                .map_err(|error| SettingsError::Policy(error.to_string()))?,
            None => Config::default(),
        };
        let secret_source = match (optional(SECRET_ID_ENV), optional(SSM_PATH_ENV)) {
            (Some(_), Some(_)) => return Err(SettingsError::TwoSecretSources),
            (Some(secret_id), None) => SecretSource::SecretsManager { secret_id },
            (None, Some(path)) => {
                if !path.starts_with('/') {
                    return Err(SettingsError::Invalid(
                        SSM_PATH_ENV,
                        path,
                        "a Parameter Store path starting with /",
                    ));
                }
                SecretSource::ParameterStore { path }
            }
            (None, None) => SecretSource::None,
        };
        let sns_topic_arn = optional(SNS_TOPIC_ARN_ENV);
        if let Some(arn) = &sns_topic_arn
            && !(arn.starts_with("arn:") && arn.contains(":sns:"))
        {
            return Err(SettingsError::Invalid(
                SNS_TOPIC_ARN_ENV,
                arn.clone(),
                "an SNS topic ARN",
            ));
        }
        let github_repository = optional(GITHUB_REPOSITORY_ENV);
        if let Some(repository) = &github_repository {
            let parts: Vec<&str> = repository.split('/').collect();
            let valid_part = |part: &str| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            };
            if parts.len() != 2 || !parts.iter().all(|part| valid_part(part)) {
                return Err(SettingsError::Invalid(
                    GITHUB_REPOSITORY_ENV,
                    repository.clone(),
                    "a repository as owner/name",
                ));
            }
        }
        let jira_project = optional(JIRA_PROJECT_ENV);
        if let Some(project) = &jira_project
            && !project
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(SettingsError::Invalid(
                JIRA_PROJECT_ENV,
                project.clone(),
                "a Jira project key",
            ));
        }
        Ok(Self {
            incidents_table,
            patterns_table,
            config,
            secret_source,
            sns_topic_arn,
            slack_channel: optional(SLACK_CHANNEL_ENV),
            slack_api_url: DEFAULT_SLACK_API_URL.to_string(),
            pagerduty_events_url: DEFAULT_PAGERDUTY_EVENTS_URL.to_string(),
            servicenow_url: url(SERVICENOW_URL_ENV)?,
            jira_url: url(JIRA_URL_ENV)?,
            jira_project,
            jira_issue_type: DEFAULT_JIRA_ISSUE_TYPE.to_string(),
            github_repository,
            github_api_url: DEFAULT_GITHUB_API_URL.to_string(),
            postmortem_bucket: optional(POSTMORTEM_BUCKET_ENV),
            confluence_url: url(CONFLUENCE_URL_ENV)?,
            confluence_space: optional(CONFLUENCE_SPACE_ENV),
            approval_base_url: url(APPROVAL_BASE_URL_ENV)?,
            tls_roots: argus::sdk::TrustRoots::from_env(&read)?,
        })
    }
}

/// Vendor URLs must be HTTPS (credentials travel with them); plain HTTP is allowed to loopback
/// only, for local peers in tests. A trailing slash is dropped so paths join cleanly.
fn checked_url(name: &'static str, value: String) -> Result<String, SettingsError> {
    let parsed = reqwest::Url::parse(&value)
        .map_err(|_| SettingsError::Invalid(name, value.clone(), "a URL"))?;
    let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
        return Err(SettingsError::Invalid(
            name,
            value,
            "an https:// URL (http:// only to 127.0.0.1 or localhost)",
        ));
    }
    Ok(value.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    const TABLES: [(&str, &str); 2] = [
        ("ARGUS_INCIDENTS_TABLE", "incidents"),
        ("ARGUS_PATTERNS_TABLE", "patterns"),
    ];

    fn with(extra: &[(&'static str, &'static str)]) -> Result<Settings, SettingsError> {
        let mut pairs = TABLES.to_vec();
        pairs.extend_from_slice(extra);
        Settings::from_env(env(&pairs))
    }

    #[test]
    fn only_the_tables_are_required_and_every_vendor_is_optional() {
        let settings = with(&[]).unwrap();
        assert_eq!(settings.incidents_table, "incidents");
        assert_eq!(settings.secret_source, SecretSource::None);
        assert_eq!(settings.slack_api_url, DEFAULT_SLACK_API_URL);
        assert_eq!(settings.servicenow_url, None);
        let error = Settings::from_env(env(&[("ARGUS_INCIDENTS_TABLE", "i")])).unwrap_err();
        assert!(
            error.to_string().contains("ARGUS_PATTERNS_TABLE"),
            "{error}"
        );
    }

    #[test]
    fn malformed_settings_fail_at_init_naming_the_variable() {
        for (name, value) in [
            ("ARGUS_SERVICENOW_URL", "http://example.service-now.com"),
            ("ARGUS_JIRA_URL", "not a url"),
            ("ARGUS_GITHUB_REPOSITORY", "just-a-name"),
            ("ARGUS_JIRA_PROJECT", "OPS; DROP"),
            ("ARGUS_SNS_TOPIC_ARN", "alerts"),
            ("ARGUS_CONNECTORS_SSM_PATH", "argus/connectors"),
            ("ARGUS_POLICY", "{\"approvals\": {\"nobody\": []}}"),
        ] {
            let error = with(&[(name, value)]).unwrap_err();
            assert!(error.to_string().contains(name), "{name}: {error}");
        }
        assert_eq!(
            with(&[
                ("ARGUS_CONNECTORS_SECRET_ID", "argus/connectors"),
                ("ARGUS_CONNECTORS_SSM_PATH", "/argus/connectors"),
            ])
            .unwrap_err(),
            SettingsError::TwoSecretSources
        );
    }

    #[test]
    fn loopback_http_is_allowed_for_local_peers_and_trailing_slashes_dropped() {
        let settings = with(&[
            ("ARGUS_SERVICENOW_URL", "http://127.0.0.1:8080/"),
            ("ARGUS_CONNECTORS_SSM_PATH", "/argus/connectors"),
        ])
        .unwrap();
        assert_eq!(
            settings.servicenow_url.as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            settings.secret_source,
            SecretSource::ParameterStore {
                path: "/argus/connectors".into()
            }
        );
    }

    #[test]
    fn the_wiring_lists_exactly_the_variables_read_at_init() {
        let read = std::cell::RefCell::new(Vec::new());
        let settings = Settings::from_env(|name| {
            read.borrow_mut().push(name.to_string());
            match name {
                "ARGUS_POLICY" => Some("{}".to_string()),
                "ARGUS_CONNECTORS_SSM_PATH" => None,
                "ARGUS_SNS_TOPIC_ARN" => {
                    Some("arn:aws:sns:us-east-1:123456789012:argus-alerts".to_string())
                }
                "ARGUS_GITHUB_REPOSITORY" => Some("example/ops".to_string()),
                "ARGUS_JIRA_PROJECT" => Some("OPS".to_string()),
                "ARGUS_TLS_ROOTS" => Some("system".to_string()),
                name if name.ends_with("_URL") => Some("https://example.com".to_string()),
                _ => Some("value".to_string()),
            }
        });
        assert!(settings.is_ok(), "{settings:?}");
        let mut read = read.into_inner();
        read.sort();
        read.dedup();
        let mut listed: Vec<String> = crate::wiring::ENVIRONMENT
            .iter()
            .map(|name| name.to_string())
            .collect();
        listed.sort();
        assert_eq!(
            read, listed,
            "Settings::from_env reads differ from wiring::ENVIRONMENT"
        );
    }
}
