//! The size of what reviewers read (run: `cargo bench --bench comment`): the pull-request
//! comment and `summary.md` at 7, 30, 120, 1,000 and 10,000 tasks, for a first deploy and
//! for the changes a pull request makes (a leaf added, a leaf removed, one task's memory,
//! one dependency). Prints characters, the lines a reader scrolls past with every
//! `<details>` closed, and the picture's boxes. `--write DIR` also writes each comment and
//! summary there, to render and look at.

use std::fmt::Write;
use std::path::PathBuf;

use kedro_sfn::config::{Config, TaskSettings};
use kedro_sfn::pipeline::model::PipelineDoc;
use kedro_sfn::plan::changes::{changes, Deployment, Target};
use kedro_sfn::report::comment::{render_comment, CommentInput};
use kedro_sfn::report::diff::render as render_changes;
use kedro_sfn::report::review::{verdict, Review};
use kedro_sfn::report::summary::{render, Baseline};
use kedro_sfn::synthetic::{
    doc_from_dag, planned_change, random_dag, with_leaf, with_new_dependency, without_a_leaf, Rng,
};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let write_to = args
        .iter()
        .position(|a| a == "--write")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from);
    if let Some(dir) = &write_to {
        std::fs::create_dir_all(dir).expect("the --write directory");
    }
    println!(
        "{:>6}  {:<12} {:>8} {:>6} {:>6} {:>10}  title",
        "tasks", "change", "comment", "lines", "boxes", "summary"
    );
    for (size, seed) in sizes() {
        let doc = match size {
            7 => example(),
            n => doc_from_dag(&random_dag(n, 4, 0.5, &mut Rng::new(seed)), &|i| {
                format!("node_{i:05}")
            }),
        };
        // Region and account named, so a split pipeline's children have ARNs to pin.
        let mut default = Config::default();
        default.file.region = Some("eu-west-1".into());
        default.file.account_id = Some("123456789012".into());
        let mut memory = default.clone();
        let node = doc.nodes[doc.nodes.len() / 3].name.clone();
        memory.file.nodes.insert(
            node,
            TaskSettings {
                memory_mb: Some(3008),
                ..TaskSettings::default()
            },
        );
        let empty = PipelineDoc {
            nodes: Vec::new(),
            ..doc.clone()
        };
        let scenarios: Vec<(&str, &PipelineDoc, PipelineDoc, &Config)> = vec![
            ("first deploy", &empty, doc.clone(), &default),
            ("added leaf", &doc, with_leaf(&doc), &default),
            ("removed leaf", &doc, without_a_leaf(&doc).0, &default),
            ("memory", &doc, doc.clone(), &memory),
            ("dependency", &doc, with_new_dependency(&doc).0, &default),
        ];
        for (name, before, after, config) in scenarios {
            let shown = measure(before, &after, &default, config);
            println!(
                "{size:>6}  {name:<12} {:>8} {:>6} {:>6} {:>10}  {}",
                shown.comment.chars().count(),
                lines_with_details_closed(&shown.comment),
                boxes(&shown.comment),
                shown.summary.len(),
                shown.title
            );
            if let (Some(dir), true) = (&write_to, name == "first deploy") {
                let record = run_record(&shown.plan);
                println!(
                    "{size:>6}  {:<12} {:>8}",
                    "run record",
                    record.chars().count()
                );
                std::fs::write(dir.join(format!("{size}-run-record.md")), record).expect("write");
            }
            if let Some(dir) = &write_to {
                let stem = format!("{size}-{}", name.replace(' ', "-"));
                std::fs::write(dir.join(format!("{stem}-comment.md")), &shown.comment)
                    .expect("write");
                std::fs::write(dir.join(format!("{stem}-summary.md")), &shown.summary)
                    .expect("write");
            }
        }
    }
}

/// The sizes measured: `KEDRO_SFN_SIZES=10,15,20` picks others.
fn sizes() -> Vec<(usize, u64)> {
    match std::env::var("KEDRO_SFN_SIZES") {
        Ok(list) => list
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .map(|n| (n, 3))
            .collect(),
        Err(_) => vec![(7, 0), (30, 3), (120, 5), (1_000, 7), (10_000, 11)],
    }
}

/// The example project's pipeline.
fn example() -> PipelineDoc {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/spaceflights.aws.pipeline.json"
    );
    let text = std::fs::read_to_string(path).expect("the example's document");
    serde_json::from_str(&text).expect("a pipeline document")
}

/// The deployment record of a first deploy whose run was followed: each task took its
/// planned time, one after another in the order of the plan, and the last one failed.
fn run_record(planned: &kedro_sfn::plan::Plan) -> String {
    use kedro_sfn::report::deployment::{render_deployment, DeploymentRecord, ExecutionLine};
    use kedro_sfn::report::timeline::{TaskSpan, Timeline};
    let target = Target::with_image(None);
    let change_set = changes(planned, &Deployment::default(), &target);
    let mut clock = 1_000.0;
    let spans: Vec<TaskSpan> = planned
        .tasks
        .iter()
        .map(|t| {
            let span = TaskSpan {
                state: t.state.clone(),
                start_s: clock,
                end_s: Some(clock + t.duration_s * 1.1),
            };
            clock += t.duration_s * 1.1;
            span
        })
        .collect();
    let record = DeploymentRecord {
        state_machine: &planned.state_machine.name,
        alias: "live",
        commit: "abc1234",
        changes: &change_set,
        failure: None,
        version_before: None,
        version_after: Some("arn:aws:states:eu-west-1:123456789012:stateMachine:m:1"),
        image_uri: None,
        seconds: 42.0,
        execution: Some(ExecutionLine {
            name: "run-1".into(),
            status: "FAILED: a task failed".into(),
            console: "https://console.aws.amazon.com/states".into(),
            failed_task: planned.tasks.last().map(|t| t.state.clone()),
            timeline: Some(Timeline { spans, waits: None }),
        }),
        probes: None,
        run_url: Some("https://github.com/o/r/actions/runs/1"),
        plan: Some(planned),
    };
    render_deployment(&record, None)
}

struct Shown {
    plan: kedro_sfn::plan::Plan,
    title: String,
    comment: String,
    summary: String,
}

/// The comment and summary.md for `after` once `before` is deployed.
fn measure(
    before: &PipelineDoc,
    after: &PipelineDoc,
    deployed_with: &Config,
    config: &Config,
) -> Shown {
    let target = Target::with_image(None);
    let change = planned_change(before, deployed_with, after, config, &target).expect("plans");
    let (planned, change_set, diff) = (change.plan, change.changes, change.task_diff);
    let comment = render_comment(&CommentInput {
        now: chrono::Utc::now(),
        plan: &planned,
        changes: Some(&change_set),
        task_diff: &diff,
        commit: "abc1234",
        run_url: Some("https://github.com/o/r/actions/runs/1"),
        notes: &[],
    });
    let review = Review::of(&planned, &change_set);
    let title = verdict(&planned, &change_set, &review);
    let baseline = Baseline::Live {
        region: "eu-west-1".into(),
        state_machine_arn: None,
    };
    let mut summary = render(&planned, &baseline, change_set.deployed_run.as_ref());
    let _ = write!(
        summary,
        "\n{}",
        render_changes(&planned, &change_set, &review, &diff, Some(&title))
    );
    Shown {
        plan: planned,
        title,
        comment,
        summary,
    }
}

/// Lines outside `<details>` (what a reader scrolls past before opening anything), a
/// Mermaid block counted as the boxes it draws rather than its source lines.
fn lines_with_details_closed(markdown: &str) -> usize {
    let mut depth = 0usize;
    let mut in_mermaid = false;
    let mut count = 0;
    for line in markdown.lines() {
        if line.starts_with("```mermaid") {
            in_mermaid = true;
            continue;
        }
        if in_mermaid {
            in_mermaid = !line.starts_with("```");
            continue;
        }
        let opens = line.matches("<details>").count();
        let closes = line.matches("</details>").count();
        if depth == 0 && opens == 0 && !line.trim().is_empty() {
            count += 1;
        }
        depth = (depth + opens).saturating_sub(closes);
    }
    count
}

/// The boxes Mermaid draws in the comment's pictures.
fn boxes(markdown: &str) -> usize {
    markdown
        .lines()
        .filter(|line| line.contains("[\"") && !line.trim_start().starts_with("subgraph"))
        .count()
}
