//! The change set for people: a table of what changes, the structural difference, and a
//! unified diff of the definition, collapsed.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use crate::plan::changes::{
    ChangeSet, ChildAction, FunctionAction, MachineAction, OperationAction,
};
use crate::plan::Plan;

use crate::plan::definition::asl::task_states;

use super::escape::{code, text};
use super::review::{capped, counted, list, Review, Row, RowKind};

/// A unified diff of two definitions, pretty-printed (empty when they are equal).
pub fn definition_diff(deployed: Option<&Value>, planned: &Value) -> String {
    let pretty = |v: &Value| {
        let mut s = super::json_text::to_pretty(v).unwrap_or_default();
        s.push('\n');
        s
    };
    let old = deployed.map(pretty).unwrap_or_default();
    let new = pretty(planned);
    if old == new {
        return String::new();
    }
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header("deployed", "planned")
        .to_string()
}

/// What changes in each Task state both definitions have, and in the machine's own fields:
/// a unified diff per state, without the transitions (`Next`, `End`: the picture shows the
/// order, and a regrouping moves them without changing the task). Empty for a first deploy:
/// the definition is an artifact then, not a change.
pub fn task_diff(deployed: Option<&Value>, planned: &Value) -> String {
    let Some(deployed) = deployed else {
        return String::new();
    };
    let old: BTreeMap<&str, &Value> = task_states(deployed).into_iter().collect();
    let mut out = String::new();
    let own_fields = |definition: &Value| -> Value {
        let mut fields = definition.clone();
        if let Some(object) = fields.as_object_mut() {
            object.remove("States");
            object.remove("StartAt");
        }
        fields
    };
    out.push_str(&one_diff(
        "the state machine",
        &own_fields(deployed),
        &own_fields(planned),
    ));
    for (name, state) in task_states(planned) {
        if let Some(before) = old.get(name) {
            out.push_str(&one_diff(
                name,
                &without_transition(before),
                &without_transition(state),
            ));
        }
    }
    out
}

/// A Task state without where it goes next.
fn without_transition(state: &Value) -> Value {
    let mut state = state.clone();
    if let Some(object) = state.as_object_mut() {
        object.remove("Next");
        object.remove("End");
    }
    state
}

/// The unified diff of one part of the definition, headed by its name (empty when equal).
fn one_diff(name: &str, before: &Value, after: &Value) -> String {
    if before == after {
        return String::new();
    }
    let pretty = |v: &Value| {
        let mut s = super::json_text::to_pretty(v).unwrap_or_default();
        s.push('\n');
        s
    };
    let (old, new) = (pretty(before), pretty(after));
    similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(2)
        .header(&format!("deployed: {name}"), &format!("planned: {name}"))
        .to_string()
}

/// One line: what the deploy will do (or did).
pub fn headline(changes: &ChangeSet) -> String {
    if changes.is_empty() {
        return "no changes".to_string();
    }
    let tally = changes.tally();
    let machine = match &changes.machine {
        MachineAction::Create => "state machine: create".to_string(),
        MachineAction::Update { reasons } => {
            format!("state machine: update ({})", reasons.join(", "))
        }
        MachineAction::Keep => "state machine: unchanged".to_string(),
    };
    let new_code = changes
        .functions
        .iter()
        .map(|f| &f.action)
        .chain(changes.ecs_tasks.iter().map(|t| &t.action))
        .filter(|a| matches!(a, FunctionAction::Update { code: true, .. }))
        .count();
    let updates = match new_code {
        0 => format!("{} to update", tally.get("update").unwrap_or(&0)),
        n => format!(
            "{} to update ({n} with new code)",
            tally.get("update").unwrap_or(&0)
        ),
    };
    let what = match changes.ecs_tasks.is_empty() {
        true => "functions",
        false => "functions and ECS task definitions",
    };
    let mut line = format!(
        "{what}: {} to create, {updates}, {} to delete, {} unchanged; {machine}",
        tally.get("create").unwrap_or(&0),
        tally.get("delete").unwrap_or(&0),
        tally.get("keep").unwrap_or(&0),
    );
    if !changes.children.is_empty() {
        let count = |wanted: fn(&ChildAction) -> bool| {
            changes
                .children
                .iter()
                .filter(|c| wanted(&c.action))
                .count()
        };
        let _ = write!(
            line,
            "; child state machines: {} to create, {} to update, {} to delete, {} unchanged",
            count(|a| a == &ChildAction::Create),
            count(|a| matches!(a, ChildAction::Update { .. })),
            count(|a| a == &ChildAction::Delete),
            count(|a| a == &ChildAction::Keep),
        );
    }
    let retention = &changes.retention;
    if !retention.deleted_versions.is_empty() {
        let _ = write!(
            line,
            "; old state machine versions: {} to delete",
            retention.deleted_versions.len()
        );
    }
    if !retention.kept_for_rollback.is_empty() {
        let _ = write!(
            line,
            "; kept while a kept version calls them: {}",
            super::review::capped(&retention.kept_for_rollback, 10)
        );
    }
    let ops = &changes.operations;
    if !ops.is_empty() {
        let count = |wanted: fn(&OperationAction) -> bool| {
            ops.schedules.iter().filter(|s| wanted(&s.action)).count()
        };
        let _ = write!(
            line,
            "; schedules: {} to create, {} to update, {} to delete",
            count(|a| a == &OperationAction::Create),
            count(|a| matches!(a, OperationAction::Update { .. })),
            count(|a| a == &OperationAction::Delete),
        );
        let alert = match &ops.alert {
            OperationAction::Create => Some("create"),
            OperationAction::Update { .. } => Some("update"),
            OperationAction::Delete => Some("delete"),
            OperationAction::Keep => None,
        };
        if let Some(alert) = alert {
            let _ = write!(line, "; alert: {alert}");
        }
    }
    line
}

/// Rows of the change table shown before the rest is folded away.
pub const ROWS_SHOWN: usize = 20;
/// Rows inside the fold; past them, plan.json has the rest.
const ROWS_FOLDED: usize = 150;
/// Lines of the per-task diff shown; plan.json's `definition_diff` has the whole.
const DIFF_LINES_SHOWN: usize = 400;

/// The `### Changes` section: the table of changed tasks (the first [`ROWS_SHOWN`] open,
/// the rest folded), one line for each wholesale change, and the per-task diff, folded.
/// `verdict` is said first where no title says it (the job summary).
pub fn render(
    plan: &Plan,
    changes: &ChangeSet,
    review: &Review,
    task_diff: &str,
    verdict: Option<&str>,
) -> String {
    let mut out = String::from("### Changes\n\n");
    if let Some(verdict) = verdict {
        let _ = writeln!(out, "**{}**\n", text(verdict));
        out.push_str(&alerts(changes, review));
    }
    if review.first_deploy {
        out.push_str(&first_deploy(plan, changes));
        return out;
    }
    out.push_str(&change_table(&review.rows));
    let mut lines = Vec::new();
    if review.regrouped > 0 {
        lines.push(format!(
            "{} regrouped by the planner into other Parallel states; no dependency changed.",
            counted(review.regrouped, "task", "tasks")
        ));
    }
    if review.new_code > 0 {
        lines.push(format!(
            "New code (a new image) for {}.",
            counted(review.new_code, "task", "tasks")
        ));
    }
    if let MachineAction::Update { reasons } = &changes.machine {
        lines.push(format!(
            "State machine: a new version ({}).",
            text(&reasons.join(", "))
        ));
    }
    if !review.children.is_empty() {
        lines.push(format!(
            "Child state machines: {}.",
            capped(&review.children, ROWS_SHOWN)
        ));
    }
    for line in lines {
        let _ = writeln!(out, "- {line}");
    }
    out.push('\n');
    out.push_str(&diff_details(task_diff));
    out
}

/// A caution for functions it does not own, a warning for what it deletes: said before
/// anything else, once.
pub fn alerts(changes: &ChangeSet, review: &Review) -> String {
    let mut out = String::new();
    if !changes.clashes.is_empty() {
        let names: Vec<String> = changes.clashes.iter().map(|n| code(n)).collect();
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> Not owned by this state machine, so deploy refuses to touch {}: {}.\n",
            if names.len() == 1 { "it" } else { "them" },
            capped(&names, ROWS_SHOWN)
        );
    }
    if let Some(deleted) = review.deletions() {
        let _ = writeln!(
            out,
            "> [!WARNING]\n> This deploy **deletes {deleted}** (named below): what they ran left the pipeline or moved elsewhere.\n"
        );
    }
    out
}

/// A first deploy creates everything: one sentence, and the tasks folded.
fn first_deploy(plan: &Plan, changes: &ChangeSet) -> String {
    let mut made = vec![counted(
        changes.functions.len(),
        "Lambda function",
        "Lambda functions",
    )];
    if !changes.ecs_tasks.is_empty() {
        made.push(counted(
            changes.ecs_tasks.len(),
            "ECS task definition",
            "ECS task definitions",
        ));
    }
    if !changes.children.is_empty() {
        made.push(counted(
            changes.children.len(),
            "child state machine",
            "child state machines",
        ));
    }
    let made = match made.as_slice() {
        [init @ .., last] if !init.is_empty() => format!("{} and {last}", init.join(", ")),
        _ => made.join(", "),
    };
    let mut out = format!("Creates the state machine, {made}.\n\n");
    let rows: Vec<String> = plan
        .tasks
        .iter()
        .take(ROWS_FOLDED)
        .map(|t| {
            let runs_on = match t.runner {
                crate::config::Runner::Lambda => "Lambda",
                crate::config::Runner::Ecs => "ECS Fargate",
            };
            format!("| {} | {runs_on} |", task_cell(&t.state, &t.nodes))
        })
        .collect();
    let _ = write!(
        out,
        "<details><summary>The {}</summary>\n\n| Task (Kedro nodes) | Runs on |\n|---|---|\n{}\n{}\n</details>\n\n",
        counted(plan.tasks.len(), "task", "tasks"),
        rows.join("\n"),
        more_in_plan(plan.tasks.len(), ROWS_FOLDED, "task")
    );
    out
}

/// "+N more: plan.json lists every …" when `total` passes `shown`.
fn more_in_plan(total: usize, shown: usize, what: &str) -> String {
    match total.saturating_sub(shown) {
        0 => String::new(),
        n => format!("\n+{n} more: `plan.json` lists every {what}.\n"),
    }
}

/// The changed tasks: the first [`ROWS_SHOWN`] in a table, the rest folded below it.
fn change_table(rows: &[Row]) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let line = |row: &Row| {
        let mut what = row.what.clone();
        match row.kind {
            RowKind::Added => what.insert(0, "added".to_string()),
            RowKind::Deleted | RowKind::Changed => {}
        }
        format!(
            "| {} | {} |\n",
            task_cell(&row.state, &row.nodes),
            what.join("; ")
        )
    };
    const HEADER: &str = "| Task (Kedro nodes) | Change |\n|---|---|\n";
    let mut out = String::from(HEADER);
    for row in rows.iter().take(ROWS_SHOWN) {
        out.push_str(&line(row));
    }
    out.push('\n');
    let folded = &rows[rows.len().min(ROWS_SHOWN)..];
    if !folded.is_empty() {
        let _ = write!(
            out,
            "<details><summary>+{} more changed tasks</summary>\n\n{HEADER}",
            folded.len()
        );
        for row in folded.iter().take(ROWS_FOLDED) {
            out.push_str(&line(row));
        }
        out.push_str(&more_in_plan(folded.len(), ROWS_FOLDED, "change"));
        out.push_str("\n</details>\n\n");
    }
    out
}

/// A task as the tables name it: its state, and its nodes when they say more (at most five).
fn task_cell(state: &str, nodes: &[String]) -> String {
    match nodes {
        // The cleaned state name alone says nothing the node's name does not.
        [node] if node == state => code(node),
        [] => code(state),
        nodes => format!("{} ({})", code(state), list(nodes, 5)),
    }
}

/// The definition's diff, collapsed, in a fence longer than any run of backticks in it.
fn diff_details(text_diff: &str) -> String {
    if text_diff.is_empty() {
        return String::new();
    }
    let lines = text_diff.lines().count();
    let shown: String = text_diff
        .split_inclusive('\n')
        .take(DIFF_LINES_SHOWN)
        .collect();
    let fence = "`".repeat(
        text_diff
            .split(|c| c != '`')
            .map(str::len)
            .max()
            .unwrap_or(0)
            .max(2)
            + 1,
    );
    format!(
        "<details><summary>What changes in each changed state ({} lines{})</summary>\n\n{fence}diff\n{shown}{fence}\n\n</details>\n\n",
        lines,
        match lines.saturating_sub(DIFF_LINES_SHOWN) {
            0 => String::new(),
            _ => format!("; the first {DIFF_LINES_SHOWN} shown, `plan.json` has all"),
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_definitions_have_no_diff_and_others_do() {
        let a = json!({"StartAt": "x"});
        assert_eq!(definition_diff(Some(&a), &a), "");
        let diff = definition_diff(Some(&a), &json!({"StartAt": "y"}));
        assert!(
            diff.contains("-  \"StartAt\": \"x\"") && diff.contains("+  \"StartAt\": \"y\""),
            "{diff}"
        );
        assert!(definition_diff(None, &a).contains("+++ planned"));
    }
}
