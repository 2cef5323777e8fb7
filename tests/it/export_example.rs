//! `kedro-sfn export` against real Kedro on the example project.

use crate::support;

use support::{copy_project, example_doc_path, example_project, kedro_sfn, python};

#[test]
fn export_of_the_example_matches_the_committed_fixture() {
    let output = kedro_sfn()
        .args(["export", "--env", "aws", "--python"])
        .arg(python())
        .arg("--project")
        .arg(example_project())
        .output()
        .expect("runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let exported = String::from_utf8(output.stdout).expect("utf-8");
    let fixture = std::fs::read_to_string(example_doc_path()).expect("fixture");
    assert_eq!(
        exported, fixture,
        "the exporter's output changed: if intended, regenerate tests/fixtures with `kedro-sfn export --env aws -o ...`"
    );
    let doc: serde_json::Value = serde_json::from_str(&exported).expect("JSON");
    let names: Vec<&str> = doc["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert!(names.contains(&"active_modelling_pipeline.train_model_node"));
    let split = &doc["nodes"][4];
    assert_eq!(split["namespace"], "active_modelling_pipeline");
    assert!(split["inputs"]
        .as_array()
        .expect("inputs")
        .contains(&serde_json::json!("params:model_options")));
    let regressor = &doc["datasets"]["active_modelling_pipeline.regressor"];
    assert_eq!(regressor["type"], "pickle.PickleDataset");
    assert_eq!(regressor["versioned"], true);
    assert!(regressor["filepath"]
        .as_str()
        .unwrap_or_default()
        .starts_with("s3://kedro-sfn-spaceflights/"));
}

#[test]
fn the_base_env_has_local_paths_and_check_refuses_them_all_at_once() {
    let output = kedro_sfn()
        .args(["check", "--env", "base", "--group-by", "none", "--python"])
        .arg(python())
        .arg("--project")
        .arg(example_project())
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    // The three raw inputs and every dataset between tasks are named in one run.
    for dataset in ["companies", "reviews", "shuttles", "model_input_table"] {
        assert!(
            stderr.contains(&format!("`{dataset}`")),
            "{dataset} missing from:\n{stderr}"
        );
    }
    assert!(stderr.contains("free-input-not-remote"), "{stderr}");
    assert!(stderr.contains("data/01_raw/companies.csv"), "{stderr}");
}

#[test]
fn a_project_that_fails_to_import_gives_the_python_error_and_a_hint() {
    let project = copy_project(&example_project());
    let nodes = project
        .path()
        .join("src/spaceflights/pipelines/data_processing/nodes.py");
    std::fs::write(&nodes, "def broken(:\n    pass\n").expect("breaks the project");
    let output = kedro_sfn()
        .args(["export", "--python"])
        .arg(python())
        .arg("--project")
        .arg(project.path())
        .env("PYTHONPATH", project.path().join("src"))
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("SyntaxError"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_missing_python_is_named_with_what_to_do() {
    let output = kedro_sfn()
        .args(["export", "--python", "/nonexistent/python3", "--project"])
        .arg(example_project())
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("cannot run /nonexistent/python3"),
        "{stderr}"
    );
    assert!(stderr.contains("--python"), "{stderr}");
}
