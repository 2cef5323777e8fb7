//! Image benchmark (run: `cargo bench --bench image`): the example's generated image built
//! cold with buildah FROM the local Python base (scripts/local-base-image.sh), its size, the
//! push, then a code-only change: rebuild time and the bytes the registry received, against
//! the whole image.
//!
//! Needs what the image tests need: `bash scripts/setup.sh` and `bash scripts/setup-images.sh`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use support::images::{read_json, ImageStore, Registry};
use support::moto::MotoServer;
use support::{example_project, kedro_sfn};

fn run(command: &mut Command, what: &str) -> f64 {
    let started = Instant::now();
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    started.elapsed().as_secs_f64()
}

fn dir_bytes(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
                total += dir_bytes(&entry.path());
            } else if let Ok(meta) = entry.metadata() {
                total += meta.len();
            }
        }
    }
    total
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let name = entry.file_name();
        if ["data", "__pycache__"].contains(&name.to_string_lossy().as_ref()) {
            continue;
        }
        let (source, target) = (entry.path(), to.join(&name));
        if source.is_dir() {
            copy_tree(&source, &target);
        } else {
            std::fs::copy(&source, &target).expect("copy");
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let store = ImageStore::ensure();
    let moto = MotoServer::start();
    let login = moto.fixture(&["token"]);
    let (user, password) = (
        login["user"].as_str().unwrap_or_default(),
        login["password"].as_str().unwrap_or_default(),
    );
    let registry = Registry::start(user, password);
    let scratch = tempfile::tempdir().expect("tempdir");
    let project = scratch.path().join("spaceflights");
    copy_tree(&example_project(), &project);
    let out = scratch.path().join("image");

    // Cold: no cached layer of an earlier example build may be reused.
    for name in store
        .buildah(&["images", "--format", "{{.Name}}:{{.Tag}}"], &[])
        .lines()
        .filter(|n| n.contains("kedro-sfn/spaceflights"))
    {
        store.buildah(&["rmi", "--force", name], &[]);
    }
    store.buildah(&["rmi", "--prune"], &[]);

    let build = |label: &str| run(&mut store.build_command(&project, &out), label);
    let push = |label: &str| {
        run(
            kedro_sfn()
                .args(["image", "push", "--registry", &registry.address()])
                .arg("--out")
                .arg(&out)
                .envs(moto.aws_env())
                .envs(store.env()),
            label,
        )
    };
    let registry_data = registry.data_dir();

    let cold = build("cold build");
    let record = read_json(&out.join("image.json"));
    let local = record["local"].as_str().unwrap_or_default().to_string();
    let size = store.buildah(&["images", "--format", "{{.Size}}", &local], &[]);
    let before = dir_bytes(&registry_data);
    let first_push = push("first push");
    let pushed_first = dir_bytes(&registry_data) - before;

    // A code-only change: one line in one node's module.
    let nodes = project.join("src/spaceflights/pipelines/reporting/nodes.py");
    let mut text = std::fs::read_to_string(&nodes).expect("nodes.py");
    text.push_str("\n# a code-only change\n");
    std::fs::write(&nodes, text).expect("write nodes.py");
    let rebuild = build("code-only rebuild");
    let before = dir_bytes(&registry_data);
    let second_push = push("code-only push");
    let pushed_second = dir_bytes(&registry_data) - before;

    println!("generated image of examples/spaceflights (buildah, overlay storage, local Debian Python 3.11 base)");
    println!("  cold build (wheel + context + all layers)   {cold:>8.1} s");
    println!(
        "  image size (buildah images)                 {:>8}",
        size.trim()
    );
    println!(
        "  first push: bytes the registry stored       {pushed_first:>8} B ({first_push:.1} s)"
    );
    println!("  code-only rebuild                           {rebuild:>8.1} s");
    println!(
        "  code-only push: bytes the registry stored   {pushed_second:>8} B ({second_push:.1} s)"
    );
    println!(
        "  code-only push / first push                 {:>8.4} %",
        100.0 * pushed_second as f64 / pushed_first.max(1) as f64
    );
}
