//! A checked pipeline becomes a [`Plan`] in steps, each its own function: what each task is
//! expected to take, the machine's shape, the names, the functions and ECS tasks, the
//! planned tasks, the machine (timeout, states, definitions), and the estimate.

use super::definition::arns;
use super::definition::asl::{EcsNetwork, ExecutionFrom, Invoke, MachineSpec, TaskState};
use super::definition::names::{self, Alphabet, NameRequest};
use super::definition::tree;
use super::ecs::{self, EcsTaskSpec, RunnerChoiceMade};
use super::estimate::durations::{self, DurationSource, History, TaskDurations};
use super::estimate::{self, Prices, TaskRun};
use super::functions::{self, FunctionSpec};
use super::machines::Machines;
use super::shape::dag::Dag;
use super::shape::grouping::TaskGraph;
use super::shape::sp_tree::{self, SpTree};
use super::{
    Checked, HistoryUse, Plan, PlannedTask, Schedule, Shape, StateMachineSpec, TimeoutFrom, Timing,
};
use crate::config::settings::NodeSettings;
use crate::config::{Architecture, Config, Runner};
use crate::pipeline::check::{Problem, Rule, Severity, MACHINE_TIMEOUT_MAX_S};
use crate::pipeline::PipelineDoc;

/// Past runs that took this share of a task's timeout, or more, are warned of.
const NEAR_TIMEOUT_SHARE: f64 = 0.8;

/// How much slower than the best shape found the deployed one may be and still be kept.
const KEEP_DEPLOYED_SHAPE_WITHIN: f64 = 0.05;

/// Extra time the derived machine timeout allows beyond the slowest path of task timeouts:
/// retries of throttled invocations and cold starts.
const MACHINE_TIMEOUT_SLACK_S: u64 = 300;

/// Every step, in order (see the module's doc).
pub(super) fn build(
    doc: &PipelineDoc,
    config: &Config,
    checked: Checked,
    history: History,
) -> Plan {
    let Checked {
        tasks: task_graph,
        settings,
        runners,
        mut findings,
        ..
    } = checked;
    let dag = &task_graph.dag;
    let expected = Expectations::new(doc, &task_graph, &settings, history);
    let (tree, schedule) = choose_shape(dag, &expected);
    let machine_name = super::machine_name(doc, config);
    let names = Names::new(&task_graph, &tree, &machine_name);
    let env = config.file.env.clone().or_else(|| doc.env.clone());
    let runs = Runs::new(
        config,
        &runners,
        &expected,
        &names,
        &machine_name,
        env.as_deref(),
    );
    findings.problems.extend(near_their_timeout(
        &task_graph,
        &expected.per_task,
        &runs.timeouts,
        &runners,
    ));
    findings.problems.sort();
    let tasks = planned_tasks(&task_graph, &runners, &names, &expected);

    let (timeout_s, timeout_from) = machine_timeout(config, &tree, &runs.timeouts);
    let function_refs = task_references(config, &tasks);
    let ecs_network = config.file.ecs.as_ref().map(EcsNetwork::from_config);
    let task_states = task_states(&tasks, &function_refs, &runs.timeouts, ecs_network.as_ref());
    let labels: Vec<&str> = task_graph.tasks.iter().map(|t| t.label.as_str()).collect();
    let region_account = config
        .file
        .region
        .as_deref()
        .zip(config.file.account_id.as_deref());
    let machines = Machines {
        machine_name: &machine_name,
        region_account,
        tree: &tree,
        tasks: &tasks,
        task_states: &task_states,
        runners: &runners,
        labels: &labels,
        spec: MachineSpec {
            comment: machine_comment(doc, env.as_deref(), tasks.len()),
            timeout_s,
            pipeline: &doc.pipeline,
            env: env.as_deref(),
            tasks: &task_states,
            parallel_names: &names.parallels,
            children: &[],
            execution: ExecutionFrom::Context,
        },
    };
    let (definition, children) = machines.render();

    let prices = Prices::for_region(&config.file.prices, config.file.region.as_deref());
    let estimate = estimate::planned(&tree, &names.states, &runs.task_runs, &prices);
    let history = HistoryUse {
        executions: expected.durations.history.executions,
        tasks: tasks
            .iter()
            .filter(|t| t.duration_source == DurationSource::History)
            .count(),
        note: expected.durations.history.note.clone(),
    };
    let operations = super::operations::plan(config, &machine_name);
    Plan {
        operations,
        project: doc.project.name.clone(),
        pipeline: doc.pipeline.clone(),
        env,
        group_by: config.group_by(),
        node_count: doc.nodes.len(),
        state_machine: StateMachineSpec {
            arn: region_account
                .map(|(region, account)| arns::state_machine(region, account, &machine_name)),
            name: machine_name,
            timeout_s,
            timeout_from,
        },
        tasks,
        functions: runs.functions,
        ecs_tasks: runs.ecs_tasks,
        ecs_config: config.file.ecs.clone(),
        tree,
        dependencies: dag.edges().collect(),
        definition,
        children,
        findings,
        timing: Timing {
            schedule,
            durations: expected.durations,
            history,
            prices,
            estimate,
            task_runs: runs.task_runs,
        },
    }
}

/// What each task is expected to take (the config's durations, else past runs), with the
/// settings and nodes it was worked out from.
struct Expectations<'a> {
    settings: Vec<Vec<&'a NodeSettings>>,
    nodes: Vec<Vec<String>>,
    durations: TaskDurations,
    per_task: Vec<durations::Expected>,
    seconds: Vec<f64>,
}

impl<'a> Expectations<'a> {
    fn new(
        doc: &PipelineDoc,
        task_graph: &TaskGraph,
        settings: &'a [NodeSettings],
        history: History,
    ) -> Self {
        let task_settings = task_graph
            .tasks
            .iter()
            .map(|t| t.nodes.iter().map(|&n| &settings[n]).collect())
            .collect();
        let nodes: Vec<Vec<String>> = task_graph
            .tasks
            .iter()
            .map(|t| t.nodes.iter().map(|&n| doc.nodes[n].name.clone()).collect())
            .collect();
        let durations = TaskDurations {
            nodes: doc
                .nodes
                .iter()
                .zip(settings)
                .map(|(node, s)| (node.name.clone(), s.duration_s.clone()))
                .collect(),
            history,
        };
        let per_task: Vec<durations::Expected> =
            nodes.iter().map(|n| durations.expected(n)).collect();
        let seconds = per_task.iter().map(|e| e.seconds).collect();
        Expectations {
            settings: task_settings,
            nodes,
            durations,
            per_task,
            seconds,
        }
    }
}

/// Our tree, unless the guide's layered machine is faster under these durations (possible
/// only around non-series-parallel cores); the deployed tree instead while it is about as
/// fast, so that durations measured anew on every run do not reshape (and so change) the
/// machine on every deploy.
fn choose_shape(dag: &Dag, expected: &Expectations) -> (SpTree, Schedule) {
    let durations = &expected.seconds;
    let ours = sp_tree::decompose(dag, durations);
    let layered_makespan_s = dag.layered_makespan(durations);
    let ours_makespan = ours.makespan(durations);
    // (Compared with a tolerance: sums of the same durations in another order may differ in
    // the last bit, and ties go to our tree, which never waits on unrelated work.)
    let layered_is_faster = layered_makespan_s < ours_makespan - 1e-9 * ours_makespan.abs();
    let (tree, shape, expected_makespan_s) = if layered_is_faster {
        (SpTree::layered(dag), Shape::Layered, layered_makespan_s)
    } else {
        (ours, Shape::SeriesParallel, ours_makespan)
    };
    let (tree, shape, expected_makespan_s) =
        match deployed_tree(&expected.durations.history, &expected.nodes, dag) {
            Some(deployed)
                if deployed != tree
                    && deployed.makespan(durations)
                        <= expected_makespan_s * (1.0 + KEEP_DEPLOYED_SHAPE_WITHIN) + 1e-9 =>
            {
                let makespan = deployed.makespan(durations);
                (deployed, Shape::AsDeployed, makespan)
            }
            _ => (tree, shape, expected_makespan_s),
        };
    debug_assert!(tree.respects(dag));
    let schedule = Schedule {
        shape,
        expected_makespan_s,
        critical_path_s: dag.critical_path(durations),
        layered_makespan_s,
    };
    (tree, schedule)
}

/// The deployed machine's tree over these tasks, when it runs exactly these tasks (by their
/// nodes) in an order the DAG allows.
fn deployed_tree(history: &History, task_nodes: &[Vec<String>], dag: &Dag) -> Option<SpTree> {
    let definition = history.deployed_definition.as_ref()?;
    let index: std::collections::HashMap<String, usize> = task_nodes
        .iter()
        .enumerate()
        .map(|(t, nodes)| (History::key(nodes), t))
        .collect();
    let task_of = |nodes: &[String]| index.get(&History::key(nodes)).copied();
    let tree = tree::from_definition(definition, &task_of, task_nodes.len())?;
    tree.respects(dag).then_some(tree)
}

/// Every generated name of the machine: AWS-legal, within limits and distinct.
struct Names {
    functions: Vec<String>,
    states: Vec<String>,
    fails: Vec<String>,
    parallels: Vec<String>,
}

impl Names {
    fn new(task_graph: &TaskGraph, tree: &SpTree, machine_name: &str) -> Self {
        let function_requests: Vec<NameRequest> = task_graph
            .tasks
            .iter()
            .map(|t| NameRequest {
                readable: t.label.clone(),
                identity: t.identity.clone(),
            })
            .collect();
        let functions = names::unique_names(
            &function_requests,
            &names::function_prefix(machine_name),
            Alphabet::Function,
            names::FUNCTION_NAME_MAX,
        );
        let (states, fails, parallels) = state_names(task_graph, tree);
        Names {
            functions,
            states,
            fails,
            parallels,
        }
    }
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
    for entries in sp_tree::parallel_branch_entries(tree) {
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

/// Each task's function or ECS task definition, with its size (for the estimate) and its
/// timeout (for the machine's).
struct Runs {
    functions: Vec<FunctionSpec>,
    ecs_tasks: Vec<EcsTaskSpec>,
    task_runs: Vec<TaskRun>,
    timeouts: Vec<u32>,
}

impl Runs {
    fn new(
        config: &Config,
        runners: &[RunnerChoiceMade],
        expected: &Expectations,
        names: &Names,
        machine_name: &str,
        env: Option<&str>,
    ) -> Self {
        let count = expected.settings.len();
        let mut runs = Runs {
            functions: Vec::new(),
            ecs_tasks: Vec::new(),
            task_runs: Vec::with_capacity(count),
            timeouts: Vec::with_capacity(count),
        };
        for (t, node_settings) in expected.settings.iter().enumerate() {
            let seconds = expected.seconds[t];
            let (function, state) = (&names.functions[t], &names.states[t]);
            match runners[t].runner {
                Runner::Lambda => {
                    let spec =
                        functions::function_spec(function, state, machine_name, env, node_settings);
                    runs.task_runs.push(TaskRun {
                        seconds,
                        memory_mb: spec.memory_mb,
                        ephemeral_storage_mb: spec.ephemeral_storage_mb,
                        arm64: spec.architecture == Architecture::Arm64,
                        fargate_cpu: None,
                    });
                    runs.timeouts.push(spec.timeout_s);
                    runs.functions.push(spec);
                }
                Runner::Ecs => {
                    let spec = ecs::ecs_task_spec(
                        function,
                        state,
                        machine_name,
                        env,
                        config.file.ecs.as_ref(),
                        node_settings,
                    );
                    runs.task_runs.push(TaskRun {
                        seconds,
                        memory_mb: spec.memory_mb,
                        ephemeral_storage_mb: spec.ephemeral_storage_gb.unwrap_or(20) * 1024,
                        arm64: spec.architecture == Architecture::Arm64,
                        fargate_cpu: Some(spec.cpu),
                    });
                    runs.timeouts.push(spec.timeout_s);
                    runs.ecs_tasks.push(spec);
                }
            }
        }
        runs
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
            rule: Rule::TimeoutBelowDuration,
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

/// The tasks as plan.json and the change set see them.
fn planned_tasks(
    task_graph: &TaskGraph,
    runners: &[RunnerChoiceMade],
    names: &Names,
    expected: &Expectations,
) -> Vec<PlannedTask> {
    (0..task_graph.tasks.len())
        .map(|t| PlannedTask {
            state: names.states[t].clone(),
            runner: runners[t].runner,
            runner_reason: runners[t].reason.clone(),
            function: names.functions[t].clone(),
            fail_state: names.fails[t].clone(),
            nodes: expected.nodes[t].clone(),
            depends_on: task_graph.dag.predecessors[t]
                .iter()
                .map(|&p| names.states[p].clone())
                .collect(),
            duration_s: expected.seconds[t],
            duration_source: expected.per_task[t].source,
            history_runs: expected.per_task[t].runs,
        })
        .collect()
}

/// Each task's Task state: what it invokes (its function, or its task definition on the
/// `ecs:` network) and the nodes it runs.
fn task_states<'a>(
    tasks: &'a [PlannedTask],
    references: &'a [String],
    timeouts: &[u32],
    ecs_network: Option<&'a EcsNetwork>,
) -> Vec<TaskState<'a>> {
    tasks
        .iter()
        .zip(references)
        .zip(timeouts)
        .map(|((task, function), &timeout_s)| TaskState {
            state: &task.state,
            fail_state: &task.fail_state,
            invoke: match (task.runner, ecs_network) {
                (Runner::Ecs, Some(network)) => Invoke::Ecs {
                    task_definition: function,
                    network,
                    timeout_s,
                },
                _ => Invoke::Lambda { function },
            },
            nodes: &task.nodes,
            reads_from: &task.depends_on,
        })
        .collect()
}

/// The config's timeout, else the slowest path of task timeouts plus slack, within Step
/// Functions' limit.
fn machine_timeout(config: &Config, tree: &SpTree, task_timeouts: &[u32]) -> (u64, TimeoutFrom) {
    match config.file.state_machine.timeout_s {
        Some(timeout) => (timeout, TimeoutFrom::Config),
        None => {
            let timeouts: Vec<f64> = task_timeouts.iter().map(|&t| f64::from(t)).collect();
            let slowest = tree.makespan(&timeouts).ceil() as u64;
            (
                (slowest + MACHINE_TIMEOUT_SLACK_S).min(MACHINE_TIMEOUT_MAX_S),
                TimeoutFrom::TaskTimeouts,
            )
        }
    }
}

/// What each Task state calls: the function's or task definition's ARN when region and
/// account are known, else its name.
fn task_references(config: &Config, tasks: &[PlannedTask]) -> Vec<String> {
    match (&config.file.region, &config.file.account_id) {
        (Some(region), Some(account)) => tasks
            .iter()
            .map(|t| match t.runner {
                Runner::Lambda => arns::lambda_function(region, account, &t.function),
                Runner::Ecs => arns::ecs_task_definition(region, account, &t.function),
            })
            .collect(),
        _ => tasks.iter().map(|t| t.function.clone()).collect(),
    }
}

/// The definition's `Comment`: which pipeline, project and env, and how many nodes in how
/// many tasks.
fn machine_comment(doc: &PipelineDoc, env: Option<&str>, tasks: usize) -> String {
    format!(
        "kedro-sfn: pipeline {} of {}{}, {} Kedro nodes in {} tasks",
        doc.pipeline,
        doc.project.name,
        env.map(|e| format!(" (env {e})")).unwrap_or_default(),
        doc.nodes.len(),
        tasks
    )
}
