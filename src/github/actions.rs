//! GitHub Actions glue: the action's inputs (INPUT_* variables), the run's context (event,
//! commit, repository, files for outputs and the job summary) and workflow commands
//! (groups, annotations, masks). Plain data in and out; no GitHub API calls.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::BuilderKind;

/// Why the action cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    #[error("input {name} is {value:?}; it must be \"true\" or \"false\"")]
    Boolean { name: String, value: String },
    #[error("input {name} is {value:?}; it must be one of: {allowed}")]
    Choice {
        name: String,
        value: String,
        allowed: &'static str,
    },
    #[error("input {name} is {value:?}; it must be a whole number, 0 or more")]
    Number { name: String, value: String },
    #[error("input params: {0}")]
    Params(#[from] crate::pipeline::params::ParamsError),
    #[error("{0} is not set: is this running inside GitHub Actions?")]
    Missing(&'static str),
    #[error("cannot read the event payload {path}: {detail}")]
    Event { path: String, detail: String },
    /// `detail` is the OS's reason, said once (not also as a cause).
    #[error(
        "cannot write {variable} ({path}): {detail}; the runner sets it to a file it can append to"
    )]
    Write {
        variable: &'static str,
        path: String,
        detail: String,
    },
}

/// What the workflow asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeInput {
    Auto,
    Plan,
    Deploy,
}

/// The action's inputs, defaults applied (`docker://` steps get no defaults from action.yml).
#[derive(Debug, Clone, PartialEq)]
pub struct Inputs {
    pub project_dir: PathBuf,
    pub env: Option<String>,
    pub pipeline: Option<String>,
    pub config: Option<PathBuf>,
    pub state_machine_name: Option<String>,
    pub ecr_repository: Option<String>,
    pub aws_region: Option<String>,
    pub state_machine_role_arn: Option<String>,
    pub lambda_role_arn: Option<String>,
    pub builder: Option<BuilderKind>,
    pub mode: ModeInput,
    pub start_execution: bool,
    pub wait: bool,
    /// Runtime params of a started execution (`kedro run --params` syntax, read).
    pub params: serde_json::Map<String, serde_json::Value>,
    pub github_token: Option<String>,
    pub comment: bool,
    pub fail_on_destructive: bool,
    /// Deploy this image instead of building one (REPO@sha256:…).
    pub image_uri: Option<String>,
    /// Past successful executions whose durations shape the plan (0: none).
    pub history: usize,
}

impl Inputs {
    /// Reads `INPUT_<NAME>` (upper case, dashes kept, as the runner sets them); empty is
    /// absent.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Inputs, ActionError> {
        let text = |name: &str| {
            get(&format!("INPUT_{}", name.to_ascii_uppercase()))
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let boolean = |name: &str, default: bool| match text(name) {
            None => Ok(default),
            Some(v) if v.eq_ignore_ascii_case("true") => Ok(true),
            Some(v) if v.eq_ignore_ascii_case("false") => Ok(false),
            Some(value) => Err(ActionError::Boolean {
                name: name.to_string(),
                value,
            }),
        };
        let mode = match text("mode")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("auto") => ModeInput::Auto,
            Some("plan") => ModeInput::Plan,
            Some("deploy") => ModeInput::Deploy,
            Some(_) => {
                return Err(ActionError::Choice {
                    name: "mode".into(),
                    value: text("mode").unwrap_or_default(),
                    allowed: "auto, plan, deploy",
                })
            }
        };
        let builder = match text("builder")
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None => None,
            Some("docker") => Some(BuilderKind::Docker),
            Some("buildah") => Some(BuilderKind::Buildah),
            Some(_) => {
                return Err(ActionError::Choice {
                    name: "builder".into(),
                    value: text("builder").unwrap_or_default(),
                    allowed: "docker, buildah",
                })
            }
        };
        Ok(Inputs {
            project_dir: PathBuf::from(text("project-dir").unwrap_or_else(|| ".".into())),
            env: text("env"),
            pipeline: text("pipeline"),
            config: text("config").map(PathBuf::from),
            state_machine_name: text("state-machine-name"),
            ecr_repository: text("ecr-repository"),
            aws_region: text("aws-region"),
            state_machine_role_arn: text("state-machine-role-arn"),
            lambda_role_arn: text("lambda-role-arn"),
            builder,
            mode,
            start_execution: boolean("start-execution", false)?,
            wait: boolean("wait", true)?,
            // Read before anything is deployed: a typo fails the step, not the run after it.
            params: crate::pipeline::params::parse_params(&text("params").unwrap_or_default())?,
            github_token: text("github-token"),
            comment: boolean("comment", true)?,
            fail_on_destructive: boolean("fail-on-destructive", false)?,
            image_uri: text("image-uri"),
            history: match text("history") {
                None => crate::config::defaults::HISTORY_EXECUTIONS,
                Some(value) => value.parse().map_err(|_| ActionError::Number {
                    name: "history".into(),
                    value,
                })?,
            },
        })
    }
}

/// A pull request the run belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub head_sha: String,
    /// Opened from another repository: its token is read-only and secrets are absent.
    pub from_fork: bool,
}

/// The run's context, from GITHUB_* variables and the event payload.
#[derive(Debug, Clone)]
pub struct Context {
    pub event_name: String,
    pub event: Value,
    pub sha: String,
    pub repository: String,
    pub api_url: String,
    pub step_summary: Option<PathBuf>,
    pub output: Option<PathBuf>,
    /// The workflow run's page, which comments link to (`None` outside a runner).
    pub run_url: Option<String>,
}

impl Context {
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Context, ActionError> {
        let event_name =
            get("GITHUB_EVENT_NAME").ok_or(ActionError::Missing("GITHUB_EVENT_NAME"))?;
        let event = match get("GITHUB_EVENT_PATH") {
            Some(path) => {
                let text = std::fs::read_to_string(&path).map_err(|e| ActionError::Event {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
                serde_json::from_str(&text).map_err(|e| ActionError::Event {
                    path,
                    detail: e.to_string(),
                })?
            }
            None => Value::Null,
        };
        Ok(Context {
            event_name,
            event,
            sha: get("GITHUB_SHA").unwrap_or_default(),
            repository: get("GITHUB_REPOSITORY")
                .ok_or(ActionError::Missing("GITHUB_REPOSITORY"))?,
            api_url: get("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            step_summary: get("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            output: get("GITHUB_OUTPUT").map(PathBuf::from),
            run_url: get("GITHUB_RUN_ID").map(|id| {
                let server =
                    get("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
                let repository = get("GITHUB_REPOSITORY").unwrap_or_default();
                format!("{server}/{repository}/actions/runs/{id}")
            }),
        })
    }

    /// The pull request of a pull_request(_target) event.
    pub fn pull_request(&self) -> Option<PullRequest> {
        let pr = self.event.get("pull_request")?;
        let number = pr.get("number")?.as_u64()?;
        let head_repo = pr.pointer("/head/repo/full_name").and_then(Value::as_str);
        let base_repo = pr.pointer("/base/repo/full_name").and_then(Value::as_str);
        Some(PullRequest {
            number,
            head_sha: pr
                .pointer("/head/sha")
                .and_then(Value::as_str)
                .unwrap_or(&self.sha)
                .to_string(),
            from_fork: head_repo.is_some() && head_repo != base_repo,
        })
    }

    /// The commit the run is about: a pull request's head, else GITHUB_SHA.
    pub fn commit(&self) -> String {
        self.pull_request()
            .map(|pr| pr.head_sha)
            .unwrap_or_else(|| self.sha.clone())
    }
}

/// What the action does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plan,
    Deploy,
}

/// `auto`: pull requests plan; pushes and manual dispatches deploy.
pub fn resolve_mode(input: &ModeInput, event_name: &str) -> Mode {
    match input {
        ModeInput::Plan => Mode::Plan,
        ModeInput::Deploy => Mode::Deploy,
        ModeInput::Auto => match event_name {
            "push" | "workflow_dispatch" | "schedule" | "release" => Mode::Deploy,
            _ => Mode::Plan,
        },
    }
}

/// Escapes data for a workflow command (`::error::DATA`).
fn escape_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command property (`file=…,title=…`).
fn escape_property(text: &str) -> String {
    escape_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// `::error file=F,title=T::message` (or `warning`), for the checks and failures.
pub fn annotation(level: &str, file: Option<&Path>, title: &str, message: &str) -> String {
    let mut properties = Vec::new();
    if let Some(file) = file {
        properties.push(format!(
            "file={}",
            escape_property(&file.display().to_string())
        ));
    }
    properties.push(format!("title={}", escape_property(title)));
    format!(
        "::{level} {}::{}",
        properties.join(","),
        escape_data(message)
    )
}

/// Opens a collapsible group in the log; closed by [`end_group`].
/// One phase of a run: a collapsible group in the job log, closed with the time it took,
/// so a slow run shows where its time went.
pub struct Phase {
    title: String,
    started: std::time::Instant,
}

impl Phase {
    pub fn start(title: &str) -> Phase {
        crate::console::out(&format!("::group::{}", escape_data(title)));
        Phase {
            title: title.to_string(),
            started: std::time::Instant::now(),
        }
    }

    /// Closes the group and prints the phase's time.
    pub fn end(self) {
        crate::console::out("::endgroup::");
        crate::console::out(&format!(
            "{}: {:.1} s",
            self.title,
            self.started.elapsed().as_secs_f64()
        ));
    }
}

/// Hides `secret` in every later log line.
pub fn mask(secret: &str) {
    if !secret.is_empty() {
        crate::console::out(&format!("::add-mask::{}", escape_data(secret)));
    }
}

fn append(variable: &'static str, path: &Path, text: &str) -> Result<(), ActionError> {
    let failed = |error: std::io::Error| ActionError::Write {
        variable,
        path: path.display().to_string(),
        detail: error.to_string(),
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(failed)?;
    file.write_all(text.as_bytes()).map_err(failed)
}

/// Appends the outputs to GITHUB_OUTPUT (`name=value` lines; a value with a newline goes
/// in a delimited block).
pub fn write_outputs(path: &Path, outputs: &BTreeMap<&str, String>) -> Result<(), ActionError> {
    let mut text = String::new();
    for (name, value) in outputs {
        if value.contains('\n') {
            let delimiter = format!("kedro_sfn_{}", value.len());
            text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
        } else {
            text.push_str(&format!("{name}={value}\n"));
        }
    }
    append("GITHUB_OUTPUT", path, &text)
}

/// Appends Markdown to the job summary.
pub fn write_summary(path: &Path, markdown: &str) -> Result<(), ActionError> {
    let written = std::fs::metadata(path).map_or(0, |m| m.len() as usize);
    let room = SUMMARY_MAX_BYTES.saturating_sub(written);
    append("GITHUB_STEP_SUMMARY", path, &fit_bytes(markdown, room))
}

/// GitHub refuses a step's summary past 1 MiB (and shows none of it): what one step
/// appends stays under this.
pub const SUMMARY_MAX_BYTES: usize = 1_000_000;

/// `markdown` cut (as a comment is, head and tail kept, still valid Markdown) to at most
/// `max` bytes.
fn fit_bytes(markdown: &str, max: usize) -> String {
    let mut chars = max;
    loop {
        let cut = crate::report::comment::truncate(markdown, chars, None);
        if cut.len() <= max {
            return cut;
        }
        if chars < 1_000 {
            return String::new();
        }
        chars = chars * 9 / 10;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn params_are_read_before_anything_runs() {
        let inputs = Inputs::from_env(env(&[("INPUT_PARAMS", "epochs=10,model.lr=0.1")]))
            .expect("valid params");
        assert_eq!(
            serde_json::Value::Object(inputs.params),
            serde_json::json!({"epochs": 10, "model.lr": 0.1})
        );
        let error = Inputs::from_env(env(&[("INPUT_PARAMS", "epochs")])).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("input params: invalid --params: item `epochs`"),
            "{error}"
        );
        assert!(Inputs::from_env(env(&[])).expect("none").params.is_empty());
    }

    #[test]
    fn an_output_file_that_is_a_directory_is_named_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let outputs = BTreeMap::from([("has-changes", "true".to_string())]);
        let error = write_outputs(dir.path(), &outputs).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("cannot write GITHUB_OUTPUT ("),
            "{message}"
        );
        assert!(
            std::error::Error::source(&error).is_none(),
            "said twice: {error:?}"
        );
        let summary = write_summary(dir.path(), "x").unwrap_err().to_string();
        assert!(
            summary.starts_with("cannot write GITHUB_STEP_SUMMARY ("),
            "{summary}"
        );
    }

    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn inputs_take_defaults_and_refuse_bad_booleans() {
        let inputs =
            Inputs::from_env(env(&[("INPUT_PROJECT-DIR", "proj"), ("INPUT_WAIT", "")])).unwrap();
        assert_eq!(inputs.project_dir, PathBuf::from("proj"));
        assert!(inputs.wait && inputs.comment && !inputs.start_execution);
        assert_eq!(inputs.mode, ModeInput::Auto);
        let error = Inputs::from_env(env(&[("INPUT_COMMENT", "yes")])).unwrap_err();
        assert_eq!(
            error.to_string(),
            "input comment is \"yes\"; it must be \"true\" or \"false\""
        );
        assert!(Inputs::from_env(env(&[("INPUT_MODE", "ship")])).is_err());
    }

    #[test]
    fn auto_mode_plans_pull_requests_and_deploys_pushes() {
        assert_eq!(resolve_mode(&ModeInput::Auto, "pull_request"), Mode::Plan);
        assert_eq!(resolve_mode(&ModeInput::Auto, "push"), Mode::Deploy);
        assert_eq!(
            resolve_mode(&ModeInput::Auto, "workflow_dispatch"),
            Mode::Deploy
        );
        assert_eq!(resolve_mode(&ModeInput::Plan, "push"), Mode::Plan);
    }

    #[test]
    fn annotations_escape_what_would_end_them() {
        let line = annotation(
            "error",
            Some(Path::new("conf/a,b.yml")),
            "x: y",
            "line1\nline2 100%",
        );
        assert_eq!(
            line,
            "::error file=conf/a%2Cb.yml,title=x%3A y::line1%0Aline2 100%25"
        );
    }

    #[test]
    fn forks_are_recognised() {
        let context = Context {
            event_name: "pull_request".into(),
            event: serde_json::json!({"pull_request": {"number": 7, "head": {"sha": "abc", "repo": {"full_name": "fork/x"}}, "base": {"repo": {"full_name": "org/x"}}}}),
            sha: "merge".into(),
            repository: "org/x".into(),
            api_url: String::new(),
            step_summary: None,
            output: None,
            run_url: None,
        };
        let pr = context.pull_request().unwrap();
        assert_eq!(
            (pr.number, pr.from_fork, context.commit()),
            (7, true, "abc".to_string())
        );
    }
}
