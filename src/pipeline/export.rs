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
    #[error("the Kedro env `{env}` does not exist: {conf} has no `{env}` directory; its envs are {envs}; pass one of those with --env (or `env:` in kedro-sfn.yml)")]
    UnknownEnv {
        env: String,
        conf: String,
        envs: String,
    },
    #[error(transparent)]
    Output(#[from] DocError),
}

/// The env named where Kedro would look for it (`conf/<env>`), before Kedro runs: Kedro's
/// own error is a long traceback that ends in advice to reinstall the project.
fn check_env(project: &Path, env: Option<&str>) -> Result<(), ExportError> {
    let conf = project.join("conf");
    let Some(env) = env else { return Ok(()) };
    // A project whose config lives elsewhere (CONF_SOURCE) is Kedro's to check.
    if !conf.is_dir() || (!env.contains(['/', '\\']) && conf.join(env).is_dir()) {
        return Ok(());
    }
    let mut envs: Vec<String> = std::fs::read_dir(&conf)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .map(|e| format!("`{}`", e.file_name().to_string_lossy()))
                .collect()
        })
        .unwrap_or_default();
    envs.sort();
    Err(ExportError::UnknownEnv {
        env: env.escape_debug().to_string(),
        conf: conf.display().to_string(),
        envs: if envs.is_empty() {
            "none".into()
        } else {
            envs.join(", ")
        },
    })
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
    check_env(&project, request.env.as_deref())?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_env_that_does_not_exist_is_named_with_the_ones_that_do() {
        let project = tempfile::tempdir().expect("tempdir");
        for env in ["base", "local", "aws"] {
            std::fs::create_dir_all(project.path().join("conf").join(env)).expect("conf");
        }
        check_env(project.path(), Some("aws")).expect("aws exists");
        check_env(project.path(), None).expect("Kedro's default");
        let message = check_env(project.path(), Some("nosuch"))
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("the Kedro env `nosuch` does not exist")
                && message.contains("`aws`, `base`, `local`")
                && message.contains("--env"),
            "{message}"
        );
        assert!(check_env(project.path(), Some("../aws")).is_err());
        // Config kept elsewhere (CONF_SOURCE): Kedro decides.
        let elsewhere = tempfile::tempdir().expect("tempdir");
        check_env(elsewhere.path(), Some("nosuch")).expect("no conf/ here");
    }
}
