//! Executions: start one, follow its status, read its history (task events, the task runs
//! past executions measured, the definition it ran).

use std::collections::BTreeMap;

use aws_sdk_sfn::types::{HistoryEvent, HistoryEventType};
use serde_json::Value;

use super::StepFunctions;
use crate::aws::AwsError;

/// One step of an execution, as the history tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionEvent {
    TaskStarted(String),
    TaskSucceeded(String),
    TaskFailed {
        state: String,
        error: String,
        cause: String,
    },
}

/// One Task state of a past execution, as its history tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskRunRecord {
    pub state: String,
    /// The Kedro nodes it ran (its TaskScheduled parameters' `Payload.nodes`), when given.
    pub nodes: Option<Vec<String>>,
    /// When it was entered and exited, in seconds since the epoch; no exit: it did not end
    /// (the execution failed or is still running).
    pub entered_s: f64,
    pub exited_s: Option<f64>,
}

/// One past execution, as DescribeExecution tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionInfo {
    pub arn: String,
    pub name: String,
    /// Its status and, when it failed, why.
    pub end: ExecutionEnd,
    /// `$$.Execution.StartTime` as the handler reads it: ISO 8601, milliseconds, `Z`.
    pub start_time: String,
    /// The execution's input, JSON text.
    pub input: Option<String>,
}

/// What an execution's history says its tasks did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaskOutcomes {
    /// The Task states whose task succeeded (after retries, if any).
    pub succeeded: std::collections::BTreeSet<String>,
    /// Child-start states -> the child execution they started.
    pub children: BTreeMap<String, String>,
    /// `$$.Execution.StartTime` as a Task was scheduled with it, when one was.
    pub start_time: Option<String>,
}

/// Where an execution stands, as Step Functions says it: the code that waits for an end
/// and the record that reports it match on this, not on strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    PendingRedrive,
    /// A status newer than this build knows, as Step Functions spelled it.
    Other(String),
}

impl ExecutionStatus {
    fn from_sdk(status: &aws_sdk_sfn::types::ExecutionStatus) -> Self {
        use aws_sdk_sfn::types::ExecutionStatus as Sdk;
        match status {
            Sdk::Running => ExecutionStatus::Running,
            Sdk::Succeeded => ExecutionStatus::Succeeded,
            Sdk::Failed => ExecutionStatus::Failed,
            Sdk::TimedOut => ExecutionStatus::TimedOut,
            Sdk::Aborted => ExecutionStatus::Aborted,
            Sdk::PendingRedrive => ExecutionStatus::PendingRedrive,
            other => ExecutionStatus::Other(other.as_str().to_string()),
        }
    }

    /// Step Functions' own spelling (`SUCCEEDED`, `TIMED_OUT`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
            ExecutionStatus::PendingRedrive => "PENDING_REDRIVE",
            ExecutionStatus::Other(status) => status,
        }
    }
}

impl std::fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionEnd {
    pub status: ExecutionStatus,
    pub error: Option<String>,
    pub cause: Option<String>,
}

impl StepFunctions {
    /// Starts a named execution; returns its ARN.
    pub async fn start(
        &self,
        target_arn: &str,
        name: &str,
        input: &str,
    ) -> Result<String, AwsError> {
        let started = self
            .client
            .start_execution()
            .state_machine_arn(target_arn)
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(|e| {
                AwsError::new(format!("starting the execution {name} of {target_arn}"), e)
            })?;
        Ok(started.execution_arn().to_string())
    }

    /// The execution's status (`RUNNING`, `SUCCEEDED`, …) and, when it failed, why.
    pub async fn status(&self, execution_arn: &str) -> Result<ExecutionEnd, AwsError> {
        Ok(self.describe(execution_arn).await?.end)
    }

    /// An execution's name, status, start time and input.
    pub async fn describe(&self, execution_arn: &str) -> Result<ExecutionInfo, AwsError> {
        let described = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| AwsError::new(format!("reading the execution {execution_arn}"), e))?;
        // To the nearest millisecond: the API's epoch seconds are a float (…065.171 may
        // arrive as …065.170999), and $$.Execution.StartTime has milliseconds.
        let start = described.start_date();
        let millis = start.secs() * 1000 + i64::from((start.subsec_nanos() + 500_000) / 1_000_000);
        let start_time = chrono::DateTime::from_timestamp_millis(millis)
            .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
            .unwrap_or_default();
        Ok(ExecutionInfo {
            arn: execution_arn.to_string(),
            name: described.name().unwrap_or_default().to_string(),
            end: ExecutionEnd {
                status: ExecutionStatus::from_sdk(described.status()),
                error: described.error().map(str::to_string),
                cause: described.cause().map(str::to_string),
            },
            start_time,
            input: described.input().map(str::to_string),
        })
    }

    /// Which Task states' tasks succeeded in an execution, and the child executions its
    /// child-start states started (read from its whole history).
    pub async fn task_outcomes(&self, execution_arn: &str) -> Result<TaskOutcomes, AwsError> {
        let events = self.history(execution_arn, None).await?;
        let mut outcomes = TaskOutcomes::default();
        let mut names_by_id: BTreeMap<i64, String> = BTreeMap::new();
        for event in &events {
            let state = || enclosing_state(event.previous_event_id(), &names_by_id, &events);
            match event.r#type() {
                HistoryEventType::TaskStateEntered => {
                    if let Some(name) = event.state_entered_event_details().map(|d| d.name()) {
                        names_by_id.insert(event.id(), name.to_string());
                    }
                }
                HistoryEventType::TaskSucceeded | HistoryEventType::LambdaFunctionSucceeded => {
                    outcomes.succeeded.insert(state());
                }
                HistoryEventType::TaskScheduled if outcomes.start_time.is_none() => {
                    outcomes.start_time = scheduled_parameters(event).and_then(|p| {
                        crate::plan::definition::task_event::start_time_in_parameters(&p)
                    });
                }
                HistoryEventType::TaskSubmitted => {
                    let started = event
                        .task_submitted_event_details()
                        .and_then(|d| d.output())
                        .and_then(|o| serde_json::from_str::<Value>(o).ok())
                        .and_then(|o| o.get("ExecutionArn")?.as_str().map(str::to_string));
                    if let Some(child) = started {
                        outcomes.children.insert(state(), child);
                    }
                }
                _ => {}
            }
        }
        outcomes.succeeded.remove(UNKNOWN_STATE);
        Ok(outcomes)
    }

    /// An execution's history events in order: every page, or the first `max_pages`
    /// (1,000 events each).
    async fn history(
        &self,
        execution_arn: &str,
        max_pages: Option<usize>,
    ) -> Result<Vec<HistoryEvent>, AwsError> {
        let mut events = Vec::new();
        let mut pages = self
            .client
            .get_execution_history()
            .execution_arn(execution_arn)
            .max_results(1000)
            .into_paginator()
            .send();
        let mut read = 0;
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                AwsError::new(
                    format!("reading the history of {execution_arn} (states:GetExecutionHistory)"),
                    e,
                )
            })?;
            events.extend(page.events().iter().cloned());
            read += 1;
            if max_pages.is_some_and(|max| read >= max.max(1)) {
                break;
            }
        }
        Ok(events)
    }

    /// The definition an execution ran (the version it started on, whatever was deployed
    /// since).
    pub async fn definition_of_execution(&self, execution_arn: &str) -> Result<Value, AwsError> {
        let described = self
            .client
            .describe_state_machine_for_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| {
                AwsError::new(
                    format!("reading the definition {execution_arn} ran (states:DescribeStateMachineForExecution)"),
                    e,
                )
            })?;
        serde_json::from_str(described.definition()).map_err(|e| {
            AwsError::other(
                format!("reading the definition {execution_arn} ran"),
                format!("it is not JSON: {e}"),
            )
        })
    }

    /// The newest successful executions of the machine (any version or alias), at most
    /// `max`, newest first.
    pub async fn recent_successes(
        &self,
        machine_arn: &str,
        max: usize,
    ) -> Result<Vec<String>, AwsError> {
        let page = self
            .client
            .list_executions()
            .state_machine_arn(machine_arn)
            .status_filter(aws_sdk_sfn::types::ExecutionStatus::Succeeded)
            .max_results(i32::try_from(max.clamp(1, 1000)).unwrap_or(1000))
            .send()
            .await
            .map_err(|e| {
                AwsError::new(
                    format!("listing the executions of {machine_arn} (states:ListExecutions)"),
                    e,
                )
            })?;
        let mut listed: Vec<(f64, String)> = page
            .executions()
            .iter()
            .map(|e| (e.start_date().as_secs_f64(), e.execution_arn().to_string()))
            .collect();
        listed.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        Ok(listed.into_iter().take(max).map(|(_, arn)| arn).collect())
    }

    /// Every Task state the execution entered, with when it was entered and exited and the
    /// nodes it ran; reads at most `max_pages` pages of history (1,000 events each).
    pub async fn task_runs(
        &self,
        execution_arn: &str,
        max_pages: usize,
    ) -> Result<Vec<TaskRunRecord>, AwsError> {
        let events = self.history(execution_arn, Some(max_pages)).await?;
        let mut runs: Vec<TaskRunRecord> = Vec::new();
        let mut open: BTreeMap<String, usize> = BTreeMap::new();
        let mut names_by_id: BTreeMap<i64, String> = BTreeMap::new();
        for event in &events {
            let at = event.timestamp().as_secs_f64();
            match event.r#type() {
                HistoryEventType::TaskStateEntered => {
                    if let Some(name) = event.state_entered_event_details().map(|d| d.name()) {
                        names_by_id.insert(event.id(), name.to_string());
                        open.insert(name.to_string(), runs.len());
                        runs.push(TaskRunRecord {
                            state: name.to_string(),
                            nodes: None,
                            entered_s: at,
                            exited_s: None,
                        });
                    }
                }
                HistoryEventType::TaskScheduled => {
                    let state = enclosing_state(event.previous_event_id(), &names_by_id, &events);
                    let nodes = scheduled_parameters(event)
                        .and_then(|p| crate::plan::definition::task_event::nodes_in_parameters(&p));
                    if let (Some(&index), Some(nodes)) = (open.get(&state), nodes) {
                        runs[index].nodes = Some(nodes);
                    }
                }
                HistoryEventType::TaskStateExited => {
                    if let Some(name) = event.state_exited_event_details().map(|d| d.name()) {
                        if let Some(index) = open.remove(name) {
                            runs[index].exited_s = Some(at);
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(runs)
    }

    /// The task events of the execution's history, in order.
    pub async fn task_events(&self, execution_arn: &str) -> Result<Vec<ExecutionEvent>, AwsError> {
        let history = self.history(execution_arn, None).await?;
        let mut events = Vec::new();
        let mut names_by_id: BTreeMap<i64, String> = BTreeMap::new();
        for event in &history {
            match event.r#type() {
                HistoryEventType::TaskStateEntered => {
                    if let Some(name) = event.state_entered_event_details().map(|d| d.name()) {
                        names_by_id.insert(event.id(), name.to_string());
                        events.push(ExecutionEvent::TaskStarted(name.to_string()));
                    }
                }
                HistoryEventType::TaskStateExited => {
                    if let Some(name) = event.state_exited_event_details().map(|d| d.name()) {
                        events.push(ExecutionEvent::TaskSucceeded(name.to_string()));
                    }
                }
                HistoryEventType::TaskFailed | HistoryEventType::LambdaFunctionFailed => {
                    let state = enclosing_state(event.previous_event_id(), &names_by_id, &history);
                    let (error, cause) = match event.task_failed_event_details() {
                        Some(d) => (d.error().unwrap_or_default(), d.cause().unwrap_or_default()),
                        None => event
                            .lambda_function_failed_event_details()
                            .map(|d| (d.error().unwrap_or_default(), d.cause().unwrap_or_default()))
                            .unwrap_or_default(),
                    };
                    events.push(ExecutionEvent::TaskFailed {
                        state,
                        error: error.to_string(),
                        cause: cause.to_string(),
                    });
                }
                _ => {}
            }
        }
        Ok(events)
    }
}

/// The Task state an event belongs to: follow previous-event ids back to a TaskStateEntered.
/// What [`enclosing_state`] answers when no Task state encloses the event.
const UNKNOWN_STATE: &str = "?";

/// A TaskScheduled event's parameters, as the Task resolved them.
fn scheduled_parameters(event: &HistoryEvent) -> Option<Value> {
    event
        .task_scheduled_event_details()
        .and_then(|d| serde_json::from_str::<Value>(d.parameters()).ok())
}

fn enclosing_state(
    mut previous: i64,
    names: &BTreeMap<i64, String>,
    events: &[HistoryEvent],
) -> String {
    for _ in 0..events.len() + 1 {
        if let Some(name) = names.get(&previous) {
            return name.clone();
        }
        match events.iter().find(|e| e.id() == previous) {
            Some(event) => previous = event.previous_event_id(),
            None => break,
        }
    }
    String::from(UNKNOWN_STATE)
}
