//! The log analyzer's configuration from its environment, validated once at init.

use argus::loganalysis::config::{EVENT_BUS_ENV, LOG_GROUPS_ENV, TUNING_ENV};
use argus::loganalysis::{AnalyzerConfig, AnalyzerConfigError};
use argus::store::dynamodb::schema::PATTERNS_TABLE_ENV;

#[derive(Debug, Clone)]
pub struct Settings {
    pub patterns_table: String,
    pub event_bus: String,
    pub analyzer: AnalyzerConfig,
    pub tls_roots: argus::sdk::TrustRoots,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("environment variable {0} is not set; it must name {1}")]
    Missing(&'static str, &'static str),
    #[error(transparent)]
    Analyzer(#[from] AnalyzerConfigError),
    #[error(transparent)]
    Tls(#[from] argus::sdk::SdkSetupError),
}

impl Settings {
    pub fn from_env(read: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let required = |name: &'static str, meaning: &'static str| {
            read(name)
                .map(|value| value.trim().to_string())
                .filter(|value| !value.is_empty())
                .ok_or(SettingsError::Missing(name, meaning))
        };
        let patterns_table = required(PATTERNS_TABLE_ENV, "the patterns DynamoDB table")?;
        let event_bus = required(
            EVENT_BUS_ENV,
            "the EventBridge bus anomalies are put on (a name, an ARN, or default)",
        )?;
        let log_groups = required(
            LOG_GROUPS_ENV,
            "the log groups to analyse, comma-separated, each optionally name=resource",
        )?;
        let analyzer = AnalyzerConfig::parse(&log_groups, read(TUNING_ENV).as_deref())?;
        Ok(Self {
            patterns_table,
            event_bus,
            analyzer,
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

    const COMPLETE: [(&str, &str); 3] = [
        ("ARGUS_PATTERNS_TABLE", "argus-patterns"),
        ("ARGUS_EVENT_BUS", "default"),
        (
            "ARGUS_LOG_GROUPS",
            "/aws/lambda/checkout=lambda:function/checkout",
        ),
    ];

    #[test]
    fn every_missing_variable_is_named() {
        for missing in [
            "ARGUS_PATTERNS_TABLE",
            "ARGUS_EVENT_BUS",
            "ARGUS_LOG_GROUPS",
        ] {
            let pairs: Vec<(&str, &str)> = COMPLETE
                .iter()
                .copied()
                .filter(|(name, _)| *name != missing)
                .collect();
            let error = Settings::from_env(env(&pairs)).unwrap_err();
            assert!(error.to_string().contains(missing), "{error}");
        }
    }

    #[test]
    fn bad_log_groups_and_tuning_fail_at_init() {
        let mut pairs = COMPLETE.to_vec();
        pairs[2] = ("ARGUS_LOG_GROUPS", "/a=no resource");
        let error = Settings::from_env(env(&pairs)).unwrap_err();
        assert!(error.to_string().contains("ARGUS_LOG_GROUPS"), "{error}");
        let mut pairs = COMPLETE.to_vec();
        pairs.push(("ARGUS_LOG_ANALYZER", "{\"spike_z\": -1}"));
        let error = Settings::from_env(env(&pairs)).unwrap_err();
        assert!(error.to_string().contains("ARGUS_LOG_ANALYZER"), "{error}");
    }

    #[test]
    fn complete_settings_are_read() {
        let mut pairs = COMPLETE.to_vec();
        pairs.push(("ARGUS_LOG_ANALYZER", "{\"window_seconds\": 600}"));
        let settings = Settings::from_env(env(&pairs)).unwrap();
        assert_eq!(settings.patterns_table, "argus-patterns");
        assert_eq!(settings.event_bus, "default");
        assert_eq!(settings.analyzer.log_groups[0].name, "/aws/lambda/checkout");
        assert_eq!(settings.analyzer.tuning.window_seconds, 600);
    }

    #[test]
    fn the_wiring_lists_exactly_the_variables_read_at_init() {
        let read = std::cell::RefCell::new(Vec::new());
        let settings = Settings::from_env(|name| {
            read.borrow_mut().push(name.to_string());
            match name {
                "ARGUS_LOG_GROUPS" => Some("/aws/lambda/checkout".to_string()),
                "ARGUS_LOG_ANALYZER" => Some("{}".to_string()),
                "ARGUS_TLS_ROOTS" => Some("amazon".to_string()),
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
