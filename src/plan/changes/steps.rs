//! The deploy's policy, pure: which resources each step of a deploy touches and what every
//! machine is sent once function versions are known, in the order that keeps the running
//! version serving whatever fails. `aws::deploy` only executes these steps:
//!
//! 1. functions created or updated (each publishes a version), task definitions registered;
//! 2. each new version probed (it loads its project) before anything serves it;
//! 3. child machines, then the root, published where they changed (pinned to the versions);
//! 4. the aliases moved;
//! 5. only then, what left the pipeline: functions, task definition families, children.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::child::machine_differences;
use super::ecs::pin_task_definitions;
use super::target::{FunctionAction, Target};
use super::{ChangeSet, ChildAction};
use crate::plan::deployed::{qualify_functions, DeployedMachine};
use crate::plan::ecs::EcsTaskSpec;
use crate::plan::functions::FunctionSpec;
use crate::plan::{Plan, PlannedTask};

/// What a deploy changes, by step; decided before the first call.
#[derive(Debug, Clone)]
pub struct Steps<'a> {
    /// Step 1: functions to create or update, in the plan's order.
    pub functions: Vec<(&'a FunctionSpec, FunctionAction)>,
    /// Step 1: task definitions to register (new or changed content).
    pub task_definitions: Vec<&'a EcsTaskSpec>,
    /// Step 2: the tasks whose function gets a new version, to probe.
    pub probes: Vec<&'a PlannedTask>,
    /// Step 5.
    pub deletions: Deletions,
}

/// What goes last, when no version in service names it any more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deletions {
    pub functions: Vec<String>,
    pub task_definition_families: Vec<String>,
    pub children: Vec<String>,
}

/// The steps of `changes` for `plan`.
pub fn steps<'a>(plan: &'a Plan, changes: &ChangeSet) -> Steps<'a> {
    let changing = |action: &FunctionAction| {
        matches!(
            action,
            FunctionAction::Create | FunctionAction::Update { .. }
        )
    };
    let actions: BTreeMap<&str, &FunctionAction> = changes
        .functions
        .iter()
        .map(|f| (f.name.as_str(), &f.action))
        .collect();
    let functions: Vec<(&FunctionSpec, FunctionAction)> = plan
        .functions
        .iter()
        .filter_map(|spec| {
            let action = *actions.get(spec.name.as_str())?;
            changing(action).then(|| (spec, action.clone()))
        })
        .collect();
    let families: BTreeSet<&str> = changes
        .ecs_tasks
        .iter()
        .filter(|c| changing(&c.action))
        .map(|c| c.family.as_str())
        .collect();
    let task_definitions = plan
        .ecs_tasks
        .iter()
        .filter(|spec| families.contains(spec.family.as_str()))
        .collect();
    let put: BTreeSet<&str> = functions
        .iter()
        .map(|(spec, _)| spec.name.as_str())
        .collect();
    let probes = plan
        .tasks
        .iter()
        .filter(|task| put.contains(task.function.as_str()))
        .collect();
    let deletions = Deletions {
        functions: changes
            .functions
            .iter()
            .filter(|f| f.action == FunctionAction::Delete)
            .map(|f| f.name.clone())
            .collect(),
        task_definition_families: changes
            .ecs_tasks
            .iter()
            .filter(|t| t.action == FunctionAction::Delete)
            .map(|t| t.family.clone())
            .collect(),
        children: changes
            .children
            .iter()
            .filter(|c| c.action == ChildAction::Delete)
            .map(|c| c.name.clone())
            .collect(),
    };
    Steps {
        functions,
        task_definitions,
        probes,
        deletions,
    }
}

/// The event a probe sends a task's new version: the handler loads the project, the task's
/// nodes and the env's catalog, and runs nothing.
pub fn probe_event(plan: &Plan, task: &PlannedTask) -> Value {
    json!({"probe": true, "pipeline": plan.pipeline, "env": plan.env, "nodes": task.nodes})
}

/// A definition as a machine is sent it: every Task pinned to the function version and
/// task definition revision it runs.
pub fn pinned(
    definition: &Value,
    versions: &BTreeMap<&str, u64>,
    revisions: &BTreeMap<&str, u64>,
) -> Value {
    let mut definition = qualify_functions(definition, versions);
    pin_task_definitions(&mut definition, revisions);
    definition
}

/// The version a child machine keeps (`ARN:version`, the one the served root starts), or
/// `None` when it must be published: it is new, or its pinned definition or settings differ.
pub fn kept_child(
    current: Option<&DeployedMachine>,
    served: Option<u64>,
    definition: &Value,
    target: &Target,
) -> Option<String> {
    let current = current?;
    let version = served?;
    machine_differences(current, definition, target)
        .is_empty()
        .then(|| format!("{}:{version}", current.arn))
}

/// Whether the root is published: the change set says so, or, kept, its pinned definition
/// differs from the served one (a function got a new version).
pub fn root_changes(
    changes: &ChangeSet,
    deployed: Option<&DeployedMachine>,
    definition: &Value,
) -> bool {
    match &changes.machine {
        super::MachineAction::Keep => deployed.is_some_and(|m| &m.definition != definition),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::pipeline::graph::tests::node;
    use crate::pipeline::model::{Dataset, PipelineDoc};
    use crate::plan::changes::{FunctionChange, MachineAction, StructuralDiff};

    fn change_set(functions: Vec<FunctionChange>, machine: MachineAction) -> ChangeSet {
        ChangeSet {
            functions,
            ecs_tasks: vec![],
            machine,
            children: vec![],
            clashes: vec![],
            definition: json!({}),
            structure: StructuralDiff::default(),
            deployed_run: None,
            operations: Default::default(),
            retention: Default::default(),
        }
    }

    fn deployed(definition: Value) -> DeployedMachine {
        DeployedMachine {
            arn: "arn:aws:states:eu-west-1:1:stateMachine:p".into(),
            role_arn: "arn:aws:iam::1:role/r".into(),
            definition,
            alias_version_arn: None,
            logging: json!({}),
            tracing: false,
            tags: BTreeMap::new(),
            served_since_ms: None,
        }
    }

    fn planned() -> Plan {
        let mut doc = PipelineDoc::for_tests(vec![
            node("a", &[], &["x"]),
            node("b", &["x"], &["y"]),
            node("c", &["x"], &["z"]),
        ]);
        for name in ["x", "y", "z"] {
            doc.datasets.insert(
                name.into(),
                Dataset {
                    kind: "pandas.CSVDataset".into(),
                    filepath: Some(format!("s3://b/{name}.csv")),
                    versioned: false,
                    default: false,
                },
            );
        }
        let mut config = Config::default();
        config.file.group_by = Some(crate::config::GroupBy::None);
        crate::plan::plan(&doc, &config).expect("a plan")
    }

    fn change(name: &str, action: FunctionAction) -> FunctionChange {
        FunctionChange {
            name: name.into(),
            state: String::new(),
            action,
            version: None,
        }
    }

    #[test]
    fn only_created_and_updated_functions_are_put_and_probed_and_deletions_come_last() {
        let plan = planned();
        let names: Vec<String> = plan.functions.iter().map(|f| f.name.clone()).collect();
        let changes = change_set(
            vec![
                change(&names[0], FunctionAction::Keep),
                change(&names[1], FunctionAction::Create),
                change(
                    &names[2],
                    FunctionAction::Update {
                        code: true,
                        configuration: vec![],
                    },
                ),
                change("p-gone", FunctionAction::Delete),
            ],
            MachineAction::Keep,
        );
        let steps = steps(&plan, &changes);
        let put: Vec<&str> = steps
            .functions
            .iter()
            .map(|(s, _)| s.name.as_str())
            .collect();
        assert_eq!(put, [names[1].as_str(), names[2].as_str()]);
        let probed: Vec<&str> = steps.probes.iter().map(|t| t.function.as_str()).collect();
        assert_eq!(probed, [names[1].as_str(), names[2].as_str()]);
        assert_eq!(steps.deletions.functions, ["p-gone"]);
        assert!(steps.task_definitions.is_empty());
        let event = probe_event(&plan, steps.probes[0]);
        assert_eq!(event["probe"], true);
        assert_eq!(event["nodes"], json!(steps.probes[0].nodes));
    }

    #[test]
    fn a_kept_root_is_published_when_its_pinned_definition_moved() {
        let changes = change_set(vec![], MachineAction::Keep);
        let deployed = deployed(json!({"StartAt": "a"}));
        assert!(!root_changes(
            &changes,
            Some(&deployed),
            &json!({"StartAt": "a"})
        ));
        assert!(root_changes(
            &changes,
            Some(&deployed),
            &json!({"StartAt": "b"})
        ));
        assert!(!root_changes(&changes, None, &json!({"StartAt": "a"})));
    }
}
