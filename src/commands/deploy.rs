//! `kedro-sfn deploy` (and the live half of `plan`): read what is deployed, compute the
//! change set, apply it, optionally start an execution and follow it.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use clap::Args;
use serde_json::{json, Value};

use crate::aws::deploy::{apply, read_deployment, Applied, Clients, Job};
use crate::aws::sfn::ExecutionEvent;
use crate::aws::{self, CallCount};
use crate::config::Config;
use crate::image::ImageRef;
use crate::plan::changes::{changes, ChangeSet, Deployment, Target};
use crate::plan::document::plan_document;
use crate::plan::{self, Plan, PlanError};
use crate::report::diff::{definition_diff, headline, render as render_changes};
use crate::report::summary::{self, Baseline};

use super::image::read_record;
use super::plan::{refusal, DEFINITION_FILE, PLAN_FILE, SUMMARY_FILE};
use super::{load_pipeline, write_atomically, SettingsArgs, SourceArgs};

/// The file deploy writes beside the plan: what it did.
pub const DEPLOY_FILE: &str = "deploy.json";

/// The alias when the config names none.
pub const DEFAULT_ALIAS: &str = "live";

/// How many functions change at once when the config says nothing.
pub const DEFAULT_CONCURRENCY: usize = 8;

/// What deploy adds to the plan's inputs.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// Deploy this image (REGISTRY/REPO@sha256:…) instead of the one `image push` recorded.
    #[arg(long, value_name = "URI")]
    pub image_uri: Option<String>,
    /// Where `image build` / `image push` wrote image.json.
    #[arg(long, value_name = "DIR", default_value = "kedro-sfn-image")]
    pub image_dir: PathBuf,
    /// The functions' execution role (default: lambda.role_arn).
    #[arg(long, value_name = "ARN")]
    pub lambda_role_arn: Option<String>,
    /// The role Step Functions assumes (default: state_machine.role_arn).
    #[arg(long, value_name = "ARN")]
    pub state_machine_role_arn: Option<String>,
    /// Functions created or updated at once (default: deploy.concurrency, else 8).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
}

#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[command(flatten)]
    pub target: TargetArgs,
    /// Where the plan, the summary and deploy.json are written.
    #[arg(long, value_name = "DIR", default_value = "kedro-sfn-plan")]
    pub out: PathBuf,
    /// After deploying, start an execution of the new version.
    #[arg(long)]
    pub start_execution: bool,
    /// The execution's input (runtime params under "params").
    #[arg(
        long,
        value_name = "JSON",
        default_value = "{}",
        requires = "start_execution"
    )]
    pub input: String,
    /// The execution's name (default: kedro-sfn-<time>).
    #[arg(long, value_name = "NAME", requires = "start_execution")]
    pub execution_name: Option<String>,
    /// Follow the execution to its end; the exit code tells whether it succeeded.
    #[arg(long, requires = "start_execution")]
    pub wait: bool,
}

/// Everything computed before anything is changed.
pub struct Prepared {
    pub config: Config,
    pub plan: Plan,
    pub target: Target,
    pub deployment: Deployment,
    pub changes: ChangeSet,
    pub text_diff: String,
    pub clients: Clients,
    pub region: String,
    pub concurrency: usize,
}

fn logging_target(config: &Config) -> Value {
    match &config.file.state_machine.logging {
        None => json!({"level": "OFF"}),
        Some(logging) => {
            let level = logging.level.clone().unwrap_or_else(|| "ERROR".into());
            if level == "OFF" {
                return json!({"level": "OFF"});
            }
            json!({
                "level": level,
                "include_execution_data": logging.include_execution_data.unwrap_or(false),
                "log_group_arn": logging.log_group_arn,
            })
        }
    }
}

/// The image to deploy: the flag, else the one `image push` recorded; always by digest.
fn image_uri(args: &TargetArgs) -> anyhow::Result<Option<String>> {
    let uri = match &args.image_uri {
        Some(uri) => Some(uri.clone()),
        None if args.image_dir.join(super::image::IMAGE_FILE).is_file() => {
            read_record(&args.image_dir)?.uri
        }
        None => None,
    };
    match uri {
        None => Ok(None),
        Some(uri) => {
            let parsed = ImageRef::parse(&uri)?;
            let pinned = parsed.pinned().ok_or_else(|| {
                anyhow!("{uri} names no digest; functions are deployed by digest only (REPO@sha256:…) so that a moving tag never leaves one on old code")
            })?;
            Ok(Some(pinned))
        }
    }
}

/// Plans, reads the deployment and computes the change set; changes nothing.
pub async fn prepare(
    source: &SourceArgs,
    settings: &SettingsArgs,
    target_args: &TargetArgs,
) -> anyhow::Result<Prepared> {
    let config = settings.load(&source.project)?;
    let doc = load_pipeline(source, &config)?;
    let plan = match plan::plan(&doc, &config) {
        Ok(plan) => plan,
        Err(PlanError::Check(findings)) => {
            for problem in &findings.problems {
                eprintln!("{problem}");
            }
            return Err(refusal(&findings));
        }
        Err(other) => return Err(other.into()),
    };
    for warning in plan.findings.warnings() {
        eprintln!("{warning}");
    }
    prepare_plan(config, plan, target_args).await
}

/// Reads the deployment for a plan already made and computes the change set.
pub async fn prepare_plan(
    config: Config,
    plan: Plan,
    target_args: &TargetArgs,
) -> anyhow::Result<Prepared> {
    let sdk = aws::sdk_config(config.file.region.as_deref()).await;
    let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
        anyhow!("no AWS region: set region in kedro-sfn.yml, pass --region, or set AWS_REGION")
    })?;
    let state = &config.file.state_machine;
    let target = Target {
        image_uri: image_uri(target_args)?,
        lambda_role_arn: target_args
            .lambda_role_arn
            .clone()
            .or_else(|| config.file.lambda.role_arn.clone()),
        machine_role_arn: target_args
            .state_machine_role_arn
            .clone()
            .or_else(|| state.role_arn.clone()),
        alias: state.alias.clone().unwrap_or_else(|| DEFAULT_ALIAS.into()),
        extra_tags: config.file.deploy.tags.clone(),
        logging: logging_target(&config),
        tracing: state.tracing.unwrap_or(false),
    };
    let concurrency = target_args
        .concurrency
        .or(config.file.deploy.concurrency)
        .unwrap_or(DEFAULT_CONCURRENCY)
        .max(1);
    let clients = Clients::new(&sdk);
    eprintln!(
        "reading the deployment of {} in {region}",
        plan.state_machine.name
    );
    let deployment = read_deployment(&clients, &plan, &target.alias, concurrency)
        .await
        .context("cannot read what is deployed (the caller needs read access to Lambda and Step Functions)")?;
    let changes = changes(&plan, &deployment, &target);
    let text_diff = definition_diff(
        deployment.machine.as_ref().map(|m| &m.definition),
        &changes.definition,
    );
    Ok(Prepared {
        config,
        plan,
        target,
        deployment,
        changes,
        text_diff,
        clients,
        region,
        concurrency,
    })
}

/// Writes the definition, plan.json (with the change set) and summary.md.
pub fn write_plan_outputs(
    out: &Path,
    prepared: &Prepared,
    calls: &CallCount,
) -> anyhow::Result<()> {
    let plan = &prepared.plan;
    let baseline = Baseline::Live {
        region: prepared.region.clone(),
        state_machine_arn: prepared.deployment.machine.as_ref().map(|m| m.arn.clone()),
    };
    let mut definition = serde_json::to_string_pretty(&prepared.changes.definition)?;
    definition.push('\n');
    let mut document = plan_document(plan, &baseline.describe());
    document["changes"] = json!({
        "headline": headline(&prepared.changes),
        "count": prepared.changes.count(),
        "set": prepared.changes,
        "definition_diff": prepared.text_diff,
        "image_uri": prepared.target.image_uri,
        "calls": calls,
    });
    let mut plan_json = serde_json::to_string_pretty(&document)?;
    plan_json.push('\n');
    let mut summary_md = summary::render(plan, &baseline);
    summary_md.push('\n');
    summary_md.push_str(&render_changes(&prepared.changes, &prepared.text_diff));
    write_atomically(&out.join(DEFINITION_FILE), definition.as_bytes())?;
    write_atomically(&out.join(PLAN_FILE), plan_json.as_bytes())?;
    write_atomically(&out.join(SUMMARY_FILE), summary_md.as_bytes())?;
    Ok(())
}

pub fn run(args: &DeployArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(deploy(args))
}

async fn deploy(args: &DeployArgs) -> anyhow::Result<()> {
    let prepared = prepare(&args.source, &args.settings, &args.target).await?;
    let applied = apply_prepared(
        &prepared,
        &args.source.project,
        &args.out,
        &args.target.image_dir,
    )
    .await?;
    if args.start_execution {
        execute(args, &prepared, &applied).await?;
    }
    Ok(())
}

/// Applies a prepared change set and writes the plan files and deploy.json into `out`
/// (the plan files also when the deploy fails: they say what was attempted).
pub async fn apply_prepared(
    prepared: &Prepared,
    project: &Path,
    out: &Path,
    image_dir: &Path,
) -> anyhow::Result<Applied> {
    let changes = &prepared.changes;
    println!(
        "deploy {}: {}",
        prepared.plan.state_machine.name,
        headline(changes)
    );
    let needs_image = changes.functions.iter().any(|f| {
        matches!(
            f.action,
            crate::plan::changes::FunctionAction::Create
                | crate::plan::changes::FunctionAction::Update { code: true, .. }
        )
    });
    if needs_image && prepared.target.image_uri.is_none() {
        bail!(
            "deploy needs an image: run `kedro-sfn image build` and `kedro-sfn image push` (image.json in {}), or pass --image-uri REPO@sha256:…",
            image_dir.display()
        );
    }
    let description = version_description(project, changes);
    let progress = |line: &str| eprintln!("  {line}");
    let job = Job {
        clients: &prepared.clients,
        plan: &prepared.plan,
        deployment: &prepared.deployment,
        changes,
        target: &prepared.target,
        concurrency: prepared.concurrency,
        version_description: &description,
    };
    let result = apply(job, &progress).await;
    let calls = prepared.clients.calls.count();
    write_plan_outputs(out, prepared, &calls)?;
    let applied = result?;
    let report = json!({
        "state_machine_arn": applied.state_machine_arn,
        "state_machine_version_arn": applied.version_arn,
        "alias": prepared.target.alias,
        "image_uri": prepared.target.image_uri,
        "changes_count": changes.count(),
        "has_changes": !changes.is_empty(),
        "function_versions": applied.function_versions,
        "deleted": applied.deleted,
        "validation": applied.validation,
        "calls": calls,
    });
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    write_atomically(&out.join(DEPLOY_FILE), text.as_bytes())?;
    if changes.is_empty() {
        println!("no changes");
    } else if let Some(version) = &applied.version_arn {
        println!("deployed {version}");
    }
    println!("AWS calls: {} reads, {} writes", calls.reads, calls.writes);
    Ok(applied)
}

/// `<commit>: <headline>`, at most 256 characters (Step Functions' limit).
fn version_description(project: &Path, changes: &ChangeSet) -> String {
    let commit = std::process::Command::new("git")
        .arg("-C")
        .arg(project)
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_else(|| "no commit".into());
    format!("{commit}: {}", headline(changes))
        .chars()
        .take(256)
        .collect()
}

async fn execute(args: &DeployArgs, prepared: &Prepared, applied: &Applied) -> anyhow::Result<()> {
    execute_deployed(
        prepared,
        applied,
        &args.input,
        args.execution_name.clone(),
        args.wait,
    )
    .await
}

/// Starts (and with `wait` follows) an execution of what was just deployed, through its
/// alias.
pub async fn execute_deployed(
    prepared: &Prepared,
    applied: &Applied,
    input: &str,
    name: Option<String>,
    wait: bool,
) -> anyhow::Result<()> {
    let machine = applied
        .state_machine_arn
        .clone()
        .ok_or_else(|| anyhow!("there is no state machine to execute"))?;
    let alias = format!("{machine}:{}", prepared.target.alias);
    let request = ExecutionRequest {
        target: &alias,
        fallback: Some(&machine),
        region: &prepared.region,
        input,
        name,
        wait,
    };
    run_execution(&prepared.clients.sfn, &request).await
}

/// One execution to start (and maybe follow).
pub struct ExecutionRequest<'a> {
    /// What to start: the alias ARN, so the version the alias serves runs.
    pub target: &'a str,
    /// Started instead when the endpoint cannot start `target` (an emulator without
    /// alias support): the state machine's ARN.
    pub fallback: Option<&'a str>,
    pub region: &'a str,
    /// JSON text.
    pub input: &'a str,
    pub name: Option<String>,
    pub wait: bool,
}

/// Starts a named execution; with `wait`, prints each task as it starts and ends and fails
/// with the failing task, its error and cause, and a console link.
pub async fn run_execution(
    sfn: &crate::aws::sfn::StepFunctions,
    request: &ExecutionRequest<'_>,
) -> anyhow::Result<()> {
    let input: Value = serde_json::from_str(request.input)
        .with_context(|| format!("--input is not JSON: {}", request.input))?;
    let name = request.name.clone().unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!("kedro-sfn-{}-{:03}", now.as_secs(), now.subsec_millis())
    });
    let execution = match sfn.start(request.target, &name, &input.to_string()).await {
        Ok(execution) => execution,
        // Emulators (moto) cannot start an alias (no code, or "does not exist" for an alias
        // that was just moved): run the machine's latest revision there, and say so.
        Err(error)
            if request.fallback.is_some()
                && matches!(
                    error.code.as_deref(),
                    None | Some("StateMachineDoesNotExist")
                ) =>
        {
            let fallback = request.fallback.unwrap_or_default();
            eprintln!(
                "warning: cannot start {} here ({}); starting {fallback} (its latest revision) instead",
                request.target, error.detail
            );
            sfn.start(fallback, &name, &input.to_string()).await?
        }
        Err(error) => return Err(error.into()),
    };
    println!("started {execution}");
    let console = format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution}",
        region = request.region
    );
    if !request.wait {
        println!("  console: {console}");
        return Ok(());
    }
    let mut shown = 0;
    let mut delay = std::time::Duration::from_millis(500);
    loop {
        let status = sfn.status(&execution).await?;
        let events = sfn.task_events(&execution).await?;
        for event in events.iter().skip(shown) {
            match event {
                ExecutionEvent::TaskStarted(state) => println!("  started   {state}"),
                ExecutionEvent::TaskSucceeded(state) => println!("  succeeded {state}"),
                ExecutionEvent::TaskFailed { state, error, .. } => {
                    println!("  failed    {state}: {error}")
                }
            }
        }
        shown = events.len();
        if status.status != "RUNNING" {
            if status.status == "SUCCEEDED" {
                println!("execution {name} SUCCEEDED");
                return Ok(());
            }
            let failed = events.iter().rev().find_map(|e| match e {
                ExecutionEvent::TaskFailed {
                    state,
                    error,
                    cause,
                } => Some((state, error, cause)),
                _ => None,
            });
            let (task, error, cause) = match failed {
                Some((state, error, cause)) => (state.clone(), error.clone(), cause.clone()),
                // Our Fail states are called "<task> failed" with Error "<task>.Failed".
                None => (
                    status
                        .error
                        .as_deref()
                        .and_then(|e| e.strip_suffix(".Failed"))
                        .unwrap_or("?")
                        .to_string(),
                    status.error.clone().unwrap_or_default(),
                    status.cause.clone().unwrap_or_default(),
                ),
            };
            bail!(
                "execution {name} {}: task {task} failed with {error}: {cause}\n  error: {}\n  console: {console}",
                status.status,
                status.error.unwrap_or_default()
            );
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(std::time::Duration::from_secs(5));
    }
}
