//! ECS: the task definitions of tasks that run on Fargate. Read (the latest active revision
//! of each family, with its tags), registered when their content changes, deregistered when
//! their task is gone. RunTask itself is Step Functions' call, not ours.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, CpuArchitecture, EphemeralStorage, KeyValuePair,
    LogConfiguration, LogDriver, NetworkMode, OsFamily, RuntimePlatform, Tag, TaskDefinitionField,
    TaskDefinitionStatus,
};
use aws_sdk_ecs::Client;

use super::{AwsError, Calls, CountCalls, RefusedIsFinal};
use crate::plan::changes::ecs::TaskDefinitionContent;
use crate::plan::deployed::DeployedTaskDefinition;

/// ECS's answer to a description of a family with no revision.
const NOT_FOUND_CODE: &str = "ClientException";

/// Calls ECS, counting every call.
#[derive(Debug, Clone)]
pub struct Ecs {
    client: Client,
    /// For the awslogs driver, which names the region of its group.
    region: String,
}

/// What one registration sends.
#[derive(Debug, Clone)]
pub struct Registration<'a> {
    pub content: &'a TaskDefinitionContent,
    pub image_uri: &'a str,
    pub tags: &'a BTreeMap<String, String>,
}

impl Ecs {
    pub fn new(config: &aws_config::SdkConfig, calls: Arc<Calls>) -> Self {
        Ecs {
            client: Client::from_conf(
                aws_sdk_ecs::config::Builder::from(config)
                    .interceptor(CountCalls(calls))
                    .retry_classifier(RefusedIsFinal)
                    .build(),
            ),
            region: config
                .region()
                .map(|r| r.to_string())
                .unwrap_or_else(|| "us-east-1".into()),
        }
    }

    /// The latest active revision of every family that starts with `prefix`, or is planned.
    pub async fn read(
        &self,
        prefix: &str,
        planned: &BTreeSet<&str>,
    ) -> Result<BTreeMap<String, DeployedTaskDefinition>, AwsError> {
        let mut families: BTreeSet<String> = planned.iter().map(|f| f.to_string()).collect();
        let mut pages = self
            .client
            .list_task_definition_families()
            .family_prefix(prefix)
            .status(aws_sdk_ecs::types::TaskDefinitionFamilyStatus::Active)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| AwsError::new("listing ECS task definition families", e))?;
            families.extend(page.families().iter().cloned());
        }
        let mut deployed = BTreeMap::new();
        for family in families {
            if let Some(read) = self.describe(&family).await? {
                deployed.insert(family, read);
            }
        }
        Ok(deployed)
    }

    /// The family's latest active revision, `None` when it has none.
    async fn describe(&self, family: &str) -> Result<Option<DeployedTaskDefinition>, AwsError> {
        let answer = match self
            .client
            .describe_task_definition()
            .task_definition(family)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
        {
            Ok(answer) => answer,
            Err(error) => {
                let error = AwsError::new(format!("reading the task definition {family}"), error);
                return match error.code.as_deref() {
                    Some(NOT_FOUND_CODE) => Ok(None),
                    _ => Err(error),
                };
            }
        };
        let Some(definition) = answer.task_definition() else {
            return Ok(None);
        };
        if definition.status() == Some(&TaskDefinitionStatus::Inactive) {
            return Ok(None);
        }
        let number = |text: Option<&str>| text.and_then(|t| t.parse::<u32>().ok());
        Ok(Some(DeployedTaskDefinition {
            family: family.to_string(),
            revision: u64::try_from(definition.revision()).unwrap_or(0),
            arn: definition
                .task_definition_arn()
                .unwrap_or_default()
                .to_string(),
            cpu: number(definition.cpu()),
            memory_mb: number(definition.memory()),
            image: definition
                .container_definitions()
                .first()
                .and_then(|c| c.image())
                .map(str::to_string),
            tags: answer
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect(),
        }))
    }

    /// Registers a new revision; returns its number. Safe to repeat: a registration whose
    /// answer was lost only leaves one more revision of the same content.
    pub async fn register(&self, input: &Registration<'_>) -> Result<u64, AwsError> {
        let content = input.content;
        let action = format!("registering the task definition {}", content.family);
        let mut logs = LogConfiguration::builder()
            .log_driver(LogDriver::Awslogs)
            .options("awslogs-group", &content.log_group)
            .options("awslogs-region", &self.region)
            .options("awslogs-stream-prefix", &content.log_stream_prefix);
        if content.create_log_group {
            logs = logs.options("awslogs-create-group", "true");
        }
        let logs = logs
            .build()
            .map_err(|e| AwsError::other(&action, e.to_string()))?;
        let container = ContainerDefinition::builder()
            .name(content.container)
            .image(input.image_uri)
            .essential(true)
            .set_entry_point(Some(content.entry_point.clone()))
            .set_command(Some(content.command.clone()))
            .set_environment(Some(
                content
                    .environment
                    .iter()
                    .map(|(name, value)| KeyValuePair::builder().name(name).value(value).build())
                    .collect(),
            ))
            .log_configuration(logs)
            .build();
        let answer = self
            .client
            .register_task_definition()
            .family(&content.family)
            .requires_compatibilities(Compatibility::Fargate)
            .network_mode(NetworkMode::Awsvpc)
            .cpu(content.cpu.to_string())
            .memory(content.memory_mb.to_string())
            .execution_role_arn(&content.execution_role_arn)
            .set_task_role_arn(content.task_role_arn.clone())
            .runtime_platform(
                RuntimePlatform::builder()
                    .cpu_architecture(CpuArchitecture::from(content.cpu_architecture))
                    .operating_system_family(OsFamily::Linux)
                    .build(),
            )
            .set_ephemeral_storage(content.ephemeral_storage_gb.map(|gb| {
                EphemeralStorage::builder()
                    .size_in_gib(i32::try_from(gb).unwrap_or(i32::MAX))
                    .build()
            }))
            .container_definitions(container)
            .set_tags(Some(
                input
                    .tags
                    .iter()
                    .map(|(key, value)| Tag::builder().key(key).value(value).build())
                    .collect(),
            ))
            .send()
            .await
            .map_err(|e| AwsError::new(&action, e))?;
        answer
            .task_definition()
            .and_then(|d| u64::try_from(d.revision()).ok())
            .ok_or_else(|| AwsError::other(action, "ECS answered without the new revision"))
    }

    /// Deregisters every active revision of `family`; returns how many. Safe to repeat.
    pub async fn deregister_family(&self, family: &str) -> Result<usize, AwsError> {
        let action = format!("deregistering the task definition {family}");
        let mut arns = Vec::new();
        let mut pages = self
            .client
            .list_task_definitions()
            .family_prefix(family)
            .status(TaskDefinitionStatus::Active)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| AwsError::new(&action, e))?;
            arns.extend(page.task_definition_arns().iter().cloned());
        }
        // ListTaskDefinitions' "prefix" is the whole family; checked all the same.
        arns.retain(|arn| crate::plan::deployed::family_of(arn) == family);
        for arn in &arns {
            self.client
                .deregister_task_definition()
                .task_definition(arn)
                .send()
                .await
                .map_err(|e| AwsError::new(&action, e))?;
        }
        Ok(arns.len())
    }
}
