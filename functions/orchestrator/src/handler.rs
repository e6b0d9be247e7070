//! Translates a Lambda invocation into one run of the library's intake path (or, for the
//! schedule's event, one reconciliation), and its errors into stable `errorType` names for
//! retries, the failure destination and alarms.

use crate::investigation::Investigation;
use crate::metrics;
use crate::settings::{AnalystSetting, Settings};
use crate::wiring::{RECORD_OPERATION_REFUSED, RECORDS_ALIAS};
use argus::adapters::cloudwatch::CloudWatchAlarms;
use argus::adapters::sfn::StepFunctionsWorkflow;
use argus::analysis::RulesAnalyst;
use argus::analysis::bedrock::{BedrockAnalyst, BedrockClientConfig};
use argus::clock::SystemClock;
use argus::config::Config;
use argus::intake::{Intake, IntakeError, SignalReport};
use argus::investigation::investigator::{InvestigationSetting, Investigator};
use argus::ports::Analyst;
use argus::reconcile::{
    ReconcileFailure, ReconcileLimits, Reconciler, SCHEDULED_EVENT_DETAIL_TYPE,
};
use argus::recovery::record::{self, RecordError};
use argus::store::dynamodb::DynamoStore;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde_json::{Value, json};

/// `errorType` of a payload that is not JSON: the intake path's own name for an invalid event.
pub const INVALID_EVENT: &str = "InvalidEvent";

#[derive(Debug)]
pub struct Orchestrator {
    store: DynamoStore,
    workflow: StepFunctionsWorkflow,
    alarms: CloudWatchAlarms,
    analyst: SelectedAnalyst,
    investigation: Option<Investigation>,
    config: Config,
}

/// The analyst the function was configured with, its client built once at init.
#[derive(Debug)]
enum SelectedAnalyst {
    Rules(RulesAnalyst),
    Bedrock(Box<BedrockAnalyst>),
}

impl SelectedAnalyst {
    fn port(&self) -> &dyn Analyst {
        match self {
            Self::Rules(rules) => rules,
            Self::Bedrock(bedrock) => bedrock.as_ref(),
        }
    }

    fn is_model(&self) -> bool {
        matches!(self, Self::Bedrock(_))
    }
}

/// The error the Lambda reports: a stable `errorType` (named by the state machine's Retry and
/// Catch, and by alarms) and a message.
#[derive(Debug)]
pub struct HandlerError {
    error_type: &'static str,
    message: String,
}

impl From<IntakeError> for HandlerError {
    fn from(error: IntakeError) -> Self {
        Self {
            error_type: error.error_type(),
            message: error.to_string(),
        }
    }
}

impl From<RecordError> for HandlerError {
    fn from(error: RecordError) -> Self {
        Self {
            error_type: error.error_type(),
            message: error.to_string(),
        }
    }
}

impl From<&ReconcileFailure> for HandlerError {
    fn from(failure: &ReconcileFailure) -> Self {
        Self {
            error_type: failure.error_type,
            message: format!("{}: {}", failure.subject, failure.message),
        }
    }
}

impl From<HandlerError> for Diagnostic {
    fn from(error: HandlerError) -> Self {
        Diagnostic {
            error_type: error.error_type.to_string(),
            error_message: error.message,
        }
    }
}

impl Orchestrator {
    pub fn new(aws: &aws_config::SdkConfig, settings: Settings) -> Self {
        let cloudwatch = aws_sdk_cloudwatch::Client::new(aws);
        let store = DynamoStore::new(
            aws_sdk_dynamodb::Client::new(aws),
            settings.incidents_table,
            settings.patterns_table,
        );
        Self {
            store: store.clone(),
            workflow: StepFunctionsWorkflow::new(
                aws_sdk_sfn::Client::new(aws),
                settings.state_machine_arn,
            ),
            alarms: CloudWatchAlarms::new(cloudwatch.clone()),
            investigation: match settings.investigation {
                InvestigationSetting::Off => None,
                InvestigationSetting::On { deadline } => {
                    Some(Investigation::new(aws, cloudwatch, store, deadline))
                }
            },
            analyst: match settings.analyst {
                AnalystSetting::Rules => SelectedAnalyst::Rules(RulesAnalyst),
                AnalystSetting::Bedrock(bedrock) => {
                    SelectedAnalyst::Bedrock(Box::new(BedrockAnalyst::new(
                        BedrockClientConfig::from(aws),
                        bedrock,
                        settings.config.clone(),
                    )))
                }
            },
            config: settings.config,
        }
    }

    pub async fn handle(&self, event: LambdaEvent<Value>) -> Result<Value, HandlerError> {
        let route = route(&event.payload, &event.context.invoked_function_arn)
            .inspect_err(|error| {
                tracing::error!(error_type = error.error_type, error = %error.message, "invocation refused");
                metrics::count("SignalsRejected", 1, &[("error_type", error.error_type)]);
            })?;
        // The recovery state machine calls the records alias with `{"operation": …}` to record
        // the start and the outcome of a recovery; everything else is an event to take in.
        if route == Route::Record {
            return record(
                &event.payload,
                &self.store,
                &self.store,
                &SystemClock,
                &self.config,
            )
            .await;
        }
        // A person ends an incident by invoking the function directly (`aws lambda invoke`):
        // neither EventBridge nor an alarm action nor SNS can put this key at the top level.
        if let Some(request) = event.payload.get(RESOLVE_KEY) {
            return self.resolve(request).await;
        }
        let intake = Intake {
            store: &self.store,
            patterns: &self.store,
            analyst: self.analyst.port(),
            workflow: &self.workflow,
            clock: &SystemClock,
            config: &self.config,
            investigator: self
                .investigation
                .as_ref()
                .map(|investigation| investigation as &dyn Investigator),
        };
        // The reconciler's schedule (an EventBridge rule) sends a "Scheduled Event".
        if is_schedule(&event.payload) {
            // The runtime gives the invocation's deadline in epoch milliseconds.
            let deadline = i64::try_from(event.context.deadline)
                .ok()
                .and_then(chrono::DateTime::from_timestamp_millis);
            return self.reconcile(intake, deadline).await;
        }
        // A signal may wait on the analyst: none starts within the reconciler's reserve (the
        // analyst's timeout and a margin) of the invocation's deadline.
        let stop_at = i64::try_from(event.context.deadline)
            .ok()
            .and_then(chrono::DateTime::from_timestamp_millis)
            .map(|deadline| {
                deadline
                    - chrono::Duration::seconds(ReconcileLimits::default().time_reserve_seconds)
            });
        match intake.process_event_until(&event.payload, stop_at).await {
            Ok(report) => {
                for signal in &report.signals {
                    metrics::count("Signals", 1, &[("outcome", signal.outcome.as_str())]);
                    analysis_metrics(signal, self.analyst.is_model());
                }
                let summary: Vec<Value> = report
                    .signals
                    .iter()
                    .map(|signal| json!({"outcome": signal.outcome, "correlation_id": signal.correlation_id, "status": signal.incident_status, "execution": signal.workflow.as_ref().map(|w| &w.execution_id)}))
                    .collect();
                Ok(json!({"ignored": report.ignored, "signals": summary}))
            }
            Err(error) => {
                // The raw event goes to the failure destination with this error; it is logged
                // here without its body, which may carry request parameters.
                tracing::error!(error_type = error.error_type(), retryable = error.is_retryable(), %error, request_id = %event.context.request_id, "event not processed");
                metrics::count("SignalsRejected", 1, &[("error_type", error.error_type())]);
                Err(HandlerError::from(error))
            }
        }
    }
}

/// The top-level key of a resolve request: `{"resolve": {"correlation_id", "reason", "by"}}`.
pub const RESOLVE_KEY: &str = "resolve";

impl Orchestrator {
    /// `argus incidents resolve`, for the deployed incidents table.
    async fn resolve(&self, request: &Value) -> Result<Value, HandlerError> {
        let field = |name: &str| request.get(name).and_then(Value::as_str);
        let invalid = |why: String| HandlerError {
            error_type: "InvalidRequest",
            message: format!(
                "a resolve request is {{\"correlation_id\", \"reason\", \"by\"}}: {why}"
            ),
        };
        let (Some(id), Some(reason), Some(by)) =
            (field("correlation_id"), field("reason"), field("by"))
        else {
            return Err(invalid("a field is missing or not text".to_string()));
        };
        let id = argus::correlation::CorrelationId::parse(id)
            .map_err(|error| invalid(error.to_string()))?;
        tracing::Span::current().record("correlation_id", id.as_str());
        let outcome = argus::lifecycle::resolve_incident(
            &self.store,
            &SystemClock,
            &self.workflow,
            &id,
            by,
            reason,
        )
        .await
        .map_err(|error| HandlerError {
            error_type: error.error_type(),
            message: error.to_string(),
        })?;
        tracing::info!(outcome = ?outcome, "resolve request answered");
        Ok(json!(outcome))
    }
}

/// What an invocation is, by its payload and by how the function was invoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `record_start` / `record_outcome` from the recovery state machine.
    Record,
    /// A signal (or the reconciler's schedule) from EventBridge, an alarm action or SNS.
    Event,
}

/// Tells the workflow's record operations from events. Record operations mark incidents
/// RECOVERED and feed the autonomy ladder, so they are taken only through the records alias
/// (`<function>:recovery`), whose resource policy names only the recovery state machine's role;
/// the unqualified function (EventBridge rules, alarm actions) never records.
fn route(payload: &Value, invoked_function_arn: &str) -> Result<Route, HandlerError> {
    // arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]
    let qualifier = invoked_function_arn.split(':').nth(7);
    let through_records_alias = qualifier == Some(RECORDS_ALIAS);
    let operation = payload.get("operation").is_some();
    match (operation, through_records_alias) {
        (true, true) => Ok(Route::Record),
        (false, false) => Ok(Route::Event),
        (true, false) => Err(HandlerError {
            error_type: RECORD_OPERATION_REFUSED,
            message: format!(
                "record operations are taken only through the `{RECORDS_ALIAS}` alias, which only \
                 the recovery state machine may invoke; this invocation came through `{invoked_function_arn}`"
            ),
        }),
        (false, true) => Err(HandlerError {
            error_type: RECORD_OPERATION_REFUSED,
            message: format!(
                "the `{RECORDS_ALIAS}` alias takes only the recovery state machine's record operations, not events"
            ),
        }),
    }
}

/// One of the workflow's record operations, every line it logs (its failure included) carrying
/// the `correlation_id` and `operation` its payload names.
pub async fn record(
    payload: &Value,
    store: &dyn argus::ports::IncidentStore,
    patterns: &dyn argus::ports::PatternStore,
    clock: &dyn argus::clock::Clock,
    config: &Config,
) -> Result<Value, HandlerError> {
    use tracing::Instrument;
    let text = |name: &str| {
        payload
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let span = tracing::info_span!(
        "record",
        correlation_id = text("correlation_id"),
        operation = text("operation")
    );
    async move {
        record::handle(payload, store, patterns, clock, config)
            .await
            .map_err(|error| {
                tracing::error!(error_type = error.error_type(), %error, "record operation failed");
                HandlerError::from(error)
            })
    }
    .instrument(span)
    .await
}

/// Only EventBridge's own schedule (`aws.events`, which nobody else can send) runs the
/// reconciler; a "Scheduled Event" from any other source goes to the normaliser, which refuses it.
fn is_schedule(payload: &Value) -> bool {
    payload.get("detail-type").and_then(Value::as_str) == Some(SCHEDULED_EVENT_DETAIL_TYPE)
        && payload.get("source").and_then(Value::as_str) == Some(SCHEDULE_SOURCE)
}

/// The source of EventBridge's scheduled events.
const SCHEDULE_SOURCE: &str = "aws.events";

impl Orchestrator {
    /// One reconciliation. Every step runs even when one fails; the invocation then fails
    /// with the first failure's `errorType`, so the failure shows in the function's errors.
    async fn reconcile(
        &self,
        intake: Intake<'_>,
        deadline: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<Value, HandlerError> {
        let reconciler = Reconciler {
            intake,
            alarms: &self.alarms,
            executions: &self.workflow,
            limits: ReconcileLimits::default(),
        };
        let report = reconciler.run(deadline).await;
        metrics::count(
            "ReconcilerIncidentsOpened",
            report.incidents_opened.len() as u64,
            &[],
        );
        metrics::count("ReconcilerRedriven", report.redriven.len() as u64, &[]);
        metrics::count("ReconcilerEscalated", report.escalated.len() as u64, &[]);
        metrics::count("ReconcilerFailures", report.failures.len() as u64, &[]);
        match report.failures.first() {
            None => Ok(serde_json::to_value(&report).unwrap_or(Value::Null)),
            Some(failure) => Err(HandlerError::from(failure)),
        }
    }
}

/// Cost accounting and fallback rate: the tokens each analysis spent (input and output are
/// priced apart), per model, and every time a configured model was replaced by the rules.
fn analysis_metrics(signal: &SignalReport, model_configured: bool) {
    let Some(validated) = &signal.assessment else {
        return;
    };
    let assessment = &validated.assessment;
    if let Some(usage) = &assessment.usage {
        let model = [("model", usage.model.as_str())];
        metrics::count("AnalystInputTokens", usage.input_tokens, &model);
        metrics::count("AnalystOutputTokens", usage.output_tokens, &model);
    }
    if model_configured && assessment.analyst.starts_with("rules") {
        metrics::count("AnalystFallbacks", 1, &[]);
    }
    if let Some(context) = &signal.context {
        metrics::count(
            "ContextTokensEstimated",
            u64::try_from(context.estimated_tokens()).unwrap_or(u64::MAX),
            &[],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(relative: &str) -> Value {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../events")
            .join(relative);
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    const PUBLIC: &str = "arn:aws:lambda:us-east-1:123456789012:function:argus-orchestrator";
    const RECORDS: &str =
        "arn:aws:lambda:us-east-1:123456789012:function:argus-orchestrator:recovery";

    fn record_outcome() -> Value {
        json!({"operation": "record_outcome", "correlation_id": "20261122T060000Z-x-0123456789ab",
               "execution_id": "arn:aws:states:us-east-1:123456789012:execution:argus-recovery:x",
               "outcome": "recovered", "progress": {"verified": true}})
    }

    #[test]
    fn attack_record_outcome_through_the_public_path_is_refused() {
        // GIVEN a principal with lambda:InvokeFunction on the orchestrator (not the state
        // machine) WHEN it sends record_outcome to the function THEN nothing is recorded.
        for arn in [
            PUBLIC,
            &format!("{PUBLIC}:$LATEST"),
            &format!("{PUBLIC}:other"),
        ] {
            let refused = route(&record_outcome(), arn).expect_err(arn);
            assert_eq!(refused.error_type, "RecordOperationRefused", "{arn}");
            assert!(refused.message.contains("recovery"), "{}", refused.message);
        }
        let record_start = json!({"operation": "record_start", "correlation_id": "x"});
        assert!(route(&record_start, PUBLIC).is_err());
    }

    #[test]
    fn the_records_alias_takes_record_operations_and_only_them() {
        assert_eq!(route(&record_outcome(), RECORDS).unwrap(), Route::Record);
        let alarm = sample("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
        assert_eq!(route(&alarm, PUBLIC).unwrap(), Route::Event);
        // The alias is the state machine's alone; an event sent through it is not taken in.
        assert!(route(&alarm, RECORDS).is_err());
    }

    #[test]
    fn an_undecodable_payload_is_the_intake_paths_invalid_event() {
        let invalid = IntakeError::Invalid(argus::signal::NormaliseError::Malformed(String::new()));
        assert_eq!(INVALID_EVENT, invalid.error_type());
    }

    #[test]
    fn the_schedules_event_runs_the_reconciler_and_nothing_else_does() {
        assert!(is_schedule(&sample("scheduled/scheduled-event.json")));
        for other in [
            "cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json",
            "cloudtrail/ec2-StopInstances.json",
            "argus/log-anomaly.json",
        ] {
            assert!(!is_schedule(&sample(other)), "{other}");
        }
        let mut forged = sample("scheduled/scheduled-event.json");
        forged["source"] = json!("my.app");
        assert!(!is_schedule(&forged), "a Scheduled Event from my.app");
    }
}
