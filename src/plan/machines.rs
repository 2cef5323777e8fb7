//! The machine's definitions: one, or the root and its children where one machine would
//! pass a limit of Step Functions (definition bytes, history events).

use serde_json::Value;

use super::definition::arns;
use super::definition::asl::{self, ChildStart, ExecutionFrom, MachineSpec, TaskState};
use super::definition::names::{self, Alphabet, NameRequest};
use super::ecs::RunnerChoiceMade;
use super::shape::sp_tree::SpTree;
use super::shape::split;
use super::{ChildMachine, PlannedTask, DEFINITION_MAX_BYTES, VERSION_SUFFIX_MAX_BYTES};
use crate::config::Runner;

/// Step Functions' limit on one execution's history.
const EXECUTION_EVENTS_MAX: usize = 25_000;

/// What a machine may hold: 5 % of the definition limit spare (the estimate of a Task
/// state's bytes is generous already), and a fifth of the event limit for retries.
const SPLIT_BUDGET: split::Budget = split::Budget {
    bytes: DEFINITION_MAX_BYTES / 20 * 19,
    events: EXECUTION_EVENTS_MAX / 5 * 4,
};

/// History events of one Task state that runs once: entered, scheduled, started,
/// succeeded, exited (an ECS task also submitted), and one retry's scheduled, started and
/// failed.
fn task_events(runner: Runner) -> usize {
    match runner {
        Runner::Lambda => 5 + 3,
        Runner::Ecs => 6 + 3,
    }
}

/// The machine's definitions: one, or the root and its children where one would pass a
/// limit of Step Functions.
pub(super) struct Machines<'a> {
    pub(super) machine_name: &'a str,
    pub(super) region_account: Option<(&'a str, &'a str)>,
    pub(super) tree: &'a SpTree,
    pub(super) tasks: &'a [PlannedTask],
    pub(super) task_states: &'a [TaskState<'a>],
    pub(super) runners: &'a [RunnerChoiceMade],
    pub(super) labels: &'a [&'a str],
    /// The root's spec, without children.
    pub(super) spec: MachineSpec<'a>,
}

impl Machines<'_> {
    pub(super) fn render(&self) -> (Value, Vec<ChildMachine>) {
        let costs: Vec<split::Cost> = self
            .task_states
            .iter()
            .zip(self.runners)
            .map(|(task, runner)| split::Cost {
                bytes: asl::task_bytes(&self.spec, task) + VERSION_SUFFIX_MAX_BYTES,
                events: task_events(runner.runner),
            })
            .collect();
        let namespaces: Vec<&str> = self
            .tasks
            .iter()
            .map(|t| {
                t.nodes
                    .first()
                    .and_then(|n| n.split_once('.'))
                    .map_or("", |(namespace, _)| namespace)
            })
            .collect();
        let facts = split::TaskFacts {
            cost: &costs,
            namespace: &namespaces,
            label: self.labels,
        };
        let layout = split::split(self.tree, &facts, SPLIT_BUDGET);
        if layout.children.is_empty() {
            return (asl::render(&layout.root, &self.spec), Vec::new());
        }
        let child_names = self.child_names(&layout.children);
        let references: Vec<String> = child_names
            .iter()
            .map(|name| match self.region_account {
                Some((region, account)) => arns::state_machine(region, account, name),
                None => name.clone(),
            })
            .collect();
        let state_names = start_state_names(&child_names);
        let starts: Vec<ChildStart> = state_names
            .chunks(4)
            .zip(&references)
            .map(|(names, machine)| ChildStart {
                state: &names[0],
                failed: &names[1],
                fail: &names[2],
                not_started: &names[3],
                machine,
            })
            .collect();
        let root = asl::render(
            &layout.root,
            &MachineSpec {
                children: &starts,
                ..self.spec.clone()
            },
        );
        let children = layout
            .children
            .iter()
            .zip(&child_names)
            .zip(&starts)
            .map(|((child, name), start)| {
                let tasks = child.part.tasks();
                let definition = asl::render(
                    &child.part,
                    &MachineSpec {
                        comment: format!(
                            "kedro-sfn: {} tasks of {}, started by its state {}",
                            tasks.len(),
                            self.machine_name,
                            start.state
                        ),
                        execution: ExecutionFrom::Input,
                        ..self.spec.clone()
                    },
                );
                let definition_text = serde_json::to_string(&definition).unwrap_or_default();
                ChildMachine {
                    name: name.clone(),
                    arn: self
                        .region_account
                        .map(|(region, account)| arns::state_machine(region, account, name)),
                    started_by: start.state.to_string(),
                    tasks: tasks.iter().map(|&t| self.tasks[t].state.clone()).collect(),
                    bytes: definition_text.len(),
                    definition_text,
                }
            })
            .collect();
        (root, children)
    }

    /// The children's machine names: legal, distinct, under the root's prefix.
    fn child_names(&self, children: &[split::ChildPart]) -> Vec<String> {
        let requests: Vec<NameRequest> = children
            .iter()
            .map(|c| NameRequest {
                readable: c.label.clone(),
                identity: c.label.clone(),
            })
            .collect();
        names::unique_names(
            &requests,
            &names::child_prefix(self.machine_name),
            Alphabet::Function,
            names::STATE_MACHINE_NAME_MAX,
        )
    }
}

/// The root's four states per child (start it, its failure, the error, not started), in
/// that order, named together.
fn start_state_names(child_names: &[String]) -> Vec<String> {
    let requests: Vec<NameRequest> = child_names
        .iter()
        .flat_map(|name| {
            ["Run {}", "{} failed", "{} error", "{} did not start"].map(|pattern| {
                let readable = pattern.replace("{}", name);
                NameRequest {
                    identity: readable.clone(),
                    readable,
                }
            })
        })
        .collect();
    names::unique_names(&requests, "", Alphabet::State, names::STATE_NAME_MAX)
}
