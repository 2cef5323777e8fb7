//! Shared test harness: locating the tools the tests need (and failing with how to get
//! them), starting local servers, and walking generated definitions.
#![allow(dead_code)]

pub mod asl;
pub mod moto;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The example Kedro project.
pub fn example_project() -> PathBuf {
    repo_root().join("examples/spaceflights")
}

/// The Python with Kedro, kedro-datasets, moto and the example installed: `.venv` made by
/// `scripts/setup.sh`, or `KEDRO_SFN_TEST_PYTHON`.
pub fn python() -> PathBuf {
    let path = std::env::var_os("KEDRO_SFN_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    require(&path, "the test Python (with kedro, moto and the example project)");
    path
}

/// A tool installed next to the test Python (moto_server, kedro).
pub fn venv_tool(name: &str) -> PathBuf {
    let python = python();
    let path = python.parent().map(|d| d.join(name)).unwrap_or_default();
    require(&path, name);
    path
}

/// An npm tool from `node_modules/.bin` (asl-validator, ...).
pub fn node_tool(name: &str) -> PathBuf {
    let path = repo_root().join("node_modules/.bin").join(name);
    require(&path, name);
    path
}

fn require(path: &Path, what: &str) {
    assert!(
        path.exists(),
        "{what} is missing at {}: run scripts/setup.sh (it creates .venv and node_modules) and retry",
        path.display()
    );
}

/// The kedro-sfn binary under test.
pub fn kedro_sfn() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kedro-sfn"));
    command.env("RUST_BACKTRACE", "0").env_remove("RUST_LOG");
    command
}

/// The example's pipeline document for env aws, as the exporter printed it (kept fresh by
/// `export_of_the_example_matches_the_committed_fixture`).
pub fn example_doc_path() -> PathBuf {
    repo_root().join("tests/fixtures/spaceflights.aws.pipeline.json")
}

/// Validates definitions with the independent `asl-validator`; panics with its report.
pub fn assert_valid_asl(definitions: &[(String, serde_json::Value)]) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let validator = node_tool("asl-validator");
    for (label, definition) in definitions {
        let path = dir.path().join("definition.json");
        std::fs::write(&path, serde_json::to_vec_pretty(definition).expect("serializes"))
            .expect("writes the definition");
        let output = Command::new(&validator)
            .arg("--json-path")
            .arg(&path)
            .output()
            .expect("asl-validator runs");
        assert!(
            output.status.success(),
            "asl-validator rejects the definition of {label}:\n{}\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            serde_json::to_string_pretty(definition).unwrap_or_default()
        );
    }
}
