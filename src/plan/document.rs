//! `plan.json`: the plan for scripts, the action's outputs and reviewers' tools. One typed
//! document, serialized here only; a live plan adds the change set against the deployment.

use serde::Serialize;
use serde_json::Value;

use super::functions::FunctionSpec;
use super::{HistoryUse, Plan, PlannedTask, Schedule, StateMachineSpec};
use crate::config::GroupBy;
use crate::pipeline::check::Problem;
use crate::plan::changes::ChangeSet;
use crate::plan::estimate::{Estimate, Prices};

/// The format tag of `plan.json`.
pub const PLAN_FORMAT: &str = "kedro-sfn/plan@1";

/// `plan.json`, field for field in the order it is written.
#[derive(Debug, Serialize)]
pub struct PlanDocument<'a> {
    pub format: &'static str,
    pub project: &'a str,
    pub pipeline: &'a str,
    pub env: Option<&'a str>,
    pub group_by: GroupBy,
    /// What the plan was compared against: "empty deployment (--offline)", a live region.
    pub compared_against: &'a str,
    pub state_machine: &'a StateMachineSpec,
    /// The child machines the root starts (`state-machines/<name>.asl.json`), where one
    /// machine would pass Step Functions' limits.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub child_state_machines: &'a [super::ChildMachine],
    pub counts: Counts,
    pub schedule: &'a Schedule,
    /// One run of the planned machine: run time, longest path, cost.
    pub expected_run: &'a Estimate,
    /// What past executions contributed to the durations.
    pub history: &'a HistoryUse,
    /// The prices behind `expected_run`.
    pub prices: &'a Prices,
    pub tasks: &'a [PlannedTask],
    pub functions: &'a [FunctionSpec],
    /// The ECS task definitions (of tasks that run on ECS Fargate).
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    pub ecs_tasks: &'a [crate::plan::ecs::EcsTaskSpec],
    pub dependencies: Vec<Dependency<'a>>,
    pub warnings: &'a [Problem],
    /// The schedules and the failure alert, when any are configured.
    #[serde(skip_serializing_if = "no_operations")]
    pub operations: &'a super::operations::Operations,
    /// Only when compared with a live deployment.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<Comparison<'a>>,
}

/// Sizes, for a glance.
#[derive(Debug, Serialize)]
pub struct Counts {
    pub nodes: usize,
    pub tasks: usize,
    pub dependencies: usize,
}

/// One task that must end before another starts, by Task state name.
#[derive(Debug, Serialize)]
pub struct Dependency<'a> {
    pub from: &'a str,
    pub to: &'a str,
}

/// What a plan against the live deployment changes.
#[derive(Debug, Serialize)]
pub struct Comparison<'a> {
    pub headline: String,
    pub count: usize,
    pub set: &'a ChangeSet,
    pub definition_diff: &'a str,
    pub image_uri: Option<&'a str>,
    /// The AWS calls made to compare, by operation (the edge's own count, as JSON).
    pub calls: Value,
}

fn no_operations(operations: &&super::operations::Operations) -> bool {
    operations.is_empty()
}

impl<'a> PlanDocument<'a> {
    /// The document of `plan`; `compared_against` says what it was compared with.
    pub fn new(plan: &'a Plan, compared_against: &'a str) -> Self {
        let task_names: Vec<&str> = plan.tasks.iter().map(|t| t.state.as_str()).collect();
        PlanDocument {
            format: PLAN_FORMAT,
            project: &plan.project,
            pipeline: &plan.pipeline,
            env: plan.env.as_deref(),
            group_by: plan.group_by,
            compared_against,
            state_machine: &plan.state_machine,
            child_state_machines: &plan.children,
            counts: Counts {
                nodes: plan.node_count,
                tasks: plan.tasks.len(),
                dependencies: plan.dependencies.len(),
            },
            schedule: &plan.timing.schedule,
            expected_run: &plan.timing.estimate,
            history: &plan.timing.history,
            prices: &plan.timing.prices,
            tasks: &plan.tasks,
            functions: &plan.functions,
            ecs_tasks: &plan.ecs_tasks,
            dependencies: plan
                .dependencies
                .iter()
                .map(|&(from, to)| Dependency {
                    from: task_names[from],
                    to: task_names[to],
                })
                .collect(),
            warnings: &plan.findings.problems,
            operations: &plan.operations,
            changes: None,
        }
    }

    /// Pretty JSON with one trailing newline, as every kedro-sfn file is written.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .expect("a plan document has string keys only, so it always serializes");
        text.push('\n');
        text
    }
}
