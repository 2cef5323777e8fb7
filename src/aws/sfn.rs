//! Step Functions: read the state machine and its alias, create or update it with a
//! published version, move the alias, validate definitions, run and follow executions.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_sfn::types::{
    CloudWatchLogsLogGroup, ExecutionStatus, HistoryEventType, LogDestination, LogLevel,
    LoggingConfiguration, RoutingConfigurationListItem, StateMachineType, Tag,
    TracingConfiguration,
};
use aws_sdk_sfn::Client;
use serde_json::{json, Value};

use super::{AwsError, Calls};
use crate::plan::changes::DeployedMachine;

/// The tag on every state machine kedro-sfn made: it updates no other.
pub const MANAGED_TAG: &str = "kedro-sfn:managed";

/// Calls Step Functions, counting every call.
#[derive(Debug, Clone)]
pub struct StepFunctions {
    client: Client,
    calls: Arc<Calls>,
}

/// What a state machine is created or updated with.
#[derive(Debug, Clone)]
pub struct MachineInput<'a> {
    pub name: &'a str,
    pub definition: &'a str,
    pub role_arn: Option<&'a str>,
    /// `{"level", "include_execution_data", "log_group_arn"}` or `{"level": "OFF"}`.
    pub logging: &'a Value,
    pub tracing: bool,
    pub tags: &'a BTreeMap<String, String>,
    pub version_description: &'a str,
}

/// The outcome of ValidateStateMachineDefinition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    Ok,
    /// The endpoint does not implement it (moto): a notice, not an error.
    Unavailable(String),
    Invalid(Vec<String>),
}

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

/// How an execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionEnd {
    pub status: String,
    pub error: Option<String>,
    pub cause: Option<String>,
}

fn logging_configuration(logging: &Value) -> Option<LoggingConfiguration> {
    let level = logging
        .get("level")
        .and_then(Value::as_str)
        .unwrap_or("OFF");
    let mut builder = LoggingConfiguration::builder().level(LogLevel::from(level));
    if let Some(group) = logging.get("log_group_arn").and_then(Value::as_str) {
        builder = builder
            .include_execution_data(
                logging
                    .get("include_execution_data")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            )
            .destinations(
                LogDestination::builder()
                    .cloud_watch_logs_log_group(
                        CloudWatchLogsLogGroup::builder()
                            .log_group_arn(group)
                            .build(),
                    )
                    .build(),
            );
    }
    Some(builder.build())
}

/// The logging configuration as kedro-sfn compares it.
pub fn logging_value(config: Option<&LoggingConfiguration>) -> Value {
    let Some(config) = config else {
        return json!({"level": "OFF"});
    };
    let level = config.level().map(|l| l.as_str()).unwrap_or("OFF");
    if level == "OFF" {
        return json!({"level": "OFF"});
    }
    let group = config.destinations().iter().find_map(|d| {
        d.cloud_watch_logs_log_group()
            .and_then(|g| g.log_group_arn())
    });
    json!({
        "level": level,
        "include_execution_data": config.include_execution_data(),
        "log_group_arn": group,
    })
}

impl StepFunctions {
    pub fn new(config: &aws_config::SdkConfig, calls: Arc<Calls>) -> Self {
        StepFunctions {
            client: Client::new(config),
            calls,
        }
    }

    /// The ARN of the state machine called `name`, if there is one.
    pub async fn find(&self, name: &str) -> Result<Option<String>, AwsError> {
        Ok(self.list_machines().await?.remove(name))
    }

    /// Every state machine in the region: name -> ARN (one pass over the pages).
    pub async fn list_machines(&self) -> Result<BTreeMap<String, String>, AwsError> {
        let mut machines = BTreeMap::new();
        let mut token = None;
        loop {
            self.calls.read("states:ListStateMachines");
            let page = self
                .client
                .list_state_machines()
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    AwsError::new("listing state machines (states:ListStateMachines)", e)
                })?;
            for machine in page.state_machines() {
                machines.insert(
                    machine.name().to_string(),
                    machine.state_machine_arn().to_string(),
                );
            }
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(machines);
            }
        }
    }

    /// The state machine as deployed: the definition of `served` (a version ARN: the one
    /// a root starts a child at), else of the alias's version when the alias exists (that
    /// is what runs), else the latest revision's.
    pub async fn read(
        &self,
        arn: &str,
        alias: &str,
        served: Option<&str>,
    ) -> Result<DeployedMachine, AwsError> {
        let action = format!("reading the state machine {arn}");
        self.calls.read("states:DescribeStateMachine");
        let latest = self
            .client
            .describe_state_machine()
            .state_machine_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::new(&action, e))?;
        let alias_version_arn = self.alias_target(arn, alias).await?;
        let (definition_text, served_since_ms) = match served.or(alias_version_arn.as_deref()) {
            Some(version) => {
                self.calls.read("states:DescribeStateMachine");
                let served = self
                    .client
                    .describe_state_machine()
                    .state_machine_arn(version)
                    .send()
                    .await
                    .map_err(|e| AwsError::new(format!("reading the version {version}"), e))?;
                (
                    served.definition().to_string(),
                    served.creation_date().to_millis().ok(),
                )
            }
            None => (latest.definition().to_string(), None),
        };
        let definition = serde_json::from_str(&definition_text).unwrap_or(Value::Null);
        let tags = self.tags(arn).await?;
        Ok(DeployedMachine {
            arn: arn.to_string(),
            role_arn: latest.role_arn().to_string(),
            definition,
            alias_version_arn,
            logging: logging_value(latest.logging_configuration()),
            tracing: latest.tracing_configuration().is_some_and(|t| t.enabled()),
            tags,
            served_since_ms,
        })
    }

    /// The version the alias routes to (all of it: kedro-sfn never splits traffic).
    pub async fn alias_target(&self, arn: &str, alias: &str) -> Result<Option<String>, AwsError> {
        self.calls.read("states:DescribeStateMachineAlias");
        match self
            .client
            .describe_state_machine_alias()
            .state_machine_alias_arn(format!("{arn}:{alias}"))
            .send()
            .await
        {
            Ok(found) => Ok(found
                .routing_configuration()
                .iter()
                .max_by_key(|r| r.weight())
                .map(|r| r.state_machine_version_arn().to_string())),
            Err(error) => {
                let error = AwsError::new(format!("reading the alias {alias} of {arn}"), error);
                if error.code.as_deref() == Some("ResourceNotFound") {
                    Ok(None)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// ValidateStateMachineDefinition, where the endpoint has it.
    pub async fn validate(&self, definition: &str) -> Validation {
        self.calls.read("states:ValidateStateMachineDefinition");
        match self
            .client
            .validate_state_machine_definition()
            .definition(definition)
            .r#type(StateMachineType::Standard)
            .customize()
            // Optional: an endpoint without it (moto answers 500) is not worth a deploy's
            // full retry budget.
            .config_override(aws_sdk_sfn::config::Builder::default().retry_config(
                aws_sdk_sfn::config::retry::RetryConfig::standard().with_max_attempts(3),
            ))
            .send()
            .await
        {
            Ok(answer) => {
                let problems: Vec<String> = answer
                    .diagnostics()
                    .iter()
                    .filter(|d| d.severity().as_str() == "ERROR")
                    .map(|d| {
                        format!(
                            "{} at {}: {}",
                            d.code(),
                            d.location().unwrap_or("?"),
                            d.message()
                        )
                    })
                    .collect();
                if problems.is_empty() {
                    Validation::Ok
                } else {
                    Validation::Invalid(problems)
                }
            }
            Err(error) => {
                Validation::Unavailable(AwsError::new("validating the definition", error).detail)
            }
        }
    }

    /// Creates the state machine with a first published version; returns (ARN, version ARN).
    pub async fn create(&self, input: &MachineInput<'_>) -> Result<(String, String), AwsError> {
        let action = format!("creating the state machine {}", input.name);
        let role = input.role_arn.ok_or_else(|| {
            AwsError::other(
                &action,
                "no role: set state_machine.role_arn in kedro-sfn.yml or pass --state-machine-role-arn",
            )
        })?;
        let mut tags = Vec::new();
        for (key, value) in input.tags {
            tags.push(Tag::builder().key(key).value(value).build());
        }
        self.calls.write("states:CreateStateMachine");
        let created = self
            .client
            .create_state_machine()
            .name(input.name)
            .definition(input.definition)
            .role_arn(role)
            .r#type(StateMachineType::Standard)
            .set_logging_configuration(logging_configuration(input.logging))
            .tracing_configuration(
                TracingConfiguration::builder()
                    .enabled(input.tracing)
                    .build(),
            )
            .set_tags(Some(tags))
            .publish(true)
            .version_description(input.version_description)
            .send()
            .await
            .map_err(|e| AwsError::new(&action, e));
        let created = match created {
            Ok(created) => created,
            Err(error) if error.code.as_deref() == Some("StateMachineAlreadyExists") => {
                return self.adopt(input, error).await;
            }
            Err(error) => return Err(error),
        };
        let version = created
            .state_machine_version_arn()
            .ok_or_else(|| AwsError::other(&action, "no version was published"))?;
        Ok((created.state_machine_arn().to_string(), version.to_string()))
    }

    /// A create that found the state machine there: the SDK retried a create whose answer was
    /// lost, or an earlier deploy died after creating it. Ours (tagged managed) is updated
    /// to the input; anyone else's is left alone and the create fails with the service's
    /// error.
    async fn adopt(
        &self,
        input: &MachineInput<'_>,
        conflict: AwsError,
    ) -> Result<(String, String), AwsError> {
        let Some(arn) = self.find(input.name).await? else {
            return Err(conflict);
        };
        let managed = self.tags(&arn).await?.get(MANAGED_TAG).map(String::as_str) == Some("true");
        if !managed {
            return Err(conflict);
        }
        tracing::info!(state_machine = %input.name, "already created (a retried or interrupted create): updating it");
        let version = self.update(&arn, input).await?;
        Ok((arn, version))
    }

    /// The state machine's tags.
    async fn tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        self.calls.read("states:ListTagsForResource");
        Ok(self
            .client
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::new(format!("reading the tags of {arn}"), e))?
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
            .collect())
    }

    /// Updates the state machine and publishes a version; returns the version ARN.
    pub async fn update(&self, arn: &str, input: &MachineInput<'_>) -> Result<String, AwsError> {
        let action = format!("updating the state machine {}", input.name);
        self.calls.write("states:UpdateStateMachine");
        let updated = self
            .client
            .update_state_machine()
            .state_machine_arn(arn)
            .definition(input.definition)
            .set_role_arn(input.role_arn.map(str::to_string))
            .set_logging_configuration(logging_configuration(input.logging))
            .tracing_configuration(
                TracingConfiguration::builder()
                    .enabled(input.tracing)
                    .build(),
            )
            .publish(true)
            .version_description(input.version_description)
            .send()
            .await
            .map_err(|e| AwsError::new(&action, e))?;
        let mut tags = Vec::new();
        for (key, value) in input.tags {
            tags.push(Tag::builder().key(key).value(value).build());
        }
        self.calls.write("states:TagResource");
        self.client
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| AwsError::new(&action, e))?;
        updated
            .state_machine_version_arn()
            .map(str::to_string)
            .ok_or_else(|| AwsError::other(action, "no version was published"))
    }

    /// Deletes a state machine (a child no longer planned); Step Functions deletes its
    /// versions and aliases with it.
    pub async fn delete(&self, arn: &str) -> Result<(), AwsError> {
        self.calls.write("states:DeleteStateMachine");
        self.client
            .delete_state_machine()
            .state_machine_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::new(format!("deleting the state machine {arn}"), e))?;
        Ok(())
    }

    /// Points the alias at `version_arn`, creating it when missing.
    pub async fn point_alias(
        &self,
        arn: &str,
        alias: &str,
        version_arn: &str,
        exists: bool,
    ) -> Result<(), AwsError> {
        let action = format!("moving the alias {alias} to {version_arn}");
        let route = RoutingConfigurationListItem::builder()
            .state_machine_version_arn(version_arn)
            .weight(100)
            .build()
            .map_err(|e| AwsError::other(&action, e.to_string()))?;
        if exists {
            self.calls.write("states:UpdateStateMachineAlias");
            self.client
                .update_state_machine_alias()
                .state_machine_alias_arn(format!("{arn}:{alias}"))
                .routing_configuration(route)
                .send()
                .await
                .map_err(|e| AwsError::new(&action, e))?;
        } else {
            self.calls.write("states:CreateStateMachineAlias");
            let created = self
                .client
                .create_state_machine_alias()
                .name(alias)
                .description("moved by kedro-sfn deploy and rollback")
                .routing_configuration(route.clone())
                .send()
                .await
                .map_err(|e| AwsError::new(&action, e));
            if let Err(error) = created {
                // A retried create whose first answer was lost finds the alias there.
                if self.alias_target(arn, alias).await?.is_none() {
                    return Err(error);
                }
                return Box::pin(self.point_alias(arn, alias, version_arn, true)).await;
            }
        }
        Ok(())
    }

    /// True when the version exists.
    pub async fn version_exists(&self, version_arn: &str) -> Result<bool, AwsError> {
        self.calls.read("states:DescribeStateMachine");
        match self
            .client
            .describe_state_machine()
            .state_machine_arn(version_arn)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(error) => {
                let error = AwsError::new(format!("reading {version_arn}"), error);
                match error.code.as_deref() {
                    Some("StateMachineDoesNotExist") | Some("ResourceNotFound") => Ok(false),
                    _ => Err(error),
                }
            }
        }
    }

    /// Starts a named execution; returns its ARN.
    pub async fn start(
        &self,
        target_arn: &str,
        name: &str,
        input: &str,
    ) -> Result<String, AwsError> {
        self.calls.write("states:StartExecution");
        let started = self
            .client
            .start_execution()
            .state_machine_arn(target_arn)
            .name(name)
            .input(input)
            .send()
            .await
            .map_err(|e| AwsError::new(format!("starting the execution {name}"), e))?;
        Ok(started.execution_arn().to_string())
    }

    /// The execution's status (`RUNNING`, `SUCCEEDED`, …) and, when it failed, why.
    pub async fn status(&self, execution_arn: &str) -> Result<ExecutionEnd, AwsError> {
        self.calls.read("states:DescribeExecution");
        let described = self
            .client
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| AwsError::new(format!("reading the execution {execution_arn}"), e))?;
        Ok(ExecutionEnd {
            status: described.status().as_str().to_string(),
            error: described.error().map(str::to_string),
            cause: described.cause().map(str::to_string),
        })
    }

    /// The definition an execution ran (the version it started on, whatever was deployed
    /// since).
    pub async fn definition_of_execution(&self, execution_arn: &str) -> Result<Value, AwsError> {
        self.calls.read("states:DescribeStateMachineForExecution");
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
        self.calls.read("states:ListExecutions");
        let page = self
            .client
            .list_executions()
            .state_machine_arn(machine_arn)
            .status_filter(ExecutionStatus::Succeeded)
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
        let mut runs: Vec<TaskRunRecord> = Vec::new();
        let mut open: BTreeMap<String, usize> = BTreeMap::new();
        let mut names_by_id: BTreeMap<i64, String> = BTreeMap::new();
        let mut token = None;
        for _ in 0..max_pages.max(1) {
            self.calls.read("states:GetExecutionHistory");
            let page = self
                .client
                .get_execution_history()
                .execution_arn(execution_arn)
                .max_results(1000)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| {
                    AwsError::new(
                        format!(
                            "reading the history of {execution_arn} (states:GetExecutionHistory)"
                        ),
                        e,
                    )
                })?;
            for event in page.events() {
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
                        let state =
                            enclosing_state(event.previous_event_id(), &names_by_id, page.events());
                        let nodes = event
                            .task_scheduled_event_details()
                            .and_then(|d| serde_json::from_str::<Value>(d.parameters()).ok())
                            .and_then(|p| {
                                crate::plan::definition::task_event::nodes_in_parameters(&p)
                            });
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
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(runs)
    }

    /// The task events of the execution's history, in order.
    pub async fn task_events(&self, execution_arn: &str) -> Result<Vec<ExecutionEvent>, AwsError> {
        let mut events = Vec::new();
        let mut token = None;
        let mut names_by_id: BTreeMap<i64, String> = BTreeMap::new();
        loop {
            self.calls.read("states:GetExecutionHistory");
            let page = self
                .client
                .get_execution_history()
                .execution_arn(execution_arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| AwsError::new(format!("reading the history of {execution_arn}"), e))?;
            for event in page.events() {
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
                        let state =
                            enclosing_state(event.previous_event_id(), &names_by_id, page.events());
                        let (error, cause) = match event.task_failed_event_details() {
                            Some(d) => {
                                (d.error().unwrap_or_default(), d.cause().unwrap_or_default())
                            }
                            None => event
                                .lambda_function_failed_event_details()
                                .map(|d| {
                                    (d.error().unwrap_or_default(), d.cause().unwrap_or_default())
                                })
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
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(events);
            }
        }
    }
}

/// The Task state an event belongs to: follow previous-event ids back to a TaskStateEntered.
fn enclosing_state(
    mut previous: i64,
    names: &BTreeMap<i64, String>,
    events: &[aws_sdk_sfn::types::HistoryEvent],
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
    String::from("?")
}
