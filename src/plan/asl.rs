//! Series-parallel tree -> Amazon States Language definition.
//!
//! Every Task state invokes its task's function with a small payload (the exact node names,
//! pipeline, env, the execution's name and start time, the execution input), discards the
//! result (`ResultPath: null`, so no state's data grows with the pipeline), retries Lambda's
//! transient service errors with backoff and jitter, and on any other error ends in a Fail
//! state that names the task and its nodes.

use serde_json::{json, Map, Value};

use super::arns::LAMBDA_INVOKE;
use super::sp_tree::SpTree;

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

/// What the renderer needs to know about one task.
#[derive(Debug, Clone)]
pub struct TaskState<'a> {
    pub state: &'a str,
    pub fail_state: &'a str,
    /// A function name or ARN; deploy pins the published version.
    pub function: &'a str,
    pub nodes: &'a [String],
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
    let mut renderer = Renderer {
        spec,
        next_parallel: 0,
    };
    let mut states = Map::new();
    let start = renderer.entry(tree, 0);
    renderer.emit(tree, None, &mut states);
    let mut machine = Map::new();
    machine.insert("Comment".into(), json!(spec.comment));
    machine.insert("StartAt".into(), json!(start));
    machine.insert("TimeoutSeconds".into(), json!(spec.timeout_s));
    machine.insert("States".into(), Value::Object(states));
    Value::Object(machine)
}

struct Renderer<'a> {
    spec: &'a MachineSpec<'a>,
    /// Pre-order counter of Parallel nodes met so far while emitting.
    next_parallel: usize,
}

impl Renderer<'_> {
    /// The first state of a subtree. `parallel_index` is the pre-order index the subtree's
    /// first Parallel node would get.
    fn entry(&self, tree: &SpTree, parallel_index: usize) -> String {
        match tree {
            SpTree::Task(task) => self.spec.tasks[*task].state.to_string(),
            SpTree::Parallel(_) => self.spec.parallel_names[parallel_index].clone(),
            SpTree::Sequence(children) => match children.first() {
                Some(first) => self.entry(first, parallel_index),
                None => String::new(),
            },
        }
    }

    fn emit(&mut self, tree: &SpTree, next: Option<&str>, states: &mut Map<String, Value>) {
        match tree {
            SpTree::Task(task) => {
                let task = &self.spec.tasks[*task];
                states.insert(task.state.to_string(), self.task_state(task, next));
                states.insert(task.fail_state.to_string(), fail_state(task));
            }
            SpTree::Sequence(children) => {
                // The entry of child i+1 needs the Parallel index it will get, so count the
                // Parallel nodes of earlier children first.
                for (i, child) in children.iter().enumerate() {
                    let following = match children.get(i + 1) {
                        Some(sibling) => {
                            let index = self.next_parallel + count_parallels(child);
                            Some(self.entry(sibling, index))
                        }
                        None => next.map(str::to_string),
                    };
                    self.emit(child, following.as_deref(), states);
                }
            }
            SpTree::Parallel(children) => {
                let name = self.spec.parallel_names[self.next_parallel].clone();
                self.next_parallel += 1;
                let mut branches = Vec::with_capacity(children.len());
                for child in children {
                    let start = self.entry(child, self.next_parallel);
                    let mut branch_states = Map::new();
                    self.emit(child, None, &mut branch_states);
                    branches.push(json!({"StartAt": start, "States": branch_states}));
                }
                let mut state = Map::new();
                state.insert("Type".into(), json!("Parallel"));
                state.insert("Branches".into(), Value::Array(branches));
                state.insert("ResultPath".into(), Value::Null);
                insert_transition(&mut state, next);
                states.insert(name, Value::Object(state));
            }
        }
    }

    fn task_state(&self, task: &TaskState, next: Option<&str>) -> Value {
        let mut payload = Map::new();
        payload.insert("task".into(), json!(task.state));
        payload.insert("nodes".into(), json!(task.nodes));
        payload.insert("pipeline".into(), json!(self.spec.pipeline));
        if let Some(env) = self.spec.env {
            payload.insert("env".into(), json!(env));
        }
        payload.insert("execution_name.$".into(), json!("$$.Execution.Name"));
        payload.insert(
            "execution_start_time.$".into(),
            json!("$$.Execution.StartTime"),
        );
        payload.insert("input.$".into(), json!("$$.Execution.Input"));

        let mut state = Map::new();
        state.insert("Type".into(), json!("Task"));
        state.insert("Resource".into(), json!(LAMBDA_INVOKE));
        state.insert(
            "Parameters".into(),
            json!({"FunctionName": task.function, "Payload": payload}),
        );
        state.insert("ResultPath".into(), Value::Null);
        state.insert("Retry".into(), retry_policy());
        state.insert(
            "Catch".into(),
            json!([{"ErrorEquals": ["States.ALL"], "Next": task.fail_state}]),
        );
        insert_transition(&mut state, next);
        Value::Object(state)
    }
}

fn count_parallels(tree: &SpTree) -> usize {
    match tree {
        SpTree::Task(_) => 0,
        SpTree::Sequence(children) => children.iter().map(count_parallels).sum(),
        SpTree::Parallel(children) => 1 + children.iter().map(count_parallels).sum::<usize>(),
    }
}

/// The number of Parallel states a tree renders to (for naming them up front).
pub fn parallel_count(tree: &SpTree) -> usize {
    count_parallels(tree)
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

fn retry_policy() -> Value {
    json!([
        {
            "ErrorEquals": RETRIED_SERVICE_ERRORS,
            "IntervalSeconds": 1,
            "MaxAttempts": 3,
            "BackoffRate": 2,
            "JitterStrategy": "FULL"
        },
        {
            "ErrorEquals": [RETRIED_THROTTLING],
            "IntervalSeconds": 2,
            "MaxAttempts": 6,
            "BackoffRate": 2,
            "MaxDelaySeconds": 60,
            "JitterStrategy": "FULL"
        }
    ])
}

fn fail_state(task: &TaskState) -> Value {
    let mut cause = format!(
        "Task {} failed running the Kedro nodes: {}. The node's own error is in this execution's TaskFailed event and in the function's CloudWatch logs.",
        task.state,
        task.nodes.join(", ")
    );
    if cause.chars().count() > CAUSE_MAX_CHARS {
        cause = cause.chars().take(CAUSE_MAX_CHARS - 3).collect::<String>() + "...";
    }
    json!({
        "Type": "Fail",
        "Error": format!("{}.Failed", task.state),
        "Cause": cause
    })
}
