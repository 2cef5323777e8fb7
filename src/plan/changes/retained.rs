//! What a deploy keeps so that a rollback can run: the newest `deploy.keep_versions`
//! versions of the state machine, and every function, ECS task definition family and child
//! machine one of them still calls, even when the plan no longer has its task. Older
//! versions are deleted, and with the last version that calls them, those resources go.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::{ChangeSet, ChildAction, FunctionAction, MachineAction};
use crate::plan::changes::child::pinned_children;
use crate::plan::deployed::{family_of, pinned_versions, Deployment};

/// What retention changes in a deploy.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Retention {
    /// The versions of the state machine deleted: older than the newest kept.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deleted_versions: Vec<String>,
    /// Resources of removed tasks that are kept because a kept version calls them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub kept_for_rollback: Vec<String>,
}

impl Retention {
    pub fn is_empty(&self) -> bool {
        self.deleted_versions.is_empty()
    }
}

/// What kept versions call, by kind: a task definition family may have the name a
/// function of the same task had.
#[derive(Debug, Default)]
struct Called {
    functions: BTreeSet<String>,
    families: BTreeSet<String>,
    children: BTreeSet<String>,
}

impl Called {
    fn add(&mut self, definition: &Value) {
        self.functions
            .extend(pinned_versions(definition).into_keys());
        self.children
            .extend(pinned_children(definition).into_keys());
        for (_, state) in crate::plan::definition::asl::task_states(definition) {
            if let Some(family) = state
                .pointer("/Parameters/TaskDefinition")
                .and_then(Value::as_str)
            {
                self.families.insert(family_of(family).to_string());
            }
        }
    }
}

/// Decides which versions go and keeps, out of the change set's deletions, what a kept
/// version calls. `keep` counts the version this deploy publishes, if it publishes one.
pub fn retain(changes: &mut ChangeSet, deployment: &Deployment, keep: usize) {
    let Some(machine) = &deployment.machine else {
        return;
    };
    let publishes = usize::from(changes.machine != MachineAction::Keep);
    let slots = keep.max(1).saturating_sub(publishes);
    // The version the alias serves after this deploy: the new one (deletions run after the
    // alias moved), else the one it serves now, kept whatever its age.
    let served = match publishes {
        0 => machine.alias_version_arn.as_deref(),
        _ => None,
    };
    let (kept, deleted): (Vec<_>, Vec<_>) = deployment
        .versions
        .iter()
        .enumerate()
        .partition(|(index, version)| *index < slots || Some(version.arn.as_str()) == served);
    let mut called = Called::default();
    for (_, version) in &kept {
        if let Some(definition) = &version.definition {
            called.add(definition);
        }
    }
    let mut kept_for_rollback = Vec::new();
    let mut goes = |set: &BTreeSet<String>, name: &str| {
        let keep = set.contains(name);
        if keep {
            kept_for_rollback.push(name.to_string());
        }
        !keep
    };
    changes
        .functions
        .retain(|f| f.action != FunctionAction::Delete || goes(&called.functions, &f.name));
    changes
        .ecs_tasks
        .retain(|t| t.action != FunctionAction::Delete || goes(&called.families, &t.family));
    changes
        .children
        .retain(|c| c.action != ChildAction::Delete || goes(&called.children, &c.name));
    kept_for_rollback.sort();
    changes.retention = Retention {
        deleted_versions: deleted.into_iter().map(|(_, v)| v.arn.clone()).collect(),
        kept_for_rollback,
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::changes::FunctionChange;
    use crate::plan::deployed::{DeployedMachine, MachineVersion};
    use serde_json::json;

    const ARN: &str = "arn:aws:states:eu-west-1:1:stateMachine:p";

    fn calling(functions: &[&str]) -> Value {
        let states: serde_json::Map<String, Value> = functions
            .iter()
            .map(|f| {
                (
                    f.to_string(),
                    json!({"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                           "Parameters": {"FunctionName": format!("arn:aws:lambda:eu-west-1:1:function:{f}:1")},
                           "End": true}),
                )
            })
            .collect();
        json!({"StartAt": functions[0], "States": states})
    }

    fn deployment(versions: &[(u64, &[&str])], served: u64) -> Deployment {
        Deployment {
            machine: Some(DeployedMachine {
                arn: ARN.into(),
                role_arn: String::new(),
                definition: json!({}),
                alias_version_arn: Some(format!("{ARN}:{served}")),
                logging: json!({}),
                tracing: false,
                tags: Default::default(),
                served_since_ms: None,
            }),
            versions: versions
                .iter()
                .map(|(n, functions)| MachineVersion {
                    number: *n,
                    arn: format!("{ARN}:{n}"),
                    definition: Some(calling(functions)),
                })
                .collect(),
            ..Deployment::default()
        }
    }

    fn deleting(names: &[&str]) -> ChangeSet {
        ChangeSet {
            machine: MachineAction::Update { reasons: vec![] },
            ecs_tasks: vec![],
            children: vec![],
            clashes: vec![],
            definition: json!({}),
            structure: Default::default(),
            deployed_run: None,
            operations: Default::default(),
            retention: Retention::default(),
            functions: names
                .iter()
                .map(|n| FunctionChange {
                    name: n.to_string(),
                    state: n.to_string(),
                    action: FunctionAction::Delete,
                    version: None,
                })
                .collect(),
        }
    }

    #[test]
    fn a_removed_task_s_function_stays_while_a_kept_version_calls_it() {
        // v3 (served) calls a and b; v2 calls a, b, old; v1 calls ancient.
        let deployed = deployment(
            &[(3, &["a", "b"]), (2, &["a", "b", "old"]), (1, &["ancient"])],
            3,
        );
        let mut changes = deleting(&["old", "ancient"]);
        retain(&mut changes, &deployed, 3);
        // Kept: the new version, v3, v2. v1 goes, and ancient with it; old stays for v2.
        let deleted: Vec<&str> = changes.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(deleted, ["ancient"]);
        assert_eq!(changes.retention.kept_for_rollback, ["old"]);
        assert_eq!(changes.retention.deleted_versions, [format!("{ARN}:1")]);
    }

    #[test]
    fn keep_one_keeps_only_the_new_version_once_the_alias_moves_to_it() {
        let deployed = deployment(&[(2, &["a", "old"]), (1, &["a", "old"])], 2);
        let mut changes = deleting(&["old"]);
        retain(&mut changes, &deployed, 1);
        assert!(changes.retention.kept_for_rollback.is_empty());
        assert_eq!(changes.functions.len(), 1, "old is deleted");
        assert_eq!(
            changes.retention.deleted_versions,
            [format!("{ARN}:2"), format!("{ARN}:1")]
        );
    }

    #[test]
    fn the_served_version_is_never_deleted_and_keep_one_keeps_only_it() {
        let deployed = deployment(&[(3, &["a"]), (2, &["a", "old"]), (1, &["a"])], 2);
        let mut changes = deleting(&["old"]);
        changes.machine = MachineAction::Keep;
        retain(&mut changes, &deployed, 1);
        assert_eq!(changes.retention.kept_for_rollback, ["old"], "v2 is served");
        assert_eq!(
            changes.retention.deleted_versions,
            [format!("{ARN}:1")],
            "v3 is the newest, v2 served"
        );
    }
}
