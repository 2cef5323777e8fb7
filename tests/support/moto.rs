//! A moto server on a free loopback port, with state machine execution turned on and
//! executions started through aliases as on AWS; stopped when dropped.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct MotoServer {
    pub port: u16,
    child: Child,
}

impl MotoServer {
    /// Starts `moto_server` and waits until it answers; turns on real execution of state
    /// machines (off by default: executions would "succeed" with a canned history).
    pub fn start() -> MotoServer {
        Self::start_with(&[])
    }

    /// Starts it with extra environment, e.g. `MOTO_LAMBDA_STUB_ECR=false` (functions then
    /// need their image in moto's ECR).
    pub fn start_with(env: &[(&str, &str)]) -> MotoServer {
        // A port free a moment ago may be taken by the time moto binds it (tests start
        // servers in parallel): then our moto exits, and whatever answers there is another
        // test's. Only a server whose process is ours and alive once it answers is used.
        let server = (0..5)
            .find_map(|_| Self::try_start(env))
            .expect("moto_server could not bind a free port in 5 tries");
        let port = server.port;
        let config =
            r#"{"lambda":{"use_docker":false},"stepfunctions":{"execute_state_machine":true}}"#;
        request(port, "POST", "/moto-api/config", config)
            .expect("moto accepts the execution config");
        server
    }

    /// One attempt: `None` when our moto exited (its port was taken) before answering.
    fn try_start(env: &[(&str, &str)]) -> Option<MotoServer> {
        // moto_server with alias executions as on AWS (scripts/moto_server.py says why).
        super::venv_tool("moto_server");
        let wrapper = super::repo_root().join("scripts/moto_server.py");
        let port = free_port();
        let child = Command::new(super::python())
            .arg(wrapper)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_PORT", port.to_string())
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let mut server = MotoServer { port, child };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if server.child.try_wait().ok().flatten().is_some() {
                return None;
            }
            if request(port, "GET", "/moto-api/", "").is_some() {
                // Answered, and still alive: the listener is ours (one process per port).
                return match server.child.try_wait().ok().flatten() {
                    None => Some(server),
                    Some(_) => None,
                };
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port} within 30 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Posts a moto config change (`/moto-api/config`).
    pub fn set_config(&self, config: &str) {
        request(self.port, "POST", "/moto-api/config", config).expect("moto accepts the config");
    }

    /// What a process needs to talk to this server as "AWS" (SDKs, boto3, s3fs).
    pub fn aws_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_SESSION_TOKEN", "testing".into()),
            ("AWS_REGION", "eu-west-1".into()),
            ("AWS_DEFAULT_REGION", "eu-west-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("KEDRO_DISABLE_TELEMETRY", "true".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Creates the example's bucket and uploads its raw data (the example's make_data.py).
    pub fn upload_example_data(&self) {
        let scratch = tempfile::tempdir().expect("tempdir");
        let output = std::process::Command::new(super::python())
            .arg(super::example_project().join("scripts/make_data.py"))
            .arg("--out")
            .arg(scratch.path())
            .args(["--s3", super::EXAMPLE_BUCKET])
            .envs(self.aws_env())
            .output()
            .expect("make_data.py runs");
        assert!(
            output.status.success(),
            "make_data.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Runs tests/support/moto_fixtures.py against this server; its JSON answer.
    pub fn fixture(&self, args: &[&str]) -> serde_json::Value {
        let output = std::process::Command::new(super::python())
            .arg(super::repo_root().join("tests/support/moto_fixtures.py"))
            .args(args)
            .envs(self.aws_env())
            .output()
            .expect("python runs moto_fixtures.py");
        assert!(
            output.status.success(),
            "moto_fixtures.py {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).expect("moto_fixtures.py prints JSON")
    }

    /// Creates an empty bucket in the server's region.
    pub fn create_bucket(&self, bucket: &str) {
        let program = "import boto3, sys\n\
boto3.client('s3').create_bucket(Bucket=sys.argv[1], CreateBucketConfiguration={'LocationConstraint': 'eu-west-1'})";
        self.python(program, &[bucket], &format!("creating s3://{bucket}"));
    }

    /// An object's bytes as text.
    pub fn s3_text(&self, bucket: &str, key: &str) -> String {
        let program = "import boto3, sys\n\
print(boto3.client('s3').get_object(Bucket=sys.argv[1], Key=sys.argv[2])['Body'].read().decode(), end='')";
        self.python(
            program,
            &[bucket, key],
            &format!("reading s3://{bucket}/{key}"),
        )
    }

    /// Runs a Python program against this server; its stdout.
    fn python(&self, program: &str, args: &[&str], what: &str) -> String {
        let output = std::process::Command::new(super::python())
            .args(["-c", program])
            .args(args)
            .envs(self.aws_env())
            .output()
            .expect("python runs");
        assert!(
            output.status.success(),
            "{what} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Every key in `bucket`, sorted.
    pub fn s3_keys(&self, bucket: &str) -> Vec<String> {
        let program = "import boto3, sys\n\
s3 = boto3.client('s3')\n\
pages = s3.get_paginator('list_objects_v2').paginate(Bucket=sys.argv[1])\n\
print('\\n'.join(sorted(o['Key'] for p in pages for o in p.get('Contents', []))))";
        self.python(program, &[bucket], &format!("listing s3://{bucket}"))
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A minimal HTTP/1.0 request; the response text, or None when nothing answers.
pub fn request(port: u16, method: &str, path: &str, body: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    response.starts_with("HTTP/").then_some(response)
}

/// moto with the tests' two roles and an output directory: what a deploy test works in.
/// Lambda checks that each function's image exists in moto's ECR
/// (`MOTO_LAMBDA_STUB_ECR=false`); [`World::image`] puts one there.
pub struct World {
    pub moto: MotoServer,
    /// `{"lambda": ARN, "states": ARN}`.
    pub roles: serde_json::Value,
    pub dir: tempfile::TempDir,
}

impl World {
    pub fn new() -> World {
        let moto = MotoServer::start_with(&[("MOTO_LAMBDA_STUB_ECR", "false")]);
        let roles = moto.fixture(&["roles"]);
        World {
            moto,
            roles,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// An image of the repository `repo` tagged `tag` in moto's ECR, by digest.
    pub fn image_in(&self, repo: &str, tag: &str) -> String {
        self.moto.fixture(&["image", repo, tag])["uri"]
            .as_str()
            .expect("uri")
            .to_string()
    }

    pub fn out(&self) -> std::path::PathBuf {
        self.dir.path().join("out")
    }

    /// `kedro-sfn deploy` of the example project's document with `image`, the tests' roles
    /// and [`World::out`], against moto (add flags, or other AWS environment, to it).
    pub fn deploy_example(&self, image: &str) -> Command {
        let mut command = super::kedro_sfn();
        command
            .arg("deploy")
            .arg("--project")
            .arg(super::example_project())
            .arg("--pipeline-json")
            .arg(super::example_doc_path())
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
            .arg(self.out())
            .envs(self.moto.aws_env())
            .env("RUST_BACKTRACE", "0");
        command
    }
}
