//! The subcommands: thin shells that parse flags into a request, call a flow
//! ([`crate::flow`]) and print its result. No command imports another.

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

use clap::Args;

use crate::config::{Config, FlagOverrides, GroupBy};
use crate::flow::prepare::TargetRequest;
use crate::flow::source::Source;

/// The Kedro project and the Python that runs it.
#[derive(Debug, Clone, Args)]
pub struct ProjectArgs {
    /// The Kedro project's root directory.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub project: PathBuf,
    /// The Python that has Kedro and the project's dependencies.
    #[arg(
        long,
        value_name = "PATH",
        env = "KEDRO_SFN_PYTHON",
        default_value = "python3"
    )]
    pub python: PathBuf,
}

/// Where the pipeline comes from: a Kedro project (run through the exporter) or a pipeline
/// document written earlier by `kedro-sfn export`.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    #[command(flatten)]
    pub kedro: ProjectArgs,
    /// Read this pipeline document (from `kedro-sfn export`) instead of exporting the project.
    #[arg(long, value_name = "FILE")]
    pub pipeline_json: Option<PathBuf>,
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
    /// The Kedro env whose catalog the tasks use, conf/<env> (default: env in kedro-sfn.yml,
    /// else Kedro's default).
    #[arg(long)]
    pub env: Option<String>,
    /// The registered pipeline (default: pipeline in kedro-sfn.yml, else __default__).
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

/// The settings of commands that act on what is deployed (execute, rollback): which state
/// machine, where.
#[derive(Debug, Clone, Default, Args)]
pub struct DeployedArgs {
    /// The config file that names the state machine (default: kedro-sfn.yml in --project).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The directory whose kedro-sfn.yml names the state machine.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub project: PathBuf,
    /// The deployed state machine's name (default: state_machine.name in kedro-sfn.yml).
    #[arg(long, value_name = "NAME")]
    pub state_machine_name: Option<String>,
    /// The AWS region (default: region in kedro-sfn.yml, else AWS_REGION).
    #[arg(long)]
    pub region: Option<String>,
}

impl DeployedArgs {
    /// Loads the config file and applies the flags.
    pub fn load(&self) -> anyhow::Result<Config> {
        let flags = FlagOverrides {
            state_machine_name: self.state_machine_name.clone(),
            region: self.region.clone(),
            ..FlagOverrides::default()
        };
        Ok(Config::load(
            self.config.as_deref(),
            Some(&self.project),
            &flags,
        )?)
    }
}

/// What a deploy targets besides the plan (also what a live plan compares).
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// Deploy this image (REGISTRY/REPO@sha256:…) instead of the one `image push` recorded.
    #[arg(long, value_name = "URI")]
    pub image_uri: Option<String>,
    /// Where `image build` / `image push` wrote image.json.
    #[arg(long, value_name = "DIR", default_value = "kedro-sfn-image")]
    pub image_dir: PathBuf,
    /// The functions' execution role (default: lambda.role_arn).
    #[arg(long, value_name = "ARN")]
    pub lambda_role_arn: Option<String>,
    /// The role Step Functions assumes (default: state_machine.role_arn).
    #[arg(long, value_name = "ARN")]
    pub state_machine_role_arn: Option<String>,
    /// Functions created or updated at once (default: deploy.concurrency, else 8).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// How many past successful executions give the tasks' expected durations, where
    /// duration_s does not (0: none).
    #[arg(long, value_name = "N", default_value_t = crate::config::defaults::HISTORY_EXECUTIONS)]
    pub history: usize,
    /// Do not invoke new function versions with a probe before the state machine and its
    /// alias change (the probe imports the project and builds the catalog; no data).
    #[arg(long)]
    pub no_probe: bool,
}

impl TargetArgs {
    /// The flows' plain request; `project` is the checkout the image is built from.
    pub fn request(&self, project: &Path) -> TargetRequest {
        TargetRequest {
            project: Some(project.to_path_buf()),
            image_uri: self.image_uri.clone(),
            image_dir: self.image_dir.clone(),
            lambda_role_arn: self.lambda_role_arn.clone(),
            state_machine_role_arn: self.state_machine_role_arn.clone(),
            concurrency: self.concurrency,
            no_probe: self.no_probe,
        }
    }
}

impl SourceArgs {
    /// The flows' plain request.
    pub fn source(&self) -> Source {
        Source {
            project: self.kedro.project.clone(),
            pipeline_json: self.pipeline_json.clone(),
            python: self.kedro.python.clone(),
            no_cache: self.no_cache,
        }
    }
}
