//! Changes a reviewer would name, at 7, 30, 120 and 1,000 tasks: a first deploy, an
//! added leaf, a removed task, a changed memory size and a changed dependency. The counted
//! changes equal the intended ones, the title says what happens, lists are capped, and an
//! independent CommonMark parser (pulldown-cmark, not the comment's own scanner) reads the
//! comment and the summary as intended.

use super::*;
use crate::config::Config;
use crate::config::TaskSettings;
use crate::pipeline::model::PipelineDoc;
use crate::plan::changes::Target;
use crate::report::comment::{render_comment, CommentInput, COMMENT_MAX_CHARS};
use crate::synthetic::{
    doc_from_dag, planned_change, random_dag, with_leaf, with_new_dependency, without_a_leaf, Rng,
};

/// The example project's pipeline (7 nodes) and random pipelines of 30, 120 and 1,000.
fn pipelines() -> Vec<PipelineDoc> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/spaceflights.aws.pipeline.json"
    );
    let text = std::fs::read_to_string(path).expect("the example's document");
    let example: PipelineDoc = serde_json::from_str(&text).expect("a pipeline document");
    let mut docs = vec![example];
    for (size, seed) in [(30, 3), (120, 5), (1_000, 7)] {
        let dag = random_dag(size, 4, 0.5, &mut Rng::new(seed));
        docs.push(doc_from_dag(&dag, &|i| format!("node_{i:04}")));
    }
    docs
}

/// What a pull request shows for `after` once `before` is deployed.
struct Reviewed {
    plan: crate::plan::Plan,
    changes: crate::plan::changes::ChangeSet,
    review: Review,
    comment: String,
}

fn reviewed(before: &PipelineDoc, after: &PipelineDoc, config_after: &Config) -> Reviewed {
    let target = Target::with_image(None);
    let change =
        planned_change(before, &Config::default(), after, config_after, &target).expect("plans");
    let comment = render_comment(&CommentInput {
        now: chrono::Utc::now(),
        plan: &change.plan,
        changes: Some(&change.changes),
        task_diff: &change.task_diff,
        commit: "abc1234",
        run_url: Some("https://github.com/o/r/actions/runs/1"),
        notes: &[],
    });
    let review = Review::of(&change.plan, &change.changes);
    Reviewed {
        plan: change.plan,
        changes: change.changes,
        review,
        comment,
    }
}

fn empty(doc: &PipelineDoc) -> PipelineDoc {
    PipelineDoc {
        nodes: Vec::new(),
        ..doc.clone()
    }
}

/// The task state of a node that runs alone in its task.
fn state_of(plan: &crate::plan::Plan, node: &str) -> String {
    plan.tasks
        .iter()
        .find(|t| t.nodes.iter().any(|n| n == node))
        .expect("the node's task")
        .state
        .clone()
}

/// Reads `markdown` with pulldown-cmark and checks what a reader of the rendered comment
/// relies on: every code block closed where it should be (the footer is text, not code),
/// every `<details>` closed, Mermaid blocks as code blocks of their own, and the change
/// table open for at most [`crate::report::diff::ROWS_SHOWN`] rows.
fn assert_renders(markdown: &str, footer: &str) {
    assert_renders_with(markdown, footer, crate::report::diff::ROWS_SHOWN + 12);
}

/// [`assert_renders`] with at most `open_rows` table rows outside a fold.
fn assert_renders_with(markdown: &str, footer: &str, open_rows: usize) {
    use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
    let mut in_code = false;
    let (mut opened, mut closed) = (0usize, 0usize);
    let mut footer_seen_as_text = false;
    let mut rows_before_fold = 0usize;
    let mut folded = false;
    let mut in_table = false;
    for event in Parser::new_ext(markdown, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::CodeBlock(kind)) => {
                in_code = true;
                if let CodeBlockKind::Fenced(info) = kind {
                    assert!(
                        matches!(info.as_ref(), "mermaid" | "diff" | ""),
                        "an unexpected fence: {info}"
                    );
                }
            }
            Event::End(TagEnd::CodeBlock) => in_code = false,
            Event::Html(html) | Event::InlineHtml(html) if !in_code => {
                opened += html.matches("<details>").count();
                closed += html.matches("</details>").count();
                if html.contains("<details>") {
                    folded = true;
                }
            }
            Event::Text(text) if !in_code && text.contains(footer) => footer_seen_as_text = true,
            Event::Start(Tag::Table(_)) => in_table = true,
            Event::End(TagEnd::Table) => in_table = false,
            Event::Start(Tag::TableRow) if in_table && !folded && opened == closed => {
                rows_before_fold += 1;
            }
            _ => {}
        }
    }
    assert!(!in_code, "a code block runs to the end:\n{markdown}");
    assert_eq!(opened, closed, "<details> left open:\n{markdown}");
    assert!(
        footer_seen_as_text,
        "the footer {footer:?} is not text:\n{markdown}"
    );
    assert!(
        rows_before_fold <= open_rows,
        "{rows_before_fold} table rows before the first fold"
    );
}

fn assert_comment(reviewed: &Reviewed) {
    let chars = reviewed.comment.chars().count();
    assert!(chars <= COMMENT_MAX_CHARS, "{chars} characters");
    assert_renders(&reviewed.comment, "Planned for commit");
}

#[test]
fn a_first_deploy_says_so_and_lists_its_tasks_folded() {
    for doc in pipelines() {
        let r = reviewed(&empty(&doc), &doc, &Config::default());
        let n = r.plan.tasks.len();
        assert_eq!(
            verdict(&r.plan, &r.changes, &r.review),
            format!("🆕 first deploy: {n} tasks")
        );
        assert!(r.review.rows.iter().all(|row| row.kind == RowKind::Added));
        assert!(r
            .comment
            .contains(&format!("<details><summary>The {n} tasks")));
        assert!(
            !r.comment.contains("| create |"),
            "no row per created function"
        );
        assert!(
            !r.comment.contains("```diff"),
            "a first deploy has no diff: the definition is an artifact"
        );
        assert_comment(&r);
    }
}

#[test]
fn an_unchanged_pipeline_has_no_changes() {
    for doc in pipelines() {
        let r = reviewed(&doc, &doc, &Config::default());
        assert!(r.changes.is_empty(), "{:?}", r.changes.machine);
        assert_eq!(verdict(&r.plan, &r.changes, &r.review), "✅ no changes");
        assert!(r.review.rows.is_empty());
        assert_comment(&r);
    }
}

#[test]
fn an_added_leaf_is_one_added_task_and_regrouping_is_no_change() {
    for doc in pipelines() {
        let r = reviewed(&doc, &with_leaf(&doc), &Config::default());
        let size = doc.nodes.len();
        assert_eq!(
            r.review.count(RowKind::Added),
            1,
            "{size}: {:?}",
            r.review.rows
        );
        assert_eq!(
            r.review.count(RowKind::Changed),
            0,
            "{size}: {:?}",
            r.review.rows
        );
        assert_eq!(r.review.count(RowKind::Deleted), 0);
        assert_eq!(
            verdict(&r.plan, &r.changes, &r.review),
            "📝 1 task added",
            "{size}"
        );
        println!(
            "{size} tasks + a leaf: {} regrouped, comment {} characters",
            r.review.regrouped,
            r.comment.chars().count()
        );
        if r.review.regrouped > 0 {
            assert!(
                r.comment.contains(&format!(
                    "{} regrouped by the planner",
                    counted(r.review.regrouped, "task", "tasks")
                )),
                "{}",
                r.comment
            );
        }
        assert!(!r.comment.contains("[!WARNING]"));
        assert_comment(&r);
    }
}

#[test]
fn a_removed_task_is_in_the_title_and_said_once() {
    for doc in pipelines() {
        let (after, removed) = without_a_leaf(&doc);
        let r = reviewed(&doc, &after, &Config::default());
        assert_eq!(r.review.count(RowKind::Deleted), 1, "{:?}", r.review.rows);
        assert_eq!(r.review.count(RowKind::Changed), 0, "{:?}", r.review.rows);
        assert_eq!(r.review.count(RowKind::Added), 0);
        let title = verdict(&r.plan, &r.changes, &r.review);
        assert_eq!(title, "⚠️ deletes 1 function");
        assert!(r.comment.contains(&format!("— {title}\n")), "{}", r.comment);
        assert_eq!(r.comment.matches("[!WARNING]").count(), 1);
        // Outside the picture, the removed task is named once: its row.
        let outside_picture: String = r
            .comment
            .split("```mermaid")
            .enumerate()
            .map(|(i, part)| match i {
                0 => part,
                _ => part.split_once("```").map_or("", |(_, after)| after),
            })
            .collect();
        assert_eq!(
            outside_picture.matches(&format!("`{removed}`")).count(),
            1,
            "{}",
            r.comment
        );
        assert_comment(&r);
    }
}

#[test]
fn a_changed_memory_size_is_one_changed_task() {
    for doc in pipelines() {
        let node = doc.nodes[doc.nodes.len() / 3].name.clone();
        let mut config = Config::default();
        config.file.nodes.insert(
            node.clone(),
            TaskSettings {
                memory_mb: Some(3008),
                ..TaskSettings::default()
            },
        );
        let r = reviewed(&doc, &doc, &config);
        assert_eq!(r.review.count(RowKind::Changed), 1, "{:?}", r.review.rows);
        assert_eq!(r.review.count(RowKind::Added), 0);
        let row = &r.review.rows[0];
        assert_eq!(row.state, state_of(&r.plan, &node));
        assert!(
            row.what.iter().any(|w| w.contains("memory 1024 → 3008 MB")),
            "{row:?}"
        );
        assert_eq!(verdict(&r.plan, &r.changes, &r.review), "📝 1 task changed");
        assert!(r.comment.contains("```diff"), "the changed state's diff");
        assert_comment(&r);
    }
}

#[test]
fn a_changed_dependency_is_one_changed_task() {
    for doc in pipelines() {
        let (after, node) = with_new_dependency(&doc);
        let r = reviewed(&doc, &after, &Config::default());
        let changed: Vec<&Row> = r
            .review
            .rows
            .iter()
            .filter(|row| row.kind == RowKind::Changed)
            .collect();
        assert_eq!(changed.len(), 1, "{:?}", r.review.rows);
        assert_eq!(changed[0].state, state_of(&r.plan, &node));
        assert!(
            changed[0]
                .what
                .iter()
                .any(|w| w.starts_with("now reads the outputs of")),
            "{:?}",
            changed[0]
        );
        assert_eq!(r.review.count(RowKind::Added), 0);
        assert_comment(&r);
    }
}

#[test]
fn long_lists_are_counted_and_folded() {
    // Every task's memory changed at 120 tasks: 20 rows open, the rest folded and counted.
    let docs = pipelines();
    let doc = &docs[2];
    let mut config = Config::default();
    config.file.lambda.memory_mb = Some(2048);
    let r = reviewed(doc, doc, &config);
    let n = r.plan.tasks.len();
    assert_eq!(r.review.count(RowKind::Changed), n);
    assert!(
        r.comment.contains(&format!(
            "<details><summary>+{} more changed tasks</summary>",
            n - crate::report::diff::ROWS_SHOWN
        )),
        "{}",
        r.comment
    );
    assert_eq!(
        verdict(&r.plan, &r.changes, &r.review),
        format!("📝 {n} tasks changed")
    );
    assert_comment(&r);
}

#[test]
fn ten_thousand_tasks_fit_a_comment_and_a_job_summary() {
    let dag = random_dag(10_000, 4, 0.5, &mut Rng::new(11));
    let doc = doc_from_dag(&dag, &|i| format!("node_{i:05}"));
    let r = reviewed(&empty(&doc), &doc, &Config::default());
    assert_comment(&r);
    let baseline = crate::report::summary::Baseline::Live {
        region: "eu-west-1".into(),
        state_machine_arn: None,
    };
    let mut summary = crate::report::summary::render(&r.plan, &baseline, None);
    summary.push_str(&crate::report::diff::render(
        &r.plan,
        &r.changes,
        &r.review,
        "",
        Some(&verdict(&r.plan, &r.changes, &r.review)),
    ));
    println!(
        "10,000 tasks: comment {} characters, summary.md {} bytes",
        r.comment.chars().count(),
        summary.len()
    );
    // GitHub refuses a step summary over 1 MiB; far under it, with room for the record.
    assert!(
        summary.len() < 256 * 1024,
        "summary.md is {} bytes",
        summary.len()
    );
    // The schedule and cost tables are open; every list is folded.
    assert_renders_with(&summary, "+9700 more tasks", 12);
}
