//! Pipelines too large for one state machine: the root and its child machines, each under
//! Step Functions' limits, validated by asl-validator and executed together by the
//! independent interpreter (aws-local-stepfunctions, `startExecution.sync:2` running the
//! child definition), every dependency respected and every task given the root's
//! execution.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use kedro_sfn::config::{Config, GroupBy};
use kedro_sfn::pipeline::PipelineDoc;
use kedro_sfn::plan::definition::asl;
use kedro_sfn::plan::{plan, Plan, DEFINITION_MAX_BYTES};
use kedro_sfn::synthetic::{modular_doc, Rng};
use serde_json::Value;

/// `namespaces` copies of a modular pipeline, a node per task (`--group-by none`).
fn modular_pipeline(namespaces: usize, per_namespace: usize) -> (PipelineDoc, Config) {
    let doc = modular_doc(namespaces, per_namespace, &mut Rng::new(11));
    let mut config = Config::default();
    config.file.group_by = Some(GroupBy::None);
    config.file.region = Some("eu-west-1".into());
    config.file.account_id = Some("123456789012".into());
    (doc, config)
}

fn planned(namespaces: usize, per_namespace: usize) -> (PipelineDoc, Plan) {
    let (doc, config) = modular_pipeline(namespaces, per_namespace);
    let plan = plan(&doc, &config).unwrap_or_else(|e| panic!("the pipeline plans: {e:?}"));
    (doc, plan)
}

/// Every definition under the limit (with room for the versions deploy pins), each task in
/// exactly one child, the root starting each child once, children reading the root's
/// execution from their input.
fn assert_split(plan: &Plan, tasks: usize) {
    assert_eq!(plan.tasks.len(), tasks);
    assert!(
        plan.children.len() >= 2,
        "{tasks} tasks need child machines"
    );
    let mut seen = BTreeSet::new();
    for (name, definition, task_count) in plan.definitions() {
        let bytes = serde_json::to_string(&definition)
            .expect("serializes")
            .len();
        assert!(
            bytes + task_count * 8 <= DEFINITION_MAX_BYTES,
            "{name}: {bytes} bytes for {task_count} Task states"
        );
        let is_root = name == plan.state_machine.name;
        for (state, task) in asl::task_states(&definition) {
            if task["Resource"] == "arn:aws:states:::states:startExecution.sync:2" {
                assert!(is_root, "only the root starts children: {name}");
                assert_eq!(task["Parameters"]["Name.$"], "$$.Execution.Name");
                assert_eq!(task["Parameters"]["Input"]["execution.$"], "$$.Execution");
                continue;
            }
            // The root's own tasks read its context; a child's, the root's, from its input.
            let execution = if is_root {
                "$$.Execution"
            } else {
                "$.execution"
            };
            assert_eq!(
                task["Parameters"]["Payload"]["execution.$"], execution,
                "{name}: {state} reads the root's execution"
            );
            assert!(seen.insert(state.to_string()), "{state} is in two machines");
        }
    }
    let planned: BTreeSet<String> = plan.tasks.iter().map(|t| t.state.clone()).collect();
    assert_eq!(seen, planned, "every task in exactly one machine");
    let started: Vec<&str> = asl::started_children(&plan.definition);
    let names: Vec<String> = plan
        .children
        .iter()
        .map(|c| c.arn.clone().expect("an account is configured"))
        .collect();
    assert_eq!(
        started.iter().collect::<BTreeSet<_>>(),
        names
            .iter()
            .map(String::as_str)
            .collect::<BTreeSet<_>>()
            .iter()
            .collect(),
    );
    assert_eq!(
        started.len(),
        plan.children.len(),
        "each child started once"
    );
}

fn validate(plan: &Plan) {
    let definitions: Vec<(String, Value)> = plan
        .definitions()
        .map(|(name, definition, _)| (name.to_string(), definition.into_owned()))
        .collect();
    support::assert_valid_asl(&definitions);
}

/// Writes the root and `state-machines/`, as `plan` does, and runs them on the interpreter,
/// every task handled in-process (its payload recorded).
fn run(plan: &Plan, dir: &Path) -> Value {
    let (root, children) = write_machines(plan, dir);
    let repo = support::repo_root();
    let node = std::env::var("NODE").unwrap_or_else(|_| "node".into());
    let output = Command::new(&node)
        .arg("--import")
        .arg(repo.join("tests/support/promise_with_resolvers.mjs"))
        .arg(repo.join("tests/support/local_sfn.mjs"))
        .arg("--definition")
        .arg(&root)
        .arg("--children")
        .arg(&children)
        .args(["--input", r#"{"params": {"alpha": 2}}"#])
        .args([
            "--execution-name",
            "run-7",
            "--record-payloads",
            "--",
            "@echo",
        ])
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {node} (install Node.js >= 20, then scripts/setup.sh): {e}")
        });
    assert!(
        output.status.success(),
        "the interpreter driver failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("the driver prints JSON")
}

/// The root as `state-machine.asl.json` and the children in `state-machines/`, as `plan`
/// writes them: (the root's file, the children's directory).
fn write_machines(plan: &Plan, dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let root = dir.join("state-machine.asl.json");
    std::fs::write(&root, plan.definition.to_string()).expect("writes the root");
    let children = dir.join("state-machines");
    std::fs::create_dir_all(&children).expect("a directory");
    for child in &plan.children {
        std::fs::write(
            children.join(format!("{}.asl.json", child.name)),
            &child.definition_text,
        )
        .expect("writes a child");
    }
    (root, children)
}

/// Every task started once, after every task it depends on ended, with the root's
/// execution (name, start time, input) in its payload.
fn assert_ran_in_order(plan: &Plan, result: &Value) {
    assert_eq!(result["status"], "SUCCEEDED", "{}", result["error"]);
    let context = &result["context"];
    let mut started: BTreeMap<String, u64> = BTreeMap::new();
    let mut ended: BTreeMap<String, u64> = BTreeMap::new();
    let mut children_run = BTreeSet::new();
    for event in result["events"].as_array().expect("events") {
        let state = event["state"].as_str().unwrap_or_default().to_string();
        let seq = event["seq"].as_u64().unwrap_or_default();
        if event["via"] == "child" {
            if event["phase"] == "start" {
                children_run.insert(event["machine"].as_str().unwrap_or_default().to_string());
            }
            continue;
        }
        match event["phase"].as_str() {
            Some("start") => {
                assert!(
                    started.insert(state.clone(), seq).is_none(),
                    "{state} ran twice"
                );
                let execution = &event["payload"]["execution"];
                assert_eq!(execution["StartTime"], context["StartTime"], "{state}");
                assert_eq!(execution["Name"], "run-7", "{state}");
                assert_eq!(execution["Input"]["params"]["alpha"], 2, "{state}");
            }
            Some("end") => {
                ended.insert(state, seq);
            }
            other => panic!("{state}: unexpected phase {other:?}"),
        }
    }
    assert_eq!(started.len(), plan.tasks.len(), "every task ran");
    assert_eq!(
        children_run,
        plan.children.iter().map(|c| c.name.clone()).collect(),
        "every child ran"
    );
    for task in &plan.tasks {
        for upstream in &task.depends_on {
            assert!(
                ended[upstream] < started[&task.state],
                "{} started before {upstream} ended",
                task.state
            );
        }
    }
}

#[test]
fn a_pipeline_of_1500_tasks_runs_as_a_root_and_its_children() {
    let (_, plan) = planned(30, 50);
    assert_split(&plan, 1_502);
    // Cuts follow the namespaces: no namespace spreads over more children than it must.
    for child in &plan.children {
        assert!(
            child.name.starts_with("synthetic--"),
            "{} is named after its root",
            child.name
        );
    }
    validate(&plan);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let result = run(&plan, dir.path());
    assert_ran_in_order(&plan, &result);
}

#[test]
fn a_pipeline_of_10000_tasks_plans_and_runs() {
    let (_, plan) = planned(200, 50);
    assert_split(&plan, 10_002);
    validate(&plan);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let result = run(&plan, dir.path());
    assert_ran_in_order(&plan, &result);
}

/// The root with its children inlined reads back as the planned tree: the deployed shape
/// (kept while about as fast) and every reader of a definition see the whole pipeline.
#[test]
fn the_root_with_its_children_inlined_is_the_planned_tree() {
    let (_, plan) = planned(30, 50);
    let whole = plan.whole_definition();
    assert_eq!(asl::task_states(&whole).len(), plan.tasks.len());
    let index: BTreeMap<Vec<String>, usize> = plan
        .tasks
        .iter()
        .enumerate()
        .map(|(t, task)| (task.nodes.clone(), t))
        .collect();
    let tree = kedro_sfn::plan::definition::tree::from_definition(
        &whole,
        &|nodes| index.get(nodes).copied(),
        plan.tasks.len(),
    );
    assert_eq!(tree.as_ref(), Some(&plan.tree));
}

#[test]
fn a_pipeline_that_fits_keeps_one_machine() {
    let (_, plan) = planned(4, 50);
    assert!(plan.children.is_empty());
    assert!(asl::started_children(&plan.definition).is_empty());
}

#[test]
fn a_failed_task_in_a_child_fails_the_root_naming_it() {
    let (_, plan) = planned(30, 50);
    let failing = &plan.children[1].tasks[3];
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (root, children) = write_machines(&plan, dir.path());
    // A handler that fails the one task, and echoes every other payload.
    let script = dir.path().join("handler.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\npayload=$(cat)\ncase \"$payload\" in *'\"task\":\"{failing}\"'*) echo 'ValueError: bad data' >&2; exit 1;; esac\necho \"$payload\"\n"
        ),
    )
    .expect("writes the handler");
    let repo = support::repo_root();
    let output = Command::new("node")
        .arg("--import")
        .arg(repo.join("tests/support/promise_with_resolvers.mjs"))
        .arg(repo.join("tests/support/local_sfn.mjs"))
        .arg("--definition")
        .arg(&root)
        .arg("--children")
        .arg(&children)
        .args(["--execution-name", "run-8", "--", "sh"])
        .arg(&script)
        .output()
        .expect("node runs");
    let result: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "the driver prints JSON ({e}): {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(result["status"], "FAILED");
    assert_eq!(
        result["error"],
        asl::failed_error(failing),
        "the root fails with the task's error"
    );
    assert_eq!(
        asl::failed_task(result["error"].as_str().unwrap_or_default()),
        Some(failing.as_str())
    );
    assert_eq!(
        result["cause"], "ValueError: bad data",
        "the root's cause is the task's own error"
    );
}

/// `kedro-sfn deploy` of a 1,502-task pipeline on moto: the root and its children created,
/// each with a version and the alias, the root starting each child's version; a second
/// deploy writes nothing; new code, killed while the machines are deployed, leaves a
/// runnable alias and a rerun gives every child a new version; a pipeline that fits one
/// machine again deletes the children.
#[test]
fn a_pipeline_of_1500_tasks_deploys_and_a_redeploy_changes_nothing() {
    let moto = support::moto::MotoServer::start_with(&[("MOTO_LAMBDA_STUB_ECR", "false")]);
    let roles = moto.fixture(&["roles"]);
    let machine = "big";
    let image = moto.fixture(&["image", machine, "v1"])["uri"]
        .as_str()
        .expect("an image")
        .to_string();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (doc, _) = modular_pipeline(30, 50);
    let document = dir.path().join("pipeline.json");
    std::fs::write(&document, serde_json::to_vec(&doc).expect("JSON")).expect("writes");
    let out = dir.path().join("out");
    let project = dir.path().join("project");
    std::fs::create_dir_all(&project).expect("a directory");
    // The calls are counted by a proxy in front of moto, not taken from deploy.json.
    let proxy = support::fault_proxy::FaultProxy::start(&moto, &[]);
    let command = |document: &Path, image: &str| {
        let mut command = support::kedro_sfn();
        command
            .arg("deploy")
            .arg("--pipeline-json")
            .arg(document)
            .args(["--state-machine-name", machine, "--group-by", "none"])
            .args(["--image-uri", image, "--concurrency", "16"])
            .args(["--lambda-role-arn", roles["lambda"].as_str().expect("role")])
            .args([
                "--state-machine-role-arn",
                roles["states"].as_str().expect("role"),
            ])
            .arg("--out")
            .arg(&out)
            .envs(proxy.aws_env(&moto))
            // An empty project: the source digest of the repository (or of this test's
            // directory, where plans are written) would change between deploys.
            .current_dir(&project);
        command
    };
    let deploy = |document: &Path, image: &str| {
        proxy.post("/__proxy/reset-stats", "{}");
        let started = std::time::Instant::now();
        let output = command(document, image).output().expect("kedro-sfn runs");
        assert!(
            output.status.success(),
            "the deploy failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let mut report: Value =
            serde_json::from_slice(&std::fs::read(out.join("deploy.json")).expect("deploy.json"))
                .expect("JSON");
        report["calls"] = proxy.stats();
        println!(
            "deploy of {} on moto: {:.1} s, calls {}",
            document.display(),
            started.elapsed().as_secs_f64(),
            report["calls"]
        );
        report
    };

    let first = deploy(&document, &image);
    let children: Vec<String> = std::fs::read_dir(out.join("state-machines"))
        .expect("state-machines/ is written")
        .map(|e| {
            e.expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(children.len(), 2, "{children:?}");
    let plan: Value =
        serde_json::from_slice(&std::fs::read(out.join("plan.json")).expect("plan.json"))
            .expect("JSON");
    let listed = plan["child_state_machines"].as_array().expect("listed");
    assert_eq!(listed.len(), 2);
    for child in listed {
        let name = child["name"].as_str().expect("a name");
        assert!(children.contains(&format!("{name}.asl.json")), "{name}");
        assert!(name.starts_with("big--"), "{name}");
    }
    let by_operation = &first["calls"]["by_operation"];
    assert_eq!(by_operation["lambda:CreateFunction"], 1_502);
    assert_eq!(
        by_operation["states:CreateStateMachine"], 3,
        "root and 2 children"
    );
    let runnable = moto.fixture(&["alias-runnable", machine, "live"]);
    assert_eq!(runnable["alias"], true);
    assert_eq!(
        runnable["children"].as_array().map(Vec::len),
        Some(2),
        "{runnable}"
    );
    assert_eq!(runnable["pinned"], 1_502, "{runnable}");
    assert_eq!(runnable["missing"], serde_json::json!([]), "{runnable}");
    let runnable_versions: Vec<String> = runnable["children"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_string)
        .collect();
    for child in listed {
        let name = child["name"].as_str().expect("a name");
        let described = moto.fixture(&["machine", name]);
        assert_eq!(
            described["tags"]["kedro-sfn:state-machine"], machine,
            "{described}"
        );
        assert_eq!(
            described["tags"]["kedro-sfn:managed"], "true",
            "{described}"
        );
        assert!(
            described["live"]
                .as_str()
                .is_some_and(|live| runnable_versions.iter().any(|v| v == live)),
            "the child's alias serves the version the root starts: {described}"
        );
    }

    // A live plan says why, should anything differ.
    let planned = support::kedro_sfn()
        .arg("plan")
        .arg("--pipeline-json")
        .arg(&document)
        .args(["--state-machine-name", machine, "--group-by", "none"])
        .args(["--image-uri", &image])
        .args(["--lambda-role-arn", roles["lambda"].as_str().expect("role")])
        .args([
            "--state-machine-role-arn",
            roles["states"].as_str().expect("role"),
        ])
        .arg("--out")
        .arg(dir.path().join("plan"))
        .envs(moto.aws_env())
        .current_dir(&project)
        .output()
        .expect("kedro-sfn runs");
    assert!(
        planned.status.success(),
        "{}",
        String::from_utf8_lossy(&planned.stderr)
    );
    let live: Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("plan/plan.json")).expect("plan.json"),
    )
    .expect("JSON");
    let set = &live["changes"]["set"];
    let differing: Vec<&Value> = set["functions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["action"] != "keep")
        .take(3)
        .collect();
    assert_eq!(
        live["changes"]["headline"], "no changes",
        "functions {differing:#?}, machine {}, children {}",
        set["machine"], set["children"]
    );
    let again = deploy(&document, &image);
    assert_eq!(
        again["calls"]["writes"], 0,
        "a no-op redeploy wrote: {}",
        again["calls"]
    );

    // New code: every function gets a version, so every child does, and the root starts
    // the new ones; the old child versions stay (the previous root version starts them).
    let image_v2 = moto.fixture(&["image", machine, "v2"])["uri"]
        .as_str()
        .expect("an image")
        .to_string();
    // Killed in the middle of the machines' deploy: 1,502 code updates, publishes and probes
    // are the first 4,506 writes, then come the children, the root and the aliases.
    let killed = proxy.killed_after(1_502 * 3 + 2, command(&document, &image_v2));
    let by_operation = &killed["by_operation"];
    assert_eq!(
        by_operation["lambda:UpdateFunctionCode"], 1_502,
        "{killed:#}"
    );
    assert_eq!(by_operation["lambda:PublishVersion"], 1_502, "{killed:#}");
    let interrupted = moto.fixture(&["alias-runnable", machine, "live"]);
    assert_eq!(
        interrupted["missing"],
        serde_json::json!([]),
        "killed among the machines, the alias must still run: {interrupted}"
    );
    // The rerun finishes the machines; the functions are done.
    let code = deploy(&document, &image_v2);
    let by_operation = &code["calls"]["by_operation"];
    assert!(
        by_operation.get("lambda:UpdateFunctionCode").is_none(),
        "{}",
        code["calls"]
    );
    assert!(
        by_operation["states:UpdateStateMachine"]
            .as_u64()
            .unwrap_or(0)
            >= 1,
        "the root at least was left to update: {}",
        code["calls"]
    );
    let after = moto.fixture(&["alias-runnable", machine, "live"]);
    assert_eq!(after["missing"], serde_json::json!([]), "{after}");
    let new_versions: Vec<&str> = after["children"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    // New versions (a child the killed deploy had published is published again by the
    // rerun, which compares with what the served root starts).
    assert!(
        new_versions.len() == 2 && new_versions.iter().all(|v| !v.ends_with(":1")),
        "the root starts the children's new versions: {new_versions:?}"
    );
    for old in &runnable_versions {
        moto.fixture(&["machine-version", old]);
    }

    // A smaller pipeline fits one machine: the children go, after the root's alias moved
    // (keeping one version: none older calls them).
    std::fs::write(
        project.join("kedro-sfn.yml"),
        "deploy:\n  keep_versions: 1\n",
    )
    .expect("writes");
    let (small, _) = modular_pipeline(4, 50);
    let small_document = dir.path().join("small.json");
    std::fs::write(&small_document, serde_json::to_vec(&small).expect("JSON")).expect("writes");
    let shrunk = deploy(&small_document, &image_v2);
    assert_eq!(
        shrunk["calls"]["by_operation"]["states:DeleteStateMachine"], 2,
        "{}",
        shrunk["calls"]
    );
    assert!(
        !out.join("state-machines").exists(),
        "no child definitions are left"
    );
    let final_state = moto.fixture(&["alias-runnable", machine, "live"]);
    assert_eq!(
        final_state["children"],
        serde_json::json!([]),
        "{final_state}"
    );
    assert_eq!(final_state["pinned"], 202, "{final_state}");
    assert_eq!(
        final_state["missing"],
        serde_json::json!([]),
        "{final_state}"
    );
}
