//! Resuming a failed run: which of its tasks a new run may skip, and the input that tells
//! every task so. Pure: the failed run's definition and outcomes and today's definition in,
//! the skip list (or why resuming would be wrong) out.
//!
//! A task is skipped when it succeeded in the failed run and today's machine has the same
//! task with the same nodes: its outputs, under the failed run's data version, are exactly
//! what today's task would write. Everything else runs, with today's code, under that same
//! version, so the resumed run completes the failed run's data.

use std::collections::BTreeSet;

use serde_json::{json, Map, Value};

use crate::plan::definition::asl::tasks_of;

/// Why a failed run cannot be resumed on today's machine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResumeRefused {
    #[error("{execution} cannot be resumed: it is {status}, and only a run that FAILED, TIMED_OUT or was ABORTED is resumed; start a new run with `kedro-sfn execute`")]
    NotFailed { execution: String, status: String },
    #[error("{execution} cannot be resumed on what the alias serves now: {}. Their outputs under its data version are not what today's tasks would write; start a new run with `kedro-sfn execute` (or `kedro-sfn rollback` to the version it ran, then resume)", .changes.join("; "))]
    TasksChanged {
        execution: String,
        changes: Vec<String>,
    },
}

/// The tasks the resumed run skips, in name order; refuses when a task that succeeded in
/// the failed run is gone from today's machine or runs other nodes there.
pub fn skipped_tasks(
    execution: &str,
    ran: &Value,
    today: &Value,
    succeeded: &BTreeSet<String>,
) -> Result<Vec<String>, ResumeRefused> {
    let before = tasks_of(ran);
    let now = tasks_of(today);
    let mut changes = Vec::new();
    let mut skip = Vec::new();
    for task in succeeded {
        let Some((old_nodes, _)) = before.get(task) else {
            // A child-start state, or a state that is no task: nothing of its own to skip.
            continue;
        };
        match now.get(task) {
            None => changes.push(format!("its task `{task}` no longer exists")),
            Some((new_nodes, _)) if sorted(new_nodes) != sorted(old_nodes) => {
                changes.push(format!(
                    "its task `{task}` ran {} and now runs {}",
                    sorted(old_nodes).join(", "),
                    sorted(new_nodes).join(", ")
                ))
            }
            Some(_) => skip.push(task.clone()),
        }
    }
    if changes.is_empty() {
        Ok(skip)
    } else {
        Err(ResumeRefused::TasksChanged {
            execution: execution.to_string(),
            changes,
        })
    }
}

fn sorted(nodes: &[String]) -> Vec<&str> {
    let mut sorted: Vec<&str> = nodes.iter().map(String::as_str).collect();
    sorted.sort_unstable();
    sorted
}

/// The resumed run's input: the failed run's (its params), `params` over them, and what
/// the handler reads to resume (see `python/kedro_sfn_handler.py`).
pub fn resume_input(
    failed_input: Option<&str>,
    params: Map<String, Value>,
    execution: &str,
    start_time: &str,
    skip: &[String],
) -> Value {
    let given = failed_input
        .and_then(|text| serde_json::from_str::<Value>(text).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let mut input = crate::pipeline::params::input_with_params(&given, params);
    if let Value::Object(map) = &mut input {
        map.insert(
            "resume".into(),
            json!({"execution": execution, "start_time": start_time, "skip": skip}),
        );
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine(tasks: &[(&str, &[&str])]) -> Value {
        let mut states = Map::new();
        for (i, (name, nodes)) in tasks.iter().enumerate() {
            let mut state = json!({
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"Payload": {"task": name, "nodes": nodes}},
            });
            match tasks.get(i + 1) {
                Some((next, _)) => state["Next"] = json!(next),
                None => state["End"] = json!(true),
            }
            states.insert(name.to_string(), state);
        }
        json!({"StartAt": tasks[0].0, "States": states})
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn what_succeeded_and_is_unchanged_is_skipped() {
        let ran = machine(&[("a", &["a"]), ("b", &["b"]), ("c", &["c"]), ("d", &["d"])]);
        let today = machine(&[("a", &["a"]), ("b", &["b"]), ("c", &["c"]), ("d", &["d"])]);
        let skip = skipped_tasks("run-1", &ran, &today, &set(&["a", "b"])).unwrap();
        assert_eq!(skip, ["a", "b"]);
        // A new task, or a changed one that had failed, just runs.
        let grown = machine(&[
            ("a", &["a"]),
            ("b", &["b"]),
            ("c", &["c", "c2"]),
            ("e", &["e"]),
        ]);
        assert_eq!(
            skipped_tasks("run-1", &ran, &grown, &set(&["a", "b"])).unwrap(),
            ["a", "b"]
        );
    }

    #[test]
    fn a_succeeded_task_that_is_gone_or_runs_other_nodes_refuses_with_each_reason() {
        let ran = machine(&[("a", &["a"]), ("b", &["b1", "b2"]), ("c", &["c"])]);
        let today = machine(&[("b", &["b1"]), ("c", &["c"])]);
        let refused = skipped_tasks("run-1", &ran, &today, &set(&["a", "b"])).unwrap_err();
        let text = refused.to_string();
        assert!(text.contains("its task `a` no longer exists"), "{text}");
        assert!(
            text.contains("its task `b` ran b1, b2 and now runs b1"),
            "{text}"
        );
        assert!(text.starts_with("run-1 cannot be resumed"), "{text}");
    }

    #[test]
    fn the_input_keeps_the_failed_runs_params_under_new_ones_and_says_what_to_skip() {
        let mut params = Map::new();
        params.insert("model_options.test_size".into(), json!(0.2));
        let input = resume_input(
            Some(r#"{"params": {"model_options.test_size": 5, "epochs": 3}}"#),
            params,
            "run-1",
            "2026-12-06T06:30:00.123Z",
            &["a".to_string()],
        );
        assert_eq!(
            input,
            json!({
                "params": {"model_options.test_size": 0.2, "epochs": 3},
                "resume": {"execution": "run-1", "start_time": "2026-12-06T06:30:00.123Z", "skip": ["a"]},
            })
        );
    }
}
