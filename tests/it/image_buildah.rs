//! The image, for real: kedro-sfn builds the generated context with buildah FROM a local
//! Python base image, pushes it (ECR login from moto's GetAuthorizationToken, layers to a
//! local docker-registry with basic auth: moto has no registry), resolves the digest the
//! registry serves, and the image runs the example's nodes as each service starts it: ECS
//! (the task definition's entry point and command, the event in the container's environment
//! as the Task state passes it) and Lambda (AWS's runtime interface client, awslambdaric,
//! against a loopback Runtime API: a result and an error posted back), and the exporter.

use crate::support;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use serde_json::{json, Value};
use support::images::{read_json, ImageStore, Registry};
use support::moto::MotoServer;
use support::{example_doc_path, example_project, kedro_sfn, EXAMPLE_BUCKET};

#[test]
fn build_push_and_run_the_example_image() {
    let store = ImageStore::ensure();
    let moto = MotoServer::start();
    let login = moto.fixture(&["token"]);
    let (user, password) = (
        login["user"].as_str().expect("user"),
        login["password"].as_str().expect("password"),
    );
    let registry = Registry::start(user, password);
    let out = tempfile::tempdir().expect("tempdir");

    let built = store
        .build_command(&example_project(), out.path())
        .output()
        .expect("kedro-sfn runs");
    assert!(
        built.status.success(),
        "image build failed:\n{}",
        String::from_utf8_lossy(&built.stderr)
    );
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(stderr.contains("image test passed"), "{stderr}");
    let record = read_json(&out.path().join("image.json"));
    let local = record["local"].as_str().expect("local name").to_string();
    let tag = record["tag"].as_str().expect("tag").to_string();
    assert_eq!(record["repository"], "spaceflights");

    // The generated context: dependencies before code, no local config, no credentials.
    let context = out.path().join("context");
    let dockerfile = std::fs::read_to_string(context.join("Dockerfile")).expect("Dockerfile");
    let requirements_at = dockerfile
        .find("requirements.txt")
        .expect("requirements layer");
    let wheel_at = dockerfile.find("--no-deps").expect("wheel layer");
    assert!(
        requirements_at < wheel_at,
        "dependencies must come before the code:\n{dockerfile}"
    );
    let requirements =
        std::fs::read_to_string(context.join("requirements.txt")).expect("requirements");
    assert!(
        requirements.contains("s3fs"),
        "image.extras [aws] must bring s3fs: {requirements}"
    );
    assert!(!context.join("kedro_project/conf/local").exists());
    assert!(context.join("kedro_project/conf/aws/catalog.yml").is_file());

    let push = || {
        kedro_sfn()
            .args(["image", "push", "--registry", &registry.address()])
            .arg("--out")
            .arg(out.path())
            .envs(moto.aws_env())
            .envs(store.env())
            .output()
            .expect("kedro-sfn runs")
    };
    let pushed = push();
    assert!(
        pushed.status.success(),
        "image push failed:\n{}",
        String::from_utf8_lossy(&pushed.stderr)
    );
    let record = read_json(&out.path().join("image.json"));
    let digest = record["digest"].as_str().expect("digest").to_string();
    assert_eq!(
        digest,
        registry.content_digest("spaceflights", &tag, user, password)
    );
    let uri = record["uri"].as_str().expect("uri");
    assert!(
        uri.ends_with(&format!(".amazonaws.com/spaceflights@{digest}")),
        "{uri}"
    );
    assert_eq!(
        moto.fixture(&["ecr-digest", "spaceflights", &tag])["digest"],
        digest.as_str()
    );

    // Pushing again finds the tag in ECR and pushes nothing.
    let again = push();
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("already"),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    // The image's entry as each service starts it, on moto's S3.
    moto.upload_example_data();
    ecs_entry_runs_a_node(&store, &moto, &local);
    lambda_runtime_client_runs_a_node(&store, &moto, &local);

    // The exporter inside the image prints the same document as on this machine.
    let exported = kedro_sfn()
        .args(["export", "--builder", "buildah", "--image", &local])
        .arg("--project")
        .arg(example_project())
        .envs(store.env())
        .output()
        .expect("kedro-sfn runs");
    assert!(
        exported.status.success(),
        "export --image failed:\n{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let fixture = std::fs::read_to_string(example_doc_path()).expect("fixture");
    assert_eq!(String::from_utf8_lossy(&exported.stdout), fixture);
}

/// The example's plan with `preprocess_companies_node` on ECS: its ECS Task state.
fn ecs_task_state(dir: &std::path::Path) -> Value {
    let config = std::fs::read_to_string(example_project().join("kedro-sfn-ecs.yml"))
        .expect("the example's ECS config")
        .replace(
            "  preprocess_companies_node:\n    duration_s: 5\n",
            "  preprocess_companies_node:\n    duration_s: 5\n    runner: ecs\n",
        );
    assert!(
        config.contains("runner: ecs\n  preprocess_shuttles_node"),
        "{config}"
    );
    let path = dir.join("kedro-sfn.yml");
    std::fs::write(&path, config).expect("config");
    let out = dir.join("plan");
    let planned = support::plan_example(&out, &["--config", path.to_str().expect("utf-8")]);
    assert!(
        planned.status.success(),
        "{}",
        String::from_utf8_lossy(&planned.stderr)
    );
    let definition = read_json(&out.join("state-machine.asl.json"));
    let mut found = None;
    let mut stack = vec![definition];
    while let Some(machine) = stack.pop() {
        for (name, state) in machine["States"].as_object().expect("States") {
            if name == "preprocess_companies_node" {
                found = Some(state.clone());
            }
            stack.extend(state["Branches"].as_array().into_iter().flatten().cloned());
        }
    }
    let state = found.expect("the task's state");
    assert_eq!(state["Resource"], "arn:aws:states:::ecs:runTask.sync");
    state
}

/// ECS: the task definition's entryPoint and command run in the image, with the container
/// environment the Task state passes (its `.$` values resolved as Step Functions does).
fn ecs_entry_runs_a_node(store: &ImageStore, moto: &MotoServer, local: &str) {
    let dir = tempfile::tempdir().expect("tempdir");
    let state = ecs_task_state(dir.path());
    let context = json!({"Name": "in-image", "StartTime": "2026-11-27T12:00:00.000Z", "Input": {}});
    let mut env: Vec<String> = moto
        .aws_env()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    for variable in state["Parameters"]["Overrides"]["ContainerOverrides"][0]["Environment"]
        .as_array()
        .expect("environment")
    {
        let name = variable["Name"].as_str().expect("Name");
        let value = match (variable.get("Value"), variable["Value.$"].as_str()) {
            (Some(value), _) => value.as_str().expect("text").to_string(),
            (None, Some("$$.Execution.Name")) => context["Name"].as_str().expect("name").into(),
            (None, Some("$$.Execution.StartTime")) => {
                context["StartTime"].as_str().expect("start").into()
            }
            (None, Some("States.JsonToString($$.Execution.Input)")) => context["Input"].to_string(),
            other => panic!("a value the test does not resolve: {other:?}"),
        };
        env.push(format!("{name}={value}"));
    }
    let container = store
        .buildah(&["from", "--pull-never", local], &[])
        .trim()
        .to_string();
    let mut args: Vec<String> = vec!["run".into()];
    for pair in &env {
        args.extend(["--env".into(), pair.clone()]);
    }
    args.extend([container.clone(), "--".into()]);
    args.extend(
        kedro_sfn::plan::changes::ecs::ENTRY_POINT
            .iter()
            .chain(kedro_sfn::plan::changes::ecs::COMMAND)
            .map(|s| s.to_string()),
    );
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = store.buildah(&arg_refs, &[]);
    store.buildah(&["rm", &container], &[]);
    let result: Value =
        serde_json::from_str(ran.lines().last().unwrap_or_default()).expect("the handler's JSON");
    assert_eq!(
        result["nodes"],
        json!(["preprocess_companies_node"]),
        "{ran}"
    );
    assert!(moto
        .s3_keys(EXAMPLE_BUCKET)
        .contains(&"02_intermediate/preprocessed_companies.csv".to_string()));
}

/// Lambda: AWS's runtime interface client (awslambdaric, what the Python base image starts)
/// in the image, fetching the Task state's payload from a loopback Runtime API and posting
/// the handler's result, then a bad event's error.
fn lambda_runtime_client_runs_a_node(store: &ImageStore, moto: &MotoServer, local: &str) {
    let wheels = support::repo_root().join("target/kedro-sfn-images/wheels/awslambdaric-4.2.2");
    assert!(
        std::fs::read_dir(&wheels).is_ok_and(|mut d| d.next().is_some()),
        "no awslambdaric wheels in {}: run scripts/setup-images.sh",
        wheels.display()
    );
    let execution =
        json!({"Name": "in-image", "StartTime": "2026-11-27T12:00:00.000Z", "Input": {}});
    let good = json!({"task": "preprocess_shuttles_node", "nodes": ["preprocess_shuttles_node"],
        "pipeline": "__default__", "env": "aws", "execution": execution});
    let bad = json!({"task": "x", "nodes": ["no_such_node"], "pipeline": "__default__",
        "env": "aws", "execution": execution});
    // What a deploy sends each new version before the alias moves.
    let probe = json!({"probe": true, "pipeline": "__default__", "env": "aws"});
    // A task of `execute --resume` that succeeded in the failed run: it returns at once.
    let resumed_execution = json!({"Name": "resumed", "StartTime": "2026-11-28T09:00:00.000Z",
        "Input": {"resume": {"execution": "in-image", "start_time": "2026-11-27T12:00:00.000Z",
                             "skip": ["preprocess_shuttles_node"]}}});
    let skipped = json!({"task": "preprocess_shuttles_node", "nodes": ["preprocess_shuttles_node"],
        "pipeline": "__default__", "env": "aws", "execution": resumed_execution});
    let mut api = Command::new(support::python())
        .arg(support::repo_root().join("tests/support/lambda_runtime_api.py"))
        .arg(json!([good, bad, probe, skipped]).to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the loopback Runtime API starts");
    let mut lines = BufReader::new(api.stdout.take().expect("stdout")).lines();
    let first: Value =
        serde_json::from_str(&lines.next().expect("a line").expect("text")).expect("the port");
    let port = first["port"].as_u64().expect("port");

    let container = store
        .buildah(&["from", "--pull-never", local], &[])
        .trim()
        .to_string();
    let mut args: Vec<String> = vec![
        "run".into(),
        "--volume".into(),
        format!("{}:/opt/ric-wheels:ro", wheels.display()),
        "--env".into(),
        format!("AWS_LAMBDA_RUNTIME_API=127.0.0.1:{port}"),
    ];
    for (k, v) in moto.aws_env() {
        args.extend(["--env".into(), format!("{k}={v}")]);
    }
    args.extend([
        container.clone(),
        "--".into(),
        "sh".into(),
        "-c".into(),
        "python3 -m pip install -q --no-index --find-links /opt/ric-wheels --target /tmp/ric awslambdaric \
         && PYTHONPATH=/tmp/ric:/var/task exec python3 -m awslambdaric kedro_sfn_handler.handler"
            .into(),
    ]);
    // The client ends when the Runtime API goes away (not with status 0): its status says
    // nothing; the answers it posted do.
    let _ = Command::new("buildah")
        .args(&args)
        .envs(store.env())
        .output()
        .expect("buildah runs");
    store.buildah(&["rm", &container], &[]);
    let last = lines
        .next()
        .expect("the Runtime API's report")
        .expect("text");
    let _ = api.wait();
    let report: Value = serde_json::from_str(&last).expect("JSON");
    assert_eq!(report["timed_out"], false, "{report:#}");
    assert_eq!(report["init_error"], Value::Null, "{report:#}");
    let answers = report["answers"].as_array().expect("answers");
    assert_eq!(answers.len(), 4, "{report:#}");
    assert_eq!(answers[3]["kind"], "response", "{report:#}");
    assert_eq!(answers[3]["body"]["skipped"], true, "{report:#}");
    assert_eq!(
        answers[3]["body"]["save_version"], "2026-11-27T12.00.00.000Z",
        "the failed run's version, not the resumed run's: {report:#}"
    );
    assert_eq!(answers[2]["kind"], "response", "{report:#}");
    assert_eq!(answers[2]["body"]["ok"], true, "{report:#}");
    assert_eq!(answers[2]["body"]["nodes"], 7, "{report:#}");
    assert_eq!(answers[0]["kind"], "response", "{report:#}");
    assert_eq!(
        answers[0]["body"]["nodes"],
        json!(["preprocess_shuttles_node"]),
        "{report:#}"
    );
    assert_eq!(answers[1]["kind"], "error", "{report:#}");
    assert!(
        answers[1]["body"]["errorMessage"]
            .as_str()
            .is_some_and(|m| m.contains("no_such_node")),
        "{report:#}"
    );
    assert!(moto
        .s3_keys(EXAMPLE_BUCKET)
        .contains(&"02_intermediate/preprocessed_shuttles.csv".to_string()));
}

/// `image test`, run by `image build`: an image whose code imports a module it does not
/// have and whose catalog names credentials with no source is stopped before anything is
/// recorded, with both problems named; fixed, it passes, and `image test` alone agrees.
#[test]
fn image_test_stops_an_image_whose_tasks_would_fail() {
    let store = ImageStore::ensure();
    let project = support::copy_project(&example_project());
    let dir = project.path();
    let nodes = dir.join("src/spaceflights/pipelines/reporting/nodes.py");
    let code = std::fs::read_to_string(&nodes).expect("nodes.py");
    let marker = "from __future__ import annotations\n";
    let broken = code.replacen(
        marker,
        &format!("{marker}\nimport kedro_sfn_missing_module\n"),
        1,
    );
    std::fs::write(&nodes, &broken).expect("write");
    let catalog = dir.join("conf/aws/catalog.yml");
    let text = std::fs::read_to_string(&catalog).expect("catalog");
    let with_credentials = text.replacen(
        "companies:\n  type: pandas.CSVDataset\n",
        "companies:\n  type: pandas.CSVDataset\n  credentials: dspacedb\n",
        1,
    );
    assert_ne!(text, with_credentials);
    std::fs::write(&catalog, with_credentials).expect("write");

    let out = tempfile::tempdir().expect("tempdir");
    let built = store
        .build_command(dir, out.path())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("kedro-sfn runs");
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(
        !built.status.success(),
        "an image that fails its tasks was accepted:\n{stderr}"
    );
    assert!(
        stderr.contains("module `kedro_sfn_missing_module` stops every task"),
        "{stderr}"
    );
    assert!(stderr.contains("credentials `dspacedb`"), "{stderr}");
    assert!(stderr.contains("dspacedb: secretsmanager:NAME"), "{stderr}");
    assert!(
        !out.path().join("image.json").exists(),
        "a failed image was recorded"
    );

    // Fixed: the import gone, the key mapped (the test gives it a stand-in, no secret).
    std::fs::write(&nodes, &code).expect("write");
    let config = dir.join("kedro-sfn.yml");
    let mut settings = std::fs::read_to_string(&config).expect("kedro-sfn.yml");
    settings.push_str("credentials:\n  dspacedb: secretsmanager:kedro-sfn/dspacedb\n");
    std::fs::write(&config, settings).expect("write");
    let built = store
        .build_command(dir, out.path())
        .output()
        .expect("kedro-sfn runs");
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(built.status.success(), "{stderr}");
    assert!(stderr.contains("image test passed"), "{stderr}");

    let tested = support::kedro_sfn()
        .args(["image", "test"])
        .arg("--project")
        .arg(dir)
        .arg("--out")
        .arg(out.path())
        .envs(store.env())
        .output()
        .expect("kedro-sfn runs");
    assert!(
        tested.status.success(),
        "{}",
        String::from_utf8_lossy(&tested.stderr)
    );
    assert!(
        String::from_utf8_lossy(&tested.stdout).contains("every task can load"),
        "{}",
        String::from_utf8_lossy(&tested.stdout)
    );
}

/// `--builder buildah` where buildah is not installed names buildah and how to get it, after
/// the build context is written (that needs no builder).
#[test]
fn a_builder_asked_for_but_not_installed_is_named_with_how_to_get_it() {
    let out = tempfile::tempdir().expect("tempdir");
    let built = kedro_sfn()
        .args(["image", "build", "--builder", "buildah"])
        .arg("--project")
        .arg(example_project())
        .arg("--python")
        .arg(support::python())
        .arg("--out")
        .arg(out.path())
        .env("PATH", "/nonexistent")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("kedro-sfn runs");
    let stderr = String::from_utf8_lossy(&built.stderr);
    assert!(!built.status.success());
    assert!(
        stderr.contains("buildah is not installed") && stderr.contains("apt-get install buildah"),
        "{stderr}"
    );
    assert!(!stderr.contains("no image builder found"), "{stderr}");
    assert!(out.path().join("context/Dockerfile").is_file());
}
