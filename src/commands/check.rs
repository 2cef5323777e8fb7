//! `kedro-sfn check`: refuse, with every offender named, what would break on Lambda.

use clap::Args;

use crate::plan::{self, PlanError};

use super::{load_pipeline, SettingsArgs, SourceArgs};

#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

/// Prints the findings; fails when there is an error among them. Runs the whole planner, so
/// that limits only a rendered definition shows (its size) are checked too.
pub fn run(args: &CheckArgs) -> anyhow::Result<()> {
    let config = args.settings.load(&args.source.project)?;
    let doc = load_pipeline(&args.source, &config)?;
    let planned = match plan::plan(&doc, &config) {
        Ok(planned) => planned,
        Err(PlanError::Check(findings)) => {
            for problem in &findings.problems {
                eprintln!("{problem}");
            }
            return Err(super::plan::refusal(&findings));
        }
        Err(other) => return Err(other.into()),
    };
    for problem in &planned.findings.problems {
        eprintln!("{problem}");
    }
    println!(
        "check passed: pipeline {} has {} nodes in {} tasks (grouped by {}), {} warning(s)",
        doc.pipeline,
        doc.nodes.len(),
        planned.tasks.len(),
        config.group_by(),
        planned.findings.warnings().count()
    );
    Ok(())
}
