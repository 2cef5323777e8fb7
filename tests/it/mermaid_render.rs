//! The pictures in comments and summaries, drawn by Mermaid 11 (what GitHub renders) through
//! mermaid-cli in headless Chromium: every block parses and draws, from the example to a
//! thousand-task change and hostile names, and a picture drawn at comment width keeps its
//! text readable (GitHub scales a wide SVG down to the column).

use crate::support;

use std::path::{Path, PathBuf};

use kedro_sfn::config::{Config, GroupBy};
use kedro_sfn::pipeline::model::PipelineDoc;
use kedro_sfn::plan::changes::{changes, Deployment, Target};
use kedro_sfn::plan::{plan, Plan};
use kedro_sfn::report::comment::{render_comment, CommentInput};
use kedro_sfn::report::summary::{self, Baseline};
use kedro_sfn::synthetic::{doc_from_dag, modular_doc, random_dag, Rng};
use support::{example_doc_path, node_tool};

/// The width of a pull request's comment column on github.com, in CSS pixels.
const COMMENT_WIDTH: f64 = 830.0;
/// Mermaid's default font size, in pixels.
const FONT_PX: f64 = 16.0;
/// The smallest text we accept once GitHub has scaled the picture to the column.
const MIN_TEXT_PX: f64 = 9.0;

/// Chromium for mermaid-cli's puppeteer (the tests do not download one).
fn chromium() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).is_file() {
            return PathBuf::from(candidate);
        }
    }
    panic!(
        "Chromium is missing (mermaid-cli draws in it): run scripts/setup-images.sh as root, \
         or apt-get install chromium"
    );
}

/// Draws every mermaid block of `markdown` with mmdc; panics with Mermaid's message if one
/// does not parse. Returns each drawn SVG's text.
fn draw(name: &str, markdown: &str) -> Vec<String> {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("puppeteer.json");
    std::fs::write(
        &config,
        serde_json::json!({"executablePath": chromium(), "args": ["--no-sandbox"]}).to_string(),
    )
    .expect("puppeteer config");
    let input = dir.path().join(format!("{name}.md"));
    std::fs::write(&input, markdown).expect("markdown");
    let output = std::process::Command::new(node_tool("mmdc"))
        .arg("-p")
        .arg(&config)
        .arg("-i")
        .arg(&input)
        .arg("-o")
        .arg(dir.path().join("out.md"))
        .arg("-q")
        .output()
        .expect("mmdc runs");
    assert!(
        output.status.success(),
        "{name}: Mermaid cannot draw a block:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let blocks = markdown.matches("```mermaid").count();
    let svgs: Vec<String> = (1..=blocks)
        .map(|i| {
            let path = dir.path().join(format!("out-{i}.svg"));
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("{name}: {} not drawn: {e}", path.display()))
        })
        .collect();
    for svg in &svgs {
        assert!(svg.contains("<svg"), "{name}: not an SVG");
    }
    svgs
}

/// The width of an SVG's viewBox.
fn view_width(svg: &str) -> f64 {
    let start = svg.find("viewBox=\"").expect("viewBox") + "viewBox=\"".len();
    let numbers: Vec<f64> = svg[start..]
        .split('"')
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    numbers[2]
}

/// How large Mermaid's 16 px text is once the picture fits the comment column.
fn text_px(svg: &str) -> f64 {
    FONT_PX * (COMMENT_WIDTH / view_width(svg)).min(1.0)
}

fn first_deploy_comment(planned: &Plan) -> String {
    let change_set = changes(planned, &Deployment::default(), &Target::with_image(None));
    render_comment(&CommentInput {
        now: chrono::Utc::now(),
        plan: planned,
        changes: Some(&change_set),
        task_diff: "",
        run_url: None,
        commit: "abc",
        notes: &[],
    })
}

fn offline() -> Baseline {
    Baseline::Empty {
        reason: "offline".to_string(),
    }
}

fn ungrouped() -> Config {
    let mut config = Config::default();
    config.file.group_by = Some(GroupBy::None);
    config
}

#[test]
fn the_example_comment_and_summary_draw() {
    let text = std::fs::read_to_string(example_doc_path()).expect("example document");
    let doc: PipelineDoc = serde_json::from_str(&text).expect("document");
    let planned = plan(&doc, &Config::default()).expect("plans");
    let comment = draw("example-comment", &first_deploy_comment(&planned));
    assert_eq!(comment.len(), 1);
    assert!(text_px(&comment[0]) >= MIN_TEXT_PX);
    draw(
        "example-summary",
        &summary::render(&planned, &offline(), None),
    );
}

#[test]
fn large_pipelines_draw_a_readable_summary_picture() {
    // 12 namespaces of 25 nodes: past the size where the full picture is drawn.
    let doc = modular_doc(12, 25, &mut Rng::new(3));
    let planned = plan(&doc, &ungrouped()).expect("plans");
    let comment = first_deploy_comment(&planned);
    let svgs = draw("modular-comment", &comment);
    assert_eq!(svgs.len(), 1, "one picture in the comment");
    let px = text_px(&svgs[0]);
    println!(
        "300 tasks: summary picture {} px wide, text {px:.1} px at comment width",
        view_width(&svgs[0])
    );
    assert!(
        px >= MIN_TEXT_PX,
        "the summary picture's text is {px:.1} px at comment width"
    );
    draw(
        "modular-summary",
        &summary::render(&planned, &offline(), None),
    );

    // A thousand tasks without namespaces, with a change set that the comment truncates.
    let dag = random_dag(1_000, 4, 0.5, &mut Rng::new(7));
    let doc = doc_from_dag(&dag, &|i| format!("node_{i:04}"));
    let planned = plan(&doc, &ungrouped()).expect("plans");
    let comment = first_deploy_comment(&planned);
    for svg in draw("random-comment", &comment) {
        let px = text_px(&svg);
        assert!(px >= MIN_TEXT_PX, "text {px:.1} px at comment width");
    }
    draw(
        "random-summary",
        &summary::render(&planned, &offline(), None),
    );
}

#[test]
fn a_split_pipeline_draws_each_child_machine_around_its_groups() {
    let doc = modular_doc(30, 50, &mut Rng::new(11));
    let planned = plan(&doc, &ungrouped()).expect("plans");
    assert_eq!(planned.children.len(), 2);
    let comment = first_deploy_comment(&planned);
    assert!(
        comment.contains("Split into 3 state machines"),
        "the comment says how the pipeline is split"
    );
    for summary_or_comment in [comment, summary::render(&planned, &offline(), None)] {
        let svgs = draw("split", &summary_or_comment);
        for child in &planned.children {
            assert!(
                svgs[0].contains(&format!("state machine {}", child.name)),
                "the picture frames {}",
                child.name
            );
        }
    }
}

#[test]
fn hostile_names_draw() {
    let names = [
        "<img src=x onerror=alert(1)>",
        "x\"]; click t0 call evil(); %%",
        "a|b --> c",
        "end",
        "subgraph",
        "#quot;&amp;",
        "{curly} (round) [square]",
    ];
    let doc = support::chain_doc("p", &names);
    let planned = plan(&doc, &ungrouped()).expect("plans");
    draw("hostile-comment", &first_deploy_comment(&planned));
    draw(
        "hostile-summary",
        &summary::render(&planned, &offline(), None),
    );
}

/// The comment for `after` once `before` is deployed (region and account named, so a split
/// pipeline's children read back unchanged).
fn change_comment(before: &PipelineDoc, after: &PipelineDoc) -> String {
    let mut config = ungrouped();
    config.file.region = Some("eu-west-1".into());
    config.file.account_id = Some("123456789012".into());
    let change = kedro_sfn::synthetic::planned_change(
        before,
        &config,
        after,
        &config,
        &Target::with_image(None),
    )
    .expect("plans");
    let (planned, change_set, diff) = (change.plan, change.changes, change.task_diff);
    render_comment(&CommentInput {
        now: chrono::Utc::now(),
        plan: &planned,
        changes: Some(&change_set),
        task_diff: &diff,
        run_url: None,
        commit: "abc",
        notes: &[],
    })
}

#[test]
fn change_pictures_read_at_comment_width_at_every_size() {
    for (size, seed) in [(30, 3), (120, 5), (1_000, 7)] {
        let dag = random_dag(size, 4, 0.5, &mut Rng::new(seed));
        let doc = doc_from_dag(&dag, &|i| format!("node_{i:04}"));
        let (with_dependency, _) = kedro_sfn::synthetic::with_new_dependency(&doc);
        let cases = [
            (
                "first",
                first_deploy_comment(&plan(&doc, &ungrouped()).expect("plans")),
            ),
            (
                "leaf",
                change_comment(&doc, &kedro_sfn::synthetic::with_leaf(&doc)),
            ),
            ("dependency", change_comment(&doc, &with_dependency)),
            (
                "removed",
                change_comment(&doc, &kedro_sfn::synthetic::without_a_leaf(&doc).0),
            ),
            (
                "summary",
                summary::render(&plan(&doc, &ungrouped()).expect("plans"), &offline(), None),
            ),
        ];
        for (case, markdown) in cases {
            for svg in draw(&format!("{size}-{case}"), &markdown) {
                let px = text_px(&svg);
                println!(
                    "{size} tasks, {case}: picture {:.0} px wide, text {px:.1} px at comment width",
                    view_width(&svg)
                );
                assert!(
                    px >= MIN_TEXT_PX,
                    "{size} tasks, {case}: text {px:.1} px at comment width"
                );
            }
        }
    }
}

#[test]
fn a_followed_run_draws_as_a_gantt() {
    use kedro_sfn::report::run_chart;
    use kedro_sfn::report::timeline::{TaskSpan, Timeline};
    let text = std::fs::read_to_string(example_doc_path()).expect("example document");
    let doc: PipelineDoc = serde_json::from_str(&text).expect("document");
    let planned = plan(&doc, &Config::default()).expect("plans");
    let spans = planned
        .tasks
        .iter()
        .enumerate()
        .map(|(i, t)| TaskSpan {
            state: t.state.clone(),
            start_s: 1_000.0 + i as f64,
            end_s: Some(1_001.5 + i as f64),
        })
        .collect();
    let failed = planned.tasks.last().map(|t| t.state.clone());
    let section = run_chart::render(
        Some(&planned),
        &Timeline { spans, waits: None },
        failed.as_deref(),
    );
    let svgs = draw("run-gantt", &section);
    assert_eq!(svgs.len(), 1);
    for task in &planned.tasks {
        assert!(svgs[0].contains(&task.state), "{} is not drawn", task.state);
    }
}
