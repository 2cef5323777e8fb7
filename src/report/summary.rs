//! `summary.md`: the plan for people. The same Markdown later becomes the pull-request
//! comment and the job summary.

use std::fmt::Write;

use crate::pipeline::check::{Findings, Problem, Severity};
use crate::plan::estimate::Estimate;
use crate::plan::Plan;

use super::escape::{code, prose, text};
use super::mermaid::{flowchart, summary_flowchart, task_labels, MAX_TASKS_DRAWN};

/// What the plan was compared against, said at the top so nobody mistakes an offline plan
/// for a diff against production.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Baseline {
    /// Nothing was read from AWS; the reason is given.
    Empty { reason: String },
    /// What is deployed in the region was read.
    Live {
        region: String,
        state_machine_arn: Option<String>,
    },
}

impl Baseline {
    /// One line for plan.json's `compared_against`.
    pub fn describe(&self) -> String {
        match self {
            Baseline::Empty { reason } => format!("empty deployment ({reason})"),
            Baseline::Live {
                region,
                state_machine_arn: Some(arn),
            } => format!("the deployment in {region}: {arn}"),
            Baseline::Live {
                region,
                state_machine_arn: None,
            } => format!("the deployment in {region}: no state machine yet"),
        }
    }
}

/// Renders the summary of a plan; `deployed_run` is the deployed machine's expected run,
/// when one is deployed.
pub fn render(plan: &Plan, baseline: &Baseline, deployed_run: Option<&Estimate>) -> String {
    let mut out = header(plan, baseline);
    out.push_str(&body(plan, deployed_run));
    out
}

/// The title, the pipeline and what the plan was compared with: what is said before the
/// verdict and the changes (see `flow::outputs`).
pub fn header(plan: &Plan, baseline: &Baseline) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "## kedro-sfn plan: {}\n",
        code(&plan.state_machine.name)
    );
    let env = plan
        .env
        .as_deref()
        .map(|e| format!(" (env {})", code(e)))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "Pipeline {} of **{}**{env}: {} Kedro nodes in {} tasks (grouped by {}).\n",
        code(&plan.pipeline),
        text(&plan.project),
        plan.node_count,
        plan.tasks.len(),
        plan.group_by
    );
    match baseline {
        Baseline::Empty { reason } => {
            let _ = writeln!(
                out,
                "Compared against: an empty deployment ({}). Every function and the state machine would be created.\n",
                text(reason)
            );
        }
        Baseline::Live { .. } => {
            let _ = writeln!(out, "Compared against: {}.\n", text(&baseline.describe()));
        }
    }
    out
}

/// What the plan is: run time and cost, the picture, the tasks.
pub fn body(plan: &Plan, deployed_run: Option<&Estimate>) -> String {
    let mut out = String::new();

    let schedule = &plan.timing.schedule;
    // A heading of its own: in the job summary it follows the changes and the schedules.
    out.push_str("### Shape\n\n| One run, by machine | Expected time |\n|---|---|\n");
    let _ = writeln!(
        out,
        "| This state machine ({}) | {} |",
        schedule.shape,
        seconds(schedule.expected_makespan_s)
    );
    let _ = writeln!(
        out,
        "| Critical path (no machine is faster) | {} |",
        seconds(schedule.critical_path_s)
    );
    let _ = writeln!(
        out,
        "| Layered machine of Kedro's guide | {} |",
        seconds(schedule.layered_makespan_s)
    );
    let _ = writeln!(
        out,
        "\nState machine timeout: {} s ({}).\n",
        plan.state_machine.timeout_s, plan.state_machine.timeout_from
    );
    out.push_str(&super::run_cost::render(plan, deployed_run));

    out.push_str("### State machine\n\n");
    out.push_str(&split_line(plan));
    if plan.tasks.len() <= MAX_TASKS_DRAWN {
        let labels = task_labels(plan);
        let _ = writeln!(out, "```mermaid\n{}```\n", flowchart(&plan.tree, &labels));
    } else {
        let (chart, _) = summary_flowchart(plan, &[]);
        let _ = writeln!(
            out,
            "_{} tasks, drawn one box per group; every task is in state-machine.asl.json{}._\n\n```mermaid\n{chart}```\n",
            plan.tasks.len(),
            if plan.children.is_empty() { "" } else { " and state-machines/" }
        );
    }

    out.push_str("### Tasks\n\n");
    if plan.tasks.len() > super::diff::ROWS_SHOWN {
        let _ = write!(
            out,
            "<details><summary>The {} tasks</summary>\n\n{}\n</details>\n\n",
            plan.tasks.len(),
            tasks_table(plan)
        );
    } else {
        out.push_str(&tasks_table(plan));
        out.push('\n');
    }
    out.push_str(&render_findings(&plan.findings));
    out
}

/// One row per task: where it runs and its size. With ECS tasks in the plan, a "Runs on"
/// column says which service (Lambda or ECS Fargate, with its CPU) runs each.
fn tasks_table(plan: &Plan) -> String {
    let functions: std::collections::BTreeMap<&str, &crate::plan::functions::FunctionSpec> = plan
        .functions
        .iter()
        .map(|f| (f.state.as_str(), f))
        .collect();
    let ecs_tasks: std::collections::BTreeMap<&str, &crate::plan::ecs::EcsTaskSpec> = plan
        .ecs_tasks
        .iter()
        .map(|t| (t.state.as_str(), t))
        .collect();
    let mut out = String::new();
    if ecs_tasks.is_empty() {
        out.push_str("| State | Function | Nodes | Memory | Timeout | Disk |\n");
    } else {
        out.push_str("| State | Runs on | Nodes | Memory | Timeout | Disk |\n");
    }
    out.push_str("|---|---|---|---:|---:|---:|\n");
    for task in plan.tasks.iter().take(TASK_ROWS) {
        let nodes: Vec<String> = task.nodes.iter().map(|n| code(n)).collect();
        let nodes = nodes.join("<br>");
        let state = code(&task.state);
        if let Some(function) = functions.get(task.state.as_str()) {
            let runs_on = match ecs_tasks.is_empty() {
                true => code(&function.name),
                false => format!("Lambda {}", code(&function.name)),
            };
            let _ = writeln!(
                out,
                "| {state} | {runs_on} | {nodes} | {} MB | {} s | {} MB |",
                function.memory_mb, function.timeout_s, function.ephemeral_storage_mb
            );
        } else if let Some(ecs) = ecs_tasks.get(task.state.as_str()) {
            let _ = writeln!(
                out,
                "| {state} | ECS Fargate {}, {} vCPU | {nodes} | {} MB | {} s | {} GiB |",
                code(&ecs.family),
                f64::from(ecs.cpu) / 1024.0,
                ecs.memory_mb,
                ecs.timeout_s,
                ecs.ephemeral_storage_gb.unwrap_or(20)
            );
        }
    }
    if let Some(more) = plan.tasks.len().checked_sub(TASK_ROWS).filter(|n| *n > 0) {
        let _ = writeln!(out, "\n+{more} more tasks: `plan.json` lists every task.");
    }
    out
}

/// Rows of the task table: a job summary holds at most 1 MiB, and a reader of more than a
/// few hundred rows reads `plan.json`.
const TASK_ROWS: usize = 300;
/// Check results listed; the rest are counted (plan.json has them all).
const PROBLEMS_LISTED: usize = 100;

/// The child machines listed in a paragraph at most.
const CHILDREN_LISTED: usize = 12;

/// One paragraph on how the pipeline is split into a root and child state machines (empty
/// when it is one machine): a reviewer sees why there are several and where each task is.
pub fn split_line(plan: &Plan) -> String {
    if plan.children.is_empty() {
        return String::new();
    }
    let listed: Vec<String> = plan
        .children
        .iter()
        .take(CHILDREN_LISTED)
        .map(|c| {
            format!(
                "{} ({} tasks, {} KiB)",
                code(&c.name),
                c.tasks.len(),
                c.bytes.div_ceil(1024)
            )
        })
        .collect();
    let more = match plan.children.len().saturating_sub(CHILDREN_LISTED) {
        0 => String::new(),
        n => format!(" and {n} more (plan.json lists them)"),
    };
    format!(
        "Split into {} state machines, as one would pass Step Functions' limits (1 MiB a definition, 25,000 events an execution): {} starts {}{more}, each as one run with the root's execution name and start time. Their definitions are in `state-machines/`.\n\n",
        plan.children.len() + 1,
        code(&plan.state_machine.name),
        listed.join(", ")
    )
}

/// One paragraph naming the tasks that run on ECS Fargate, with their size (empty when none
/// do): the comment shows no task table, and a reviewer must see what leaves Lambda.
pub fn ecs_tasks_line(plan: &Plan) -> String {
    if plan.ecs_tasks.is_empty() {
        return String::new();
    }
    let tasks: Vec<String> = plan
        .ecs_tasks
        .iter()
        .map(|t| {
            format!(
                "{} ({} vCPU, {} MB, timeout {} s)",
                code(&t.state),
                f64::from(t.cpu) / 1024.0,
                t.memory_mb,
                t.timeout_s
            )
        })
        .collect();
    format!(
        "On ECS Fargate: {}; every other task on Lambda.\n\n",
        tasks.join(", ")
    )
}

/// The check results as a Markdown section.
pub fn render_findings(findings: &Findings) -> String {
    let mut out = String::from("### Checks\n\n");
    if findings.problems.is_empty() {
        out.push_str("All checks passed.\n");
        return out;
    }
    let shown = super::diff::ROWS_SHOWN;
    for problem in findings.problems.iter().take(shown) {
        out.push_str(&render_problem(problem));
    }
    if findings.problems.len() > shown {
        let _ = writeln!(
            out,
            "\n<details><summary>+{} more findings</summary>\n",
            findings.problems.len() - shown
        );
        for problem in findings.problems.iter().take(PROBLEMS_LISTED).skip(shown) {
            out.push_str(&render_problem(problem));
        }
    }
    if let Some(more) = findings
        .problems
        .len()
        .checked_sub(PROBLEMS_LISTED)
        .filter(|n| *n > 0)
    {
        let _ = writeln!(out, "- +{more} more: `plan.json` lists every finding.");
    }
    if findings.problems.len() > shown {
        out.push_str("\n</details>\n");
    }
    out
}

fn render_problem(problem: &Problem) -> String {
    let level = match problem.severity {
        Severity::Error => "**error**",
        Severity::Warning => "warning",
    };
    format!(
        "- {level} {}: {}<br>_hint:_ {}\n",
        code(problem.rule.id()),
        prose(&problem.message),
        prose(&problem.hint)
    )
}

/// The summary written when the checks refuse the pipeline.
pub fn render_refusal(project: &str, pipeline: &str, findings: &Findings) -> String {
    format!(
        "## kedro-sfn plan: refused\n\nPipeline {} of **{}** cannot run on Step Functions as configured: {} error(s).\n\n{}",
        code(pipeline),
        text(project),
        findings.errors().count(),
        render_findings(findings)
    )
}

fn seconds(value: f64) -> String {
    format!("{value:.1} s")
}
