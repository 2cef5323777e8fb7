//! The change set for people: a table of what changes, the structural difference, and a
//! unified diff of the definition, collapsed.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde_json::Value;

use crate::plan::changes::{ChangeSet, ChildAction, FunctionAction, MachineAction};
use crate::plan::Plan;

use super::escape::{code, text};

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
    line
}

/// One function or ECS task definition of the change set, as the section shows it.
struct Resource<'a> {
    state: &'a str,
    name: &'a str,
    action: &'a FunctionAction,
    on_ecs: bool,
}

/// The Markdown section of the change set; `plan` names the Kedro nodes of each task.
pub fn render(plan: &Plan, changes: &ChangeSet, text_diff: &str) -> String {
    let mut out = String::from("### Changes\n\n");
    let _ = writeln!(out, "{}.\n", text(&headline(changes)));
    let resources: Vec<Resource> = changes
        .functions
        .iter()
        .map(|f| Resource {
            state: &f.state,
            name: &f.name,
            action: &f.action,
            on_ecs: false,
        })
        .chain(changes.ecs_tasks.iter().map(|t| Resource {
            state: &t.state,
            name: &t.family,
            action: &t.action,
            on_ecs: true,
        }))
        .collect();
    out.push_str(&alerts(changes, &resources));
    let lines = structure_lines(changes);
    if !lines.is_empty() {
        out.push_str(&lines.join("\n"));
        out.push_str("\n\n");
    }
    out.push_str(&resource_table(plan, &resources));
    out.push_str(&diff_details(text_diff));
    out
}

/// A caution for functions it does not own, a warning for what it deletes.
fn alerts(changes: &ChangeSet, resources: &[Resource]) -> String {
    let mut out = String::new();
    if !changes.clashes.is_empty() {
        out.push_str("> [!CAUTION]\n> These functions exist but are not owned by this state machine; deploy will refuse to touch them:\n");
        for name in &changes.clashes {
            let _ = writeln!(out, "> - {}", code(name));
        }
        out.push('\n');
    }
    let deleted: Vec<&str> = resources
        .iter()
        .filter(|r| r.action == &FunctionAction::Delete)
        .map(|r| r.name)
        .collect();
    if !deleted.is_empty() {
        out.push_str(
            "> [!WARNING]\n> These functions (or ECS task definitions) will be deleted (their tasks left the pipeline):\n",
        );
        for name in &deleted {
            let _ = writeln!(out, "> - {}", code(name));
        }
        out.push('\n');
    }
    out
}

/// The tasks removed, changed or reordered, the child machines and the renames: one line
/// each (added tasks and changed functions are rows of the table instead).
fn structure_lines(changes: &ChangeSet) -> Vec<String> {
    let s = &changes.structure;
    let mut lines = Vec::new();
    for (label, names) in [
        ("removed", &s.removed),
        ("nodes changed", &s.nodes_changed),
        ("wait for other tasks", &s.order_changed),
    ] {
        if !names.is_empty() {
            let list: Vec<String> = names.iter().map(|n| code(n)).collect();
            lines.push(format!("- Tasks {label}: {}", list.join(", ")));
        }
    }
    let children: Vec<String> = changes
        .children
        .iter()
        .filter_map(|c| {
            let what = match &c.action {
                ChildAction::Keep => return None,
                ChildAction::Create => "create".to_string(),
                ChildAction::Update { reasons } => format!("new version ({})", reasons.join(", ")),
                ChildAction::Delete => "**delete**".to_string(),
            };
            Some(format!("{} {}", code(&c.name), text(&what)))
        })
        .collect();
    if !children.is_empty() {
        lines.push(format!("- Child state machines: {}", children.join(", ")));
    }
    if !s.renamed.is_empty() {
        let list: Vec<String> = s
            .renamed
            .iter()
            .map(|(a, b)| format!("{} → {}", code(a), code(b)))
            .collect();
        lines.push(format!("- Tasks renamed: {}", list.join(", ")));
    }
    lines
}

/// A row per function or task definition that changes: its task, its nodes, what changes.
fn resource_table(plan: &Plan, resources: &[Resource]) -> String {
    let changed: Vec<&Resource> = resources
        .iter()
        .filter(|r| r.action != &FunctionAction::Keep)
        .collect();
    if changed.is_empty() {
        return String::new();
    }
    let nodes_of: BTreeMap<&str, &[String]> = plan
        .tasks
        .iter()
        .map(|t| (t.state.as_str(), t.nodes.as_slice()))
        .collect();
    let mut out = String::from("| Task (Kedro nodes) | Change |\n|---|---|\n");
    for resource in changed {
        let state = resource.state;
        let task = match nodes_of.get(state) {
            // The cleaned state name alone says nothing the node's name does not.
            Some([node]) if node == state => code(node),
            Some(nodes) if !nodes.is_empty() => {
                let names: Vec<String> = nodes.iter().map(|n| code(n)).collect();
                format!("{} ({})", code(state), names.join(", "))
            }
            _ => code(state),
        };
        let _ = writeln!(out, "| {task} | {} |", change_of(resource));
    }
    out.push('\n');
    out
}

/// What happens to one function or task definition, in the table's words.
fn change_of(resource: &Resource) -> String {
    match resource.action {
        FunctionAction::Create if resource.on_ecs => "create (ECS Fargate)".to_string(),
        FunctionAction::Create => "create".to_string(),
        FunctionAction::Delete => "**delete**".to_string(),
        FunctionAction::Keep => "keep".to_string(),
        FunctionAction::Update {
            code: new_code,
            configuration,
        } => {
            let mut parts = Vec::new();
            if *new_code {
                parts.push("new code".to_string());
            }
            parts.extend(configuration.iter().map(|c| text(c)));
            if resource.on_ecs {
                parts.push("a new task definition revision".to_string());
            } else if parts.is_empty() {
                parts.push("publish a version".to_string());
            }
            format!("update: {}", parts.join(", "))
        }
    }
}

/// The definition's diff, collapsed, in a fence longer than any run of backticks in it.
fn diff_details(text_diff: &str) -> String {
    if text_diff.is_empty() {
        return String::new();
    }
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
        "<details><summary>Definition diff ({} lines)</summary>\n\n{fence}diff\n{text_diff}{fence}\n\n</details>\n\n",
        text_diff.lines().count()
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
