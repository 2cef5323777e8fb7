//! One Lambda function spec per task: what deploy creates or updates.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{Architecture, NodeSettings};

/// The tag that marks a function as owned by a state machine: deploy prunes only functions
/// that carry it.
/// The tag on each function that records what its image was built from (the source digest
/// of `image::source`), so a plan sees new node code without building an image.
pub const SOURCE_TAG: &str = "kedro-sfn:source";
pub const OWNER_TAG: &str = "kedro-sfn:state-machine";
/// The tag naming the task a function runs.
pub const TASK_TAG: &str = "kedro-sfn:task";

/// A Lambda function as the plan wants it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionSpec {
    pub name: String,
    /// The Task state that invokes it.
    pub state: String,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub ephemeral_storage_mb: u32,
    pub architecture: Architecture,
    pub environment: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// The function of a task: the largest memory, timeout and disk any of its nodes asks for
/// (they run one after another in one invocation), their environments merged in node order,
/// and `KEDRO_ENV` so the handler opens the right env.
pub fn function_spec(
    name: &str,
    state: &str,
    state_machine: &str,
    env: Option<&str>,
    node_settings: &[&NodeSettings],
) -> FunctionSpec {
    let max = |get: &dyn Fn(&NodeSettings) -> u32| {
        node_settings.iter().map(|s| get(s)).max().unwrap_or(0)
    };
    let mut environment = BTreeMap::new();
    for settings in node_settings {
        environment.extend(settings.environment.clone());
    }
    if let Some(env) = env {
        environment.insert("KEDRO_ENV".to_string(), env.to_string());
    }
    let tags = BTreeMap::from([
        (OWNER_TAG.to_string(), state_machine.to_string()),
        (TASK_TAG.to_string(), state.to_string()),
    ]);
    FunctionSpec {
        name: name.to_string(),
        state: state.to_string(),
        memory_mb: max(&|s| s.memory_mb.value),
        timeout_s: max(&|s| s.timeout_s.value),
        ephemeral_storage_mb: max(&|s| s.ephemeral_storage_mb.value),
        architecture: node_settings
            .first()
            .map(|s| s.architecture())
            .unwrap_or_default(),
        environment,
        tags,
    }
}
