//! A harness for driving the intake path in tests: embedded store in memory, a manual clock,
//! and analysts and workflows that count, fail or answer as a test tells them.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use argus::analysis::{AnalysisContext, Assessment, RulesAnalyst};
use argus::clock::ManualClock;
use argus::config::Config;
use argus::correlation::CorrelationId;
use argus::intake::{EventReport, Intake, IntakeError};
use argus::ports::{Analyst, AnalystError, Workflow, WorkflowError, WorkflowStart};
use argus::store::embedded::{EmbeddedStore, LocalWorkflow};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

pub fn sample(relative: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(relative);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// The sample CPU alarm as a new state transition: its own id, state and time.
pub fn alarm_event(state: &str, at: DateTime<Utc>, instance: &str) -> Value {
    let mut event = sample("cloudwatch-alarm/eventbridge-metric-alarm-ALARM.json");
    let stamp = at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    event["id"] = Value::String(format!("{instance}-{state}-{stamp}"));
    event["time"] = Value::String(stamp.clone());
    event["detail"]["state"]["value"] = Value::String(state.to_string());
    event["detail"]["state"]["timestamp"] = Value::String(stamp);
    event["detail"]["configuration"]["metrics"][0]["metricStat"]["metric"]["dimensions"]["InstanceId"] =
        Value::String(instance.to_string());
    event
}

/// Counts calls and answers like the rules analyst, or with a scripted answer or error.
#[derive(Default)]
pub struct TestAnalyst {
    pub calls: AtomicUsize,
    pub answer: Mutex<Option<Result<Assessment, AnalystError>>>,
}

#[async_trait]
impl Analyst for TestAnalyst {
    fn name(&self) -> &str {
        "test-analyst"
    }

    async fn assess(&self, context: &AnalysisContext) -> Result<Assessment, AnalystError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        match self.answer.lock().unwrap().clone() {
            Some(answer) => answer,
            None => Ok(RulesAnalyst.assess(context)),
        }
    }
}

/// The local workflow, with a switch that makes starts fail as an outage would.
pub struct SwitchableWorkflow {
    pub inner: LocalWorkflow,
    pub failing: AtomicBool,
    pub starts: AtomicUsize,
    /// Each wait ended with SendTaskFailure: (task token, error).
    pub failed_tasks: Mutex<Vec<(String, String)>>,
}

#[async_trait]
impl Workflow for SwitchableWorkflow {
    async fn start(
        &self,
        name: &CorrelationId,
        input: &Value,
    ) -> Result<WorkflowStart, WorkflowError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(WorkflowError::Unavailable("simulated outage".into()));
        }
        let started = self.inner.start(name, input).await?;
        if !started.already_started {
            self.starts.fetch_add(1, Ordering::SeqCst);
        }
        Ok(started)
    }

    async fn fail_waiting_task(
        &self,
        token: &argus::incident::TaskToken,
        error: &str,
        _cause: &str,
    ) -> Result<(), WorkflowError> {
        self.failed_tasks
            .lock()
            .unwrap()
            .push((token.expose().to_string(), error.to_string()));
        Ok(())
    }
}

pub struct Harness {
    pub store: EmbeddedStore,
    pub workflow: SwitchableWorkflow,
    pub analyst: TestAnalyst,
    pub clock: ManualClock,
    pub config: Config,
}

impl Harness {
    pub fn new(config: Config) -> Self {
        let store = EmbeddedStore::in_memory().unwrap();
        let workflow = SwitchableWorkflow {
            inner: store.local_workflow(),
            failing: AtomicBool::new(false),
            starts: AtomicUsize::new(0),
            failed_tasks: Mutex::new(Vec::new()),
        };
        Self {
            store,
            workflow,
            analyst: TestAnalyst::default(),
            clock: ManualClock::new(argus::testing::epoch()),
            config,
        }
    }

    pub fn intake(&self) -> Intake<'_> {
        Intake {
            store: &self.store,
            patterns: &self.store,
            analyst: &self.analyst,
            workflow: &self.workflow,
            clock: &self.clock,
            config: &self.config,
            investigator: None,
            resource_tags: None,
        }
    }

    pub async fn deliver(&self, event: &Value) -> Result<EventReport, IntakeError> {
        self.intake().process_event(event).await
    }

    pub fn advance(&self, seconds: i64) {
        self.clock.advance(Duration::seconds(seconds));
    }

    pub fn analyses(&self) -> usize {
        self.analyst.calls.load(Ordering::SeqCst)
    }

    pub fn starts(&self) -> usize {
        self.workflow.starts.load(Ordering::SeqCst)
    }
}
