//! The change set: what deploy must do to turn what is deployed into what is planned.
//! Pure: the deployment comes in as plain data (read by `aws::deployment`), the change set
//! goes out as plain data (applied by `aws::apply`, rendered by `report::diff`).

pub mod child;
pub mod ecs;
pub mod retained;
pub mod steps;
pub mod target;

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use crate::plan::changes::child::{
    child_changes, expected_child_versions, machine_differences, pin_children,
};
pub use crate::plan::changes::child::{ChildAction, ChildChange};
use crate::plan::changes::ecs::{ecs_changes, pin_task_definitions, EcsTaskChange};
pub use crate::plan::changes::target::{image_digest, FunctionAction, Target};
pub use crate::plan::definition::asl::tasks_of;
pub use crate::plan::deployed::{
    function_name_of, pinned_versions, qualify_functions, DeployedFunction, DeployedMachine,
    Deployment,
};
use crate::plan::functions::{FunctionRecord, FunctionSpec};
use crate::plan::operations::changes::{self as operation_changes, MachineRef};
pub use crate::plan::operations::changes::{OperationAction, OperationsChanges};
use crate::plan::Plan;

/// One function's change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionChange {
    pub name: String,
    /// The Task state it serves (for deletions: the one it served).
    pub state: String,
    #[serde(flatten)]
    pub action: FunctionAction,
    /// The version Task states will name: the current one when kept, else the next one
    /// Lambda will publish.
    pub version: Option<u64>,
}

/// What happens to the state machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum MachineAction {
    Create,
    Update { reasons: Vec<String> },
    Keep,
}

/// The structural difference between the deployed and the planned machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StructuralDiff {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// `(old, new)`: the same nodes under another state name.
    pub renamed: Vec<(String, String)>,
    /// Tasks whose nodes changed.
    pub nodes_changed: Vec<String>,
    /// Tasks whose own Kedro dependencies changed: they read other tasks' outputs than
    /// before.
    pub dependencies_changed: Vec<String>,
    /// For each of those, the tasks it reads now and did not, and the ones it no longer
    /// reads (known only where the deployed definition recorded what it read).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub reads_changed: BTreeMap<String, ReadsChange>,
    /// Tasks that wait for other tasks than before only because the planner grouped the
    /// same dependencies into other Parallel states: a change of the machine, not of them.
    pub regrouped: Vec<String>,
    /// Tasks whose function changes (code or settings).
    pub function_changed: Vec<String>,
}

/// How one task's Kedro dependencies changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReadsChange {
    pub added: Vec<String>,
    pub dropped: Vec<String>,
}

impl StructuralDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.removed.is_empty()
            && self.renamed.is_empty()
            && self.nodes_changed.is_empty()
            && self.dependencies_changed.is_empty()
            && self.regrouped.is_empty()
            && self.function_changed.is_empty()
    }
}

/// Everything deploy will do, decided before it does anything.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChangeSet {
    pub functions: Vec<FunctionChange>,
    /// The ECS task definitions, of tasks that run on ECS Fargate.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ecs_tasks: Vec<EcsTaskChange>,
    pub machine: MachineAction,
    /// The child machines, where the pipeline is split.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<ChildChange>,
    /// Functions named like planned ones that this state machine does not own: the deploy
    /// is refused rather than overwrite them.
    pub clashes: Vec<String>,
    /// The definition deploy will send, Task states naming function versions.
    pub definition: Value,
    pub structure: StructuralDiff,
    /// One run of the deployed machine, expected with the plan's durations and prices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployed_run: Option<crate::plan::estimate::Estimate>,
    /// The schedules and the failure alert.
    #[serde(skip_serializing_if = "OperationsChanges::is_empty")]
    pub operations: OperationsChanges,
    /// Old versions of the state machine deleted, and what is kept for a rollback to the
    /// versions kept.
    #[serde(skip_serializing_if = "retained::Retention::is_empty")]
    pub retention: retained::Retention,
}

impl ChangeSet {
    /// True when deploy has nothing to do.
    pub fn is_empty(&self) -> bool {
        self.machine == MachineAction::Keep
            && self.actions().all(|a| a == &FunctionAction::Keep)
            && self.children.iter().all(|c| c.action == ChildAction::Keep)
            && self.operations.is_empty()
            && self.retention.is_empty()
    }

    /// What happens to each function and task definition.
    fn actions(&self) -> impl Iterator<Item = &FunctionAction> {
        self.functions
            .iter()
            .map(|f| &f.action)
            .chain(self.ecs_tasks.iter().map(|t| &t.action))
    }

    /// How many resources change.
    pub fn count(&self) -> usize {
        let changed = self
            .actions()
            .filter(|a| *a != &FunctionAction::Keep)
            .count();
        let children = self
            .children
            .iter()
            .filter(|c| c.action != ChildAction::Keep)
            .count();
        changed
            + children
            + usize::from(self.machine != MachineAction::Keep)
            + self.operations.count()
            + self.retention.deleted_versions.len()
    }

    /// Counts per action, for summaries.
    pub fn tally(&self) -> BTreeMap<&'static str, usize> {
        let mut tally = BTreeMap::new();
        for action in self.actions() {
            let key = match action {
                FunctionAction::Create => "create",
                FunctionAction::Update { .. } => "update",
                FunctionAction::Keep => "keep",
                FunctionAction::Delete => "delete",
            };
            *tally.entry(key).or_insert(0) += 1;
        }
        tally
    }
}

/// The tags a planned function carries: kedro-sfn's and the configured ones.
pub fn function_tags(spec: &FunctionSpec, target: &Target) -> BTreeMap<String, String> {
    let mut tags = target.extra_tags.clone();
    tags.extend(spec.tags.clone());
    tags
}

/// The record a planned function's description carries.
pub fn function_record(spec: &FunctionSpec, plan: &Plan, target: &Target) -> FunctionRecord {
    FunctionRecord::new(
        &plan.state_machine.name,
        target.source_digest.as_deref(),
        &function_tags(spec, target),
    )
}

/// Each planned function created, updated or kept, and each owned function of a task that
/// left the pipeline deleted; a function of the plan's name that another owner holds is a
/// clash.
fn function_changes(
    plan: &Plan,
    deployment: &Deployment,
    target: &Target,
    clashes: &mut Vec<String>,
) -> Vec<FunctionChange> {
    let machine_name = &plan.state_machine.name;
    let mut functions = Vec::new();
    let planned: BTreeSet<&str> = plan.functions.iter().map(|f| f.name.as_str()).collect();
    for spec in &plan.functions {
        let change = match deployment.functions.get(&spec.name) {
            None => FunctionChange {
                name: spec.name.clone(),
                state: spec.state.clone(),
                action: FunctionAction::Create,
                version: Some(1),
            },
            Some(current) => {
                if current.owner() != Some(machine_name.as_str()) {
                    clashes.push(spec.name.clone());
                }
                let (code, configuration) = function_differences(spec, current, plan, target);
                let action =
                    if !code && configuration.is_empty() && current.latest_version.is_some() {
                        FunctionAction::Keep
                    } else {
                        FunctionAction::Update {
                            code,
                            configuration,
                        }
                    };
                let version = match action {
                    FunctionAction::Keep => current.latest_version,
                    _ => Some(current.latest_version.unwrap_or(0) + 1),
                };
                FunctionChange {
                    name: spec.name.clone(),
                    state: spec.state.clone(),
                    action,
                    version,
                }
            }
        };
        functions.push(change);
    }
    for (name, current) in &deployment.functions {
        if planned.contains(name.as_str()) || current.owner() != Some(machine_name.as_str()) {
            continue;
        }
        functions.push(FunctionChange {
            name: name.clone(),
            state: current
                .tags
                .as_ref()
                .and_then(|tags| tags.get(crate::plan::functions::TASK_TAG))
                .cloned()
                .unwrap_or_default(),
            action: FunctionAction::Delete,
            version: None,
        });
    }
    functions
}

/// Compares the plan with the deployment.
pub fn changes(plan: &Plan, deployment: &Deployment, target: &Target) -> ChangeSet {
    let mut clashes = Vec::new();
    let functions = function_changes(plan, deployment, target, &mut clashes);
    let versions: BTreeMap<&str, u64> = functions
        .iter()
        .filter_map(|f| Some((f.name.as_str(), f.version?)))
        .collect();
    let ecs_tasks = ecs_changes(plan, &deployment.task_definitions, target, &mut clashes);
    let mut definition = qualify_functions(&plan.definition, &versions);
    let revisions: BTreeMap<&str, u64> = ecs_tasks
        .iter()
        .filter_map(|t| Some((t.family.as_str(), t.revision?)))
        .collect();
    pin_task_definitions(&mut definition, &revisions);
    let children = child_changes(
        plan,
        deployment,
        target,
        &versions,
        &revisions,
        &mut clashes,
    );
    pin_children(
        &mut definition,
        &expected_child_versions(plan, deployment, &children),
    );
    let machine = match &deployment.machine {
        None => MachineAction::Create,
        Some(current) => {
            let reasons = machine_differences(current, &definition, target);
            if reasons.is_empty() {
                MachineAction::Keep
            } else {
                MachineAction::Update { reasons }
            }
        }
    };
    let whole = |root: &Value| -> Value {
        crate::plan::definition::asl::inline_children(root, &|reference| {
            let name = crate::plan::definition::arns::state_machine_name_of(reference);
            children
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.definition.clone())
        })
    };
    let planned_whole = if children.is_empty() {
        definition.clone()
    } else {
        whole(&definition)
    };
    let deployed_whole = deployment.whole_definition();
    let mut structure = structural_diff(deployed_whole.as_ref(), &planned_whole, &functions);
    structure.function_changed.extend(
        ecs_tasks
            .iter()
            .filter(|t| matches!(t.action, FunctionAction::Update { .. }))
            .map(|t| t.state.clone()),
    );
    let deployed_run = deployed_whole.as_ref().map(|whole| {
        crate::plan::estimate::deployed(
            whole,
            &deployment.functions,
            &deployment.task_definitions,
            &plan.timing.durations,
            &plan.timing.prices,
        )
    });
    let operations = operation_changes::changes(
        &plan.operations,
        &deployment.operations,
        MachineRef {
            machine: &plan.state_machine.name,
            arn: deployment.machine.as_ref().map(|m| m.arn.as_str()),
            alias: &target.alias,
            region: &target.region,
        },
    );
    clashes.extend(operations.clashes.iter().cloned());
    let mut set = ChangeSet {
        functions,
        ecs_tasks,
        machine,
        children,
        clashes,
        definition,
        structure,
        deployed_run,
        operations,
        retention: retained::Retention::default(),
    };
    retained::retain(&mut set, deployment, target.keep_versions);
    set
}

/// The configuration change that is the function's tags: applied by retagging, not by
/// UpdateFunctionConfiguration.
pub const TAGS_CHANGE: &str = "tags";
/// The configuration change of a function without a record (made by an older kedro-sfn):
/// its description and tags are written.
pub const RECORD_CHANGE: &str = "kedro-sfn record";

/// Which of a function's settings differ from the plan (`code` for the image).
fn function_differences(
    spec: &FunctionSpec,
    current: &DeployedFunction,
    plan: &Plan,
    target: &Target,
) -> (bool, Vec<String>) {
    let new_image = target
        .image_uri
        .as_deref()
        .and_then(image_digest)
        .is_some_and(|digest| {
            let runs = |uri: &String| image_digest(uri) == Some(digest);
            current.code_sha256.as_deref() != Some(digest)
                && !current.image_uri.as_ref().is_some_and(runs)
        });
    let recorded_source = current.record.as_ref().and_then(|r| r.source.as_deref());
    let new_source = target
        .source_digest
        .as_deref()
        .is_some_and(|digest| recorded_source != Some(digest));
    let code = new_image || new_source || current.architecture != spec.architecture.to_string();
    let mut configuration = Vec::new();
    if current.memory_mb != spec.memory_mb {
        configuration.push(format!(
            "memory {} → {} MB",
            current.memory_mb, spec.memory_mb
        ));
    }
    if current.timeout_s != spec.timeout_s {
        configuration.push(format!(
            "timeout {} → {} s",
            current.timeout_s, spec.timeout_s
        ));
    }
    if current.ephemeral_storage_mb != spec.ephemeral_storage_mb {
        configuration.push(format!(
            "disk {} → {} MB",
            current.ephemeral_storage_mb, spec.ephemeral_storage_mb
        ));
    }
    if current.environment != spec.environment {
        configuration.push("environment".to_string());
    }
    if let Some(role) = &target.lambda_role_arn {
        if role != &current.role_arn {
            configuration.push("role".to_string());
        }
    }
    let wanted = function_record(spec, plan, target);
    match &current.record {
        Some(record) if record.tags_hash != wanted.tags_hash => {
            configuration.push(TAGS_CHANGE.to_string())
        }
        Some(_) => {}
        // Made by an older kedro-sfn (owned by tag): the record is written once.
        None => configuration.push(RECORD_CHANGE.to_string()),
    }
    (code, configuration)
}

fn structural_diff(
    deployed: Option<&Value>,
    planned: &Value,
    functions: &[FunctionChange],
) -> StructuralDiff {
    let old = deployed.map(tasks_of).unwrap_or_default();
    let new = tasks_of(planned);
    let mut diff = StructuralDiff::default();
    let mut added: Vec<&String> = new.keys().filter(|k| !old.contains_key(*k)).collect();
    let mut removed: Vec<&String> = old.keys().filter(|k| !new.contains_key(*k)).collect();
    // Same nodes, new name: a rename, not a removal and an addition.
    let mut renamed = Vec::new();
    removed.retain(|old_name| {
        let nodes: BTreeSet<&String> = old[*old_name].0.iter().collect();
        match added
            .iter()
            .position(|n| new[*n].0.iter().collect::<BTreeSet<_>>() == nodes)
        {
            Some(index) => {
                renamed.push(((*old_name).clone(), added.remove(index).clone()));
                false
            }
            None => true,
        }
    });
    let renamed_to: BTreeMap<&String, &String> = renamed.iter().map(|(o, n)| (o, n)).collect();
    let as_new = |names: &BTreeSet<String>| -> BTreeSet<String> {
        names
            .iter()
            .map(|b| renamed_to.get(b).copied().unwrap_or(b).clone())
            .collect()
    };
    let old_reads = deployed.map(reads_by_task).unwrap_or_default();
    let new_reads = reads_by_task(planned);
    let old_name_of: BTreeMap<&String, &String> = renamed.iter().map(|(o, n)| (n, o)).collect();
    for (name, (nodes, waits)) in &new {
        let old_name = old_name_of.get(name).copied().unwrap_or(name);
        let Some((old_nodes, old_waits)) = old.get(old_name) else {
            continue;
        };
        if nodes != old_nodes {
            diff.nodes_changed.push(name.clone());
        }
        let reads = new_reads.get(name).cloned().flatten().unwrap_or_default();
        let change = match old_reads.get(old_name).cloned().flatten() {
            Some(before) => {
                let before = as_new(&before);
                ReadsChange {
                    added: reads.difference(&before).cloned().collect(),
                    dropped: before.difference(&reads).cloned().collect(),
                }
            }
            // Made before dependencies were recorded: changed when it now reads a task the
            // deployed machine did not run before it.
            None => {
                let before: BTreeSet<String> =
                    as_new(&runs_before(&old, old_name).into_iter().cloned().collect());
                ReadsChange {
                    added: reads.difference(&before).cloned().collect(),
                    dropped: Vec::new(),
                }
            }
        };
        if !change.added.is_empty() || !change.dropped.is_empty() {
            diff.dependencies_changed.push(name.clone());
            diff.reads_changed.insert(name.clone(), change);
        } else if as_new(old_waits) != *waits {
            diff.regrouped.push(name.clone());
        }
    }
    diff.added = added.into_iter().cloned().collect();
    diff.removed = removed.into_iter().cloned().collect();
    diff.renamed = renamed;
    diff.function_changed = functions
        .iter()
        .filter(|f| matches!(f.action, FunctionAction::Update { .. }))
        .map(|f| f.state.clone())
        .collect();
    diff
}

/// Each Task state's recorded Kedro dependencies (`None`: not recorded).
fn reads_by_task(definition: &Value) -> BTreeMap<String, Option<BTreeSet<String>>> {
    crate::plan::definition::asl::task_states(definition)
        .into_iter()
        .map(|(name, state)| {
            (
                name.to_string(),
                crate::plan::definition::asl::reads_of(state),
            )
        })
        .collect()
}

/// Every task that runs before `name`, directly or not, by the machine's order.
fn runs_before<'a>(
    order: &'a BTreeMap<String, (Vec<String>, BTreeSet<String>)>,
    name: &str,
) -> BTreeSet<&'a String> {
    let mut seen = BTreeSet::new();
    let mut stack: Vec<&String> = order
        .get(name)
        .map(|(_, w)| w.iter().collect())
        .unwrap_or_default();
    while let Some(waited) = stack.pop() {
        if seen.insert(waited) {
            stack.extend(
                order
                    .get(waited)
                    .map(|(_, w)| w.iter())
                    .into_iter()
                    .flatten(),
            );
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::functions::OWNER_TAG;
    use serde_json::json;

    #[test]
    fn an_image_is_unchanged_when_its_digest_or_its_uri_says_so() {
        let dag = crate::synthetic::random_dag(1, 1, 0.0, &mut crate::synthetic::Rng::new(1));
        let doc = crate::synthetic::doc_from_dag(&dag, &|i| format!("node_{i}"));
        let plan = crate::plan::draft(&doc, &crate::config::Config::default()).expect("plans");
        let digest = "ab".repeat(32);
        let uri = format!("r.example/repo@sha256:{digest}");
        let target = Target::with_image(Some(uri.clone()));
        let spec = &plan.functions[0];
        let mut deployed = DeployedFunction {
            name: spec.name.clone(),
            code_sha256: Some(digest.clone()),
            image_uri: None,
            memory_mb: spec.memory_mb,
            timeout_s: spec.timeout_s,
            ephemeral_storage_mb: spec.ephemeral_storage_mb,
            architecture: spec.architecture.to_string(),
            environment: spec.environment.clone(),
            role_arn: String::new(),
            record: Some(function_record(spec, &plan, &target)),
            tags: None,
            latest_version: Some(3),
        };
        let action = |deployed: &DeployedFunction| {
            let deployment = Deployment {
                operations: Default::default(),
                versions: Vec::new(),
                machine: None,
                functions: BTreeMap::from([(deployed.name.clone(), deployed.clone())]),
                task_definitions: BTreeMap::new(),
                children: BTreeMap::new(),
            };
            changes(&plan, &deployment, &target).functions[0]
                .action
                .clone()
        };
        assert_eq!(action(&deployed), FunctionAction::Keep);
        // An emulator's CodeSha256 (a hash of the URI): the URI read by GetFunction decides.
        deployed.code_sha256 = Some("0".repeat(64));
        deployed.image_uri = Some(uri);
        assert_eq!(action(&deployed), FunctionAction::Keep);
        deployed.image_uri = Some(format!("r.example/repo@sha256:{}", "cd".repeat(32)));
        assert!(matches!(
            action(&deployed),
            FunctionAction::Update { code: true, .. }
        ));
    }

    #[test]
    fn the_ownership_tag_wins_over_the_record_once_read() {
        let mut function = DeployedFunction {
            name: "m-a".into(),
            code_sha256: None,
            memory_mb: 128,
            timeout_s: 3,
            ephemeral_storage_mb: 512,
            architecture: "x86_64".into(),
            environment: BTreeMap::new(),
            role_arn: String::new(),
            image_uri: None,
            record: Some(FunctionRecord::new("m", None, &BTreeMap::new())),
            tags: None,
            latest_version: None,
        };
        assert_eq!(function.owner(), Some("m"));
        function.tags = Some(BTreeMap::from([(
            OWNER_TAG.to_string(),
            "other".to_string(),
        )]));
        assert_eq!(function.owner(), Some("other"));
        function.tags = Some(BTreeMap::new());
        assert_eq!(function.owner(), None);
        function.record = None;
        function.tags = None;
        assert_eq!(function.owner(), None);
    }

    fn task(nodes: &[&str], next: Option<&str>) -> Value {
        let mut state = json!({"Type": "Task", "Parameters": {"FunctionName": "f", "Payload": {"nodes": nodes}}});
        match next {
            Some(n) => state["Next"] = json!(n),
            None => state["End"] = json!(true),
        }
        state
    }

    /// The definition as kedro-sfn writes it: each Task state's `Comment` records what it
    /// reads, here the tasks it directly waits for.
    fn recorded(definition: &Value) -> Value {
        fn record(machine: &mut Value, waits: &BTreeMap<String, (Vec<String>, BTreeSet<String>)>) {
            let Some(states) = machine.get_mut("States").and_then(Value::as_object_mut) else {
                return;
            };
            for (name, state) in states.iter_mut() {
                if let Some(branches) = state.get_mut("Branches").and_then(Value::as_array_mut) {
                    branches.iter_mut().for_each(|b| record(b, waits));
                } else if let Some((_, before)) = waits.get(name) {
                    let names: Vec<&str> = before.iter().map(String::as_str).collect();
                    state["Comment"] = json!(match names.as_slice() {
                        [] => "reads no other task's outputs".to_string(),
                        names => format!("reads the outputs of: {}", names.join(", ")),
                    });
                }
            }
        }
        let mut out = definition.clone();
        record(&mut out, &tasks_of(definition));
        out
    }

    #[test]
    fn tasks_know_what_runs_before_them() {
        let machine = json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Next": "c", "Branches": [
                {"StartAt": "a", "States": {"a": task(&["n1"], None)}},
                {"StartAt": "b", "States": {"b": task(&["n2"], None)}}]},
            "c": task(&["n3"], None)}});
        let tasks = tasks_of(&machine);
        assert_eq!(tasks["a"].1, BTreeSet::new());
        assert_eq!(
            tasks["c"].1,
            ["a", "b"].iter().map(|s| s.to_string()).collect()
        );
        assert_eq!(tasks["c"].0, vec!["n3".to_string()]);
    }

    #[test]
    fn a_task_added_upstream_changes_the_order_of_its_successor_only() {
        // a -> b -> c -> d becomes x -> a -> b -> c -> d: only a waits for something new.
        let old = json!({"StartAt": "a", "States": {
            "a": task(&["n1"], Some("b")), "b": task(&["n2"], Some("c")),
            "c": task(&["n3"], Some("d")), "d": task(&["n4"], None)}});
        let mut new = old.clone();
        new["StartAt"] = json!("x");
        new["States"]["x"] = task(&["n0"], Some("a"));
        // Deployed before dependencies were recorded: what ran before a decides.
        let diff = structural_diff(Some(&old), &recorded(&new), &[]);
        assert_eq!(diff.added, vec!["x".to_string()]);
        assert_eq!(diff.dependencies_changed, vec!["a".to_string()]);
    }

    #[test]
    fn renames_additions_and_order_changes_are_told_apart() {
        let old = json!({"StartAt": "a", "States": {"a": task(&["n1"], Some("b")), "b": task(&["n2"], None)}});
        let new = json!({"StartAt": "A", "States": {"A": task(&["n1"], Some("c")), "c": task(&["n3"], Some("b")), "b": task(&["n2"], None)}});
        let diff = structural_diff(Some(&recorded(&old)), &recorded(&new), &[]);
        assert_eq!(diff.renamed, vec![("a".to_string(), "A".to_string())]);
        assert_eq!(diff.added, vec!["c".to_string()]);
        assert!(diff.removed.is_empty());
        assert_eq!(diff.dependencies_changed, vec!["b".to_string()]);
    }

    #[test]
    fn a_regrouping_of_the_same_dependencies_is_not_a_changed_dependency() {
        // Deployed: a and b in parallel, then c, which reads a only. Planned: a, b, c in a
        // row, c still reading a only. b and c wait for other tasks; neither reads others.
        let old = recorded(&json!({"StartAt": "P", "States": {
            "P": {"Type": "Parallel", "Next": "c", "Branches": [
                {"StartAt": "a", "States": {"a": task(&["n1"], None)}},
                {"StartAt": "b", "States": {"b": task(&["n2"], None)}}]},
            "c": task(&["n3"], None)}}));
        let mut old = old;
        old["States"]["c"]["Comment"] = json!("reads the outputs of: a");
        let mut new = recorded(&json!({"StartAt": "a", "States": {
            "a": task(&["n1"], Some("b")), "b": task(&["n2"], Some("c")),
            "c": task(&["n3"], None)}}));
        new["States"]["b"]["Comment"] = json!("reads no other task's outputs");
        new["States"]["c"]["Comment"] = json!("reads the outputs of: a");
        let diff = structural_diff(Some(&old), &new, &[]);
        assert!(diff.dependencies_changed.is_empty(), "{diff:?}");
        assert_eq!(diff.regrouped, vec!["b".to_string(), "c".to_string()]);
        // And c reading b too is a changed dependency.
        new["States"]["c"]["Comment"] = json!("reads the outputs of: a, b");
        let diff = structural_diff(Some(&old), &new, &[]);
        assert_eq!(diff.dependencies_changed, vec!["c".to_string()]);
        assert_eq!(diff.regrouped, vec!["b".to_string()]);
    }

    #[test]
    fn function_names_get_their_version() {
        let mut machine = json!({"StartAt": "a", "States": {"a": task(&["n1"], None)}});
        machine["States"]["a"]["Parameters"]["FunctionName"] = json!("fn-a");
        let versions = BTreeMap::from([("fn-a", 7)]);
        let out = qualify_functions(&machine, &versions);
        assert_eq!(out["States"]["a"]["Parameters"]["FunctionName"], "fn-a:7");
        let arn = "arn:aws:lambda:eu-west-1:1:function:fn-a";
        machine["States"]["a"]["Parameters"]["FunctionName"] = json!(arn);
        let out = qualify_functions(&machine, &versions);
        assert_eq!(
            out["States"]["a"]["Parameters"]["FunctionName"],
            format!("{arn}:7")
        );
    }
}
