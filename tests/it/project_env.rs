//! The action's Python environment, made with real venv and pip: made once per set of
//! dependency files and reused after that (a code change installs nothing), made again when a
//! dependency file changes or an earlier run died mid-install, and never a file in the
//! checkout.

use crate::support;

use std::path::Path;

use kedro_sfn::flow::project_env::{project_env, EnvRequest, ProjectEnv};
use support::python;

/// A one-module project that installs with setuptools and needs nothing else.
fn write_project(root: &Path) {
    std::fs::create_dir_all(root.join("src/tiny")).unwrap();
    std::fs::write(
        root.join("pyproject.toml"),
        "[build-system]\nrequires = [\"setuptools>=61\"]\nbuild-backend = \"setuptools.build_meta\"\n\n\
         [project]\nname = \"tiny\"\nversion = \"0.1.0\"\ndependencies = []\n\n\
         [tool.setuptools.packages.find]\nwhere = [\"src\"]\n",
    )
    .unwrap();
    std::fs::write(root.join("src/tiny/__init__.py"), "ANSWER = 42\n").unwrap();
}

fn files_of(root: &Path) -> Vec<String> {
    let mut files: Vec<String> = walk(root)
        .into_iter()
        .map(|p| p.strip_prefix(root).unwrap().display().to_string())
        .collect();
    files.sort();
    files
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        out.push(path.clone());
        if path.is_dir() {
            out.extend(walk(&path));
        }
    }
    out
}

fn make(project: &Path, cache: &Path, base: &Path) -> (ProjectEnv, Vec<String>) {
    let lines = std::cell::RefCell::new(Vec::new());
    let env = project_env(
        &EnvRequest {
            project,
            extras: &[],
            base_python: base,
            cache_dir: cache,
        },
        &|line| lines.borrow_mut().push(line.to_string()),
    )
    .unwrap_or_else(|e| panic!("{e:#}"));
    (env, lines.into_inner())
}

#[test]
fn an_environment_is_made_once_per_dependency_set_and_the_checkout_stays_clean() {
    let project = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    write_project(project.path());
    let before = files_of(project.path());
    // The base Python: the one the test suite set up (a venv made from a venv's Python is
    // made from its base interpreter, as python3 in the action's image).
    let base = python();

    let (first, lines) = make(project.path(), cache.path(), &base);
    assert!(!first.reused, "{lines:?}");
    assert!(
        lines[0].starts_with("making a Python environment"),
        "{lines:?}"
    );
    let imported = std::process::Command::new(&first.python)
        .args(["-c", "import tiny; print(tiny.ANSWER)"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&imported.stdout).trim(), "42");
    assert_eq!(
        files_of(project.path()),
        before,
        "pip left files in the checkout (build/ or *.egg-info/)"
    );

    // A code change: nothing installed.
    std::fs::write(project.path().join("src/tiny/__init__.py"), "ANSWER = 43\n").unwrap();
    let (second, lines) = make(project.path(), cache.path(), &base);
    assert!(second.reused, "{lines:?}");
    assert_eq!(second.python, first.python);
    assert!(lines[0].contains("reused"), "{lines:?}");

    // A dependency file change: a new environment.
    let pyproject = project.path().join("pyproject.toml");
    let text = std::fs::read_to_string(&pyproject).unwrap();
    std::fs::write(&pyproject, text.replace("0.1.0", "0.2.0")).unwrap();
    let (third, _) = make(project.path(), cache.path(), &base);
    assert!(!third.reused);
    assert_ne!(third.python, first.python);

    // A run that died mid-install leaves no marker: the next one makes it again.
    let venv = third.python.parent().unwrap().parent().unwrap();
    std::fs::remove_file(venv.join(".kedro-sfn-complete")).unwrap();
    let (fourth, _) = make(project.path(), cache.path(), &base);
    assert!(!fourth.reused);
    assert_eq!(fourth.python, third.python);
    let (fifth, _) = make(project.path(), cache.path(), &base);
    assert!(fifth.reused);
    assert!(
        !cache.path().join("install").exists(),
        "pip's build copy is removed"
    );
}
