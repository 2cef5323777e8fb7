//! Pipeline + config -> the state machine definition and one function spec per task.
//! Pure and deterministic: the same input gives the same bytes.

mod build;
pub mod changes;
pub mod definition;
pub mod deployed;
pub mod document;
pub mod ecs;
pub mod estimate;
pub mod functions;
mod machines;
pub mod operations;
pub mod resume;
pub mod shape;

use self::definition::arns;
use self::definition::asl;
use self::definition::names;
use self::ecs::checks as ecs_checks;
use self::shape::grouping;
use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use crate::config::settings::NodeSettings;
use crate::config::{Config, GroupBy, Runner};
use crate::pipeline::check::{self, CheckContext, Findings, Problem, Severity};
use crate::pipeline::graph::{CycleError, NodeGraph};
use crate::pipeline::storage::classify;
use crate::pipeline::PipelineDoc;

use self::ecs::{EcsTaskSpec, RunnerChoiceMade};
use self::estimate::durations::{DurationSource, History, TaskDurations};
use self::estimate::{Estimate, Prices};
use self::functions::FunctionSpec;
use self::shape::grouping::TaskGraph;
use self::shape::sp_tree::SpTree;

/// Why no plan could be made.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Cycle(#[from] CycleError),
    #[error("the pipeline cannot run on Step Functions as configured ({} problem(s))", .0.errors().count())]
    Check(Findings),
}

/// The pipeline grouped and checked: what `kedro-sfn check` shows and `plan` builds on.
#[derive(Debug, Clone)]
pub struct Checked {
    pub graph: NodeGraph,
    pub tasks: TaskGraph,
    pub settings: Vec<NodeSettings>,
    /// Where each task runs and why (Lambda where its nodes ask for different services:
    /// that is a check error).
    pub runners: Vec<RunnerChoiceMade>,
    pub findings: Findings,
}

/// Groups the nodes and runs every check.
pub fn check(doc: &PipelineDoc, config: &Config) -> Result<Checked, PlanError> {
    let exists = check::check_pipeline_exists(doc);
    if exists.has_errors() {
        return Err(PlanError::Check(exists));
    }
    let graph = NodeGraph::build(doc)?;
    let is_shared = |dataset: &str| classify(doc, dataset).is_shared();
    let tasks = grouping::group(doc, &graph, config.group_by(), &is_shared);
    let settings: Vec<NodeSettings> = doc
        .nodes
        .iter()
        .map(|n| config.node_settings(&n.name, &n.tags))
        .collect();
    let labels: Vec<String> = tasks.tasks.iter().map(|t| t.label.clone()).collect();
    let task_node_settings: Vec<Vec<(&str, &NodeSettings)>> = tasks
        .tasks
        .iter()
        .map(|t| {
            t.nodes
                .iter()
                .map(|&n| (doc.nodes[n].name.as_str(), &settings[n]))
                .collect()
        })
        .collect();
    let choices: Vec<_> = task_node_settings
        .iter()
        .map(|nodes| ecs::task_runner(config, nodes))
        .collect();
    let runners: Vec<RunnerChoiceMade> = choices
        .iter()
        .map(|choice| {
            choice.clone().unwrap_or_else(|_| RunnerChoiceMade {
                runner: Runner::Lambda,
                reason: "conflict".into(),
            })
        })
        .collect();
    let task_runners: Vec<Runner> = runners.iter().map(|r| r.runner).collect();
    let mut findings = check::check(&CheckContext {
        doc,
        config,
        graph: &graph,
        task_of: &tasks.task_of,
        task_labels: &labels,
        settings: &settings,
        task_runners: &task_runners,
    });
    let to_check: Vec<ecs_checks::TaskToCheck> = labels
        .iter()
        .zip(task_node_settings)
        .zip(&choices)
        .map(|((label, nodes), choice)| ecs_checks::TaskToCheck {
            label,
            nodes,
            choice,
        })
        .collect();
    findings
        .problems
        .extend(ecs_checks::check(config, &to_check));
    findings.problems.sort();
    findings.problems.dedup();
    Ok(Checked {
        graph,
        tasks,
        settings,
        runners,
        findings,
    })
}

/// A task as planned: its names, nodes, dependencies and resources.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlannedTask {
    pub state: String,
    /// Where it runs: `lambda` (the function `function`) or `ecs` (the task definition
    /// family `function`).
    pub runner: Runner,
    /// Why there: `default`, the config key that asks, or `auto: ...` (what outgrew Lambda).
    pub runner_reason: String,
    /// The Lambda function, or the ECS task definition family.
    pub function: String,
    pub fail_state: String,
    pub nodes: Vec<String>,
    /// The Task states whose outputs it reads.
    pub depends_on: Vec<String>,
    /// Expected run time: the config's, else the median of past runs, else the default.
    pub duration_s: f64,
    pub duration_source: DurationSource,
    /// The past runs behind a `history` duration.
    #[serde(skip_serializing_if = "is_zero")]
    pub history_runs: usize,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

/// What past executions contributed to the plan, for plan.json and the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HistoryUse {
    /// Successful executions read (0 when none were, see `note`).
    pub executions: usize,
    /// Tasks whose expected duration comes from them.
    pub tasks: usize,
    /// Why none (or only some) could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// How the machine's shape compares with the best possible and with the guide's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Schedule {
    pub shape: Shape,
    pub expected_makespan_s: f64,
    /// No machine can be faster than this.
    pub critical_path_s: f64,
    /// What the guide's chain of Parallel states would take.
    pub layered_makespan_s: f64,
}

/// Which tree the machine runs, and so why it has the shape it has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Shape {
    /// Our series-parallel tree: each task waits only for what it reads.
    #[serde(rename = "series-parallel")]
    SeriesParallel,
    /// The guide's chain of Parallel states, kept when it was faster under these durations.
    #[serde(rename = "layered")]
    Layered,
    /// The deployed tree, kept while within 5 % of the best found, so that new durations
    /// do not reshape the machine on every deploy.
    #[serde(rename = "as deployed")]
    AsDeployed,
}

impl Shape {
    /// As plan.json, the summary and the terminal show it.
    pub fn as_str(self) -> &'static str {
        match self {
            Shape::SeriesParallel => "series-parallel",
            Shape::Layered => "layered",
            Shape::AsDeployed => "as deployed",
        }
    }
}

impl std::fmt::Display for Shape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the machine's timeout comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum TimeoutFrom {
    /// `state_machine.timeout_s` in the config.
    #[serde(rename = "config")]
    Config,
    /// The slowest path of task timeouts, plus slack for retries and cold starts.
    #[serde(rename = "derived from task timeouts")]
    TaskTimeouts,
}

impl std::fmt::Display for TimeoutFrom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TimeoutFrom::Config => "config",
            TimeoutFrom::TaskTimeouts => "derived from task timeouts",
        })
    }
}

/// The state machine as planned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateMachineSpec {
    pub name: String,
    pub timeout_s: u64,
    pub timeout_from: TimeoutFrom,
    /// Where deploy will find it, when region and account are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
}

/// A child state machine: part of the pipeline, started by the root (see [`split`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChildMachine {
    pub name: String,
    /// Where deploy will find it, when region and account are known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arn: Option<String>,
    /// The root's Task state that starts it.
    pub started_by: String,
    /// Its Task states, in the order its definition lists them.
    pub tasks: Vec<String>,
    /// Its definition's size, compact, before deploy pins versions.
    pub bytes: usize,
    /// Its definition as compact JSON: as text, thousands of Task states take a tenth of
    /// the memory they take as a tree of values (planning 10,000 tasks stays under 100 MB).
    #[serde(skip)]
    pub definition_text: String,
}

impl ChildMachine {
    /// Its definition as a tree of values (parsed anew: keep it only while needed).
    pub fn definition(&self) -> Value {
        // The planner wrote this text from a `Value` (see `Machines::render`); it always parses.
        serde_json::from_str(&self.definition_text)
            .expect("a child's definition text is serde_json's own output")
    }
}

/// Everything `plan` decides.
#[derive(Debug, Clone)]
pub struct Plan {
    pub project: String,
    pub pipeline: String,
    pub env: Option<String>,
    pub group_by: GroupBy,
    pub node_count: usize,
    pub state_machine: StateMachineSpec,
    pub tasks: Vec<PlannedTask>,
    /// The Lambda functions, of the tasks that run on Lambda.
    pub functions: Vec<FunctionSpec>,
    /// The ECS task definitions, of the tasks that run on ECS Fargate.
    pub ecs_tasks: Vec<EcsTaskSpec>,
    /// The `ecs:` section the task definitions are registered under.
    pub ecs_config: Option<crate::config::EcsConfig>,
    pub tree: SpTree,
    pub dependencies: Vec<(usize, usize)>,
    /// The root machine's definition: the whole pipeline, or, split, the states that start
    /// its children.
    pub definition: Value,
    /// The child machines, when one machine would pass Step Functions' limits.
    pub children: Vec<ChildMachine>,
    /// Warnings of the check (a plan is only made when there are no errors).
    pub findings: Findings,
    /// How long a run takes and what it costs: what the estimate and the cost tables read,
    /// apart from what the change set compares.
    pub timing: Timing,
    /// The schedules that start it and the alert on its failures.
    pub operations: operations::Operations,
}

/// The plan's time and money: the machine's shape against the best possible, the durations
/// it rests on and where they came from, the prices, and one run's estimate.
#[derive(Debug, Clone)]
pub struct Timing {
    pub schedule: Schedule,
    /// How long each task is expected to run (config, history): the deployed machine's
    /// estimate uses the same figures.
    pub durations: TaskDurations,
    pub history: HistoryUse,
    pub prices: Prices,
    /// One run of this machine, expected.
    pub estimate: Estimate,
    /// Each task's size and expected seconds, in the order of `Plan::tasks`: what a run's
    /// measured times are priced with.
    pub task_runs: Vec<estimate::TaskRun>,
}

/// The state machine's name: the config's (or flag's), else the project's package, made
/// AWS-legal. Known before planning, so past executions can be read first.
pub fn machine_name(doc: &PipelineDoc, config: &Config) -> String {
    let wanted = config
        .file
        .state_machine
        .name
        .clone()
        .unwrap_or_else(|| default_machine_name(doc));
    names::state_machine_name(&wanted)
}

/// One state machine per registered pipeline: the package's name for `__default__`,
/// `<package>-<pipeline>` for the others (made legal by [`names::state_machine_name`]).
pub fn default_machine_name(doc: &PipelineDoc) -> String {
    if doc.pipeline == crate::config::defaults::PIPELINE {
        doc.project.package.clone()
    } else {
        format!("{}-{}", doc.project.package, doc.pipeline)
    }
}

/// The most a deployed Task's `FunctionName` grows by when deploy appends the version
/// (`:` and up to seven digits).
pub(crate) const VERSION_SUFFIX_MAX_BYTES: usize = 8;

/// Step Functions refuses definitions larger than this (as sent: compact JSON).
pub const DEFINITION_MAX_BYTES: usize = 1_048_576;

/// Plans the state machine; refuses with every check error at once, including a definition
/// too large for Step Functions.
pub fn plan(doc: &PipelineDoc, config: &Config) -> Result<Plan, PlanError> {
    plan_with_history(doc, config, History::default())
}

/// Plans with the durations past executions measured (see [`durations`]).
pub fn plan_with_history(
    doc: &PipelineDoc,
    config: &Config,
    history: History,
) -> Result<Plan, PlanError> {
    let plan = draft_with_history(doc, config, history)?;
    // As deployed, each Task names its function's version (`:N`): room for that too.
    let root_tasks = asl::task_states(&plan.definition).len();
    let root_bytes = serde_json::to_string(&plan.definition).map_or(usize::MAX, |d| d.len());
    let too_large: Vec<(String, usize, usize)> =
        std::iter::once((plan.state_machine.name.as_str(), root_bytes, root_tasks))
            .chain(
                plan.children
                    .iter()
                    .map(|c| (c.name.as_str(), c.bytes, c.tasks.len())),
            )
            .filter_map(|(name, bytes, tasks)| {
                let size = bytes.saturating_add(tasks * VERSION_SUFFIX_MAX_BYTES);
                (size > DEFINITION_MAX_BYTES).then(|| (name.to_string(), size, tasks))
            })
            .collect();
    if !too_large.is_empty() {
        let mut findings = plan.findings.clone();
        for (name, size, tasks) in too_large {
            findings.problems.insert(
                0,
                Problem {
                    severity: Severity::Error,
                    rule: crate::pipeline::check::Rule::DefinitionTooLarge,
                    subject: name.clone(),
                    message: format!(
                        "the definition of the state machine {name} ({tasks} Task states) is {size} bytes as deployed (versions included); Step Functions accepts at most {DEFINITION_MAX_BYTES}"
                    ),
                    hint: "run fewer, larger tasks: --group-by namespace, or a smaller pipeline with --pipeline".into(),
                },
            );
        }
        return Err(PlanError::Check(findings));
    }
    Ok(plan)
}

impl Plan {
    /// Every definition: (machine name, definition, Task states), the root first; each
    /// child's parsed when the iteration reaches it.
    pub fn definitions(&self) -> impl Iterator<Item = (&str, Cow<'_, Value>, usize)> {
        let root_tasks = asl::task_states(&self.definition).len();
        std::iter::once((
            self.state_machine.name.as_str(),
            Cow::Borrowed(&self.definition),
            root_tasks,
        ))
        .chain(
            self.children
                .iter()
                .map(|c| (c.name.as_str(), Cow::Owned(c.definition()), c.tasks.len())),
        )
    }

    /// The root's definition with every child inlined: the whole pipeline in one
    /// definition (see [`asl::inline_children`]).
    pub fn whole_definition(&self) -> Value {
        if self.children.is_empty() {
            return self.definition.clone();
        }
        asl::inline_children(&self.definition, &|reference| {
            let name = arns::state_machine_name_of(reference);
            self.children
                .iter()
                .find(|c| c.name == name)
                .map(ChildMachine::definition)
        })
    }
}

/// Plans without the definition size limit (benchmarks measure planning beyond it).
pub fn draft(doc: &PipelineDoc, config: &Config) -> Result<Plan, PlanError> {
    draft_with_history(doc, config, History::default())
}

fn draft_with_history(
    doc: &PipelineDoc,
    config: &Config,
    history: History,
) -> Result<Plan, PlanError> {
    let checked = check(doc, config)?;
    if checked.findings.has_errors() {
        return Err(PlanError::Check(checked.findings));
    }
    Ok(build::build(doc, config, checked, history))
}
