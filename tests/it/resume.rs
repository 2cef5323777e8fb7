//! `execute --resume` against moto: a failed run is resumed after the fix: the new run
//! starts the alias with the failed run's params (and a new one over them), its start time
//! (the data version) and, as tasks to skip, exactly those the failed run's own history
//! shows succeeded; it runs to SUCCEEDED. A run that did not fail, or that does not exist,
//! is refused with the reason, and nothing is started. (Which tasks are skipped, and what
//! the skipped and the resumed tasks do, is tested with the real handler on the
//! interpreter: `handler_on_interpreter.rs`.)

use crate::support;

use std::process::Output;

use support::moto::World;
use support::{example_project, kedro_sfn};

const MACHINE: &str = "spaceflights";

fn deploy(world: &World, image: &str, extra: &[&str]) {
    let output = world
        .deploy_example(image)
        .args(extra)
        .output()
        .expect("kedro-sfn runs");
    assert!(
        output.status.success(),
        "deploy failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn execute(world: &World, args: &[&str]) -> Output {
    kedro_sfn()
        .arg("execute")
        .arg("--project")
        .arg(example_project())
        .args(args)
        .envs(world.moto.aws_env())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("kedro-sfn runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_failed_run_resumes_on_the_alias_with_its_version_and_params_and_a_refusal_starts_nothing() {
    let world = World::new();
    let image = world.image_in(MACHINE, "v1");
    deploy(&world, &image, &[]);
    // Invocations fail (moto's Lambda backed by a Docker it does not have): run-1 fails.
    world.moto.set_config(r#"{"lambda":{"use_docker":true}}"#);
    let failed = execute(
        &world,
        &[
            "--wait",
            "--execution-name",
            "run-1",
            "--params",
            "model_options.test_size=0.3",
        ],
    );
    assert!(!failed.status.success(), "{}", text(&failed));
    let outcome = world.moto.fixture(&["run-outcome", MACHINE, "run-1"]);
    assert_eq!(outcome["status"], "FAILED", "{outcome:#}");
    // What succeeded is read from the history by the fixture, not taken from kedro-sfn
    // (here nothing: each first task failed; the interpreter test resumes half a run).
    assert!(outcome["succeeded"].is_array(), "{outcome:#}");
    // Fixed, then resumed with one param changed.
    world.moto.set_config(r#"{"lambda":{"use_docker":false}}"#);
    let resumed = execute(
        &world,
        &[
            "--resume",
            "run-1",
            "--wait",
            "--execution-name",
            "run-2",
            "--params",
            "model_options.random_state=7",
        ],
    );
    let said = text(&resumed);
    assert!(resumed.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "resuming run-1 (started {})",
            outcome["start_time"].as_str().expect("start")
        )),
        "{said}"
    );
    assert!(said.contains("execution run-2 SUCCEEDED"), "{said}");
    let input = world.moto.fixture(&["execution-input", MACHINE, "run-2"]);
    assert_eq!(input["resume"]["execution"], "run-1", "{input:#}");
    assert_eq!(
        input["resume"]["start_time"], outcome["start_time"],
        "{input:#}"
    );
    assert_eq!(input["resume"]["skip"], outcome["succeeded"], "{input:#}");
    assert_eq!(
        input["params"],
        serde_json::json!({"model_options.test_size": 0.3, "model_options.random_state": 7}),
        "the failed run's params, and the new one: {input:#}"
    );

    // A run that succeeded is not resumed.
    let refused = execute(&world, &["--resume", "run-2"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused).contains("run-2 cannot be resumed: it is SUCCEEDED"),
        "{}",
        text(&refused)
    );
    // A run that does not exist is named.
    let refused = execute(&world, &["--resume", "run-9"]);
    let said = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{said}");
    assert!(
        said.contains("cannot read the execution to resume"),
        "{said}"
    );
    assert!(said.contains("execution:spaceflights:run-9"), "{said}");
    let started = world.moto.fixture(&["executions", MACHINE]);
    assert_eq!(
        started,
        serde_json::json!(["run-1", "run-2"]),
        "a refused resume started nothing"
    );
}
