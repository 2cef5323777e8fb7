//! Kedro's transcoding on real Kedro: `scores@pandas` written and `scores@json` read are one
//! dataset, so the reader's task runs after the writer's, and the messages name both views.
//! The project is tests/fixtures/transcoding (see its README).

mod support;

use std::path::Path;

use serde_json::Value;
use support::interpreter::run_on_interpreter;
use support::moto::MotoServer;
use support::{copy_project, kedro_sfn, python, repo_root};

const BUCKET: &str = "kedro-sfn-relay";

fn fixture() -> tempfile::TempDir {
    copy_project(&repo_root().join("tests/fixtures/transcoding"))
}

/// `kedro-sfn ARGS --python <test python> --project <project>`: (success, stdout, stderr).
fn run(project: &Path, args: &[&str]) -> (bool, String, String) {
    let output = kedro_sfn()
        .args(args)
        .arg("--python")
        .arg(python())
        .arg("--project")
        .arg(project)
        .output()
        .expect("kedro-sfn runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("file exists")).expect("valid JSON")
}

#[test]
fn the_reader_of_a_transcoded_dataset_runs_after_its_writer() {
    let project = fixture();
    let out = project.path().join("out");
    let out_arg = out.to_string_lossy().into_owned();
    let args = [
        "plan",
        "--offline",
        "--env",
        "aws",
        "--group-by",
        "none",
        "--out",
        &out_arg,
    ];
    let (ok, stdout, stderr) = run(project.path(), &args);
    assert!(ok, "plan failed:\n{stdout}\n{stderr}");
    assert!(
        !stderr.contains("free-input-not-remote") && !stderr.contains("output-discarded"),
        "a transcoded pair is one dataset, neither free nor discarded:\n{stderr}"
    );

    let plan = read_json(&out.join("plan.json"));
    let dependencies: Vec<(String, String)> = plan["dependencies"]
        .as_array()
        .expect("dependencies")
        .iter()
        .map(|d| {
            let name = |k: &str| d[k].as_str().unwrap_or_default().to_string();
            (name("from"), name("to"))
        })
        .collect();
    assert!(
        dependencies.contains(&("make_scores".into(), "rank_scores".into())),
        "rank_scores reads scores@json, which make_scores writes as scores@pandas: {dependencies:?}"
    );

    // The independent interpreter runs the machine, every task through the real handler:
    // the reader finds the file its writer made (it would fail reading a missing file if the
    // two ran side by side).
    let moto = MotoServer::start();
    let created = std::process::Command::new(python())
        .args(["-c", "import boto3, sys; boto3.client('s3').create_bucket(Bucket=sys.argv[1], CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})", BUCKET])
        .envs(moto.aws_env())
        .output()
        .expect("python runs");
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let run = run_on_interpreter(
        &moto,
        project.path(),
        &out.join("state-machine.asl.json"),
        "{}",
        "relay-1",
    );
    assert_eq!(
        run.result["status"], "SUCCEEDED",
        "{:#}\n{}",
        run.result, run.stderr
    );
    let events = run.result["events"].as_array().expect("events");
    let seq = |state: &str, phase: &str| {
        events
            .iter()
            .find(|e| e["state"] == state && e["phase"] == phase)
            .and_then(|e| e["seq"].as_u64())
            .unwrap_or_else(|| panic!("no {phase} event for {state}: {events:?}"))
    };
    assert!(seq("make_scores", "end") < seq("rank_scores", "start"));
    let report = std::process::Command::new(python())
        .args(["-c", "import boto3, sys; print(boto3.client('s3').get_object(Bucket=sys.argv[1], Key='report.json')['Body'].read().decode())", BUCKET])
        .envs(moto.aws_env())
        .output()
        .expect("python runs");
    let report: Value = serde_json::from_slice(&report.stdout).unwrap_or_else(|e| {
        panic!(
            "no report in the bucket ({e}): {}",
            String::from_utf8_lossy(&report.stderr)
        )
    });
    assert_eq!(
        report,
        serde_json::json!({"winner": "barbara", "players": 4})
    );
}

#[test]
fn a_local_transcoded_dataset_between_tasks_is_refused_under_both_its_names() {
    let project = fixture();
    let (ok, stdout, stderr) = run(
        project.path(),
        &["check", "--env", "base", "--group-by", "none"],
    );
    assert!(
        !ok,
        "a local file between two Lambda tasks must be refused:\n{stdout}"
    );
    for view in ["scores@pandas", "scores@json"] {
        assert!(
            stderr.contains(&format!("error[dataset-not-shared]: dataset `{view}`")),
            "{view} must be refused as a dataset between tasks:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("transcoded as `scores@json` and `scores@pandas`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("written by `make_scores`") && stderr.contains("read by `rank_scores`"),
        "{stderr}"
    );
    assert!(!stderr.contains("free-input-not-remote"), "{stderr}");
    assert!(!stderr.contains("output `scores@pandas`"), "{stderr}");

    // In one task (--group-by memory), the same file stays on the function's disk: allowed.
    let (ok, stdout, stderr) = run(
        project.path(),
        &["check", "--env", "base", "--group-by", "memory"],
    );
    assert!(
        ok,
        "one task may pass a local file between its nodes:\n{stdout}\n{stderr}"
    );
    assert!(!stderr.contains("dataset-not-shared"), "{stderr}");
}
