//! The orchestrator's paths measured on the wire: every DynamoDB request a path sends (counted
//! by an interceptor on the real client, retries included, with the bytes it moved) and every
//! analyst call. The analysis_requests test asserts on these counts; the performance report
//! (`bash benches/report.sh`) prints them and models cost from them.

use argus::analysis::{AnalysisContext, Assessment, RulesAnalyst};
use argus::clock::ManualClock;
use argus::intake::{EventReport, Intake, Outcome};
use argus::ports::{Analyst, AnalystError};
use async_trait::async_trait;
use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use serde::Serialize;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// One DynamoDB request as it went over the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Request {
    /// The operation, e.g. `Query`, `TransactWriteItems`.
    pub operation: String,
    pub request_bytes: usize,
    pub response_bytes: usize,
}

/// Records every HTTP request the DynamoDB client sends (retries included).
#[derive(Debug, Default, Clone)]
pub struct RequestLog(Arc<Mutex<Vec<Request>>>);

impl RequestLog {
    /// The requests since the last call.
    pub fn take(&self) -> Vec<Request> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The operations of the requests since the last call.
    pub fn take_operations(&self) -> Vec<String> {
        self.take()
            .into_iter()
            .map(|request| request.operation)
            .collect()
    }

    /// A DynamoDB client that records into this log.
    pub fn client(&self, sdk: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(sdk)
                .interceptor(self.clone())
                .build(),
        )
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = request
            .headers()
            .get("x-amz-target")
            .unwrap_or("unknown")
            .rsplit('.')
            .next()
            .unwrap_or("unknown")
            .to_string();
        let request_bytes = request.body().bytes().map_or(0, <[u8]>::len);
        self.0.lock().unwrap().push(Request {
            operation,
            request_bytes,
            response_bytes: 0,
        });
        Ok(())
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let bytes = context.response().body().bytes().map_or(0, <[u8]>::len);
        if let Some(last) = self.0.lock().unwrap().last_mut() {
            last.response_bytes = bytes;
        }
        Ok(())
    }
}

/// The rules analyst, with its calls counted: the analyst port is where a Bedrock call would be.
#[derive(Debug, Default)]
pub struct CountingAnalyst {
    pub calls: AtomicUsize,
    /// The estimated input tokens of each context it was given.
    pub context_tokens: Mutex<Vec<usize>>,
}

impl CountingAnalyst {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl Analyst for CountingAnalyst {
    fn name(&self) -> &str {
        "counting-rules"
    }

    async fn assess(&self, context: &AnalysisContext) -> Result<Assessment, AnalystError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.context_tokens
            .lock()
            .unwrap()
            .push(context.estimated_tokens());
        Ok(RulesAnalyst.assess(context))
    }
}

/// A sample event from events/; an alarm's state time can be moved to make it a new transition.
pub fn event(relative: &str, alarm_state_time: Option<&str>) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(relative);
    let mut event: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    if let Some(time) = alarm_state_time {
        event["detail"]["state"]["timestamp"] = Value::String(time.to_string());
    }
    event
}

/// Delivers `event`, checks its outcome, moves the clock on, and returns the report with the
/// requests it cost.
pub async fn deliver(
    intake: &Intake<'_>,
    log: &RequestLog,
    clock: &ManualClock,
    event: Value,
    expected: Outcome,
) -> (EventReport, Vec<Request>) {
    let report = intake.process_event(&event).await.unwrap();
    assert_eq!(report.signals[0].outcome, expected, "{report:?}");
    clock.advance(chrono::Duration::seconds(30));
    (report, log.take())
}
