//! The inbound endpoint's configuration from its environment, validated once at init.

use argus::config::{Config, POLICY_ENV};
use argus::loganalysis::config::EVENT_BUS_ENV;
use argus::store::dynamodb::schema::INCIDENTS_TABLE_ENV;

pub use super::wiring::SECRET_ID_ENV;

#[derive(Debug, Clone)]
pub struct InboundSettings {
    pub incidents_table: String,
    pub event_bus: String,
    pub secret_id: String,
    pub config: Config,
    pub tls_roots: argus::sdk::TrustRoots,
}

#[derive(Debug, thiserror::Error)]
pub enum InboundSettingsError {
    #[error("environment variable {0} is not set; it must name {1}")]
    Missing(&'static str, &'static str),
    #[error("environment variable {POLICY_ENV} is invalid: {0}")]
    Policy(#[from] argus::config::ConfigError),
    #[error(transparent)]
    Tls(#[from] argus::sdk::SdkSetupError),
}

impl InboundSettings {
    /// Reads the environment through `read`, so tests need not touch the process environment.
    pub fn from_env(read: impl Fn(&str) -> Option<String>) -> Result<Self, InboundSettingsError> {
        let present = |name: &str| read(name).filter(|value| !value.trim().is_empty());
        let required = |name: &'static str, what: &'static str| {
            present(name).ok_or(InboundSettingsError::Missing(name, what))
        };
        let config = match present(POLICY_ENV) {
            Some(text) => Config::from_json(&text)?,
            None => Config::default(),
        };
        Ok(Self {
            incidents_table: required(INCIDENTS_TABLE_ENV, "the incidents DynamoDB table")?,
            event_bus: required(
                EVENT_BUS_ENV,
                "the EventBridge bus external alerts are put on (a name, an ARN, or default)",
            )?,
            secret_id: required(
                SECRET_ID_ENV,
                "the Secrets Manager secret with the connectors' signing secrets",
            )?,
            config,
            tls_roots: argus::sdk::TrustRoots::from_env(&read)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::wiring::ENVIRONMENT;
    use std::collections::BTreeMap;

    fn environment() -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            (INCIDENTS_TABLE_ENV, "argus-incidents".to_string()),
            (EVENT_BUS_ENV, "default".to_string()),
            (SECRET_ID_ENV, "argus/connectors".to_string()),
            (
                POLICY_ENV,
                r#"{"approvals": {"low": ["slack:U1"]}}"#.to_string(),
            ),
        ])
    }

    #[test]
    fn settings_read_every_variable_the_wiring_lists_and_nothing_else() {
        let read_names = std::sync::Mutex::new(Vec::new());
        let values = environment();
        let settings = InboundSettings::from_env(|name| {
            read_names.lock().unwrap().push(name.to_string());
            values.get(name).cloned()
        })
        .unwrap();
        assert_eq!(settings.config.approvals.low, vec!["slack:U1".to_string()]);
        let mut read_names = read_names.into_inner().unwrap();
        read_names.sort();
        read_names.dedup();
        let mut listed: Vec<String> = ENVIRONMENT.iter().map(|name| name.to_string()).collect();
        listed.sort();
        assert_eq!(read_names, listed);
    }

    #[test]
    fn a_missing_variable_is_named() {
        let mut values = environment();
        values.remove(SECRET_ID_ENV);
        let error = InboundSettings::from_env(|name| values.get(name).cloned()).unwrap_err();
        assert!(error.to_string().contains(SECRET_ID_ENV));
    }
}
