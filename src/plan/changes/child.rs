//! The child state machines' side of the change set: which to create, update (publish a
//! version), keep or delete, and the root's Task states pinned to the versions they run.
//!
//! The root names each child by a version ARN, so the root's alias switches the whole set
//! at once, and a rollback of the root runs the children it ran.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::plan::changes::ecs::pin_task_definitions;
use crate::plan::changes::target::Target;
use crate::plan::definition::arns::{state_machine_name_of, version_number, START_EXECUTION_SYNC};
use crate::plan::definition::view::for_each_state_mut;
use crate::plan::deployed::{qualify_functions, DeployedMachine, Deployment};
use crate::plan::functions::OWNER_TAG;
use crate::plan::Plan;

/// What happens to one child machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum ChildAction {
    Create,
    /// A new version is published: `reasons` say what differs.
    Update {
        reasons: Vec<String>,
    },
    Keep,
    /// No longer planned: deleted once the root's alias serves a version without it.
    Delete,
}

/// One child machine's change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChildChange {
    pub name: String,
    #[serde(flatten)]
    pub action: ChildAction,
    /// The version the root will start: the current one when kept, else the next.
    pub version: Option<u64>,
    /// Its definition as deploy will send it, Task states naming versions.
    #[serde(skip)]
    pub definition: Value,
}

/// The children's changes; planned children named like machines this root does not own
/// are added to `clashes`.
pub fn child_changes(
    plan: &Plan,
    deployment: &Deployment,
    target: &Target,
    versions: &BTreeMap<&str, u64>,
    revisions: &BTreeMap<&str, u64>,
    clashes: &mut Vec<String>,
) -> Vec<ChildChange> {
    let root = &plan.state_machine.name;
    let pinned = deployment
        .machine
        .as_ref()
        .map(|m| pinned_children(&m.definition))
        .unwrap_or_default();
    let mut out = Vec::new();
    for child in &plan.children {
        let mut definition = qualify_functions(&child.definition(), versions);
        pin_task_definitions(&mut definition, revisions);
        let (action, version) = match deployment.children.get(&child.name) {
            None => (ChildAction::Create, Some(1)),
            Some(current) => {
                if current.tags.get(OWNER_TAG) != Some(root) {
                    clashes.push(child.name.clone());
                }
                let pinned = pinned.get(child.name.as_str()).copied();
                let mut reasons = machine_differences(current, &definition, target);
                if pinned.is_none() {
                    reasons.push(format!(
                        "not started by the {} version of {root}",
                        target.alias
                    ));
                }
                if reasons.is_empty() {
                    (ChildAction::Keep, pinned)
                } else {
                    let latest = current
                        .alias_version_arn
                        .as_deref()
                        .and_then(version_number)
                        .max(pinned)
                        .unwrap_or(0);
                    (ChildAction::Update { reasons }, Some(latest + 1))
                }
            }
        };
        out.push(ChildChange {
            name: child.name.clone(),
            action,
            version,
            definition,
        });
    }
    for (name, current) in &deployment.children {
        let planned = plan.children.iter().any(|c| &c.name == name);
        if !planned && current.tags.get(OWNER_TAG) == Some(root) {
            out.push(ChildChange {
                name: name.clone(),
                action: ChildAction::Delete,
                version: None,
                definition: Value::Null,
            });
        }
    }
    out
}

/// What differs between a deployed machine and what is planned for it: the reasons for a
/// new version (none: keep it).
pub fn machine_differences(
    current: &DeployedMachine,
    definition: &Value,
    target: &Target,
) -> Vec<String> {
    let mut reasons = Vec::new();
    if &current.definition != definition {
        reasons.push("definition".to_string());
    }
    if let Some(role) = &target.machine_role_arn {
        if role != &current.role_arn {
            reasons.push("role".to_string());
        }
    }
    if normalize_logging(&current.logging) != normalize_logging(&target.logging) {
        reasons.push("logging".to_string());
    }
    if current.tracing != target.tracing {
        reasons.push("tracing".to_string());
    }
    if current.alias_version_arn.is_none() {
        reasons.push(format!("no alias {}", target.alias));
    }
    reasons
}

fn normalize_logging(logging: &Value) -> Value {
    match logging {
        Value::Null => serde_json::json!({"level": "OFF"}),
        Value::Object(map) if map.is_empty() => serde_json::json!({"level": "OFF"}),
        other => other.clone(),
    }
}

/// Child name -> the version a root definition starts.
pub fn pinned_children(root: &Value) -> BTreeMap<String, u64> {
    crate::plan::definition::asl::started_children(root)
        .into_iter()
        .filter_map(|reference| {
            let version = reference
                .contains(":stateMachine:")
                .then(|| reference.split(':').nth(7).and_then(|v| v.parse().ok()))
                .flatten()?;
            Some((state_machine_name_of(reference).to_string(), version))
        })
        .collect()
}

/// Points every child-start state at the child's version ARN (by the child's name in its
/// current reference), where `versions` knows it.
pub fn pin_children(root: &mut Value, versions: &BTreeMap<String, String>) {
    for_each_state_mut(root, &mut |state| {
        if state.get("Resource").and_then(Value::as_str) != Some(START_EXECUTION_SYNC) {
            return;
        }
        if let Some(field) = state.pointer_mut("/Parameters/StateMachineArn") {
            let name = state_machine_name_of(field.as_str().unwrap_or_default()).to_string();
            if let Some(version_arn) = versions.get(&name) {
                *field = Value::String(version_arn.clone());
            }
        }
    });
}

/// The version ARN each kept or created child will be started by, as far as it is known
/// before deploy: `ARN:N` where the child's ARN is known (deployed, or planned with an
/// account), else nothing (deploy pins it once the child exists).
pub fn expected_child_versions(
    plan: &Plan,
    deployment: &Deployment,
    changes: &[ChildChange],
) -> BTreeMap<String, String> {
    changes
        .iter()
        .filter_map(|change| {
            let arn = deployment
                .children
                .get(&change.name)
                .map(|c| c.arn.clone())
                .or_else(|| {
                    plan.children
                        .iter()
                        .find(|c| c.name == change.name)
                        .and_then(|c| c.arn.clone())
                })?;
            Some((change.name.clone(), format!("{arn}:{}", change.version?)))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn root(reference: &str) -> Value {
        json!({"StartAt": "Run c", "States": {"P": {"Type": "Parallel", "Branches": [
            {"StartAt": "Run c", "States": {"Run c": {"Type": "Task",
                "Resource": START_EXECUTION_SYNC,
                "Parameters": {"StateMachineArn": reference}, "End": true}}}
        ], "End": true}}})
    }

    #[test]
    fn children_are_pinned_and_read_back_by_version() {
        let mut definition = root("arn:aws:states:eu-west-1:1:stateMachine:m--c");
        let versions = BTreeMap::from([(
            "m--c".to_string(),
            "arn:aws:states:eu-west-1:1:stateMachine:m--c:4".to_string(),
        )]);
        pin_children(&mut definition, &versions);
        assert_eq!(
            pinned_children(&definition),
            BTreeMap::from([("m--c".to_string(), 4)])
        );
        // A name (no account known when planning) is pinned too.
        let mut by_name = root("m--c");
        pin_children(&mut by_name, &versions);
        assert_eq!(by_name, definition);
        assert!(pinned_children(&root("m--c")).is_empty());
    }
}
