//! Which outbound channels are on, and what each needs to be called: a channel is on when its
//! settings and its secrets are both present. Credentials are `SecretValue`s, so printing a
//! channel never prints them.

use crate::secrets::{SecretValue, Secrets, names};
use crate::settings::Settings;

pub const SNS: &str = "sns";
pub const EMAIL: &str = "email";
pub const SLACK: &str = "slack";
pub const TEAMS: &str = "teams";
pub const PAGERDUTY: &str = "pagerduty";
pub const SERVICENOW: &str = "servicenow";
pub const JIRA: &str = "jira";
pub const GITHUB: &str = "github";
pub const S3: &str = "s3";
pub const CONFLUENCE: &str = "confluence";

#[derive(Debug, Clone)]
pub enum Slack {
    /// An incoming webhook (its URL is the credential).
    Webhook { url: SecretValue },
    /// `chat.postMessage` with a bot token into one channel.
    Bot {
        api_url: String,
        token: SecretValue,
        channel: String,
    },
}

#[derive(Debug, Clone)]
pub struct Teams {
    pub webhook_url: SecretValue,
}

#[derive(Debug, Clone)]
pub struct PagerDuty {
    pub events_url: String,
    pub routing_key: SecretValue,
}

#[derive(Debug, Clone)]
pub struct ServiceNow {
    /// The instance, e.g. `https://example.service-now.com`.
    pub base_url: String,
    pub username: SecretValue,
    pub password: SecretValue,
}

#[derive(Debug, Clone)]
pub struct Jira {
    /// The site, e.g. `https://example.atlassian.net`.
    pub base_url: String,
    pub project: String,
    pub issue_type: String,
    pub email: SecretValue,
    pub api_token: SecretValue,
}

#[derive(Debug, Clone)]
pub struct GitHub {
    pub api_url: String,
    /// `owner/name`.
    pub repository: String,
    pub token: SecretValue,
}

#[derive(Debug, Clone)]
pub struct Confluence {
    /// The wiki's base, e.g. `https://example.atlassian.net/wiki`.
    pub base_url: String,
    pub space: String,
    pub email: SecretValue,
    pub api_token: SecretValue,
}

/// Signed approval links: where they point and the key that signs them.
#[derive(Debug, Clone)]
pub struct ApprovalLinks {
    pub base_url: String,
    pub key: crate::signing::SigningKey,
}

/// Every channel that is on. SNS and S3 are AWS clients held by the service, not here.
#[derive(Debug, Clone, Default)]
pub struct Channels {
    pub slack: Option<Slack>,
    pub teams: Option<Teams>,
    pub pagerduty: Option<PagerDuty>,
    pub servicenow: Option<ServiceNow>,
    pub jira: Option<Jira>,
    pub github: Option<GitHub>,
    pub confluence: Option<Confluence>,
    /// `None` when the base URL or the signing key is missing: email approvals are then off.
    pub approval_links: Option<ApprovalLinks>,
}

impl Channels {
    pub fn from_settings(settings: &Settings, secrets: &Secrets) -> Self {
        let secret = |name: &str| secrets.value(name);
        let slack = match (
            settings.slack_channel.as_ref(),
            secret(names::SLACK_BOT_TOKEN),
            secret(names::SLACK_WEBHOOK_URL),
        ) {
            // The bot is preferred: its messages can be found again (ts) and carry Block Kit.
            (Some(channel), Some(token), _) => Some(Slack::Bot {
                api_url: settings.slack_api_url.clone(),
                token,
                channel: channel.clone(),
            }),
            (_, _, Some(url)) => Some(Slack::Webhook { url }),
            _ => None,
        };
        Self {
            slack,
            teams: secret(names::TEAMS_WEBHOOK_URL).map(|webhook_url| Teams { webhook_url }),
            pagerduty: secret(names::PAGERDUTY_ROUTING_KEY).map(|routing_key| PagerDuty {
                events_url: settings.pagerduty_events_url.clone(),
                routing_key,
            }),
            servicenow: match (
                settings.servicenow_url.as_ref(),
                secret(names::SERVICENOW_USERNAME),
                secret(names::SERVICENOW_PASSWORD),
            ) {
                (Some(base_url), Some(username), Some(password)) => Some(ServiceNow {
                    base_url: base_url.clone(),
                    username,
                    password,
                }),
                _ => None,
            },
            jira: match (
                settings.jira_url.as_ref(),
                settings.jira_project.as_ref(),
                secret(names::JIRA_EMAIL),
                secret(names::JIRA_API_TOKEN),
            ) {
                (Some(base_url), Some(project), Some(email), Some(api_token)) => Some(Jira {
                    base_url: base_url.clone(),
                    project: project.clone(),
                    issue_type: settings.jira_issue_type.clone(),
                    email,
                    api_token,
                }),
                _ => None,
            },
            github: match (
                settings.github_repository.as_ref(),
                secret(names::GITHUB_TOKEN),
            ) {
                (Some(repository), Some(token)) => Some(GitHub {
                    api_url: settings.github_api_url.clone(),
                    repository: repository.clone(),
                    token,
                }),
                _ => None,
            },
            confluence: match (
                settings.confluence_url.as_ref(),
                settings.confluence_space.as_ref(),
                secret(names::CONFLUENCE_EMAIL),
                secret(names::CONFLUENCE_API_TOKEN),
            ) {
                (Some(base_url), Some(space), Some(email), Some(api_token)) => Some(Confluence {
                    base_url: base_url.clone(),
                    space: space.clone(),
                    email,
                    api_token,
                }),
                _ => None,
            },
            approval_links: match (
                settings.approval_base_url.as_ref(),
                secrets.get(names::APPROVAL_LINK_KEY),
            ) {
                (Some(base_url), Some(key)) => Some(ApprovalLinks {
                    base_url: base_url.clone(),
                    key: crate::signing::SigningKey::new(key.as_bytes().to_vec()),
                }),
                _ => None,
            },
        }
    }

    /// Names of the channels that are on, for the init log line.
    pub fn enabled(&self) -> Vec<&'static str> {
        [
            (self.slack.is_some(), SLACK),
            (self.teams.is_some(), TEAMS),
            (self.pagerduty.is_some(), PAGERDUTY),
            (self.servicenow.is_some(), SERVICENOW),
            (self.jira.is_some(), JIRA),
            (self.github.is_some(), GITHUB),
            (self.confluence.is_some(), CONFLUENCE),
            (self.approval_links.is_some(), EMAIL),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}
