//! Pipeline + config -> the state machine definition and one function spec per task.
//! Pure and deterministic: the same input gives the same bytes.

pub mod changes;
pub mod definition;
pub mod deployed;
pub mod document;
pub mod ecs;
pub mod estimate;
pub mod functions;
pub mod shape;

use self::definition::arns;
use self::definition::asl;
use self::definition::names;
use self::ecs::checks as ecs_checks;
use self::estimate::durations;
use self::shape::dag;
use self::shape::grouping;
use self::shape::sp_tree;
use self::shape::split;
use std::borrow::Cow;

use serde::Serialize;
use serde_json::Value;

use crate::config::settings::NodeSettings;
use crate::config::{Config, GroupBy, Runner};
use crate::pipeline::check::{
    self, CheckContext, Findings, Problem, Severity, MACHINE_TIMEOUT_MAX_S,
};
use crate::pipeline::graph::{CycleError, NodeGraph};
use crate::pipeline::storage::classify;
use crate::pipeline::PipelineDoc;

use self::definition::asl::{
    ChildStart, EcsNetwork, ExecutionFrom, Invoke, MachineSpec, TaskState,
};
use self::definition::names::{Alphabet, NameRequest};
use self::ecs::{EcsTaskSpec, RunnerChoiceMade};
use self::estimate::durations::{DurationSource, History, TaskDurations};
use self::estimate::{Estimate, Prices, TaskRun};
use self::functions::FunctionSpec;
use self::shape::grouping::TaskGraph;
use self::shape::sp_tree::SpTree;

/// Past runs that took this share of a task's timeout, or more, are warned of.
const NEAR_TIMEOUT_SHARE: f64 = 0.8;

/// How much slower than the best shape found the deployed one may be and still be kept.
const KEEP_DEPLOYED_SHAPE_WITHIN: f64 = 0.05;

/// Extra time the derived machine timeout allows beyond the slowest path of task timeouts:
/// retries of throttled invocations and cold starts.
const MACHINE_TIMEOUT_SLACK_S: u64 = 300;

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
    /// `series-parallel` (our tree), `layered` (the guide's, kept when it was faster) or
    /// `as deployed` (the deployed tree, kept while within 5 % of the best found).
    pub shape: &'static str,
    pub expected_makespan_s: f64,
    /// No machine can be faster than this.
    pub critical_path_s: f64,
    /// What the guide's chain of Parallel states would take.
    pub layered_makespan_s: f64,
}

/// The state machine as planned.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StateMachineSpec {
    pub name: String,
    pub timeout_s: u64,
    /// `config` or `derived from task timeouts`.
    pub timeout_from: &'static str,
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
        serde_json::from_str(&self.definition_text).unwrap_or(Value::Null)
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
    pub schedule: Schedule,
    /// The root machine's definition: the whole pipeline, or, split, the states that start
    /// its children.
    pub definition: Value,
    /// The child machines, when one machine would pass Step Functions' limits.
    pub children: Vec<ChildMachine>,
    /// Warnings of the check (a plan is only made when there are no errors).
    pub findings: Findings,
    /// How long each task is expected to run (config, history): the deployed machine's
    /// estimate uses the same figures.
    pub durations: TaskDurations,
    pub history: HistoryUse,
    pub prices: Prices,
    /// One run of this machine, expected.
    pub estimate: Estimate,
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
const VERSION_SUFFIX_MAX_BYTES: usize = 8;

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
    Ok(build(doc, config, checked, history))
}

fn build(doc: &PipelineDoc, config: &Config, checked: Checked, history: History) -> Plan {
    let Checked {
        tasks: task_graph,
        settings,
        runners,
        mut findings,
        ..
    } = checked;
    let dag = &task_graph.dag;
    let task_settings: Vec<Vec<&NodeSettings>> = task_graph
        .tasks
        .iter()
        .map(|t| t.nodes.iter().map(|&n| &settings[n]).collect())
        .collect();
    let task_nodes: Vec<Vec<String>> = task_graph
        .tasks
        .iter()
        .map(|t| t.nodes.iter().map(|&n| doc.nodes[n].name.clone()).collect())
        .collect();
    let history_executions = history.executions;
    let history_note = history.note.clone();
    let task_durations = TaskDurations {
        nodes: doc
            .nodes
            .iter()
            .zip(&settings)
            .map(|(node, s)| (node.name.clone(), s.duration_s.clone()))
            .collect(),
        history,
    };
    let expected: Vec<durations::Expected> = task_nodes
        .iter()
        .map(|nodes| task_durations.expected(nodes))
        .collect();
    let durations: Vec<f64> = expected.iter().map(|e| e.seconds).collect();

    // The shape: our tree, unless the guide's layered machine is faster under these
    // durations (possible only around non-series-parallel cores).
    let ours = sp_tree::decompose(dag, &durations);
    let layered_makespan_s = dag.layered_makespan(&durations);
    let ours_makespan = ours.makespan(&durations);
    // (Compared with a tolerance: sums of the same durations in another order may differ in
    // the last bit, and ties go to our tree, which never waits on unrelated work.)
    let layered_is_faster = layered_makespan_s < ours_makespan - 1e-9 * ours_makespan.abs();
    let (tree, shape, expected_makespan_s) = if layered_is_faster {
        (SpTree::layered(dag), "layered", layered_makespan_s)
    } else {
        (ours, "series-parallel", ours_makespan)
    };
    // The deployed shape, kept while it is about as fast: durations measured anew on every
    // run must not reshape the machine (and so change it) on every deploy.
    let (tree, shape, expected_makespan_s) =
        match deployed_tree(&task_durations.history, &task_nodes, dag) {
            Some(deployed)
                if deployed != tree
                    && deployed.makespan(&durations)
                        <= expected_makespan_s * (1.0 + KEEP_DEPLOYED_SHAPE_WITHIN) + 1e-9 =>
            {
                let makespan = deployed.makespan(&durations);
                (deployed, "as deployed", makespan)
            }
            _ => (tree, shape, expected_makespan_s),
        };
    debug_assert!(tree.respects(dag));
    let schedule = Schedule {
        shape,
        expected_makespan_s,
        critical_path_s: dag.critical_path(&durations),
        layered_makespan_s,
    };

    // Names.
    let machine_name = machine_name(doc, config);
    let function_prefix = names::function_prefix(&machine_name);
    let function_requests: Vec<NameRequest> = task_graph
        .tasks
        .iter()
        .map(|t| NameRequest {
            readable: t.label.clone(),
            identity: t.identity.clone(),
        })
        .collect();
    let function_names = names::unique_names(
        &function_requests,
        &function_prefix,
        Alphabet::Function,
        names::FUNCTION_NAME_MAX,
    );
    let (state_names, fail_names, parallel_names) = state_names(&task_graph, &tree);

    // Functions and tasks.
    let env = config.file.env.clone().or_else(|| doc.env.clone());
    let ecs_config = config.file.ecs.as_ref();
    let mut functions: Vec<FunctionSpec> = Vec::new();
    let mut ecs_tasks: Vec<EcsTaskSpec> = Vec::new();
    // Per task: its size for the estimate and its timeout (Lambda's or the ECS task's).
    let mut task_runs: Vec<TaskRun> = Vec::with_capacity(task_settings.len());
    let mut task_timeouts: Vec<u32> = Vec::with_capacity(task_settings.len());
    for (t, node_settings) in task_settings.iter().enumerate() {
        match runners[t].runner {
            Runner::Lambda => {
                let spec = functions::function_spec(
                    &function_names[t],
                    &state_names[t],
                    &machine_name,
                    env.as_deref(),
                    node_settings,
                );
                task_runs.push(TaskRun {
                    seconds: durations[t],
                    memory_mb: spec.memory_mb,
                    ephemeral_storage_mb: spec.ephemeral_storage_mb,
                    arm64: spec.architecture == crate::config::Architecture::Arm64,
                    fargate_cpu: None,
                });
                task_timeouts.push(spec.timeout_s);
                functions.push(spec);
            }
            Runner::Ecs => {
                let spec = ecs::ecs_task_spec(
                    &function_names[t],
                    &state_names[t],
                    &machine_name,
                    env.as_deref(),
                    ecs_config,
                    node_settings,
                );
                task_runs.push(TaskRun {
                    seconds: durations[t],
                    memory_mb: spec.memory_mb,
                    ephemeral_storage_mb: spec.ephemeral_storage_gb.unwrap_or(20) * 1024,
                    arm64: spec.architecture == crate::config::Architecture::Arm64,
                    fargate_cpu: Some(spec.cpu),
                });
                task_timeouts.push(spec.timeout_s);
                ecs_tasks.push(spec);
            }
        }
    }
    findings.problems.extend(near_their_timeout(
        &task_graph,
        &expected,
        &task_timeouts,
        &runners,
    ));
    findings.problems.sort();
    let dependencies: Vec<(usize, usize)> = dag.edges().collect();
    let tasks: Vec<PlannedTask> = task_graph
        .tasks
        .iter()
        .enumerate()
        .map(|(t, _)| PlannedTask {
            state: state_names[t].clone(),
            runner: runners[t].runner,
            runner_reason: runners[t].reason.clone(),
            function: function_names[t].clone(),
            fail_state: fail_names[t].clone(),
            nodes: task_nodes[t].clone(),
            depends_on: dag.predecessors[t]
                .iter()
                .map(|&p| state_names[p].clone())
                .collect(),
            duration_s: durations[t],
            duration_source: expected[t].source,
            history_runs: expected[t].runs,
        })
        .collect();

    // The machine.
    let (timeout_s, timeout_from) = match config.file.state_machine.timeout_s {
        Some(timeout) => (timeout, "config"),
        None => {
            let timeouts: Vec<f64> = task_timeouts.iter().map(|&t| f64::from(t)).collect();
            let slowest = tree.makespan(&timeouts).ceil() as u64;
            (
                (slowest + MACHINE_TIMEOUT_SLACK_S).min(MACHINE_TIMEOUT_MAX_S),
                "derived from task timeouts",
            )
        }
    };
    let function_refs: Vec<String> = match (&config.file.region, &config.file.account_id) {
        (Some(region), Some(account)) => tasks
            .iter()
            .map(|t| match t.runner {
                Runner::Lambda => arns::lambda_function(region, account, &t.function),
                Runner::Ecs => arns::ecs_task_definition(region, account, &t.function),
            })
            .collect(),
        _ => function_names.clone(),
    };
    let ecs_network = ecs_config.map(EcsNetwork::from_config);
    let task_states: Vec<TaskState> = tasks
        .iter()
        .zip(&function_refs)
        .zip(&task_timeouts)
        .map(|((task, function), &timeout_s)| TaskState {
            state: &task.state,
            fail_state: &task.fail_state,
            invoke: match (task.runner, &ecs_network) {
                (Runner::Ecs, Some(network)) => Invoke::Ecs {
                    task_definition: function,
                    network,
                    timeout_s,
                },
                _ => Invoke::Lambda { function },
            },
            nodes: &task.nodes,
        })
        .collect();
    let comment = format!(
        "kedro-sfn: pipeline {} of {}{}, {} Kedro nodes in {} tasks",
        doc.pipeline,
        doc.project.name,
        env.as_deref()
            .map(|e| format!(" (env {e})"))
            .unwrap_or_default(),
        doc.nodes.len(),
        tasks.len()
    );
    let arn = match (&config.file.region, &config.file.account_id) {
        (Some(region), Some(account)) => Some(arns::state_machine(region, account, &machine_name)),
        _ => None,
    };
    let machines = Machines {
        machine_name: &machine_name,
        region_account: config
            .file
            .region
            .as_deref()
            .zip(config.file.account_id.as_deref()),
        tree: &tree,
        tasks: &tasks,
        task_states: &task_states,
        runners: &runners,
        labels: &task_graph
            .tasks
            .iter()
            .map(|t| t.label.as_str())
            .collect::<Vec<_>>(),
        spec: MachineSpec {
            comment,
            timeout_s,
            pipeline: &doc.pipeline,
            env: env.as_deref(),
            tasks: &task_states,
            parallel_names: &parallel_names,
            children: &[],
            execution: ExecutionFrom::Context,
        },
    };
    let (definition, children) = machines.render();

    let prices = Prices::from_config(&config.file.prices);
    let estimate = estimate::planned(&tree, &state_names, &task_runs, &prices);
    let history = HistoryUse {
        executions: history_executions,
        tasks: tasks
            .iter()
            .filter(|t| t.duration_source == DurationSource::History)
            .count(),
        note: history_note,
    };

    Plan {
        project: doc.project.name.clone(),
        pipeline: doc.pipeline.clone(),
        env,
        group_by: config.group_by(),
        node_count: doc.nodes.len(),
        state_machine: StateMachineSpec {
            name: machine_name,
            timeout_s,
            timeout_from,
            arn,
        },
        tasks,
        functions,
        ecs_tasks,
        ecs_config: config.file.ecs.clone(),
        tree,
        dependencies,
        schedule,
        definition,
        children,
        findings,
        durations: task_durations,
        history,
        prices,
        estimate,
    }
}

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
struct Machines<'a> {
    machine_name: &'a str,
    region_account: Option<(&'a str, &'a str)>,
    tree: &'a SpTree,
    tasks: &'a [PlannedTask],
    task_states: &'a [TaskState<'a>],
    runners: &'a [RunnerChoiceMade],
    labels: &'a [&'a str],
    /// The root's spec, without children.
    spec: MachineSpec<'a>,
}

impl Machines<'_> {
    fn render(&self) -> (Value, Vec<ChildMachine>) {
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
        let child_names = names::unique_names(
            &layout
                .children
                .iter()
                .map(|c| NameRequest {
                    readable: c.label.clone(),
                    identity: c.label.clone(),
                })
                .collect::<Vec<_>>(),
            &names::child_prefix(self.machine_name),
            Alphabet::Function,
            names::STATE_MACHINE_NAME_MAX,
        );
        let references: Vec<String> = child_names
            .iter()
            .map(|name| match self.region_account {
                Some((region, account)) => arns::state_machine(region, account, name),
                None => name.clone(),
            })
            .collect();
        let state_requests: Vec<NameRequest> = child_names
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
        let state_names =
            names::unique_names(&state_requests, "", Alphabet::State, names::STATE_NAME_MAX);
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
}

/// Measured runs near a task's timeout: the check sees only configured durations, and a
/// task that took 850 s of its 900 s will soon time out.
fn near_their_timeout(
    task_graph: &TaskGraph,
    expected: &[durations::Expected],
    timeouts: &[u32],
    runners: &[RunnerChoiceMade],
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for (((task, expected), &timeout_s), runner) in task_graph
        .tasks
        .iter()
        .zip(expected)
        .zip(timeouts)
        .zip(runners)
    {
        let timeout = f64::from(timeout_s);
        if expected.source != DurationSource::History
            || expected.seconds < timeout * NEAR_TIMEOUT_SHARE
        {
            continue;
        }
        let label = &task.label;
        problems.push(Problem {
            severity: Severity::Warning,
            rule: crate::pipeline::check::Rule::TimeoutBelowDuration,
            subject: label.clone(),
            message: format!(
                "task `{label}` took a median of {:.0} s over its last {} run(s): {:.0} % of its {} s timeout",
                expected.seconds,
                expected.runs,
                100.0 * expected.seconds / timeout,
                timeout_s
            ),
            hint: match runner.runner {
                Runner::Lambda => "raise timeout_s for its nodes (Lambda allows 900 s), run them on ECS Fargate (`runner: ecs`, with an `ecs:` section; see docs/ecs.md), or split the work into shorter nodes",
                Runner::Ecs => "raise timeout_s for its nodes (or ecs.timeout_s), or split the work into shorter nodes",
            }
            .into(),
        });
    }
    problems
}

/// The deployed machine's tree over these tasks, when it runs exactly these tasks (by their
/// nodes) in an order the DAG allows.
fn deployed_tree(history: &History, task_nodes: &[Vec<String>], dag: &dag::Dag) -> Option<SpTree> {
    let definition = history.deployed_definition.as_ref()?;
    let index: std::collections::HashMap<String, usize> = task_nodes
        .iter()
        .enumerate()
        .map(|(t, nodes)| (History::key(nodes), t))
        .collect();
    let task_of = |nodes: &[String]| index.get(&History::key(nodes)).copied();
    let tree = definition::tree::from_definition(definition, &task_of, task_nodes.len())?;
    tree.respects(dag).then_some(tree)
}

/// Task, Fail and Parallel state names, made unique together (states inside Parallel
/// branches share one namespace with the rest of the definition).
fn state_names(task_graph: &TaskGraph, tree: &SpTree) -> (Vec<String>, Vec<String>, Vec<String>) {
    let tasks = &task_graph.tasks;
    let mut requests: Vec<NameRequest> = Vec::with_capacity(tasks.len() * 2);
    for task in tasks {
        requests.push(NameRequest {
            readable: task.label.clone(),
            identity: task.identity.clone(),
        });
    }
    for task in tasks {
        requests.push(NameRequest {
            readable: format!("{} failed", task.label),
            identity: format!("fail\n{}", task.identity),
        });
    }
    for entries in asl::parallel_branch_entries(tree) {
        let first = entries
            .first()
            .map(|&t| tasks[t].label.as_str())
            .unwrap_or("");
        let readable = match entries.len() {
            0 | 1 => format!("Parallel {first}"),
            n => format!("Parallel {first} +{}", n - 1),
        };
        let identity = entries
            .iter()
            .map(|&t| tasks[t].identity.as_str())
            .collect::<Vec<_>>()
            .join("\n--\n");
        requests.push(NameRequest {
            readable,
            identity: format!("parallel\n{identity}"),
        });
    }
    let mut names =
        names::unique_names(&requests, "", Alphabet::State, names::STATE_NAME_MAX).into_iter();
    let task_names: Vec<String> = names.by_ref().take(tasks.len()).collect();
    let fail_names: Vec<String> = names.by_ref().take(tasks.len()).collect();
    let parallel_names: Vec<String> = names.collect();
    (task_names, fail_names, parallel_names)
}
