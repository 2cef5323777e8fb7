//! The Python that runs Kedro where nothing has installed the project (the action's
//! container): a virtual environment with the project's dependencies, kept in the cache
//! directory under a key over what decides them, so that the next run — or a job that
//! restores the directory with `actions/cache` — installs nothing.
//!
//! The key hashes the project's dependency files (`pyproject.toml`, `setup.py`,
//! `setup.cfg`, `requirements*.txt` at the root and in `src/`), the extras asked for, and the
//! base Python (its version and path). Code changes do not change it: Kedro's
//! `bootstrap_project` puts `src/` first on `sys.path`, so the export imports the checked-out
//! code, never the copy installed when the environment was made.
//!
//! An environment is complete once its marker file is written, after pip succeeded; one
//! without the marker (a run killed mid-install) is removed and made again.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use crate::process::{Progress, Tool};

/// Written last into a finished environment.
const COMPLETE_MARKER: &str = ".kedro-sfn-complete";

/// Files at the project's root (and in `src/`) that decide what pip installs.
fn is_dependency_file(name: &str) -> bool {
    matches!(name, "pyproject.toml" | "setup.py" | "setup.cfg")
        || (name.starts_with("requirements") && name.ends_with(".txt"))
}

/// What to make the environment from.
#[derive(Debug, Clone)]
pub struct EnvRequest<'a> {
    pub project: &'a Path,
    /// The project's extras (`image.extras` in kedro-sfn.yml).
    pub extras: &'a [String],
    /// The Python that creates the environment (`python3` in the action's image).
    pub base_python: &'a Path,
    /// The cache directory; environments live in its `venvs/`.
    pub cache_dir: &'a Path,
}

/// A ready environment.
#[derive(Debug, Clone)]
pub struct ProjectEnv {
    /// Its `bin/python`.
    pub python: PathBuf,
    /// True when an earlier run made it and nothing was installed now.
    pub reused: bool,
}

/// The environment for the request: the cached one when its key matches, else a new one with
/// the project installed from a copy (pip builds in the source tree, and setuptools would
/// leave root-owned `build/` and `*.egg-info/` in the user's checkout).
pub fn project_env(request: &EnvRequest<'_>, report: &dyn Fn(&str)) -> anyhow::Result<ProjectEnv> {
    let key = env_key(request)?;
    let venv = request.cache_dir.join("venvs").join(&key);
    let python = venv.join("bin/python");
    if venv.join(COMPLETE_MARKER).is_file() && python.is_file() {
        report(&format!(
            "Python environment {} reused: the project's dependency files are unchanged",
            venv.display()
        ));
        return Ok(ProjectEnv {
            python,
            reused: true,
        });
    }
    if venv.exists() {
        std::fs::remove_dir_all(&venv).with_context(|| {
            format!(
                "cannot remove the unfinished environment {} (remove it by hand)",
                venv.display()
            )
        })?;
    }
    let started = Instant::now();
    report(&format!(
        "making a Python environment for the project in {} (pip install; cached for the next run)",
        venv.display()
    ));
    Tool::new("python3 -m venv", request.base_python)
        .args(["-m", "venv"])
        .arg(venv.as_os_str())
        .hint("hint: the action's image has python3-venv; a custom image needs it too")
        .run(Progress::Stream)?;
    let copy = copy_for_install(request.project, &request.cache_dir.join("install"))?;
    let target = if request.extras.is_empty() {
        copy.display().to_string()
    } else {
        format!("{}[{}]", copy.display(), request.extras.join(","))
    };
    let installed = Tool::new("pip install (the project)", &python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            // The runner's HOME is not the container user's: pip could not use a cache
            // there, and warns on every run; the environment itself is the cache.
            "--no-cache-dir",
        ])
        .arg(target)
        .hint("hint: the project must install with pip (pyproject.toml with its dependencies)")
        .run(Progress::Stream);
    // The copy is only pip's build directory.
    let _ = std::fs::remove_dir_all(&copy);
    installed?;
    std::fs::write(venv.join(COMPLETE_MARKER), key.as_bytes())
        .with_context(|| format!("cannot write {}", venv.join(COMPLETE_MARKER).display()))?;
    report(&format!(
        "Python environment ready in {:.1} s",
        started.elapsed().as_secs_f64()
    ));
    Ok(ProjectEnv {
        python,
        reused: false,
    })
}

/// The environment's key: 32 hex digits of a sha256 over the dependency files, the extras and
/// the base Python.
pub fn env_key(request: &EnvRequest<'_>) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    let mut field = |name: &str, bytes: &[u8]| {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field("layout", b"kedro-sfn venv 1");
    for file in dependency_files(request.project) {
        let bytes = std::fs::read(request.project.join(&file))
            .with_context(|| format!("cannot read {}", request.project.join(&file).display()))?;
        field("file", file.as_os_str().as_encoded_bytes());
        field("bytes", &bytes);
    }
    let mut extras = request.extras.to_vec();
    extras.sort();
    field("extras", extras.join(",").as_bytes());
    let version = Tool::new("python3 --version", request.base_python)
        .args([
            "-c",
            "import sys; print(sys.version); print(sys.executable)",
        ])
        .hint("hint: the action's image has python3; a custom image needs it too")
        .run(Progress::Quiet)?;
    field("python", &version.stdout);
    let digest = hasher.finalize();
    Ok(digest[..16].iter().map(|b| format!("{b:02x}")).collect())
}

/// The dependency files of the project, relative to it, sorted.
fn dependency_files(project: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [Path::new(""), Path::new("src")] {
        let Ok(entries) = std::fs::read_dir(project.join(dir)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let is_file = entry.file_type().is_ok_and(|t| t.is_file());
            if is_file && is_dependency_file(&name.to_string_lossy()) {
                files.push(dir.join(name));
            }
        }
    }
    files.sort();
    files
}

/// The project's code and config (what the export cache walks: no data, no builds) in
/// `copy`, emptied first.
fn copy_for_install(project: &Path, copy: &Path) -> anyhow::Result<PathBuf> {
    if copy.exists() {
        std::fs::remove_dir_all(copy)
            .with_context(|| format!("cannot clear {}", copy.display()))?;
    }
    for file in crate::pipeline::cache::project_files(project) {
        let target = copy.join(&file);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        std::fs::copy(project.join(&file), &target)
            .with_context(|| format!("cannot copy {} to install it", file.display()))?;
    }
    Ok(copy.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependency_files_are_the_root_and_src_ones() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for file in [
            "pyproject.toml",
            "requirements.txt",
            "requirements-dev.txt",
            "README.md",
            "src/requirements.txt",
            "src/pkg/requirements.txt",
            "conf/base/catalog.yml",
        ] {
            let path = root.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, file).unwrap();
        }
        let names: Vec<String> = dependency_files(root)
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "pyproject.toml",
                "requirements-dev.txt",
                "requirements.txt",
                "src/requirements.txt"
            ]
        );
    }
}
