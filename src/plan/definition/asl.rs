//! Series-parallel tree -> Amazon States Language definition.
//!
//! Every Task state invokes its task's function with a small payload (the exact node names,
//! pipeline, env, the execution's name and start time, the execution input), discards the
//! result (`ResultPath: null`, so no state's data grows with the pipeline), retries Lambda's
//! transient service errors with backoff and jitter, and on any other error ends in a Fail
//! state whose error names the task and whose cause is the task's own error.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Map, Value};

use crate::config::EcsConfig;
use crate::plan::definition::arns::{ECS_RUN_TASK_SYNC, LAMBDA_INVOKE, START_EXECUTION_SYNC};
use crate::plan::definition::task_event::ecs_env;
use crate::plan::definition::view::{for_each_state_mut, Machine, StateType};
use crate::plan::ecs::CONTAINER_NAME;
use crate::plan::shape::split::Part;

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
    /// The Task states whose outputs its nodes read (Kedro's dependencies, not the
    /// machine's order): recorded in the state's `Comment`, so a later plan can tell a
    /// changed dependency from a regrouping of the same ones.
    pub reads_from: &'a [String],
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
                .unwrap_or_else(|| crate::plan::ecs::defaults::PLATFORM_VERSION.to_string()),
        }
    }
}

/// Where a machine's tasks read the run's execution (its name, start time and input: the
/// version every node saves under, and the runtime params).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionFrom {
    /// The root machine: its own context, `$$.Execution`.
    Context,
    /// A child machine: the root's, which the root passes as `$.execution` in the child's
    /// input (a child's own context has its own start time).
    Input,
}

impl ExecutionFrom {
    fn path(self, field: Option<&str>) -> String {
        let base = match self {
            ExecutionFrom::Context => "$$.Execution",
            ExecutionFrom::Input => "$.execution",
        };
        match field {
            Some(field) => format!("{base}.{field}"),
            None => base.to_string(),
        }
    }
}

/// A Task state of the root that runs a child machine, and the states that fail the root
/// with the child's error when it fails.
#[derive(Debug, Clone)]
pub struct ChildStart<'a> {
    pub state: &'a str,
    /// A Pass state that parses the child execution's description out of the error.
    pub failed: &'a str,
    /// A Fail state with the child's Error and Cause (`<task>.Failed`, as a task fails).
    pub fail: &'a str,
    /// A Fail state for a child that could not be started at all.
    pub not_started: &'a str,
    /// The child's ARN (deploy pins its version) or, unknown account, its name.
    pub machine: &'a str,
}

/// The whole machine's inputs.
#[derive(Clone)]
pub struct MachineSpec<'a> {
    pub comment: String,
    pub timeout_s: u64,
    pub pipeline: &'a str,
    pub env: Option<&'a str>,
    pub tasks: &'a [TaskState<'a>],
    /// The name of each Parallel state, in pre-order of the tree's Parallel nodes.
    pub parallel_names: &'a [String],
    /// The child machines the root starts (by their index in [`Part::Child`]).
    pub children: &'a [ChildStart<'a>],
    pub execution: ExecutionFrom,
}

/// Renders the definition. Keys are emitted in a fixed order, so the same tree gives the
/// same bytes.
pub fn render(part: &Part, spec: &MachineSpec) -> Value {
    let annotated = annotate(part, spec);
    let mut states = Map::new();
    emit(&annotated, spec, None, &mut states);
    let mut machine = Map::new();
    machine.insert("Comment".into(), json!(spec.comment));
    machine.insert("StartAt".into(), json!(annotated.entry_of(spec)));
    machine.insert("TimeoutSeconds".into(), json!(spec.timeout_s));
    machine.insert("States".into(), Value::Object(states));
    Value::Object(machine)
}

/// What one task adds to a definition, in bytes of compact JSON: its Task and Fail
/// states with their names (the transition counted at the longest state name).
pub fn task_bytes(spec: &MachineSpec, task: &TaskState) -> usize {
    let next = "N".repeat(crate::plan::definition::names::STATE_NAME_MAX);
    let state = task_state(spec, task, Some(&next));
    let fail = fail_state(task);
    let text_len = |value: &Value| serde_json::to_string(value).map_or(0, |t| t.len());
    // `"name":` and `,` for each of the two.
    text_len(&state) + text_len(&fail) + task.state.len() + task.fail_state.len() + 2 * 4
}

/// The tree with each Parallel's name and each subtree's first state resolved once, so
/// rendering is linear in the size of the tree however deep it is.
enum Annotated {
    Task(usize),
    Child(usize),
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
    fn entry_of<'a>(&'a self, spec: &'a MachineSpec<'a>) -> &'a str {
        match self {
            Annotated::Task(task) => spec.tasks[*task].state,
            Annotated::Child(child) => spec.children[*child].state,
            Annotated::Sequence { entry, .. } => entry,
            Annotated::Parallel { name, .. } => name,
        }
    }
}

fn annotate(part: &Part, spec: &MachineSpec) -> Annotated {
    match part {
        Part::Task(task) => Annotated::Task(*task),
        Part::Child(child) => Annotated::Child(*child),
        Part::Sequence(children) => {
            let children: Vec<Annotated> = children.iter().map(|c| annotate(c, spec)).collect();
            let entry = children
                .first()
                .map(|c| c.entry_of(spec).to_string())
                .unwrap_or_default();
            Annotated::Sequence { entry, children }
        }
        Part::Parallel(index, children) => Annotated::Parallel {
            name: spec.parallel_names[*index].clone(),
            children: children.iter().map(|c| annotate(c, spec)).collect(),
        },
    }
}

fn emit(tree: &Annotated, spec: &MachineSpec, next: Option<&str>, states: &mut Map<String, Value>) {
    match tree {
        Annotated::Task(task) => {
            let task = &spec.tasks[*task];
            states.insert(task.state.to_string(), task_state(spec, task, next));
            states.insert(task.fail_state.to_string(), fail_state(task));
        }
        Annotated::Child(child) => emit_child_start(&spec.children[*child], next, states),
        Annotated::Sequence { children, .. } => {
            for (i, child) in children.iter().enumerate() {
                let following = match children.get(i + 1) {
                    Some(sibling) => Some(sibling.entry_of(spec)),
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
                    branch.insert("StartAt".into(), json!(child.entry_of(spec)));
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

/// Errors of starting a child execution worth retrying: the account's limit of open
/// executions, and the client's hiccups.
pub const RETRIED_START_ERRORS: &[&str] = &[
    "StepFunctions.ExecutionLimitExceededException",
    "StepFunctions.SdkClientException",
];

/// The Task state that runs a child machine, and its failure states.
///
/// The child execution takes the root's name (unique for its machine, as the root's is for
/// the root, and a retried start of the same name and input is the same execution), and
/// the root's execution context as input, so its tasks save under the root's start time.
/// A failed child ends the root with the child's error (`<task>.Failed`).
fn emit_child_start(child: &ChildStart, next: Option<&str>, states: &mut Map<String, Value>) {
    let mut input = Map::new();
    input.insert("execution.$".into(), json!("$$.Execution"));
    input.insert(
        "AWS_STEP_FUNCTIONS_STARTED_BY_EXECUTION_ID.$".into(),
        json!("$$.Execution.Id"),
    );
    let mut parameters = Map::new();
    parameters.insert("StateMachineArn".into(), json!(child.machine));
    parameters.insert("Name.$".into(), json!("$$.Execution.Name"));
    parameters.insert("Input".into(), Value::Object(input));
    let mut state = Map::new();
    state.insert("Type".into(), json!("Task"));
    state.insert("Resource".into(), json!(START_EXECUTION_SYNC));
    state.insert("Parameters".into(), Value::Object(parameters));
    state.insert("ResultPath".into(), Value::Null);
    state.insert(
        "Retry".into(),
        json!([{
            "ErrorEquals": RETRIED_START_ERRORS,
            "IntervalSeconds": 5,
            "MaxAttempts": 6,
            "MaxDelaySeconds": 120,
            "JitterStrategy": "FULL"
        }]),
    );
    state.insert(
        "Catch".into(),
        json!([
            {"ErrorEquals": ["States.TaskFailed"], "ResultPath": CAUGHT_ERROR, "Next": child.failed},
            {"ErrorEquals": ["States.ALL"], "ResultPath": CAUGHT_ERROR, "Next": child.not_started}
        ]),
    );
    insert_transition(&mut state, next);
    states.insert(child.state.to_string(), Value::Object(state));
    states.insert(
        child.failed.to_string(),
        json!({
            "Type": "Pass",
            "Parameters": {"child.$": "States.StringToJson($.error.Cause)"},
            "Next": child.fail
        }),
    );
    states.insert(
        child.fail.to_string(),
        json!({"Type": "Fail", "ErrorPath": "$.child.Error", "CausePath": "$.child.Cause"}),
    );
    states.insert(
        child.not_started.to_string(),
        json!({"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}),
    );
}

/// The definition with every child-start state replaced by the child's own states (a
/// Parallel of one branch): one definition with every task, for the readers that compare
/// tasks, pins and shapes (the change set, the estimate, the deployed shape).
pub fn inline_children(root: &Value, child_of: &dyn Fn(&str) -> Option<Value>) -> Value {
    let mut out = root.clone();
    for_each_state_mut(&mut out, &mut |state| {
        if state.get("Resource").and_then(Value::as_str) != Some(START_EXECUTION_SYNC) {
            return;
        }
        let Some(child) = state
            .pointer("/Parameters/StateMachineArn")
            .and_then(Value::as_str)
            .and_then(child_of)
        else {
            return;
        };
        let mut branch = Map::new();
        for key in ["StartAt", "States"] {
            branch.insert(key.into(), child.get(key).cloned().unwrap_or(Value::Null));
        }
        let mut parallel = Map::new();
        parallel.insert("Type".into(), json!("Parallel"));
        parallel.insert("Branches".into(), json!([Value::Object(branch)]));
        parallel.insert("ResultPath".into(), Value::Null);
        for key in ["Next", "End"] {
            if let Some(value) = state.get(key) {
                parallel.insert(key.into(), value.clone());
            }
        }
        *state = Value::Object(parallel);
    });
    out
}

/// The child machines a root definition starts: the `StateMachineArn` of each
/// child-start state (an ARN, pinned to a version when deployed, or a name).
pub fn started_children(root: &Value) -> Vec<&str> {
    Machine::new(root)
        .all_states()
        .into_iter()
        .filter(|state| state.resource() == Some(START_EXECUTION_SYNC))
        .filter_map(|state| state.text_at("/Parameters/StateMachineArn"))
        .collect()
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
    state.insert("Comment".into(), json!(reads_comment(task.reads_from)));
    // The error goes to the Fail state, which ends the execution with it as the cause: the
    // handler's message, which names the node that failed.
    state.insert(
        "Catch".into(),
        json!([{"ErrorEquals": ["States.ALL"], "ResultPath": CAUGHT_ERROR, "Next": task.fail_state}]),
    );
    insert_transition(&mut state, next);
    Value::Object(state)
}

/// How a Task state's `Comment` starts when its nodes read other tasks' outputs.
const READS_PREFIX: &str = "reads the outputs of: ";
/// A Task state's `Comment` when its nodes read no other task's outputs.
const READS_NOTHING: &str = "reads no other task's outputs";

/// The `Comment` that records a task's Kedro dependencies (state names hold no commas).
fn reads_comment(reads_from: &[String]) -> String {
    match reads_from {
        [] => READS_NOTHING.to_string(),
        names => format!("{READS_PREFIX}{}", names.join(", ")),
    }
}

/// The Kedro dependencies a Task state's `Comment` records; `None` when it records none
/// (a definition made before they were recorded).
pub fn reads_of(task_state: &Value) -> Option<BTreeSet<String>> {
    let comment = task_state.get("Comment")?.as_str()?;
    if comment == READS_NOTHING {
        return Some(BTreeSet::new());
    }
    let names = comment.strip_prefix(READS_PREFIX)?;
    Some(names.split(", ").map(str::to_string).collect())
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
    let execution = spec.execution;
    environment.extend([
        resolved(ecs_env::EXECUTION_NAME, &execution.path(Some("Name"))),
        resolved(
            ecs_env::EXECUTION_START_TIME,
            &execution.path(Some("StartTime")),
        ),
        resolved(
            ecs_env::INPUT,
            &format!("States.JsonToString({})", execution.path(Some("Input"))),
        ),
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
    payload.insert("execution.$".into(), json!(spec.execution.path(None)));

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
    Machine::new(definition)
        .all_states()
        .into_iter()
        .filter(|state| state.kind() == StateType::Task)
        .map(|state| (state.name, state.json()))
        .collect()
}

/// Task state -> (nodes, the tasks it directly waits for), read from a definition: the
/// tasks that end last before it starts (in a sequence, the previous element's last tasks;
/// after a Parallel state, every branch's). A task's order changed when these change, not
/// when a task far upstream moved.
pub fn tasks_of(definition: &Value) -> BTreeMap<String, (Vec<String>, BTreeSet<String>)> {
    /// Walks one machine (or branch) entered after `frontier`; returns the tasks that end it.
    fn walk(
        machine: Machine,
        frontier: &BTreeSet<String>,
        out: &mut BTreeMap<String, (Vec<String>, BTreeSet<String>)>,
    ) -> BTreeSet<String> {
        let mut last = frontier.clone();
        for state in machine.path() {
            match state.kind() {
                StateType::Task => {
                    let nodes = state
                        .parameters()
                        .and_then(crate::plan::definition::task_event::nodes_in_parameters)
                        .unwrap_or_default();
                    out.insert(state.name.to_string(), (nodes, std::mem::take(&mut last)));
                    last.insert(state.name.to_string());
                }
                StateType::Parallel => {
                    let mut after = BTreeSet::new();
                    for branch in state.branches() {
                        after.extend(walk(branch, &last, out));
                    }
                    last = after;
                }
                _ => {}
            }
        }
        last
    }
    let mut out = BTreeMap::new();
    walk(Machine::new(definition), &BTreeSet::new(), &mut out);
    out
}

fn insert_transition(state: &mut Map<String, Value>, next: Option<&str>) {
    match next {
        Some(next) => state.insert("Next".into(), json!(next)),
        None => state.insert("End".into(), json!(true)),
    };
}

/// One rule for Lambda's transient errors and its throttling: every 2 s, 6 attempts,
/// backoff 2 (the language's default, left out), at most 60 s apart, full jitter. One rule
/// where two were: it repeats once per task, against the definition's 1 MiB.
fn retry_policy() -> Value {
    let mut errors: Vec<&str> = RETRIED_SERVICE_ERRORS.to_vec();
    errors.push(RETRIED_THROTTLING);
    json!([{
        "ErrorEquals": errors,
        "IntervalSeconds": 2,
        "MaxAttempts": 6,
        "MaxDelaySeconds": 60,
        "JitterStrategy": "FULL"
    }])
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

/// Where a Catch puts the error in the state's data (the execution input must be an
/// object, as runtime params are).
const CAUGHT_ERROR: &str = "$.error";

/// Ends the execution with `<task>.Failed` and, as the cause, the task's own error: what
/// the handler raised (naming the node) or how the ECS task stopped.
fn fail_state(task: &TaskState) -> Value {
    json!({
        "Type": "Fail",
        "Error": failed_error(task.state),
        "CausePath": format!("{CAUGHT_ERROR}.Cause")
    })
}
