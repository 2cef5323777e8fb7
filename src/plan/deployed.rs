//! What is deployed, as plain data: the functions, the state machine and its children,
//! read by `aws::deploy`, compared by the change set and priced by the estimate; and the
//! version pins a deployed definition carries.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::plan::definition::arns::state_machine_name_of;
use crate::plan::definition::arns::without_number_suffix;
use crate::plan::definition::view::for_each_state_mut;
use crate::plan::functions::{FunctionRecord, OWNER_TAG};

/// A function as Lambda reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployedFunction {
    pub name: String,
    /// The digest of its image, hex (Lambda's CodeSha256 of an image function).
    pub code_sha256: Option<String>,
    /// The image it runs, when GetFunction was read (only where `code_sha256` is not the
    /// planned image's digest).
    pub image_uri: Option<String>,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub ephemeral_storage_mb: u32,
    pub architecture: String,
    pub environment: BTreeMap<String, String>,
    pub role_arn: String,
    /// What kedro-sfn recorded in its description; `None` for any other description.
    pub record: Option<FunctionRecord>,
    /// Its tags, when they were read: only for functions without a record (made by hand,
    /// or by an older kedro-sfn) and those about to be deleted.
    pub tags: Option<BTreeMap<String, String>>,
    /// The version the deployment's Task states can keep naming: the highest published one
    /// (or, when nothing changed it since the served state machine version was published,
    /// the version that machine names, which is the same).
    pub latest_version: Option<u64>,
}

impl DeployedFunction {
    /// The state machine that owns it: its ownership tag when the tags were read (they are
    /// before a deletion), else what its record says.
    pub fn owner(&self) -> Option<&str> {
        match (&self.tags, &self.record) {
            (Some(tags), _) => tags.get(OWNER_TAG).map(String::as_str),
            (None, Some(record)) => Some(record.state_machine.as_str()),
            (None, None) => None,
        }
    }
}

/// The state machine as Step Functions reports it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployedMachine {
    pub arn: String,
    pub role_arn: String,
    /// The definition the alias serves (else the latest revision).
    pub definition: Value,
    /// The version the alias points at, if the alias exists.
    pub alias_version_arn: Option<String>,
    pub logging: Value,
    pub tracing: bool,
    pub tags: BTreeMap<String, String>,
    /// When the version the alias serves was published, in milliseconds since the epoch.
    pub served_since_ms: Option<i64>,
}

/// What is deployed: the state machine (if any) and the functions that carry its name or
/// are named like planned ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Deployment {
    pub machine: Option<DeployedMachine>,
    pub functions: BTreeMap<String, DeployedFunction>,
    /// The latest active revision of each task definition family this state machine owns
    /// or the plan names.
    pub task_definitions: BTreeMap<String, DeployedTaskDefinition>,
    /// The child machines the plan names or this root owns: each as the version the
    /// served root starts (else its alias's).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub children: BTreeMap<String, DeployedMachine>,
    /// The schedule group, its schedules and the alert rule.
    #[serde(skip)]
    pub operations: crate::plan::operations::changes::DeployedOperations,
    /// The root machine's published versions, newest first (definitions read only where a
    /// deploy would delete what they call).
    #[serde(skip)]
    pub versions: Vec<MachineVersion>,
}

/// One published version of the root state machine.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineVersion {
    pub number: u64,
    pub arn: String,
    pub definition: Option<Value>,
}

impl Deployment {
    /// The served root definition with its children inlined: every deployed task in one
    /// definition (see [`crate::plan::definition::asl::inline_children`]).
    pub fn whole_definition(&self) -> Option<Value> {
        let machine = self.machine.as_ref()?;
        if self.children.is_empty() {
            return Some(machine.definition.clone());
        }
        Some(crate::plan::definition::asl::inline_children(
            &machine.definition,
            &|reference| {
                self.children
                    .get(state_machine_name_of(reference))
                    .map(|c| c.definition.clone())
            },
        ))
    }
}

/// The definition with every Task's FunctionName qualified by the version it will invoke,
/// so a running execution never picks up code published after it started.
pub fn qualify_functions(definition: &Value, versions: &BTreeMap<&str, u64>) -> Value {
    let mut out = definition.clone();
    pin_numbers(
        &mut out,
        "/Parameters/FunctionName",
        function_name_of,
        versions,
    );
    out
}

/// Function -> the version a deployed definition's Task states name (`NAME:7`).
pub fn pinned_versions(definition: &Value) -> BTreeMap<String, u64> {
    let mut pins = BTreeMap::new();
    for (_, state) in crate::plan::definition::asl::task_states(definition) {
        let Some(text) = state
            .pointer("/Parameters/FunctionName")
            .and_then(Value::as_str)
        else {
            continue;
        };
        if let Some((name, version)) = text.rsplit_once(':') {
            if let Ok(version) = version.parse() {
                pins.insert(function_name_of(name).to_string(), version);
            }
        }
    }
    pins
}

/// The function's name in a FunctionName that is a name or an ARN, either maybe qualified
/// by a version (`NAME:7`, `arn:…:function:NAME:7`).
pub fn function_name_of(value: &str) -> &str {
    let unqualified = without_number_suffix(value);
    match unqualified.strip_prefix("arn:") {
        Some(_) => unqualified.rsplit(':').next().unwrap_or(unqualified),
        None => unqualified,
    }
}

/// A task definition as ECS reports its latest active revision.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeployedTaskDefinition {
    pub family: String,
    pub revision: u64,
    pub arn: String,
    pub cpu: Option<u32>,
    pub memory_mb: Option<u32>,
    pub image: Option<String>,
    pub tags: BTreeMap<String, String>,
}

impl DeployedTaskDefinition {
    pub fn owner(&self) -> Option<&str> {
        self.tags.get(OWNER_TAG).map(String::as_str)
    }
}

/// `family` or `arn:…:task-definition/family`, without a `:revision`.
pub fn family_of(task_definition: &str) -> &str {
    let unqualified = without_number_suffix(task_definition);
    unqualified
        .rsplit_once("task-definition/")
        .map_or(unqualified, |(_, family)| family)
}

/// Appends `:N` to the field at `pointer` of every Task state (inside Parallel branches
/// too) whose resource `key_of` names in `numbers`: function versions and task definition
/// revisions are pinned the same way.
pub fn pin_numbers(
    machine: &mut Value,
    pointer: &str,
    key_of: fn(&str) -> &str,
    numbers: &BTreeMap<&str, u64>,
) {
    for_each_state_mut(machine, &mut |state| {
        if let Some(field) = state.pointer_mut(pointer) {
            let text = field.as_str().unwrap_or_default().to_string();
            if let Some(number) = numbers.get(key_of(&text)) {
                *field = Value::String(format!("{text}:{number}"));
            }
        }
    });
}
