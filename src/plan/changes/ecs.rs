//! The ECS side of the change set: which task definitions deploy registers, keeps or
//! deregisters. Pure, like the Lambda side: what ECS reports comes in as plain data.
//!
//! What a task definition is registered with, less its image, is hashed into the tag
//! [`CONFIG_TAG`]; the image is compared by digest and the project's source by
//! [`SOURCE_TAG`]. So a redeploy that changes nothing reads each family once and registers
//! nothing.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::config::EcsConfig;
use crate::plan::changes::target::{image_digest, FunctionAction, Target};
use crate::plan::deployed::{family_of, DeployedTaskDefinition};
use crate::plan::ecs::{EcsTaskSpec, CONTAINER_NAME};
use crate::plan::functions::TASK_TAG;
use crate::plan::Plan;

/// The tag holding the hash of everything registered but the image.
pub const CONFIG_TAG: &str = "kedro-sfn:config";
/// The tag holding the source digest the image was built from.
pub const SOURCE_TAG: &str = "kedro-sfn:source";

/// How the container starts: the handler's command-line mode, not the Lambda base image's
/// `/lambda-entrypoint.sh` (which, without `AWS_LAMBDA_RUNTIME_API`, would start the local
/// emulator and wait forever for an invocation).
pub const ENTRY_POINT: &[&str] = &["python3", "/var/task/kedro_sfn_handler.py"];
pub const COMMAND: &[&str] = &["--event-from-env"];

/// Everything a task definition is registered with except its image: what [`CONFIG_TAG`]
/// hashes, and what `aws::ecs` sends.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TaskDefinitionContent {
    pub family: String,
    pub container: &'static str,
    pub cpu: u32,
    pub memory_mb: u32,
    pub ephemeral_storage_gb: Option<u32>,
    /// `X86_64` or `ARM64`, as ECS spells it.
    pub cpu_architecture: &'static str,
    pub entry_point: Vec<String>,
    pub command: Vec<String>,
    pub environment: BTreeMap<String, String>,
    pub execution_role_arn: String,
    pub task_role_arn: Option<String>,
    pub log_group: String,
    /// awslogs creates the default group on first use; a configured one must exist.
    pub create_log_group: bool,
    pub log_stream_prefix: String,
}

impl TaskDefinitionContent {
    /// What `spec` is registered with under `ecs`.
    pub fn new(spec: &EcsTaskSpec, ecs: &EcsConfig, state_machine: &str) -> Self {
        let (log_group, create_log_group) = match &ecs.log_group {
            Some(group) => (group.clone(), false),
            None => (format!("/kedro-sfn/{state_machine}"), true),
        };
        TaskDefinitionContent {
            family: spec.family.clone(),
            container: CONTAINER_NAME,
            cpu: spec.cpu,
            memory_mb: spec.memory_mb,
            ephemeral_storage_gb: spec.ephemeral_storage_gb,
            cpu_architecture: match spec.architecture {
                crate::config::Architecture::X86_64 => "X86_64",
                crate::config::Architecture::Arm64 => "ARM64",
            },
            entry_point: ENTRY_POINT.iter().map(|s| s.to_string()).collect(),
            command: COMMAND.iter().map(|s| s.to_string()).collect(),
            environment: spec.environment.clone(),
            execution_role_arn: ecs.execution_role_arn.clone(),
            task_role_arn: ecs.task_role_arn.clone(),
            log_group,
            create_log_group,
            log_stream_prefix: "kedro".into(),
        }
    }

    /// 16 hex digits of the SHA-256 of its JSON (fields in declaration order, maps sorted).
    pub fn hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let text = serde_json::to_string(self).unwrap_or_default();
        Sha256::digest(text.as_bytes())[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// The tags a planned task definition carries: the configured ones, kedro-sfn's, the
/// content hash and the source digest.
pub fn task_definition_tags(
    spec: &EcsTaskSpec,
    content: &TaskDefinitionContent,
    target: &Target,
) -> BTreeMap<String, String> {
    let mut tags = target.extra_tags.clone();
    tags.extend(spec.tags.clone());
    tags.insert(CONFIG_TAG.into(), content.hash());
    if let Some(source) = &target.source_digest {
        tags.insert(SOURCE_TAG.into(), source.clone());
    }
    tags
}

/// What happens to one task definition family.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EcsTaskChange {
    pub family: String,
    /// The Task state that runs it (for deregistrations: the one that ran it).
    pub state: String,
    #[serde(flatten)]
    pub action: FunctionAction,
    /// The revision Task states will name: the current one when kept, else the next one.
    pub revision: Option<u64>,
}

/// Families this state machine owns that the plan no longer has are deregistered; others
/// named like planned ones are clashes.
pub fn ecs_changes(
    plan: &Plan,
    deployed: &BTreeMap<String, DeployedTaskDefinition>,
    target: &Target,
    clashes: &mut Vec<String>,
) -> Vec<EcsTaskChange> {
    let machine = plan.state_machine.name.as_str();
    let mut changes = Vec::new();
    let planned: BTreeSet<&str> = plan.ecs_tasks.iter().map(|t| t.family.as_str()).collect();
    for spec in &plan.ecs_tasks {
        let Some(current) = deployed.get(&spec.family) else {
            changes.push(EcsTaskChange {
                family: spec.family.clone(),
                state: spec.state.clone(),
                action: FunctionAction::Create,
                revision: Some(1),
            });
            continue;
        };
        if current.owner() != Some(machine) {
            clashes.push(spec.family.clone());
        }
        let action = match plan.ecs_config.as_ref() {
            Some(ecs) => differences(spec, current, ecs, machine, target),
            None => FunctionAction::Keep,
        };
        let revision = match action {
            FunctionAction::Keep => Some(current.revision),
            _ => Some(current.revision + 1),
        };
        changes.push(EcsTaskChange {
            family: spec.family.clone(),
            state: spec.state.clone(),
            action,
            revision,
        });
    }
    for (family, current) in deployed {
        if planned.contains(family.as_str()) || current.owner() != Some(machine) {
            continue;
        }
        changes.push(EcsTaskChange {
            family: family.clone(),
            state: current.tags.get(TASK_TAG).cloned().unwrap_or_default(),
            action: FunctionAction::Delete,
            revision: None,
        });
    }
    changes
}

fn differences(
    spec: &EcsTaskSpec,
    current: &DeployedTaskDefinition,
    ecs: &EcsConfig,
    machine: &str,
    target: &Target,
) -> FunctionAction {
    let content = TaskDefinitionContent::new(spec, ecs, machine);
    let new_image = target
        .image_uri
        .as_deref()
        .and_then(image_digest)
        .is_some_and(|digest| current.image.as_deref().and_then(image_digest) != Some(digest));
    let new_source = target
        .source_digest
        .as_deref()
        .is_some_and(|digest| current.tags.get(SOURCE_TAG).map(String::as_str) != Some(digest));
    let mut configuration = Vec::new();
    if current.cpu != Some(spec.cpu) {
        configuration.push(format!(
            "cpu {} -> {}",
            current.cpu.map_or("?".into(), |c| c.to_string()),
            spec.cpu
        ));
    }
    if current.memory_mb != Some(spec.memory_mb) {
        configuration.push(format!(
            "memory {} → {} MB",
            current.memory_mb.map_or("?".into(), |c| c.to_string()),
            spec.memory_mb
        ));
    }
    let tags = task_definition_tags(spec, &content, target);
    let tags_differ = tags.iter().any(|(k, v)| current.tags.get(k) != Some(v))
        || current.tags.len() != tags.len();
    if configuration.is_empty() && current.tags.get(CONFIG_TAG) != tags.get(CONFIG_TAG) {
        configuration.push("settings".into());
    } else if configuration.is_empty() && tags_differ && !new_source {
        configuration.push("tags".into());
    }
    if new_image || new_source || !configuration.is_empty() {
        FunctionAction::Update {
            code: new_image || new_source,
            configuration,
        }
    } else {
        FunctionAction::Keep
    }
}

/// The definition with every ECS Task's TaskDefinition pinned to the revision it runs, so a
/// rollback to this version runs what it ran.
pub fn pin_task_definitions(definition: &mut Value, revisions: &BTreeMap<&str, u64>) {
    crate::plan::deployed::pin_numbers(
        definition,
        "/Parameters/TaskDefinition",
        family_of,
        revisions,
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_are_read_from_names_and_arns_with_or_without_revisions() {
        for text in [
            "flights-train",
            "flights-train:7",
            "arn:aws:ecs:eu-west-1:123456789012:task-definition/flights-train",
            "arn:aws:ecs:eu-west-1:123456789012:task-definition/flights-train:12",
        ] {
            assert_eq!(family_of(text), "flights-train", "{text}");
        }
        let mut definition = serde_json::json!({"States": {
            "p": {"Type": "Parallel", "Branches": [{"States": {
                "t": {"Type": "Task", "Parameters": {"TaskDefinition": "flights-train"}}}}]}}});
        pin_task_definitions(&mut definition, &BTreeMap::from([("flights-train", 3)]));
        assert_eq!(
            definition.pointer("/States/p/Branches/0/States/t/Parameters/TaskDefinition"),
            Some(&Value::String("flights-train:3".into()))
        );
    }
}
