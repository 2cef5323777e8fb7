//! The example's definition on moto's Step Functions: accepted by its ASL parser (a second
//! validator) and run to SUCCEEDED by its interpreter, every Task entered.

use crate::support;

use std::process::Command;

use support::moto::MotoServer;
use support::{plan_example, python, repo_root};

#[test]
fn the_example_runs_to_succeeded_on_moto() {
    let out = tempfile::tempdir().expect("tempdir");
    let output = plan_example(out.path(), &[]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let moto = MotoServer::start();
    let run = Command::new(python())
        .arg(repo_root().join("tests/support/moto_run_definition.py"))
        .arg(moto.endpoint())
        .arg(out.path().join("state-machine.asl.json"))
        .arg(out.path().join("plan.json"))
        .output()
        .expect("the moto driver runs");
    assert!(
        run.status.success(),
        "moto rejected or failed the definition:\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let result: serde_json::Value =
        serde_json::from_slice(&run.stdout).expect("the driver prints JSON");
    assert_eq!(result["status"], "SUCCEEDED", "{result:#}");
    let entered: Vec<&str> = result["entered"]
        .as_array()
        .expect("entered")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    let plan: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("plan.json")).expect("plan.json"))
            .expect("json");
    for task in plan["tasks"].as_array().expect("tasks") {
        let state = task["state"].as_str().unwrap_or_default();
        assert!(
            entered.contains(&state),
            "{state} was never entered: {entered:?}"
        );
    }
    // Upstream before downstream, as the interpreter actually ran them.
    let position = |name: &str| {
        entered
            .iter()
            .position(|s| *s == name)
            .unwrap_or(usize::MAX)
    };
    assert!(
        position("create_model_input_table_node")
            < position("active_modelling_pipeline.split_data_node")
    );
    assert!(
        position("active_modelling_pipeline.train_model_node")
            < position("active_modelling_pipeline.evaluate_model_node")
    );
}
