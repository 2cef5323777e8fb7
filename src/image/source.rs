//! What an image is built from, as one digest that needs no build, no builder and no AWS:
//! recorded on every function it deploys (in its description: `plan::functions::FunctionRecord`), so that a plan of a
//! checkout sees that node code changed even when it builds no image.
//!
//! The digest covers the project's files that can hold code or config (as the export cache
//! walks them: not `data/`, environments, builds or logs), with `conf/` narrowed to what the
//! image ships (`conf/base` and `conf/<env>`, never credentials); the handler, the packaging
//! program and the Dockerfile template of this kedro-sfn; and the image settings (base image,
//! extras, extra requirements, the project's own Dockerfile). Any of them changed: new code.

use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::config::ImageConfig;
use crate::pipeline::cache::{hash_files, project_files};

use super::context::{DOCKERFILE_TEMPLATE, HANDLER_PROGRAM, PACKAGE_PROGRAM};

/// The source digest of `project` for an image shipping `env`'s config; `sha256:` and 64
/// hex digits.
pub fn source_digest(project: &Path, env: Option<&str>, image: &ImageConfig) -> String {
    let mut hasher = Sha256::new();
    let mut field = |name: &str, value: &[u8]| {
        hasher.update(name.as_bytes());
        hasher.update((value.len() as u64).to_le_bytes());
        hasher.update(value);
    };
    field("handler", HANDLER_PROGRAM.as_bytes());
    field("package", PACKAGE_PROGRAM.as_bytes());
    field("dockerfile-template", DOCKERFILE_TEMPLATE.as_bytes());
    let settings = serde_json::json!({
        "base_image": image.base_image,
        "python_version": image.python_version,
        "extras": image.extras,
        "requirements": image.requirements,
        "dockerfile": image.dockerfile,
    });
    field("image", settings.to_string().as_bytes());
    let files: Vec<PathBuf> = project_files(project)
        .into_iter()
        .filter(|file| shipped(file, env))
        .collect();
    hash_files(project, &files, &mut field);
    let digest = hasher.finalize();
    format!(
        "sha256:{}",
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// Outside `conf/`, every file counts (it may be code the wheel packs); inside, only the
/// envs the image ships, and never a credentials file.
fn shipped(file: &Path, env: Option<&str>) -> bool {
    let mut parts = file.components().filter_map(|c| match c {
        Component::Normal(part) => part.to_str(),
        _ => None,
    });
    if parts.next() != Some("conf") {
        return true;
    }
    let Some(conf_env) = parts.next() else {
        return true; // conf/logging.yml and friends
    };
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let wanted = conf_env == "base" || Some(conf_env) == env;
    wanted && !name.starts_with("credentials")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_shipped_config_counts() {
        assert!(shipped(Path::new("src/p/nodes.py"), Some("aws")));
        assert!(shipped(Path::new("conf/base/catalog.yml"), Some("aws")));
        assert!(shipped(Path::new("conf/aws/catalog.yml"), Some("aws")));
        assert!(!shipped(Path::new("conf/local/catalog.yml"), Some("aws")));
        assert!(!shipped(Path::new("conf/aws/credentials.yml"), Some("aws")));
        assert!(!shipped(Path::new("conf/staging/catalog.yml"), Some("aws")));
    }

    #[test]
    fn code_config_and_settings_change_the_digest_and_nothing_else_does() {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = dir.path();
        let write = |path: &str, text: &str| {
            let path = project.join(path);
            std::fs::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write("src/p/nodes.py", "def f(x):\n    return x\n");
        write("conf/base/catalog.yml", "a: {type: MemoryDataset}\n");
        let image = ImageConfig::default();
        let digest = || source_digest(project, Some("aws"), &image);
        let first = digest();
        assert!(first.starts_with("sha256:") && first.len() == 71, "{first}");
        write("data/01_raw/x.csv", "1\n");
        write("conf/local/credentials.yml", "k: v\n");
        write("info.log", "ran\n");
        assert_eq!(digest(), first, "data, local config and logs are not code");
        write("src/p/nodes.py", "def f(x):\n    return x + 1\n");
        let second = digest();
        assert_ne!(second, first);
        let extras = ImageConfig {
            extras: Some(vec!["aws".into()]),
            ..ImageConfig::default()
        };
        assert_ne!(source_digest(project, Some("aws"), &extras), second);
    }
}
