//! The subcommands: thin shells that read inputs, call the core and write results.

pub mod action;
pub mod check;
pub mod deploy;
pub mod execute;
pub mod export;
pub mod image;
pub mod init;
pub mod plan;
pub mod rollback;
pub mod run_task;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

use crate::config::{Config, FlagOverrides, GroupBy};
use crate::pipeline::cache::{cache_key, ExportCache};
use crate::pipeline::export::{export, ExportError, ExportRequest};
use crate::pipeline::PipelineDoc;

/// Where the pipeline comes from: a Kedro project (run through the exporter) or a pipeline
/// document written earlier by `kedro-sfn export`.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// The Kedro project's root directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub project: PathBuf,
    /// Read this pipeline document (from `kedro-sfn export`) instead of exporting the project.
    #[arg(long, value_name = "FILE")]
    pub pipeline_json: Option<PathBuf>,
    /// The Python that has Kedro and the project's dependencies.
    #[arg(
        long,
        value_name = "PATH",
        env = "KEDRO_SFN_PYTHON",
        default_value = "python3"
    )]
    pub python: PathBuf,
    /// Export again even when the cached document of an unchanged project could be used.
    #[arg(long)]
    pub no_cache: bool,
}

/// Settings that change per run; each beats `kedro-sfn.yml`.
#[derive(Debug, Clone, Default, Args)]
pub struct SettingsArgs {
    /// The config file (default: kedro-sfn.yml in the project directory, if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The Kedro env whose catalog is deployed (e.g. aws).
    #[arg(long)]
    pub env: Option<String>,
    /// The registered pipeline to deploy.
    #[arg(long, value_name = "NAME")]
    pub pipeline: Option<String>,
    /// How nodes are packed into Lambda tasks.
    #[arg(long, value_enum)]
    pub group_by: Option<GroupBy>,
    /// The state machine's name (default: the project's package name).
    #[arg(long, value_name = "NAME")]
    pub state_machine_name: Option<String>,
    /// The AWS region.
    #[arg(long)]
    pub region: Option<String>,
    /// The AWS account id (with --region, Task states name functions by ARN).
    #[arg(long, value_name = "ID")]
    pub account_id: Option<String>,
}

impl SettingsArgs {
    fn overrides(&self) -> FlagOverrides {
        FlagOverrides {
            env: self.env.clone(),
            pipeline: self.pipeline.clone(),
            group_by: self.group_by,
            state_machine_name: self.state_machine_name.clone(),
            region: self.region.clone(),
            account_id: self.account_id.clone(),
        }
    }

    /// Loads the config file (explicit, or the project's) and applies the flags.
    pub fn load(&self, project: &Path) -> anyhow::Result<Config> {
        Ok(Config::load(
            self.config.as_deref(),
            Some(project),
            &self.overrides(),
        )?)
    }
}

/// Reads the pipeline document, or exports it from the project, for the configured env and
/// pipeline. A document exported for another env or pipeline is refused, not silently used.
pub fn load_pipeline(source: &SourceArgs, config: &Config) -> anyhow::Result<PipelineDoc> {
    match &source.pipeline_json {
        Some(path) => {
            let doc = PipelineDoc::from_file(path)?;
            if let Some(env) = &config.file.env {
                if doc.env.as_deref() != Some(env.as_str()) {
                    bail!(
                        "{} was exported for env {}, but env {env} is configured; re-run `kedro-sfn export --env {env}`",
                        path.display(),
                        doc.env.as_deref().unwrap_or("<Kedro's default>")
                    );
                }
            }
            if let Some(pipeline) = &config.file.pipeline {
                if &doc.pipeline != pipeline {
                    bail!(
                        "{} holds pipeline {}, but pipeline {pipeline} is configured; re-run `kedro-sfn export --pipeline {pipeline}`",
                        path.display(),
                        doc.pipeline
                    );
                }
            }
            Ok(doc)
        }
        None => {
            let request = ExportRequest {
                python: source.python.clone(),
                project: source.project.clone(),
                env: config.file.env.clone(),
                pipeline: config.pipeline().to_string(),
            };
            export_cached(&request, source.no_cache).with_context(|| {
                format!(
                    "cannot read the Kedro project at {} (or pass --pipeline-json FILE)",
                    source.project.display()
                )
            })
        }
    }
}

/// Exports through the cache of pipeline documents (see [`crate::pipeline::cache`]), unless
/// `no_cache` or no cache directory can be found: `KEDRO_SFN_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/kedro-sfn`, else `~/.cache/kedro-sfn`.
pub fn export_cached(request: &ExportRequest, no_cache: bool) -> Result<PipelineDoc, ExportError> {
    let Some(cache) = (!no_cache).then(cache_dir).flatten().map(ExportCache::new) else {
        return export(request);
    };
    let kedro_env = std::env::var("KEDRO_ENV").ok();
    let key = cache_key(request, &request.python, kedro_env.as_deref());
    if let Some(doc) = cache.get(&key) {
        tracing::info!(
            project = %request.project.display(),
            key,
            "pipeline document from the cache: the project, its Python and the request are unchanged (--no-cache exports again)"
        );
        return Ok(doc);
    }
    let doc = export(request)?;
    cache.put(&key, &doc);
    Ok(doc)
}

fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("KEDRO_SFN_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("kedro-sfn")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/kedro-sfn")))
}

/// Writes a file whole or not at all: a temporary file in the same directory, then a rename.
pub fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    file.write_all(contents)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // Temporary files are private (0600); results are for everyone who may read the folder.
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// The state machine named in the config or by flag, as deploy names it; for commands that
/// act on a deployed machine without planning (rollback, execute).
pub fn configured_machine_name(config: &Config) -> anyhow::Result<String> {
    let name = config.file.state_machine.name.clone().ok_or_else(|| {
        anyhow::anyhow!(
            "which state machine? set state_machine.name in kedro-sfn.yml or pass --state-machine-name"
        )
    })?;
    Ok(crate::plan::names::state_machine_name(&name))
}
