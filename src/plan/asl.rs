//! Series-parallel tree -> Amazon States Language definition.
//!
//! Every Task state invokes its task's function with a small payload (the exact node names,
//! pipeline, env, the execution's name and start time, the execution input), discards the
//! result (`ResultPath: null`, so no state's data grows with the pipeline), retries Lambda's
//! transient service errors with backoff and jitter, and on any other error ends in a Fail
//! state that names the task and its nodes.

use serde_json::{json, Map, Value};

use super::arns::{ECS_RUN_TASK_SYNC, LAMBDA_INVOKE};
use super::ecs::CONTAINER_NAME;
use super::sp_tree::SpTree;
use super::task_event::ecs_env;
use crate::config::EcsConfig;

/// The transient Lambda errors AWS recommends retrying (not `Lambda.Unknown`, which may
/// mean the function ran).
pub const RETRIED_SERVICE_ERRORS: &[&str] = &[
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
];
/// Throttling gets a longer, capped backoff.
pub const RETRIED_THROTTLING: &str = "Lambda.TooManyRequestsException";

/// The longest Cause text a Fail state may carry, kept well under the service's limit.
const CAUSE_MAX_CHARS: usize = 4000;

/// Starting an ECS task can fail for want of Fargate capacity (or an ECS hiccup): retried
/// for minutes, not seconds.
pub const RETRIED_ECS_ERRORS: &[&str] = &["ECS.AmazonECSException"];

/// What the renderer needs to know about one task.
#[derive(Debug, Clone)]
pub struct TaskState<'a> {
    pub state: &'a str,
    pub fail_state: &'a str,
    pub invoke: Invoke<'a>,
    pub nodes: &'a [String],
}

/// What a Task state starts.
#[derive(Debug, Clone)]
pub enum Invoke<'a> {
    /// A function name or ARN; deploy pins the published version.
    Lambda { function: &'a str },
    /// A task definition family (or its ARN); deploy pins the registered revision.
    Ecs {
        task_definition: &'a str,
        network: &'a EcsNetwork,
        timeout_s: u32,
    },
}

/// Where ECS tasks run: what every ECS Task state passes to RunTask.
#[derive(Debug, Clone, PartialEq)]
pub struct EcsNetwork {
    pub cluster: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    pub assign_public_ip: bool,
    pub platform_version: String,
}

impl EcsNetwork {
    pub fn from_config(ecs: &EcsConfig) -> EcsNetwork {
        EcsNetwork {
            cluster: ecs.cluster.clone(),
            subnets: ecs.subnets.clone(),
            security_groups: ecs.security_groups.clone(),
            assign_public_ip: ecs.assign_public_ip,
            platform_version: ecs
                .platform_version
                .clone()
                .unwrap_or_else(|| super::ecs::defaults::PLATFORM_VERSION.to_string()),
        }
    }
}

/// The whole machine's inputs.
pub struct MachineSpec<'a> {
    pub comment: String,
    pub timeout_s: u64,
    pub pipeline: &'a str,
    pub env: Option<&'a str>,
    pub tasks: &'a [TaskState<'a>],
    /// The name of each Parallel state, in pre-order of the tree's Parallel nodes.
    pub parallel_names: &'a [String],
}

/// Renders the definition. Keys are emitted in a fixed order, so the same tree gives the
/// same bytes.
pub fn render(tree: &SpTree, spec: &MachineSpec) -> Value {
    let mut next_parallel = 0;
    let annotated = annotate(tree, spec, &mut next_parallel);
    let mut states = Map::new();
    emit(&annotated, spec, None, &mut states);
    let mut machine = Map::new();
    machine.insert("Comment".into(), json!(spec.comment));
    machine.insert("StartAt".into(), json!(annotated.entry_of(spec.tasks)));
    machine.insert("TimeoutSeconds".into(), json!(spec.timeout_s));
    machine.insert("States".into(), Value::Object(states));
    Value::Object(machine)
}

/// The tree with each Parallel's name and each subtree's first state resolved once, so
/// rendering is linear in the size of the tree however deep it is.
enum Annotated {
    Task(usize),
    Sequence {
        entry: String,
        children: Vec<Annotated>,
    },
    Parallel {
        name: String,
        children: Vec<Annotated>,
    },
}

impl Annotated {
    fn entry_of<'a>(&'a self, tasks: &'a [TaskState<'a>]) -> &'a str {
        match self {
            Annotated::Task(task) => tasks[*task].state,
            Annotated::Sequence { entry, .. } => entry,
            Annotated::Parallel { name, .. } => name,
        }
    }
}

fn annotate(tree: &SpTree, spec: &MachineSpec, next_parallel: &mut usize) -> Annotated {
    match tree {
        SpTree::Task(task) => Annotated::Task(*task),
        SpTree::Sequence(children) => {
            let children: Vec<Annotated> = children
                .iter()
                .map(|c| annotate(c, spec, next_parallel))
                .collect();
            let entry = children
                .first()
                .map(|c| c.entry_of(spec.tasks).to_string())
                .unwrap_or_default();
            Annotated::Sequence { entry, children }
        }
        SpTree::Parallel(children) => {
            let name = spec.parallel_names[*next_parallel].clone();
            *next_parallel += 1;
            let children = children
                .iter()
                .map(|c| annotate(c, spec, next_parallel))
                .collect();
            Annotated::Parallel { name, children }
        }
    }
}

fn emit(tree: &Annotated, spec: &MachineSpec, next: Option<&str>, states: &mut Map<String, Value>) {
    match tree {
        Annotated::Task(task) => {
            let task = &spec.tasks[*task];
            states.insert(task.state.to_string(), task_state(spec, task, next));
            states.insert(task.fail_state.to_string(), fail_state(task));
        }
        Annotated::Sequence { children, .. } => {
            for (i, child) in children.iter().enumerate() {
                let following = match children.get(i + 1) {
                    Some(sibling) => Some(sibling.entry_of(spec.tasks)),
                    None => next,
                };
                emit(child, spec, following, states);
            }
        }
        Annotated::Parallel { name, children } => {
            let branches: Vec<Value> = children
                .iter()
                .map(|child| {
                    let mut branch_states = Map::new();
                    emit(child, spec, None, &mut branch_states);
                    // Built by hand: `json!` would serialize the nested map again, which is
                    // quadratic in the depth of the tree.
                    let mut branch = Map::new();
                    branch.insert("StartAt".into(), json!(child.entry_of(spec.tasks)));
                    branch.insert("States".into(), Value::Object(branch_states));
                    Value::Object(branch)
                })
                .collect();
            let mut state = Map::new();
            state.insert("Type".into(), json!("Parallel"));
            state.insert("Branches".into(), Value::Array(branches));
            state.insert("ResultPath".into(), Value::Null);
            insert_transition(&mut state, next);
            states.insert(name.clone(), Value::Object(state));
        }
    }
}

fn task_state(spec: &MachineSpec, task: &TaskState, next: Option<&str>) -> Value {
    let mut state = match &task.invoke {
        Invoke::Lambda { function } => lambda_task(spec, task, function),
        Invoke::Ecs {
            task_definition,
            network,
            timeout_s,
        } => ecs_task(spec, task, task_definition, network, *timeout_s),
    };
    state.insert(
        "Catch".into(),
        json!([{"ErrorEquals": ["States.ALL"], "Next": task.fail_state}]),
    );
    insert_transition(&mut state, next);
    Value::Object(state)
}

/// `ecs:runTask.sync` on Fargate: the event goes to the container as environment variables
/// (the nodes as a JSON list, so a reader of the definition sees which nodes run here), the
/// execution's name, start time and input resolved by Step Functions. The state's timeout
/// stops the task.
fn ecs_task(
    spec: &MachineSpec,
    task: &TaskState,
    task_definition: &str,
    network: &EcsNetwork,
    timeout_s: u32,
) -> Map<String, Value> {
    let fixed = |name: &str, value: String| json!({"Name": name, "Value": value});
    let resolved = |name: &str, path: &str| json!({"Name": name, "Value.$": path});
    let mut environment = vec![
        fixed(ecs_env::TASK, task.state.to_string()),
        fixed(
            ecs_env::NODES,
            serde_json::to_string(task.nodes).unwrap_or_else(|_| "[]".into()),
        ),
        fixed(ecs_env::PIPELINE, spec.pipeline.to_string()),
    ];
    if let Some(env) = spec.env {
        environment.push(fixed(ecs_env::ENV, env.to_string()));
    }
    environment.extend([
        resolved(ecs_env::EXECUTION_NAME, "$$.Execution.Name"),
        resolved(ecs_env::EXECUTION_START_TIME, "$$.Execution.StartTime"),
        resolved(ecs_env::INPUT, "States.JsonToString($$.Execution.Input)"),
    ]);
    let mut parameters = Map::new();
    parameters.insert("LaunchType".into(), json!("FARGATE"));
    parameters.insert("Cluster".into(), json!(network.cluster));
    parameters.insert("TaskDefinition".into(), json!(task_definition));
    parameters.insert("PlatformVersion".into(), json!(network.platform_version));
    let mut vpc = Map::new();
    vpc.insert("Subnets".into(), json!(network.subnets));
    if !network.security_groups.is_empty() {
        vpc.insert("SecurityGroups".into(), json!(network.security_groups));
    }
    vpc.insert(
        "AssignPublicIp".into(),
        json!(if network.assign_public_ip {
            "ENABLED"
        } else {
            "DISABLED"
        }),
    );
    parameters.insert(
        "NetworkConfiguration".into(),
        json!({"AwsvpcConfiguration": vpc}),
    );
    parameters.insert(
        "Overrides".into(),
        json!({"ContainerOverrides": [{"Name": CONTAINER_NAME, "Environment": environment}]}),
    );
    let mut state = Map::new();
    state.insert("Type".into(), json!("Task"));
    state.insert("Resource".into(), json!(ECS_RUN_TASK_SYNC));
    state.insert("Parameters".into(), Value::Object(parameters));
    state.insert("TimeoutSeconds".into(), json!(timeout_s));
    state.insert("ResultPath".into(), Value::Null);
    state.insert(
        "Retry".into(),
        json!([{
            "ErrorEquals": RETRIED_ECS_ERRORS,
            "IntervalSeconds": 30,
            "MaxAttempts": 5,
            "MaxDelaySeconds": 300,
            "JitterStrategy": "FULL"
        }]),
    );
    state
}

fn lambda_task(spec: &MachineSpec, task: &TaskState, function: &str) -> Map<String, Value> {
    let mut payload = Map::new();
    payload.insert("task".into(), json!(task.state));
    payload.insert("nodes".into(), json!(task.nodes));
    payload.insert("pipeline".into(), json!(spec.pipeline));
    if let Some(env) = spec.env {
        payload.insert("env".into(), json!(env));
    }
    // The whole context object in one field (Name, StartTime, Input: what the handler
    // reads) costs 30 bytes a task where the three fields cost 120.
    payload.insert("execution.$".into(), json!("$$.Execution"));

    let mut state = Map::new();
    state.insert("Type".into(), json!("Task"));
    state.insert("Resource".into(), json!(LAMBDA_INVOKE));
    let mut parameters = Map::new();
    parameters.insert("FunctionName".into(), json!(function));
    parameters.insert("Payload".into(), Value::Object(payload));
    state.insert("Parameters".into(), Value::Object(parameters));
    state.insert("ResultPath".into(), Value::Null);
    state.insert("Retry".into(), retry_policy());
    state
}

/// Every Task state of a definition with its name, inside Parallel branches too, in the
/// order the definition lists them (the one walk every reader of a definition shares).
pub fn task_states(definition: &Value) -> Vec<(&str, &Value)> {
    fn walk<'a>(machine: &'a Value, out: &mut Vec<(&'a str, &'a Value)>) {
        let Some(states) = machine.get("States").and_then(Value::as_object) else {
            return;
        };
        for (name, state) in states {
            if state.get("Type").and_then(Value::as_str) == Some("Task") {
                out.push((name.as_str(), state));
            }
            for branch in state
                .get("Branches")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                walk(branch, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(definition, &mut out);
    out
}

/// For each Parallel node in pre-order: the first task of each branch.
pub fn parallel_branch_entries(tree: &SpTree) -> Vec<Vec<usize>> {
    fn first_task(tree: &SpTree) -> Option<usize> {
        match tree {
            SpTree::Task(task) => Some(*task),
            SpTree::Sequence(children) | SpTree::Parallel(children) => {
                children.first().and_then(first_task)
            }
        }
    }
    fn walk(tree: &SpTree, out: &mut Vec<Vec<usize>>) {
        match tree {
            SpTree::Task(_) => {}
            SpTree::Sequence(children) => children.iter().for_each(|c| walk(c, out)),
            SpTree::Parallel(children) => {
                out.push(children.iter().filter_map(first_task).collect());
                children.iter().for_each(|c| walk(c, out));
            }
        }
    }
    let mut out = Vec::new();
    walk(tree, &mut out);
    out
}

fn insert_transition(state: &mut Map<String, Value>, next: Option<&str>) {
    match next {
        Some(next) => state.insert("Next".into(), json!(next)),
        None => state.insert("End".into(), json!(true)),
    };
}

/// Service errors: every 1 s, 3 attempts, backoff 2, full jitter; throttling: every 2 s, 6
/// attempts, backoff 2, at most 60 s apart, full jitter. Fields equal to the language's
/// defaults (IntervalSeconds 1, MaxAttempts 3, BackoffRate 2.0) are left out: each repeats
/// once per task, against the definition's 1 MiB.
fn retry_policy() -> Value {
    json!([
        {
            "ErrorEquals": RETRIED_SERVICE_ERRORS,
            "JitterStrategy": "FULL"
        },
        {
            "ErrorEquals": [RETRIED_THROTTLING],
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "MaxDelaySeconds": 60,
            "JitterStrategy": "FULL"
        }
    ])
}

/// The suffix of the error a task's Fail state ends an execution with.
const FAILED_SUFFIX: &str = ".Failed";

/// The error name a failed task ends its execution with: `<task state>.Failed`. Shared
/// with [`failed_task`], which reads it back from an execution's status.
pub fn failed_error(task_state: &str) -> String {
    format!("{task_state}{FAILED_SUFFIX}")
}

/// The task state that an execution's error names, if a task's Fail state ended it.
pub fn failed_task(error: &str) -> Option<&str> {
    error.strip_suffix(FAILED_SUFFIX)
}

fn fail_state(task: &TaskState) -> Value {
    // Short: one per task counts against the definition's 1 MiB.
    let mut cause = match task.nodes {
        [node] if node == task.state => {
            format!("Kedro node {node} failed; its error is in the TaskFailed event.")
        }
        nodes => format!(
            "Task {} failed running the Kedro nodes {}; the error is in the TaskFailed event.",
            task.state,
            nodes.join(", ")
        ),
    };
    if cause.chars().count() > CAUSE_MAX_CHARS {
        cause = cause.chars().take(CAUSE_MAX_CHARS - 3).collect::<String>() + "...";
    }
    json!({
        "Type": "Fail",
        "Error": failed_error(task.state),
        "Cause": cause
    })
}
