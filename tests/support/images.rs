//! Images without a Docker engine: buildah/podman storage under target/ with the local
//! stand-in for Lambda's Python base image (scripts/local-base-image.sh, built once and
//! cached), and a real registry (Debian's docker-registry) with basic auth on loopback.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::moto::free_port;
use super::repo_root;

/// The base image the tests build on.
pub const BASE_IMAGE: &str = "localhost/kedro-sfn-lambda-python:3.11";

fn require_program(name: &str) {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{name} is missing: run scripts/setup-images.sh (it installs buildah, podman, docker-registry, apache2-utils and debootstrap)"
    );
}

/// A short run root (locks and transient state) for the storage at `root`:
/// `/tmp/ksfn-run-<8 hex of root's path>`; scripts/demo.sh derives the same.
pub fn short_runroot(root: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    let hash = format!(
        "{:x}",
        Sha256::digest(root.display().to_string().as_bytes())
    );
    PathBuf::from(format!("/tmp/ksfn-run-{}", &hash[..8]))
}

/// A containers storage (overlay, under target/) holding the base image.
pub struct ImageStore {
    pub dir: PathBuf,
    pub conf: PathBuf,
}

impl ImageStore {
    /// Builds the base image the first time (a minute or two), then reuses it.
    pub fn ensure() -> ImageStore {
        for program in ["buildah", "podman", "debootstrap"] {
            require_program(program);
        }
        let dir = repo_root().join("target/kedro-sfn-images/overlay");
        let root = dir.join("root");
        // podman refuses run roots longer than 50 characters; a checkout's path can be longer.
        let runroot = short_runroot(&root);
        let status = Command::new("bash")
            .arg(repo_root().join("scripts/local-base-image.sh"))
            .args(["--driver", "overlay", "--name", BASE_IMAGE])
            .arg("--root")
            .arg(&root)
            .arg("--runroot")
            .arg(&runroot)
            .status()
            .expect("bash runs scripts/local-base-image.sh");
        assert!(status.success(), "scripts/local-base-image.sh failed");
        let conf = dir.join("storage.conf");
        std::fs::write(
            &conf,
            format!(
                "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                root.display(),
                runroot.display()
            ),
        )
        .expect("write storage.conf");
        ImageStore { dir, conf }
    }

    /// What buildah (and kedro-sfn's builder) needs to use this storage here.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "CONTAINERS_STORAGE_CONF".into(),
                self.conf.display().to_string(),
            ),
            ("BUILDAH_ISOLATION".into(), "chroot".into()),
        ]
    }

    /// `kedro-sfn image build` of `project` with buildah FROM the local base, into `out`.
    pub fn build_command(&self, project: &Path, out: &Path) -> Command {
        let mut command = super::kedro_sfn();
        command
            .args([
                "image",
                "build",
                "--builder",
                "buildah",
                "--base-image",
                BASE_IMAGE,
            ])
            .arg("--project")
            .arg(project)
            .arg("--python")
            .arg(super::python())
            .arg("--out")
            .arg(out)
            .envs(self.env());
        command
    }

    /// `buildah ARGS` in this storage; panics with its stderr on failure, returns stdout.
    pub fn buildah(&self, args: &[&str], env: &[(String, String)]) -> String {
        let output = Command::new("buildah")
            .args(args)
            .envs(self.env())
            .envs(env.iter().cloned())
            .output()
            .expect("buildah runs");
        assert!(
            output.status.success(),
            "buildah {args:?} failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }
}

/// A docker-registry on a free loopback port with one htpasswd user; stopped when dropped.
pub struct Registry {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Registry {
    pub fn start(user: &str, password: &str) -> Registry {
        require_program("docker-registry");
        require_program("htpasswd");
        let dir = tempfile::tempdir().expect("tempdir");
        let htpasswd = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd runs");
        assert!(htpasswd.status.success(), "htpasswd failed");
        let users = dir.path().join("htpasswd");
        std::fs::write(&users, &htpasswd.stdout).expect("write htpasswd");
        // As with moto: a port free a moment ago may be taken when the registry binds it;
        // only a registry whose own process is alive once the port answers is used.
        let attempt = |dir: tempfile::TempDir| -> Result<Registry, tempfile::TempDir> {
            let port = free_port();
            let config = dir.path().join("config.yml");
            std::fs::write(
                &config,
                format!(
                    "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\nauth:\n  htpasswd:\n    realm: kedro-sfn-tests\n    path: {}\n",
                    dir.path().join("data").display(),
                    dir.path().join("htpasswd").display()
                ),
            )
            .expect("write registry config");
            let child = Command::new("docker-registry")
                .arg("serve")
                .arg(&config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("docker-registry starts");
            let mut registry = Registry { port, child, dir };
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if registry.child.try_wait().ok().flatten().is_some() {
                    return Err(registry.take_dir());
                }
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return match registry.child.try_wait().ok().flatten() {
                        None => Ok(registry),
                        Some(_) => Err(registry.take_dir()),
                    };
                }
                assert!(
                    Instant::now() < deadline,
                    "docker-registry did not listen on {port}"
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        let mut dir = dir;
        for _ in 0..5 {
            match attempt(dir) {
                Ok(registry) => return registry,
                Err(back) => dir = back,
            }
        }
        panic!("docker-registry could not bind a free port in 5 tries");
    }

    /// Gives back the directory of a registry that did not start (its process is gone).
    fn take_dir(&mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"))
    }

    /// Where the registry keeps blobs and manifests (its size is what pushes stored).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The registry's `Docker-Content-Digest` for `repository:reference` (a HEAD request
    /// with basic auth, over a plain socket: no client library in between).
    pub fn content_digest(
        &self,
        repository: &str,
        reference: &str,
        user: &str,
        password: &str,
    ) -> String {
        use base64::Engine;
        use std::io::{Read, Write};
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect");
        write!(
            stream,
            "HEAD /v2/{repository}/manifests/{reference} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Basic {auth}\r\nAccept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json\r\n\r\n"
        )
        .expect("write");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        response
            .lines()
            .find_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("docker-content-digest")
                    .then(|| value.trim().to_string())
            })
            .unwrap_or_else(|| panic!("no Docker-Content-Digest in:\n{response}"))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a JSON file.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(
        &std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .expect("JSON")
}
