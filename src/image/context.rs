//! The build context kedro-sfn writes when the project has no Dockerfile of its own: the
//! project's wheel, its runtime requirements, the deployed `conf/` (base and the env, never
//! `conf/local` or credentials), the handler, and a Dockerfile whose layers put dependencies
//! before code.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::process::{Progress, Tool, ToolError};

/// The packaging program (wheel + requirements), shipped inside the binary.
pub const PACKAGE_PROGRAM: &str = include_str!("../../python/kedro_sfn_package.py");

/// The Lambda handler, shipped inside the binary and copied into every image.
pub const HANDLER_PROGRAM: &str = include_str!("../../python/kedro_sfn_handler.py");

/// The generated Dockerfile, before its placeholders are filled.
pub(crate) const DOCKERFILE_TEMPLATE: &str = include_str!("Dockerfile.in");

/// The handler's file name in the context and in the image.
pub const HANDLER_FILE: &str = "kedro_sfn_handler.py";

/// What to put into a generated build context.
#[derive(Debug, Clone)]
pub struct ContextRequest {
    pub project: PathBuf,
    /// The Python that builds the wheel (the project's).
    pub python: PathBuf,
    /// The Kedro env whose `conf/<env>` is shipped beside `conf/base`.
    pub env: Option<String>,
    /// Optional dependency groups installed too.
    pub extras: Vec<String>,
    /// pip requirements installed beside the project's own (`image.requirements`).
    pub requirements: Vec<String>,
    /// The file whose requirements are installed beside the wheel's
    /// (`image.requirements_file`); `None`: the project's `requirements.txt` or
    /// `src/requirements.txt`, when it has one.
    pub requirements_file: Option<PathBuf>,
    /// The base image, tag included.
    pub base_image: String,
    /// The directory the context is written to; replaced whole.
    pub out: PathBuf,
}

/// A build context ready for a builder.
#[derive(Debug, Clone)]
pub struct BuildContext {
    pub dir: PathBuf,
    pub dockerfile: PathBuf,
    /// True when kedro-sfn wrote the Dockerfile; false when the project's own is used.
    pub generated: bool,
    /// sha256 over every file's path and bytes: the same sources give the same value.
    pub digest: String,
    /// The project's distribution name, from its wheel (generated contexts only).
    pub project_name: Option<String>,
    /// What the image installs before the project's code, each with where it came from
    /// (generated contexts only): printed by `image build`, so nothing is dropped unseen.
    pub requirements: Vec<Requirement>,
    /// Lines of the requirements file the image does not install, each with why.
    pub skipped: Vec<SkippedRequirement>,
}

/// One requirement the image installs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Requirement {
    pub requirement: String,
    /// `wheel` (its Requires-Dist), the requirements file's name, or `image.requirements`.
    pub source: String,
}

/// A line of the requirements file that is not a requirement pip can install in the image.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct SkippedRequirement {
    pub line: String,
    pub file: String,
    pub why: String,
}

/// Why no context could be written.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{0} has no pyproject.toml: pass the Kedro project's root with --project")]
    NotAProject(String),
    #[error("{path} has no conf/base: a Kedro project keeps its base config there")]
    NoConf { path: String },
    #[error("the env {env} has no config directory {path}: create it or pick another --env")]
    NoEnvConf { env: String, path: String },
    #[error("the project's Dockerfile {0} does not exist (image.dockerfile in kedro-sfn.yml)")]
    NoDockerfile(String),
    #[error(transparent)]
    Package(#[from] ToolError),
    #[error("the packaging program printed something unexpected: {0}")]
    PackageOutput(String),
    #[error("cannot write the build context at {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// What the packaging program prints.
#[derive(Debug, Deserialize)]
struct Packaged {
    wheel: String,
    name: String,
    version: String,
    requirements: Vec<String>,
    /// Where each of `requirements` came from, in the same order.
    sources: Vec<String>,
    #[serde(default)]
    skipped: Vec<SkippedRequirement>,
    source_dir: String,
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> ContextError + '_ {
    move |source| ContextError::Io {
        path: path.display().to_string(),
        source,
    }
}

impl BuildContext {
    /// Writes a fresh context into `request.out`.
    pub fn write(request: &ContextRequest) -> Result<Self, ContextError> {
        let project = &request.project;
        if !project.join("pyproject.toml").is_file() {
            return Err(ContextError::NotAProject(project.display().to_string()));
        }
        let conf = project.join("conf");
        if !conf.join("base").is_dir() {
            return Err(ContextError::NoConf {
                path: project.display().to_string(),
            });
        }
        let env_conf = match &request.env {
            Some(env) if env != "base" => {
                let dir = conf.join(env);
                if !dir.is_dir() {
                    return Err(ContextError::NoEnvConf {
                        env: env.clone(),
                        path: dir.display().to_string(),
                    });
                }
                Some((env.as_str(), dir))
            }
            _ => None,
        };

        let out = &request.out;
        if out.exists() {
            std::fs::remove_dir_all(out).map_err(io_error(out))?;
        }
        std::fs::create_dir_all(out).map_err(io_error(out))?;

        let packaged = package(request)?;
        tracing::info!(
            wheel = %packaged.wheel,
            requirements = packaged.requirements.len(),
            "built the project's wheel"
        );
        let installed: Vec<Requirement> = packaged
            .requirements
            .iter()
            .zip(&packaged.sources)
            .map(|(requirement, source)| Requirement {
                requirement: requirement.clone(),
                source: source.clone(),
            })
            .chain(request.requirements.iter().map(|requirement| Requirement {
                requirement: requirement.clone(),
                source: "image.requirements".to_string(),
            }))
            .collect();
        let mut requirements = installed
            .iter()
            .map(|r| r.requirement.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        requirements.push('\n');
        write(&out.join("requirements.txt"), requirements.as_bytes())?;

        let project_dir = out.join("kedro_project");
        copy_file(
            &project.join("pyproject.toml"),
            &project_dir.join("pyproject.toml"),
        )?;
        // Kedro's bootstrap insists that the source directory exists; the code itself is
        // installed from the wheel.
        write(
            &project_dir.join(&packaged.source_dir).join(".keep"),
            b"The project's code is installed from its wheel; Kedro needs this directory.\n",
        )?;
        copy_conf(&conf.join("base"), &project_dir.join("conf/base"))?;
        if let Some((env, dir)) = &env_conf {
            copy_conf(dir, &project_dir.join("conf").join(env))?;
        }
        write(&out.join(HANDLER_FILE), HANDLER_PROGRAM.as_bytes())?;
        let wheel_bytes = std::fs::read(out.join("dist").join(&packaged.wheel))
            .map_err(io_error(&out.join("dist")))?;
        let wheel_sha256 = format!("{:x}", Sha256::digest(&wheel_bytes));
        // Rewritten only to give it (and dist/) the modes every other context file has.
        write(&out.join("dist").join(&packaged.wheel), &wheel_bytes)?;
        let dockerfile = render_dockerfile(&request.base_image, &packaged.wheel, &wheel_sha256);
        write(&out.join("Dockerfile"), dockerfile.as_bytes())?;
        tracing::debug!(name = %packaged.name, version = %packaged.version, "context written");

        Ok(BuildContext {
            dir: out.clone(),
            dockerfile: out.join("Dockerfile"),
            generated: true,
            digest: tree_digest(out, &[])?,
            project_name: Some(packaged.name.clone()),
            requirements: installed,
            skipped: packaged.skipped,
        })
    }

    /// Uses the project's own Dockerfile, with the project as the context.
    pub fn own(project: &Path, dockerfile: &Path) -> Result<Self, ContextError> {
        let dockerfile = project.join(dockerfile);
        if !dockerfile.is_file() {
            return Err(ContextError::NoDockerfile(dockerfile.display().to_string()));
        }
        Ok(BuildContext {
            dir: project.to_path_buf(),
            dockerfile,
            generated: false,
            digest: tree_digest(project, OWN_CONTEXT_SKIPPED)?,
            project_name: None,
            requirements: Vec::new(),
            skipped: Vec::new(),
        })
    }
}

/// Top-level directories of a project that are not part of its image's identity.
const OWN_CONTEXT_SKIPPED: &[&str] = &[
    ".git",
    ".venv",
    "venv",
    "node_modules",
    "data",
    "logs",
    "build",
    "dist",
    "target",
];

fn package(request: &ContextRequest) -> Result<Packaged, ContextError> {
    let mut tool = Tool::new("packaging the project", &request.python)
        .arg("-c")
        .arg(PACKAGE_PROGRAM)
        .arg("--project")
        .arg(request.project.as_os_str())
        .arg("--out")
        .arg(request.out.join("dist").as_os_str())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .hint("hint: the project must build with `pip wheel` in the Python given with --python");
    for extra in &request.extras {
        tool = tool.arg("--extra").arg(extra);
    }
    if let Some(file) = &request.requirements_file {
        tool = tool.arg("--requirements-file").arg(file.as_os_str());
    }
    let output = tool.run(Progress::Stream)?;
    let text = String::from_utf8_lossy(&output.stdout);
    serde_json::from_str(text.trim())
        .map_err(|e| ContextError::PackageOutput(format!("{e}: {text}")))
}

/// Fills the template: the base image (a build argument, so `--build-arg` still wins), the
/// wheel's file name and its sha256 (which also keys the builder's layer cache).
pub fn render_dockerfile(base_image: &str, wheel: &str, wheel_sha256: &str) -> String {
    DOCKERFILE_TEMPLATE
        .replace("{{BASE_IMAGE}}", base_image)
        .replace("{{WHEEL_SHA256}}", wheel_sha256)
        .replace("{{WHEEL}}", wheel)
}

/// Config files that never leave the developer's machine: Kedro keeps secrets in
/// `credentials*` files (and `conf/local`, which is never copied at all).
fn is_secret(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("credentials") || lower.starts_with(".env")
}

fn copy_conf(from: &Path, to: &Path) -> Result<(), ContextError> {
    std::fs::create_dir_all(to).map_err(io_error(to))?;
    let mut entries: Vec<_> = std::fs::read_dir(from)
        .map_err(io_error(from))?
        .collect::<Result<_, _>>()
        .map_err(io_error(from))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name();
        let name_text = name.to_string_lossy();
        if is_secret(&name_text) {
            tracing::info!(file = %entry.path().display(), "not shipped: credentials stay out of the image");
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_conf(&path, &to.join(&name))?;
        } else if path.is_file() {
            copy_file(&path, &to.join(&name))?;
        }
    }
    Ok(())
}

fn copy_file(from: &Path, to: &Path) -> Result<(), ContextError> {
    let bytes = std::fs::read(from).map_err(io_error(from))?;
    write(to, &bytes)
}

/// Writes a file world-readable (0644, directories 0755) whatever the umask: COPY keeps the
/// context's modes, Lambda runs the code as a non-root user, and the layer cache keys on them.
fn write(path: &Path, bytes: &[u8]) -> Result<(), ContextError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_error(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(io_error(dir))?;
    }
    std::fs::write(path, bytes).map_err(io_error(path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).map_err(io_error(path))
}

/// sha256 over the sorted relative paths and contents of every file under `root`, skipping
/// the named top-level directories.
pub fn tree_digest(root: &Path, skipped: &[&str]) -> Result<String, ContextError> {
    let mut files = Vec::new();
    collect_files(root, root, skipped, &mut files)?;
    files.sort();
    let mut hasher = Sha256::new();
    for relative in files {
        let bytes = std::fs::read(root.join(&relative)).map_err(io_error(root))?;
        hasher.update(relative.as_bytes());
        hasher.update([0]);
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(&bytes);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

fn collect_files(
    root: &Path,
    dir: &Path,
    skipped: &[&str],
    files: &mut Vec<String>,
) -> Result<(), ContextError> {
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if dir == root && skipped.contains(&name.as_ref()) {
            continue;
        }
        if name == "__pycache__" || name.ends_with(".pyc") {
            continue;
        }
        let kind = entry.file_type().map_err(io_error(&path))?;
        if kind.is_dir() {
            collect_files(root, &path, skipped, files)?;
        } else if kind.is_file() {
            let relative = path.strip_prefix(root).unwrap_or(&path);
            files.push(relative.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_files_are_secret_and_others_are_not() {
        assert!(is_secret("credentials.yml"));
        assert!(is_secret("Credentials_prod.yaml"));
        assert!(is_secret(".env"));
        assert!(!is_secret("catalog.yml"));
        assert!(!is_secret("parameters_credentials_note.yml"));
    }

    #[test]
    fn the_dockerfile_names_the_base_image_and_the_wheel() {
        let text = render_dockerfile("example.org/base:3.12", "demo-0.1-py3-none-any.whl", "ab12");
        assert!(text.contains("example.org/base:3.12"));
        assert!(text.contains("ab12  /tmp/kedro-sfn-dist/demo-0.1-py3-none-any.whl"));
        assert!(text.contains("demo-0.1-py3-none-any.whl"));
        assert!(!text.contains("{{"), "a placeholder was left: {text}");
    }

    #[test]
    fn the_tree_digest_depends_on_contents_and_names_only() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        for dir in [a.path(), b.path()] {
            write(&dir.join("x/one.txt"), b"1").unwrap();
            write(&dir.join("two.txt"), b"2").unwrap();
        }
        write(&b.path().join("data/big.csv"), b"ignored").unwrap();
        let digest_a = tree_digest(a.path(), &["data"]).unwrap();
        assert_eq!(digest_a, tree_digest(b.path(), &["data"]).unwrap());
        write(&b.path().join("two.txt"), b"3").unwrap();
        assert_ne!(digest_a, tree_digest(b.path(), &["data"]).unwrap());
    }
}
