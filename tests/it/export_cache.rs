//! The cache of pipeline documents, with real Kedro: a command right after another on an
//! unchanged project starts no Python; any change to the project's code or config, the env
//! or `--no-cache` exports again.

use crate::support;

use std::path::Path;
use std::time::Instant;

use support::{copy_project, kedro_sfn, python, repo_root};

const EXPORTING: &str = "exporting the Kedro pipeline";
const CACHED: &str = "pipeline document from the cache";

/// `kedro-sfn check` with its own cache directory: (stderr, seconds).
fn check(project: &Path, cache: &Path, extra: &[&str]) -> (String, f64) {
    let started = Instant::now();
    let output = kedro_sfn()
        .args(["check", "--group-by", "memory"])
        .args(extra)
        .arg("--python")
        .arg(python())
        .arg("--project")
        .arg(project)
        .env("KEDRO_SFN_CACHE_DIR", cache)
        .output()
        .expect("kedro-sfn runs");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{stderr}");
    (stderr, started.elapsed().as_secs_f64())
}

#[test]
fn an_unchanged_project_is_read_from_the_cache_and_any_change_exports_again() {
    let project = copy_project(&repo_root().join("tests/fixtures/transcoding"));
    let dir = project.path();
    let cache = tempfile::tempdir().expect("tempdir");

    let (first, cold) = check(dir, cache.path(), &["--env", "base"]);
    assert!(
        first.contains(EXPORTING) && !first.contains(CACHED),
        "{first}"
    );
    let (second, warm) = check(dir, cache.path(), &["--env", "base"]);
    assert!(
        second.contains(CACHED) && !second.contains(EXPORTING),
        "{second}"
    );
    eprintln!("check on the fixture: cold {cold:.2} s, warm {warm:.2} s");

    // Another env is another document.
    let (other_env, _) = check(dir, cache.path(), &["--env", "aws"]);
    assert!(other_env.contains(EXPORTING), "{other_env}");
    // Changed config: exported again (the parameters change nothing in the document, but
    // the cache cannot know that without Kedro).
    std::fs::write(dir.join("conf/base/parameters.yml"), "players: [ada]\n").expect("write");
    let (changed, _) = check(dir, cache.path(), &["--env", "base"]);
    assert!(changed.contains(EXPORTING), "{changed}");
    // Changed code.
    let nodes = dir.join("src/relay/nodes.py");
    let code = std::fs::read_to_string(&nodes).expect("read") + "\n# changed\n";
    std::fs::write(&nodes, code).expect("write");
    let (changed, _) = check(dir, cache.path(), &["--env", "base"]);
    assert!(changed.contains(EXPORTING), "{changed}");
    // Unchanged again, but --no-cache.
    let (forced, _) = check(dir, cache.path(), &["--env", "base", "--no-cache"]);
    assert!(
        forced.contains(EXPORTING) && !forced.contains(CACHED),
        "{forced}"
    );
    // Data is not part of the key: a new local file under data/ keeps the cache.
    std::fs::create_dir_all(dir.join("data/02_intermediate")).expect("mkdir");
    std::fs::write(dir.join("data/02_intermediate/scores.json"), "[]").expect("write");
    let (data, _) = check(dir, cache.path(), &["--env", "base"]);
    assert!(data.contains(CACHED), "{data}");
    // Nor is what runs write: a log file (Kedro's logging.yml may write info.log into the
    // project) and kedro-sfn's own plan directory.
    std::fs::write(dir.join("info.log"), "a run\n").expect("write");
    std::fs::create_dir_all(dir.join("kedro-sfn-plan")).expect("mkdir");
    std::fs::write(dir.join("kedro-sfn-plan/plan.json"), "{}").expect("write");
    let (written, _) = check(dir, cache.path(), &["--env", "base"]);
    assert!(written.contains(CACHED), "{written}");
}
