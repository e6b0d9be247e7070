//! The orchestrator's configuration from its environment, validated once at init.

use argus::adapters::sfn::STATE_MACHINE_ARN_ENV;
use argus::analysis::bedrock::{BedrockSettings, BedrockSettingsError};
use argus::config::{Config, POLICY_ENV};
use argus::investigation::investigator::{InvestigationSetting, InvestigationSettingError};
use argus::store::dynamodb::schema::{INCIDENTS_TABLE_ENV, PATTERNS_TABLE_ENV};

pub use argus::analysis::bedrock::ANALYST_ENV;

/// Which analyst assesses new incidents.
#[derive(Debug, Clone, PartialEq)]
pub enum AnalystSetting {
    /// The rules analyst only: no model, no Bedrock permission needed.
    Rules,
    /// Bedrock, with the rules analyst as the fallback.
    Bedrock(BedrockSettings),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub incidents_table: String,
    pub patterns_table: String,
    pub state_machine_arn: String,
    pub config: Config,
    pub analyst: AnalystSetting,
    pub investigation: InvestigationSetting,
    pub tls_roots: argus::sdk::TrustRoots,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {0} is not set; it must name {1}")]
    Missing(&'static str, &'static str),
    #[error("environment variable {POLICY_ENV} is invalid: {0}")]
    Policy(#[from] argus::config::ConfigError),
    #[error("environment variable {STATE_MACHINE_ARN_ENV} is not a state machine ARN: {0}")]
    StateMachineArn(String),
    #[error("environment variable {ANALYST_ENV} is `{0}`; expected `bedrock` or `rules`")]
    Analyst(String),
    #[error(transparent)]
    Bedrock(#[from] BedrockSettingsError),
    #[error(transparent)]
    Tls(#[from] argus::sdk::SdkSetupError),
    #[error(transparent)]
    Investigation(#[from] InvestigationSettingError),
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
        let analyst = match read(ANALYST_ENV)
            .map(|value| value.trim().to_ascii_lowercase())
            .filter(|value| !value.is_empty())
            .as_deref()
        {
            None | Some("bedrock") => AnalystSetting::Bedrock(BedrockSettings::from_env(&read)?),
            Some("rules") => AnalystSetting::Rules,
            Some(other) => return Err(SettingsError::Analyst(other.to_string())),
        };
        Ok(Self {
            incidents_table,
            patterns_table,
            state_machine_arn,
            config,
            analyst,
            investigation: InvestigationSetting::from_env(&read)?,
            tls_roots: argus::sdk::TrustRoots::from_env(&read)?,
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
            // A valid value for each, so that every optional setting is read too.
            match name {
                "ARGUS_STATE_MACHINE_ARN" => Some(ARN.to_string()),
                "ARGUS_ANALYST" => Some("bedrock".to_string()),
                "ARGUS_BEDROCK_MAX_TOKENS" => Some("1024".to_string()),
                "ARGUS_BEDROCK_TIMEOUT_MS" => Some("25000".to_string()),
                "ARGUS_BEDROCK_MAX_ATTEMPTS" => Some("3".to_string()),
                "ARGUS_BEDROCK_MODEL_ID" | "ARGUS_BEDROCK_INFERENCE_PROFILE" => {
                    Some("model".to_string())
                }
                "ARGUS_TLS_ROOTS" => Some("system".to_string()),
                "ARGUS_INVESTIGATION" => Some("on".to_string()),
                "ARGUS_INVESTIGATION_DEADLINE_MS" => Some("5000".to_string()),
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
    fn an_unknown_trust_store_fails_at_init_naming_it() {
        let error = Settings::from_env(env(&[
            ("ARGUS_INCIDENTS_TABLE", "i"),
            ("ARGUS_PATTERNS_TABLE", "p"),
            ("ARGUS_STATE_MACHINE_ARN", ARN),
            ("ARGUS_TLS_ROOTS", "everything"),
        ]))
        .unwrap_err();
        assert!(error.to_string().contains("ARGUS_TLS_ROOTS"), "{error}");
        let settings = Settings::from_env(env(&[
            ("ARGUS_INCIDENTS_TABLE", "i"),
            ("ARGUS_PATTERNS_TABLE", "p"),
            ("ARGUS_STATE_MACHINE_ARN", ARN),
        ]))
        .unwrap();
        assert_eq!(
            settings.tls_roots,
            argus::sdk::TrustRoots::AmazonTrustServices
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
        assert_eq!(
            settings.analyst,
            AnalystSetting::Bedrock(BedrockSettings::default()),
            "Bedrock by default, with its default model"
        );
        assert!(
            Settings::from_env(env(&[
                ("ARGUS_INCIDENTS_TABLE", "i"),
                ("ARGUS_PATTERNS_TABLE", "p"),
                ("ARGUS_STATE_MACHINE_ARN", "nope")
            ]))
            .is_err()
        );
    }

    #[test]
    fn the_analyst_and_its_model_are_chosen_by_environment() {
        let base = [
            ("ARGUS_INCIDENTS_TABLE", "i"),
            ("ARGUS_PATTERNS_TABLE", "p"),
            ("ARGUS_STATE_MACHINE_ARN", ARN),
        ];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = base.to_vec();
            pairs.extend_from_slice(extra);
            Settings::from_env(env(&pairs))
        };
        assert_eq!(
            with(&[("ARGUS_ANALYST", "rules")]).unwrap().analyst,
            AnalystSetting::Rules
        );
        let AnalystSetting::Bedrock(bedrock) = with(&[
            ("ARGUS_ANALYST", "Bedrock"),
            ("ARGUS_BEDROCK_MODEL_ID", "us.amazon.nova-lite-v1:0"),
            ("ARGUS_BEDROCK_MAX_TOKENS", "2048"),
        ])
        .unwrap()
        .analyst
        else {
            panic!("bedrock was asked for");
        };
        assert_eq!(bedrock.target(), "us.amazon.nova-lite-v1:0");
        assert_eq!(bedrock.max_tokens, 2048);
        let error = with(&[("ARGUS_ANALYST", "gpt")]).unwrap_err();
        assert!(error.to_string().contains("ARGUS_ANALYST"), "{error}");
        let error = with(&[("ARGUS_BEDROCK_TIMEOUT_MS", "soon")]).unwrap_err();
        assert!(
            error.to_string().contains("ARGUS_BEDROCK_TIMEOUT_MS"),
            "{error}"
        );
    }
}
