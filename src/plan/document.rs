//! `plan.json`: the plan for scripts and for later commands (deploy reads it).

use serde_json::{json, Value};

use super::Plan;

/// The format tag of `plan.json`.
pub const PLAN_FORMAT: &str = "kedro-sfn/plan@1";

/// The plan as JSON; `baseline` says what it was compared against.
pub fn plan_document(plan: &Plan, baseline: &str) -> Value {
    let task_names: Vec<&str> = plan.tasks.iter().map(|t| t.state.as_str()).collect();
    json!({
        "format": PLAN_FORMAT,
        "project": plan.project,
        "pipeline": plan.pipeline,
        "env": plan.env,
        "group_by": plan.group_by,
        "compared_against": baseline,
        "state_machine": plan.state_machine,
        "counts": {
            "nodes": plan.node_count,
            "tasks": plan.tasks.len(),
            "dependencies": plan.dependencies.len(),
        },
        "schedule": plan.schedule,
        "tasks": plan.tasks,
        "functions": plan.functions,
        "dependencies": plan
            .dependencies
            .iter()
            .map(|&(from, to)| json!({"from": task_names[from], "to": task_names[to]}))
            .collect::<Vec<_>>(),
        "warnings": plan.findings.problems,
    })
}
