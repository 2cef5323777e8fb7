//! `kedro-sfn plan`: write the state machine definition, plan.json and summary.md, compared
//! with what is deployed (or, `--offline`, with nothing).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use crate::config::Config;
use crate::flow::outputs::{write_plan, CHILDREN_DIR, DEFINITION_FILE, PLAN_FILE, SUMMARY_FILE};
use crate::flow::prepare::prepare;
use crate::flow::session::{plan_pipeline, Durations, Planned};
use crate::flow::{block_on, Reporter, Terminal};
use crate::report::diff::headline;
use crate::report::summary::Baseline;
use crate::report::{operations, run_cost};

use super::{SettingsArgs, SourceArgs, TargetArgs};

#[derive(Debug, Clone, Args)]
#[command(after_help = "Example:\n  kedro-sfn plan --env aws --out kedro-sfn-plan")]
pub struct PlanArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// The directory the plan is written to.
    #[arg(long, value_name = "DIR", default_value = "kedro-sfn-plan")]
    pub out: PathBuf,
    /// Do not read the live deployment; compare against an empty one.
    #[arg(long)]
    pub offline: bool,
    #[command(flatten)]
    pub target: TargetArgs,
}

pub fn run(args: &PlanArgs) -> anyhow::Result<()> {
    let reporter = Terminal;
    crate::flow::outputs::clear_stale(&args.out)?;
    let config = args.settings.load(&args.source.kedro.project)?;
    let durations = if args.offline {
        Durations::Offline
    } else {
        Durations::Past(args.target.history)
    };
    block_on(plan_and_compare(args, config, durations, &reporter))
}

async fn plan_and_compare(
    args: &PlanArgs,
    config: Config,
    durations: Durations,
    reporter: &Terminal,
) -> anyhow::Result<()> {
    let source = args.source.source();
    let Planned { plan, .. } =
        plan_pipeline(&source, &config, durations, Some(&args.out), reporter).await?;
    for grant in config.credential_grants() {
        reporter.result(&format!("  credentials: the tasks' role needs {grant}"));
    }
    let children = match plan.children.len() {
        0 => String::new(),
        n => format!(", {CHILDREN_DIR}/ ({n} child state machines)"),
    };
    let written = format!(
        "  wrote {}/{{{DEFINITION_FILE}, {PLAN_FILE}, {SUMMARY_FILE}}}{children}",
        args.out.display()
    );
    if !args.offline {
        let prepared = prepare(
            config,
            plan,
            &args.target.request(&args.source.kedro.project),
            reporter,
        )
        .await
        .context("cannot plan against the live deployment (pass --offline to plan without AWS)")?;
        let calls = prepared.clients.calls.count();
        prepared.write_outputs(&args.out, &calls)?;
        reporter.result(&format!(
            "plan {}: {}",
            prepared.plan.state_machine.name,
            headline(&prepared.changes)
        ));
        reporter.result(&format!(
            "  {}",
            run_cost::headline(&prepared.plan, prepared.changes.deployed_run.as_ref())
        ));
        for line in operations::terminal_lines(&prepared.plan, chrono::Utc::now()) {
            reporter.result(&line);
        }
        if prepared.target.image_uri.is_none() {
            reporter.result(
                "  no image given (--image-uri or image.json): code compared by the checkout's source digest",
            );
        }
        if !prepared.changes.clashes.is_empty() {
            reporter.result(&format!(
                "  refused: {} resource(s) with planned names are not owned by this state machine",
                prepared.changes.clashes.len()
            ));
        }
        reporter.result(&format!(
            "{written} ({} AWS reads, {} writes)",
            calls.reads, calls.writes
        ));
        return Ok(());
    }

    let reason = "--offline".to_string();
    let baseline = Baseline::Empty {
        reason: reason.clone(),
    };
    write_plan(&args.out, &plan, &baseline, None)?;
    let schedule = &plan.timing.schedule;
    let split = match plan.children.len() {
        0 => String::new(),
        n => format!(", split into a root and {n} child state machines"),
    };
    reporter.result(&format!(
        "plan {}: {} Kedro nodes in {} tasks, {} machine{split}",
        plan.state_machine.name,
        plan.node_count,
        plan.tasks.len(),
        schedule.shape
    ));
    reporter.result(&format!(
        "  {} (critical path {:.1} s, layered machine {:.1} s)",
        run_cost::headline(&plan, None),
        schedule.critical_path_s,
        schedule.layered_makespan_s
    ));
    for line in operations::terminal_lines(&plan, chrono::Utc::now()) {
        reporter.result(&line);
    }
    reporter.result(&format!(
        "  compared against an empty deployment ({reason})"
    ));
    reporter.result(&written);
    Ok(())
}
