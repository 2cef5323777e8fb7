//! Public Kedro projects we did not write (kedro-starters' spaceflights-pandas and
//! astro-airflow-iris, unedited copies), as a new user meets kedro-sfn: the base env is
//! refused with the right messages; after `kedro-sfn init` every grouping of every
//! registered pipeline checks and plans; and spaceflights-pandas runs, every task through
//! the real handler from a read-only task root (its training node as an ECS task), on moto's
//! S3, in the order the machine gives.

use crate::support;

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

/// The shared (unedited) copy of a real project, to read its data from.
fn shared_project(name: &str) -> std::path::PathBuf {
    std::env::var_os("KEDRO_SFN_REAL_PROJECTS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| support::repo_root().join("../shared/real-projects"))
        .join(name)
}

/// Adds `line` to the catalog entry `dataset` of `file` (an indented key: value).
fn add_to_entry(file: &Path, dataset: &str, line: &str) {
    let text = std::fs::read_to_string(file).expect("catalog");
    let start = text
        .find(&format!("\n{dataset}:\n"))
        .unwrap_or_else(|| panic!("{dataset} in {}:\n{text}", file.display()))
        + 1;
    let header_end = start + dataset.len() + 2;
    let changed = format!("{}  {line}\n{}", &text[..header_end], &text[header_end..]);
    std::fs::write(file, changed).expect("write catalog");
}

/// A versioned input (as in users' projects) is uploaded where Kedro reads a version, init
/// says which, the outputs go into .gitignore, and the closing lines say what is left; the
/// task that reads it then runs from that upload.
#[test]
fn a_versioned_input_uploaded_where_init_says_is_read_by_its_task() {
    let project = real_project("spaceflights-pandas");
    let dir = project.path();
    add_to_entry(
        &dir.join("conf/base/catalog.yml"),
        "companies",
        "versioned: true",
    );
    std::fs::write(dir.join(".gitignore"), "/data\n").expect(".gitignore");
    let bucket = format!("s3://{BUCKET}/versioned");
    let (ok, stdout, stderr) = run_in_project(dir, &["init", "--bucket", &bucket]);
    assert!(ok, "{stdout}\n{stderr}");
    let version = kedro_sfn::pipeline::remote_env::UPLOAD_VERSION;
    let uploads = upload_lines(&stdout);
    let companies = uploads
        .iter()
        .find(|(local, _)| local.ends_with("companies.csv"))
        .unwrap_or_else(|| panic!("no upload of companies:\n{stdout}"));
    assert_eq!(
        companies.1,
        format!("{bucket}/data/01_raw/companies.csv/{version}/companies.csv"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("versioned: under version {version}")),
        "{stdout}"
    );
    let ignored = std::fs::read_to_string(dir.join(".gitignore")).expect(".gitignore");
    assert!(
        ignored.starts_with("/data\n")
            && ignored.contains("kedro-sfn-plan/")
            && ignored.contains("kedro-sfn-image/"),
        "{ignored}"
    );
    assert!(
        stdout.contains("Left for you to edit")
            && stdout.contains("role_arn")
            && stdout.contains("uses: owner/kedro-sfn@v1"),
        "{stdout}"
    );
    // init again: .gitignore already has both lines.
    let (ok, stdout, stderr) = run_in_project(dir, &["init", "--bucket", &bucket, "--force"]);
    assert!(ok, "{stderr}");
    assert!(!stdout.contains(".gitignore"), "{stdout}");

    // The uploads, as a user runs them, then the task that reads companies.
    let moto = MotoServer::start();
    upload(&moto, &shared_project("spaceflights-pandas"), &uploads);
    let (ok, _, stderr) = run_task(&moto, dir, &python(), "preprocess_companies_node");
    assert!(
        ok,
        "the task could not read the versioned upload:\n{stderr}"
    );
}

/// The `aws s3 cp LOCAL REMOTE` lines `init` printed, as (LOCAL, REMOTE).
fn upload_lines(stdout: &str) -> Vec<(String, String)> {
    stdout
        .lines()
        .filter_map(|line| line.trim().strip_prefix("aws s3 cp "))
        .map(|rest| {
            let mut words = rest.split_whitespace();
            (
                words.next().expect("local").to_string(),
                words.next().expect("remote").to_string(),
            )
        })
        .collect()
}

/// Runs the uploads `init` named (files of `source`, a project with its data) on moto.
fn upload(moto: &MotoServer, source: &Path, uploads: &[(String, String)]) {
    moto.create_bucket(BUCKET);
    let program =
        "import boto3, sys\nboto3.client('s3').upload_file(sys.argv[1], sys.argv[2], sys.argv[3])";
    for (local, remote) in uploads {
        let key = remote
            .strip_prefix(&format!("s3://{BUCKET}/"))
            .unwrap_or_else(|| panic!("{remote} is not on the bucket"));
        let done = std::process::Command::new(python())
            .args(["-c", program])
            .arg(source.join(local))
            .args([BUCKET, key])
            .envs(moto.aws_env())
            .output()
            .expect("python runs");
        assert!(
            done.status.success(),
            "{}",
            String::from_utf8_lossy(&done.stderr)
        );
    }
}

/// `kedro-sfn run-task` of `task` in env aws on moto, with the project's `python`.
fn run_task(moto: &MotoServer, dir: &Path, python: &Path, task: &str) -> (bool, String, String) {
    let mut command = support::kedro_sfn();
    command
        .args(["run-task", "--env", "aws", "--task", task])
        .args(["--start-time", "2026-12-05T10:00:00Z"])
        .envs(moto.aws_env());
    support::run_in_project_with(&mut command, dir, python)
}

/// A project whose pyproject lists only notebooks and Kedro, its libraries being in
/// requirements.txt (as in the first public project tried): the image's requirements
/// hold them, each said with its source, and the lines pip in the image cannot take are
/// named, not dropped silently. `--context-only` builds nothing and needs no builder.
#[test]
fn libraries_only_in_requirements_txt_reach_the_image() {
    let project = real_project("spaceflights-pandas");
    let dir = project.path();
    let pyproject = std::fs::read_to_string(dir.join("pyproject.toml")).expect("pyproject");
    let start = pyproject.find("dependencies = [").expect("dependencies");
    let end = start + pyproject[start..].find("\n]").expect("end of dependencies") + 1;
    let pyproject = format!(
        "{}dependencies = [\"ipython>=8.10\", \"jupyterlab>=3.0\", \"notebook\", \"kedro~=1.7.0\"{}",
        &pyproject[..start],
        &pyproject[end..]
    );
    std::fs::write(dir.join("pyproject.toml"), pyproject).expect("pyproject");
    let mut requirements =
        std::fs::read_to_string(dir.join("requirements.txt")).expect("requirements");
    requirements.push_str("-e .\n--index-url https://pypi.org/simple\n");
    std::fs::write(dir.join("requirements.txt"), requirements).expect("requirements");

    let out = tempfile::tempdir().expect("tempdir");
    let built = support::kedro_sfn()
        // No Docker engine runs here: --context-only must not need one.
        .args(["image", "build", "--context-only", "--builder", "docker"])
        .arg("--project")
        .arg(dir)
        .arg("--python")
        .arg(python())
        .arg("--out")
        .arg(out.path())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("kedro-sfn runs");
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "{stderr}");
    let installed =
        std::fs::read_to_string(out.path().join("context/requirements.txt")).expect("written");
    for wanted in [
        "scikit-learn~=1.5.1",
        "seaborn~=0.12.1",
        "kedro-datasets[",
        "kedro~=1.7.0",
    ] {
        assert!(
            installed.contains(wanted),
            "{wanted} is not installed:\n{installed}"
        );
    }
    assert_eq!(
        installed.matches("ipython").count(),
        1,
        "a requirement of both lists is installed once:\n{installed}"
    );
    assert!(
        stderr.contains("scikit-learn~=1.5.1 (requirements.txt)"),
        "{stderr}"
    );
    assert!(stderr.contains("kedro~=1.7.0 (wheel)"), "{stderr}");
    assert!(
        stderr.contains("not installed in the image: `-e .`")
            && stderr.contains("not installed in the image: `--index-url https://pypi.org/simple`"),
        "{stderr}"
    );
    assert!(!out.path().join("image.json").exists(), "nothing was built");
}

/// Catalog credentials: export and check never need the secret, check refuses a key with
/// no source on AWS, and the mapping (names only) reaches every function.
#[test]
fn catalog_credentials_need_a_source_on_aws_and_never_a_local_secret() {
    let project = real_project("spaceflights-pandas");
    let dir = project.path();
    let (ok, stdout, stderr) =
        run_in_project(dir, &["init", "--bucket", &format!("s3://{BUCKET}/c")]);
    assert!(ok, "{stdout}\n{stderr}");
    add_to_entry(
        &dir.join("conf/aws/catalog.yml"),
        "companies",
        "credentials: dspacedb",
    );
    // As in CI: no local credentials file at all.
    let _ = std::fs::remove_file(dir.join("conf/local/credentials.yml"));

    let (ok, stdout, stderr) = run_export(dir);
    assert!(ok, "export needs no credentials file:\n{stderr}");
    let doc: Value = serde_json::from_str(&stdout).expect("document");
    assert_eq!(
        doc["credentials"],
        serde_json::json!({"dspacedb": ["companies"]})
    );
    assert!(
        !stdout.contains("stand-in"),
        "no credentials value is in the document"
    );

    let (ok, _, stderr) = run_in_project(dir, &["check", "--env", "aws"]);
    assert!(!ok, "an unmapped credentials key must be refused");
    assert!(
        refusals(&stderr).contains(&("credentials-missing".into(), "companies".into())),
        "{stderr}"
    );
    assert!(stderr.contains("dspacedb: secretsmanager:NAME"), "{stderr}");

    let config = dir.join("kedro-sfn.yml");
    let mut text = std::fs::read_to_string(&config).expect("kedro-sfn.yml");
    text.push_str("credentials:\n  dspacedb: secretsmanager:kedro-scholar/dspacedb\n");
    std::fs::write(&config, text).expect("write");
    let out = tempfile::tempdir().expect("tempdir");
    let plan = plan_offline(dir, out.path(), &["--env", "aws", "--group-by", "none"]);
    for function in plan["functions"].as_array().expect("functions") {
        assert_eq!(
            function["environment"]["KEDRO_SFN_CREDENTIALS"],
            r#"{"dspacedb":"secretsmanager:kedro-scholar/dspacedb"}"#,
            "{function:#}"
        );
    }
}

/// One state machine per registered pipeline: a pipeline other than __default__ plans to
/// `<package>-<pipeline>`.
#[test]
fn each_registered_pipeline_plans_its_own_state_machine() {
    let project = real_project("spaceflights-pandas");
    let dir = project.path();
    let (ok, stdout, stderr) =
        run_in_project(dir, &["init", "--bucket", &format!("s3://{BUCKET}/m")]);
    assert!(ok, "{stdout}\n{stderr}");
    let out = tempfile::tempdir().expect("tempdir");
    let default = plan_offline(dir, &out.path().join("default"), &["--env", "aws"]);
    let science = plan_offline(
        dir,
        &out.path().join("science"),
        &["--env", "aws", "--pipeline", "data_science"],
    );
    assert_eq!(default["state_machine"]["name"], "spaceflights_pandas");
    assert_eq!(
        science["state_machine"]["name"],
        "spaceflights_pandas-data_science"
    );

    // One kedro-sfn.yml for every pipeline: a setting for a node of another pipeline is
    // not an error; a name no pipeline has still is.
    let config = dir.join("kedro-sfn.yml");
    let mut text = std::fs::read_to_string(&config).expect("kedro-sfn.yml");
    text.push_str("nodes:\n  train_model_node: {memory_mb: 2048}\n");
    std::fs::write(&config, &text).expect("write");
    let (ok, _, stderr) = run_in_project(
        dir,
        &["check", "--env", "aws", "--pipeline", "data_processing"],
    );
    assert!(
        ok,
        "a node of data_science named in the shared config:\n{stderr}"
    );
    text.push_str("  train_modle_node: {memory_mb: 2048}\n");
    std::fs::write(&config, &text).expect("write");
    let (ok, _, stderr) = run_in_project(
        dir,
        &["check", "--env", "aws", "--pipeline", "data_processing"],
    );
    assert!(!ok, "a node no pipeline has must be refused");
    assert!(
        stderr.contains("error[config-unknown-node]: nodes.train_modle_node"),
        "{stderr}"
    );
    assert!(!stderr.contains("nodes.train_model_node"), "{stderr}");
}

/// A venv of an older Kedro that scripts/setup.sh makes (`.venv-kedro-0.19`, `.venv-kedro-1.0`).
fn old_kedro_python(version: &str) -> std::path::PathBuf {
    let python = support::repo_root().join(format!(".venv-kedro-{version}/bin/python"));
    assert!(
        python.is_file(),
        "{} is missing: run `bash scripts/setup.sh` (it makes the older Kedro environments)",
        python.display()
    );
    python
}

/// What Kedro 1.0's release notes ask of a 0.19 project, as the deep-dive project uses
/// Kedro: its `kedro_init_version`, and `kedro.pipeline.pipeline(nodes=...)`.
fn migrate_to_kedro_1(project: &Path) {
    let pyproject = project.join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).expect("pyproject");
    let migrated = text.replace(
        "kedro_init_version = \"0.19.12\"",
        "kedro_init_version = \"1.0.0\"",
    );
    assert_ne!(text, migrated, "no kedro_init_version 0.19.12 in {text}");
    std::fs::write(&pyproject, migrated).expect("write");
    let mut stack = vec![project.join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "py") {
                let code = std::fs::read_to_string(&path).expect("module");
                let new = code
                    .replace(
                        "from kedro.pipeline.modular_pipeline import pipeline",
                        "from kedro.pipeline import pipeline",
                    )
                    .replace("pipe=", "nodes=");
                if new != code {
                    std::fs::write(&path, new).expect("write");
                }
            }
        }
    }
}

/// The Kedro 0.19 project under Kedro 0.19.12 and 1.0.0, each in its own environment, as
/// users of older Kedro run it: init writes an env (reading its catalog through that
/// Kedro), every registered pipeline checks and plans, and an ingestion task runs through
/// the handler on moto's S3 from the uploads init named.
#[test]
fn a_kedro_0_19_project_runs_under_kedro_0_19_and_1_0() {
    for version in ["0.19", "1.0"] {
        let python = old_kedro_python(version);
        let project = real_project("spaceflights-deep-dive-0.19");
        let dir = project.path();
        if version == "1.0" {
            migrate_to_kedro_1(dir);
        }
        let run = |args: &[&str]| {
            let mut command = support::kedro_sfn();
            command.args(args);
            support::run_in_project_with(&mut command, dir, &python)
        };
        let bucket = format!("s3://{BUCKET}/deep-dive-{version}");
        let (ok, init_stdout, stderr) = run(&["init", "--bucket", &bucket]);
        assert!(ok, "Kedro {version}: init:\n{init_stdout}\n{stderr}");
        let (ok, exported, stderr) = run(&["export", "--env", "aws"]);
        assert!(ok, "Kedro {version}: export:\n{stderr}");
        let doc: Value = serde_json::from_str(&exported).expect("document");
        assert!(
            doc["project"]["kedro_version"]
                .as_str()
                .is_some_and(|v| v.starts_with(version)),
            "{:#}",
            doc["project"]
        );
        let out = tempfile::tempdir().expect("tempdir");
        for pipeline in doc["pipelines"].as_array().expect("pipelines") {
            let pipeline = pipeline.as_str().expect("name");
            let (ok, _, stderr) = run(&["check", "--env", "aws", "--pipeline", pipeline]);
            assert!(
                ok,
                "Kedro {version}: check --pipeline {pipeline}:\n{stderr}"
            );
            let target = out.path().join(pipeline);
            let target = target.to_str().expect("utf-8");
            let (ok, stdout, stderr) = run(&[
                "plan",
                "--offline",
                "--env",
                "aws",
                "--pipeline",
                pipeline,
                "--out",
                target,
            ]);
            assert!(
                ok,
                "Kedro {version}: plan --pipeline {pipeline}:\n{stdout}\n{stderr}"
            );
        }

        // The raw inputs, where init said, then the first ingestion node through the handler.
        let moto = MotoServer::start();
        upload(
            &moto,
            &shared_project("spaceflights-deep-dive-0.19"),
            &upload_lines(&init_stdout),
        );
        let node = doc["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter_map(|n| n["name"].as_str())
            .find(|n| n.starts_with("ingestion."))
            .unwrap_or_else(|| panic!("an ingestion node in {:#}", doc["nodes"]))
            .to_string();
        let (ok, _, stderr) = run_task(&moto, dir, &python, &node);
        assert!(ok, "Kedro {version}: run-task {node}:\n{stderr}");
    }
}
