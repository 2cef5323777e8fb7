//! Public Kedro projects we did not write (kedro-starters' spaceflights-pandas and
//! astro-airflow-iris, unedited copies), as a new user meets kedro-sfn: the base env is
//! refused with the right messages; after `kedro-sfn init` every grouping of every
//! registered pipeline checks and plans; and spaceflights-pandas runs, every task through
//! the real handler from a read-only task root (its training node as an ECS task), on moto's
//! S3, in the order the machine gives.

mod support;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use support::interpreter::{kedro_version, run_on_interpreter};
use support::moto::MotoServer;
use support::mount::ReadOnlyMount;
use support::{assert_valid_asl, plan_offline, python, real_project, repo_root, run_in_project};

const GROUPINGS: [&str; 3] = ["none", "namespace", "memory"];
const BUCKET: &str = "kedro-sfn-real";

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).expect("file exists")).expect("valid JSON")
}

/// The rule ids and subjects a refused check printed: `(rule, subject)` of each
/// `error[rule]: ... `subject` ...` line.
fn refusals(stderr: &str) -> Vec<(String, String)> {
    stderr
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("error[")?;
            let (rule, message) = rest.split_once("]: ")?;
            let subject = message.split('`').nth(1)?;
            Some((rule.to_string(), subject.to_string()))
        })
        .collect()
}

/// init, then check and plan every registered pipeline with every grouping; the plans'
/// definitions all go through the independent validator. Returns the pipelines.
fn init_then_plan_everything(project: &Path, name: &str) -> Vec<String> {
    let bucket = format!("s3://{BUCKET}/{name}");
    let (ok, stdout, stderr) = run_in_project(
        project,
        &["init", "--bucket", &bucket, "--region", "eu-west-1"],
    );
    assert!(ok, "init on {name}:\n{stdout}\n{stderr}");
    for file in [
        "conf/aws/catalog.yml",
        "kedro-sfn.yml",
        ".github/workflows/kedro-sfn.yml",
    ] {
        assert!(
            project.join(file).is_file(),
            "init wrote no {file}:\n{stdout}"
        );
    }
    let doc: Value = {
        let (ok, stdout, stderr) = run_export(project);
        assert!(ok, "{stderr}");
        serde_json::from_str(&stdout).expect("a document")
    };
    let pipelines: Vec<String> = doc["pipelines"]
        .as_array()
        .expect("pipelines")
        .iter()
        .filter_map(|p| p.as_str().map(str::to_string))
        .collect();
    assert!(
        pipelines.len() > 1,
        "{name} registers several pipelines: {pipelines:?}"
    );
    let out = tempfile::tempdir().expect("tempdir");
    let mut definitions = Vec::new();
    for pipeline in &pipelines {
        for group_by in GROUPINGS {
            let args = [
                "--env",
                "aws",
                "--pipeline",
                pipeline,
                "--group-by",
                group_by,
            ];
            let check: Vec<&str> = std::iter::once("check").chain(args).collect();
            let (ok, stdout, stderr) = run_in_project(project, &check);
            assert!(ok, "{name}: check --pipeline {pipeline} --group-by {group_by} after init:\n{stdout}\n{stderr}");
            assert!(
                !stderr.contains("warning["),
                "init leaves no dataset behind:\n{stderr}"
            );
            let dir = out.path().join(format!("{pipeline}-{group_by}"));
            plan_offline(project, &dir, &args);
            definitions.push((
                format!("{name} {pipeline} {group_by}"),
                read_json(&dir.join("state-machine.asl.json")),
            ));
        }
    }
    assert_valid_asl(&definitions);
    pipelines
}

#[test]
fn spaceflights_pandas_base_env_is_refused_then_init_makes_every_plan_pass() {
    let project = real_project("spaceflights-pandas");
    let dir = project.path();

    let (ok, _, stderr) = run_in_project(dir, &["check", "--env", "base", "--group-by", "none"]);
    assert!(!ok, "local files between Lambda tasks must be refused");
    let found = refusals(&stderr);
    for raw in ["companies", "reviews", "shuttles"] {
        assert!(
            found.contains(&("free-input-not-remote".into(), raw.into())),
            "{raw} is a local input: {found:?}\n{stderr}"
        );
    }
    for between in [
        "preprocessed_companies",
        "preprocessed_shuttles",
        "model_input_table",
        "X_train",
        "regressor",
    ] {
        assert!(
            found.contains(&("dataset-not-shared".into(), between.into())),
            "{between} passes between tasks: {found:?}\n{stderr}"
        );
    }
    // The hints name a type for what is in memory and the command that fixes it all.
    assert!(
        stderr.contains("`pickle.PickleDataset` takes any Python object"),
        "{stderr}"
    );
    assert!(stderr.contains("kedro-sfn init --bucket"), "{stderr}");

    let pipelines = init_then_plan_everything(dir, "spaceflights-pandas");
    assert!(
        pipelines.contains(&"data_science".to_string()),
        "{pipelines:?}"
    );
}

#[test]
fn astro_airflow_iris_base_env_is_refused_then_init_makes_every_plan_pass() {
    let project = real_project("astro-airflow-iris");
    let dir = project.path();
    let (ok, _, stderr) = run_in_project(dir, &["check", "--env", "base", "--group-by", "none"]);
    assert!(!ok);
    let found = refusals(&stderr);
    assert!(
        found.contains(&("free-input-not-remote".into(), "example_iris_data".into())),
        "{found:?}\n{stderr}"
    );
    // Its nodes hand each other MemoryDatasets (the starter has one catalog entry).
    let in_memory = found
        .iter()
        .filter(|(rule, _)| rule == "dataset-not-shared")
        .count();
    assert!(in_memory >= 4, "{found:?}\n{stderr}");
    init_then_plan_everything(dir, "astro-airflow-iris");
    let catalog = std::fs::read_to_string(dir.join("conf/aws/catalog.yml")).expect("written");
    assert!(catalog.contains("type: pickle.PickleDataset"), "{catalog}");
}

#[test]
fn spaceflights_pandas_runs_every_task_from_a_read_only_task_root_on_s3() {
    let project = real_project("spaceflights-pandas");
    let dir = project.path();
    let bucket = format!("s3://{BUCKET}/spaceflights-pandas");
    let (ok, stdout, stderr) = run_in_project(dir, &["init", "--bucket", &bucket]);
    assert!(ok, "{stdout}\n{stderr}");
    // Its training node on ECS Fargate (in the copy's kedro-sfn.yml, which init wrote).
    let config = dir.join("kedro-sfn.yml");
    let written = std::fs::read_to_string(&config).expect("init wrote kedro-sfn.yml");
    std::fs::write(
        &config,
        written
            + "nodes:\n  train_model_node: {runner: ecs, cpu: 1024, memory_mb: 4096}\n\
               ecs:\n  cluster: kedro\n  subnets: [subnet-0123456789abcdef0]\n  \
               execution_role_arn: arn:aws:iam::123456789012:role/kedro-sfn-ecs-execution\n",
    )
    .expect("write kedro-sfn.yml");
    let out = tempfile::tempdir().expect("tempdir");
    let plan = plan_offline(dir, out.path(), &["--env", "aws", "--group-by", "none"]);
    assert_eq!(
        plan["ecs_tasks"].as_array().map(Vec::len),
        Some(1),
        "{:#}",
        plan["ecs_tasks"]
    );

    let moto = MotoServer::start();
    let uploaded = std::process::Command::new(python())
        .arg(repo_root().join("tests/support/spaceflights_pandas_data.py"))
        .args(["--s3", BUCKET, "--prefix", "spaceflights-pandas/data"])
        .envs(moto.aws_env())
        .output()
        .expect("python runs");
    assert!(
        uploaded.status.success(),
        "{}",
        String::from_utf8_lossy(&uploaded.stderr)
    );

    let task_root = ReadOnlyMount::new(dir);
    let run = run_on_interpreter(
        &moto,
        &task_root.path,
        &out.path().join("state-machine.asl.json"),
        "{}",
        "real-1",
    );
    assert_eq!(
        run.result["status"], "SUCCEEDED",
        "{:#}\n{}",
        run.result, run.stderr
    );
    // The regressor below is written by an ECS task: the handler's command-line mode, its
    // event in the container's environment.
    let events = run.result["events"].as_array().expect("events");
    assert!(
        events.iter().any(|e| e["state"] == "train_model_node"
            && e["phase"] == "start"
            && e["via"] == "ecs"),
        "train_model_node did not run as an ECS task: {events:?}"
    );

    // Every dataset the pipeline writes is in the bucket; versioned ones under the one
    // version of the execution's start time.
    let keys = moto.s3_keys(BUCKET);
    let doc = read_json(&{
        let path = out.path().join("pipeline.json");
        let (ok, stdout, stderr) = run_export(dir);
        assert!(ok, "{stderr}");
        std::fs::write(&path, stdout).expect("write");
        path
    });
    let mut versioned = BTreeMap::new();
    for node in doc["nodes"].as_array().expect("nodes") {
        for output in node["outputs"].as_array().expect("outputs") {
            let name = output.as_str().expect("a name");
            let dataset = &doc["datasets"][name];
            let path = dataset["filepath"]
                .as_str()
                .expect("every output is a file");
            let key = path
                .strip_prefix(&format!("s3://{BUCKET}/"))
                .unwrap_or_else(|| panic!("{name} is not on the bucket: {path}"));
            let found: Vec<&String> = keys.iter().filter(|k| k.starts_with(key)).collect();
            assert!(
                !found.is_empty(),
                "{name} ({path}) is not in the bucket: {keys:#?}"
            );
            if dataset["versioned"] == true {
                versioned.insert(name.to_string(), found);
            }
        }
    }
    assert!(versioned.contains_key("regressor"), "{versioned:?}");
    let start = run.result["context"]["StartTime"]
        .as_str()
        .expect("start time");
    let version = kedro_version(start);
    for (name, found) in versioned {
        assert!(
            found.iter().all(|k| k.contains(&format!("/{version}/"))),
            "{name} is not under the execution's version {version}: {found:?}"
        );
    }
    assert!(
        run.stderr.contains("a writable copy of"),
        "the handler says where a read-only project runs from:\n{}",
        run.stderr
    );
}

fn run_export(project: &Path) -> (bool, String, String) {
    run_in_project(project, &["export", "--env", "aws"])
}
