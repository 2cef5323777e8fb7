//! The independent ASL interpreter (aws-local-stepfunctions) running a generated definition,
//! every Task handled by the real handler on a real Kedro project.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::moto::MotoServer;

/// What the interpreter driver reported: `{status, error, events, context}`, and the
/// handler's stderr.
pub struct Run {
    pub result: Value,
    pub stderr: String,
}

/// Executes `definition` on aws-local-stepfunctions (tests/support/local_sfn.mjs), every Task
/// run by the real handler on `project`, with moto's S3.
pub fn run_on_interpreter(
    moto: &MotoServer,
    project: &Path,
    definition: &Path,
    input: &str,
    name: &str,
) -> Run {
    let root = super::repo_root();
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let output = Command::new(&node)
        .arg("--import")
        .arg(root.join("tests/support/promise_with_resolvers.mjs"))
        .arg(root.join("tests/support/local_sfn.mjs"))
        .arg("--definition")
        .arg(definition)
        .args(["--input", input, "--execution-name", name])
        .args(["--task-timeout-seconds", "300"])
        .arg("--")
        .arg(super::python())
        .arg(root.join("python/kedro_sfn_handler.py"))
        .envs(moto.aws_env())
        .env("KEDRO_SFN_PROJECT_DIR", project)
        .current_dir(std::env::temp_dir())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {node} (install Node.js >= 20): {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        output.status.success(),
        "the interpreter driver failed (exit {:?}):\n{stderr}",
        output.status.code()
    );
    let result = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "the driver printed no JSON ({e}):\n{}",
            String::from_utf8_lossy(&output.stdout)
        )
    });
    Run { result, stderr }
}

/// The example's plan (with `extra` flags) in a temporary directory, and moto with the
/// example's raw data.
pub fn planned_example_with_data(extra: &[&str]) -> (tempfile::TempDir, MotoServer) {
    let out = tempfile::tempdir().expect("tempdir");
    let planned = super::plan_example(out.path(), extra);
    assert!(
        planned.status.success(),
        "{}",
        String::from_utf8_lossy(&planned.stderr)
    );
    let moto = MotoServer::start();
    moto.upload_example_data();
    (out, moto)
}

/// The save version Kedro gives an execution's start time:
/// `2026-11-27T19:08:38.123Z` -> Kedro's `2026-11-27T19.08.38.123Z`.
pub fn kedro_version(start_time: &str) -> String {
    let (date, time) = start_time.split_once('T').expect("ISO time");
    let time = time.trim_end_matches('Z');
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let millis: String = format!("{fraction:0<3}").chars().take(3).collect();
    format!("{date}T{}.{millis}Z", hms.replace(':', "."))
}
