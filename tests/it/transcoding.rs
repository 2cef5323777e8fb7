//! Kedro's transcoding on real Kedro: `scores@pandas` written and `scores@json` read are one
//! dataset, so the reader's task runs after the writer's, and the messages name both views.
//! The project is tests/fixtures/transcoding (see its README).

use crate::support;

use serde_json::Value;
use support::interpreter::run_on_interpreter;
use support::moto::MotoServer;
use support::{copy_project, plan_offline, repo_root, run_in_project};

const BUCKET: &str = "kedro-sfn-relay";

fn fixture() -> tempfile::TempDir {
    copy_project(&repo_root().join("tests/fixtures/transcoding"))
}

#[test]
fn the_reader_of_a_transcoded_dataset_runs_after_its_writer() {
    let project = fixture();
    let out = project.path().join("out");
    let plan = plan_offline(
        project.path(),
        &out,
        &["--env", "aws", "--group-by", "none"],
    );
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
    moto.create_bucket(BUCKET);
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
    let report: Value =
        serde_json::from_str(&moto.s3_text(BUCKET, "report.json")).expect("the report is JSON");
    assert_eq!(
        report,
        serde_json::json!({"winner": "barbara", "players": 4})
    );
}

#[test]
fn a_local_transcoded_dataset_between_tasks_is_refused_under_both_its_names() {
    let project = fixture();
    let (ok, stdout, stderr) = run_in_project(
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
    let (ok, stdout, stderr) = run_in_project(
        project.path(),
        &["check", "--env", "base", "--group-by", "memory"],
    );
    assert!(
        ok,
        "one task may pass a local file between its nodes:\n{stdout}\n{stderr}"
    );
    assert!(!stderr.contains("dataset-not-shared"), "{stderr}");
}
