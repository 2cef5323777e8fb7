//! Deploy benchmark against moto (run: `cargo bench --bench deploy`).
//!
//! 1. **moto as it is**: synthetic pipelines of 10, 100 and 500 tasks; wall time and AWS
//!    calls for a first deploy, a no-op redeploy and a code-only change (a new image
//!    digest), with a pool of 8 and of 1. moto answers every call at once, so these times
//!    say how the call count and the pool scale, not how long AWS takes.
//! 2. **AWS-like**: the same through `tests/support/fault_proxy.py`, which adds 30 ms to
//!    every call and keeps each function `InProgress` for 800 ms after a change (refusing
//!    other changes meanwhile), as Lambda does: 500 tasks, the code-only deploy and the
//!    no-op at pools 1, 8 and 16 (the first deploy, at pool 16, only sets them up).
//!
//! Needs the test venv (`bash scripts/setup.sh`): moto_server and boto3 (for the IAM roles).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kedro_sfn::aws::deploy::{apply, read_deployment, Clients, Job};
use kedro_sfn::config::Config;
use kedro_sfn::plan::changes::{changes, Target};
use kedro_sfn::plan::plan;
use kedro_sfn::synthetic::{doc_from_dag, random_dag, Rng};

struct Moto {
    port: u16,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn venv(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(".venv/bin")
        .join(name);
    assert!(
        path.exists(),
        "{} is missing: run bash scripts/setup.sh",
        path.display()
    );
    path
}

fn start_moto() -> Moto {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port");
    let child = Command::new(venv("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("MOTO_PORT", port.to_string())
        // Functions name images that exist, so that Lambda's CodeSha256 is the image digest.
        .env("MOTO_LAMBDA_STUB_ECR", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "moto did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    Moto { port, child }
}

/// What `tests/support/moto_fixtures.py ARGS...` prints.
fn fixture(moto: &Moto, args: &[&str]) -> serde_json::Value {
    let output = Command::new(venv("python"))
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/moto_fixtures.py"))
        .args(args)
        .envs(aws_env(moto))
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("json")
}

fn roles(moto: &Moto) -> (String, String) {
    let roles = fixture(moto, &["roles"]);
    (
        roles["lambda"].as_str().unwrap_or_default().to_string(),
        roles["states"].as_str().unwrap_or_default().to_string(),
    )
}

fn aws_env(moto: &Moto) -> Vec<(String, String)> {
    vec![
        (
            "AWS_ENDPOINT_URL".into(),
            format!("http://127.0.0.1:{}", moto.port),
        ),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("AWS_REGION".into(), "eu-west-1".into()),
        ("AWS_DEFAULT_REGION".into(), "eu-west-1".into()),
    ]
}

/// An image pushed to moto's ECR (repository `bench`): its `repo@sha256:…` URI.
fn image(moto: &Moto, tag: u8) -> String {
    fixture(moto, &["image", "bench", &format!("v{tag}")])["uri"]
        .as_str()
        .expect("uri")
        .to_string()
}

struct Row {
    seconds: f64,
    reads: usize,
    writes: usize,
}

async fn deploy_once(
    clients: &Clients,
    plan: &kedro_sfn::plan::Plan,
    target: &Target,
    pool: usize,
) -> Row {
    let before = clients.calls.count();
    let started = Instant::now();
    let deployment = read_deployment(clients, plan, target, pool)
        .await
        .expect("read");
    let change_set = changes(plan, &deployment, target);
    let job = Job {
        clients,
        plan,
        deployment: &deployment,
        changes: &change_set,
        target,
        concurrency: pool,
        version_description: "bench",
        // The bench counts deploy calls; a probe is one Lambda invoke per new version.
        probe: false,
    };
    apply(job, &|_| {}).await.expect("deploy");
    let seconds = started.elapsed().as_secs_f64();
    let after = clients.calls.count();
    Row {
        seconds,
        reads: after.reads - before.reads,
        writes: after.writes - before.writes,
    }
}

/// The stress proxy in front of moto, with AWS-like latency and settle time.
struct Proxy {
    port: u16,
    child: Child,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_proxy(moto: &Moto, latency_ms: u32, settle_ms: u32) -> Proxy {
    use std::io::BufRead;
    let mut child = Command::new(venv("python"))
        .arg(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/fault_proxy.py"))
        .args(["--upstream", &format!("http://127.0.0.1:{}", moto.port)])
        .args(["--latency-ms", &latency_ms.to_string()])
        .args(["--settle-ms", &settle_ms.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs fault_proxy.py");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("the proxy prints its port");
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    Proxy { port, child }
}

fn target(image_uri: String, (lambda_role, states_role): &(String, String)) -> Target {
    Target {
        image_uri: Some(image_uri),
        source_digest: None,
        lambda_role_arn: Some(lambda_role.clone()),
        machine_role_arn: Some(states_role.clone()),
        alias: "live".into(),
        extra_tags: Default::default(),
        logging: serde_json::json!({"level": "OFF"}),
        tracing: false,
        region: "eu-west-1".into(),
        keep_versions: 3,
    }
}

fn bench_plan(tasks: usize, name: &str) -> kedro_sfn::plan::Plan {
    let mut rng = Rng::new(tasks as u64);
    let dag = random_dag(tasks, 8, 0.3, &mut rng);
    let doc = doc_from_dag(&dag, &|i| format!("node_{i:04}"));
    let mut config = Config::default();
    config.file.state_machine.name = Some(name.to_string());
    config.file.region = Some("eu-west-1".into());
    config.file.account_id = Some("123456789012".into());
    plan(&doc, &config).expect("plan")
}

/// Section 2: the code-only deploy and the no-op of 500 tasks through AWS-like latency and
/// settle time, at pools 1, 8 and 16.
fn aws_like(moto: &Moto, roles: &(String, String), images: &(String, String)) {
    let (latency_ms, settle_ms, tasks) = (30, 800, 500);
    let proxy = start_proxy(moto, latency_ms, settle_ms);
    std::env::set_var(
        "AWS_ENDPOINT_URL",
        format!("http://127.0.0.1:{}", proxy.port),
    );
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let sdk = runtime.block_on(kedro_sfn::aws::sdk_config(Some("eu-west-1")));
    println!();
    println!(
        "AWS-like ({latency_ms} ms per call, functions settle {settle_ms} ms after a change), {tasks} tasks:"
    );
    println!(
        "{:<5} {:<12} {:>9} {:>7} {:>7}",
        "pool", "deploy", "seconds", "reads", "writes"
    );
    let mut code_only = Vec::new();
    for pool in [16usize, 8, 1] {
        let plan = bench_plan(tasks, &format!("aws-like-{pool}"));
        let clients = Clients::new(&sdk);
        let mut target = target(images.0.clone(), roles);
        runtime.block_on(deploy_once(&clients, &plan, &target, 16));
        target.image_uri = Some(images.1.clone());
        let code = runtime.block_on(deploy_once(&clients, &plan, &target, pool));
        let noop = runtime.block_on(deploy_once(&clients, &plan, &target, pool));
        for (label, row) in [("code-only", &code), ("no-op", &noop)] {
            println!(
                "{pool:<5} {label:<12} {:>9.2} {:>7} {:>7}",
                row.seconds, row.reads, row.writes
            );
        }
        code_only.push((pool, code.seconds));
    }
    let at = |pool| {
        code_only
            .iter()
            .find(|(p, _)| *p == pool)
            .map_or(0.0, |r| r.1)
    };
    println!(
        "code-only speed-up over pool 1: pool 8 {:.2}x, pool 16 {:.2}x",
        at(1) / at(8),
        at(1) / at(16)
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let moto = start_moto();
    for (key, value) in aws_env(&moto) {
        std::env::set_var(key, value);
    }
    let roles = roles(&moto);
    let images = (image(&moto, 1), image(&moto, 2));
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let sdk = runtime.block_on(kedro_sfn::aws::sdk_config(Some("eu-west-1")));
    println!(
        "{:<6} {:<5} {:<12} {:>9} {:>7} {:>7}",
        "tasks", "pool", "deploy", "seconds", "reads", "writes"
    );
    for tasks in [10usize, 100, 500] {
        let mut firsts = Vec::new();
        for pool in [8usize, 1] {
            let plan = bench_plan(tasks, &format!("bench-{tasks}-{pool}"));
            let clients = Clients::new(&sdk);
            let mut target = target(images.0.clone(), &roles);
            let rows = [
                (
                    "first",
                    runtime.block_on(deploy_once(&clients, &plan, &target, pool)),
                ),
                (
                    "no-op",
                    runtime.block_on(deploy_once(&clients, &plan, &target, pool)),
                ),
                ("code-only", {
                    target.image_uri = Some(images.1.clone());
                    runtime.block_on(deploy_once(&clients, &plan, &target, pool))
                }),
            ];
            for (label, row) in &rows {
                println!(
                    "{tasks:<6} {pool:<5} {label:<12} {:>9.2} {:>7} {:>7}",
                    row.seconds, row.reads, row.writes
                );
            }
            firsts.push(rows[0].1.seconds + rows[2].1.seconds);
        }
        println!(
            "{tasks:<6} speed-up of pool 8 over 1 (first deploy + code-only change): {:.2}x",
            firsts[1] / firsts[0]
        );
    }
    drop(runtime);
    aws_like(&moto, &roles, &images);
}
