//! The image, for real: kedro-sfn builds the generated context with buildah FROM a local
//! Python base image, pushes it (ECR login from moto's GetAuthorizationToken, layers to a
//! local docker-registry with basic auth: moto has no registry), resolves the digest the
//! registry serves, and the image runs a node of the example and the exporter.

mod support;

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

    // One node of the example, inside the image, through the real handler, on moto's S3.
    moto.upload_example_data();
    let event = json!({"task": "preprocess_companies_node", "nodes": ["preprocess_companies_node"],
        "pipeline": "__default__", "env": "aws", "execution_name": "in-image",
        "execution_start_time": "2026-11-27T12:00:00.000Z", "input": {}});
    let container = store
        .buildah(&["from", "--pull-never", &local], &[])
        .trim()
        .to_string();
    let mut env: Vec<String> = moto
        .aws_env()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    env.push("PYTHONPATH=/var/task".into());
    env.push(format!("EVENT={event}"));
    let mut args: Vec<String> = vec!["run".into()];
    for pair in &env {
        args.push("--env".into());
        args.push(pair.clone());
    }
    args.extend([
        container.clone(),
        "--".into(),
        "python3".into(),
        "-c".into(),
        "import json, os, kedro_sfn_handler as h; print(json.dumps(h.handler(json.loads(os.environ['EVENT']), None)))".into(),
    ]);
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let ran = store.buildah(&arg_refs, &[]);
    store.buildah(&["rm", &container], &[]);
    let result: Value =
        serde_json::from_str(ran.lines().last().unwrap_or_default()).expect("the handler's JSON");
    assert_eq!(result["nodes"], json!(["preprocess_companies_node"]));
    assert!(moto
        .s3_keys(EXAMPLE_BUCKET)
        .contains(&"02_intermediate/preprocessed_companies.csv".to_string()));

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
