//! `kedro-sfn run-task`: one task of the planned machine, run here through the real handler
//! with the payload its Task state sends, against moto's S3.

use crate::support;

use support::moto::MotoServer;
use support::{example_doc_path, example_project, kedro_sfn, python, EXAMPLE_BUCKET};

fn run_task(moto: &MotoServer, extra: &[&str]) -> std::process::Output {
    run_task_with(moto, &example_project(), &python(), extra)
}

/// `kedro-sfn run-task` on `project` (with the example's document) with `python`, from the
/// repository's root.
fn run_task_with(
    moto: &MotoServer,
    project: &std::path::Path,
    python: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    kedro_sfn()
        .current_dir(support::repo_root())
        .arg("run-task")
        .arg("--project")
        .arg(project)
        .arg("--pipeline-json")
        .arg(example_doc_path())
        .arg("--python")
        .arg(python)
        .args(extra)
        .envs(moto.aws_env())
        .output()
        .expect("kedro-sfn runs")
}

#[test]
fn run_task_runs_one_task_through_the_handler_and_names_a_failing_node() {
    let moto = MotoServer::start();
    moto.upload_example_data();

    let ok = run_task(
        &moto,
        &[
            "--task",
            "preprocess_companies_node",
            "--start-time",
            "2026-11-27T10:00:00.5Z",
        ],
    );
    let stderr = String::from_utf8_lossy(&ok.stderr);
    assert!(ok.status.success(), "{stderr}");
    let result: serde_json::Value = serde_json::from_slice(&ok.stdout).expect("the result is JSON");
    assert_eq!(
        result["nodes"],
        serde_json::json!(["preprocess_companies_node"])
    );
    assert_eq!(result["save_version"], "2026-11-27T10.00.00.500Z");
    assert!(
        moto.s3_keys(EXAMPLE_BUCKET)
            .contains(&"02_intermediate/preprocessed_companies.csv".to_string()),
        "the task's output is not in the bucket"
    );

    // A node whose inputs are missing fails, and the error names it.
    let failed = run_task(
        &moto,
        &["--task", "active_modelling_pipeline.evaluate_model_node"],
    );
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(
        stderr.contains("active_modelling_pipeline.evaluate_model_node")
            && stderr.contains("is the one that failed"),
        "{stderr}"
    );

    let unknown = run_task(&moto, &["--task", "no_such_node"]);
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(!unknown.status.success());
    assert!(
        stderr.contains("no task or node named \"no_such_node\"")
            && stderr.contains("preprocess_shuttles_node"),
        "{stderr}"
    );
}

#[test]
fn a_relative_python_is_found_from_here_and_a_task_that_never_started_is_not_blamed_on_a_node() {
    let moto = MotoServer::start();
    moto.upload_example_data();
    // `--python .venv/bin/python`, relative to the working directory, as `export` takes it.
    let root = support::repo_root();
    let relative = python()
        .strip_prefix(&root)
        .map(std::path::Path::to_path_buf)
        .expect("the test Python is under the repository (.venv), or set KEDRO_SFN_TEST_PYTHON inside it");
    let output = run_task_with(
        &moto,
        &example_project(),
        &relative,
        &["--task", "preprocess_shuttles_node"],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // The project cannot be loaded: the handler stops before any node, and says so.
    let broken = support::copy_project(&example_project());
    std::fs::write(
        broken.path().join("src/spaceflights/settings.py"),
        "import no_such_module_here\n",
    )
    .expect("breaks the settings");
    let failed = run_task_with(
        &moto,
        broken.path(),
        &python(),
        &["--task", "preprocess_shuttles_node"],
    );
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success());
    assert!(stderr.contains("no_such_module_here"), "{stderr}");
    assert!(
        stderr.contains("the handler stopped before any node ran")
            && !stderr.contains("NodeFailed: node"),
        "{stderr}"
    );
}
