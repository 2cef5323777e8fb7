//! What a reviewer calls a change: one row per task that is added, deleted or changed (its
//! nodes, its settings, its own Kedro dependencies, its name), and counts for what changes
//! wholesale (new code everywhere, the planner's regrouping). Pure: the plan and the change
//! set in, plain data out, for the comment's title, its table and the job summary.

use std::collections::BTreeMap;

use crate::plan::changes::{
    ChangeSet, ChildAction, FunctionAction, MachineAction, OperationAction,
};
use crate::plan::Plan;

use super::escape::code;

/// What happened to a task, in the order the table lists them: what is lost first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RowKind {
    Deleted,
    Added,
    Changed,
}

/// One task of the change table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub state: String,
    /// Its Kedro nodes (none for a deleted task: the plan no longer has them).
    pub nodes: Vec<String>,
    pub kind: RowKind,
    /// What changes, in the table's words (Markdown).
    pub what: Vec<String>,
}

/// The change set as a reviewer reads it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Review {
    /// Nothing of this state machine is deployed yet.
    pub first_deploy: bool,
    pub rows: Vec<Row>,
    /// Tasks that only wait in other Parallel groupings than before.
    pub regrouped: usize,
    /// Functions and task definitions that get new code (a new image), counted once rather
    /// than said on every row.
    pub new_code: usize,
    pub deleted_functions: usize,
    pub deleted_task_definitions: usize,
    pub deleted_children: usize,
    /// The child machines that change, one phrase each.
    pub children: Vec<String>,
}

impl Review {
    /// Reads the change set task by task.
    pub fn of(plan: &Plan, changes: &ChangeSet) -> Review {
        let structure = &changes.structure;
        let planned: BTreeMap<&str, &crate::plan::PlannedTask> =
            plan.tasks.iter().map(|t| (t.state.as_str(), t)).collect();
        let mut rows: BTreeMap<String, Row> = BTreeMap::new();
        let mut review = Review {
            first_deploy: changes.machine == MachineAction::Create,
            ..Review::default()
        };
        for state in &structure.added {
            row(&mut rows, &planned, state, RowKind::Added);
        }
        let resources = changes
            .functions
            .iter()
            .map(|f| (&f.state, &f.name, &f.action, false))
            .chain(
                changes
                    .ecs_tasks
                    .iter()
                    .map(|t| (&t.state, &t.family, &t.action, true)),
            );
        // A renamed task's old function is deleted: a part of the rename, said on its row.
        let renamed_to: BTreeMap<&String, &String> = structure
            .renamed
            .iter()
            .map(|(old, new)| (old, new))
            .collect();
        for (state, name, action, on_ecs) in resources {
            let state = renamed_to.get(state).copied().unwrap_or(state);
            // A function without the task tag (made by hand, then adopted) is its own row.
            let state = if state.is_empty() { name } else { state };
            let what = if on_ecs {
                "ECS task definition"
            } else {
                "function"
            };
            match action {
                FunctionAction::Keep => {}
                FunctionAction::Create => {
                    if !structure.added.contains(state) {
                        row(&mut rows, &planned, state, RowKind::Changed)
                            .what
                            .push(format!("new {what} {}", code(name)));
                    } else if on_ecs {
                        row(&mut rows, &planned, state, RowKind::Added)
                            .what
                            .push("on ECS Fargate".to_string());
                    }
                }
                FunctionAction::Delete => {
                    if on_ecs {
                        review.deleted_task_definitions += 1;
                    } else {
                        review.deleted_functions += 1;
                    }
                    let kind = match planned.contains_key(state.as_str()) {
                        true => RowKind::Changed,
                        false => RowKind::Deleted,
                    };
                    row(&mut rows, &planned, state, kind)
                        .what
                        .push(format!("**deletes** its {what} {}", code(name)));
                }
                FunctionAction::Update {
                    code: new_code,
                    configuration,
                } => {
                    if *new_code {
                        review.new_code += 1;
                    }
                    if !configuration.is_empty() {
                        row(&mut rows, &planned, state, RowKind::Changed)
                            .what
                            .extend(configuration.iter().map(|c| super::escape::text(c)));
                    }
                }
            }
        }
        for (old, new) in &structure.renamed {
            row(&mut rows, &planned, new, RowKind::Changed)
                .what
                .insert(0, format!("renamed from {}", code(old)));
        }
        for state in &structure.nodes_changed {
            row(&mut rows, &planned, state, RowKind::Changed)
                .what
                .insert(0, "runs other nodes".to_string());
        }
        for (state, change) in &structure.reads_changed {
            let row = row(&mut rows, &planned, state, RowKind::Changed);
            if !change.added.is_empty() {
                row.what.push(format!(
                    "now reads the outputs of {}",
                    list(&change.added, 5)
                ));
            }
            if !change.dropped.is_empty() {
                row.what.push(format!(
                    "no longer reads the outputs of {}",
                    list(&change.dropped, 5)
                ));
            }
        }
        review.regrouped = structure.regrouped.len();
        for child in &changes.children {
            let phrase = match &child.action {
                ChildAction::Keep => continue,
                ChildAction::Create => "create".to_string(),
                ChildAction::Update { reasons } => {
                    format!("new version ({})", super::escape::text(&reasons.join(", ")))
                }
                ChildAction::Delete => {
                    review.deleted_children += 1;
                    "**delete**".to_string()
                }
            };
            review
                .children
                .push(format!("{} {phrase}", code(&child.name)));
        }
        let mut rows: Vec<Row> = rows.into_values().collect();
        // Deleted first, then added, then changed; in the plan's task order within each.
        let position: BTreeMap<&str, usize> = plan
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.state.as_str(), i))
            .collect();
        rows.sort_by_key(|r| {
            (
                r.kind,
                position
                    .get(r.state.as_str())
                    .copied()
                    .unwrap_or(usize::MAX),
                r.state.clone(),
            )
        });
        review.rows = rows;
        review
    }

    /// Tasks of one kind.
    pub fn count(&self, kind: RowKind) -> usize {
        self.rows.iter().filter(|r| r.kind == kind).count()
    }

    /// What is deleted, as "3 functions and 1 ECS task definition" (`None`: nothing).
    pub fn deletions(&self) -> Option<String> {
        let parts: Vec<String> = [
            (self.deleted_functions, "function", "functions"),
            (
                self.deleted_task_definitions,
                "ECS task definition",
                "ECS task definitions",
            ),
            (
                self.deleted_children,
                "child state machine",
                "child state machines",
            ),
        ]
        .iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|&(n, one, many)| counted(n, one, many))
        .collect();
        match parts.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            [init @ .., last] => Some(format!("{} and {last}", init.join(", "))),
        }
    }
}

/// The row of `state`, made on first use.
fn row<'r>(
    rows: &'r mut BTreeMap<String, Row>,
    planned: &BTreeMap<&str, &crate::plan::PlannedTask>,
    state: &str,
    kind: RowKind,
) -> &'r mut Row {
    rows.entry(state.to_string()).or_insert_with(|| Row {
        state: state.to_string(),
        nodes: planned
            .get(state)
            .map(|t| t.nodes.clone())
            .unwrap_or_default(),
        kind,
        what: Vec::new(),
    })
}

/// The title's verdict: what the deploy does, most consequential first.
pub fn verdict(plan: &Plan, changes: &ChangeSet, review: &Review) -> String {
    if !changes.clashes.is_empty() {
        return format!(
            "⛔ deploy would be refused: {} it does not own {} in the way",
            counted(changes.clashes.len(), "resource", "resources"),
            if changes.clashes.len() == 1 {
                "is"
            } else {
                "are"
            }
        );
    }
    if changes.is_empty() {
        return "✅ no changes".to_string();
    }
    if review.first_deploy {
        let on_ecs = match plan.ecs_tasks.len() {
            0 => String::new(),
            n => format!(" ({n} on ECS Fargate)"),
        };
        let (operations, _) = operation_parts(changes);
        let mut title = format!(
            "🆕 first deploy: {}{on_ecs}",
            counted(plan.tasks.len(), "task", "tasks")
        );
        for part in operations {
            title.push_str(" · ");
            title.push_str(&part);
        }
        return title;
    }
    let mut parts = Vec::new();
    if let Some(deleted) = review.deletions() {
        parts.push(format!("deletes {deleted}"));
    }
    let added = review.count(RowKind::Added);
    if added > 0 {
        parts.push(format!("{} added", counted(added, "task", "tasks")));
    }
    let changed = review.count(RowKind::Changed);
    if changed > 0 {
        parts.push(format!("{} changed", counted(changed, "task", "tasks")));
    }
    if review.new_code > 0 {
        parts.push(format!(
            "new code for {}",
            counted(review.new_code, "task", "tasks")
        ));
    }
    let (operations, operations_delete) = operation_parts(changes);
    parts.extend(operations);
    let versions = changes.retention.deleted_versions.len();
    if versions > 0 {
        parts.push(format!(
            "{} pruned",
            counted(versions, "old version", "old versions")
        ));
    }
    if parts.is_empty() {
        parts.push(match &changes.machine {
            MachineAction::Update { .. } if review.regrouped > 0 => {
                "state machine regrouped".to_string()
            }
            MachineAction::Update { reasons } => format!(
                "state machine update ({})",
                super::escape::text(&reasons.join(", "))
            ),
            _ => "state machine unchanged".to_string(),
        });
    }
    let icon = if review.deletions().is_some() || operations_delete {
        "⚠️"
    } else {
        "📝"
    };
    format!("{icon} {}", parts.join(" · "))
}

/// What the deploy does to schedules and the alert, in the verdict's words, and whether it
/// deletes any of them.
fn operation_parts(changes: &ChangeSet) -> (Vec<String>, bool) {
    let ops = &changes.operations;
    let count = |wanted: fn(&OperationAction) -> bool| {
        ops.schedules.iter().filter(|s| wanted(&s.action)).count()
    };
    let deleted = count(|a| *a == OperationAction::Delete);
    let mut parts = Vec::new();
    if deleted > 0 {
        parts.push(format!(
            "deletes {}",
            counted(deleted, "schedule", "schedules")
        ));
    }
    let added = count(|a| *a == OperationAction::Create);
    if added > 0 {
        parts.push(format!("{} added", counted(added, "schedule", "schedules")));
    }
    let changed = count(|a| matches!(a, OperationAction::Update { .. }));
    if changed > 0 {
        parts.push(format!(
            "{} changed",
            counted(changed, "schedule", "schedules")
        ));
    }
    match ops.alert {
        OperationAction::Create => parts.push("alert added".into()),
        OperationAction::Update { .. } => parts.push("alert changed".into()),
        OperationAction::Delete => parts.push("deletes the alert".into()),
        OperationAction::Keep => {}
    }
    (parts, deleted > 0 || ops.alert == OperationAction::Delete)
}

/// "1 task", "3 tasks".
pub fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Names in code, the first `shown` of them and how many more.
pub fn list(names: &[String], shown: usize) -> String {
    let coded: Vec<String> = names.iter().map(|n| code(n)).collect();
    capped(&coded, shown)
}

/// Phrases joined, the first `shown` of them and how many more.
pub fn capped(phrases: &[String], shown: usize) -> String {
    let mut parts: Vec<&str> = phrases.iter().take(shown).map(String::as_str).collect();
    let more = format!("+{} more", phrases.len().saturating_sub(shown));
    if phrases.len() > shown {
        parts.push(&more);
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests;
