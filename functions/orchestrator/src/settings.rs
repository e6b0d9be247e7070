//! The orchestrator's configuration from its environment, validated once at init.

use argus::config::{Config, POLICY_ENV};
use argus::store::dynamodb::schema::{INCIDENTS_TABLE_ENV, PATTERNS_TABLE_ENV};
use argus::store::sfn::STATE_MACHINE_ARN_ENV;

#[derive(Debug, Clone)]
pub struct Settings {
    pub incidents_table: String,
    pub patterns_table: String,
    pub state_machine_arn: String,
    pub config: Config,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {0} is not set; it must name {1}")]
    Missing(&'static str, &'static str),
    #[error("environment variable {POLICY_ENV} is invalid: {0}")]
    Policy(#[from] argus::config::ConfigError),
    #[error("environment variable {STATE_MACHINE_ARN_ENV} is not a state machine ARN: {0}")]
    StateMachineArn(String),
}

impl Settings {
    pub fn from_env(read: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let required = |name: &'static str, meaning: &'static str| {
            read(name)
                .filter(|value| !value.trim().is_empty())
                .ok_or(SettingsError::Missing(name, meaning))
        };
        let incidents_table = required(INCIDENTS_TABLE_ENV, "the incidents DynamoDB table")?;
        let patterns_table = required(PATTERNS_TABLE_ENV, "the patterns DynamoDB table")?;
        let state_machine_arn =
            required(STATE_MACHINE_ARN_ENV, "the recovery state machine's ARN")?;
        if !state_machine_arn.starts_with("arn:") || !state_machine_arn.contains(":stateMachine:") {
            return Err(SettingsError::StateMachineArn(state_machine_arn));
        }
        let config = match read(POLICY_ENV).filter(|value| !value.trim().is_empty()) {
            Some(text) => Config::from_json(&text)?,
            None => Config::default(),
        };
        Ok(Self {
            incidents_table,
            patterns_table,
            state_machine_arn,
            config,
        })
    }
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

    const ARN: &str = "arn:aws:states:us-east-1:123456789012:stateMachine:argus-recovery";

    #[test]
    fn a_missing_variable_is_named() {
        let error = Settings::from_env(env(&[
            ("ARGUS_INCIDENTS_TABLE", "i"),
            ("ARGUS_STATE_MACHINE_ARN", ARN),
        ]))
        .unwrap_err();
        assert!(
            error.to_string().contains("ARGUS_PATTERNS_TABLE"),
            "{error}"
        );
    }

    #[test]
    fn a_bad_policy_fails_at_init() {
        let error = Settings::from_env(env(&[
            ("ARGUS_INCIDENTS_TABLE", "i"),
            ("ARGUS_PATTERNS_TABLE", "p"),
            ("ARGUS_STATE_MACHINE_ARN", ARN),
            ("ARGUS_POLICY", "{\"budget\": {\"window_seconds\": 0}}"),
        ]))
        .unwrap_err();
        assert!(error.to_string().contains("window_seconds"), "{error}");
    }

    #[test]
    fn the_wiring_lists_exactly_the_variables_read_at_init() {
        let read = std::cell::RefCell::new(Vec::new());
        let settings = Settings::from_env(|name| {
            read.borrow_mut().push(name.to_string());
            match name {
                "ARGUS_STATE_MACHINE_ARN" => Some(ARN.to_string()),
                _ => Some("{}".to_string()),
            }
        });
        assert!(settings.is_ok(), "{settings:?}");
        let mut read = read.into_inner();
        read.sort();
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

    #[test]
    fn complete_settings_are_read() {
        let settings = Settings::from_env(env(&[
            ("ARGUS_INCIDENTS_TABLE", "i"),
            ("ARGUS_PATTERNS_TABLE", "p"),
            ("ARGUS_STATE_MACHINE_ARN", ARN),
        ]))
        .unwrap();
        assert_eq!(settings.incidents_table, "i");
        assert_eq!(settings.config, Config::default());
        assert!(
            Settings::from_env(env(&[
                ("ARGUS_INCIDENTS_TABLE", "i"),
                ("ARGUS_PATTERNS_TABLE", "p"),
                ("ARGUS_STATE_MACHINE_ARN", "nope")
            ]))
            .is_err()
        );
    }
}
