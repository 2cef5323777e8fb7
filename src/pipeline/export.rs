//! Runs the exporter (`python/kedro_sfn_export.py`, embedded in the binary) with the
//! project's own Python, so Kedro itself resolves the pipeline, the env's catalog, dataset
//! factories and namespaces.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::model::{DocError, PipelineDoc};
use crate::process::{Progress, Tool, ToolError};

/// The exporter's source, shipped inside the binary.
pub const EXPORT_PROGRAM: &str = include_str!("../../python/kedro_sfn_export.py");

/// What to export.
#[derive(Debug, Clone)]
pub struct ExportRequest {
    /// The Python that has the project's dependencies (and Kedro) installed.
    pub python: PathBuf,
    pub project: PathBuf,
    /// `None`: Kedro's default env.
    pub env: Option<String>,
    pub pipeline: String,
}

/// Why the export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the project directory {0} does not exist")]
    NoProject(String),
    #[error(
        "cannot run {python}; pass the Python that has the project's dependencies with --python (or KEDRO_SFN_PYTHON)"
    )]
    Spawn {
        python: String,
        source: std::io::Error,
    },
    #[error("exporting the pipeline of {project} failed (exit code {code}):\n{tail}\n{hint}")]
    Failed {
        project: String,
        code: String,
        tail: String,
        hint: &'static str,
    },
    #[error(transparent)]
    Output(#[from] DocError),
}

/// Runs the exporter and parses (and validates) what it prints.
pub fn export(request: &ExportRequest) -> Result<PipelineDoc, ExportError> {
    let stdout = run_exporter(request, &[])?;
    Ok(PipelineDoc::from_json(&stdout, "the exporter's output")?)
}

/// Each dataset's catalog entry as the project's config writes it (credentials by name
/// only); `None` for a name no entry or pattern matches.
pub type CatalogEntries = BTreeMap<String, Option<serde_json::Value>>;

/// The document and the catalog entries of its datasets (what `kedro-sfn init` copies).
pub fn export_with_catalog(
    request: &ExportRequest,
) -> Result<(PipelineDoc, CatalogEntries), ExportError> {
    let stdout = run_exporter(request, &["--with-catalog"])?;
    let origin = "the exporter's output";
    let mut value: serde_json::Value =
        serde_json::from_str(&stdout).map_err(|e| DocError::Parse {
            path: origin.into(),
            message: e.to_string(),
        })?;
    let catalog = value
        .as_object_mut()
        .and_then(|fields| fields.remove("catalog"))
        .unwrap_or_default();
    let catalog: CatalogEntries = serde_json::from_value(catalog).map_err(|e| DocError::Parse {
        path: origin.into(),
        message: format!("at catalog: {e}"),
    })?;
    let doc = PipelineDoc::from_json(&value.to_string(), origin)?;
    Ok((doc, catalog))
}

/// Runs the exporter with the request and `extra` arguments; what it printed.
fn run_exporter(request: &ExportRequest, extra: &[&str]) -> Result<String, ExportError> {
    if !request.project.is_dir() {
        return Err(ExportError::NoProject(
            request.project.display().to_string(),
        ));
    }
    let project = absolute(&request.project);
    let python = python_program(&request.python);
    let mut tool = Tool::new("the exporter", &python)
        .args(exporter_args(
            &project,
            &request.pipeline,
            request.env.as_deref(),
        ))
        .args(extra)
        .env("KEDRO_DISABLE_TELEMETRY", "true")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    tool.current_dir = Some(project.clone());
    tracing::debug!(
        python = %request.python.display(),
        project = %project.display(),
        "running the exporter"
    );
    match tool.run(Progress::Quiet) {
        Ok(output) => Ok(String::from_utf8_lossy(&output.stdout).into_owned()),
        Err(ToolError::Spawn { source, .. }) => Err(ExportError::Spawn {
            python: request.python.display().to_string(),
            source,
        }),
        Err(ToolError::Failed { code, tail, .. }) => {
            // The exporter's exit codes (see its docstring) say what to do.
            let hint = match code.as_str() {
                "4" => "hint: install kedro into that Python, or pass another with --python",
                "3" => "hint: the project must import in the Python given with --python: install its requirements there (pip install -e .), then retry",
                _ => "hint: run the project with `kedro run` in the same Python to see the full error",
            };
            Err(ExportError::Failed {
                project: project.display().to_string(),
                code,
                tail,
                hint,
            })
        }
    }
}

/// The exporter's arguments after the Python executable, wherever it runs (here or inside
/// the image).
pub fn exporter_args(project: &Path, pipeline: &str, env: Option<&str>) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec![
        "-c".into(),
        EXPORT_PROGRAM.into(),
        "--project".into(),
        project.into(),
        "--pipeline".into(),
        pipeline.into(),
    ];
    if let Some(env) = env {
        args.push("--env".into());
        args.push(env.into());
    }
    args
}

/// The Python to run, for a child that runs in another directory: a relative path such as
/// `venv/bin/python` means this directory, so it is made absolute; a bare name (`python3`)
/// is left to the PATH search. Not canonicalized: a venv's python is a symlink whose target
/// is not the venv.
pub fn python_program(python: &Path) -> PathBuf {
    if python.components().count() > 1 && python.is_relative() {
        std::path::absolute(python).unwrap_or_else(|_| python.to_path_buf())
    } else {
        python.to_path_buf()
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}
