//! `kedro-sfn plan`: write the state machine definition, plan.json and summary.md.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;

use crate::pipeline::check::Findings;
use crate::plan::document::plan_document;
use crate::plan::{self, PlanError};
use crate::report::summary::{self, Baseline};

use super::{load_pipeline, write_atomically, SettingsArgs, SourceArgs};

/// The files `plan` writes into its output directory.
pub const DEFINITION_FILE: &str = "state-machine.asl.json";
pub const PLAN_FILE: &str = "plan.json";
pub const SUMMARY_FILE: &str = "summary.md";

#[derive(Debug, Clone, Args)]
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
    pub target: super::deploy::TargetArgs,
}

pub fn run(args: &PlanArgs) -> anyhow::Result<()> {
    let config = args.settings.load(&args.source.project)?;
    let doc = load_pipeline(&args.source, &config)?;
    let plan = match plan::plan(&doc, &config) {
        Ok(plan) => plan,
        Err(PlanError::Check(findings)) => {
            for problem in &findings.problems {
                eprintln!("{problem}");
            }
            // The refusal is a result too: people (and the PR comment) read why.
            for stale in [DEFINITION_FILE, PLAN_FILE] {
                let _ = std::fs::remove_file(args.out.join(stale));
            }
            let text = summary::render_refusal(&doc.project.name, &doc.pipeline, &findings);
            write_atomically(&args.out.join(SUMMARY_FILE), text.as_bytes())?;
            return Err(refusal(&findings));
        }
        Err(other) => return Err(other.into()),
    };
    for warning in plan.findings.warnings() {
        eprintln!("{warning}");
    }
    if !args.offline {
        return run_live(args, config, plan);
    }

    let reason = "--offline".to_string();
    let baseline = Baseline::Empty {
        reason: reason.clone(),
    };

    let mut definition = serde_json::to_string_pretty(&plan.definition)?;
    definition.push('\n');
    let mut plan_json = serde_json::to_string_pretty(&plan_document(
        &plan,
        &format!("empty deployment ({reason})"),
    ))?;
    plan_json.push('\n');
    let summary_md = summary::render(&plan, &baseline);

    write_atomically(&args.out.join(DEFINITION_FILE), definition.as_bytes())?;
    write_atomically(&args.out.join(PLAN_FILE), plan_json.as_bytes())?;
    write_atomically(&args.out.join(SUMMARY_FILE), summary_md.as_bytes())?;

    let schedule = &plan.schedule;
    println!(
        "plan {}: {} Kedro nodes in {} tasks, {} machine",
        plan.state_machine.name,
        plan.node_count,
        plan.tasks.len(),
        schedule.shape
    );
    println!(
        "  expected {:.1} s (critical path {:.1} s, layered machine {:.1} s)",
        schedule.expected_makespan_s, schedule.critical_path_s, schedule.layered_makespan_s
    );
    println!("  compared against an empty deployment ({reason})");
    println!(
        "  wrote {}/{{{DEFINITION_FILE}, {PLAN_FILE}, {SUMMARY_FILE}}}",
        args.out.display()
    );
    Ok(())
}

/// The error a refused pipeline ends with; the problems themselves were printed above it.
pub fn refusal(findings: &Findings) -> anyhow::Error {
    anyhow!(
        "the pipeline cannot run on Step Functions as configured: {} error(s), listed above",
        findings.errors().count()
    )
}

/// Plans against what is deployed: reads AWS, changes nothing.
fn run_live(
    args: &PlanArgs,
    config: crate::config::Config,
    plan: crate::plan::Plan,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let prepared = runtime
        .block_on(super::deploy::prepare_plan(config, plan, &args.target))
        .context("cannot plan against the live deployment (pass --offline to plan without AWS)")?;
    let calls = prepared.clients.calls.count();
    super::deploy::write_plan_outputs(&args.out, &prepared, &calls)?;
    println!(
        "plan {}: {}",
        prepared.plan.state_machine.name,
        crate::report::diff::headline(&prepared.changes)
    );
    if prepared.target.image_uri.is_none() {
        println!("  no image given (--image-uri or image.json): function code was not compared");
    }
    if !prepared.changes.clashes.is_empty() {
        println!(
            "  refused: {} function(s) with planned names are not owned by this state machine",
            prepared.changes.clashes.len()
        );
    }
    println!(
        "  wrote {}/{{{DEFINITION_FILE}, {PLAN_FILE}, {SUMMARY_FILE}}} ({} AWS reads, {} writes)",
        args.out.display(),
        calls.reads,
        calls.writes
    );
    Ok(())
}
