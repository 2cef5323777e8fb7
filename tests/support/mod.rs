//! Shared test harness: locating the tools the tests need (and failing with how to get
//! them), starting local servers, and walking generated definitions.
#![allow(dead_code)]

pub mod asl;
pub mod fault_proxy;
pub mod github;
pub mod images;
pub mod interpreter;
pub mod moto;
pub mod mount;

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
    require(
        &path,
        "the test Python (with kedro, moto and the example project)",
    );
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

/// The bucket the example's `conf/aws` catalog uses.
pub const EXAMPLE_BUCKET: &str = "kedro-sfn-spaceflights";

/// The kedro-sfn binary under test.
pub fn kedro_sfn() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kedro-sfn"));
    command
        .env("RUST_BACKTRACE", "0")
        .env_remove("RUST_LOG")
        .env_remove("KEDRO_ENV")
        // The tests' own cache of exported documents, shared by the tests of one build.
        .env(
            "KEDRO_SFN_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("kedro-sfn-cache"),
        );
    command
}

/// The example's pipeline document for env aws, as the exporter printed it (kept fresh by
/// `export_of_the_example_matches_the_committed_fixture`).
pub fn example_doc_path() -> PathBuf {
    repo_root().join("tests/fixtures/spaceflights.aws.pipeline.json")
}

/// Validates definitions with the independent `asl-validator` (one process for all of
/// them); panics with its report and the labels of the files it names.
pub fn assert_valid_asl(definitions: &[(String, serde_json::Value)]) {
    assert!(!definitions.is_empty(), "nothing to validate");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut command = Command::new(node_tool("asl-validator"));
    let mut legend = Vec::new();
    for (index, (label, definition)) in definitions.iter().enumerate() {
        let path = dir.path().join(format!("definition-{index}.json"));
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(definition).expect("serializes"),
        )
        .expect("writes the definition");
        command.arg("--json-path").arg(&path);
        legend.push(format!("definition-{index}.json = {label}"));
    }
    let output = command.output().expect("asl-validator runs");
    assert!(
        output.status.success(),
        "asl-validator rejects a definition:\n{}\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        legend.join("\n")
    );
}

/// A pipeline document by hand: nodes as (name, inputs, outputs), datasets as
/// (name, type, filepath).
pub fn doc(
    nodes: &[(&str, &[&str], &[&str])],
    datasets: &[(&str, &str, Option<&str>)],
) -> serde_json::Value {
    let nodes: Vec<serde_json::Value> = nodes
        .iter()
        .map(|(name, inputs, outputs)| {
            let namespace = name.rsplit_once('.').map(|(ns, _)| ns.to_string());
            serde_json::json!({
                "name": name, "inputs": inputs, "outputs": outputs,
                "tags": [], "namespace": namespace
            })
        })
        .collect();
    let datasets: serde_json::Map<String, serde_json::Value> = datasets
        .iter()
        .map(|(name, kind, path)| {
            (
                name.to_string(),
                serde_json::json!({"type": kind, "filepath": path, "versioned": false}),
            )
        })
        .collect();
    serde_json::json!({
        "format": "kedro-sfn/pipeline@1",
        "project": {"name": "demo", "package": "demo", "kedro_version": "1.7.0"},
        "env": "aws", "pipeline": "__default__", "pipelines": ["__default__"],
        "nodes": nodes, "datasets": datasets
    })
}

/// Runs `kedro-sfn ARGS --pipeline-json <doc>` with an optional config; returns
/// (success, stdout, stderr, output directory).
pub fn run_on_doc(
    command: &str,
    doc: &serde_json::Value,
    config: Option<&str>,
    extra: &[&str],
) -> (bool, String, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let doc_path = dir.path().join("pipeline.json");
    std::fs::write(&doc_path, serde_json::to_vec_pretty(doc).expect("json")).expect("write");
    let mut cmd = kedro_sfn();
    cmd.arg(command)
        .arg("--pipeline-json")
        .arg(&doc_path)
        .arg("--project")
        .arg(dir.path());
    if let Some(config) = config {
        let config_path = dir.path().join("kedro-sfn.yml");
        std::fs::write(&config_path, config).expect("write config");
    }
    if command == "plan" {
        cmd.arg("--offline")
            .arg("--out")
            .arg(dir.path().join("out"));
    }
    cmd.args(extra);
    let (ok, stdout, stderr) = outcome(&mut cmd);
    (ok, stdout, stderr, dir)
}

/// `kedro-sfn ARGS --python <test python> --project <project>`, on a real Kedro project:
/// (success, stdout, stderr).
pub fn run_in_project(project: &Path, args: &[&str]) -> (bool, String, String) {
    let mut command = kedro_sfn();
    command.args(args);
    run_in_project_with(&mut command, project, &python())
}

/// Runs a kedro-sfn `command` (its arguments given) on `project` with `python` (an older
/// Kedro's environment, say): (success, stdout, stderr).
pub fn run_in_project_with(
    command: &mut Command,
    project: &Path,
    python: &Path,
) -> (bool, String, String) {
    command
        .arg("--python")
        .arg(python)
        .arg("--project")
        .arg(project)
        .env("RUST_BACKTRACE", "0");
    outcome(command)
}

/// `kedro-sfn plan --offline --out OUT ARGS` on a real project; fails the test when the
/// plan fails. Returns plan.json.
pub fn plan_offline(project: &Path, out: &Path, args: &[&str]) -> serde_json::Value {
    let out_arg = out.to_string_lossy().into_owned();
    let mut all = vec!["plan", "--offline", "--out", &out_arg];
    all.extend_from_slice(args);
    let (ok, stdout, stderr) = run_in_project(project, &all);
    assert!(ok, "kedro-sfn {all:?} failed:\n{stdout}\n{stderr}");
    let plan = std::fs::read(out.join("plan.json")).expect("plan.json");
    serde_json::from_slice(&plan).expect("plan.json is JSON")
}

/// Runs a kedro-sfn command: (success, stdout, stderr); a panic fails the test.
fn outcome(command: &mut Command) -> (bool, String, String) {
    let output = command.output().expect("kedro-sfn runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "kedro-sfn panicked:\n{stderr}"
    );
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr,
    )
}

/// Runs `kedro-sfn plan` on the example's pipeline document into `out`, with extra flags.
pub fn plan_example(out: &Path, extra: &[&str]) -> std::process::Output {
    kedro_sfn()
        .arg("plan")
        .arg("--offline")
        .args(extra)
        .arg("--pipeline-json")
        .arg(example_doc_path())
        .arg("--project")
        .arg(example_project())
        .arg("--out")
        .arg(out)
        .output()
        .expect("kedro-sfn runs")
}

/// A copy of a Kedro project in a temporary directory, for a test that writes into it or
/// must not depend on what earlier runs left: its source and conf, without `data/`, build
/// metadata (`*.egg-info`) or bytecode.
pub fn copy_project(from: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    copy_tree(from, dir.path());
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    let entries =
        std::fs::read_dir(from).unwrap_or_else(|e| panic!("cannot read {}: {e}", from.display()));
    for entry in entries {
        let entry = entry.expect("a directory entry");
        let name = entry.file_name();
        let shown = name.to_string_lossy();
        if name == "data" || name == "__pycache__" || shown.ends_with(".egg-info") {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("a file type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            use std::os::unix::fs::PermissionsExt;
            std::fs::copy(entry.path(), &target).expect("copy");
            // The shared projects may be read-only files: the copy is the test's to write.
            let mut permissions = std::fs::metadata(&target).expect("stat").permissions();
            permissions.set_mode(permissions.mode() | 0o200);
            std::fs::set_permissions(&target, permissions).expect("chmod");
        }
    }
}

/// A public Kedro project we did not write (`../shared/real-projects/<name>`, or under
/// `KEDRO_SFN_REAL_PROJECTS`), copied: tests never write into the shared one.
pub fn real_project(name: &str) -> tempfile::TempDir {
    let root = std::env::var_os("KEDRO_SFN_REAL_PROJECTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared/real-projects"));
    let source = root.join(name);
    assert!(
        source.is_dir(),
        "the real project {} is missing: it is rendered from kedro-org/kedro-starters (see shared/real-projects/README.md); set KEDRO_SFN_REAL_PROJECTS to the directory that holds it",
        source.display()
    );
    copy_project(&source)
}

/// A pipeline of one chain of nodes with the given names (each reads the previous one's
/// output, all on S3), for tests of how names are escaped and drawn.
pub fn chain_doc(project_name: &str, names: &[&str]) -> kedro_sfn::pipeline::model::PipelineDoc {
    let nodes: Vec<serde_json::Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| serde_json::json!({"name": n, "inputs": if i == 0 { vec![] } else { vec![format!("d{}", i - 1)] }, "outputs": [format!("d{i}")], "tags": [], "namespace": null}))
        .collect();
    let datasets: serde_json::Map<String, serde_json::Value> = (0..names.len())
        .map(|i| (format!("d{i}"), serde_json::json!({"type": "pandas.CSVDataset", "filepath": format!("s3://b/{i}.csv"), "versioned": false})))
        .collect();
    serde_json::from_value(serde_json::json!({
        "format": "kedro-sfn/pipeline@1",
        "project": {"name": project_name, "package": "p", "kedro_version": "1.7.0"},
        "env": "aws", "pipeline": "__default__", "pipelines": ["__default__"],
        "nodes": nodes, "datasets": datasets}))
    .expect("document")
}
