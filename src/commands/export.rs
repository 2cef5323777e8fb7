//! `kedro-sfn export`: print (or write) the pipeline document of a Kedro project.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::{Config, FlagOverrides};
use crate::flow::outputs::write_atomically;
use crate::flow::source::export_cached;
use crate::flow::Terminal;
use crate::pipeline::export::{exporter_args, ExportRequest};

use super::ProjectArgs;

#[derive(Debug, Clone, Args)]
#[command(after_help = "Example:\n  kedro-sfn export --env aws -o pipeline.json")]
pub struct ExportArgs {
    #[command(flatten)]
    pub kedro: ProjectArgs,
    /// The Kedro env whose catalog is resolved (default: from kedro-sfn.yml, else Kedro's).
    #[arg(long)]
    pub env: Option<String>,
    /// The registered pipeline (default: from kedro-sfn.yml, else __default__).
    #[arg(long, value_name = "NAME")]
    pub pipeline: Option<String>,
    /// The config file (default: kedro-sfn.yml in the project directory, if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Export again even when the cached document of an unchanged project could be used.
    #[arg(long)]
    pub no_cache: bool,
    /// Write the document to FILE instead of standard output.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Run the exporter inside this built image (e.g. from `kedro-sfn image build`), so the
    /// plan comes from exactly the code that will run on Lambda.
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// The builder that holds --image (default: docker when its engine runs, else buildah).
    #[arg(long, value_enum, env = "KEDRO_SFN_BUILDER", requires = "image")]
    pub builder: Option<crate::config::BuilderKind>,
}

pub fn run(args: &ExportArgs) -> anyhow::Result<()> {
    let config = Config::load(
        args.config.as_deref(),
        Some(&args.kedro.project),
        &FlagOverrides {
            env: args.env.clone(),
            pipeline: args.pipeline.clone(),
            ..Default::default()
        },
    )?;
    let request = ExportRequest {
        python: args.kedro.python.clone(),
        project: args.kedro.project.clone(),
        env: config.file.env.clone(),
        pipeline: config.pipeline().to_string(),
    };
    let doc = match &args.image {
        None => export_cached(&request, args.no_cache, &Terminal).with_context(|| {
            format!(
                "cannot export the Kedro project at {}",
                args.kedro.project.display()
            )
        })?,
        Some(image) => export_in_image(image, args.builder, &request)?,
    };
    let text = doc.to_json_pretty();
    match &args.out {
        Some(path) => {
            write_atomically(path, text.as_bytes())?;
            crate::console::err(&format!(
                "wrote {} ({} nodes, {} datasets)",
                path.display(),
                doc.nodes.len(),
                doc.datasets.len()
            ));
        }
        None => crate::console::out_raw(&text),
    }
    Ok(())
}

/// Runs the embedded exporter with the image's Python on the project the image carries.
fn export_in_image(
    image: &str,
    builder: Option<crate::config::BuilderKind>,
    request: &ExportRequest,
) -> anyhow::Result<crate::pipeline::PipelineDoc> {
    let builder = crate::image::Builder::detect(builder)?;
    let project = std::path::Path::new(crate::image::PROJECT_DIR_IN_IMAGE);
    let args = exporter_args(project, &request.pipeline, request.env.as_deref());
    let env = crate::image::python_env();
    tracing::info!(image, builder = %builder.kind, "exporting the pipeline inside the image");
    let output = builder
        .run_python(image, &args, &env)
        .with_context(|| format!("cannot export the pipeline inside the image {image}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(crate::pipeline::PipelineDoc::from_json(
        &text,
        &format!("the exporter's output in {image}"),
    )?)
}
