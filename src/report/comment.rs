//! The pull-request comment: one per state machine per pull request, found again by a
//! hidden marker. Pure: the plan and the change set in, Markdown out, cut to GitHub's limit.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::pipeline::check::Findings;
use crate::plan::changes::{ChangeSet, MachineAction};
use crate::plan::Plan;

use super::diff::{headline, render as render_changes};
use super::escape::{code, mermaid_label, text};
use super::mermaid::{flowchart, summary_flowchart, task_labels, Mark, SUMMARY_ABOVE};
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
    let deployed_run = input.changes.and_then(|c| c.deployed_run.as_ref());
    let _ = writeln!(
        out,
        "Pipeline {} of **{}**: {} Kedro nodes in {} tasks; {}.\n",
        code(&plan.pipeline),
        text(&plan.project),
        plan.node_count,
        plan.tasks.len(),
        super::run_cost::headline(plan, deployed_run)
    );
    if let Some(changes) = input.changes {
        let _ = writeln!(out, "**{}**\n", text(&headline(changes)));
    }
    for note in input.notes {
        let _ = writeln!(out, "> {}\n", text(note));
    }
    out.push_str(&marked_flowchart(plan, input.changes));
    out.push_str(&super::summary::split_line(plan));
    out.push_str(&super::summary::ecs_tasks_line(plan));
    out.push_str(&super::run_cost::render(plan, deployed_run));
    if let Some(changes) = input.changes {
        out.push_str(&render_changes(plan, changes, input.text_diff));
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

/// Mermaid classes for added, changed and removed boxes: strong fills with white text,
/// readable in light and dark mode, and unlike the pale clusters Mermaid draws for Parallel
/// states.
const MARK_CLASSES: &str =
    "  classDef added fill:#1a7f37,stroke:#0f5323,color:#ffffff,stroke-width:2px
  classDef changed fill:#9a6700,stroke:#633c01,color:#ffffff,stroke-width:2px
  classDef removed fill:#cf222e,stroke:#82071e,color:#ffffff,stroke-dasharray:4
";

/// The state machine drawn with added and changed tasks marked, and removed ones beside it.
/// Above [`SUMMARY_ABOVE`] tasks, one box per group of tasks (the job summary keeps the full
/// picture).
pub fn marked_flowchart(plan: &Plan, changes: Option<&ChangeSet>) -> String {
    let mut out = String::from("### State machine\n\n");
    let structure = changes.map(|c| &c.structure);
    let added: BTreeSet<&str> = structure
        .map(|s| {
            s.added
                .iter()
                .map(String::as_str)
                .chain(s.renamed.iter().map(|(_, new)| new.as_str()))
                .collect()
        })
        .unwrap_or_default();
    let changed: BTreeSet<&str> = structure
        .map(|s| {
            s.nodes_changed
                .iter()
                .chain(&s.order_changed)
                .chain(&s.function_changed)
                .map(String::as_str)
                .filter(|name| !added.contains(name))
                .collect()
        })
        .unwrap_or_default();
    let removed: Vec<&String> = structure
        .map(|s| {
            s.removed
                .iter()
                .chain(s.renamed.iter().map(|(old, _)| old))
                .collect()
        })
        .unwrap_or_default();
    let mut chart;
    if plan.tasks.len() > SUMMARY_ABOVE {
        let marks: Vec<Mark> = plan
            .tasks
            .iter()
            .map(|t| {
                if added.contains(t.state.as_str()) {
                    Mark::Added
                } else if changed.contains(t.state.as_str()) {
                    Mark::Changed
                } else {
                    Mark::Same
                }
            })
            .collect();
        let (summary, marked) = summary_flowchart(plan, &marks);
        chart = summary;
        if changes.is_some() {
            chart.push_str(MARK_CLASSES);
            for (class, mark) in [("added", Mark::Added), ("changed", Mark::Changed)] {
                let ids: Vec<&str> = marked
                    .iter()
                    .filter(|(_, m)| *m == mark)
                    .map(|(id, _)| id.as_str())
                    .collect();
                if !ids.is_empty() {
                    let _ = writeln!(chart, "  class {} {class}", ids.join(","));
                }
            }
        }
        let _ = writeln!(
            out,
            "_{} tasks, drawn one box per group; the job summary has the full picture._\n",
            plan.tasks.len()
        );
    } else {
        let labels = task_labels(plan);
        chart = flowchart(&plan.tree, &labels);
        if changes.is_some() {
            let ids = |names: &BTreeSet<&str>| -> Vec<String> {
                plan.tasks
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| names.contains(t.state.as_str()))
                    .map(|(i, _)| format!("t{i}"))
                    .collect()
            };
            chart.push_str(MARK_CLASSES);
            for (class, list) in [("added", ids(&added)), ("changed", ids(&changed))] {
                if !list.is_empty() {
                    let _ = writeln!(chart, "  class {} {class}", list.join(","));
                }
            }
        }
    }
    if !removed.is_empty() {
        chart.push_str("  subgraph gone[\"removed\"]\n");
        for (i, name) in removed.iter().take(SUMMARY_ABOVE).enumerate() {
            let _ = writeln!(chart, "    r{i}[\"{}\"]", mermaid_label(name));
        }
        chart.push_str("  end\n");
        let shown = removed.len().min(SUMMARY_ABOVE);
        let ids: Vec<String> = (0..shown).map(|i| format!("r{i}")).collect();
        let _ = writeln!(chart, "  class {} removed", ids.join(","));
    }
    if changes.is_some_and(|c| matches!(c.machine, MachineAction::Create)) {
        chart.push_str("  %% a new state machine\n");
    }
    let _ = writeln!(out, "```mermaid\n{chart}```\n");
    if changes.is_some() {
        out.push_str("<sub>green: added · amber: changed · red: removed</sub>\n\n");
    }
    out
}

/// Cuts `body` to at most `max` characters, keeping its head (with the marker and the
/// status) and its tail (the footer), with a note saying what was cut. The result is still
/// valid Markdown: the head's open code fence and `<details>` are closed, and the tail
/// starts where no fence or `<details>` is open, so it renders as written.
pub fn truncate(body: &str, max: usize) -> String {
    let length = body.chars().count();
    if length <= max {
        return body.to_string();
    }
    let tail_chars = max / 5;
    let note_reserve = 300;
    let head_budget = max.saturating_sub(tail_chars + note_reserve);
    let lines = scan(body);
    // The head: whole lines within the budget; then what closes what is open there.
    let head_end = lines
        .iter()
        .take_while(|line| line.end_chars <= head_budget)
        .last()
        .map_or(0, |line| line.end_byte);
    let head = &body[..head_end];
    let open = lines
        .iter()
        .take_while(|line| line.end_byte <= head_end)
        .last()
        .map(|line| line.after.clone())
        .unwrap_or_default();
    // The tail: from the first line at top level within its budget.
    let tail_start = lines
        .iter()
        .filter(|line| line.start_chars >= length - tail_chars && line.before.is_top_level())
        .map(|line| line.start_byte)
        .next()
        .unwrap_or(body.len());
    let tail = &body[tail_start..];
    let mut out = head.to_string();
    if let Some(fence) = &open.fence {
        let _ = writeln!(out, "{fence}");
    }
    for _ in 0..open.details {
        out.push_str("</details>\n");
    }
    let cut = length - head.chars().count() - tail.chars().count();
    let _ = write!(
        out,
        "\n> [!NOTE]\n> {cut} characters were cut here: GitHub comments hold at most {max}. plan.json and the job summary have everything.\n\n"
    );
    out.push_str(tail);
    out
}

/// What is open at a point of a Markdown body.
#[derive(Debug, Clone, Default, PartialEq)]
struct Open {
    /// The backticks that opened the current code fence.
    fence: Option<String>,
    /// How many `<details>` are open (outside fences).
    details: usize,
}

impl Open {
    fn is_top_level(&self) -> bool {
        self.fence.is_none() && self.details == 0
    }
}

/// One line of the body with its place (bytes and characters) and what is open before
/// and after it.
struct Line {
    start_byte: usize,
    end_byte: usize,
    start_chars: usize,
    end_chars: usize,
    before: Open,
    after: Open,
}

fn scan(body: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut open = Open::default();
    let (mut byte, mut chars) = (0, 0);
    for text in body.split_inclusive('\n') {
        let before = open.clone();
        let trimmed = text.trim();
        let ticks = trimmed.chars().take_while(|&c| c == '`').count();
        match &open.fence {
            Some(fence) if ticks >= fence.len() && trimmed.len() == ticks => open.fence = None,
            Some(_) => {}
            None if ticks >= 3 => open.fence = Some("`".repeat(ticks)),
            None => {
                open.details += trimmed.matches("<details>").count();
                open.details = open
                    .details
                    .saturating_sub(trimmed.matches("</details>").count());
            }
        }
        let count = text.chars().count();
        lines.push(Line {
            start_byte: byte,
            end_byte: byte + text.len(),
            start_chars: chars,
            end_chars: chars + count,
            before,
            after: open.clone(),
        });
        byte += text.len();
        chars += count;
    }
    lines
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
        // The head's open diff fence is closed before the note, and the tail does not
        // start inside the fence (its closing line would open a new one).
        let before_note = &cut[..cut.find("> [!NOTE]").expect("note")];
        assert_eq!(before_note.matches("```").count() % 2, 0);
        assert_eq!(
            cut.matches("```").count() % 2,
            0,
            "{}",
            &cut[cut.len() - 300..]
        );
        let short = "short body\n";
        assert_eq!(truncate(short, 100), short);
        assert_eq!(truncate(short, COMMENT_MAX_CHARS), short);
    }
}

#[cfg(test)]
mod truncation {
    use super::*;

    /// Checks what GitHub would render: fences balanced (by their own backtick runs),
    /// `<details>` closed, the footer last.
    fn assert_valid(cut: &str) {
        let lines = scan(cut);
        let end = lines.last().map(|l| l.after.clone()).unwrap_or_default();
        assert!(end.is_top_level(), "left open: {end:?}\n{cut}");
        assert!(cut.trim_end().ends_with("<sub>footer</sub>"), "{cut}");
    }

    #[test]
    fn a_cut_inside_details_and_a_long_fence_stays_valid_markdown() {
        let mut body =
            String::from("<!-- m -->\n## status\n\n<details><summary>diff</summary>\n\n````diff\n");
        for i in 0..5_000 {
            body.push_str(&format!("+ \"a\": \"```{i}```\"\n"));
        }
        body.push_str("````\n\n</details>\n\n<sub>footer</sub>\n");
        for max in [2_000, 10_000, 65_536] {
            let cut = truncate(&body, max);
            assert!(cut.chars().count() <= max, "{max}: {}", cut.chars().count());
            assert!(cut.contains("characters were cut here"));
            assert_valid(&cut);
        }
    }

    #[test]
    fn a_thousand_task_change_set_truncates_to_valid_markdown() {
        let dag = crate::synthetic::random_dag(1_000, 4, 0.5, &mut crate::synthetic::Rng::new(7));
        let doc = crate::synthetic::doc_from_dag(&dag, &|i| format!("node_{i:04}"));
        let config = crate::config::Config::default();
        let plan = crate::plan::draft(&doc, &config).expect("plans");
        let target = crate::plan::changes::Target::with_image(None);
        let changes = crate::plan::changes::changes(&plan, &Default::default(), &target);
        let diff = crate::report::diff::definition_diff(None, &changes.definition);
        let body = render_comment(&CommentInput {
            plan: &plan,
            changes: Some(&changes),
            text_diff: &diff,
            commit: "abc",
            notes: &[],
        });
        assert!(
            body.contains("characters were cut here"),
            "not cut: {}",
            body.len()
        );
        assert!(body.chars().count() <= COMMENT_MAX_CHARS);
        let end = scan(&body)
            .last()
            .map(|l| l.after.clone())
            .unwrap_or_default();
        assert!(end.is_top_level(), "left open: {end:?}");
        assert!(
            body.trim_end().ends_with("by kedro-sfn.</sub>"),
            "{}",
            &body[body.len() - 500..]
        );
    }

    #[test]
    fn the_comment_shows_what_the_change_does_to_one_run() {
        let dag = crate::synthetic::random_dag(12, 3, 0.5, &mut crate::synthetic::Rng::new(3));
        let doc = crate::synthetic::doc_from_dag(&dag, &|i| format!("node_{i:02}"));
        let plan = crate::plan::draft(&doc, &crate::config::Config::default()).expect("plans");
        // Deployed: the same machine, its functions gone (Lambda's 128 MB defaults), so the
        // planned 1,024 MB functions cost more per run and take as long.
        let deployment = crate::plan::changes::Deployment {
            machine: Some(crate::plan::changes::DeployedMachine {
                arn: "arn:aws:states:eu-west-1:123456789012:stateMachine:m".into(),
                role_arn: String::new(),
                definition: plan.definition.clone(),
                alias_version_arn: None,
                logging: serde_json::Value::Null,
                tracing: false,
                tags: Default::default(),
                served_since_ms: None,
            }),
            functions: Default::default(),
            task_definitions: Default::default(),
            children: Default::default(),
        };
        let target = crate::plan::changes::Target::with_image(None);
        let changes = crate::plan::changes::changes(&plan, &deployment, &target);
        let deployed = changes.deployed_run.as_ref().expect("a deployed run");
        assert_eq!(deployed.run_time_s, plan.timing.estimate.run_time_s);
        assert!(deployed.total_usd < plan.timing.estimate.total_usd);
        let body = render_comment(&CommentInput {
            plan: &plan,
            changes: Some(&changes),
            text_diff: "",
            commit: "abc",
            notes: &[],
        });
        let delta =
            super::super::run_cost::usd(plan.timing.estimate.total_usd - deployed.total_usd);
        assert!(
            body.contains(&format!("(±0 s, +{delta} against the deployed machine)")),
            "{body}"
        );
        assert!(
            body.contains("| One run | Deployed | Planned | Change |"),
            "{body}"
        );
        assert!(
            body.contains(&format!(
                "| Run time | {0} | {0} | ±0 s |",
                super::super::run_cost::seconds(deployed.run_time_s)
            )),
            "{body}"
        );
    }
}
