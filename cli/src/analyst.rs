//! Which analyst the CLI runs: the rules analyst, or Bedrock when the binary was built with it
//! and AWS credentials and a region are found. Missing either is a usage error (exit 2) that
//! says what to set, checked before any event is read.

use crate::AnalystChoice;
use crate::commands::{CliError, EXIT_USAGE};
use argus::analysis::RulesAnalyst;
use argus::config::Config;
use argus::ports::Analyst;

/// The analyst chosen on the command line, ready to use.
#[derive(Debug)]
pub enum SelectedAnalyst {
    Rules(RulesAnalyst),
    #[cfg(feature = "bedrock")]
    Bedrock(Box<argus::analysis::bedrock::BedrockAnalyst>),
}

impl SelectedAnalyst {
    pub async fn select(choice: AnalystChoice, config: &Config) -> Result<Self, CliError> {
        match choice {
            AnalystChoice::Rules => Ok(Self::Rules(RulesAnalyst)),
            AnalystChoice::Bedrock => bedrock(config).await,
        }
    }

    pub fn as_port(&self) -> &dyn Analyst {
        match self {
            Self::Rules(rules) => rules,
            #[cfg(feature = "bedrock")]
            Self::Bedrock(bedrock) => bedrock.as_ref(),
        }
    }
}

#[cfg(not(feature = "bedrock"))]
async fn bedrock(_config: &Config) -> Result<SelectedAnalyst, CliError> {
    Err(CliError::new(
        EXIT_USAGE,
        "this argus was built without Bedrock support (cargo feature `bedrock`); rebuild with it or use --analyst rules",
    ))
}

#[cfg(feature = "bedrock")]
async fn bedrock(config: &Config) -> Result<SelectedAnalyst, CliError> {
    use argus::analysis::bedrock::{
        BedrockAnalyst, BedrockClientConfig, BedrockSettings, ProvideCredentials,
    };
    let settings = BedrockSettings::from_env(|name| std::env::var(name).ok())
        .map_err(|error| CliError::new(EXIT_USAGE, error.to_string()))?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    if aws.region().is_none() {
        return Err(CliError::new(
            EXIT_USAGE,
            "--analyst bedrock needs an AWS region: set AWS_REGION (or use a profile that has one), or use --analyst rules",
        ));
    }
    let no_credentials = |why: String| {
        CliError::new(
            EXIT_USAGE,
            format!(
                "--analyst bedrock needs AWS credentials and none were found ({why}); set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or use --analyst rules"
            ),
        )
    };
    let provider = aws
        .credentials_provider()
        .ok_or_else(|| no_credentials("no credentials provider is configured".to_string()))?;
    provider
        .provide_credentials()
        .await
        .map_err(|error| no_credentials(error.to_string()))?;
    Ok(SelectedAnalyst::Bedrock(Box::new(BedrockAnalyst::new(
        BedrockClientConfig::from(&aws),
        settings,
        config.clone(),
    ))))
}
