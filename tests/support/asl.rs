//! Reads a generated ASL definition back, independently of the code that wrote it, to check
//! what a user relies on: every node in exactly one Task, every dependency respected by the
//! structure, names legal and unique, each Task wired to retry and to a Fail state.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// The structure of a definition.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    Task { state: String, nodes: Vec<String> },
    Sequence(Vec<Shape>),
    Parallel(Vec<Shape>),
}

/// Every state name in the definition (branches included), with repeats.
pub fn all_state_names(machine: &Value) -> Vec<String> {
    let mut names = Vec::new();
    collect_names(machine, &mut names);
    names
}

fn collect_names(machine: &Value, out: &mut Vec<String>) {
    if let Some(states) = machine["States"].as_object() {
        for (name, state) in states {
            out.push(name.clone());
            if let Some(branches) = state["Branches"].as_array() {
                branches.iter().for_each(|b| collect_names(b, out));
            }
        }
    }
}

/// Walks the main path of a machine (or branch) from StartAt to End.
pub fn shape(machine: &Value) -> Shape {
    let states = machine["States"].as_object().expect("States is an object");
    let mut current = machine["StartAt"].as_str().expect("StartAt").to_string();
    let mut steps = Vec::new();
    let mut seen = BTreeSet::new();
    loop {
        assert!(seen.insert(current.clone()), "the path loops at {current}");
        let state = states
            .get(&current)
            .unwrap_or_else(|| panic!("Next/StartAt names a missing state {current}"));
        match state["Type"].as_str() {
            Some("Task") => {
                check_task(&current, state, states);
                let nodes = state["Parameters"]["Payload"]["nodes"]
                    .as_array()
                    .expect("Payload.nodes")
                    .iter()
                    .map(|n| n.as_str().expect("node names are strings").to_string())
                    .collect();
                steps.push(Shape::Task {
                    state: current.clone(),
                    nodes,
                });
            }
            Some("Parallel") => {
                assert!(
                    state["ResultPath"].is_null(),
                    "{current}: ResultPath must be null"
                );
                let branches = state["Branches"].as_array().expect("Branches");
                steps.push(Shape::Parallel(branches.iter().map(shape).collect()));
            }
            other => panic!("unexpected state type {other:?} on the main path at {current}"),
        }
        if state["End"] == Value::Bool(true) {
            break;
        }
        current = state["Next"].as_str().expect("Next or End").to_string();
    }
    if steps.len() == 1 {
        steps.pop().expect("one step")
    } else {
        Shape::Sequence(steps)
    }
}

fn check_task(name: &str, state: &Value, states: &serde_json::Map<String, Value>) {
    assert_eq!(
        state["Resource"], "arn:aws:states:::lambda:invoke",
        "{name}"
    );
    assert!(
        state["ResultPath"].is_null(),
        "{name}: ResultPath must be null"
    );
    let retried: Vec<&str> = state["Retry"]
        .as_array()
        .expect("Retry")
        .iter()
        .flat_map(|r| r["ErrorEquals"].as_array().expect("ErrorEquals").iter())
        .filter_map(Value::as_str)
        .collect();
    for error in [
        "Lambda.ServiceException",
        "Lambda.AWSLambdaException",
        "Lambda.SdkClientException",
        "Lambda.ClientExecutionTimeoutException",
        "Lambda.TooManyRequestsException",
    ] {
        assert!(retried.contains(&error), "{name} does not retry {error}");
    }
    assert!(
        !retried.contains(&"Lambda.Unknown"),
        "{name} retries Lambda.Unknown"
    );
    let fail = state["Catch"][0]["Next"].as_str().expect("Catch -> Next");
    let fail_state = states
        .get(fail)
        .unwrap_or_else(|| panic!("{name}'s Catch leads to a state outside its branch"));
    assert_eq!(fail_state["Type"], "Fail");
    assert_eq!(
        fail_state["Error"],
        format!("{name}.Failed"),
        "the Fail state of {name} names it"
    );
    // The cause is the task's own error, which the Catch put at $.error.
    assert_eq!(state["Catch"][0]["ResultPath"], "$.error");
    assert_eq!(fail_state["CausePath"], "$.error.Cause");
    let payload = &state["Parameters"]["Payload"];
    assert_eq!(payload["execution.$"], "$$.Execution");
}

/// For every Task: its path from the root as (tree node id, child index); sequences have odd
/// ids. Also returns the node -> (task index, position in task) map.
/// A Task's path from the root: (tree node id, child index) per level.
type TaskPath = Vec<(usize, usize)>;
/// Node name -> (task index, position inside the task).
type NodePlaces = BTreeMap<String, (usize, usize)>;

fn index(shape: &Shape) -> (Vec<TaskPath>, NodePlaces) {
    fn walk(
        shape: &Shape,
        prefix: &mut Vec<(usize, usize)>,
        next_id: &mut usize,
        paths: &mut Vec<Vec<(usize, usize)>>,
        nodes: &mut BTreeMap<String, (usize, usize)>,
    ) {
        match shape {
            Shape::Task { nodes: names, .. } => {
                let task = paths.len();
                paths.push(prefix.clone());
                for (position, name) in names.iter().enumerate() {
                    let previous = nodes.insert(name.clone(), (task, position));
                    assert!(previous.is_none(), "node {name} runs in two Tasks");
                }
            }
            Shape::Sequence(children) | Shape::Parallel(children) => {
                let id = *next_id * 2 + usize::from(matches!(shape, Shape::Sequence(_)));
                *next_id += 1;
                for (i, child) in children.iter().enumerate() {
                    prefix.push((id, i));
                    walk(child, prefix, next_id, paths, nodes);
                    prefix.pop();
                }
            }
        }
    }
    let mut paths = Vec::new();
    let mut nodes = BTreeMap::new();
    walk(shape, &mut Vec::new(), &mut 0, &mut paths, &mut nodes);
    (paths, nodes)
}

/// Asserts that every node of `expected_nodes` runs in exactly one Task and that each
/// `(writer, reader)` pair runs in that order.
pub fn assert_runs_in_order(
    shape: &Shape,
    expected_nodes: &[String],
    dependencies: &[(String, String)],
) {
    let (paths, nodes) = index(shape);
    let expected: BTreeSet<&String> = expected_nodes.iter().collect();
    let found: BTreeSet<&String> = nodes.keys().collect();
    assert_eq!(
        found, expected,
        "the Tasks must run exactly the pipeline's nodes"
    );
    for (writer, reader) in dependencies {
        let (wt, wp) = nodes[writer];
        let (rt, rp) = nodes[reader];
        if wt == rt {
            assert!(
                wp < rp,
                "{writer} must run before {reader} inside their task"
            );
            continue;
        }
        let (a, b) = (&paths[wt], &paths[rt]);
        let divergence = a
            .iter()
            .zip(b.iter())
            .position(|(x, y)| x != y)
            .expect("two tasks never share a path");
        let ordered = a[divergence].0 == b[divergence].0
            && a[divergence].0 % 2 == 1
            && a[divergence].1 < b[divergence].1;
        assert!(ordered, "{reader} may start before {writer} has ended");
    }
}

/// Node-level dependencies of a pipeline document: (writer, reader) by dataset, as Kedro
/// links them (a transcoded `x@a` written and `x@b` read are the one dataset `x`).
pub fn dependencies(doc: &serde_json::Value) -> Vec<(String, String)> {
    let nodes = doc["nodes"].as_array().expect("nodes");
    let mut writer = BTreeMap::new();
    for node in nodes {
        for output in node["outputs"].as_array().expect("outputs") {
            writer.insert(
                untranscoded(output.as_str().unwrap_or_default()).to_string(),
                node["name"].clone(),
            );
        }
    }
    let mut out = Vec::new();
    for node in nodes {
        for input in node["inputs"].as_array().expect("inputs") {
            if let Some(w) = writer.get(untranscoded(input.as_str().unwrap_or_default())) {
                out.push((
                    w.as_str().unwrap_or_default().to_string(),
                    node["name"].as_str().unwrap_or_default().to_string(),
                ));
            }
        }
    }
    out
}

/// Kedro's `_strip_transcoding`: the part before the one `@`.
fn untranscoded(name: &str) -> &str {
    name.split('@').next().unwrap_or(name)
}
