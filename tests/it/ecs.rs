//! Tasks on ECS Fargate: the runner each task gets (explicit, `auto`, refused), the ECS Task
//! state validated by asl-validator, the example run by the independent interpreter with its
//! training node on "ECS" (the real handler's command-line mode, its event in container
//! environment variables) and the rest on "Lambda", and the task definitions deployed to moto:
//! registered, tagged, pinned, kept by a no-op, re-registered for a new image, deregistered
//! when the task leaves ECS.

use crate::support;

use std::path::{Path, PathBuf};

use serde_json::Value;
use support::fault_proxy::FaultProxy;
use support::interpreter::{kedro_version, planned_example_with_data, run_on_interpreter};
use support::moto::{MotoServer, World};
use support::{
    assert_valid_asl, doc, example_doc_path, example_project, kedro_sfn, plan_example, run_on_doc,
    EXAMPLE_BUCKET,
};

const MACHINE: &str = "spaceflights";
const TRAIN: &str = "active_modelling_pipeline.train_model_node";

fn ecs_config() -> PathBuf {
    example_project().join("kedro-sfn-ecs.yml")
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("JSON")
}

/// Every Task state of a definition, by name (inside Parallel branches too).
fn task_states(machine: &Value, out: &mut Vec<(String, Value)>) {
    for (name, state) in machine["States"].as_object().expect("States") {
        if state["Type"] == "Task" {
            out.push((name.clone(), state.clone()));
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            task_states(branch, out);
        }
    }
}

fn environment_of(state: &Value) -> Vec<(String, Value)> {
    state["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"]
        .as_array()
        .expect("container environment")
        .iter()
        .map(|v| {
            let name = v["Name"].as_str().expect("Name").to_string();
            let value = v.get("Value").or_else(|| v.get("Value.$")).cloned();
            (name, value.expect("a value"))
        })
        .collect()
}

#[test]
fn the_example_s_training_node_runs_on_fargate_and_the_rest_on_lambda() {
    let out = tempfile::tempdir().expect("tempdir");
    let config = ecs_config();
    let planned = plan_example(out.path(), &["--config", config.to_str().expect("utf-8")]);
    assert!(
        planned.status.success(),
        "{}",
        String::from_utf8_lossy(&planned.stderr)
    );
    let definition = read_json(&out.path().join("state-machine.asl.json"));
    assert_valid_asl(&[("the example with ECS".into(), definition.clone())]);

    let mut states = Vec::new();
    task_states(&definition, &mut states);
    assert_eq!(states.len(), 7);
    for (name, state) in &states {
        if name != TRAIN {
            assert_eq!(
                state["Resource"], "arn:aws:states:::lambda:invoke",
                "{name}"
            );
            continue;
        }
        assert_eq!(state["Resource"], "arn:aws:states:::ecs:runTask.sync");
        let parameters = &state["Parameters"];
        assert_eq!(parameters["LaunchType"], "FARGATE");
        assert_eq!(
            parameters["Cluster"],
            "arn:aws:ecs:eu-west-1:123456789012:cluster/kedro"
        );
        assert!(parameters["TaskDefinition"]
            .as_str()
            .expect("task definition")
            .starts_with("arn:aws:ecs:eu-west-1:123456789012:task-definition/spaceflights-"));
        assert_eq!(
            parameters["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"][0],
            "subnet-0123456789abcdef0"
        );
        assert_eq!(
            parameters["NetworkConfiguration"]["AwsvpcConfiguration"]["AssignPublicIp"],
            "DISABLED"
        );
        // The nodes it runs, readable in the definition; the execution's context resolved by
        // Step Functions.
        let env = environment_of(state);
        let value = |name: &str| {
            env.iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no {name} in {env:?}"))
        };
        let nodes: Vec<String> =
            serde_json::from_str(value("KEDRO_SFN_NODES").as_str().expect("text")).expect("JSON");
        assert_eq!(nodes, [TRAIN]);
        assert_eq!(value("KEDRO_SFN_ENV"), "aws");
        assert_eq!(
            value("KEDRO_SFN_EXECUTION_START_TIME"),
            "$$.Execution.StartTime"
        );
        assert_eq!(
            value("KEDRO_SFN_INPUT"),
            "States.JsonToString($$.Execution.Input)"
        );
        // The tag's 14,400 s: stopped by the state's timeout, and the machine's allows it.
        assert_eq!(state["TimeoutSeconds"], 14400);
        assert!(definition["TimeoutSeconds"].as_u64().expect("timeout") > 14400);
        assert_eq!(
            state["Retry"][0]["ErrorEquals"][0],
            "ECS.AmazonECSException"
        );
        assert!(state["Catch"][0]["Next"]
            .as_str()
            .expect("catch")
            .ends_with("failed"));
    }

    let plan = read_json(&out.path().join("plan.json"));
    assert_eq!(plan["functions"].as_array().map(Vec::len), Some(6));
    let ecs = &plan["ecs_tasks"][0];
    assert_eq!(
        (ecs["cpu"].as_u64(), ecs["memory_mb"].as_u64()),
        (Some(1024), Some(4096))
    );
    let train = plan["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["state"] == TRAIN)
        .expect("the training task");
    assert_eq!(train["runner"], "ecs");
    assert_eq!(train["runner_reason"], "tags.training.runner");
    assert!(plan["expected_run"]["ecs_usd"].as_f64().expect("ecs cost") > 0.0);
    let summary = std::fs::read_to_string(out.path().join("summary.md")).expect("summary");
    assert!(summary.contains("| State | Runs on |"), "{summary}");
    assert!(summary.contains("ECS Fargate `spaceflights-"), "{summary}");
    assert!(summary.contains("| ECS Fargate | $"), "{summary}");
    assert!(summary.contains("· ECS\"]"), "{summary}");
}

const ECS_SECTION: &str = "ecs:\n  cluster: kedro\n  subnets: [subnet-0123456789abcdef0]\n  execution_role_arn: arn:aws:iam::123456789012:role/kedro-sfn-ecs-execution\n";

/// `prepare` -> `train`, on S3 between them (or in memory with `memory_between`).
fn two_nodes(memory_between: bool) -> Value {
    let path = (!memory_between).then_some("s3://b/x.csv");
    let kind = if memory_between {
        "kedro.io.MemoryDataset"
    } else {
        "pandas.CSVDataset"
    };
    doc(
        &[("prepare", &["raw"], &["x"]), ("train", &["x"], &["model"])],
        &[
            ("raw", "pandas.CSVDataset", Some("s3://b/raw.csv")),
            ("x", kind, path),
            ("model", "pickle.PickleDataset", Some("s3://b/model.pkl")),
        ],
    )
}

fn runner_of(plan_dir: &Path, state: &str) -> (String, String) {
    let plan = read_json(&plan_dir.join("out/plan.json"));
    let task = plan["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .find(|t| t["state"] == state)
        .unwrap_or_else(|| panic!("no task {state}: {plan:#}"))
        .clone();
    (
        task["runner"].as_str().expect("runner").to_string(),
        task["runner_reason"].as_str().expect("reason").to_string(),
    )
}

#[test]
fn auto_moves_what_outgrows_lambda_explicit_runners_win_and_bad_sizes_are_refused() {
    // auto: a node expected to take 20 minutes goes to ECS when there is an `ecs:` section.
    let config = format!("{ECS_SECTION}nodes:\n  train: {{duration_s: 1200}}\n");
    let (ok, stdout, stderr, dir) = run_on_doc("plan", &two_nodes(false), Some(&config), &[]);
    assert!(ok, "{stdout}\n{stderr}");
    let (runner, reason) = runner_of(dir.path(), "train");
    assert_eq!(runner, "ecs");
    assert!(reason.starts_with("auto: expected 1200 s"), "{reason}");
    assert_eq!(runner_of(dir.path(), "prepare").0, "lambda");
    let definition = read_json(&dir.path().join("out/state-machine.asl.json"));
    assert_valid_asl(&[("auto".into(), definition)]);

    // Without one, the refusal says what to add.
    let config = "nodes:\n  train: {duration_s: 1200}\n";
    let (ok, _, stderr, _) = run_on_doc("plan", &two_nodes(false), Some(config), &[]);
    assert!(!ok);
    assert!(stderr.contains("task-too-long"), "{stderr}");
    assert!(stderr.contains("add an `ecs:` section"), "{stderr}");

    // An explicit `lambda` wins over auto, and is refused for what Lambda cannot run.
    let config = format!("{ECS_SECTION}nodes:\n  train: {{runner: lambda, timeout_s: 3600}}\n");
    let (ok, _, stderr, _) = run_on_doc("plan", &two_nodes(false), Some(&config), &[]);
    assert!(!ok);
    assert!(stderr.contains("resource-out-of-range"), "{stderr}");
    assert!(stderr.contains("set `runner: ecs`"), "{stderr}");

    // An explicit `ecs` moves even a short node.
    let config = format!("{ECS_SECTION}nodes:\n  prepare: {{runner: ecs}}\n");
    let (ok, stdout, stderr, dir) = run_on_doc("plan", &two_nodes(false), Some(&config), &[]);
    assert!(ok, "{stdout}\n{stderr}");
    assert_eq!(
        runner_of(dir.path(), "prepare"),
        ("ecs".into(), "nodes.prepare.runner".into())
    );

    // A size Fargate does not offer: refused with the valid values.
    let config =
        format!("{ECS_SECTION}nodes:\n  train: {{runner: ecs, cpu: 1024, memory_mb: 16384}}\n");
    let (ok, _, stderr, _) = run_on_doc("plan", &two_nodes(false), Some(&config), &[]);
    assert!(!ok);
    assert!(stderr.contains("16384 MB with 1024 CPU units"), "{stderr}");
    assert!(stderr.contains("2048-8192 in steps of 1024"), "{stderr}");
    let config = format!("{ECS_SECTION}nodes:\n  train: {{runner: ecs, cpu: 3000}}\n");
    let (ok, _, stderr, _) = run_on_doc("plan", &two_nodes(false), Some(&config), &[]);
    assert!(!ok);
    assert!(
        stderr.contains("256, 512, 1024, 2048, 4096, 8192, 16384"),
        "{stderr}"
    );

    // One task, two services: refused with the rule.
    let config =
        format!("{ECS_SECTION}nodes:\n  prepare: {{runner: lambda}}\n  train: {{runner: ecs}}\n");
    let (ok, _, stderr, _) = run_on_doc("plan", &two_nodes(true), Some(&config), &[]);
    assert!(!ok);
    assert!(stderr.contains("runner-conflict"), "{stderr}");
    assert!(stderr.contains("train (nodes.train.runner)"), "{stderr}");

    // `runner: ecs` without the section; and a section of the wrong shape.
    let (ok, _, stderr, _) = run_on_doc(
        "plan",
        &two_nodes(false),
        Some("nodes:\n  train: {runner: ecs}\n"),
        &[],
    );
    assert!(!ok);
    assert!(stderr.contains("no `ecs:` section"), "{stderr}");
    let config = "ecs:\n  cluster: kedro\n  subnets: [subnet-1]\n  execution_role_arn: role\n";
    let (ok, _, stderr, _) = run_on_doc("plan", &two_nodes(false), Some(config), &[]);
    assert!(!ok);
    assert!(stderr.contains("ecs.subnets"), "{stderr}");
    assert!(stderr.contains("ecs.execution_role_arn"), "{stderr}");
}

#[test]
fn the_interpreter_runs_lambda_and_ecs_tasks_under_one_save_version() {
    let config = ecs_config();
    let (out, moto) = planned_example_with_data(&["--config", config.to_str().expect("utf-8")]);
    let input = r#"{"params": {"model_options.random_state": 7}}"#;
    let run = run_on_interpreter(
        &moto,
        &example_project(),
        &out.path().join("state-machine.asl.json"),
        input,
        "exec-ecs",
    );
    assert_eq!(
        run.result["status"], "SUCCEEDED",
        "{:#}\n{}",
        run.result, run.stderr
    );
    let events = run.result["events"].as_array().expect("events");
    let started = |state: &str| {
        events
            .iter()
            .find(|e| e["state"] == state && e["phase"] == "start")
            .unwrap_or_else(|| panic!("{state} never started: {events:?}"))
    };
    // The training node ran as an ECS task (its event from the container's environment),
    // after the split it reads and before the evaluation that reads its model.
    assert_eq!(started(TRAIN)["via"], "ecs");
    assert!(started("active_modelling_pipeline.split_data_node")
        .get("via")
        .is_none());
    let seq = |state: &str, phase: &str| {
        events
            .iter()
            .find(|e| e["state"] == state && e["phase"] == phase)
            .and_then(|e| e["seq"].as_u64())
            .unwrap_or_else(|| panic!("no {phase} of {state}"))
    };
    assert!(seq("active_modelling_pipeline.split_data_node", "end") < seq(TRAIN, "start"));
    assert!(seq(TRAIN, "end") < seq("active_modelling_pipeline.evaluate_model_node", "start"));

    // The model (written on ECS) and the metrics (on Lambda) share the execution's version.
    let version = kedro_version(run.result["context"]["StartTime"].as_str().expect("start"));
    let keys = moto.s3_keys(EXAMPLE_BUCKET);
    let model: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with("06_models/"))
        .collect();
    let metrics: Vec<&String> = keys
        .iter()
        .filter(|k| k.contains("/metrics.json/"))
        .collect();
    assert!(!model.is_empty() && !metrics.is_empty(), "{keys:#?}");
    for key in model.iter().chain(&metrics) {
        assert!(
            key.contains(&format!("/{version}/")),
            "{key} is not under {version}"
        );
    }
}

/// Runs `kedro-sfn deploy` of the example against moto with `config`.
fn deploy(
    moto: &MotoServer,
    roles: &Value,
    out: &Path,
    config: &Path,
    image: &str,
) -> (bool, String, String) {
    deploy_with_env(&moto.aws_env(), roles, out, config, image)
}

/// [`deploy`] with the AWS environment given (through the fault proxy).
fn deploy_with_env(
    aws_env: &[(String, String)],
    roles: &Value,
    out: &Path,
    config: &Path,
    image: &str,
) -> (bool, String, String) {
    let output = kedro_sfn()
        .arg("deploy")
        .arg("--project")
        .arg(example_project())
        .arg("--config")
        .arg(config)
        .arg("--pipeline-json")
        .arg(example_doc_path())
        .args(["--image-uri", image])
        .args(["--lambda-role-arn", roles["lambda"].as_str().expect("role")])
        .args([
            "--state-machine-role-arn",
            roles["states"].as_str().expect("role"),
        ])
        .arg("--out")
        .arg(out)
        .envs(aws_env.iter().cloned())
        .output()
        .expect("kedro-sfn runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn ok(result: (bool, String, String)) -> String {
    assert!(result.0, "deploy failed:\n{}\n{}", result.1, result.2);
    result.1
}

#[test]
fn task_definitions_are_registered_pinned_kept_and_deregistered() {
    let world = World::new();
    let (moto, roles, out, ecs) = (&world.moto, &world.roles, world.out(), ecs_config());
    let image = |tag: &str| world.image_in(MACHINE, tag);
    let image_v1 = image("v1");

    ok(deploy(moto, roles, &out, &ecs, &image_v1));
    let families = moto.fixture(&["task-definitions", "spaceflights-"]);
    let families = families.as_object().expect("families");
    assert_eq!(families.len(), 1, "{families:#?}");
    let (family, revisions) = families.iter().next().expect("one family");
    assert!(family.contains("train_model_node"), "{family}");
    let first = &revisions[0];
    assert_eq!(first["revision"], 1);
    assert_eq!(first["status"], "ACTIVE");
    assert_eq!(
        (first["cpu"].as_str(), first["memory"].as_str()),
        (Some("1024"), Some("4096"))
    );
    assert_eq!(first["image"], image_v1.as_str());
    // Not the Lambda base image's entry: the handler's command-line mode.
    assert_eq!(
        first["entry_point"],
        serde_json::json!(["python3", "/var/task/kedro_sfn_handler.py"])
    );
    assert_eq!(first["command"], serde_json::json!(["--event-from-env"]));
    assert_eq!(first["environment"]["KEDRO_ENV"], "aws");
    assert_eq!(first["tags"]["kedro-sfn:state-machine"], MACHINE);
    assert_eq!(first["tags"]["kedro-sfn:task"], TRAIN);
    // Pinned by revision in what the alias serves; six functions beside it.
    let deployed = moto.fixture(&["describe", MACHINE, "live"]);
    let text = serde_json::to_string(&deployed["definition"]).expect("json");
    assert!(
        text.contains(&format!("task-definition/{family}:1\"")),
        "{text}"
    );
    assert_eq!(deployed["functions"].as_object().map(|f| f.len()), Some(6));

    // Nothing changed: nothing written, as a proxy in front of moto counts the calls.
    let proxy = FaultProxy::start(moto, &[]);
    let counted = |config: &Path, image: &str| {
        proxy.post("/__proxy/reset-stats", "{}");
        let stdout = ok(deploy_with_env(
            &proxy.aws_env(moto),
            roles,
            &out,
            config,
            image,
        ));
        (stdout, proxy.stats())
    };
    let (stdout, calls) = counted(&ecs, &image_v1);
    assert!(stdout.contains("no changes"), "{stdout}");
    assert_eq!(calls["writes"], 0, "{calls:#}");
    assert_eq!(
        calls["by_operation"]["ecs:DescribeTaskDefinition"], 1,
        "{calls:#}"
    );

    // A new image: a new revision, and the machine pins it.
    let image_v2 = image("v2");
    let (_, calls) = counted(&ecs, &image_v2);
    assert_eq!(
        calls["by_operation"]["ecs:RegisterTaskDefinition"], 1,
        "{calls:#}"
    );
    let revisions = &moto.fixture(&["task-definitions", "spaceflights-"])[family];
    assert_eq!(revisions.as_array().map(Vec::len), Some(2));
    assert_eq!(revisions[1]["image"], image_v2.as_str());
    // The first revision stays: a rollback to version 1 still runs the code it ran.
    assert_eq!(revisions[0]["status"], "ACTIVE");
    let deployed = moto.fixture(&["describe", MACHINE, "live"]);
    let text = serde_json::to_string(&deployed["definition"]).expect("json");
    assert!(
        text.contains(&format!("task-definition/{family}:2\"")),
        "{text}"
    );

    // The training node back on Lambda (the example's own config): the family stays while
    // a kept version of the machine names it (a rollback to it runs)...
    let lambda_only = example_project().join("kedro-sfn.yml");
    let (stdout, calls) = counted(&lambda_only, &image_v2);
    assert!(
        stdout.contains(&format!("kept while a kept version calls them: {family}")),
        "{stdout}"
    );
    assert!(
        calls["by_operation"]
            .get("ecs:DeregisterTaskDefinition")
            .is_none(),
        "{calls:#}"
    );
    // ...and is deregistered once no kept version names it (here: only the served one).
    let keep_one = out.join("keep-one.kedro-sfn.yml");
    let text = std::fs::read_to_string(&lambda_only).expect("config");
    std::fs::write(&keep_one, format!("{text}\ndeploy:\n  keep_versions: 1\n")).expect("write");
    let (_, calls) = counted(&keep_one, &image_v2);
    assert_eq!(
        calls["by_operation"]["ecs:DeregisterTaskDefinition"], 2,
        "{calls:#}"
    );
    let revisions = &moto.fixture(&["task-definitions", "spaceflights-"])[family];
    for revision in revisions.as_array().expect("revisions") {
        assert_eq!(revision["status"], "INACTIVE", "{revision}");
    }
    let deployed = moto.fixture(&["describe", MACHINE, "live"]);
    assert_eq!(deployed["functions"].as_object().map(|f| f.len()), Some(7));
    assert!(!serde_json::to_string(&deployed["definition"])
        .expect("json")
        .contains("task-definition/"));
}

#[test]
fn task_definitions_deploy_through_throttling_errors_lost_answers_and_an_ecs_outage() {
    let world = World::new();
    let (moto, roles, out, ecs) = (&world.moto, &world.roles, world.out(), ecs_config());
    let image = |tag: &str| world.image_in(MACHINE, tag);
    let faults = [
        "--seed",
        "5",
        "--throttle",
        "0.3",
        "--error",
        "0.05",
        "--lose",
        "0.05",
    ];
    let proxy = FaultProxy::start(moto, &faults);
    let env = proxy.aws_env(moto);

    ok(deploy_with_env(&env, roles, &out, &ecs, &image("v1")));
    let stats = proxy.stats();
    assert!(
        stats["throttled"].as_u64().unwrap_or(0) > 0,
        "no throttling injected: {stats:#}"
    );
    let image_v2 = image("v2");

    // ECS cannot register (every RegisterTaskDefinition answers 500): the deploy stops before
    // the state machine, naming what failed; the alias still serves what it served.
    let served = moto.fixture(&["describe", MACHINE, "live"])["alias_version"].clone();
    proxy.configure(serde_json::json!({"throttle": 0, "error": 0, "lose": 0,
        "fail_operations": ["RegisterTaskDefinition"]}));
    let (succeeded, stdout, stderr) = deploy_with_env(&env, roles, &out, &ecs, &image_v2);
    assert!(!succeeded, "{stdout}");
    assert!(
        stderr.contains("registering the task definition spaceflights-"),
        "{stderr}"
    );
    assert!(stderr.contains("left as they were"), "{stderr}");
    assert_eq!(
        moto.fixture(&["describe", MACHINE, "live"])["alias_version"],
        served
    );

    // Back, under faults again: the rerun converges.
    proxy.configure(
        serde_json::json!({"throttle": 0.3, "error": 0.05, "lose": 0.05,
        "fail_operations": []}),
    );
    ok(deploy_with_env(&env, roles, &out, &ecs, &image_v2));

    // Calm: the deployment is exactly the plan, and the machine pins a revision of v2.
    proxy.configure(serde_json::json!({"throttle": 0, "error": 0, "lose": 0}));
    proxy.post("/__proxy/reset-stats", "{}");
    let stdout = ok(deploy_with_env(&env, roles, &out, &ecs, &image_v2));
    assert!(stdout.contains("no changes"), "{stdout}");
    let calls = proxy.stats();
    assert_eq!(calls["writes"], 0, "{calls:#}");
    let families = moto.fixture(&["task-definitions", "spaceflights-"]);
    let (family, revisions) = families
        .as_object()
        .and_then(|f| f.iter().next())
        .expect("one family");
    let pinned = revisions
        .as_array()
        .expect("revisions")
        .iter()
        .filter(|r| r["image"] == image_v2.as_str())
        .map(|r| r["revision"].as_u64().expect("revision"))
        .collect::<Vec<_>>();
    let deployed = moto.fixture(&["describe", MACHINE, "live"]);
    let text = serde_json::to_string(&deployed["definition"]).expect("json");
    assert!(
        pinned
            .iter()
            .any(|r| text.contains(&format!("task-definition/{family}:{r}\""))),
        "the machine does not pin a v2 revision ({pinned:?}): {text}"
    );
}
