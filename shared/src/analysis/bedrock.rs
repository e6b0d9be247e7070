//! The Bedrock analyst: the `Analyst` port over Amazon Bedrock's Converse API. It is the only
//! code that knows model ids and request shapes.
//!
//! One request per analysis: the system prompt and fenced context from `prompt::render`, and one
//! tool (`record_assessment`) whose input schema is the assessment, forced with `toolChoice`.
//! The answer is the tool's input; an answer in prose, or a tool input outside the schema, is
//! `AnalystError::OutOfSchema` and the intake falls back to the rules analyst. `maxTokens` is
//! always sent. Throttling is retried by the SDK's standard retry strategy with exponential
//! backoff and jitter, bounded by `max_attempts`; the whole call, retries included, is bounded
//! by `timeout` (the SDK's operation timeout, and a runtime timeout around it as a backstop).

use super::assessment::{Assessment, TokenUsage};
use super::context::AnalysisContext;
use super::prompt::{self, Prompt};
use super::sanitise::Fence;
use crate::config::Config;
use crate::ports::{Analyst, AnalystError};
use async_trait::async_trait;
use aws_sdk_bedrockruntime::Client;
use aws_sdk_bedrockruntime::config::retry::RetryConfig;
use aws_sdk_bedrockruntime::config::timeout::TimeoutConfig;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::operation::converse::{ConverseError, ConverseOutput};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput as ConverseAnswer, InferenceConfiguration,
    Message, SpecificToolChoice, SystemContentBlock, Tool, ToolChoice, ToolConfiguration,
    ToolInputSchema, ToolSpecification,
};
use aws_smithy_types::{Document, Number};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;

/// The SDK client configuration builder, re-exported so callers can build one from their
/// loaded AWS configuration: `BedrockClientConfig::from(&sdk_config)`.
pub use aws_sdk_bedrockruntime::config::Builder as BedrockClientConfig;
/// The credentials trait, so callers can check credentials resolve before the first analysis.
pub use aws_sdk_bedrockruntime::config::ProvideCredentials;

/// Claude Haiku 4.5 through the global cross-region inference profile: Claude 4 models are
/// invoked through inference profiles, and Haiku keeps an analysis within about a cent.
pub const DEFAULT_MODEL_ID: &str = "global.anthropic.claude-haiku-4-5-20251001-v1:0";
pub const DEFAULT_MAX_TOKENS: i32 = 1_024;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(25);
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(500);

/// Environment variables the orchestrator and the CLI read the settings from.
pub const MODEL_ID_ENV: &str = "ARGUS_BEDROCK_MODEL_ID";
/// Environment variable naming the orchestrator's analyst: `bedrock` (the default) or `rules`.
pub const ANALYST_ENV: &str = "ARGUS_ANALYST";
/// The IAM action the Converse API needs (on the model and, for a profile, the profile).
pub const API_CALLS: &[&str] = &["bedrock:InvokeModel"];
pub const INFERENCE_PROFILE_ENV: &str = "ARGUS_BEDROCK_INFERENCE_PROFILE";
pub const MAX_TOKENS_ENV: &str = "ARGUS_BEDROCK_MAX_TOKENS";
pub const TIMEOUT_MS_ENV: &str = "ARGUS_BEDROCK_TIMEOUT_MS";
pub const MAX_ATTEMPTS_ENV: &str = "ARGUS_BEDROCK_MAX_ATTEMPTS";

/// Which model is called and how long and how often Argus waits for it.
#[derive(Debug, Clone, PartialEq)]
pub struct BedrockSettings {
    /// A model id or a system inference profile id (`global.`, `us.`, `eu.` …).
    pub model_id: String,
    /// An inference profile (id or ARN, e.g. an application inference profile that tags costs);
    /// when set, requests go through it instead of `model_id`.
    pub inference_profile: Option<String>,
    /// The answer's token limit; always sent.
    pub max_tokens: i32,
    /// The whole call, retries included.
    pub timeout: Duration,
    /// Attempts in all, the first included; throttling and transient errors are retried.
    pub max_attempts: u32,
    /// The first retry's backoff; later ones double, with jitter.
    pub initial_backoff: Duration,
}

impl Default for BedrockSettings {
    fn default() -> Self {
        Self {
            model_id: DEFAULT_MODEL_ID.to_string(),
            inference_profile: None,
            max_tokens: DEFAULT_MAX_TOKENS,
            timeout: DEFAULT_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("environment variable {name} is invalid (`{value}`): {reason}")]
pub struct BedrockSettingsError {
    pub name: &'static str,
    pub value: String,
    pub reason: &'static str,
}

impl BedrockSettings {
    /// Reads the `ARGUS_BEDROCK_*` variables; every one is optional.
    pub fn from_env(read: impl Fn(&str) -> Option<String>) -> Result<Self, BedrockSettingsError> {
        let value = |name: &str| read(name).filter(|value| !value.trim().is_empty());
        let number = |name: &'static str, low: u64, high: u64, reason: &'static str| {
            value(name)
                .map(|text| {
                    text.trim()
                        .parse::<u64>()
                        .ok()
                        .filter(|number| (low..=high).contains(number))
                        .ok_or(BedrockSettingsError {
                            name,
                            value: text,
                            reason,
                        })
                })
                .transpose()
        };
        let defaults = Self::default();
        Ok(Self {
            model_id: value(MODEL_ID_ENV)
                .map(|text| text.trim().to_string())
                .unwrap_or(defaults.model_id),
            inference_profile: value(INFERENCE_PROFILE_ENV).map(|text| text.trim().to_string()),
            max_tokens: number(MAX_TOKENS_ENV, 256, 8_192, "must be 256 to 8192")?
                .map_or(defaults.max_tokens, |tokens| {
                    i32::try_from(tokens).unwrap_or(DEFAULT_MAX_TOKENS)
                }),
            timeout: number(
                TIMEOUT_MS_ENV,
                1_000,
                300_000,
                "must be 1000 to 300000 milliseconds",
            )?
            .map_or(defaults.timeout, Duration::from_millis),
            max_attempts: number(MAX_ATTEMPTS_ENV, 1, 10, "must be 1 to 10")?
                .map_or(defaults.max_attempts, |attempts| {
                    u32::try_from(attempts).unwrap_or(DEFAULT_MAX_ATTEMPTS)
                }),
            initial_backoff: defaults.initial_backoff,
        })
    }

    /// What requests name: the inference profile when there is one, else the model id.
    pub fn target(&self) -> &str {
        self.inference_profile.as_deref().unwrap_or(&self.model_id)
    }
}

/// The Analyst port over Bedrock's Converse API.
#[derive(Debug, Clone)]
pub struct BedrockAnalyst {
    client: Client,
    settings: BedrockSettings,
    config: Config,
    name: String,
}

impl BedrockAnalyst {
    /// Builds the client from `client_config` (region, credentials, endpoint) with the retry and
    /// timeout policy of `settings`; `config` supplies the catalogue's allow-listed documents.
    pub fn new(
        client_config: BedrockClientConfig,
        settings: BedrockSettings,
        config: Config,
    ) -> Self {
        let client_config = client_config
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(settings.max_attempts)
                    .with_initial_backoff(settings.initial_backoff),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(settings.timeout)
                    .build(),
            )
            .build();
        let name = format!("bedrock/{}", settings.target());
        Self {
            client: Client::from_conf(client_config),
            settings,
            config,
            name,
        }
    }

    pub fn settings(&self) -> &BedrockSettings {
        &self.settings
    }

    fn timeout_error(&self) -> AnalystError {
        AnalystError::Timeout(u64::try_from(self.settings.timeout.as_millis()).unwrap_or(u64::MAX))
    }

    fn request(
        &self,
        prompt: &Prompt,
    ) -> Result<
        aws_sdk_bedrockruntime::operation::converse::builders::ConverseFluentBuilder,
        AnalystError,
    > {
        let invalid = |error: aws_smithy_types::error::operation::BuildError| {
            AnalystError::Unavailable(format!("cannot build the Converse request: {error}"))
        };
        let tool = ToolSpecification::builder()
            .name(prompt.tool_name)
            .description(prompt.tool_description)
            .input_schema(ToolInputSchema::Json(json_to_document(&prompt.tool_schema)))
            .build()
            .map_err(invalid)?;
        let tools = ToolConfiguration::builder()
            .tools(Tool::ToolSpec(tool))
            .tool_choice(ToolChoice::Tool(
                SpecificToolChoice::builder()
                    .name(prompt.tool_name)
                    .build()
                    .map_err(invalid)?,
            ))
            .build()
            .map_err(invalid)?;
        let message = Message::builder()
            .role(ConversationRole::User)
            .content(ContentBlock::Text(prompt.user.clone()))
            .build()
            .map_err(invalid)?;
        Ok(self
            .client
            .converse()
            .model_id(self.settings.target())
            .system(SystemContentBlock::Text(prompt.system.clone()))
            .messages(message)
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(self.settings.max_tokens)
                    .temperature(0.0)
                    .build(),
            )
            .tool_config(tools))
    }

    fn answer(&self, output: ConverseOutput) -> Result<Assessment, AnalystError> {
        let usage = output.usage().map(|usage| TokenUsage {
            model: self.settings.target().to_string(),
            input_tokens: u64::try_from(usage.input_tokens()).unwrap_or(0),
            output_tokens: u64::try_from(usage.output_tokens()).unwrap_or(0),
        });
        let out_of_schema = |reason: String| AnalystError::OutOfSchema {
            reason,
            usage: usage.clone(),
        };
        let Some(ConverseAnswer::Message(message)) = output.output() else {
            return Err(out_of_schema("the answer holds no message".to_string()));
        };
        let tool_use = message.content().iter().find_map(|block| match block {
            ContentBlock::ToolUse(tool_use) => Some(tool_use),
            _ => None,
        });
        let Some(tool_use) = tool_use else {
            return Err(out_of_schema(format!(
                "the model answered in prose instead of calling {} (stop reason {})",
                prompt::TOOL_NAME,
                output.stop_reason().as_str()
            )));
        };
        if tool_use.name() != prompt::TOOL_NAME {
            return Err(out_of_schema(format!(
                "the model called `{}` instead of {}",
                crate::signal::cap_text(tool_use.name(), 60),
                prompt::TOOL_NAME
            )));
        }
        prompt::parse_answer(&document_to_json(tool_use.input()), &self.name, usage)
    }
}

fn converse_error<R: std::fmt::Debug>(error: &SdkError<ConverseError, R>) -> AnalystError {
    let detail = aws_sdk_bedrockruntime::error::DisplayErrorContext(error).to_string();
    let detail = crate::signal::cap_text(&detail, 400);
    match error.as_service_error() {
        Some(ConverseError::ThrottlingException(_)) => AnalystError::Throttled(detail),
        _ if error.code() == Some("ThrottlingException") => AnalystError::Throttled(detail),
        _ => AnalystError::Unavailable(detail),
    }
}

#[async_trait]
impl Analyst for BedrockAnalyst {
    fn name(&self) -> &str {
        &self.name
    }

    async fn assess(&self, context: &AnalysisContext) -> Result<Assessment, AnalystError> {
        // A new fence for every request: a payload written earlier cannot know it.
        let prompt = prompt::render(context, &self.config, &Fence::random());
        let request = self.request(&prompt)?;
        // The SDK's operation timeout bounds the call; this one also covers anything the SDK
        // does outside it, and cannot be outlived.
        let sent = tokio::time::timeout(self.settings.timeout, request.send()).await;
        match sent {
            Err(_elapsed) => Err(self.timeout_error()),
            Ok(Err(SdkError::TimeoutError(_))) => Err(self.timeout_error()),
            Ok(Err(error)) => {
                let failure = converse_error(&error);
                tracing::warn!(model = self.settings.target(), error = %failure, "Bedrock call failed");
                Err(failure)
            }
            Ok(Ok(output)) => self.answer(output),
        }
    }
}

/// A JSON value as the SDK's document type (the tool's input schema).
pub fn json_to_document(value: &Value) -> Document {
    match value {
        Value::Null => Document::Null,
        Value::Bool(flag) => Document::Bool(*flag),
        Value::Number(number) => Document::Number(match (number.as_u64(), number.as_i64()) {
            (Some(positive), _) => Number::PosInt(positive),
            (None, Some(negative)) => Number::NegInt(negative),
            (None, None) => Number::Float(number.as_f64().unwrap_or(0.0)),
        }),
        Value::String(text) => Document::String(text.clone()),
        Value::Array(items) => Document::Array(items.iter().map(json_to_document).collect()),
        Value::Object(map) => Document::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), json_to_document(value)))
                .collect::<HashMap<_, _>>(),
        ),
    }
}

/// The SDK's document type as a JSON value (the tool's input, the model's answer).
pub fn document_to_json(document: &Document) -> Value {
    match document {
        Document::Null => Value::Null,
        Document::Bool(flag) => Value::Bool(*flag),
        Document::Number(Number::PosInt(number)) => Value::from(*number),
        Document::Number(Number::NegInt(number)) => Value::from(*number),
        Document::Number(Number::Float(number)) => {
            serde_json::Number::from_f64(*number).map_or(Value::Null, Value::Number)
        }
        Document::String(text) => Value::String(text.clone()),
        Document::Array(items) => Value::Array(items.iter().map(document_to_json).collect()),
        Document::Object(map) => Value::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), document_to_json(value)))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn documents_and_json_convert_both_ways() {
        let value = json!({"a": [1, -2, 0.5, "x", null, true], "b": {"c": "d"}});
        assert_eq!(document_to_json(&json_to_document(&value)), value);
    }

    #[test]
    fn settings_come_from_the_environment_with_defaults() {
        let none = BedrockSettings::from_env(|_| None).unwrap();
        assert_eq!(none, BedrockSettings::default());
        assert_eq!(none.target(), DEFAULT_MODEL_ID);
        let set = BedrockSettings::from_env(|name| match name {
            MODEL_ID_ENV => Some("amazon.nova-lite-v1:0".into()),
            INFERENCE_PROFILE_ENV => Some(
                "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/argus".into(),
            ),
            TIMEOUT_MS_ENV => Some("5000".into()),
            _ => None,
        })
        .unwrap();
        assert!(set.target().contains("application-inference-profile"));
        assert_eq!(set.timeout, Duration::from_secs(5));
        let error =
            BedrockSettings::from_env(|name| (name == MAX_TOKENS_ENV).then(|| "a lot".to_string()))
                .unwrap_err();
        assert!(error.to_string().contains(MAX_TOKENS_ENV), "{error}");
    }
}
