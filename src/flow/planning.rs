//! Plan, or refuse: the one way every front end turns a pipeline into a plan. The problems
//! are reported one by one, and a refusal leaves its `summary.md` where the plan would be.

use std::path::Path;

use crate::config::Config;
use crate::pipeline::check::Findings;
use crate::pipeline::PipelineDoc;
use crate::plan::estimate::durations::History;
use crate::plan::{self, Plan, PlanError};

use super::outputs::write_refusal;
use super::Reporter;

/// The checks refused the pipeline; the problems were reported before this error.
#[derive(Debug, thiserror::Error)]
#[error(
    "the pipeline cannot run on Step Functions as configured: {} error(s), listed above",
    .findings.errors().count()
)]
pub struct Refused {
    /// The state machine the plan was for (its comment's marker names it).
    pub machine: String,
    pub findings: Findings,
    /// The refusal's `summary.md` text.
    pub summary: String,
}

/// Plans the pipeline with the durations of past runs in `history`, reporting the checks'
/// warnings; or reports every problem and fails with [`Refused`] (writing the refusal into
/// `out`, when the caller writes plan files).
pub fn plan_or_refuse(
    doc: &PipelineDoc,
    config: &Config,
    history: History,
    out: Option<&Path>,
    reporter: &dyn Reporter,
) -> anyhow::Result<Plan> {
    match plan::plan_with_history(doc, config, history) {
        Ok(plan) => {
            for warning in plan.findings.warnings() {
                reporter.finding(warning);
            }
            Ok(plan)
        }
        Err(PlanError::Check(findings)) => {
            for problem in &findings.problems {
                reporter.finding(problem);
            }
            let summary = match out {
                Some(out) => write_refusal(out, &doc.project.name, &doc.pipeline, &findings)?,
                None => crate::report::summary::render_refusal(
                    &doc.project.name,
                    &doc.pipeline,
                    &findings,
                ),
            };
            Err(Refused {
                machine: plan::machine_name(doc, config),
                findings,
                summary,
            }
            .into())
        }
        Err(other) => Err(other.into()),
    }
}
