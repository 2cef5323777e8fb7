//! What GitHub runs and shows: action.yml, the workflows and the Dockerfile pass the linters
//! GitHub's ecosystem uses; the action guide's (docs/action.md) tables are action.yml's
//! inputs and outputs; the pull-request comment escapes whatever the pipeline's names hold;
//! the example comment in docs/ is what the code renders, and the docs link to it instead of
//! pasting a copy.

use crate::support;

use std::process::Command;

use kedro_sfn::config::{Config, GroupBy};
use kedro_sfn::pipeline::PipelineDoc;
use kedro_sfn::plan::changes::{changes, Deployment, Target};
use kedro_sfn::plan::plan;
use kedro_sfn::report::comment::{render_comment, CommentInput};
use support::{example_doc_path, repo_root, venv_tool};

fn lint(tool: &str, args: &[&str]) {
    let output = Command::new(venv_tool(tool))
        .args(args)
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("{tool} does not run ({e}); run bash scripts/setup.sh"));
    assert!(
        output.status.success(),
        "{tool} {args:?} found problems:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn action_workflows_and_dockerfile_pass_their_linters() {
    lint(
        "actionlint",
        &[
            ".github/workflows/ci.yml",
            ".github/workflows/release.yml",
            "examples/workflows/kedro-sfn.yml",
        ],
    );
    lint(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-actions", "action.yml"],
    );
    lint(
        "check-jsonschema",
        &[
            "--builtin-schema",
            "vendor.github-workflows",
            ".github/workflows/ci.yml",
            ".github/workflows/release.yml",
            "examples/workflows/kedro-sfn.yml",
        ],
    );
    lint("hadolint", &["Dockerfile"]);
}

/// The rows of the Markdown table whose header starts with `header`: first cell without
/// backticks, and the last cell.
fn table(markdown: &str, header: &str) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let mut lines = markdown.lines().skip_while(|l| !l.starts_with(header));
    lines.next();
    lines.next(); // |---|---|
    for line in lines.take_while(|l| l.starts_with('|')) {
        let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
        let name = cells.first().unwrap_or(&"").trim_matches('`').to_string();
        let last = cells.last().unwrap_or(&"").trim_matches('`').to_string();
        rows.push((name, last));
    }
    rows
}

#[test]
fn the_action_guide_tables_are_action_yml() {
    let action: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo_root().join("action.yml")).expect("action.yml"),
    )
    .expect("YAML");
    let guide =
        std::fs::read_to_string(repo_root().join("docs/action.md")).expect("docs/action.md");
    let inputs: Vec<(String, String)> = action["inputs"]
        .as_mapping()
        .expect("inputs")
        .iter()
        .map(|(k, v)| {
            let default = match &v["default"] {
                serde_yaml::Value::String(s) => s.clone(),
                serde_yaml::Value::Null => String::new(),
                other => serde_yaml::to_string(other)
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
            };
            (k.as_str().unwrap_or_default().to_string(), default)
        })
        .collect();
    assert_eq!(
        table(&guide, "| Input |"),
        inputs,
        "docs/action.md's inputs table differs from action.yml"
    );
    let outputs: Vec<String> = action["outputs"]
        .as_mapping()
        .expect("outputs")
        .keys()
        .map(|k| k.as_str().unwrap_or_default().to_string())
        .collect();
    let documented: Vec<String> = table(&guide, "| Output |")
        .into_iter()
        .map(|(n, _)| n)
        .collect();
    assert_eq!(
        documented, outputs,
        "docs/action.md's outputs table differs from action.yml"
    );
}

/// A deploy target with no roles, the default alias and no logging.
fn target(image_uri: Option<&str>) -> Target {
    Target::with_image(image_uri.map(str::to_string))
}

/// The comment for a plan compared with an empty deployment.
fn first_deploy_comment(
    planned: &kedro_sfn::plan::Plan,
    image_uri: Option<&str>,
    commit: &str,
    notes: &[String],
) -> String {
    let change_set = changes(planned, &Deployment::default(), &target(image_uri));
    render_comment(&CommentInput {
        now: chrono::Utc::now(),
        plan: planned,
        changes: Some(&change_set),
        task_diff: "",
        run_url: None,
        commit,
        notes,
    })
}

/// The text outside code spans and code blocks (what GitHub interprets).
fn outside_code(markdown: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = markdown.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i] == '`' {
            let run = chars[i..].iter().take_while(|c| **c == '`').count();
            let fence: String = "`".repeat(run);
            let rest: String = chars[i + run..].iter().collect();
            match rest.find(&fence) {
                Some(end) => {
                    i += run + rest[..end].chars().count() + run;
                    continue;
                }
                None => {
                    i += run;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

#[test]
fn hostile_names_cannot_inject_markup_mentions_or_diagram_syntax() {
    let names = [
        "<img src=x onerror=alert(1)>",
        "@octocat",
        "x\"]; click t0 call evil(); %%",
        "a|b",
        "`code`",
        "[link](https://evil.example)",
        "end",
    ];
    let doc = support::chain_doc("<b>@team</b>", &names);
    let mut config = Config::default();
    config.file.group_by = Some(GroupBy::None);
    let planned = plan(&doc, &config).expect("plans");
    let body = first_deploy_comment(
        &planned,
        None,
        "abc",
        &["note with <script>@someone</script>".to_string()],
    );

    let visible = outside_code(&body);
    for tag in visible.match_indices('<').map(|(i, _)| &visible[i..]) {
        assert!(
            [
                "<!-- kedro-sfn",
                "<details>",
                "</details>",
                "<summary>",
                "</summary>",
                "<sub>",
                "</sub>",
                "<br>"
            ]
            .iter()
            .any(|allowed| tag.starts_with(allowed)),
            "raw HTML in the comment: {}",
            &tag[..tag.len().min(40)]
        );
    }
    assert!(
        !visible.contains("@octocat")
            && !visible.contains("@team")
            && !visible.contains("@someone"),
        "a mention got through:\n{visible}"
    );
    assert!(
        !visible.contains("](https://evil.example)"),
        "a link got through"
    );

    // The diagram: every label quoted, no quote inside, no directive smuggled in.
    let mermaid = body
        .split("```mermaid\n")
        .nth(1)
        .and_then(|rest| rest.split("```").next())
        .expect("a mermaid block");
    for line in mermaid.lines() {
        if let Some((_, label)) = line.split_once("[\"") {
            let inner = label
                .strip_suffix("\"]")
                .unwrap_or_else(|| panic!("unterminated label: {line}"));
            assert!(!inner.contains('"'), "a quote inside a label: {line}");
        }
        let trimmed = line.trim_start();
        assert!(
            !trimmed.starts_with("click") && !trimmed.starts_with("%%{"),
            "a directive: {line}"
        );
    }
}

/// The comment for a change to the deployed example: a node removed, one added that the
/// evaluation reads, the training node given more memory.
fn change_comment(doc: &PipelineDoc, base_config: &Config) -> String {
    let target = target(Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com/spaceflights@sha256:4a129f0cd9e08f7923425b654e6c126353e150af5453134e59002cb35a8ab2b5"));
    let mut changed = doc.clone();
    changed
        .nodes
        .retain(|n| n.name != "summarize_passenger_capacity_node");
    let mut extra = changed.nodes[0].clone();
    extra.name = "compare_passenger_capacity_node".into();
    extra.inputs = vec!["model_input_table".into()];
    extra.outputs = vec!["capacity_comparison".into()];
    let mut dataset = changed.datasets["model_input_table"].clone();
    dataset.filepath =
        Some("s3://kedro-sfn-spaceflights/08_reporting/capacity_comparison.csv".into());
    changed
        .datasets
        .insert("capacity_comparison".into(), dataset);
    changed.nodes.push(extra);
    for node in &mut changed.nodes {
        if node.name == "active_modelling_pipeline.evaluate_model_node" {
            node.inputs.push("capacity_comparison".into());
        }
    }
    let mut config = base_config.clone();
    config
        .file
        .nodes
        .remove("summarize_passenger_capacity_node");
    config
        .file
        .nodes
        .entry("active_modelling_pipeline.train_model_node".into())
        .or_default()
        .memory_mb = Some(4096);
    let change = kedro_sfn::synthetic::planned_change(doc, base_config, &changed, &config, &target)
        .expect("plans");
    let (planned, change_set, task_diff) = (change.plan, change.changes, change.task_diff);
    render_comment(&CommentInput {
        now: chrono::Utc::now(),
        plan: &planned,
        changes: Some(&change_set),
        task_diff: &task_diff,
        run_url: Some("https://github.com/acme/spaceflights/actions/runs/4242"),
        commit: "8c41e07a9b2d",
        notes: &[],
    })
}

#[test]
fn the_example_comment_in_docs_is_what_the_code_renders() {
    let doc = PipelineDoc::from_file(&example_doc_path()).expect("fixture");
    let config =
        Config::load(None, Some(&support::example_project()), &Default::default()).expect("config");
    let planned = plan(&doc, &config).expect("plans");
    let body = first_deploy_comment(
        &planned,
        Some("123456789012.dkr.ecr.eu-west-1.amazonaws.com/spaceflights@sha256:4a129f0cd9e08f7923425b654e6c126353e150af5453134e59002cb35a8ab2b5"),
        "3f2a9c1d0b7e",
        &[],
    );
    let path = repo_root().join("docs/example-comment.md");
    let change_path = repo_root().join("docs/example-change-comment.md");
    let change_body = change_comment(&doc, &config);
    for (path, body) in [(&path, &body), (&change_path, &change_body)] {
        if std::env::var_os("KEDRO_SFN_UPDATE_DOCS").is_some() {
            std::fs::write(path, body).expect("write the example");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            &committed == body,
            "{} is stale; regenerate it with KEDRO_SFN_UPDATE_DOCS=1 cargo test --test it action_files::",
            path.display()
        );
    }
    // The docs link to the generated file, and no page pastes a copy that could go stale.
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README");
    let guide =
        std::fs::read_to_string(repo_root().join("docs/action.md")).expect("docs/action.md");
    assert!(
        readme.contains("](docs/example-comment.md)") && guide.contains("](example-comment.md)"),
        "README.md and docs/action.md must link to docs/example-comment.md"
    );
    let marker = body
        .lines()
        .next()
        .expect("the comment starts with its marker");
    let mut pages = vec![repo_root().join("README.md")];
    pages.extend(
        std::fs::read_dir(repo_root().join("docs"))
            .expect("docs/")
            .map(|entry| entry.expect("an entry of docs/").path())
            .filter(|page| {
                page.extension().is_some_and(|ext| ext == "md")
                    && *page != path
                    && *page != change_path
            }),
    );
    for page in pages {
        let text = std::fs::read_to_string(&page).expect("a Markdown page");
        assert!(
            !text.contains(marker),
            "{} pastes the example comment; link to docs/example-comment.md instead",
            page.display()
        );
    }
}

#[test]
fn the_released_action_yml_is_a_valid_action_that_runs_the_prebuilt_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let released = dir.path().join("action.yml");
    let image = format!("ghcr.io/acme/kedro-sfn@sha256:{}", "ab".repeat(32));
    let script = repo_root().join("scripts/release-action.sh");
    let output = Command::new("bash")
        .arg(&script)
        .arg(&image)
        .arg(&released)
        .output()
        .expect("bash runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let released_text = std::fs::read_to_string(&released).expect("written");
    let action: serde_yaml::Value = serde_yaml::from_str(&released_text).expect("YAML");
    assert_eq!(action["runs"]["using"].as_str(), Some("docker"));
    assert_eq!(
        action["runs"]["image"].as_str(),
        Some(format!("docker://{image}").as_str())
    );
    // Everything else is the repository's action.yml.
    let source: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo_root().join("action.yml")).expect("action.yml"),
    )
    .expect("YAML");
    assert_eq!(action["inputs"], source["inputs"]);
    assert_eq!(action["outputs"], source["outputs"]);
    assert_eq!(action["runs"]["args"], source["runs"]["args"]);
    let shown = released.to_string_lossy().into_owned();
    lint(
        "check-jsonschema",
        &["--builtin-schema", "vendor.github-actions", &shown],
    );
    // A moving tag is refused: a release names its image by digest.
    let refused = Command::new("bash")
        .arg(&script)
        .arg("ghcr.io/acme/kedro-sfn:v1")
        .arg(dir.path().join("other.yml"))
        .output()
        .expect("bash runs");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("@sha256:"));
}
