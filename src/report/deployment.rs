//! The deployment record: what a deploy did, where reviewers look (the pull request's sticky
//! comment, which it turns from a plan into a record, and the job summary). Pure: the change
//! set and what the deploy reported in, Markdown out.

use std::fmt::Write;

use crate::plan::changes::{ChangeSet, FunctionAction, OperationsChanges};
use crate::plan::definition::arns::version_number;

use super::comment::{footer, marker, truncate, COMMENT_MAX_CHARS};
use super::escape::{code, prose, text};
use super::timeline::Timeline;
use crate::plan::Plan;

/// An execution started after the deploy.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecutionLine {
    pub name: String,
    /// `SUCCEEDED`, `FAILED: ...`, or `started` when not followed.
    pub status: String,
    pub console: String,
    /// The Task state that failed, when it failed and that is known.
    pub failed_task: Option<String>,
    /// Its tasks' times, when it was followed to its end.
    pub timeline: Option<Timeline>,
}

/// What one deploy did.
#[derive(Debug, Clone)]
pub struct DeploymentRecord<'a> {
    pub state_machine: &'a str,
    pub alias: &'a str,
    pub commit: &'a str,
    pub changes: &'a ChangeSet,
    /// `None` when the deploy succeeded; else its error, which names the failing resource.
    pub failure: Option<&'a str>,
    /// The version the alias served before the deploy, and after it.
    pub version_before: Option<&'a str>,
    pub version_after: Option<&'a str>,
    pub image_uri: Option<&'a str>,
    pub seconds: f64,
    pub execution: Option<ExecutionLine>,
    /// New function versions probed before the alias moved, and how long that took.
    pub probes: Option<(usize, f64)>,
    /// The workflow run that deployed, linked from the footer.
    pub run_url: Option<&'a str>,
    /// The plan deployed: what a followed run is measured against.
    pub plan: Option<&'a Plan>,
}

/// The schedules that start the alias (they follow a rollback) and where failures go, with
/// what this deploy did to them; `None` when there are none and none were removed.
fn operations_row(plan: &Plan, changes: &OperationsChanges) -> Option<String> {
    let ops = &plan.operations;
    if ops.is_empty() {
        return (!changes.is_empty()).then(|| format!("all removed ({} deleted)", changes.count()));
    }
    let mut parts: Vec<String> = ops
        .schedules
        .iter()
        .map(|s| {
            let paused = if s.enabled { "" } else { ", paused" };
            format!(
                "{} ({} {}{paused})",
                code(&s.name),
                code(&s.expression),
                text(&s.timezone)
            )
        })
        .collect();
    if let Some(alert) = &ops.alert {
        parts.push(format!("failures to {}", code(&alert.topic_arn)));
    }
    if changes.count() > 0 {
        parts.push(format!("{} change(s) applied", changes.count()));
    }
    Some(parts.join(" · "))
}

/// The summary line under which the reviewed plan is kept.
const REVIEWED: &str = "<summary>The plan that was reviewed</summary>";

/// The record, with the plan that was reviewed (a comment's body, or summary.md) kept below
/// it, collapsed.
pub fn render_deployment(record: &DeploymentRecord, reviewed_plan: Option<&str>) -> String {
    let mut out = marker(record.state_machine);
    out.push('\n');
    let status = match record.failure {
        None if record.changes.is_empty() => "✅ deployed: nothing changed",
        None => "🚀 deployed",
        Some(_) => "❌ deploy failed",
    };
    let _ = writeln!(
        out,
        "## kedro-sfn: {} — {status}\n",
        code(record.state_machine)
    );
    if let Some(error) = record.failure {
        let _ = writeln!(
            out,
            "> [!CAUTION]\n> The deploy stopped: {}\n>\n> The alias kept serving what it served before; what was created or updated is listed in the job's log.\n",
            prose(&error.replace('\n', " "))
        );
    }
    out.push_str("| Deployment | |\n|---|---|\n");
    let serves = match (record.version_after, record.version_before) {
        (Some(after), Some(before)) if after != before => {
            format!("{} (before: {})", code(short(after)), code(short(before)))
        }
        (Some(after), _) => code(short(after)),
        (None, Some(before)) => format!("{} (unchanged)", code(short(before))),
        (None, None) => "nothing".into(),
    };
    let _ = writeln!(out, "| Alias {} serves | {serves} |", code(record.alias));
    if let Some(uri) = record.image_uri {
        let digest = uri.split_once('@').map_or(uri, |(_, digest)| digest);
        let _ = writeln!(out, "| Image | {} |", code(digest));
    }
    let _ = writeln!(out, "| Functions | {} |", function_counts(record.changes));
    let retention = &record.changes.retention;
    if !retention.deleted_versions.is_empty() || !retention.kept_for_rollback.is_empty() {
        let mut kept = Vec::new();
        if !retention.deleted_versions.is_empty() {
            kept.push(format!(
                "{} older version(s) deleted",
                retention.deleted_versions.len()
            ));
        }
        if !retention.kept_for_rollback.is_empty() {
            kept.push(format!(
                "kept while a kept version calls them: {}",
                super::review::list(&retention.kept_for_rollback, 10)
            ));
        }
        let _ = writeln!(out, "| Rollback | {} |", kept.join(" · "));
    }
    if let Some(plan) = record.plan {
        if let Some(row) = operations_row(plan, &record.changes.operations) {
            let _ = writeln!(out, "| Schedules and alert | {row} |");
        }
    }
    if let Some((count, seconds)) = record.probes.filter(|(count, _)| *count > 0) {
        let _ = writeln!(
            out,
            "| Probed | {count} new function version(s) loaded their project and nodes, in {seconds:.1} s, before the alias moved |"
        );
    }
    let _ = writeln!(out, "| Took | {:.1} s |", record.seconds);
    if let Some(execution) = &record.execution {
        let _ = writeln!(
            out,
            "| Execution | {}: {} ([console]({})) |",
            code(&execution.name),
            text(&execution.status),
            execution.console
        );
    }
    out.push('\n');
    if let Some(execution) = &record.execution {
        if let Some(timeline) = &execution.timeline {
            out.push_str(&super::run_chart::render(
                record.plan,
                timeline,
                execution.failed_task.as_deref(),
            ));
        }
    }
    let changed = changed_functions(record.changes);
    if !changed.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Functions changed</summary>\n\n{}\n</details>\n",
            changed
        );
    }
    if let Some(before) = record.version_before.and_then(version_number) {
        if record.failure.is_none() && record.version_after != record.version_before {
            let _ = writeln!(
                out,
                "To go back: `kedro-sfn rollback --state-machine-name {} --to {before}`\n",
                record.state_machine
            );
        }
    }
    if let Some(plan) = reviewed_plan {
        let _ = writeln!(
            out,
            "<details>{REVIEWED}\n\n{}\n\n</details>\n",
            plan.trim()
        );
    }
    out.push_str(&footer("Deployed commit", record.commit, record.run_url));
    truncate(&out, COMMENT_MAX_CHARS, record.run_url)
}

/// The plan part of an existing comment: a plan comment without its marker, or the plan a
/// record already keeps (a second deploy of the same pull request keeps the first plan, not
/// a record inside a record).
pub fn reviewed_plan(comment: &str) -> String {
    if let Some(start) = comment.find(REVIEWED) {
        let inner = &comment[start + REVIEWED.len()..];
        let end = inner.rfind("</details>").unwrap_or(inner.len());
        return inner[..end].trim().to_string();
    }
    comment
        .lines()
        .filter(|line| !line.starts_with("<!-- kedro-sfn:comment"))
        .collect::<Vec<_>>()
        .join("\n")
        .trim()
        .to_string()
}

/// `arn:…:stateMachine:NAME:3` -> `NAME:3`: what a reviewer compares.
fn short(version_arn: &str) -> &str {
    version_arn
        .split_once(":stateMachine:")
        .map_or(version_arn, |(_, name)| name)
}

fn function_counts(changes: &ChangeSet) -> String {
    let tally = changes.tally();
    let count = |key: &str| tally.get(key).copied().unwrap_or(0);
    format!(
        "{} created, {} updated, {} deleted, {} unchanged",
        count("create"),
        count("update"),
        count("delete"),
        count("keep")
    )
}

fn changed_functions(changes: &ChangeSet) -> String {
    let functions = changes
        .functions
        .iter()
        .map(|f| (f.name.as_str(), f.state.as_str(), &f.action, ""));
    let ecs_tasks = changes.ecs_tasks.iter().map(|t| {
        (
            t.family.as_str(),
            t.state.as_str(),
            &t.action,
            " (ECS task definition)",
        )
    });
    let lines: Vec<String> = functions
        .chain(ecs_tasks)
        .filter_map(|(name, state, action, kind)| {
            let what = match action {
                FunctionAction::Create => "created",
                FunctionAction::Update { code: true, .. } => "new code",
                FunctionAction::Update { .. } => "updated",
                FunctionAction::Delete => "deleted",
                FunctionAction::Keep => return None,
            };
            Some(format!("- {}{kind} ({}): {what}", code(name), code(state)))
        })
        .collect();
    let mut out: Vec<String> = lines.iter().take(FUNCTIONS_LISTED).cloned().collect();
    if lines.len() > FUNCTIONS_LISTED {
        out.push(format!(
            "- +{} more: `deploy.json` lists every one",
            lines.len() - FUNCTIONS_LISTED
        ));
    }
    out.join("\n")
}

/// Functions listed in the record (folded) at most: a comment holds 65,536 characters.
const FUNCTIONS_LISTED: usize = 150;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_keeps_the_first_reviewed_plan_and_only_that() {
        let plan = "<!-- kedro-sfn:comment state-machine=m -->\n## kedro-sfn: `m` — 📝 2 change(s)\n\nthe plan";
        assert_eq!(
            reviewed_plan(plan),
            "## kedro-sfn: `m` — 📝 2 change(s)\n\nthe plan"
        );
        let record = format!(
            "<!-- x -->\n## deployed\n<details>{REVIEWED}\n\nthe plan\n\n</details>\n<sub>x</sub>"
        );
        assert_eq!(reviewed_plan(&record), "the plan");
    }
}

#[cfg(test)]
mod rendering {
    use super::*;
    use crate::plan::changes::{FunctionChange, MachineAction, StructuralDiff};

    fn changes() -> ChangeSet {
        let function = |name: &str, action| FunctionChange {
            name: format!("m-{name}"),
            state: name.into(),
            action,
            version: Some(2),
        };
        ChangeSet {
            operations: Default::default(),
            retention: Default::default(),
            ecs_tasks: vec![],
            children: vec![],
            functions: vec![
                function(
                    "train",
                    FunctionAction::Update {
                        code: true,
                        configuration: vec![],
                    },
                ),
                function("split", FunctionAction::Create),
                function("report", FunctionAction::Keep),
            ],
            machine: MachineAction::Update {
                reasons: vec!["definition".into()],
            },
            clashes: vec![],
            definition: serde_json::json!({}),
            structure: StructuralDiff::default(),
            deployed_run: None,
        }
    }

    fn record<'a>(changes: &'a ChangeSet, failure: Option<&'a str>) -> DeploymentRecord<'a> {
        DeploymentRecord {
            state_machine: "m",
            alias: "live",
            commit: "0123abc",
            changes,
            failure,
            version_before: Some("arn:aws:states:eu-west-1:1:stateMachine:m:2"),
            version_after: failure
                .is_none()
                .then_some("arn:aws:states:eu-west-1:1:stateMachine:m:3"),
            image_uri: Some("1.dkr.ecr.eu-west-1.amazonaws.com/m@sha256:abc"),
            seconds: 12.34,
            execution: Some(ExecutionLine {
                name: "run-1".into(),
                status: "SUCCEEDED".into(),
                console: "https://console.aws.amazon.com/x".into(),
                failed_task: None,
                timeline: None,
            }),
            probes: failure.is_none().then_some((2, 1.25)),
            run_url: None,
            plan: None,
        }
    }

    #[test]
    fn a_deployed_record_names_versions_image_functions_and_the_way_back() {
        let changes = changes();
        let body = render_deployment(&record(&changes, None), Some("## the plan"));
        assert!(body.starts_with("<!-- kedro-sfn:comment state-machine=m -->"));
        assert!(body.contains("🚀 deployed"));
        assert!(body.contains("`m:3` (before: `m:2`)"), "{body}");
        assert!(body.contains("| Image | `sha256:abc` |"), "{body}");
        assert!(
            body.contains("1 created, 1 updated, 0 deleted, 1 unchanged"),
            "{body}"
        );
        assert!(body.contains("`m-train` (`train`): new code"), "{body}");
        assert!(
            body.contains("`kedro-sfn rollback --state-machine-name m --to 2`"),
            "{body}"
        );
        assert!(body.contains("`run-1`: SUCCEEDED"), "{body}");
        assert!(
            body.contains("| Probed | 2 new function version(s) loaded their project and nodes, in 1.2 s, before the alias moved |"),
            "{body}"
        );
        assert_eq!(
            body.matches("<details>").count(),
            body.matches("</details>").count()
        );
        assert!(body
            .trim_end()
            .ends_with("<sub>Deployed commit `0123abc` by kedro-sfn.</sub>"));
    }

    #[test]
    fn a_failed_record_says_so_and_offers_no_rollback() {
        let changes = changes();
        let error =
            "updating function m-train: ResourceConflictException: an update is in progress";
        let body = render_deployment(&record(&changes, Some(error)), None);
        assert!(body.contains("❌ deploy failed"), "{body}");
        assert!(body.contains("ResourceConflictException"), "{body}");
        assert!(body.contains("(unchanged)"), "{body}");
        assert!(!body.contains("kedro-sfn rollback"), "{body}");
    }

    #[test]
    fn a_followed_run_is_drawn_with_its_measured_time_and_cost() {
        let changes = changes();
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/spaceflights.aws.pipeline.json"
        );
        let doc: crate::pipeline::PipelineDoc =
            serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("doc");
        let plan = crate::plan::draft(&doc, &crate::config::Config::default()).expect("plans");
        // Each task ran 2 s, one after the other; the last one failed.
        let spans: Vec<crate::report::timeline::TaskSpan> = plan
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| crate::report::timeline::TaskSpan {
                state: t.state.clone(),
                start_s: 1_000.0 + 2.0 * i as f64,
                end_s: (i + 1 < plan.tasks.len()).then_some(1_002.0 + 2.0 * i as f64),
            })
            .collect();
        let failed = plan.tasks.last().expect("tasks").state.clone();
        let mut record = record(&changes, None);
        record.plan = Some(&plan);
        if let Some(execution) = &mut record.execution {
            execution.failed_task = Some(failed.clone());
            execution.timeline = Some(Timeline { spans, waits: None });
        }
        let body = render_deployment(&record, None);
        assert!(body.contains("### The run"), "{body}");
        assert!(body.contains("| This run | Planned | Measured |"), "{body}");
        // Six tasks of 2 s end to end, the failed one starting at 12 s.
        assert!(body.contains("| Run time | "), "{body}");
        assert!(body.contains(" | 12.0 s |"), "{body}");
        assert!(body.contains(":crit, 12000, 12001"), "{body}");
        assert!(body.contains("```mermaid\ngantt"), "{body}");
        assert_eq!(plan.timing.task_runs.len(), plan.tasks.len());
    }
}
