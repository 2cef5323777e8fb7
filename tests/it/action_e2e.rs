//! The action end to end, as the runner starts it (INPUT_* and GITHUB_* variables, an event
//! file, output and summary files), against moto and a fake GitHub API on loopback.

use crate::support;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{json, Value};
use support::github::{FakeGitHub, OWNER, PR, REPO};
use support::moto::MotoServer;
use support::{example_project, kedro_sfn, python};

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
    outputs: BTreeMap<String, String>,
    summary: String,
}

struct Action<'a> {
    moto: &'a MotoServer,
    api_url: String,
    roles: Value,
    workspace: tempfile::TempDir,
}

impl<'a> Action<'a> {
    fn new(moto: &'a MotoServer, github: &FakeGitHub) -> Action<'a> {
        Action {
            moto,
            api_url: github.server.uri(),
            roles: moto.fixture(&["roles"]),
            workspace: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// What is in the workspace, sorted.
    fn workspace_entries(&self) -> Vec<String> {
        let mut entries: Vec<String> = std::fs::read_dir(self.workspace.path())
            .expect("workspace")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .collect();
        entries.sort();
        entries
    }

    fn run(&self, event_name: &str, event: &Value, inputs: &[(&str, &str)]) -> Run {
        let dir = self.workspace.path();
        let event_path = dir.join("event.json");
        std::fs::write(&event_path, event.to_string()).expect("event");
        let (output_path, summary_path) = (dir.join("output.txt"), dir.join("summary.md"));
        let _ = std::fs::remove_file(&output_path);
        let _ = std::fs::remove_file(&summary_path);
        let mut command = kedro_sfn();
        command
            .arg("action")
            .current_dir(dir)
            .envs(self.moto.aws_env())
            .env("KEDRO_SFN_PYTHON", python())
            .env("GITHUB_EVENT_NAME", event_name)
            .env("GITHUB_EVENT_PATH", &event_path)
            .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
            .env("GITHUB_REPOSITORY", format!("{OWNER}/{REPO}"))
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_API_URL", &self.api_url)
            .env("GITHUB_OUTPUT", &output_path)
            .env("GITHUB_STEP_SUMMARY", &summary_path)
            .env("INPUT_PROJECT-DIR", example_project())
            .env("INPUT_GITHUB-TOKEN", "ghs_test")
            .env(
                "INPUT_LAMBDA-ROLE-ARN",
                self.roles["lambda"].as_str().expect("role"),
            )
            .env(
                "INPUT_STATE-MACHINE-ROLE-ARN",
                self.roles["states"].as_str().expect("role"),
            );
        for (name, value) in inputs {
            command.env(format!("INPUT_{}", name.to_ascii_uppercase()), value);
        }
        let output = command.output().expect("kedro-sfn runs");
        let outputs = std::fs::read_to_string(&output_path)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            outputs,
            summary: std::fs::read_to_string(&summary_path).unwrap_or_default(),
        }
    }
}

fn pull_request(head_sha: &str, head_repo: &str) -> Value {
    json!({"pull_request": {"number": PR,
        "head": {"sha": head_sha, "repo": {"full_name": head_repo}},
        "base": {"repo": {"full_name": format!("{OWNER}/{REPO}")}}}})
}

fn ok(run: &Run) {
    assert!(
        run.success,
        "the action failed:\n{}\n{}",
        run.stdout, run.stderr
    );
}

fn count(requests: &[(String, String)], verb: &str) -> usize {
    requests.iter().filter(|(m, _)| m == verb).count()
}

fn ours(github: &FakeGitHub) -> Vec<(u64, String)> {
    github
        .comments()
        .into_iter()
        .filter(|(_, body)| body.contains("<!-- kedro-sfn:comment state-machine=spaceflights -->"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_requests_get_one_sticky_comment_and_pushes_deploy() {
    let github = FakeGitHub::start().await;
    // Five comments by people first: ours lands on the third page of two.
    github.add_foreign_comments(5);
    let moto = MotoServer::start_with(&[("MOTO_LAMBDA_STUB_ECR", "false")]);
    let action = Action::new(&moto, &github);

    // A pull request: a plan against the (empty) deployment, one comment.
    let run = action.run(
        "pull_request",
        &pull_request("abc1234", "acme/flights"),
        &[],
    );
    ok(&run);
    let mine = ours(&github);
    assert_eq!(
        mine.len(),
        1,
        "{:#?}\n{}\n{}",
        github.comments(),
        run.stdout,
        run.stderr
    );
    let body = &mine[0].1;
    assert!(
        body.contains("— 🆕 first deploy: 7 tasks\n") && body.contains("```mermaid"),
        "{body}"
    );
    assert!(
        body.contains(&format!(
            "[workflow run](https://github.com/{OWNER}/{REPO}/actions/runs/4242)"
        )),
        "the comment links its workflow run:\n{body}"
    );
    assert!(body.contains("`abc1234`"), "{body}");
    assert_eq!(
        run.outputs.get("has-changes").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        run.outputs.get("changes-count").map(String::as_str),
        Some("8")
    );
    assert_eq!(
        run.outputs.get("plan-json").map(String::as_str),
        Some("kedro-sfn-plan/plan.json")
    );
    assert!(run.summary.contains("### Changes"), "{}", run.summary);
    assert!(run.stdout.contains("::group::"), "{}", run.stdout);
    let plan_json = action.workspace.path().join("kedro-sfn-plan/plan.json");
    assert!(Path::new(&plan_json).is_file());
    let requests = github.requests().await;
    assert_eq!(count(&requests, "POST"), 1, "{requests:?}");
    assert_eq!(
        count(&requests, "GET"),
        3,
        "every page must be read: {requests:?}"
    );

    // The same commit again: the comment says the same, so nothing is written.
    let run = action.run(
        "pull_request",
        &pull_request("abc1234", "acme/flights"),
        &[],
    );
    ok(&run);
    let requests = github.requests().await;
    assert_eq!(
        (count(&requests, "POST"), count(&requests, "UPDATE")),
        (1, 0),
        "{requests:?}"
    );
    assert!(run.stdout.contains("is up to date"), "{}", run.stdout);

    // A new commit: the same comment, updated in place.
    let run = action.run(
        "pull_request",
        &pull_request("def5678", "acme/flights"),
        &[],
    );
    ok(&run);
    let requests = github.requests().await;
    assert_eq!(
        (count(&requests, "POST"), count(&requests, "UPDATE")),
        (1, 1),
        "{requests:?}"
    );
    let mine = ours(&github);
    assert_eq!(mine.len(), 1);
    assert!(
        mine[0].1.contains("`def5678`"),
        "{}\n{}",
        run.stdout,
        github.comments().len()
    );

    // A push deploys (with a prebuilt image) and runs the pipeline; the merged pull
    // request's comment becomes the deployment record, with the run drawn and the plan that
    // was reviewed kept below it.
    let image = moto.fixture(&["image", "spaceflights", "v1"])["uri"]
        .as_str()
        .expect("uri")
        .to_string();
    let reviewed = ours(&github)[0].1.clone();
    let run = action.run(
        "push",
        &json!({"ref": "refs/heads/main"}),
        &[
            ("image-uri", &image),
            ("start-execution", "true"),
            ("wait", "true"),
        ],
    );
    ok(&run);
    let requests = github.requests().await;
    assert!(
        requests
            .iter()
            .any(|(verb, path)| verb == "GET" && path.ends_with("/pulls")),
        "{requests:?}"
    );
    let mine = ours(&github);
    assert_eq!(mine.len(), 1, "one comment, updated in place");
    let record = &mine[0].1;
    assert!(record.contains("🚀 deployed"), "{record}");
    assert!(
        record.contains("### The run") && record.contains("```mermaid\ngantt"),
        "the followed run is drawn:\n{record}"
    );
    assert!(
        record.contains("| This run | Planned | Measured |"),
        "{record}"
    );
    assert!(record.contains("`spaceflights:1`"), "{record}");
    assert!(
        record.contains("7 created, 0 updated, 0 deleted"),
        "{record}"
    );
    let digest = image.split_once('@').map(|(_, d)| d).expect("a digest");
    assert!(record.contains(digest), "{record}");
    assert!(
        record.contains("<summary>The plan that was reviewed</summary>"),
        "{record}"
    );
    let plan_heading = reviewed
        .lines()
        .find(|l| l.starts_with("## kedro-sfn"))
        .expect("the plan's heading");
    assert!(
        record.contains(plan_heading),
        "the reviewed plan is kept:\n{record}"
    );
    assert!(
        record.contains("Deployed commit `0123456789abcdef"),
        "{record}"
    );
    let version = run
        .outputs
        .get("state-machine-version-arn")
        .cloned()
        .unwrap_or_default();
    assert!(
        version.ends_with("stateMachine:spaceflights:1"),
        "{:?}",
        run.outputs
    );
    assert_eq!(run.outputs.get("image-uri"), Some(&image));
    assert_eq!(
        run.outputs.get("image-digest").map(String::as_str),
        image.split_once('@').map(|(_, d)| d)
    );
    // The job summary says what was deployed, with the plan it applied.
    assert!(run.summary.contains("🚀 deployed"), "{}", run.summary);
    assert!(run.summary.contains("kedro-sfn plan"), "{}", run.summary);

    // After the deploy, the pull request's comment says there is nothing to change.
    let run = action.run(
        "pull_request",
        &pull_request("def5678", "acme/flights"),
        &[("image-uri", &image)],
    );
    ok(&run);
    assert!(
        ours(&github)[0].1.contains("no changes"),
        "{}",
        ours(&github)[0].1
    );
    assert_eq!(
        run.outputs.get("has-changes").map(String::as_str),
        Some("false")
    );

    // The workspace holds the runner's files and the plan folder, nothing else (no build/,
    // no *.egg-info).
    let left = action.workspace_entries();
    assert_eq!(
        left,
        ["event.json", "kedro-sfn-plan", "output.txt", "summary.md"],
        "{left:?}"
    );

    // A fork's read-only token: the plan still succeeds, with a warning instead of a comment.
    github.make_read_only();
    let comments_before = github.comments();
    let run = action.run(
        "pull_request",
        &pull_request("fff0000", "someone/flights"),
        &[],
    );
    ok(&run);
    let mine = ours(&github);
    assert_eq!(mine.len(), 1);
    assert!(
        run.stdout.contains("::warning") && run.stdout.contains("read-only"),
        "{}",
        run.stdout
    );
    assert!(github.comments().len() >= comments_before.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_that_stops_before_planning_names_no_plan_files_and_leaves_the_workspace_alone() {
    let github = FakeGitHub::start().await;
    let moto = MotoServer::start();
    let action = Action::new(&moto, &github);
    let run = action.run(
        "pull_request",
        &pull_request("abc1234", "acme/flights"),
        &[("config", "no-such-kedro-sfn.yml")],
    );
    assert!(!run.success, "a missing config file must fail the step");
    assert!(run.stdout.contains("::error"), "{}", run.stdout);
    assert!(
        !run.outputs.contains_key("plan-json") && !run.outputs.contains_key("summary-markdown"),
        "outputs name files that do not exist: {:?}",
        run.outputs
    );
    assert_eq!(
        run.outputs.get("has-changes").map(String::as_str),
        Some("false")
    );
    // Nothing but the runner's own files (the event, outputs, summary) in the workspace.
    let left = action.workspace_entries();
    assert_eq!(left, ["event.json", "output.txt"], "{left:?}");
}
