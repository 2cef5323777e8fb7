//! The image builders: `docker` (buildx) and `buildah`. Each is called with an argument
//! vector, never through a shell; registry credentials go through a private auth file, never
//! the command line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config::{Architecture, BuilderKind};
use crate::process::{Progress, Tool, ToolError, ToolOutput};

use super::context::BuildContext;
use super::reference::{is_sha256_digest, ImageRef};
use super::registry::{is_loopback, Credentials};

/// A builder found on this machine.
#[derive(Debug, Clone)]
pub struct Builder {
    pub kind: BuilderKind,
    pub program: PathBuf,
}

/// An image in the builder's local storage.
#[derive(Debug, Clone)]
pub struct BuiltImage {
    /// The local name, e.g. `kedro-sfn/spaceflights:3f2a…`.
    pub name: String,
    pub seconds: f64,
}

/// Why no builder could do the work.
#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    #[error("no image builder found: install Docker (with a running engine) or buildah (apt-get install buildah), or pass --builder")]
    NoneInstalled,
    #[error("{kind} is not installed (not on PATH), and it was asked for with --builder or image.builder: {}", install_hint(*.kind))]
    NotInstalled { kind: BuilderKind },
    #[error("docker is installed but its engine does not answer (`docker info` failed); start Docker, or use buildah with --builder buildah")]
    DockerEngineDown,
    #[error(transparent)]
    Tool(#[from] ToolError),
    #[error("cannot write a temporary file for the builder: {0}")]
    Io(#[from] std::io::Error),
    #[error("{builder} push did not report a digest for {target} (read {found:?})")]
    NoDigest {
        builder: String,
        target: String,
        found: String,
    },
}

/// The platform string builders take for a Lambda architecture.
pub fn platform(architecture: Architecture) -> &'static str {
    match architecture {
        Architecture::X86_64 => "linux/amd64",
        Architecture::Arm64 => "linux/arm64",
    }
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

impl Builder {
    /// The builder asked for, else whichever is installed, docker first (when its engine
    /// answers).
    pub fn detect(preferred: Option<BuilderKind>) -> Result<Self, BuilderError> {
        let find =
            |kind: BuilderKind| on_path(&kind.to_string()).map(|program| Builder { kind, program });
        match preferred {
            Some(kind) => {
                let builder = find(kind).ok_or(BuilderError::NotInstalled { kind })?;
                if kind == BuilderKind::Docker && !builder.docker_engine_answers() {
                    return Err(BuilderError::DockerEngineDown);
                }
                Ok(builder)
            }
            None => {
                let docker = find(BuilderKind::Docker);
                if let Some(docker) = docker.clone().filter(|d| d.docker_engine_answers()) {
                    return Ok(docker);
                }
                match find(BuilderKind::Buildah) {
                    Some(buildah) => Ok(buildah),
                    None if docker.is_some() => Err(BuilderError::DockerEngineDown),
                    None => Err(BuilderError::NoneInstalled),
                }
            }
        }
    }

    fn docker_engine_answers(&self) -> bool {
        std::process::Command::new(&self.program)
            .args(["info", "--format", "{{.ServerVersion}}"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn tool(&self, label: &str) -> Tool {
        Tool::new(format!("{} {label}", self.kind), &self.program)
    }

    /// Builds the context into a local image called `name`.
    pub fn build(
        &self,
        context: &BuildContext,
        name: &str,
        architecture: Architecture,
        build_args: &[(String, String)],
    ) -> Result<BuiltImage, BuilderError> {
        let mut tool = match self.kind {
            BuilderKind::Docker => self.tool("build").args([
                "buildx",
                "build",
                "--load",
                // Lambda refuses image indexes with attestation manifests.
                "--provenance=false",
            ]),
            // --layers keeps buildah's layer cache, so an unchanged dependency layer is
            // reused; docker caches by default.
            BuilderKind::Buildah => {
                self.tool("bud")
                    .args(["bud", "--layers", "--force-rm", "--format", "docker"])
            }
        };
        tool = tool
            .args(["--platform", platform(architecture)])
            .arg("--file")
            .arg(context.dockerfile.as_os_str())
            .args(["--tag", name]);
        for (key, value) in build_args {
            tool = tool.arg("--build-arg").arg(format!("{key}={value}"));
        }
        tool = tool.arg(context.dir.as_os_str()).hint(match self.kind {
            BuilderKind::Docker => "hint: the lines above are docker's; `docker buildx build` the context by hand to see more",
            BuilderKind::Buildah => "hint: the lines above are buildah's; `buildah bud` the context by hand to see more",
        });
        let output = tool.run(Progress::Stream)?;
        Ok(BuiltImage {
            name: name.to_string(),
            seconds: output.seconds,
        })
    }

    /// Pushes the local image to `target` (with a tag) and returns the digest the builder
    /// reports for what it pushed.
    pub fn push(
        &self,
        local: &str,
        target: &ImageRef,
        credentials: Option<&Credentials>,
    ) -> Result<String, BuilderError> {
        let scratch = tempfile::tempdir()?;
        let auth_file = scratch.path().join("config.json");
        let auths = match credentials {
            Some(c) => serde_json::json!({"auths": {target.registry.clone(): {"auth": c.basic()}}}),
            None => serde_json::json!({"auths": {}}),
        };
        write_private(&auth_file, auths.to_string().as_bytes())?;
        let target_text = target.to_string();
        match self.kind {
            BuilderKind::Buildah => {
                let digest_file = scratch.path().join("digest");
                let mut tool = self
                    .tool("push")
                    .arg("push")
                    .arg("--authfile")
                    .arg(auth_file.as_os_str())
                    .arg("--digestfile")
                    .arg(digest_file.as_os_str());
                if is_loopback(&target.registry) {
                    tool = tool.arg("--tls-verify=false");
                }
                tool.arg(local)
                    .arg(format!("docker://{target_text}"))
                    .hint("hint: check the registry address and that the credentials may push")
                    .run(Progress::Stream)?;
                let found = std::fs::read_to_string(&digest_file).unwrap_or_default();
                let digest = found.trim().to_string();
                if !is_sha256_digest(&digest) {
                    return Err(BuilderError::NoDigest {
                        builder: self.kind.to_string(),
                        target: target_text,
                        found,
                    });
                }
                Ok(digest)
            }
            BuilderKind::Docker => {
                self.tool("tag")
                    .args(["tag", local, &target_text])
                    .run(Progress::Stream)?;
                let output = self
                    .tool("push")
                    .arg("--config")
                    .arg(scratch.path().as_os_str())
                    .args(["push", &target_text])
                    .hint("hint: check the registry address and that the credentials may push")
                    .run(Progress::Stream)?;
                let text = String::from_utf8_lossy(&output.stdout);
                docker_push_digest(&text).ok_or_else(|| BuilderError::NoDigest {
                    builder: self.kind.to_string(),
                    target: target_text,
                    found: text.lines().last().unwrap_or_default().to_string(),
                })
            }
        }
    }

    /// Runs `python3 ARGS` inside the image (the exporter, a node), with `env` set, and
    /// returns what it printed on stdout; its stderr streams through.
    pub fn run_python(
        &self,
        image: &str,
        args: &[OsString],
        env: &[(String, String)],
    ) -> Result<ToolOutput, BuilderError> {
        match self.kind {
            BuilderKind::Docker => {
                let mut tool = self.tool("run").args([
                    "run",
                    "--rm",
                    "--network",
                    "host",
                    "--entrypoint",
                    "python3",
                ]);
                for (key, value) in env {
                    tool = tool.arg("--env").arg(format!("{key}={value}"));
                }
                Ok(tool
                    .arg(image)
                    .args(args.iter().cloned())
                    .run(Progress::PassStderr)?)
            }
            BuilderKind::Buildah => {
                let container = self
                    .tool("from")
                    .args(["from", "--pull-never", image])
                    .run(Progress::PassStderr)?;
                let container = String::from_utf8_lossy(&container.stdout)
                    .trim()
                    .to_string();
                let mut tool = self.tool("run").arg("run");
                for (key, value) in env {
                    tool = tool.arg("--env").arg(format!("{key}={value}"));
                }
                let result = tool
                    .args(["--", container.as_str(), "python3"])
                    .args(args.iter().cloned())
                    .run(Progress::PassStderr);
                // Removed whatever happened; a failure to remove is only worth a warning.
                if let Err(error) = self
                    .tool("rm")
                    .args(["rm", &container])
                    .run(Progress::Stream)
                {
                    tracing::warn!(%error, container, "could not remove the working container");
                }
                Ok(result?)
            }
        }
    }
}

/// How to get a builder that is missing.
fn install_hint(kind: BuilderKind) -> &'static str {
    match kind {
        BuilderKind::Buildah => "install it (Debian/Ubuntu: apt-get install buildah), or pass --builder docker where a Docker engine runs",
        BuilderKind::Docker => "install Docker with its engine (https://docs.docker.com/engine/install/), or pass --builder buildah",
    }
}

/// `latest: digest: sha256:… size: 1234` from docker push's output.
fn docker_push_digest(output: &str) -> Option<String> {
    output.lines().rev().find_map(|line| {
        let (_, rest) = line.split_once("digest: ")?;
        let digest = rest.split_whitespace().next()?;
        is_sha256_digest(digest).then(|| digest.to_string())
    })
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_digest_docker_push_prints() {
        let digest = format!("sha256:{}", "ab".repeat(32));
        let out = format!("abc: Pushed\nt1: digest: {digest} size: 1573\n");
        assert_eq!(docker_push_digest(&out), Some(digest));
        assert_eq!(docker_push_digest("nothing here"), None);
    }

    #[test]
    fn architectures_map_to_platforms() {
        assert_eq!(platform(Architecture::X86_64), "linux/amd64");
        assert_eq!(platform(Architecture::Arm64), "linux/arm64");
    }
}
