//! The Python distribution as a user gets it: the wheel that maturin builds from
//! pyproject.toml, installed with pip into a fresh virtual environment beside Kedro and the
//! example project, runs `kedro sfn plan` inside the project with the same result as
//! `kedro-sfn plan`, and `kedro sfn check` on a real project says what the binary says;
//! `kedro sfn --help` lists the subcommands; the wheel and the sdist pass
//! `twine check`, and the sdist holds what a cargo build of the crate needs.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use support::{copy_project, example_project, kedro_sfn, repo_root, venv_tool};

/// The wheel and the sdist, built once per test run into `target/wheel-dist/`.
struct Dist {
    wheel: PathBuf,
    sdist: PathBuf,
}

fn run(command: &mut Command) -> Output {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        output.status.success(),
        "{shown} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// A cargo or maturin command with none of the variables that `cargo test` sets for this test
/// process. Build scripts record some of them (ring's reruns when `CARGO_MANIFEST_DIR`
/// changes), so a build that inherited them would leave the dependencies stale for the next
/// plain `cargo build`, which would then recompile the AWS SDK.
fn build_tool(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut command = Command::new(program);
    command.current_dir(repo_root());
    for (name, _) in std::env::vars_os() {
        let name = name.to_string_lossy();
        let set_by_cargo_test = name == "CARGO"
            || name == "OUT_DIR"
            || name == "CARGO_MANIFEST_DIR"
            || name == "CARGO_MANIFEST_PATH"
            || name == "CARGO_CRATE_NAME"
            || name == "CARGO_TARGET_TMPDIR"
            || name == "CARGO_PRIMARY_PACKAGE"
            || name == "CARGO_RUSTC_CURRENT_DIR"
            || name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_");
        if set_by_cargo_test {
            command.env_remove(name.as_ref());
        }
    }
    command
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn only_file(dir: &Path, suffix: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one *{suffix} in {}: {found:?}",
        dir.display()
    );
    found.into_iter().next().unwrap_or_default()
}

/// Builds the wheel (debug profile: the test suite's own build, reused whole) and the sdist
/// with maturin, once. Not `maturin build --sdist`: that builds the wheel again from the
/// unpacked sdist in a target directory of its own, every dependency included.
fn dist() -> &'static Dist {
    static DIST: OnceLock<Dist> = OnceLock::new();
    DIST.get_or_init(|| {
        let out = repo_root().join("target/wheel-dist");
        let _ = std::fs::remove_dir_all(&out);
        run(build_tool(venv_tool("maturin"))
            .args(["build", "--profile", "dev", "--locked", "--out"])
            .arg(&out));
        run(build_tool(venv_tool("maturin"))
            .args(["sdist", "--out"])
            .arg(&out));
        Dist {
            wheel: only_file(&out, ".whl"),
            sdist: only_file(&out, ".tar.gz"),
        }
    })
}

/// The requirement pins of scripts/requirements-dev.txt as a pip constraints file (pip takes
/// no extras in constraints), so the fresh environment gets the Kedro the suite tests with.
fn constraints(dir: &Path) -> PathBuf {
    let pins = std::fs::read_to_string(repo_root().join("scripts/requirements-dev.txt"))
        .expect("scripts/requirements-dev.txt");
    let lines: Vec<String> = pins
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| match (line.find('['), line.find(']')) {
            (Some(open), Some(close)) => format!("{}{}", &line[..open], &line[close + 1..]),
            _ => line.to_string(),
        })
        .collect();
    let path = dir.join("constraints.txt");
    std::fs::write(&path, lines.join("\n") + "\n").expect("write constraints");
    path
}

/// A fresh virtual environment with the wheel, Kedro and the example project (a copy, with
/// its `aws` extra) installed by pip, as a user's project environment would be.
struct UserEnv {
    _dir: tempfile::TempDir,
    bin: PathBuf,
    project: tempfile::TempDir,
}

fn user_env() -> &'static UserEnv {
    static ENV: OnceLock<UserEnv> = OnceLock::new();
    ENV.get_or_init(|| {
        let dist = dist();
        let dir = tempfile::tempdir().expect("tempdir");
        let venv = dir.path().join("venv");
        run(Command::new(support::python())
            .args(["-m", "venv"])
            .arg(&venv));
        let bin = venv.join("bin");
        let project = copy_project(&example_project());
        run(Command::new(bin.join("python"))
            .args(["-m", "pip", "install", "--disable-pip-version-check", "-q"])
            .arg(&dist.wheel)
            .arg(format!("{}[aws]", project.path().display()))
            .arg("-c")
            .arg(constraints(dir.path())));
        UserEnv {
            _dir: dir,
            bin,
            project,
        }
    })
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .flatten()
        .map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            (name, std::fs::read(entry.path()).expect("read a plan file"))
        })
        .collect();
    files.sort();
    files
}

#[test]
fn kedro_sfn_plan_in_the_project_equals_the_binary_run_by_hand() {
    let env = user_env();
    let out = tempfile::tempdir().expect("tempdir");
    let cache = tempfile::tempdir().expect("tempdir");
    let via_kedro = out.path().join("via-kedro");
    let by_hand = out.path().join("by-hand");

    // From a directory inside the project, as a user would: Kedro finds the project root.
    run(Command::new(env.bin.join("kedro"))
        .current_dir(env.project.path().join("src"))
        .env("PATH", format!("{}:/usr/bin:/bin", env.bin.display()))
        .env("KEDRO_DISABLE_TELEMETRY", "true")
        .env("KEDRO_SFN_CACHE_DIR", cache.path())
        .env_remove("KEDRO_SFN_PYTHON")
        .env_remove("KEDRO_ENV")
        .args(["sfn", "plan", "--env", "aws", "--offline", "--out"])
        .arg(&via_kedro));
    run(kedro_sfn()
        .args(["plan", "--env", "aws", "--offline", "--no-cache", "--out"])
        .arg(&by_hand)
        .arg("--project")
        .arg(env.project.path())
        .arg("--python")
        .arg(env.bin.join("python")));

    let (planned, expected) = (files(&via_kedro), files(&by_hand));
    let names: Vec<&str> = planned.iter().map(|(name, _)| name.as_str()).collect();
    assert!(
        names.contains(&"plan.json") && names.contains(&"state-machine.asl.json"),
        "{names:?}"
    );
    assert_eq!(
        planned.len(),
        expected.len(),
        "the same files: {names:?} vs {:?}",
        expected.iter().map(|(name, _)| name).collect::<Vec<_>>()
    );
    for ((name, bytes), (expected_name, expected_bytes)) in planned.iter().zip(&expected) {
        assert_eq!(name, expected_name);
        assert!(
            bytes == expected_bytes,
            "{name} differs between `kedro sfn plan` and `kedro-sfn plan`"
        );
    }
}

/// The plugin on a project we did not write (kedro-starters' astro-airflow-iris, copied,
/// unedited): Kedro finds it from `src/`, and `kedro sfn check` refuses its base env with the
/// same messages and exit code as the binary run by hand. Its pipeline needs only pandas,
/// which the environment has for the example.
#[test]
fn kedro_sfn_check_on_a_real_project_says_what_the_binary_says() {
    let env = user_env();
    let project = support::real_project("astro-airflow-iris");
    let via_kedro = Command::new(env.bin.join("kedro"))
        .current_dir(project.path().join("src"))
        .env("KEDRO_DISABLE_TELEMETRY", "true")
        .env_remove("KEDRO_SFN_PYTHON")
        .env_remove("KEDRO_ENV")
        .args(["sfn", "check", "--no-cache"])
        .output()
        .expect("kedro runs");
    let by_hand = kedro_sfn()
        .args(["check", "--no-cache", "--project"])
        .arg(project.path())
        .arg("--python")
        .arg(env.bin.join("python"))
        .output()
        .expect("kedro-sfn runs");
    let stderr = String::from_utf8_lossy(&via_kedro.stderr);
    assert_eq!(via_kedro.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("error[free-input-not-remote]: input `example_iris_data`"),
        "{stderr}"
    );
    assert_eq!(via_kedro.status.code(), by_hand.status.code());
    // Kedro logs its own start on stdout; what the binary says is on stderr.
    assert_eq!(stderr, String::from_utf8_lossy(&by_hand.stderr));
}

#[test]
fn the_wheel_puts_the_binary_and_the_plugin_in_the_environment() {
    let env = user_env();
    let version = format!("kedro-sfn {}\n", env!("CARGO_PKG_VERSION"));
    assert_eq!(
        stdout(&run(
            Command::new(env.bin.join("kedro-sfn")).arg("--version")
        )),
        version
    );
    assert_eq!(
        stdout(&run(Command::new(env.bin.join("python")).args([
            "-m",
            "kedro_sfn",
            "--version"
        ]))),
        version
    );

    let kedro = |args: &[&str]| {
        stdout(&run(Command::new(env.bin.join("kedro"))
            .current_dir(env.project.path())
            .env("KEDRO_DISABLE_TELEMETRY", "true")
            .args(args)))
    };
    let help = kedro(&["sfn", "--help"]);
    for name in [
        "init", "check", "plan", "deploy", "execute", "rollback", "run-task",
    ] {
        assert!(
            help.contains(&format!("  {name} ")),
            "`kedro sfn --help` lists {name}:\n{help}"
        );
    }
    // A subcommand's help is the binary's own.
    let plan_help = kedro(&["sfn", "plan", "--help"]);
    assert!(
        plan_help.contains("Usage: kedro-sfn plan") && plan_help.contains("--out <DIR>"),
        "{plan_help}"
    );
}

#[test]
fn wheel_and_sdist_pass_twine_check_and_the_sdist_builds_with_cargo() {
    let dist = dist();
    run(Command::new(venv_tool("twine"))
        .args(["check", "--strict"])
        .arg(&dist.wheel)
        .arg(&dist.sdist));

    let unpacked = tempfile::tempdir().expect("tempdir");
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&dist.sdist)
        .arg("-C")
        .arg(unpacked.path()));
    let root = std::fs::read_dir(unpacked.path())
        .expect("the unpacked sdist")
        .flatten()
        .next()
        .expect("one directory in the sdist")
        .path();
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "pyproject.toml",
        "LICENSE",
        "python/kedro_sfn/plugin.py",
    ] {
        assert!(root.join(needed).is_file(), "the sdist holds {needed}");
    }
    // Built with the suite's own target directory, where the dependencies are built already
    // (not `cargo check`: test.sh builds them once, with clippy as the compiler, so there are
    // no checked-only dependencies to reuse). The library, not the binary: the binary would
    // replace target/debug/kedro-sfn under the tests that run it.
    run(build_tool(env!("CARGO"))
        .args(["build", "--locked", "--offline", "--lib", "--manifest-path"])
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(repo_root().join("target")));
}

/// Each dependency's features, as `cargo tree` resolves them with these edges.
fn features(edges: &str) -> std::collections::BTreeSet<String> {
    let output = run(build_tool(env!("CARGO"))
        .args([
            "tree",
            "--locked",
            "--offline",
            "--prefix",
            "none",
            "-f",
            "{p} {f}",
            "-e",
        ])
        .arg(edges));
    stdout(&output)
        .lines()
        // "name vX.Y.Z (path) features" -> "name vX.Y.Z features"
        .map(|line| {
            let mut words: Vec<&str> = line.split(' ').collect();
            words.retain(|word| !word.starts_with('(') && !word.ends_with(')'));
            words.join(" ")
        })
        .collect()
}

/// The wheel build (maturin builds the binary alone) and the test build compile every shared
/// dependency with the same features, so that one reuses what the other compiled (see the
/// note above `hyper` in Cargo.toml).
#[test]
fn a_build_without_dev_dependencies_reuses_the_test_build() {
    let normal = features("normal,build");
    let with_dev = features("normal,build,dev");
    let names_with_dev: std::collections::BTreeSet<&str> = with_dev
        .iter()
        .filter_map(|line| line.split(' ').next())
        .collect();
    let names_normal: std::collections::BTreeSet<&str> = normal
        .iter()
        .filter_map(|line| line.split(' ').next())
        .collect();
    let differing: Vec<&String> = with_dev
        .symmetric_difference(&normal)
        .filter(|line| {
            let name = line.split(' ').next().unwrap_or_default();
            names_normal.contains(name) && names_with_dev.contains(name)
        })
        .collect();
    assert!(
        differing.is_empty(),
        "dependencies whose features differ when the dev-dependencies are built too; add the \
         features to the unifying [dependencies] in Cargo.toml:\n{differing:#?}"
    );
}
