//! The pull-request comment: one per state machine per pull request, found again by a
//! hidden marker. Pure: the plan and the change set in, Markdown out, cut to GitHub's limit.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::pipeline::check::Findings;
use crate::plan::changes::{ChangeSet, MachineAction};
use crate::plan::Plan;

use super::diff::{headline, render as render_changes};
use super::escape::{code, mermaid_label, text};
use super::mermaid::{flowchart, task_labels, MAX_TASKS_DRAWN};
use super::summary::render_findings;

/// GitHub refuses comment bodies longer than this (characters).
pub const COMMENT_MAX_CHARS: usize = 65_536;

/// The hidden line that identifies this state machine's comment.
pub fn marker(state_machine: &str) -> String {
    // State machine names are [A-Za-z0-9_-]; anything else could end the HTML comment.
    let safe: String = state_machine
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("<!-- kedro-sfn:comment state-machine={safe} -->")
}

/// What the comment reports.
pub struct CommentInput<'a> {
    pub plan: &'a Plan,
    /// `None` when the plan could not be compared with AWS (e.g. a fork without credentials).
    pub changes: Option<&'a ChangeSet>,
    pub text_diff: &'a str,
    /// The commit the plan was made for.
    pub commit: &'a str,
    /// Said under the status line (e.g. why the plan is offline).
    pub notes: &'a [String],
}

/// The comment for a plan.
pub fn render_comment(input: &CommentInput) -> String {
    let plan = input.plan;
    let mut out = marker(&plan.state_machine.name);
    out.push('\n');
    let status = match input.changes {
        Some(changes) if changes.is_empty() => "✅ no changes".to_string(),
        Some(changes) if !changes.clashes.is_empty() => {
            "⛔ deploy would be refused: functions it does not own are in the way".to_string()
        }
        Some(changes) => format!("📝 {} change(s)", changes.count()),
        None => "📝 plan only (not compared with AWS)".to_string(),
    };
    let _ = writeln!(
        out,
        "## kedro-sfn: {} — {status}\n",
        code(&plan.state_machine.name)
    );
    let _ = writeln!(
        out,
        "Pipeline {} of **{}**: {} Kedro nodes in {} tasks; expected {:.0} s (critical path {:.0} s).\n",
        code(&plan.pipeline),
        text(&plan.project),
        plan.node_count,
        plan.tasks.len(),
        plan.schedule.expected_makespan_s,
        plan.schedule.critical_path_s
    );
    if let Some(changes) = input.changes {
        let _ = writeln!(out, "**{}**\n", text(&headline(changes)));
    }
    for note in input.notes {
        let _ = writeln!(out, "> {}\n", text(note));
    }
    out.push_str(&marked_flowchart(plan, input.changes));
    if let Some(changes) = input.changes {
        out.push_str(&render_changes(changes, input.text_diff));
    }
    if !plan.findings.problems.is_empty() {
        out.push_str(&render_findings(&plan.findings));
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "<sub>Planned for commit {} by kedro-sfn.</sub>",
        code(input.commit)
    );
    truncate(&out, COMMENT_MAX_CHARS)
}

/// The comment for a pipeline the checks refused.
pub fn render_refusal_comment(state_machine: &str, findings: &Findings, commit: &str) -> String {
    let mut out = marker(state_machine);
    let _ = writeln!(
        out,
        "\n## kedro-sfn: {} — ❌ refused\n\nThe pipeline cannot run on Step Functions as configured: {} error(s).\n",
        code(state_machine),
        findings.errors().count()
    );
    out.push_str(&render_findings(findings));
    let _ = writeln!(
        out,
        "\n<sub>Checked for commit {} by kedro-sfn.</sub>",
        code(commit)
    );
    truncate(&out, COMMENT_MAX_CHARS)
}

/// The state machine drawn with added and changed tasks marked, and removed ones beside it.
pub fn marked_flowchart(plan: &Plan, changes: Option<&ChangeSet>) -> String {
    let mut out = String::from("### State machine\n\n");
    if plan.tasks.len() > MAX_TASKS_DRAWN {
        let _ = writeln!(out, "_{} tasks are too many to draw._\n", plan.tasks.len());
        return out;
    }
    let labels = task_labels(plan);
    let mut chart = flowchart(&plan.tree, &labels);
    if let Some(changes) = changes {
        let s = &changes.structure;
        let added: BTreeSet<&str> = s
            .added
            .iter()
            .map(String::as_str)
            .chain(s.renamed.iter().map(|(_, new)| new.as_str()))
            .collect();
        let changed: BTreeSet<&str> = s
            .nodes_changed
            .iter()
            .chain(&s.order_changed)
            .chain(&s.function_changed)
            .map(String::as_str)
            .filter(|name| !added.contains(name))
            .collect();
        let ids = |names: &BTreeSet<&str>| -> Vec<String> {
            plan.tasks
                .iter()
                .enumerate()
                .filter(|(_, t)| names.contains(t.state.as_str()))
                .map(|(i, _)| format!("t{i}"))
                .collect()
        };
        chart.push_str("  classDef added fill:#dafbe1,stroke:#1a7f37,stroke-width:2px\n");
        chart.push_str("  classDef changed fill:#fff8c5,stroke:#9a6700,stroke-width:2px\n");
        chart.push_str("  classDef removed fill:#ffebe9,stroke:#cf222e,stroke-dasharray:4\n");
        for (class, list) in [("added", ids(&added)), ("changed", ids(&changed))] {
            if !list.is_empty() {
                let _ = writeln!(chart, "  class {} {class}", list.join(","));
            }
        }
        let removed: Vec<&String> = s
            .removed
            .iter()
            .chain(s.renamed.iter().map(|(old, _)| old))
            .collect();
        if !removed.is_empty() {
            chart.push_str("  subgraph gone[\"removed\"]\n");
            for (i, name) in removed.iter().enumerate() {
                let _ = writeln!(chart, "    r{i}[\"{}\"]", mermaid_label(name));
            }
            chart.push_str("  end\n");
            let ids: Vec<String> = (0..removed.len()).map(|i| format!("r{i}")).collect();
            let _ = writeln!(chart, "  class {} removed", ids.join(","));
        }
        if matches!(changes.machine, MachineAction::Create) {
            chart.push_str("  %% a new state machine\n");
        }
    }
    let _ = writeln!(out, "```mermaid\n{chart}```\n");
    if changes.is_some() {
        out.push_str("<sub>green: added · yellow: changed · red: removed</sub>\n\n");
    }
    out
}

/// Cuts `body` to at most `max` characters, keeping its head (with the marker and the
/// status) and its tail (the commit line), with a note saying what was cut. An open code
/// fence in the head is closed so the tail renders.
pub fn truncate(body: &str, max: usize) -> String {
    let length = body.chars().count();
    if length <= max {
        return body.to_string();
    }
    let tail_chars = max / 5;
    let note_reserve = 200;
    let head_chars = max.saturating_sub(tail_chars + note_reserve);
    let head: String = body.chars().take(head_chars).collect();
    let tail: String = body.chars().skip(length - tail_chars).collect();
    // Cut at line ends so no line is half shown.
    let head = head.rfind('\n').map_or(head.as_str(), |i| &head[..=i]);
    let tail = tail.find('\n').map_or(tail.as_str(), |i| &tail[i + 1..]);
    let open_fence = head
        .lines()
        .filter(|l| l.trim_start().starts_with("```"))
        .count()
        % 2
        == 1;
    let mut out = head.to_string();
    if open_fence {
        out.push_str("```\n");
    }
    let cut = length - head.chars().count() - tail.chars().count();
    let _ = write!(
        out,
        "\n> [!NOTE]\n> {cut} characters were cut here: GitHub comments hold at most {max}. plan.json and the job summary have everything.\n\n"
    );
    out.push_str(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_cannot_be_closed_by_a_name() {
        assert_eq!(
            marker("flights-->x"),
            "<!-- kedro-sfn:comment state-machine=flights---x -->"
        );
        assert!(!marker("a-->b").contains("-->b"));
    }

    #[test]
    fn long_bodies_keep_head_and_tail_and_say_so() {
        let mut body = String::from("<!-- marker -->\nstatus\n```diff\n");
        for i in 0..20_000 {
            body.push_str(&format!("+ line {i}\n"));
        }
        body.push_str("```\n<sub>commit abc</sub>\n");
        let cut = truncate(&body, COMMENT_MAX_CHARS);
        assert!(
            cut.chars().count() <= COMMENT_MAX_CHARS,
            "{}",
            cut.chars().count()
        );
        assert!(cut.starts_with("<!-- marker -->\nstatus\n"));
        assert!(cut.ends_with("<sub>commit abc</sub>\n"));
        assert!(cut.contains("characters were cut here"));
        // The head's open diff fence is closed before the note.
        let before_note = &cut[..cut.find("> [!NOTE]").expect("note")];
        assert_eq!(before_note.matches("```").count() % 2, 0);
        let short = "short body\n";
        assert_eq!(truncate(short, COMMENT_MAX_CHARS), short);
    }
}
