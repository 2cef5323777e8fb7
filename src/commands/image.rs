//! `kedro-sfn image build` and `kedro-sfn image push`: the Lambda container image (see
//! [`crate::flow::image`]).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::config::{BuilderKind, Config, FlagOverrides};
use crate::flow::image::{build, push, BuildRequest, PushRequest};
use crate::flow::{block_on, Reporter, Terminal};

use super::ProjectArgs;

#[derive(Debug, Clone, Subcommand)]
pub enum ImageCommand {
    /// Build the Lambda image: the project's wheel, conf/ and the handler on Lambda's Python base.
    Build(Box<BuildArgs>),
    /// Push the built image to ECR (creating the repository) and resolve its digest.
    Push(PushArgs),
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
        ImageCommand::Build(args) => {
            let config = args.settings.load(&args.kedro.project)?;
            let record = build(&config, &args.request(), &reporter)?;
            reporter.result(&format!(
                "built {} in {:.1} s",
                record.local, record.build_seconds
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
