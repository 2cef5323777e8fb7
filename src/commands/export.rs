//! `kedro-sfn export`: print (or write) the pipeline document of a Kedro project.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::{Config, FlagOverrides};
use crate::pipeline::export::{export, ExportRequest};

use super::write_atomically;

#[derive(Debug, Clone, Args)]
pub struct ExportArgs {
    /// The Kedro project's root directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub project: PathBuf,
    /// The Kedro env whose catalog is resolved (default: from kedro-sfn.yml, else Kedro's).
    #[arg(long)]
    pub env: Option<String>,
    /// The registered pipeline (default: from kedro-sfn.yml, else __default__).
    #[arg(long, value_name = "NAME")]
    pub pipeline: Option<String>,
    /// The Python that has Kedro and the project's dependencies.
    #[arg(
        long,
        value_name = "PATH",
        env = "KEDRO_SFN_PYTHON",
        default_value = "python3"
    )]
    pub python: PathBuf,
    /// The config file (default: kedro-sfn.yml in the project directory, if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Write the document to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let config = Config::load(
        args.config.as_deref(),
        Some(&args.project),
        &FlagOverrides {
            env: args.env.clone(),
            pipeline: args.pipeline.clone(),
            ..Default::default()
        },
    )?;
    let request = ExportRequest {
        python: args.python.clone(),
        project: args.project.clone(),
        env: config.file.env.clone(),
        pipeline: config.pipeline().to_string(),
    };
    let doc = export(&request).with_context(|| {
        format!(
            "cannot export the Kedro project at {}",
            args.project.display()
        )
    })?;
    let text = doc.to_json_pretty();
    match &args.out {
        Some(path) => {
            write_atomically(path, text.as_bytes())?;
            eprintln!(
                "wrote {} ({} nodes, {} datasets)",
                path.display(),
                doc.nodes.len(),
                doc.datasets.len()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}
