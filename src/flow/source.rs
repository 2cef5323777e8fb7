//! Where the pipeline comes from: a Kedro project, exported by Kedro itself through the cache
//! of documents, or a document `kedro-sfn export` wrote earlier.

use std::path::PathBuf;

use anyhow::{bail, Context};

use crate::config::Config;
use crate::pipeline::cache::{cache_key, ExportCache};
use crate::pipeline::export::{export, ExportError, ExportRequest};
use crate::pipeline::PipelineDoc;

use super::Reporter;

/// The project and how to read its pipeline.
#[derive(Debug, Clone)]
pub struct Source {
    /// The Kedro project's root directory.
    pub project: PathBuf,
    /// A document to read instead of exporting the project.
    pub pipeline_json: Option<PathBuf>,
    /// The Python that has Kedro and the project's dependencies.
    pub python: PathBuf,
    /// Export again even when a cached document could be used.
    pub no_cache: bool,
}

/// Reads the pipeline document, or exports it from the project, for the configured env and
/// pipeline. A document exported for another env or pipeline is refused, not silently used.
pub fn load_pipeline(
    source: &Source,
    config: &Config,
    reporter: &dyn Reporter,
) -> anyhow::Result<PipelineDoc> {
    let Some(path) = &source.pipeline_json else {
        let request = ExportRequest {
            python: source.python.clone(),
            project: source.project.clone(),
            env: config.file.env.clone(),
            pipeline: config.pipeline().to_string(),
        };
        return export_cached(&request, source.no_cache, reporter).with_context(|| {
            format!(
                "cannot read the Kedro project at {} (or pass --pipeline-json FILE)",
                source.project.display()
            )
        });
    };
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

/// Exports through the cache of pipeline documents (see [`crate::pipeline::cache`]), unless
/// `no_cache` or no cache directory can be found: `KEDRO_SFN_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/kedro-sfn`, else `~/.cache/kedro-sfn`.
pub fn export_cached(
    request: &ExportRequest,
    no_cache: bool,
    reporter: &dyn Reporter,
) -> Result<PipelineDoc, ExportError> {
    let exporting = || {
        reporter.progress(&format!(
            "exporting the Kedro pipeline of {} with {}",
            request.project.display(),
            request.python.display()
        ));
        export(request)
    };
    let Some(cache) = (!no_cache).then(cache_dir).flatten().map(ExportCache::new) else {
        return exporting();
    };
    let kedro_env = std::env::var("KEDRO_ENV").ok();
    let key = cache_key(request, kedro_env.as_deref());
    if let Some(doc) = cache.get(&key) {
        tracing::debug!(key, "cache hit");
        reporter.progress(
            "pipeline document from the cache: the project, its Python and the request are unchanged (--no-cache exports again)",
        );
        return Ok(doc);
    }
    let doc = exporting()?;
    cache.put(&key, &doc);
    Ok(doc)
}

/// kedro-sfn's cache directory: `KEDRO_SFN_CACHE_DIR`, else `$XDG_CACHE_HOME/kedro-sfn`, else
/// `~/.cache/kedro-sfn` (in the action's container, `/github/home/.cache/kedro-sfn`, which is
/// `${{ runner.temp }}/_github_home/.cache/kedro-sfn` on the runner).
pub fn cache_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("KEDRO_SFN_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("kedro-sfn")))
        .or_else(|| var("HOME").map(|d| d.join(".cache/kedro-sfn")))
}
