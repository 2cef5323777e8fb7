//! Step Functions: read the state machine and its alias, create or update it with a
//! published version, move the alias, validate definitions, run and follow executions.

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_sfn::types::{
    CloudWatchLogsLogGroup, LogDestination, LogLevel, LoggingConfiguration,
    RoutingConfigurationListItem, StateMachineType, Tag, TracingConfiguration,
};
use aws_sdk_sfn::Client;
use serde_json::{json, Value};

use super::{AwsError, Calls, CountCalls, RefusedIsFinal};
use crate::plan::changes::DeployedMachine;

mod executions;

pub use executions::{ExecutionEnd, ExecutionEvent, ExecutionStatus, TaskRunRecord};

/// The tag on every state machine kedro-sfn made: it updates no other.
pub const MANAGED_TAG: &str = "kedro-sfn:managed";

/// Calls Step Functions, counting every call.
#[derive(Debug, Clone)]
pub struct StepFunctions {
    client: Client,
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

/// deploy.json and the deployment record say `valid`, `unavailable` or `invalid`.
impl serde::Serialize for Validation {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(match self {
            Validation::Ok => "valid",
            Validation::Unavailable(_) => "unavailable",
            Validation::Invalid(_) => "invalid",
        })
    }
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
            client: Client::from_conf(
                aws_sdk_sfn::config::Builder::from(config)
                    .interceptor(CountCalls(calls))
                    .retry_classifier(RefusedIsFinal)
                    .build(),
            ),
        }
    }

    /// The ARN of the state machine called `name`, if there is one.
    pub async fn find(&self, name: &str) -> Result<Option<String>, AwsError> {
        Ok(self.list_machines().await?.remove(name))
    }

    /// Every state machine in the region: name -> ARN (one pass over the pages).
    pub async fn list_machines(&self) -> Result<BTreeMap<String, String>, AwsError> {
        let mut machines = BTreeMap::new();
        let mut pages = self.client.list_state_machines().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| {
                AwsError::new("listing state machines (states:ListStateMachines)", e)
            })?;
            for machine in page.state_machines() {
                machines.insert(
                    machine.name().to_string(),
                    machine.state_machine_arn().to_string(),
                );
            }
        }
        Ok(machines)
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
        let definition = serde_json::from_str(&definition_text).map_err(|e| {
            AwsError::other(
                format!("reading the definition of {arn}"),
                format!(
                    "it is not JSON ({e}); kedro-sfn cannot compare it with the plan: fix or delete the state machine by hand"
                ),
            )
        })?;
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
            self.client
                .update_state_machine_alias()
                .state_machine_alias_arn(format!("{arn}:{alias}"))
                .routing_configuration(route)
                .send()
                .await
                .map_err(|e| AwsError::new(&action, e))?;
        } else {
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

    /// The machine's published version ARNs, newest (highest number) first.
    pub async fn versions(&self, arn: &str) -> Result<Vec<(u64, String)>, AwsError> {
        let mut versions = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_state_machine_versions()
                .state_machine_arn(arn)
                .set_next_token(token.take())
                .send()
                .await
                .map_err(|e| AwsError::new(format!("listing the versions of {arn}"), e))?;
            for item in page.state_machine_versions() {
                let version_arn = item.state_machine_version_arn();
                if let Some(number) = crate::plan::definition::arns::version_number(version_arn) {
                    versions.push((number, version_arn.to_string()));
                }
            }
            match page.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_string()),
                _ => break,
            }
        }
        versions.sort_by_key(|v| std::cmp::Reverse(v.0));
        Ok(versions)
    }

    /// The definition of one version.
    pub async fn version_definition(&self, version_arn: &str) -> Result<Value, AwsError> {
        let described = self
            .client
            .describe_state_machine()
            .state_machine_arn(version_arn)
            .send()
            .await
            .map_err(|e| AwsError::new(format!("reading the version {version_arn}"), e))?;
        serde_json::from_str(described.definition()).map_err(|e| {
            AwsError::other(
                format!("reading the version {version_arn}"),
                format!("its definition is not JSON: {e}"),
            )
        })
    }

    /// Deletes an old version (never one an alias points at: Step Functions refuses).
    pub async fn delete_version(&self, version_arn: &str) -> Result<(), AwsError> {
        match self
            .client
            .delete_state_machine_version()
            .state_machine_version_arn(version_arn)
            .send()
            .await
            .map_err(|e| AwsError::new(format!("deleting the version {version_arn}"), e))
        {
            Err(error)
                if !matches!(
                    error.code.as_deref(),
                    Some("StateMachineDoesNotExist" | "ResourceNotFound")
                ) =>
            {
                Err(error)
            }
            _ => Ok(()),
        }
    }

    /// True when the version exists.
    pub async fn version_exists(&self, version_arn: &str) -> Result<bool, AwsError> {
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
}
