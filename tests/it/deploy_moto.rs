//! `kedro-sfn deploy` against moto (MOTO_LAMBDA_STUB_ECR=false: every function's image must
//! exist in moto's ECR; execution on): first deploy, no-op redeploy, code-only change,
//! pipeline change, a failure half-way, ownership, rollback, and executions.

use crate::support;

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use support::fault_proxy::FaultProxy;
use support::moto::World;
use support::{example_doc_path, example_project, kedro_sfn};

const MACHINE: &str = "spaceflights";

impl World {
    fn image(&self, tag: &str) -> String {
        self.image_in(MACHINE, tag)
    }

    /// Runs `kedro-sfn deploy`; (success, stdout, stderr).
    fn deploy(&self, doc: &Path, image: &str, extra: &[&str]) -> (bool, String, String) {
        let role = self.roles["lambda"].as_str().expect("role").to_string();
        self.deploy_with_role(doc, image, &role, extra)
    }

    fn deploy_with_role(
        &self,
        doc: &Path,
        image: &str,
        lambda_role: &str,
        extra: &[&str],
    ) -> (bool, String, String) {
        self.deploy_through(
            &example_project(),
            &self.moto.aws_env(),
            doc,
            image,
            lambda_role,
            extra,
        )
    }

    /// `kedro-sfn deploy` of `project` with the AWS of `aws_env` (moto, or a proxy of it).
    fn deploy_through(
        &self,
        project: &Path,
        aws_env: &[(String, String)],
        doc: &Path,
        image: &str,
        lambda_role: &str,
        extra: &[&str],
    ) -> (bool, String, String) {
        let output = kedro_sfn()
            .arg("deploy")
            .arg("--project")
            .arg(project)
            .arg("--pipeline-json")
            .arg(doc)
            .args(["--image-uri", image])
            .args(["--lambda-role-arn", lambda_role])
            .args([
                "--state-machine-role-arn",
                self.roles["states"].as_str().expect("role"),
            ])
            .arg("--out")
            .arg(self.out())
            .args(extra)
            .envs(aws_env.iter().cloned())
            .env("RUST_BACKTRACE", "0")
            .output()
            .expect("kedro-sfn runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }

    /// Runs `kedro-sfn execute --wait` of the deployed example as execution `name`.
    fn execute(&self, name: &str) -> std::process::Output {
        kedro_sfn()
            .arg("execute")
            .arg("--project")
            .arg(example_project())
            .args(["--wait", "--execution-name", name])
            .envs(self.moto.aws_env())
            .output()
            .expect("kedro-sfn runs")
    }

    /// Runs `kedro-sfn execute` of the deployed example as execution `name` with `args`.
    fn execute_with(&self, name: &str, args: &[&str]) -> std::process::Output {
        kedro_sfn()
            .arg("execute")
            .arg("--project")
            .arg(example_project())
            .args(["--execution-name", name])
            .args(args)
            .envs(self.moto.aws_env())
            .output()
            .expect("kedro-sfn runs")
    }

    fn deployed(&self) -> Value {
        self.moto.fixture(&["describe", MACHINE, "live"])
    }

    fn report(&self) -> Value {
        read_json(&self.out().join("deploy.json"))
    }

    fn plan(&self) -> Value {
        read_json(&self.out().join("plan.json"))
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("JSON")
}

fn ok(result: (bool, String, String)) -> String {
    assert!(result.0, "deploy failed:\n{}\n{}", result.1, result.2);
    result.1
}

#[test]
fn first_deploy_noop_redeploy_code_change_and_rollback() {
    let world = World::new();
    let image_v1 = world.image("v1");
    let doc = example_doc_path();

    ok(world.deploy(&doc, &image_v1, &[]));
    let deployed = world.deployed();
    let functions = deployed["functions"].as_object().expect("functions");
    assert_eq!(functions.len(), 7, "{functions:#?}");
    for (name, function) in functions {
        assert_eq!(function["image_uri"], image_v1.as_str(), "{name}");
        assert_eq!(
            function["tags"]["kedro-sfn:state-machine"], MACHINE,
            "{name}"
        );
        assert_eq!(function["environment"]["KEDRO_ENV"], "aws", "{name}");
        assert_eq!(function["environment"]["LOG_LEVEL"], "INFO", "{name}");
        let training = name.contains("train_model");
        // kedro-sfn.yml: lambda 1024 MB / 300 s, tag `training` 3008 MB / 900 s.
        assert_eq!(
            function["memory"],
            if training { 3008 } else { 1024 },
            "{name}"
        );
        assert_eq!(
            function["timeout"],
            if training { 900 } else { 300 },
            "{name}"
        );
        assert!(function["versions"]
            .as_array()
            .expect("versions")
            .contains(&json!("1")));
    }
    // What the alias serves is exactly what the plan wrote.
    let planned = read_json(&world.out().join("state-machine.asl.json"));
    assert_eq!(deployed["definition"], planned);
    assert!(deployed["alias_version"]
        .as_str()
        .expect("alias")
        .ends_with(":1"));
    let names: Vec<&str> = functions.keys().map(String::as_str).collect();
    let task_functions = serde_json::to_string(&planned).expect("json");
    for name in &names {
        assert!(
            task_functions.contains(&format!("function:{name}:1\"")),
            "{name} is not pinned to version 1"
        );
    }

    // Nothing changed: no mutating call at all, as a proxy in front of moto counts them.
    let proxy = FaultProxy::start(&world.moto, &[]);
    let role = world.roles["lambda"].as_str().expect("role").to_string();
    let counted = |image: &str| {
        proxy.post("/__proxy/reset-stats", "{}");
        let stdout = ok(world.deploy_through(
            &example_project(),
            &proxy.aws_env(&world.moto),
            &doc,
            image,
            &role,
            &[],
        ));
        (stdout, proxy.stats())
    };
    let (stdout, calls) = counted(&image_v1);
    assert!(stdout.contains("no changes"), "{stdout}");
    assert_eq!(calls["writes"], 0, "a no-op redeploy wrote: {calls:#}");
    assert!(calls["reads"].as_u64().unwrap_or(0) > 0);
    // No call per function: one ListFunctions page tells settings, image and record, and the
    // served definition names every function's latest version.
    for per_function in ["lambda:GetFunction", "lambda:ListVersionsByFunction"] {
        assert!(
            calls["by_operation"].get(per_function).is_none(),
            "{per_function} in a no-op: {calls:#}"
        );
    }

    // A new image: every function updated, one new state machine version.
    let image_v2 = world.image("v2");
    let (_, calls) = counted(&image_v2);
    assert_eq!(
        calls["by_operation"]["lambda:UpdateFunctionCode"], 7,
        "{calls:#}"
    );
    assert_eq!(
        calls["by_operation"]["states:UpdateStateMachine"], 1,
        "{calls:#}"
    );
    let deployed = world.deployed();
    assert!(deployed["alias_version"]
        .as_str()
        .expect("alias")
        .ends_with(":2"));
    for (name, function) in deployed["functions"].as_object().expect("functions") {
        assert_eq!(function["image_uri"], image_v2.as_str(), "{name}");
    }
    assert_eq!(
        world.plan()["changes"]["set"]["structure"]["function_changed"]
            .as_array()
            .map(Vec::len),
        Some(7)
    );

    // Rollback: the alias goes back to version 1, then forward to 2 on request.
    let rollback = |extra: &[&str]| {
        let output = kedro_sfn()
            .arg("rollback")
            .arg("--project")
            .arg(example_project())
            .args(extra)
            .envs(world.moto.aws_env())
            .output()
            .expect("kedro-sfn runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    };
    rollback(&[]);
    assert!(world.deployed()["alias_version"]
        .as_str()
        .expect("alias")
        .ends_with(":1"));
    rollback(&["--to", "2"]);
    assert!(world.deployed()["alias_version"]
        .as_str()
        .expect("alias")
        .ends_with(":2"));
}

/// The example with one node added, one removed and one dependency changed.
fn changed_pipeline(dir: &Path) -> PathBuf {
    let mut doc = read_json(&example_doc_path());
    let nodes = doc["nodes"].as_array_mut().expect("nodes");
    nodes.retain(|n| n["name"] != "summarize_passenger_capacity_node");
    nodes.push(json!({"name": "extra_report_node", "func": "spaceflights.x", "inputs": ["model_input_table"],
                      "outputs": ["extra_report"], "tags": [], "namespace": null}));
    for node in nodes.iter_mut() {
        if node["name"] == "active_modelling_pipeline.evaluate_model_node" {
            node["inputs"]
                .as_array_mut()
                .expect("inputs")
                .push(json!("extra_report"));
        }
    }
    doc["datasets"]["extra_report"] = json!({"type": "pandas.CSVDataset",
        "filepath": "s3://kedro-sfn-spaceflights/08_reporting/extra.csv", "versioned": false});
    let path = dir.join("changed.pipeline.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    path
}

/// The example's kedro-sfn.yml without its setting for the removed node, keeping one
/// state machine version (so the removed node's function goes at once).
fn changed_config(dir: &Path) -> PathBuf {
    changed_config_keeping(dir, Some(1))
}

/// [`changed_config`] with `deploy.keep_versions` (`None`: the default).
fn changed_config_keeping(dir: &Path, keep: Option<usize>) -> PathBuf {
    let text = std::fs::read_to_string(example_project().join("kedro-sfn.yml")).expect("config");
    let mut lines = Vec::new();
    let mut skipping = false;
    for line in text.lines() {
        if line
            .trim_start()
            .starts_with("summarize_passenger_capacity_node:")
        {
            skipping = true;
            continue;
        }
        if skipping && line.starts_with("    ") {
            continue;
        }
        skipping = false;
        lines.push(line);
    }
    let mut text = lines.join("\n");
    if let Some(keep) = keep {
        text.push_str(&format!("\ndeploy:\n  keep_versions: {keep}\n"));
    }
    let path = dir.join(format!("changed-{keep:?}.kedro-sfn.yml"));
    std::fs::write(&path, text).expect("write");
    path
}

#[test]
fn a_pipeline_change_creates_and_deletes_the_right_functions_and_a_failure_leaves_the_alias() {
    let world = World::new();
    let image = world.image("v1");
    ok(world.deploy(&example_doc_path(), &image, &[]));
    let changed = changed_pipeline(world.dir.path());
    let config = changed_config(world.dir.path());
    let config = config.to_str().expect("utf-8 path");

    // Half-way failure: the new function cannot be created (its role does not exist).
    let (success, _, stderr) = world.deploy_with_role(
        &changed,
        &image,
        "arn:aws:iam::123456789012:role/missing",
        &["--config", config],
    );
    assert!(!success);
    assert!(
        stderr.contains("extra_report_node") && stderr.contains("previous version"),
        "{stderr}"
    );
    let deployed = world.deployed();
    assert!(
        deployed["alias_version"]
            .as_str()
            .expect("alias")
            .ends_with(":1"),
        "the alias moved"
    );
    assert!(
        deployed["functions"]
            .as_object()
            .expect("functions")
            .keys()
            .any(|k| k.contains("summarize")),
        "a function was deleted although the deploy failed"
    );

    // The fix: the same deploy with the right role converges.
    ok(world.deploy(&changed, &image, &["--config", config]));
    let plan = world.plan();
    let structure = &plan["changes"]["set"]["structure"];
    assert_eq!(
        structure["added"],
        json!(["extra_report_node"]),
        "{structure:#}"
    );
    assert_eq!(
        structure["removed"],
        json!(["summarize_passenger_capacity_node"]),
        "{structure:#}"
    );
    // It reads the new task's output: its own Kedro dependency changed.
    assert_eq!(
        structure["dependencies_changed"],
        json!(["active_modelling_pipeline.evaluate_model_node"]),
        "{structure:#}"
    );
    let diff = plan["changes"]["definition_diff"].as_str().expect("diff");
    assert!(
        diff.contains("+") && diff.contains("extra_report_node"),
        "{diff}"
    );
    let deployed = world.deployed();
    let names: Vec<&String> = deployed["functions"]
        .as_object()
        .expect("functions")
        .keys()
        .collect();
    assert!(
        names.iter().any(|n| n.contains("extra_report_node")),
        "{names:?}"
    );
    assert!(!names.iter().any(|n| n.contains("summarize")), "{names:?}");
    assert!(deployed["alias_version"]
        .as_str()
        .expect("alias")
        .ends_with(":2"));
    let summary = std::fs::read_to_string(world.out().join("summary.md")).expect("summary");
    assert!(
        summary.contains("deletes 1 function")
            && summary.contains("summarize_passenger_capacity_node"),
        "{summary}"
    );

    // And again: nothing left to do.
    let stdout = ok(world.deploy(&changed, &image, &["--config", config]));
    assert!(stdout.contains("no changes"), "{stdout}");
}

/// A removed task's function stays while a kept version of the state machine calls it, so a
/// rollback to that version runs; once the version is older than `deploy.keep_versions`,
/// it and the function go. A rollback to a version that calls a function version that is
/// gone is refused, and the alias stays.
#[test]
fn a_removed_task_is_kept_for_rollback_while_a_kept_version_calls_it() {
    let world = World::new();
    let image = world.image("v1");
    ok(world.deploy(&example_doc_path(), &image, &[]));
    let changed = changed_pipeline(world.dir.path());
    let config = changed_config_keeping(world.dir.path(), None);
    let config = config.to_str().expect("utf-8 path");
    let stdout = ok(world.deploy(&changed, &image, &["--config", config]));
    assert!(
        stdout.contains(
            "kept while a kept version calls them: spaceflights-summarize_passenger_capacity_node"
        ),
        "{stdout}"
    );
    let summarize = |world: &World| {
        world
            .moto
            .fixture(&["functions", MACHINE])
            .as_array()
            .expect("functions")
            .iter()
            .any(|f| f.as_str().is_some_and(|f| f.contains("summarize")))
    };
    assert!(summarize(&world), "the removed task's function was deleted");

    // Rollback to version 1: every function version it pins exists, and it runs.
    let rollback = |extra: &[&str]| {
        kedro_sfn()
            .arg("rollback")
            .arg("--project")
            .arg(example_project())
            .args(extra)
            .envs(world.moto.aws_env())
            .output()
            .expect("kedro-sfn runs")
    };
    let back = rollback(&[]);
    assert!(
        back.status.success(),
        "{}",
        String::from_utf8_lossy(&back.stderr)
    );
    let runnable = world.moto.fixture(&["alias-runnable", MACHINE, "live"]);
    assert!(
        world.deployed()["alias_version"]
            .as_str()
            .expect("alias")
            .ends_with(":1"),
        "{runnable:#}"
    );
    assert_eq!(runnable["missing"], json!([]), "{runnable:#}");
    assert_eq!(runnable["pinned"], 7, "{runnable:#}");
    let run = world.execute("after-rollback");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );

    // Three more versions: version 1 falls out of the three kept, and its function with it.
    for tag in ["v2", "v3", "v4"] {
        ok(world.deploy(&changed, &world.image(tag), &["--config", config]));
    }
    assert_eq!(world.moto.fixture(&["versions", MACHINE]), json!([3, 4, 5]));
    assert!(
        !summarize(&world),
        "the function outlived the last version that called it"
    );

    // A kept version whose function version is gone is refused, naming it.
    let victim = world.moto.fixture(&["functions", MACHINE])[0]
        .as_str()
        .expect("a function")
        .to_string();
    world.moto.fixture(&["delete-function", &victim]);
    let refused = rollback(&["--to", "3"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("version 3 of spaceflights cannot run")
            && stderr.contains(&format!("the function {victim} version")),
        "{stderr}"
    );
    assert!(world.deployed()["alias_version"]
        .as_str()
        .expect("alias")
        .ends_with(":5"));
}

#[test]
fn a_function_it_does_not_own_is_neither_overwritten_nor_deleted() {
    let world = World::new();
    let foreign_image = world.image("foreign");
    let role = world.roles["lambda"].as_str().expect("role");
    // One with a planned name, one with the machine's prefix that no task needs.
    let clashing = "spaceflights-preprocess_companies_node";
    let legacy = "spaceflights-legacy_node";
    world
        .moto
        .fixture(&["function", clashing, &foreign_image, role]);
    world
        .moto
        .fixture(&["function", legacy, &foreign_image, role]);
    let image = world.image("v1");

    // Through a proxy that counts the writes, not by the product's own report.
    let proxy = FaultProxy::start(&world.moto, &[]);
    let (success, _, stderr) = world.deploy_through(
        &example_project(),
        &proxy.aws_env(&world.moto),
        &example_doc_path(),
        &image,
        role,
        &[],
    );
    assert!(!success);
    assert!(
        stderr.contains(clashing) && stderr.contains("not tagged"),
        "{stderr}"
    );
    let stats = proxy.stats();
    assert_eq!(stats["writes"], 0, "the refused deploy wrote: {stats:#}");
    let clash = world.moto.fixture(&["function-info", clashing]);
    assert_eq!(
        clash["image_uri"],
        foreign_image.as_str(),
        "the foreign function was overwritten"
    );
    assert_eq!(clash["tags"], json!({}));
    let report = world.plan();
    assert_eq!(report["changes"]["set"]["clashes"], json!([clashing]));

    // Without the clash the deploy goes through, and the untagged legacy function stays.
    world.moto.fixture(&["delete-function", clashing]);
    ok(world.deploy(&example_doc_path(), &image, &[]));
    let legacy_after = world.moto.fixture(&["function-info", legacy]);
    assert_eq!(legacy_after["image_uri"], foreign_image.as_str());
}

#[test]
fn executions_are_followed_and_a_failure_names_its_task() {
    let world = World::new();
    let image = world.image("v1");
    let stdout = ok(world.deploy(
        &example_doc_path(),
        &image,
        &["--start-execution", "--wait", "--execution-name", "run-1"],
    ));
    assert!(stdout.contains("execution run-1 SUCCEEDED"), "{stdout}");
    assert!(
        stdout.contains("succeeded active_modelling_pipeline.train_model_node"),
        "{stdout}"
    );

    // Invocations now fail: moto's Docker-backed Lambda has none of these functions (and no
    // Docker). The first tasks fail; `execute --wait` names the task and exits non-zero.
    world.moto.set_config(r#"{"lambda":{"use_docker":true}}"#);
    let output = world.execute("run-2");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the failed execution exited 0");
    assert!(
        stderr.contains("task preprocess_companies_node failed")
            || stderr.contains("task preprocess_shuttles_node failed"),
        "{stderr}"
    );
    assert!(stderr.contains("console.aws.amazon.com"), "{stderr}");
}

#[test]
fn runtime_params_in_kedro_syntax_reach_the_execution_input() {
    let world = World::new();
    let image = world.image("v1");
    ok(world.deploy(&example_doc_path(), &image, &[]));
    let output = world.execute_with(
        "with-params",
        &[
            "--input",
            r#"{"params": {"model_options.test_size": 0.1, "keep": "me"}}"#,
            "--params",
            "model_options.test_size=0.3,model_options.random_state=7,note=run one",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let input = world
        .moto
        .fixture(&["execution-input", MACHINE, "with-params"]);
    assert_eq!(
        input,
        json!({"params": {"model_options.test_size": 0.3, "keep": "me",
                          "model_options.random_state": 7, "note": "run one"}}),
        "the execution's input as Step Functions holds it"
    );
    // A malformed item is refused before anything starts, in Kedro's words.
    let refused = world.execute_with("bad-params", &["--params", "a=1,oops"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        stderr.contains("item `oops` must contain a key and a value separated by `=`"),
        "{stderr}"
    );
}

#[test]
fn a_code_only_change_is_new_code_in_a_plan_that_builds_no_image() {
    let world = World::new();
    let project = support::copy_project(&example_project());
    let run = |command: &str, extra: &[&str]| {
        let output = kedro_sfn()
            .arg(command)
            .arg("--project")
            .arg(project.path())
            .arg("--pipeline-json")
            .arg(example_doc_path())
            .args([
                "--lambda-role-arn",
                world.roles["lambda"].as_str().expect("role"),
            ])
            .args([
                "--state-machine-role-arn",
                world.roles["states"].as_str().expect("role"),
            ])
            .arg("--out")
            .arg(world.out())
            .args(extra)
            .envs(world.moto.aws_env())
            .output()
            .expect("kedro-sfn runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    ok(run("deploy", &["--image-uri", &world.image("v1")]));
    let deployed = world.deployed();
    // The function's description records what its image is built from.
    let source_of = |deployed: &Value| {
        let description = deployed["functions"]["spaceflights-preprocess_companies_node"]
            ["description"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let source = description
            .split(' ')
            .find_map(|field| field.strip_prefix("source="))
            .map(str::to_string);
        json!(source)
    };
    let digest = source_of(&deployed)
        .as_str()
        .expect("the function records what its image is built from")
        .to_string();
    assert!(digest.starts_with("sha256:"), "{digest}");

    // The same checkout, no image: nothing to do.
    let stdout = ok(run("plan", &[]));
    assert!(stdout.contains("no changes"), "{stdout}");

    // Node code changes; the plan builds no image and still sees it, for every function.
    let nodes = project
        .path()
        .join("src/spaceflights/pipelines/data_science/nodes.py");
    let code = std::fs::read_to_string(&nodes).expect("nodes.py") + "\n# a changed node\n";
    std::fs::write(&nodes, code).expect("write");
    let stdout = ok(run("plan", &[]));
    assert!(stdout.contains("7 to update (7 with new code)"), "{stdout}");
    let functions = world.plan()["changes"]["set"]["functions"].clone();
    for function in functions.as_array().expect("functions") {
        assert_eq!(function["action"], "update", "{function}");
        assert_eq!(function["code"], true, "{function}");
    }
    let summary = std::fs::read_to_string(world.out().join("summary.md")).expect("summary");
    assert!(
        summary.contains("**📝 new code for 7 tasks**")
            && summary.contains("New code (a new image) for 7 tasks."),
        "{summary}"
    );

    // Deploying new code needs its image; with one, the next plan is empty again.
    let (deployed_without_image, _, stderr) = run("deploy", &[]);
    assert!(!deployed_without_image);
    assert!(stderr.contains("deploy needs an image"), "{stderr}");
    ok(run("deploy", &["--image-uri", &world.image("v2")]));
    let stdout = ok(run("plan", &[]));
    assert!(stdout.contains("no changes"), "{stdout}");
    let recorded = source_of(&world.deployed());
    assert!(
        recorded.is_string() && recorded != json!(digest),
        "{recorded}"
    );
}

/// The example's kedro-sfn.yml with `duration_s` for `preprocess_companies_node` only:
/// every other task's duration is left to past executions.
fn config_with_one_duration(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(example_project().join("kedro-sfn.yml")).expect("config");
    let (head, rest) = text.split_once("\nnodes:\n").expect("a nodes: section");
    let (_, tail) = rest.split_once("\nimage:\n").expect("an image: section");
    let path = dir.join("history.kedro-sfn.yml");
    let text =
        format!("{head}\nnodes:\n  preprocess_companies_node:\n    duration_s: 5\nimage:\n{tail}");
    std::fs::write(&path, text).expect("write");
    path
}

/// `kedro-sfn plan` of `doc` with `config` and `image`, one task per node, into `out`;
/// (stdout, stderr).
fn plan_with(
    env: &[(String, String)],
    image: &str,
    doc: &Path,
    config: &Path,
    out: &Path,
) -> (String, String) {
    let output = kedro_sfn()
        .arg("plan")
        .arg("--project")
        .arg(example_project())
        .arg("--pipeline-json")
        .arg(doc)
        .arg("--config")
        .arg(config)
        .args(["--group-by", "none", "--image-uri", image])
        .arg("--out")
        .arg(out)
        .envs(env.iter().cloned())
        .output()
        .expect("kedro-sfn runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "plan failed:\n{stdout}\n{stderr}");
    (stdout, stderr)
}

/// The planned task that runs `node` alone.
fn task_of<'a>(plan: &'a Value, node: &str) -> &'a Value {
    plan["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["nodes"] == json!([node]))
        .unwrap_or_else(|| panic!("no task runs {node} alone: {:#}", plan["tasks"]))
}

#[test]
fn past_executions_give_the_plan_its_durations_and_a_failed_read_only_a_note() {
    let world = World::new();
    let image = world.image("v1");
    let config = config_with_one_duration(world.dir.path());
    let config_arg = config.to_str().expect("utf-8 path");
    ok(world.deploy(
        &example_doc_path(),
        &image,
        &[
            "--config",
            config_arg,
            "--group-by",
            "none",
            "--start-execution",
            "--wait",
            "--execution-name",
            "run-1",
        ],
    ));
    let second = world.execute("run-2");
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(
        second.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&second.stderr)
    );
    // The followed run ends with its timeline and the chain that set its length.
    assert!(stdout.contains("critical path ("), "{stdout}");
    assert!(
        stdout.contains("active_modelling_pipeline.train_model_node"),
        "{stdout}"
    );

    // What moto's history says, read with boto3.
    let measured = world.moto.fixture(&["task-durations", MACHINE]);
    assert_eq!(measured["executions"], 2, "{measured:#}");

    // A plan of a changed pipeline: past runs give every task that ran before its duration
    // (the median of two runs), the configured node keeps its 5 s, the new node the default.
    let out = world.dir.path().join("history-plan");
    let changed = changed_pipeline(world.dir.path());
    let (stdout, _) = plan_with(&world.moto.aws_env(), &image, &changed, &config, &out);
    assert!(stdout.contains("against the deployed machine"), "{stdout}");
    let plan = read_json(&out.join("plan.json"));
    assert_eq!(plan["history"]["executions"], 2, "{:#}", plan["history"]);
    let configured = task_of(&plan, "preprocess_companies_node");
    assert_eq!(configured["duration_source"], "config");
    assert_eq!(configured["duration_s"], 5.0);
    let new = task_of(&plan, "extra_report_node");
    assert_eq!(new["duration_source"], "default");
    assert_eq!(new["duration_s"], 1.0);
    let mut from_history = 0;
    for task in plan["tasks"].as_array().expect("tasks") {
        let nodes: Vec<&str> = task["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        let [node] = nodes[..] else { continue };
        if node == "preprocess_companies_node" || node == "extra_report_node" {
            continue;
        }
        let runs: Vec<f64> = measured["tasks"][node]
            .as_array()
            .unwrap_or_else(|| panic!("moto's history has no run of {node}: {measured:#}"))
            .iter()
            .filter_map(Value::as_f64)
            .collect();
        assert_eq!(runs.len(), 2, "{node}: {runs:?}");
        let median = (runs[0] + runs[1]) / 2.0;
        assert_eq!(task["duration_source"], "history", "{task:#}");
        assert_eq!(task["history_runs"], 2, "{task:#}");
        let planned = task["duration_s"].as_f64().expect("duration_s");
        assert!(
            (planned - median).abs() < 1e-3,
            "{node}: planned {planned} s, moto's history says {runs:?}"
        );
        from_history += 1;
    }
    assert_eq!(from_history, 5, "{:#}", plan["tasks"]);
    assert_eq!(plan["history"]["tasks"], 5);
    let deployed_run = &plan["changes"]["set"]["deployed_run"];
    assert!(
        deployed_run["run_time_s"].as_f64().is_some(),
        "{deployed_run:#}"
    );
    let summary = std::fs::read_to_string(out.join("summary.md")).expect("summary.md");
    assert!(
        summary.contains("5 task(s) from past runs (the median over the last 2 successful execution(s)), 1 from `duration_s` in the config, 1 at the default of 1 s per node"),
        "{summary}"
    );
    assert!(
        summary.contains("| One run | Deployed | Planned | Change |"),
        "{summary}"
    );

    // Listing executions fails (a 500 every time): the plan is made all the same, on the
    // configured durations, and says why.
    let proxy = FaultProxy::start(&world.moto, &[]);
    proxy.configure(json!({"fail_operations": ["ListExecutions"]}));
    let failed_out = world.dir.path().join("failed-history-plan");
    let (_, stderr) = plan_with(
        &proxy.aws_env(&world.moto),
        &image,
        &changed,
        &config,
        &failed_out,
    );
    assert!(
        stderr.contains("Past executions could not be read"),
        "{stderr}"
    );
    let plan = read_json(&failed_out.join("plan.json"));
    assert_eq!(plan["history"]["executions"], 0);
    let note = plan["history"]["note"].as_str().unwrap_or_default();
    assert!(note.contains("ListExecutions"), "{note}");
    for task in plan["tasks"].as_array().expect("tasks") {
        assert_ne!(task["duration_source"], "history", "{task:#}");
    }
    // Every ListExecutions the plan made was answered with the 500, and nothing else was.
    let stats = proxy.stats();
    let listed = stats["by_operation"]["states:ListExecutions"]
        .as_u64()
        .unwrap_or(0);
    assert!(listed >= 1, "{stats:#}");
    assert_eq!(stats["errors"].as_u64(), Some(listed), "{stats:#}");
}

/// The probe before the alias moves, answered by the real handler (the fault proxy runs
/// `handler(event)` on the copy of the example for every Lambda Invoke, with the invoked
/// version's environment): a first deploy probes every new version and records it; a
/// deploy of code that cannot import a module publishes the new versions but leaves the
/// state machine and its alias where they were, naming the module and the tasks.
#[test]
fn a_new_version_that_cannot_import_its_code_never_gets_the_alias() {
    let world = World::new();
    let project = support::copy_project(&example_project());
    let proxy = FaultProxy::start(&world.moto, &[]);
    let mut handler_env: serde_json::Map<String, Value> = world
        .moto
        .aws_env()
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    // The copy's package, not the example's editable install, is what the handler imports.
    handler_env.insert(
        "PYTHONPATH".into(),
        json!(project.path().join("src").display().to_string()),
    );
    proxy.configure(json!({"invoke_with": {
        "handler": support::repo_root().join("python/kedro_sfn_handler.py"),
        "python": support::python(),
        "project": project.path(),
        "env": handler_env,
    }}));
    let aws = proxy.aws_env(&world.moto);
    let role = world.roles["lambda"].as_str().expect("role").to_string();
    let deploy = |image: &str| {
        world.deploy_through(project.path(), &aws, &example_doc_path(), image, &role, &[])
    };

    let (success, stdout, stderr) = deploy(&world.image("v1"));
    assert!(success, "first deploy:\n{stdout}\n{stderr}");
    let functions = world.plan()["functions"]
        .as_array()
        .expect("functions")
        .len();
    let probes = &world.report()["probes"];
    assert_eq!(probes["count"], json!(functions), "{probes:#}");
    assert!(
        probes["seconds"].as_f64().expect("seconds") > 0.0,
        "{probes:#}"
    );
    assert!(stderr.contains("probed "), "{stderr}");
    let before = world.deployed();

    // The new code imports a module the image does not have.
    let nodes = project
        .path()
        .join("src/spaceflights/pipelines/reporting/nodes.py");
    let code = std::fs::read_to_string(&nodes).expect("nodes.py");
    let code = code.replacen(
        "from __future__ import annotations\n",
        "from __future__ import annotations\n\nimport kedro_sfn_missing_module\n",
        1,
    );
    assert!(code.contains("kedro_sfn_missing_module"), "{code}");
    std::fs::write(&nodes, code).expect("write");
    let (success, stdout, stderr) = deploy(&world.image("v2"));
    assert!(
        !success,
        "a version that cannot import its code was deployed:\n{stdout}"
    );
    assert!(
        stderr.contains("failed their probe") && stderr.contains("kedro_sfn_missing_module"),
        "{stderr}"
    );
    assert!(
        stderr.contains("task "),
        "the failure names its task: {stderr}"
    );
    let after = world.deployed();
    assert_eq!(
        after["alias_version"], before["alias_version"],
        "the alias moved"
    );
    assert_eq!(
        after["definition"], before["definition"],
        "the state machine changed"
    );
}

/// The machine the example deployed runs `__default__`; a plan of another registered
/// pipeline aimed at the same name (the example's kedro-sfn.yml names its machine) is
/// refused before anything is compared, naming both pipelines and the way out.
#[test]
fn a_plan_of_another_pipeline_never_replaces_a_deployed_one() {
    let world = World::new();
    let image = world.image("v1");
    ok(world.deploy(&example_doc_path(), &image, &[]));
    let mut doc = read_json(&example_doc_path());
    doc["pipeline"] = json!("reporting");
    doc["nodes"]
        .as_array_mut()
        .expect("nodes")
        .retain(|n| n["name"] == "summarize_passenger_capacity_node");
    let path = world.dir.path().join("reporting.pipeline.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");

    // One kedro-sfn.yml naming one machine for every pipeline (no per-node settings).
    let config = world.dir.path().join("one-name.yml");
    std::fs::write(
        &config,
        "state_machine:\n  name: spaceflights\nenv: aws\nregion: eu-west-1\n",
    )
    .expect("write");
    let config = config.to_str().expect("utf-8");
    let (success, stdout, stderr) = world.deploy(
        &path,
        &image,
        &["--pipeline", "reporting", "--config", config],
    );
    assert!(!success, "{stdout}");
    assert!(
        stderr.contains("runs the pipeline `__default__`")
            && stderr.contains("this plan is of the pipeline `reporting`")
            && stderr.contains("--state-machine-name"),
        "{stderr}"
    );
    let deployed = world.deployed();
    assert_eq!(
        deployed["functions"].as_object().expect("functions").len(),
        7,
        "a function of the deployed pipeline was deleted"
    );
}

/// A first deploy whose functions all fail alike (a role that does not exist) says so once,
/// counting what it stopped, and does not speak of a previous version: there is none.
#[test]
fn a_first_deploy_that_fails_alike_everywhere_says_it_once() {
    let world = World::new();
    let (success, _, stderr) = world.deploy_with_role(
        &example_doc_path(),
        &world.image("v1"),
        "arn:aws:iam::123456789012:role/missing",
        &[],
    );
    assert!(!success);
    assert!(
        stderr.contains("7 function(s) could not be deployed"),
        "{stderr}"
    );
    assert!(stderr.contains("  - 7 of them ("), "{stderr}");
    assert!(stderr.contains("and 2 more): "), "{stderr}");
    assert!(
        stderr.contains("no state machine was created, so nothing runs until a deploy succeeds"),
        "{stderr}"
    );
    assert!(!stderr.contains("previous version"), "{stderr}");
}
