//! `kedro-sfn init`: the AWS env of a project in one command (see [`crate::flow::init`]).

use std::path::Path;

use clap::Args;

use crate::flow::init::{init, FileOutcome, InitReport, InitRequest};
use crate::flow::{Reporter, Terminal};

use super::ProjectArgs;

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Example:\n  kedro-sfn init --bucket s3://my-team-data/spaceflights --region eu-west-1"
)]
pub struct InitArgs {
    #[command(flatten)]
    pub kedro: ProjectArgs,
    /// Where the data goes: every moved dataset keeps its relative path under this prefix.
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub bucket: String,
    /// The Kedro env to write (conf/<env>).
    #[arg(long, default_value = "aws")]
    pub env: String,
    /// The env whose catalog is copied (Kedro's base env: conf/base alone).
    #[arg(long, value_name = "ENV", default_value = "base")]
    pub from_env: String,
    /// The registered pipeline whose datasets are moved.
    #[arg(long, value_name = "NAME", default_value = crate::config::defaults::PIPELINE)]
    pub pipeline: String,
    /// The AWS region written into kedro-sfn.yml and the workflow (default: AWS_REGION).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Replace files that exist.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: &InitArgs) -> anyhow::Result<()> {
    let report = init(&InitRequest {
        project: args.kedro.project.clone(),
        python: args.kedro.python.clone(),
        bucket: args.bucket.clone(),
        env: args.env.clone(),
        from_env: args.from_env.clone(),
        pipeline: args.pipeline.clone(),
        region: args.region.clone(),
        force: args.force,
    })?;
    print_report(&args.kedro.project, &report, &Terminal);
    Ok(())
}

fn print_report(project: &Path, report: &InitReport, reporter: &dyn Reporter) {
    for file in &report.files {
        reporter.result(&match file.outcome {
            FileOutcome::Kept => format!("kept   {} (it exists; --force replaces it)", file.shown),
            FileOutcome::Wrote => format!("wrote  {}: {}", file.shown, file.what),
            FileOutcome::Replaced => format!("replaced {}: {}", file.shown, file.what),
        });
    }
    for left in &report.env.left {
        reporter.result(&format!(
            "left   `{}` as it is: {}",
            left.dataset, left.reason
        ));
    }
    if !report.env.uploads.is_empty() {
        reporter.result("\nUpload the inputs the pipeline reads to their new places (once):");
        for upload in &report.env.uploads {
            let missing = if project.join(&upload.local).exists() {
                ""
            } else {
                "    # not found here"
            };
            let version = match &upload.version {
                Some(version) => {
                    format!("    # versioned: under version {version}, where Kedro loads it")
                }
                None => String::new(),
            };
            reporter.result(&format!(
                "  aws s3 cp {} {}{missing}{version}",
                upload.local, upload.remote
            ));
        }
    }
    reporter.result("\nLeft for you to edit:");
    reporter.result(
        "  - kedro-sfn.yml: the IAM roles (lambda.role_arn, state_machine.role_arn; kedro-sfn's docs/deploying.md#permissions), and `credentials:` for any credentials key the catalog names",
    );
    if report
        .files
        .iter()
        .any(|f| f.shown.contains(".github/workflows"))
    {
        reporter.result(&format!(
            "  - .github/workflows/kedro-sfn.yml: its `uses: {}` line names where you get kedro-sfn's action; point it at that repository and tag",
            crate::flow::init::ACTION_USES
        ));
    }
    reporter.result(&format!(
        "\nThen: kedro-sfn check --env {env}, kedro-sfn plan, kedro-sfn deploy",
        env = report.env_name
    ));
}
