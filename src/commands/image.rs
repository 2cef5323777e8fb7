//! `kedro-sfn image build` and `kedro-sfn image push`: the Lambda container image (see
//! [`crate::flow::image`]).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::config::{BuilderKind, Config, FlagOverrides};
use crate::flow::image::{
    build, push, read_record, test_image, write_context, BuildRequest, PushRequest,
};
use crate::flow::{block_on, Reporter, Terminal};
use crate::image::Builder;

use super::ProjectArgs;

#[derive(Debug, Clone, Subcommand)]
pub enum ImageCommand {
    /// Build the Lambda image: the project's wheel, conf/ and the handler on Lambda's Python base.
    Build(Box<BuildArgs>),
    /// Push the built image to ECR (creating the repository) and resolve its digest.
    Push(PushArgs),
    /// Check the built image as a task would load it: the project, its pipeline's modules,
    /// the env's catalog (stand-in credentials) and every dataset, reading no data.
    Test(Box<TestArgs>),
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Example:\n  kedro-sfn image test --env aws   # after kedro-sfn image build"
)]
pub struct TestArgs {
    #[command(flatten)]
    pub kedro: ProjectArgs,
    #[command(flatten)]
    pub settings: ImageSettingsArgs,
    /// The image to test (default: the one image.json in --out records).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// The directory `image build` wrote.
    #[arg(long, value_name = "DIR", default_value = "kedro-sfn-image")]
    pub out: PathBuf,
    /// The image builder that holds the image (default: image.json's, else as for build).
    #[arg(long, value_enum, env = "KEDRO_SFN_BUILDER")]
    pub builder: Option<BuilderKind>,
    /// The registered pipeline whose modules and datasets are checked (default: pipeline
    /// in kedro-sfn.yml, else __default__).
    #[arg(long)]
    pub pipeline: Option<String>,
}

#[derive(Debug, Clone, Args)]
#[command(after_help = "Example:\n  kedro-sfn image build --env aws && kedro-sfn image push")]
pub struct BuildArgs {
    #[command(flatten)]
    pub kedro: ProjectArgs,
    #[command(flatten)]
    pub settings: ImageSettingsArgs,
    /// The image builder (default: image.builder in kedro-sfn.yml, else docker when its engine
    /// runs, else buildah).
    #[arg(long, value_enum, env = "KEDRO_SFN_BUILDER")]
    pub builder: Option<BuilderKind>,
    /// The base image, tag included (default: public.ecr.aws/lambda/python:<image.python_version>).
    #[arg(long, value_name = "IMAGE")]
    pub base_image: Option<String>,
    /// Where the build context and image.json are written.
    #[arg(long, value_name = "DIR", default_value = "kedro-sfn-image")]
    pub out: PathBuf,
    /// The ECR repository (default: image.repository, else the state machine's name).
    #[arg(long, value_name = "NAME")]
    pub repository: Option<String>,
    /// Write the build context (Dockerfile, requirements.txt, wheel, conf) into --out and
    /// build nothing: to read what the image would hold. Needs no builder.
    #[arg(long)]
    pub context_only: bool,
    /// Do not run `image test` on the built image.
    #[arg(long)]
    pub no_test: bool,
}

#[derive(Debug, Clone, Args)]
pub struct PushArgs {
    /// The directory `image build` wrote.
    #[arg(long, value_name = "DIR", default_value = "kedro-sfn-image")]
    pub out: PathBuf,
    /// The AWS region of the ECR repository (default: from image.json's config).
    #[arg(long)]
    pub region: Option<String>,
    /// Push the layers to this registry (HOST:PORT) instead of the one ECR names, then record
    /// the image in ECR with PutImage: for emulators such as moto that have no registry.
    #[arg(long, value_name = "HOST:PORT", env = "KEDRO_SFN_REGISTRY")]
    pub registry: Option<String>,
}

/// The settings an image build uses, each beating `kedro-sfn.yml`.
#[derive(Debug, Clone, Args)]
pub struct ImageSettingsArgs {
    /// The config file (default: kedro-sfn.yml in the project directory, if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The Kedro env whose conf/<env> goes into the image beside conf/base.
    #[arg(long)]
    pub env: Option<String>,
    /// The state machine's name, which names the ECR repository unless --repository does.
    #[arg(long, value_name = "NAME")]
    pub state_machine_name: Option<String>,
    /// The AWS region recorded in image.json for `image push`.
    #[arg(long)]
    pub region: Option<String>,
}

impl ImageSettingsArgs {
    fn load(&self, project: &std::path::Path) -> anyhow::Result<Config> {
        let flags = FlagOverrides {
            env: self.env.clone(),
            state_machine_name: self.state_machine_name.clone(),
            region: self.region.clone(),
            ..FlagOverrides::default()
        };
        Ok(Config::load(self.config.as_deref(), Some(project), &flags)?)
    }
}

impl BuildArgs {
    fn request(&self) -> BuildRequest {
        BuildRequest {
            project: self.kedro.project.clone(),
            python: self.kedro.python.clone(),
            builder: self.builder,
            base_image: self.base_image.clone(),
            out: self.out.clone(),
            repository: self.repository.clone(),
            no_test: self.no_test,
        }
    }
}

impl PushArgs {
    fn request(&self) -> PushRequest {
        PushRequest {
            out: self.out.clone(),
            region: self.region.clone(),
            registry: self.registry.clone(),
        }
    }
}

pub fn run(command: &ImageCommand) -> anyhow::Result<()> {
    let reporter = Terminal;
    match command {
        ImageCommand::Build(args) if args.context_only => {
            let config = args.settings.load(&args.kedro.project)?;
            let (context, _) = write_context(&config, &args.request(), &reporter)?;
            reporter.result(&format!(
                "wrote the build context {} (Dockerfile {}); built nothing",
                context.dir.display(),
                context.dockerfile.display()
            ));
        }
        ImageCommand::Build(args) => {
            let config = args.settings.load(&args.kedro.project)?;
            let record = build(&config, &args.request(), &reporter)?;
            reporter.result(&format!(
                "built {} in {:.1} s",
                record.local, record.build_seconds
            ));
        }
        ImageCommand::Test(args) => {
            let mut config = args.settings.load(&args.kedro.project)?;
            if let Some(pipeline) = &args.pipeline {
                config.file.pipeline = Some(pipeline.clone());
            }
            let recorded = match &args.image {
                Some(_) => None,
                None => Some(read_record(&args.out)?),
            };
            let image = args
                .image
                .clone()
                .or_else(|| recorded.as_ref().map(|r| r.local.clone()));
            let builder = Builder::detect(
                args.builder
                    .or(recorded.as_ref().map(|r| r.builder))
                    .or(config.file.image.builder),
            )?;
            let image = image.unwrap_or_default();
            test_image(&builder, &image, &config, &reporter)?;
            reporter.result(&format!(
                "{image}: every task can load its project, pipeline and datasets"
            ));
        }
        ImageCommand::Push(args) => {
            let (record, pushed) = block_on(push(&args.request(), &reporter))?;
            let uri = record.uri.unwrap_or_default();
            reporter.result(&if pushed {
                format!("pushed {uri}")
            } else {
                format!(
                    "ECR has {}:{} already: {uri}",
                    record.repository, record.tag
                )
            });
        }
    }
    Ok(())
}
