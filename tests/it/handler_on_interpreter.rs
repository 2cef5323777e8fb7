//! The generated definition executed by an independent ASL interpreter
//! (aws-local-stepfunctions, through tests/support/local_sfn.mjs), every Task handled by
//! the real handler on the real example project, its data on moto's S3: the order the
//! interpreter ran the tasks in respects every dependency, every output lands in the bucket,
//! and the versioned datasets of the execution share the one version of its start time.

use crate::support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::interpreter::{kedro_version, planned_example_with_data, run_on_interpreter};
use support::{example_doc_path, example_project, EXAMPLE_BUCKET};

/// Task state -> its nodes, from plan.json.
fn tasks(plan_dir: &std::path::Path) -> BTreeMap<String, Vec<String>> {
    let plan: Value =
        serde_json::from_slice(&std::fs::read(plan_dir.join("plan.json")).expect("plan.json"))
            .expect("json");
    plan["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| {
            let nodes = t["nodes"]
                .as_array()
                .expect("nodes")
                .iter()
                .map(|n| n.as_str().unwrap_or_default().to_string());
            (
                t["state"].as_str().unwrap_or_default().to_string(),
                nodes.collect(),
            )
        })
        .collect()
}

#[test]
fn the_interpreter_runs_the_example_through_the_real_handler() {
    let (out, moto) = planned_example_with_data(&[]);

    let run = run_on_interpreter(
        &moto,
        &example_project(),
        &out.path().join("state-machine.asl.json"),
        "{}",
        "exec-a",
    );
    assert_eq!(
        run.result["status"], "SUCCEEDED",
        "{:#}\n{}",
        run.result, run.stderr
    );

    // Ends and starts as the interpreter ran them: a reader starts after its writer ended.
    let events = run.result["events"].as_array().expect("events");
    let at = |state: &str, phase: &str| {
        events
            .iter()
            .find(|e| e["state"] == state && e["phase"] == phase)
            .and_then(|e| e["seq"].as_u64())
            .unwrap_or_else(|| panic!("no {phase} event for {state}: {events:?}"))
    };
    let tasks = tasks(out.path());
    let task_of: BTreeMap<&str, &str> = tasks
        .iter()
        .flat_map(|(task, nodes)| nodes.iter().map(move |n| (n.as_str(), task.as_str())))
        .collect();
    let doc: Value =
        serde_json::from_slice(&std::fs::read(example_doc_path()).expect("doc")).expect("json");
    let dependencies = support::asl::dependencies(&doc);
    assert!(!dependencies.is_empty());
    for (writer, reader) in &dependencies {
        let (wt, rt) = (task_of[writer.as_str()], task_of[reader.as_str()]);
        if wt != rt {
            assert!(
                at(wt, "end") < at(rt, "start"),
                "{rt} started before {wt} ended: {events:?}"
            );
        }
    }
    for task in tasks.keys() {
        at(task, "end");
    }

    // Every dataset the pipeline writes is in the bucket; versioned ones under one version.
    let keys = moto.s3_keys(EXAMPLE_BUCKET);
    for (name, dataset) in doc["datasets"].as_object().expect("datasets") {
        let written = doc["nodes"].as_array().expect("nodes").iter().any(|n| {
            n["outputs"]
                .as_array()
                .is_some_and(|o| o.iter().any(|x| x == name))
        });
        if !written {
            continue;
        }
        let path = dataset["filepath"].as_str().expect("filepath");
        let key = path
            .strip_prefix(&format!("s3://{EXAMPLE_BUCKET}/"))
            .expect("on the bucket");
        assert!(
            keys.iter().any(|k| k.starts_with(key)),
            "{name} ({path}) is not in the bucket: {keys:#?}"
        );
    }
    let start = run.result["context"]["StartTime"]
        .as_str()
        .expect("start time");
    let version = kedro_version(start);
    let versioned: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("06_models/") || k.contains("/metrics.json/"))
        .collect();
    assert!(
        versioned.len() >= 2,
        "expected the regressor and the metrics: {keys:#?}"
    );
    for key in versioned {
        assert!(
            key.contains(&format!("/{version}/")),
            "{key} is not under the execution's version {version}"
        );
    }
}

#[test]
fn a_failing_node_fails_the_execution_and_names_itself() {
    let (out, moto) = planned_example_with_data(&[]);
    let input = r#"{"params": {"model_options.test_size": 5}}"#;
    let run = run_on_interpreter(
        &moto,
        &example_project(),
        &out.path().join("state-machine.asl.json"),
        input,
        "exec-bad",
    );
    assert_eq!(run.result["status"], "FAILED", "{:#}", run.result);
    let error = run.result["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("split_data"),
        "the error names another state: {error}"
    );
    assert!(
        run.stderr
            .contains("active_modelling_pipeline.split_data_node")
            && run.stderr.contains("test_size"),
        "the handler's message must name the node and the original error:\n{}",
        run.stderr
    );
}

/// A run that fails in the split (a bad param), resumed with the fix as `execute --resume`
/// starts it: every task that ended in the failed run is skipped by the real handler
/// without running a node, the failed task and those after it run, and every versioned
/// output lands under the failed run's version, none under the resumed run's own.
#[test]
fn a_resumed_run_runs_only_what_failed_and_after_it_under_the_failed_runs_version() {
    let (out, moto) = planned_example_with_data(&[]);
    let definition = out.path().join("state-machine.asl.json");
    let failed = run_on_interpreter(
        &moto,
        &example_project(),
        &definition,
        r#"{"params": {"model_options.test_size": 5}}"#,
        "exec-bad",
    );
    assert_eq!(failed.result["status"], "FAILED", "{:#}", failed.result);
    let with_phase = |run: &support::interpreter::Run, phase: &str| -> Vec<String> {
        let mut states: Vec<String> = run.result["events"]
            .as_array()
            .expect("events")
            .iter()
            .filter(|e| e["phase"] == phase)
            .filter_map(|e| e["state"].as_str().map(str::to_string))
            .collect();
        states.sort();
        states.dedup();
        states
    };
    let ended = with_phase(&failed, "end");
    for upstream in [
        "create_model_input_table_node",
        "preprocess_companies_node",
        "preprocess_shuttles_node",
    ] {
        assert!(ended.iter().any(|s| s == upstream), "{ended:?}");
    }
    assert!(
        with_phase(&failed, "fail")
            .iter()
            .any(|s| s.contains("split_data")),
        "{:#}",
        failed.result
    );
    let failed_start = failed.result["context"]["StartTime"]
        .as_str()
        .expect("start")
        .to_string();

    let input = serde_json::json!({
        "params": {},
        "resume": {"execution": "exec-bad", "start_time": failed_start, "skip": ended},
    });
    let resumed = run_on_interpreter(
        &moto,
        &example_project(),
        &definition,
        &input.to_string(),
        "exec-resumed",
    );
    assert_eq!(
        resumed.result["status"], "SUCCEEDED",
        "{:#}\n{}",
        resumed.result, resumed.stderr
    );
    let tasks = tasks(out.path());
    for task in tasks.keys() {
        let skipped = resumed
            .stderr
            .contains(&format!("task {task}: skipped, it succeeded in exec-bad"));
        let ran = resumed.stderr.contains(&format!("task {task}: nodes "));
        let was_done = ended.contains(task);
        assert_eq!(
            (skipped, ran),
            (was_done, !was_done),
            "{task}: skipped {skipped}, ran {ran}:\n{}",
            resumed.stderr
        );
    }
    let failed_version = kedro_version(&failed_start);
    let resumed_version = kedro_version(
        resumed.result["context"]["StartTime"]
            .as_str()
            .expect("start"),
    );
    assert_ne!(failed_version, resumed_version);
    let keys = moto.s3_keys(EXAMPLE_BUCKET);
    let versioned: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("06_models/") || k.contains("/metrics.json/"))
        .collect();
    assert!(versioned.len() >= 2, "{keys:#?}");
    for key in versioned {
        assert!(
            key.contains(&format!("/{failed_version}/")),
            "{key} is not under the failed run's version {failed_version}"
        );
    }
}
