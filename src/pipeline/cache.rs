//! A cache of exported pipeline documents, so that `check`, `plan` and `run-task` right after
//! `export` (or after each other) do not start Python and load Kedro again (3-30 s on real
//! projects).
//!
//! A document is stored under a key that hashes everything the export depends on:
//! - the project's files: every file under the project directory except the data, build and
//!   tool directories Kedro never reads code or config from (at the root: `data/`,
//!   `venv/`, `env/`, `node_modules/`, `target/`, `notebooks/`, `logs/`, `out/`, and
//!   kedro-sfn's `kedro-sfn-plan/` and `kedro-sfn-image/`; anywhere: hidden directories,
//!   `__pycache__/`, `*.egg-info/`) and log files (`*.log`, which runs write); each file's
//!   path and bytes (files over 1 MiB: path, size and modification time);
//! - the request: env, pipeline, and `KEDRO_ENV` (which picks the env when none is given);
//! - the Python: its path as given and as resolved, and the modification time of its
//!   `site-packages` directories (installing, removing or upgrading a package, Kedro
//!   included, changes them);
//! - the exporter program and this kedro-sfn's version.
//!
//! Any change gives another key, so a stale document is never read: the old entry is just
//! never asked for again. Entries are small (a document per key); `--no-cache` skips the
//! cache, and deleting the directory clears it. What it cannot see: config read from outside
//! the project (a `CONF_SOURCE` elsewhere, environment variables read by the project's
//! settings other than `KEDRO_ENV`); use `--no-cache` there.

use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use sha2::{Digest, Sha256};

use super::export::{ExportRequest, EXPORT_PROGRAM};
use super::model::PipelineDoc;

/// Files larger than this are keyed by size and modification time, not read.
const READ_LIMIT: u64 = 1 << 20;

/// Directories of the project's root that are never walked: data, builds, environments,
/// notebooks, logs (deeper down, a package may well be called `data`).
const SKIPPED_DIRS: &[&str] = &[
    "data",
    "node_modules",
    "target",
    "notebooks",
    "logs",
    "venv",
    "env",
    "out",
    // kedro-sfn's own default outputs.
    "kedro-sfn-plan",
    "kedro-sfn-image",
];

/// File names that a run writes and no run reads: Kedro's log files (a project's
/// logging.yml may write `info.log` into the working directory on every run).
fn written_by_runs(name: &str) -> bool {
    name.ends_with(".log")
}

/// Where documents are kept.
#[derive(Debug, Clone)]
pub struct ExportCache {
    dir: PathBuf,
}

impl ExportCache {
    pub fn new(dir: PathBuf) -> Self {
        ExportCache { dir }
    }

    /// The document cached for this request, if any.
    pub fn get(&self, key: &str) -> Option<PipelineDoc> {
        let path = self.path(key);
        let text = std::fs::read_to_string(&path).ok()?;
        // A corrupt or outdated entry is a miss, never an error.
        PipelineDoc::from_json(&text, &path.display().to_string()).ok()
    }

    /// Stores a document; a cache that cannot be written only costs the next export.
    pub fn put(&self, key: &str, doc: &PipelineDoc) {
        let path = self.path(key);
        let written = std::fs::create_dir_all(&self.dir).and_then(|()| {
            let mut file = tempfile::NamedTempFile::new_in(&self.dir)?;
            std::io::Write::write_all(&mut file, doc.to_json_pretty().as_bytes())?;
            file.persist(&path).map(|_| ()).map_err(|e| e.error)
        });
        if let Err(error) = written {
            tracing::debug!(path = %path.display(), %error, "cannot cache the pipeline document");
        }
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("pipeline-{key}.json"))
    }
}

/// The key of an export: see the module's documentation for what goes in.
pub fn cache_key(request: &ExportRequest, kedro_env: Option<&str>) -> String {
    let python = request.python.as_path();
    let mut hasher = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        hasher.update(name.as_bytes());
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value);
    };
    field("kedro-sfn", env!("CARGO_PKG_VERSION").as_bytes());
    field("exporter", EXPORT_PROGRAM.as_bytes());
    field("env", request.env.as_deref().unwrap_or("").as_bytes());
    field("KEDRO_ENV", kedro_env.unwrap_or("").as_bytes());
    field("pipeline", request.pipeline.as_bytes());
    field("python", python.as_os_str().as_encoded_bytes());
    // A venv's python is a symlink: its own site-packages sit beside the link, the
    // standard library's beside the target.
    let found = find_program(python);
    let resolved = found.as_deref().and_then(|p| std::fs::canonicalize(p).ok());
    let mut sites: Vec<PathBuf> = found
        .iter()
        .chain(&resolved)
        .flat_map(|p| site_packages(p))
        .collect();
    sites.sort();
    sites.dedup();
    field(
        "python-resolved",
        resolved
            .as_deref()
            .map(|p| p.as_os_str().as_encoded_bytes())
            .unwrap_or_default(),
    );
    for site in sites {
        field("site-packages", site.as_os_str().as_encoded_bytes());
        field("site-packages-mtime", &modified_nanos(&site).to_le_bytes());
    }
    hash_files(
        &request.project,
        &project_files(&request.project),
        &mut field,
    );
    let digest = hasher.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

/// Every file of a project that can hold code or config (see the module's documentation),
/// relative to the project, sorted.
pub fn project_files(project: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    walk(project, project, &mut files);
    files.sort();
    files
}

/// Feeds each file's relative path and bytes (files over 1 MiB: size and modification
/// time) to `field`.
pub fn hash_files(project: &Path, files: &[PathBuf], field: &mut impl FnMut(&str, &[u8])) {
    for relative in files {
        let path = project.join(relative);
        field("file", relative.as_os_str().as_encoded_bytes());
        let metadata = std::fs::metadata(&path).ok();
        let size = metadata.as_ref().map_or(0, |m| m.len());
        if !metadata.is_some_and(|m| m.is_file()) {
            // Gone, or no longer a regular file since the walk: never opened (a FIFO blocks).
            field("missing", b"");
        } else if size > READ_LIMIT {
            field("size", &size.to_le_bytes());
            field("mtime", &modified_nanos(&path).to_le_bytes());
        } else {
            field("bytes", &std::fs::read(&path).unwrap_or_default());
        }
    }
}

/// Every file under `dir` that can hold code or config, relative to `root`.
fn walk(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            let skipped = name.starts_with('.')
                || name.ends_with(".egg-info")
                || name == "__pycache__"
                || (dir == root && SKIPPED_DIRS.contains(&name.as_ref()))
                || holds_plan_outputs(&entry.path());
            if !skipped {
                walk(root, &entry.path(), files);
            }
        } else if written_by_runs(&name) || !entry.path().is_file() {
            // (Not a regular file, a link to one included: a FIFO would block the read.)
            continue;
        } else if let Ok(relative) = entry.path().strip_prefix(root) {
            files.push(relative.to_path_buf());
        }
    }
}

/// A directory a `plan` or `deploy` wrote (`--out` anywhere in the project): its files
/// change with every plan and are never code or config, so they must not make the next
/// deploy see new code.
fn holds_plan_outputs(dir: &Path) -> bool {
    PLAN_OUTPUTS.iter().all(|file| dir.join(file).is_file())
}

/// The files every plan writes into its output directory (`flow::outputs` names them; a
/// test there keeps the two lists equal).
pub(crate) const PLAN_OUTPUTS: &[&str] = &["state-machine.asl.json", "plan.json", "summary.md"];

/// The program a command name or path runs (absolute, links not followed): a bare name is
/// looked up on PATH.
fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return std::path::absolute(program).ok().filter(|p| p.exists());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// The `site-packages` directories of the environment a Python belongs to: for a venv's
/// `bin/python` the venv's own (`<venv>/lib/python*/site-packages`), and those of the
/// installation its symlink resolves to.
fn site_packages(python: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let Some(prefix) = python.parent().and_then(Path::parent) else {
        return found;
    };
    for lib in ["lib", "lib64"] {
        let Ok(entries) = std::fs::read_dir(prefix.join(lib)) else {
            continue;
        };
        for entry in entries.flatten() {
            let site = entry.path().join("site-packages");
            if entry.file_name().to_string_lossy().starts_with("python") && site.is_dir() {
                found.push(site);
            }
        }
    }
    found.sort();
    found
}

fn modified_nanos(path: &Path) -> u128 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fifo_in_the_project_is_neither_listed_nor_opened() {
        let project = tempfile::tempdir().expect("tempdir");
        std::fs::write(project.path().join("settings.py"), b"x").expect("writes");
        let fifo = project.path().join("pipe.py");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs (coreutils)");
        assert!(made.success());
        let files = project_files(project.path());
        assert_eq!(files, [PathBuf::from("settings.py")]);
        // Hashing a FIFO named by a stale list returns at once instead of blocking.
        let mut fields = Vec::new();
        hash_files(project.path(), &[PathBuf::from("pipe.py")], &mut |k, _| {
            fields.push(k.to_string())
        });
        assert_eq!(fields, ["file", "missing"]);
    }

    #[test]
    fn plan_outputs_anywhere_in_the_project_are_not_project_files() {
        let project = tempfile::tempdir().expect("tempdir");
        let write = |relative: &str| {
            let path = project.path().join(relative);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("dirs");
            std::fs::write(&path, b"x").expect("writes");
        };
        write("src/p/nodes.py");
        write("conf/base/catalog.yml");
        for file in PLAN_OUTPUTS {
            write(&format!("build/plan/{file}"));
        }
        write("build/plan/state-machines/child.asl.json");
        // A directory with only some of those names is the project's own.
        write("docs/plan.json");
        let files: Vec<String> = project_files(project.path())
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            files,
            vec!["conf/base/catalog.yml", "docs/plan.json", "src/p/nodes.py"]
        );
    }
}
