//! `kedro-sfn plan` on the bundled example, as a user runs it.

use crate::support;

use std::path::Path;

use serde_json::Value;
use support::{assert_valid_asl, example_doc_path, plan_example};

fn plan_into(out: &Path) -> std::process::Output {
    plan_example(out, &[])
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("file exists")).expect("valid JSON")
}

#[test]
fn plan_writes_the_definition_the_plan_and_the_summary() {
    let out = tempfile::tempdir().expect("tempdir");
    let output = plan_into(out.path());
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("7 Kedro nodes in 7 tasks"), "{stdout}");
    assert!(stdout.contains("empty deployment"), "{stdout}");

    let plan = read_json(&out.path().join("plan.json"));
    assert_eq!(plan["format"], "kedro-sfn/plan@1");
    assert_eq!(plan["state_machine"]["name"], "spaceflights");
    assert_eq!(plan["tasks"].as_array().map(Vec::len), Some(7));
    // The config's tag `training` raises memory and timeout for the training node only.
    let functions = plan["functions"].as_array().expect("functions");
    let train = functions
        .iter()
        .find(|f| f["state"] == "active_modelling_pipeline.train_model_node")
        .expect("the training task has a function");
    assert_eq!(train["memory_mb"], 3008);
    assert_eq!(train["timeout_s"], 900);
    assert_eq!(train["environment"]["KEDRO_ENV"], "aws");
    assert_eq!(train["environment"]["LOG_LEVEL"], "INFO");
    assert_eq!(train["tags"]["kedro-sfn:state-machine"], "spaceflights");
    assert!(functions
        .iter()
        .all(|f| f["memory_mb"] == 1024 || f["state"] == train["state"]));
    let schedule = &plan["schedule"];
    assert_eq!(schedule["expected_makespan_s"], schedule["critical_path_s"]);

    let definition = read_json(&out.path().join("state-machine.asl.json"));
    // Timeout: the slowest path of task timeouts (300 + 300+300+900+300) plus 300 s slack.
    assert_eq!(definition["TimeoutSeconds"], 2400);
    let doc = read_json(&example_doc_path());
    let node_names: Vec<String> = doc["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["name"].as_str().unwrap_or_default().to_string())
        .collect();
    let shape = support::asl::shape(&definition);
    support::asl::assert_runs_in_order(&shape, &node_names, &support::asl::dependencies(&doc));
    let function_arn = definition["States"]
        .as_object()
        .and_then(|states| states.values().next())
        .and_then(|state| {
            state["Branches"][0]["States"]["preprocess_companies_node"]["Parameters"]
                ["FunctionName"]
                .as_str()
        })
        .unwrap_or_default()
        .to_string();
    assert_eq!(
        function_arn,
        "arn:aws:lambda:eu-west-1:123456789012:function:spaceflights-preprocess_companies_node"
    );
    assert_valid_asl(&[("the example".to_string(), definition)]);
}

#[test]
fn the_same_input_gives_the_same_bytes() {
    let first = tempfile::tempdir().expect("tempdir");
    let second = tempfile::tempdir().expect("tempdir");
    assert!(plan_into(first.path()).status.success());
    assert!(plan_into(second.path()).status.success());
    for file in ["state-machine.asl.json", "plan.json", "summary.md"] {
        let a = std::fs::read(first.path().join(file)).expect("first");
        let b = std::fs::read(second.path().join(file)).expect("second");
        assert!(a == b, "{file} differs between two runs on the same input");
    }
}

#[test]
fn the_summary_of_the_example_reads_as_expected() {
    let out = tempfile::tempdir().expect("tempdir");
    assert!(plan_into(out.path()).status.success());
    let summary = std::fs::read_to_string(out.path().join("summary.md")).expect("summary");
    insta::assert_snapshot!("spaceflights_summary", summary);
}

#[test]
fn a_document_for_another_env_is_refused() {
    let out = tempfile::tempdir().expect("tempdir");
    let output = plan_example(out.path(), &["--env", "prod"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("exported for env aws"), "{stderr}");
    assert!(stderr.contains("kedro-sfn export --env prod"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn group_by_namespace_gives_one_task_for_the_modelling_pipeline() {
    let out = tempfile::tempdir().expect("tempdir");
    let output = plan_example(out.path(), &["--group-by", "namespace"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let plan = read_json(&out.path().join("plan.json"));
    let modelling = plan["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["state"] == "active_modelling_pipeline")
        .expect("one task named after the namespace");
    assert_eq!(
        modelling["nodes"],
        serde_json::json!([
            "active_modelling_pipeline.split_data_node",
            "active_modelling_pipeline.train_model_node",
            "active_modelling_pipeline.evaluate_model_node"
        ])
    );
    assert_eq!(plan["tasks"].as_array().map(Vec::len), Some(5));
    assert_valid_asl(&[(
        "the example grouped by namespace".to_string(),
        read_json(&out.path().join("state-machine.asl.json")),
    )]);
}
