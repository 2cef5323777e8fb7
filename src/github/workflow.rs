//! The GitHub Action's run: pull requests get a plan, a sticky comment and the job summary;
//! pushes and manual dispatches deploy (and run, if asked), and the deployment record goes
//! to the job summary and to the pull request the deploy came from. The same flows as the
//! commands, reported through the job log.

use std::path::{Path, PathBuf};

use anyhow::bail;

use crate::config::{Config, FlagOverrides};
use crate::github::actions::{annotation, resolve_mode, Context, Inputs, Mode, Phase};
use crate::github::api::{CommentOutcome, GitHub};
use crate::github::outputs::Outputs;
use crate::pipeline::check::{FixedIn, Problem, Severity};
use crate::plan::changes::FunctionAction;
use crate::report::comment::{marker, render_comment, render_refusal_comment, CommentInput};
use crate::report::deployment::{
    render_deployment, reviewed_plan, DeploymentRecord, ExecutionLine,
};
use crate::report::summary;

use crate::flow::apply::apply_prepared;
use crate::flow::execution::{execute_deployed, ExecutionRequest, Started};
use crate::flow::image::{build, push, BuildRequest, ImageRecord, PushRequest};
use crate::flow::outputs::{write_plan, PLAN_FILE, SUMMARY_FILE};
use crate::flow::planning::Refused;
use crate::flow::prepare::{prepare, Prepared, TargetRequest};
use crate::flow::project_env::{project_env, EnvRequest};
use crate::flow::session::{plan_pipeline, Durations};
use crate::flow::source::{cache_dir, Source};
use crate::flow::{block_on, Reporter};

/// Where the action writes, relative to the workspace (outputs name these paths).
const PLAN_DIR: &str = "kedro-sfn-plan";
const IMAGE_DIR: &str = "kedro-sfn-image";

/// Runs the action for the event: plans (pull requests) or deploys (pushes, dispatches).
/// Returns the step's outputs, naming only files that exist, beside the result.
pub fn run_action(inputs: &Inputs, context: &Context) -> (Outputs, anyhow::Result<()>) {
    let mode = resolve_mode(&inputs.mode, &context.event_name);
    let mut outputs = Outputs::default();
    let result = block_on(run_mode(inputs, context, mode, &mut outputs));
    // A run that stopped early wrote no plan: name only files that exist.
    let written = |file: &str| {
        Path::new(PLAN_DIR)
            .join(file)
            .is_file()
            .then(|| format!("{PLAN_DIR}/{file}"))
    };
    outputs.plan_json = written(PLAN_FILE);
    outputs.summary_markdown = written(SUMMARY_FILE);
    (outputs, result)
}

fn source(inputs: &Inputs, python: PathBuf) -> Source {
    Source {
        project: inputs.project_dir.clone(),
        pipeline_json: None,
        python,
        no_cache: false,
    }
}

/// The job log: findings and warnings as annotations on the file that fixes them, the
/// rest as plain lines.
struct JobLog {
    /// The env's catalog, where dataset problems are fixed.
    catalog: PathBuf,
    /// kedro-sfn.yml, when there is one.
    config: Option<PathBuf>,
}

impl JobLog {
    fn new(inputs: &Inputs, config: &Config) -> Self {
        let conf = inputs.project_dir.join("conf");
        let env_catalog = config
            .file
            .env
            .as_ref()
            .map(|env| conf.join(env).join("catalog.yml"))
            .filter(|p| p.is_file());
        JobLog {
            catalog: env_catalog.unwrap_or_else(|| conf.join("base/catalog.yml")),
            config: config.source.clone(),
        }
    }
}

impl Reporter for JobLog {
    fn secret(&self, value: &str) {
        crate::github::actions::mask(value);
    }

    fn finding(&self, problem: &Problem) {
        let level = match problem.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let file = match problem.rule.fixed_in() {
            FixedIn::Catalog => Some(self.catalog.as_path()),
            FixedIn::Config => self.config.as_deref(),
            FixedIn::Project => None,
        };
        let message = format!(
            "{}: {} (hint: {})",
            problem.subject, problem.message, problem.hint
        );
        crate::console::out(&annotation(level, file, problem.rule.id(), &message));
    }

    fn progress(&self, line: &str) {
        crate::console::out(&format!("  {line}"));
    }

    fn result(&self, line: &str) {
        crate::console::out(line);
    }
}

/// The Python that runs Kedro: KEDRO_SFN_PYTHON when set; else, inside the action's
/// container, a cached virtual environment with the project's dependencies (Debian's Python
/// refuses system-wide installs); else `python3`.
fn project_python(inputs: &Inputs, config: &Config, log: &JobLog) -> anyhow::Result<PathBuf> {
    if let Some(python) = std::env::var_os("KEDRO_SFN_PYTHON") {
        return Ok(PathBuf::from(python));
    }
    if std::env::var("GITHUB_ACTIONS").as_deref() != Ok("true") {
        return Ok(PathBuf::from("python3"));
    }
    let cache_dir = cache_dir().unwrap_or_else(|| std::env::temp_dir().join("kedro-sfn"));
    let extras = config.file.image.extras.clone().unwrap_or_default();
    let env = project_env(
        &EnvRequest {
            project: &inputs.project_dir,
            extras: &extras,
            base_python: Path::new("python3"),
            cache_dir: &cache_dir,
        },
        &|line| log.progress(line),
    )?;
    Ok(env.python)
}

/// The config file named by the inputs (else the project's), with the inputs beating it.
fn load_config(inputs: &Inputs) -> anyhow::Result<Config> {
    let flags = FlagOverrides {
        env: inputs.env.clone(),
        pipeline: inputs.pipeline.clone(),
        state_machine_name: inputs.state_machine_name.clone(),
        region: inputs.aws_region.clone(),
        ..FlagOverrides::default()
    };
    Ok(Config::load(
        inputs.config.as_deref(),
        Some(&inputs.project_dir),
        &flags,
    )?)
}

async fn run_mode(
    inputs: &Inputs,
    context: &Context,
    mode: Mode,
    outputs: &mut Outputs,
) -> anyhow::Result<()> {
    let out = Path::new(PLAN_DIR);
    let pull_request = context.pull_request();
    let commit = context.commit();

    let phase = Phase::start("kedro-sfn: export and check the pipeline");
    crate::flow::outputs::clear_stale(out)?;
    let config = load_config(inputs)?;
    let log = JobLog::new(inputs, &config);
    let source = source(inputs, project_python(inputs, &config, &log)?);
    let durations = Durations::Past(inputs.history);
    let planned = plan_pipeline(&source, &config, durations, Some(out), &log).await;
    phase.end();
    let plan = match planned {
        Ok(planned) => planned.plan,
        Err(error) => {
            if let Some(refused) = error.downcast_ref::<Refused>() {
                publish(context, &refused.summary)?;
                if let Some(pr) = &pull_request {
                    let body = render_refusal_comment(
                        &refused.machine,
                        &refused.findings,
                        &commit,
                        context.run_url.as_deref(),
                    );
                    comment(inputs, context, pr.number, &marker(&refused.machine), &body).await;
                }
            }
            return Err(error);
        }
    };

    let mut target_args = TargetRequest {
        image_uri: inputs.image_uri.clone(),
        image_dir: PathBuf::from(IMAGE_DIR),
        lambda_role_arn: inputs.lambda_role_arn.clone(),
        state_machine_role_arn: inputs.state_machine_role_arn.clone(),
        concurrency: None,
        project: Some(inputs.project_dir.clone()),
        no_probe: false,
    };
    if mode == Mode::Deploy && target_args.image_uri.is_none() {
        let phase = Phase::start("kedro-sfn: build and push the Lambda image");
        let image = build_and_push(inputs, &source, &config, &log).await;
        phase.end();
        let record = image?;
        outputs.image_uri = record.uri.clone();
        outputs.image_digest = record.digest.clone();
        target_args.image_uri = record.uri;
    }

    let phase = Phase::start("kedro-sfn: compare with what is deployed");
    let prepared = prepare(config.clone(), plan.clone(), &target_args, &log).await;
    phase.end();
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(error) if mode == Mode::Plan => {
            // No credentials (a fork) or no access: the plan still helps the review.
            let note = format!("Not compared with AWS: {error:#}");
            crate::console::out(&annotation("warning", None, "kedro-sfn plan", &note));
            return offline_plan(inputs, context, &plan, &note).await;
        }
        Err(error) => return Err(error),
    };
    let changes = &prepared.changes;
    outputs.has_changes = !changes.is_empty();
    outputs.changes_count = changes.count();
    if let Some(machine) = &prepared.deployment.machine {
        outputs.state_machine_arn = Some(machine.arn.clone());
    }
    let deletions: Vec<&str> = changes
        .functions
        .iter()
        .filter(|f| f.action == FunctionAction::Delete)
        .map(|f| f.name.as_str())
        .collect();

    match mode {
        Mode::Plan => {
            prepared.write_outputs(out, &prepared.clients.calls.count())?;
            report_plan(inputs, context, &prepared, &[]).await?;
            if inputs.fail_on_destructive && !deletions.is_empty() {
                bail!(
                    "the plan deletes {} function(s) ({}) and fail-on-destructive is true",
                    deletions.len(),
                    deletions.join(", ")
                );
            }
            Ok(())
        }
        Mode::Deploy => {
            if inputs.fail_on_destructive && !deletions.is_empty() {
                prepared.write_outputs(out, &prepared.clients.calls.count())?;
                report_plan(inputs, context, &prepared, &[]).await?;
                bail!("refusing to deploy: the plan deletes {} function(s) ({}) and fail-on-destructive is true; nothing was changed", deletions.len(), deletions.join(", "));
            }
            deploy_prepared(
                inputs,
                context,
                &prepared,
                Places {
                    project: &source.project,
                    image_dir: &target_args.image_dir,
                    out,
                },
                &log,
                outputs,
            )
            .await
        }
    }
}

/// Where a deploy-mode run reads and writes: the project, the image record, the plan files.
struct Places<'a> {
    project: &'a Path,
    image_dir: &'a Path,
    out: &'a Path,
}

/// Deploy mode once the plan is compared: apply, set the outputs, start an execution when
/// asked, and report the deployment (also when it failed).
async fn deploy_prepared(
    inputs: &Inputs,
    context: &Context,
    prepared: &Prepared,
    places: Places<'_>,
    log: &JobLog,
    outputs: &mut Outputs,
) -> anyhow::Result<()> {
    let Places {
        project,
        image_dir,
        out,
    } = places;
    let commit = context.commit();
    let phase = Phase::start("kedro-sfn: deploy");
    let started_at = std::time::Instant::now();
    let applied = apply_prepared(prepared, project, out, image_dir, log).await;
    phase.end();
    if let Ok(applied) = &applied {
        if let Some(arn) = &applied.state_machine_arn {
            outputs.state_machine_arn = Some(arn.clone());
        }
        outputs.state_machine_version_arn = applied.version_arn.clone();
    }
    if let Some(uri) = &prepared.target.image_uri {
        outputs.set_image(uri);
    }
    let execution = match (&applied, inputs.start_execution) {
        (Ok(applied), true) => {
            let phase = Phase::start("kedro-sfn: execution");
            let request = ExecutionRequest {
                input: match inputs.params.is_empty() {
                    true => "{}".into(),
                    false => crate::pipeline::params::input_with_params(
                        &serde_json::json!({}),
                        inputs.params.clone(),
                    )
                    .to_string(),
                },
                name: None,
                wait: inputs.wait,
            };
            let started = execute_deployed(prepared, applied, &request, log).await;
            phase.end();
            Some(started)
        }
        _ => None,
    };
    let failure = applied.as_ref().err().map(|e| format!("{e:#}"));
    let record = DeploymentRecord {
        state_machine: &prepared.plan.state_machine.name,
        alias: &prepared.target.alias,
        commit: &commit,
        changes: &prepared.changes,
        failure: failure.as_deref(),
        version_before: prepared
            .deployment
            .machine
            .as_ref()
            .and_then(|m| m.alias_version_arn.as_deref()),
        version_after: applied.as_ref().ok().and_then(|a| a.version_arn.as_deref()),
        image_uri: prepared.target.image_uri.as_deref(),
        seconds: started_at.elapsed().as_secs_f64(),
        execution: execution.as_ref().map(execution_line),
        probes: applied
            .as_ref()
            .ok()
            .and_then(|a| a.probes.as_ref())
            .map(|p| (p.count, p.seconds)),
        run_url: context.run_url.as_deref(),
        plan: Some(&prepared.plan),
    };
    report_deployment(inputs, context, &record).await?;
    applied?;
    if let Some(started) = execution {
        started?.succeeded()?;
    }
    Ok(())
}

/// The line of the record for an execution: how it ended, or why it did not start.
fn execution_line(started: &anyhow::Result<Started>) -> ExecutionLine {
    match started {
        Ok(started) => ExecutionLine {
            name: started.name.clone(),
            status: match (&started.status, &started.failure) {
                (_, Some(failure)) => {
                    format!("FAILED: {}", failure.lines().next().unwrap_or_default())
                }
                (Some(status), None) => status.to_string(),
                (None, None) => "started".into(),
            },
            console: started.console.clone(),
            failed_task: started.failed_task.clone(),
            timeline: started.timeline.clone(),
        },
        Err(error) => ExecutionLine {
            name: "-".into(),
            status: format!("not started: {error:#}"),
            console: String::new(),
            failed_task: None,
            timeline: None,
        },
    }
}

/// The deployment record in the job summary (with the plan it applied) and on the pull
/// requests the deploy belongs to: the event's own, else (a push) those of the commit, each
/// comment turned from the reviewed plan into the record of what was deployed.
async fn report_deployment(
    inputs: &Inputs,
    context: &Context,
    record: &DeploymentRecord<'_>,
) -> anyhow::Result<()> {
    let plan_summary =
        std::fs::read_to_string(Path::new(PLAN_DIR).join(SUMMARY_FILE)).unwrap_or_default();
    publish(context, &render_deployment(record, Some(&plan_summary)))?;
    let Some(token) = inputs.github_token.as_deref().filter(|_| inputs.comment) else {
        return Ok(());
    };
    let github = match GitHub::new(&context.api_url, token, &context.repository) {
        Ok(github) => github,
        Err(error) => {
            warn_comment(&error.to_string());
            return Ok(());
        }
    };
    let pulls = match context.pull_request() {
        Some(pr) => vec![pr.number],
        None if context.event_name == "push" => match github.pulls_for_commit(&context.sha).await {
            Ok(pulls) => pulls,
            Err(error) => {
                warn_comment(&error.to_string());
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    let marker = marker(record.state_machine);
    for number in pulls {
        let reviewed = match github.find_comment(number, &marker).await {
            Ok(found) => found.map(|(_, body)| reviewed_plan(&body)),
            Err(error) => {
                warn_comment(&error.to_string());
                continue;
            }
        };
        let body = render_deployment(record, reviewed.as_deref());
        comment(inputs, context, number, &marker, &body).await;
    }
    Ok(())
}

/// A comment that could not be written: a warning on the job, never a failure.
fn warn_comment(message: &str) {
    crate::console::out(&annotation("warning", None, "kedro-sfn comment", message));
}

/// The job summary and the comment of a plan compared with AWS.
async fn report_plan(
    inputs: &Inputs,
    context: &Context,
    prepared: &Prepared,
    notes: &[String],
) -> anyhow::Result<()> {
    let summary_text =
        std::fs::read_to_string(Path::new(PLAN_DIR).join(SUMMARY_FILE)).unwrap_or_default();
    publish(context, &summary_text)?;
    if let Some(pr) = context.pull_request() {
        let body = render_comment(&CommentInput {
            now: chrono::Utc::now(),
            plan: &prepared.plan,
            changes: Some(&prepared.changes),
            task_diff: &prepared.task_diff,
            run_url: context.run_url.as_deref(),
            commit: &context.commit(),
            notes,
        });
        comment(
            inputs,
            context,
            pr.number,
            &marker(&prepared.plan.state_machine.name),
            &body,
        )
        .await;
    }
    Ok(())
}

/// A plan that could not be compared with AWS: written, summarized and commented anyway.
async fn offline_plan(
    inputs: &Inputs,
    context: &Context,
    plan: &crate::plan::Plan,
    note: &str,
) -> anyhow::Result<()> {
    let baseline = summary::Baseline::Empty {
        reason: "not compared with AWS".into(),
    };
    let summary_text = write_plan(Path::new(PLAN_DIR), plan, &baseline, None)?;
    publish(context, &summary_text)?;
    if let Some(pr) = context.pull_request() {
        let notes = [note.lines().next().unwrap_or_default().to_string()];
        let body = render_comment(&CommentInput {
            now: chrono::Utc::now(),
            plan,
            changes: None,
            task_diff: "",
            run_url: context.run_url.as_deref(),
            commit: &context.commit(),
            notes: &notes,
        });
        comment(
            inputs,
            context,
            pr.number,
            &marker(&plan.state_machine.name),
            &body,
        )
        .await;
    }
    Ok(())
}

/// Writes the job summary (when the runner gives a file for it).
fn publish(context: &Context, markdown: &str) -> anyhow::Result<()> {
    if let Some(path) = &context.step_summary {
        crate::github::actions::write_summary(path, markdown)?;
    }
    Ok(())
}

/// Posts or updates the comment; a read-only token (a fork) or an API failure is a warning,
/// never a failed plan or deploy.
async fn comment(inputs: &Inputs, context: &Context, number: u64, marker: &str, body: &str) {
    if !inputs.comment {
        return;
    }
    let Some(token) = &inputs.github_token else {
        warn_comment("no github-token: the plan is in the job summary only");
        return;
    };
    let result = match GitHub::new(&context.api_url, token, &context.repository) {
        Ok(github) => github.upsert_comment(number, marker, body).await,
        Err(error) => Err(error),
    };
    match result {
        Ok(CommentOutcome::Created(id)) => {
            crate::console::out(&format!("created comment {id} on pull request #{number}"))
        }
        Ok(CommentOutcome::Updated(id)) => {
            crate::console::out(&format!("updated comment {id} on pull request #{number}"))
        }
        Ok(CommentOutcome::Unchanged(id)) => crate::console::out(&format!(
            "comment {id} on pull request #{number} is up to date"
        )),
        Err(error) => warn_comment(&error.to_string()),
    }
}

/// Builds and pushes the image for a deploy.
async fn build_and_push(
    inputs: &Inputs,
    source: &Source,
    config: &Config,
    reporter: &dyn Reporter,
) -> anyhow::Result<ImageRecord> {
    let request = BuildRequest {
        project: source.project.clone(),
        python: source.python.clone(),
        builder: inputs.builder,
        base_image: None,
        out: PathBuf::from(IMAGE_DIR),
        repository: inputs.ecr_repository.clone(),
        no_test: false,
    };
    build(config, &request, reporter).map_err(|error| {
        match error.downcast_ref::<crate::image::builder::BuilderError>() {
            // The CLI's hint (install buildah, --builder) does not fit a runner.
            Some(
                crate::image::builder::BuilderError::DockerEngineDown
                | crate::image::builder::BuilderError::NoneInstalled
                | crate::image::builder::BuilderError::NotInstalled { .. },
            ) => anyhow::anyhow!(
                "no Docker engine answers on this runner, and the action builds the image with it: run on a runner with Docker (GitHub's ubuntu runners have it), or build and push the image in an earlier step and pass its URI as image-uri"
            ),
            _ => error,
        }
    })?;
    let request = PushRequest {
        out: PathBuf::from(IMAGE_DIR),
        region: config.file.region.clone(),
        registry: std::env::var("KEDRO_SFN_REGISTRY").ok(),
    };
    Ok(push(&request, reporter).await?.0)
}
