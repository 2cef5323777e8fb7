//! Deploys against a stressed AWS: moto behind `fault_proxy.py`, which throttles, fails
//! calls before they happen, loses the answers of writes that took effect, and kills the
//! deploy after its k-th write. Whatever happens, the live alias stays runnable (every
//! function version it names exists), a rerun converges, and a no-op after it writes
//! nothing.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use kedro_sfn::synthetic::{doc_from_dag, random_dag, Rng};
use serde_json::{json, Value};
use support::fault_proxy::FaultProxy;
use support::kedro_sfn;
use support::moto::MotoServer;

/// A synthetic pipeline of `tasks` nodes (one Lambda task each), written as a document.
fn write_doc(dir: &Path, tasks: usize) -> PathBuf {
    let dag = random_dag(tasks, 6, 0.3, &mut Rng::new(tasks as u64));
    let doc = doc_from_dag(&dag, &|i| format!("node_{i:03}"));
    let path = dir.join("pipeline.json");
    std::fs::write(&path, serde_json::to_vec(&doc).expect("JSON")).expect("document");
    path
}

struct Stress {
    moto: MotoServer,
    roles: Value,
    dir: tempfile::TempDir,
    doc: PathBuf,
}

impl Stress {
    fn new(tasks: usize) -> Stress {
        let moto = MotoServer::start_with(&[("MOTO_LAMBDA_STUB_ECR", "false")]);
        let roles = moto.fixture(&["roles"]);
        let dir = tempfile::tempdir().expect("tempdir");
        let doc = write_doc(dir.path(), tasks);
        Stress {
            moto,
            roles,
            dir,
            doc,
        }
    }

    fn image(&self, machine: &str, tag: &str) -> String {
        self.moto.fixture(&["image", machine, tag])["uri"]
            .as_str()
            .expect("uri")
            .to_string()
    }

    fn out(&self, machine: &str) -> PathBuf {
        self.dir.path().join(machine)
    }

    /// `kedro-sfn deploy` of the document as `machine`, through `proxy`.
    fn deploy(&self, proxy: &FaultProxy, machine: &str, image: &str) -> Command {
        self.deploy_doc(proxy, machine, image, &self.doc)
    }

    /// `kedro-sfn deploy` of another document as `machine`, through `proxy`. With durations
    /// pinned (`--history 0`): the executions these tests run take milliseconds on moto,
    /// apart by noise, and a plan rightly reshapes a machine that another shape beats by
    /// 5 % under them; a rerun's no-op here is about the deploy, not that noise (shapes
    /// kept from history are tested in planning.rs).
    fn deploy_doc(&self, proxy: &FaultProxy, machine: &str, image: &str, doc: &Path) -> Command {
        let mut command = kedro_sfn();
        command
            .arg("deploy")
            .args(["--history", "0"])
            .arg("--pipeline-json")
            .arg(doc)
            .args(["--state-machine-name", machine])
            .args(["--image-uri", image])
            .args([
                "--lambda-role-arn",
                self.roles["lambda"].as_str().expect("role"),
            ])
            .args([
                "--state-machine-role-arn",
                self.roles["states"].as_str().expect("role"),
            ])
            .arg("--out")
            .arg(self.out(machine))
            .envs(proxy.aws_env(&self.moto));
        command
    }

    /// The calls the last deploy of `machine` made (its deploy.json).
    fn calls(&self, machine: &str) -> Value {
        let path = self.out(machine).join("deploy.json");
        let report: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("deploy.json")).expect("JSON");
        report["calls"].clone()
    }

    /// Asserts the live alias exists and names only function versions that exist.
    fn assert_runnable(&self, machine: &str, context: &str) {
        let state = self.moto.fixture(&["alias-runnable", machine, "live"]);
        assert_eq!(state["alias"], json!(true), "{context}: no live alias");
        assert_eq!(
            state["missing"],
            json!([]),
            "{context}: the live alias names missing versions"
        );
        assert!(state["pinned"].as_u64().unwrap_or(0) > 0, "{state}");
        // And it runs: an execution of the alias (moto's Step Functions, not the proxy)
        // reaches SUCCEEDED.
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let name = format!(
            "check-{}",
            RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let run = kedro_sfn()
            .arg("execute")
            .args(["--state-machine-name", machine, "--wait"])
            .args(["--execution-name", &name])
            .arg("--project")
            .arg(self.dir.path())
            .envs(self.moto.aws_env())
            .output()
            .expect("kedro-sfn runs");
        let said = succeeded(&run, &format!("{context}: an execution of the alias"));
        assert!(
            said.contains(&format!("execution {name} SUCCEEDED")),
            "{context}: {said}"
        );
    }
}

fn succeeded(output: &Output, context: &str) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{context}: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn a_deploy_survives_throttling_server_errors_and_lost_answers_and_converges() {
    let stress = Stress::new(24);
    let machine = "stressed";
    let image = stress.image(machine, "v1");
    let proxy = FaultProxy::start(
        &stress.moto,
        &[
            "--seed",
            "11",
            "--throttle",
            "0.3",
            "--error",
            "0.05",
            "--lose",
            "0.05",
        ],
    );
    let started = std::time::Instant::now();
    let output = stress
        .deploy(&proxy, machine, &image)
        .output()
        .expect("runs");
    succeeded(&output, "the deploy under faults");
    let stats = proxy.stats();
    println!(
        "first deploy of 24 tasks under faults: {:.1} s; proxy: {stats}",
        started.elapsed().as_secs_f64()
    );
    for fault in ["throttled", "errors", "lost"] {
        assert!(
            stats[fault].as_u64().unwrap_or(0) > 0,
            "no {fault} injected: {stats:#}"
        );
    }
    stress.assert_runnable(machine, "after the stressed deploy");

    // Calm again: the deployment is exactly the plan.
    proxy.configure(json!({"throttle": 0, "error": 0, "lose": 0}));
    assert_noop(&stress, &proxy, machine, &image, "the no-op");

    // A new image under faults again, then a calm no-op.
    proxy.configure(json!({"throttle": 0.3, "error": 0.05, "lose": 0.05}));
    let image = stress.image(machine, "v2");
    succeeded(
        &stress
            .deploy(&proxy, machine, &image)
            .output()
            .expect("runs"),
        "the code change under faults",
    );
    proxy.configure(json!({"throttle": 0, "error": 0, "lose": 0}));
    assert_noop(&stress, &proxy, machine, &image, "the second no-op");
    stress.assert_runnable(machine, "at the end");
}

/// Deploys with the proxy counting, and asserts that nothing was written: by the proxy's
/// own count of the writes it forwarded (an independent witness), and by deploy.json.
fn assert_noop(
    stress: &Stress,
    proxy: &FaultProxy,
    machine: &str,
    image: &str,
    what: &str,
) -> String {
    assert_noop_of(stress, proxy, machine, image, &stress.doc, what)
}

/// [`assert_noop`] for another document.
fn assert_noop_of(
    stress: &Stress,
    proxy: &FaultProxy,
    machine: &str,
    image: &str,
    doc: &Path,
    what: &str,
) -> String {
    proxy.post("/__proxy/reset-stats", "{}");
    let stdout = succeeded(
        &stress
            .deploy_doc(proxy, machine, image, doc)
            .output()
            .expect("runs"),
        what,
    );
    assert!(stdout.contains("no changes"), "{what}: {stdout}");
    let stats = proxy.stats();
    assert_eq!(
        stats["writes"], 0,
        "{what}: the proxy saw writes: {stats:#}"
    );
    assert!(
        stats["reads"].as_u64().unwrap_or(0) > 0,
        "{what}: the proxy saw nothing: {stats:#}"
    );
    assert_eq!(stress.calls(machine)["writes"], 0, "{what}: {stdout}");
    stdout
}

#[test]
fn a_deploy_killed_after_any_write_leaves_a_runnable_alias_and_a_rerun_converges() {
    // 16 tasks: a code change makes 35 writes (an update and a publish per function, the
    // state machine's update and tags, the alias), so every k below interrupts it.
    let stress = Stress::new(16);
    let proxy = FaultProxy::start(&stress.moto, &[]);
    let machine = "killed";
    // A first deploy, undisturbed, so that a live version exists to protect...
    succeeded(
        &stress
            .deploy(&proxy, machine, &stress.image(machine, "v0"))
            .output()
            .expect("runs"),
        "the first deploy",
    );
    for k in [1, 3, 8, 17, 30] {
        // ... then a code change, killed after its k-th write.
        let image = stress.image(machine, &format!("v{k}"));
        proxy.killed_after(k, stress.deploy(&proxy, machine, &image));
        stress.assert_runnable(machine, &format!("k={k}, killed"));

        let rerun = succeeded(
            &stress
                .deploy(&proxy, machine, &image)
                .output()
                .expect("runs"),
            &format!("k={k}: the rerun"),
        );
        stress.assert_runnable(machine, &format!("k={k}, rerun"));
        let noop = assert_noop(
            &stress,
            &proxy,
            machine,
            &image,
            &format!("k={k}: the no-op"),
        );
        assert!(noop.contains("no changes"), "k={k}: {rerun}\n{noop}");
    }
}

#[test]
fn functions_still_updating_are_waited_for_not_failed() {
    // As on AWS: after a create or an update, a function is "updating" for a while, and a
    // further update or a publish is refused with 409 ResourceConflictException.
    let stress = Stress::new(4);
    let machine = "settling";
    let proxy = FaultProxy::start(&stress.moto, &["--settle-ms", "1500"]);
    succeeded(
        &stress
            .deploy(&proxy, machine, &stress.image(machine, "v1"))
            .output()
            .expect("runs"),
        "the first deploy while functions settle",
    );
    proxy.post("/__proxy/reset-stats", "{}");
    let image = stress.image(machine, "v2");
    succeeded(
        &stress
            .deploy(&proxy, machine, &image)
            .output()
            .expect("runs"),
        "a code change while functions settle",
    );
    let stats = proxy.stats();
    println!("a code change of 4 tasks with 1.5 s settling: {stats}");
    assert_eq!(
        stats["refused_in_progress"],
        json!(0),
        "kedro-sfn published before the update settled: {stats:#}"
    );
    assert!(
        stats["by_operation"]["lambda:GetFunctionConfiguration"]
            .as_u64()
            .unwrap_or(0)
            >= 4,
        "no wait for the update to settle was read: {stats:#}"
    );
    stress.assert_runnable(machine, "after settling");
    assert_noop(&stress, &proxy, machine, &image, "the no-op");
}

/// The stress document without its last `dropped` nodes (their outputs are read only by
/// later nodes, which go too): a pipeline that lost tasks.
fn without_last(stress: &Stress, dropped: usize) -> PathBuf {
    let mut doc: kedro_sfn::pipeline::PipelineDoc =
        serde_json::from_slice(&std::fs::read(&stress.doc).expect("document")).expect("JSON");
    let keep = doc.nodes.len() - dropped;
    for node in doc.nodes.drain(keep..) {
        for output in node.outputs {
            doc.datasets.remove(&output);
        }
    }
    let path = stress.dir.path().join("smaller.json");
    std::fs::write(&path, serde_json::to_vec(&doc).expect("JSON")).expect("document");
    path
}

#[test]
fn a_deploy_killed_while_deleting_leaves_a_runnable_alias_and_a_rerun_converges() {
    // 12 tasks, then 8: the deploy updates the machine and the alias, then deletes 4
    // functions; killed after each of its first writes and in the middle of the deletions.
    let stress = Stress::new(12);
    let proxy = FaultProxy::start(&stress.moto, &[]);
    let machine = "shrinking";
    let image = stress.image(machine, "v1");
    let smaller = without_last(&stress, 4);
    // One version kept: the removed tasks' functions go with the old versions.
    let keep_one = stress.dir.path().join("keep-one.kedro-sfn.yml");
    std::fs::write(&keep_one, "deploy:\n  keep_versions: 1\n").expect("config");
    let shrink = || {
        let mut command = stress.deploy_doc(&proxy, machine, &image, &smaller);
        command.arg("--config").arg(&keep_one);
        command
    };
    // Writes of the shrinking deploy: the machine, its tags, the alias, the old versions
    // (two by the fourth round), then the functions: the 6th is among the deletions.
    for k in [1, 2, 3, 6] {
        succeeded(
            &stress
                .deploy(&proxy, machine, &image)
                .output()
                .expect("runs"),
            &format!("k={k}: the 12 tasks"),
        );
        let stats = proxy.killed_after(k, shrink());
        if k == 6 {
            assert!(
                stats["by_operation"]["lambda:DeleteFunction"]
                    .as_u64()
                    .unwrap_or(0)
                    >= 1,
                "k=6 is meant to fall among the deletions: {stats:#}"
            );
        }
        stress.assert_runnable(machine, &format!("k={k}, killed while shrinking"));
        succeeded(
            &shrink().output().expect("runs"),
            &format!("k={k}: the rerun"),
        );
        stress.assert_runnable(machine, &format!("k={k}, rerun"));
        assert_noop_of(
            &stress,
            &proxy,
            machine,
            &image,
            &smaller,
            &format!("k={k}: the no-op"),
        );
        let functions = stress.moto.fixture(&["functions", machine]);
        assert_eq!(
            functions.as_array().map(Vec::len),
            Some(8),
            "k={k}: the removed tasks' functions are gone: {functions}"
        );
    }
}
