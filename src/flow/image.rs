//! The Lambda container image: built from a generated context (or the project's own
//! Dockerfile), pushed to ECR, and from then on addressed by digest. `image.json` records
//! what was built and pushed.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

use crate::aws::{self, ecr::Ecr};
use crate::config::{BuilderKind, Config};
use crate::image::context::{BuildContext, ContextRequest};
use crate::image::registry;
use crate::image::{Builder, ImageRef, DEFAULT_BASE_IMAGE, DEFAULT_PYTHON_VERSION};
use crate::plan::definition::names::state_machine_name;
use crate::process::git_commit;

use super::outputs::write_atomically;
use super::Reporter;

/// The file `image build` writes and `image push` completes.
pub const IMAGE_FILE: &str = "image.json";

/// What to build, beside the config's `image:` section (each field beats it).
#[derive(Debug, Clone)]
pub struct BuildRequest {
    pub project: PathBuf,
    /// The Python that builds the project's wheel.
    pub python: PathBuf,
    pub builder: Option<BuilderKind>,
    /// The base image, tag included.
    pub base_image: Option<String>,
    /// Where the build context and image.json are written.
    pub out: PathBuf,
    pub repository: Option<String>,
    /// Skip `image test` after the build.
    pub no_test: bool,
}

/// What to push.
#[derive(Debug, Clone)]
pub struct PushRequest {
    /// The directory `build` wrote.
    pub out: PathBuf,
    /// The AWS region of the ECR repository (default: image.json's).
    pub region: Option<String>,
    /// Push the layers to this registry (HOST:PORT) instead of ECR's, then record the image
    /// in ECR with PutImage: for emulators that have no registry.
    pub registry: Option<String>,
}

/// What `image build` and `image push` know about the image; `image.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRecord {
    /// The image's name in the builder's local storage.
    pub local: String,
    pub builder: BuilderKind,
    /// The ECR repository name.
    pub repository: String,
    /// `<commit>-<context digest>`: one tag per distinct build.
    pub tag: String,
    pub context_digest: String,
    /// What the image is built from (see [`crate::image::source`]); absent in records of
    /// older kedro-sfn versions.
    #[serde(default)]
    pub source_digest: Option<String>,
    pub region: Option<String>,
    pub build_seconds: f64,
    /// After `push`: `registry/repository@sha256:…`, what functions are deployed with.
    pub uri: Option<String>,
    pub digest: Option<String>,
}

/// Builds the image, tests it (unless `no_test`), and writes `image.json`.
pub fn build(
    config: &Config,
    args: &BuildRequest,
    reporter: &dyn Reporter,
) -> anyhow::Result<ImageRecord> {
    let image = &config.file.image;
    let (context, base_image) = write_context(config, args, reporter)?;
    let builder = Builder::detect(args.builder.or(image.builder))?;
    let repository = args
        .repository
        .clone()
        .unwrap_or_else(|| repository_name(config, &args.project, context.project_name.as_deref()));
    let tag = image_tag(&args.project, &context.digest);
    let local = format!("kedro-sfn/{repository}:{tag}");
    let architecture = architecture(config);
    // The generated Dockerfile names the base already; the flag still reaches a project's own.
    let build_args = match (&args.base_image, context.generated) {
        (Some(base), false) => vec![("BASE_IMAGE".to_string(), base.clone())],
        _ => Vec::new(),
    };
    reporter.progress(&format!(
        "building {local} with {} ({}, from {base_image})",
        builder.kind,
        crate::image::builder::platform(architecture)
    ));
    let built = builder.build(&context, &local, architecture, &build_args)?;
    if !args.no_test {
        test_image(&builder, &local, config, reporter)?;
    }
    let record = ImageRecord {
        local,
        builder: builder.kind,
        repository,
        tag,
        context_digest: context.digest.clone(),
        source_digest: Some(crate::image::source::source_digest(
            &args.project,
            config.file.env.as_deref(),
            image,
        )),
        region: config.file.region.clone(),
        build_seconds: built.seconds,
        uri: None,
        digest: None,
    };
    write_record(&args.out, &record)?;
    Ok(record)
}

/// Writes the build context (or picks the project's own Dockerfile) and says what the
/// image will install; returns it with the base image. Needs no builder: `image build
/// --context-only` stops here.
pub fn write_context(
    config: &Config,
    args: &BuildRequest,
    reporter: &dyn Reporter,
) -> anyhow::Result<(BuildContext, String)> {
    let image = &config.file.image;
    let base_image = args.base_image.clone().unwrap_or_else(|| {
        format!(
            "{}:{}",
            image.base_image.as_deref().unwrap_or(DEFAULT_BASE_IMAGE),
            image
                .python_version
                .as_deref()
                .unwrap_or(DEFAULT_PYTHON_VERSION)
        )
    });
    let context = match &image.dockerfile {
        Some(dockerfile) => {
            tracing::info!(dockerfile = %dockerfile.display(), "using the project's own Dockerfile");
            BuildContext::own(&args.project, dockerfile)?
        }
        None => BuildContext::write(&ContextRequest {
            project: args.project.clone(),
            python: args.python.clone(),
            env: config.file.env.clone(),
            extras: image.extras.clone().unwrap_or_default(),
            requirements: image.requirements.clone().unwrap_or_default(),
            requirements_file: image.requirements_file.clone(),
            base_image: base_image.clone(),
            out: args.out.join("context"),
        })
        .context("cannot write the image's build context")?,
    };
    if context.generated {
        reporter.progress(&requirements_list(&context));
        for skipped in &context.skipped {
            reporter.progress(&format!(
                "warning: not installed in the image: `{}` from {} ({})",
                skipped.line, skipped.file, skipped.why
            ));
        }
    }
    Ok((context, base_image))
}

/// `the image installs 12 requirements: kedro~=1.7 (wheel), pandas (requirements.txt), ...`
fn requirements_list(context: &BuildContext) -> String {
    let mut text = format!(
        "the image installs {} requirement(s) before the project's code:",
        context.requirements.len()
    );
    for requirement in &context.requirements {
        text.push_str(&format!(
            "\n  {} ({})",
            requirement.requirement, requirement.source
        ));
    }
    text
}

/// What `image test` found in an image: every reason a task would fail before its first
/// node runs.
#[derive(Debug, Clone, Deserialize)]
pub struct ProbeReport {
    pub ok: bool,
    #[serde(default)]
    pub kedro_version: Option<String>,
    #[serde(default)]
    pub nodes: usize,
    #[serde(default)]
    pub datasets: usize,
    pub failures: Vec<ProbeFailure>,
    pub seconds: f64,
}

/// One reason a task would fail: a missing module, dataset type or credentials key.
#[derive(Debug, Clone, Deserialize)]
pub struct ProbeFailure {
    /// `module`, `credentials`, `dataset`, `pipeline`, `catalog`, `project`, `kedro-version`.
    pub kind: String,
    pub subject: String,
    /// The nodes it stops (empty: every task).
    pub nodes: Vec<String>,
    pub error: String,
    pub fix: String,
}

/// The failures of an image test, one block each.
#[derive(Debug, thiserror::Error)]
#[error("the image {image} would fail its tasks on Lambda ({} problem(s) found by `image test`):\n{}", .report.failures.len(), describe_failures(&.report.failures))]
pub struct ImageTestFailed {
    pub image: String,
    pub report: ProbeReport,
}

fn describe_failures(failures: &[ProbeFailure]) -> String {
    failures
        .iter()
        .map(|f| {
            let nodes = if f.nodes.is_empty() {
                "every task".to_string()
            } else {
                format!("node(s) {}", f.nodes.join(", "))
            };
            format!(
                "  - {} `{}` stops {nodes}: {}\n    fix: {}",
                f.kind, f.subject, f.error, f.fix
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Runs the handler file (argv[1]) with the rest of the arguments; an image without it (from
/// a project's own Dockerfile) gets a line that says what is missing, not Python's "can't
/// open file".
const PROBE_LAUNCHER: &str = "import os, runpy, sys
if not os.path.isfile(sys.argv[1]):
    sys.exit('kedro-sfn image test: the image has no ' + sys.argv[1] + ': an image from your '
             'own Dockerfile must install kedro-sfn\\'s handler there and set CMD '
             '[\"kedro_sfn_handler.handler\"] (see kedro-sfn\\'s docs/image.md)')
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
";

/// Runs the handler's probe inside the built image, with the image's Python and the
/// image's task root, as a task would load the project: imports the pipeline, builds the
/// env's catalog with stand-in credentials for every key `credentials:` maps, and builds
/// each dataset, reading and writing no data. Fails with every problem at once.
pub fn test_image(
    builder: &Builder,
    image: &str,
    config: &Config,
    reporter: &dyn Reporter,
) -> anyhow::Result<ProbeReport> {
    reporter.progress(&format!(
        "testing {image}: loading the project, its pipeline `{}` and catalog inside the image",
        config.pipeline()
    ));
    let event = serde_json::json!({"pipeline": config.pipeline(), "env": config.file.env});
    let handler = format!(
        "{}/{}",
        crate::image::TASK_ROOT,
        crate::image::context::HANDLER_FILE
    );
    let args = [
        std::ffi::OsString::from("-c"),
        PROBE_LAUNCHER.into(),
        handler.into(),
        "--probe".into(),
        event.to_string().into(),
    ];
    let mut env = crate::image::python_env();
    env.push((
        "KEDRO_SFN_STAND_IN_CREDENTIALS".to_string(),
        "1".to_string(),
    ));
    if let Some(mapping) = config.credentials_mapping() {
        env.push((
            crate::config::credentials::CREDENTIALS_ENV.to_string(),
            mapping,
        ));
    }
    let output = builder
        .run_python(image, &args, &env)
        .with_context(|| format!("cannot run the image test inside {image}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let report: ProbeReport = serde_json::from_str(text.trim())
        .with_context(|| format!("the image test inside {image} printed no report: {text}"))?;
    if !report.ok {
        return Err(ImageTestFailed {
            image: image.to_string(),
            report,
        }
        .into());
    }
    reporter.progress(&format!(
        "image test passed in {:.1} s: Kedro {}, {} node(s), {} dataset(s) built",
        report.seconds,
        report.kedro_version.as_deref().unwrap_or("?"),
        report.nodes,
        report.datasets
    ));
    Ok(report)
}

/// Pushes the image `image build` recorded, unless ECR has its tag already; completes
/// `image.json` with the pinned URI. `pushed` is false when ECR had the tag.
pub async fn push(
    args: &PushRequest,
    reporter: &dyn Reporter,
) -> anyhow::Result<(ImageRecord, bool)> {
    let mut record = read_record(&args.out)?;
    let region = args.region.clone().or_else(|| record.region.clone());
    let pushed = push_to_ecr(
        &record,
        region.as_deref(),
        args.registry.as_deref(),
        reporter,
    )
    .await?;
    record.uri = Some(pushed.uri.clone());
    record.digest = Some(pushed.digest.clone());
    write_record(&args.out, &record)?;
    Ok((record, pushed.pushed))
}

struct Pushed {
    uri: String,
    digest: String,
    pushed: bool,
}

async fn push_to_ecr(
    record: &ImageRecord,
    region: Option<&str>,
    registry_override: Option<&str>,
    reporter: &dyn Reporter,
) -> anyhow::Result<Pushed> {
    let sdk = aws::sdk_config(region).await;
    let ecr = Ecr::new(&sdk);
    let tags = [("kedro-sfn:managed".to_string(), "true".to_string())].into();
    let repository = ecr.ensure_repository(&record.repository, &tags).await?;
    let pinned = |digest: &str| format!("{}@{digest}", repository.uri);
    if let Some(digest) = ecr.digest_of_tag(&record.repository, &record.tag).await? {
        // Tags are immutable and name a build's content: nothing to push.
        return Ok(Pushed {
            uri: pinned(&digest),
            digest,
            pushed: false,
        });
    }
    let login = ecr.login().await?;
    reporter.secret(&login.credentials.password);
    let push_registry = registry_override
        .unwrap_or(repository.registry())
        .to_string();
    let target = ImageRef {
        registry: push_registry.clone(),
        repository: record.repository.clone(),
        tag: Some(record.tag.clone()),
        digest: None,
    };
    let builder = Builder::detect(Some(record.builder))?;
    reporter.progress(&format!("pushing {} to {target}", record.local));
    let builder_digest = {
        let builder = builder.clone();
        let local = record.local.clone();
        let target = target.clone();
        let credentials = login.credentials.clone();
        tokio::task::spawn_blocking(move || builder.push(&local, &target, Some(&credentials)))
            .await
            .context("the push was interrupted")??
    };
    let manifest = registry::manifest(
        &push_registry,
        &record.repository,
        &record.tag,
        Some(&login.credentials),
    )
    .await?;
    if manifest.digest != builder_digest {
        bail!(
            "{} reported digest {builder_digest}, but the registry serves {} for {target}; re-run the push",
            record.builder,
            manifest.digest
        );
    }
    if registry_override.is_some() {
        // The emulator seam (see Ecr::put_image): ECR learns of the image from its manifest.
        ecr.put_image(
            &record.repository,
            &record.tag,
            &manifest.bytes,
            &manifest.media_type,
            &manifest.digest,
        )
        .await?;
    } else {
        let known = ecr.digest_of_tag(&record.repository, &record.tag).await?;
        if known.as_deref() != Some(manifest.digest.as_str()) {
            bail!(
                "ECR lists {:?} for {}:{}, not the pushed {}",
                known,
                record.repository,
                record.tag,
                manifest.digest
            );
        }
    }
    Ok(Pushed {
        uri: pinned(&manifest.digest),
        digest: manifest.digest,
        pushed: true,
    })
}

/// The ECR repository: image.repository, else the state machine's name (configured, else
/// the project's, as the planner names it).
fn repository_name(config: &Config, project: &Path, project_name: Option<&str>) -> String {
    if let Some(name) = &config.file.image.repository {
        return name.clone();
    }
    let configured = config
        .file
        .state_machine
        .name
        .clone()
        .or_else(|| project_name.map(str::to_string));
    let wanted = configured.unwrap_or_else(|| {
        std::fs::canonicalize(project)
            .ok()
            .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "kedro-sfn".to_string())
    });
    ecr_repository_name(&state_machine_name(&wanted))
}

/// ECR names: lowercase letters, digits and `._-/`, starting with a letter or digit.
fn ecr_repository_name(wanted: &str) -> String {
    let name: String = wanted
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    let name = name.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    if name.is_empty() {
        "kedro-sfn".to_string()
    } else {
        name.chars().take(200).collect()
    }
}

fn architecture(config: &Config) -> crate::config::Architecture {
    config.file.lambda.architecture.unwrap_or_default()
}

/// `<commit>-<first 12 of the context digest>`: the commit says where the code came from, the
/// digest tells two builds of one commit apart (a dirty tree, another config), so an
/// immutable tag is never asked to move.
pub fn image_tag(project: &Path, context_digest: &str) -> String {
    let commit = git_commit(project).unwrap_or_else(|| "nogit".to_string());
    format!(
        "{commit}-{}",
        &context_digest[..12.min(context_digest.len())]
    )
}

fn write_record(out: &Path, record: &ImageRecord) -> anyhow::Result<()> {
    let mut text = serde_json::to_string_pretty(record)?;
    text.push('\n');
    write_atomically(&out.join(IMAGE_FILE), text.as_bytes())
}

/// Reads `image.json` from the directory `image build` wrote.
pub fn read_record(out: &Path) -> anyhow::Result<ImageRecord> {
    let path = out.join(IMAGE_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {}; run `kedro-sfn image build --out {}` first",
            path.display(),
            out.display()
        )
    })?;
    serde_json::from_str(&text)
        .with_context(|| format!("{} is not an image record", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_launcher_names_a_missing_handler_and_runs_a_present_one() {
        let run = |handler: &str, extra: &[&str]| {
            std::process::Command::new("python3")
                .args(["-c", PROBE_LAUNCHER, handler])
                .args(extra)
                .output()
                .expect("python3 runs")
        };
        let missing = run("/nonexistent/kedro_sfn_handler.py", &["--probe", "{}"]);
        assert!(!missing.status.success());
        let stderr = String::from_utf8_lossy(&missing.stderr);
        assert!(
            stderr.contains("the image has no /nonexistent/kedro_sfn_handler.py")
                && stderr.contains("CMD [\"kedro_sfn_handler.handler\"]"),
            "{stderr}"
        );
        let handler = concat!(env!("CARGO_MANIFEST_DIR"), "/python/kedro_sfn_handler.py");
        let help = run(handler, &["--help"]);
        assert!(
            help.status.success(),
            "{}",
            String::from_utf8_lossy(&help.stderr)
        );
        assert!(String::from_utf8_lossy(&help.stderr).contains("--probe"));
    }

    #[test]
    fn repository_names_are_legal_for_ecr() {
        assert_eq!(ecr_repository_name("Space Flights!"), "space-flights");
        assert_eq!(ecr_repository_name("__x__"), "x");
        assert_eq!(ecr_repository_name("***"), "kedro-sfn");
    }
}
