//! The pull-request comment: one per state machine per pull request, found again by a
//! hidden marker. Pure: the plan and the change set in, Markdown out, cut to GitHub's limit.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::pipeline::check::Findings;
use crate::plan::changes::ChangeSet;
use crate::plan::Plan;

use super::diff::{alerts, render as render_changes};
use super::escape::{code, mermaid_label, text};
use super::mermaid::{
    flowchart, neighbourhood_flowchart, summary_flowchart, task_labels, Mark, WHOLE_DRAWN_UP_TO,
};
use super::review::{counted, verdict, Review, RowKind};
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
    /// What changes in each changed Task state ([`super::diff::task_diff`]).
    pub task_diff: &'a str,
    /// The commit the plan was made for.
    pub commit: &'a str,
    /// The workflow run that made it, linked from the footer and the cut notice.
    pub run_url: Option<&'a str>,
    /// Said under the status line (e.g. why the plan is offline).
    pub notes: &'a [String],
    /// When the comment is made: the schedules' next runs are counted from it.
    pub now: chrono::DateTime<chrono::Utc>,
}

/// The comment for a plan: the verdict in the title, then what is destroyed, what changes,
/// what it costs, the picture, and the details folded.
pub fn render_comment(input: &CommentInput) -> String {
    let plan = input.plan;
    let review = input.changes.map(|changes| Review::of(plan, changes));
    let mut out = marker(&plan.state_machine.name);
    out.push('\n');
    let status = match (input.changes, &review) {
        (Some(changes), Some(review)) => verdict(plan, changes, review),
        _ => "📝 plan only (not compared with AWS)".to_string(),
    };
    let _ = writeln!(
        out,
        "## kedro-sfn: {} — {}\n",
        code(&plan.state_machine.name),
        text(&status)
    );
    let _ = writeln!(
        out,
        "Pipeline {} of **{}**: {} Kedro nodes in {}.\n",
        code(&plan.pipeline),
        text(&plan.project),
        plan.node_count,
        super::review::counted(plan.tasks.len(), "task", "tasks"),
    );
    for note in input.notes {
        let _ = writeln!(out, "> {}\n", text(note));
    }
    if let (Some(changes), Some(review)) = (input.changes, &review) {
        out.push_str(&alerts(changes, review));
        if !changes.is_empty() {
            out.push_str(&render_changes(
                plan,
                changes,
                review,
                input.task_diff,
                None,
            ));
        }
    }
    let deployed_run = input.changes.and_then(|c| c.deployed_run.as_ref());
    out.push_str(&super::run_cost::render(plan, deployed_run));
    out.push_str(&super::operations::render(plan, input.changes, input.now));
    out.push_str(&marked_flowchart(plan, input.changes, review.as_ref()));
    out.push_str(&super::summary::split_line(plan));
    out.push_str(&super::summary::ecs_tasks_line(plan));
    if !plan.findings.problems.is_empty() {
        out.push_str(&render_findings(&plan.findings));
        out.push('\n');
    }
    out.push_str(&footer("Planned for commit", input.commit, input.run_url));
    truncate(&out, COMMENT_MAX_CHARS, input.run_url)
}

/// The last line: which commit, and the run that has everything.
pub fn footer(lead: &str, commit: &str, run_url: Option<&str>) -> String {
    let run = run_url
        .map(|url| format!(" in [workflow run]({url})"))
        .unwrap_or_default();
    format!("<sub>{lead} {} by kedro-sfn{run}.</sub>\n", code(commit))
}

/// The comment for a pipeline the checks refused.
pub fn render_refusal_comment(
    state_machine: &str,
    findings: &Findings,
    commit: &str,
    run_url: Option<&str>,
) -> String {
    let mut out = marker(state_machine);
    let _ = writeln!(
        out,
        "\n## kedro-sfn: {} — ❌ refused\n\nThe pipeline cannot run on Step Functions as configured: {} error(s).\n",
        code(state_machine),
        findings.errors().count()
    );
    out.push_str(&render_findings(findings));
    out.push('\n');
    out.push_str(&footer("Checked for commit", commit, run_url));
    truncate(&out, COMMENT_MAX_CHARS, run_url)
}

/// Mermaid classes for added, changed and removed boxes: strong fills with white text,
/// readable in light and dark mode, and unlike the pale clusters Mermaid draws for Parallel
/// states.
const MARK_CLASSES: &str =
    "  classDef added fill:#1a7f37,stroke:#0f5323,color:#ffffff,stroke-width:2px
  classDef changed fill:#9a6700,stroke:#633c01,color:#ffffff,stroke-width:2px
  classDef removed fill:#cf222e,stroke:#82071e,color:#ffffff,stroke-dasharray:4
";

/// Removed tasks drawn as boxes at most; the rest are counted in one more box.
const REMOVED_DRAWN: usize = 8;

/// The picture of the change: the whole machine while it is small enough to read at a
/// comment's width; past that, the changed tasks and their direct neighbours (the rest
/// counted); past that too, one box per group of tasks. Added and changed tasks are marked,
/// removed ones drawn beside it.
/// `review` is `changes` as [`Review::of`] reads it (made once per comment).
pub fn marked_flowchart(
    plan: &Plan,
    changes: Option<&ChangeSet>,
    review: Option<&Review>,
) -> String {
    let of_kind = |kind: RowKind| -> BTreeSet<&str> {
        review
            .iter()
            .flat_map(|r| &r.rows)
            .filter(|row| row.kind == kind)
            .map(|row| row.state.as_str())
            .collect()
    };
    let (added, changed, removed) = (
        of_kind(RowKind::Added),
        of_kind(RowKind::Changed),
        of_kind(RowKind::Deleted),
    );
    let first_deploy = review.as_ref().is_some_and(|r| r.first_deploy);
    let marks: Vec<Mark> = plan
        .tasks
        .iter()
        .map(|t| {
            // On a first deploy every task is new: nothing to tell apart.
            if first_deploy {
                Mark::Same
            } else if added.contains(t.state.as_str()) {
                Mark::Added
            } else if changed.contains(t.state.as_str()) {
                Mark::Changed
            } else {
                Mark::Same
            }
        })
        .collect();
    let focus: BTreeSet<usize> = marks
        .iter()
        .enumerate()
        .filter(|(_, m)| **m != Mark::Same)
        .map(|(t, _)| t)
        .collect();
    let mut out = String::from("### State machine\n\n");
    let (mut chart, marked) = if plan.tasks.len() <= WHOLE_DRAWN_UP_TO {
        let chart = flowchart(&plan.tree, &task_labels(plan));
        let marked = focus.iter().map(|&t| (format!("t{t}"), marks[t])).collect();
        (chart, marked)
    } else if !first_deploy && focus.is_empty() && changes.is_some() {
        // Nothing added or changed: only what is removed, if anything, is worth a picture.
        if removed.is_empty() {
            return String::new();
        }
        (String::from("flowchart TD\n"), Vec::new())
    } else if let Some(picture) = (!first_deploy && !focus.is_empty())
        .then(|| neighbourhood_flowchart(plan, &focus, &marks, &new_reads(plan, changes)))
        .flatten()
    {
        let _ = writeln!(
            out,
            "_{} and the {} they read from or feed, of {} (an arrow: a task reads the other's outputs)._\n",
            counted(focus.len(), "changed task", "changed tasks"),
            counted(picture.neighbours, "task", "tasks"),
            plan.tasks.len()
        );
        (picture.chart, picture.marked)
    } else {
        let _ = writeln!(
            out,
            "_{} tasks, drawn one box per group; every task is in `state-machine.asl.json`._\n",
            plan.tasks.len()
        );
        summary_flowchart(plan, &marks)
    };
    if changes.is_some() && !first_deploy {
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
    if !removed.is_empty() {
        chart.push_str("  subgraph gone[\"removed\"]\n");
        let mut ids = Vec::new();
        for (i, name) in removed.iter().take(REMOVED_DRAWN).enumerate() {
            let _ = writeln!(chart, "    r{i}[\"{}\"]", mermaid_label(name));
            ids.push(format!("r{i}"));
        }
        if removed.len() > REMOVED_DRAWN {
            let _ = writeln!(
                chart,
                "    rmore[\"+{} more removed\"]",
                removed.len() - REMOVED_DRAWN
            );
            ids.push("rmore".to_string());
        }
        chart.push_str("  end\n");
        let _ = writeln!(chart, "  class {} removed", ids.join(","));
    }
    let _ = writeln!(out, "```mermaid\n{chart}```\n");
    if changes.is_some() && !first_deploy {
        out.push_str("<sub>green: added · amber: changed · red: removed</sub>\n\n");
    }
    out
}

/// The dependencies a change adds to tasks that stay, by task index: (read, reader).
fn new_reads(plan: &Plan, changes: Option<&ChangeSet>) -> BTreeSet<(usize, usize)> {
    let index: std::collections::BTreeMap<&str, usize> = plan
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| (t.state.as_str(), i))
        .collect();
    changes
        .iter()
        .flat_map(|c| &c.structure.reads_changed)
        .flat_map(|(reader, change)| change.added.iter().map(move |read| (read, reader)))
        .filter_map(|(read, reader)| {
            Some((*index.get(read.as_str())?, *index.get(reader.as_str())?))
        })
        .collect()
}

/// Cuts `body` to at most `max` characters, keeping its head (with the marker and the
/// status) and its tail (the footer), with a note saying what was cut. The result is still
/// valid Markdown: the head's open code fence and `<details>` are closed, and the tail
/// starts where no fence or `<details>` is open, so it renders as written.
pub fn truncate(body: &str, max: usize, run_url: Option<&str>) -> String {
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
    let whole = match run_url {
        Some(url) => format!("the job summary of [the workflow run]({url}) shows more, and `plan.json` (the action's `plan-json` output, to upload as an artifact) has all of it"),
        None => "`summary.md` shows more, and `plan.json` beside it has all of it".to_string(),
    };
    let _ = write!(
        out,
        "\n> [!NOTE]\n> {cut} characters were cut here (GitHub holds at most {max} in a comment): {whole}.\n\n"
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
        let cut = truncate(&body, COMMENT_MAX_CHARS, None);
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
        assert_eq!(truncate(short, 100, None), short);
        assert_eq!(truncate(short, COMMENT_MAX_CHARS, None), short);
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
            let cut = truncate(&body, max, None);
            assert!(cut.chars().count() <= max, "{max}: {}", cut.chars().count());
            assert!(cut.contains("characters were cut here"));
            assert_valid(&cut);
        }
    }

    #[test]
    fn a_thousand_task_first_deploy_fits_without_a_cut() {
        let dag = crate::synthetic::random_dag(1_000, 4, 0.5, &mut crate::synthetic::Rng::new(7));
        let doc = crate::synthetic::doc_from_dag(&dag, &|i| format!("node_{i:04}"));
        let config = crate::config::Config::default();
        let plan = crate::plan::draft(&doc, &config).expect("plans");
        let target = crate::plan::changes::Target::with_image(None);
        let changes = crate::plan::changes::changes(&plan, &Default::default(), &target);
        let body = render_comment(&CommentInput {
            now: chrono::Utc::now(),
            plan: &plan,
            changes: Some(&changes),
            task_diff: "",
            run_url: None,
            commit: "abc",
            notes: &[],
        });
        // Folded lists and a picture of groups: no cut, and far from GitHub's limit.
        assert!(!body.contains("characters were cut here"));
        assert!(
            body.chars().count() < COMMENT_MAX_CHARS / 2,
            "{}",
            body.len()
        );
        let end = scan(&body)
            .last()
            .map(|l| l.after.clone())
            .unwrap_or_default();
        assert!(end.is_top_level(), "left open: {end:?}");
        assert!(body.trim_end().ends_with("by kedro-sfn.</sub>"));
    }

    #[test]
    fn the_comment_shows_what_the_change_does_to_one_run() {
        let dag = crate::synthetic::random_dag(12, 3, 0.5, &mut crate::synthetic::Rng::new(3));
        let doc = crate::synthetic::doc_from_dag(&dag, &|i| format!("node_{i:02}"));
        let plan = crate::plan::draft(&doc, &crate::config::Config::default()).expect("plans");
        // Deployed: the same machine, its functions gone (Lambda's 128 MB defaults), so the
        // planned 1,024 MB functions cost more per run and take as long.
        let deployment = crate::plan::changes::Deployment {
            operations: Default::default(),
            versions: Vec::new(),
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
            now: chrono::Utc::now(),
            plan: &plan,
            changes: Some(&changes),
            task_diff: "",
            run_url: None,
            commit: "abc",
            notes: &[],
        });
        let delta =
            super::super::run_cost::usd(plan.timing.estimate.total_usd - deployed.total_usd);
        let percent =
            (plan.timing.estimate.total_usd - deployed.total_usd) / deployed.total_usd * 100.0;
        assert!(percent > 10.0, "{percent}");
        assert!(
            body.contains(&format!(
                "| **Total** | {} | {} | +{delta} (+{percent:.0} %) |",
                super::super::run_cost::usd(deployed.total_usd),
                super::super::run_cost::usd(plan.timing.estimate.total_usd)
            )),
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
