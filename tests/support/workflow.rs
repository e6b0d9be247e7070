//! The recovery workflow the cross-crate tests start executions on, standing in for Step
//! Functions where the test is about the intake path rather than the state machine.

use argus::correlation::CorrelationId;
use argus::ports::{Workflow, WorkflowError, WorkflowStart};
use async_trait::async_trait;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Keeps executions by name, as Step Functions does: a second start under a name already used
/// finds the first execution. Every start request is counted, each input is kept, and while
/// `failing` is set every start fails as a throttled StartExecution would.
#[derive(Debug, Default)]
pub struct RecordingWorkflow {
    pub failing: AtomicBool,
    attempts: AtomicUsize,
    starts_by_name: Mutex<HashMap<String, usize>>,
    inputs: Mutex<Vec<(String, Value)>>,
}

impl RecordingWorkflow {
    /// Start requests, failed and repeated ones included.
    pub fn attempts(&self) -> usize {
        self.attempts.load(Ordering::SeqCst)
    }

    /// Executions started: one per name.
    pub fn starts(&self) -> usize {
        self.starts_by_name.lock().unwrap().len()
    }

    /// How many start requests each execution name received.
    pub fn starts_by_name(&self) -> HashMap<String, usize> {
        self.starts_by_name.lock().unwrap().clone()
    }

    /// The name and input of the latest start request that did not fail.
    pub fn last_input(&self) -> Option<(String, Value)> {
        self.inputs.lock().unwrap().last().cloned()
    }
}

#[async_trait]
impl Workflow for RecordingWorkflow {
    async fn start(
        &self,
        name: &CorrelationId,
        input: &Value,
    ) -> Result<WorkflowStart, WorkflowError> {
        self.attempts.fetch_add(1, Ordering::SeqCst);
        if self.failing.load(Ordering::SeqCst) {
            return Err(WorkflowError::Throttled("simulated throttling".into()));
        }
        let requests = {
            let mut starts = self.starts_by_name.lock().unwrap();
            let count = starts.entry(name.to_string()).or_insert(0);
            *count += 1;
            *count
        };
        self.inputs
            .lock()
            .unwrap()
            .push((name.to_string(), input.clone()));
        Ok(WorkflowStart {
            execution_id: format!("exec:{name}"),
            already_started: requests > 1,
        })
    }
}
