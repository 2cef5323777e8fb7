//! Start an execution of what is deployed, through its alias, and follow it: each task as it
//! starts and ends, and on failure the task, its error and cause, and a console link.

use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use serde_json::Value;

use crate::aws::deploy::{Applied, Clients};
use crate::aws::sfn::{ExecutionEvent, ExecutionStatus, StepFunctions};
use crate::config::Config;
use crate::plan::changes::tasks_of;
use crate::plan::definition::asl::failed_task;
use crate::report::timeline::{self, TaskSpan, Timeline, Waits};

use super::prepare::Prepared;
use super::Reporter;

/// One execution to start (and maybe follow).
#[derive(Debug, Clone, Default)]
pub struct ExecutionRequest {
    /// The execution's input, JSON text (runtime params under "params").
    pub input: String,
    /// Default: `kedro-sfn-<time>`.
    pub name: Option<String>,
    /// Follow it to its end; fail when it fails.
    pub wait: bool,
}

/// An execution that was started, and how it ended when it was followed.
#[derive(Debug, Clone)]
pub struct Started {
    pub name: String,
    pub arn: String,
    /// The execution in the Step Functions console.
    pub console: String,
    /// The final status, when followed to its end.
    pub status: Option<ExecutionStatus>,
    /// When followed and it did not succeed: the failing task, its error and cause.
    pub failure: Option<String>,
    /// When followed and it did not succeed: the Task state that failed, when known.
    pub failed_task: Option<String>,
    /// When followed: its tasks' start and end times, for the record's picture.
    pub timeline: Option<Timeline>,
}

impl Started {
    /// The execution as a result: an error when it was followed and failed.
    pub fn succeeded(self) -> anyhow::Result<Started> {
        match &self.failure {
            Some(failure) => bail!("{failure}"),
            None => Ok(self),
        }
    }
}

/// Starts an execution of what a deploy just applied.
pub async fn execute_deployed(
    prepared: &Prepared,
    applied: &Applied,
    request: &ExecutionRequest,
    reporter: &dyn Reporter,
) -> anyhow::Result<Started> {
    let machine = applied
        .state_machine_arn
        .clone()
        .ok_or_else(|| anyhow!("there is no state machine to execute"))?;
    let target = format!("{machine}:{}", prepared.target.alias);
    let sfn = &prepared.clients.sfn;
    run_execution(sfn, &target, &prepared.region, request, reporter).await
}

/// Starts an execution of the deployed state machine named by the config (`execute`).
pub async fn execute_configured(
    config: &Config,
    machine_name: &str,
    request: &ExecutionRequest,
    reporter: &dyn Reporter,
) -> anyhow::Result<Started> {
    let sdk = crate::aws::sdk_config(config.file.region.as_deref()).await;
    let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let clients = Clients::new(&sdk);
    let machine = clients
        .sfn
        .find(machine_name)
        .await?
        .ok_or_else(|| anyhow!("there is no state machine {machine_name}; deploy first"))?;
    let target = format!("{machine}:{}", config.alias());
    run_execution(&clients.sfn, &target, &region, request, reporter).await
}

/// Starts a named execution of `target`, an alias ARN: only the version the alias serves
/// ever runs (after a rollback, the version rolled back to). With `wait`, follows it.
pub(super) async fn run_execution(
    sfn: &StepFunctions,
    target: &str,
    region: &str,
    request: &ExecutionRequest,
    reporter: &dyn Reporter,
) -> anyhow::Result<Started> {
    let input: Value = serde_json::from_str(&request.input)
        .with_context(|| format!("--input is not JSON: {}", request.input))?;
    let name = request.name.clone().unwrap_or_else(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        format!("kedro-sfn-{}-{:03}", now.as_secs(), now.subsec_millis())
    });
    let execution = sfn.start(target, &name, &input.to_string()).await?;
    reporter.result(&format!("started {execution}"));
    let console = format!(
        "https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution}"
    );
    let mut started = Started {
        name,
        arn: execution,
        console,
        status: None,
        failure: None,
        failed_task: None,
        timeline: None,
    };
    if !request.wait {
        reporter.result(&format!("  console: {}", started.console));
        return Ok(started);
    }
    let followed = follow(sfn, &started, reporter).await?;
    started.status = Some(followed.status);
    started.failure = followed.failure;
    started.failed_task = followed.failed_task;
    started.timeline = followed.timeline;
    Ok(started)
}

/// How a followed execution ended.
struct Followed {
    status: ExecutionStatus,
    failure: Option<String>,
    failed_task: Option<String>,
    timeline: Option<Timeline>,
}

/// Polls an execution to its end (backing off to every 5 s), reporting each task; its
/// final status, and what failed when it did not succeed.
async fn follow(
    sfn: &StepFunctions,
    started: &Started,
    reporter: &dyn Reporter,
) -> anyhow::Result<Followed> {
    let (execution, name, console) = (&started.arn, &started.name, &started.console);
    let mut shown = 0;
    let mut delay = Duration::from_millis(500);
    loop {
        let status = sfn.status(execution).await?;
        let events = sfn.task_events(execution).await?;
        // On stdout with the result: a followed execution's tasks are what the user asked for.
        for event in events.iter().skip(shown) {
            reporter.result(&match event {
                ExecutionEvent::TaskStarted(state) => format!("  started   {state}"),
                ExecutionEvent::TaskSucceeded(state) => format!("  succeeded {state}"),
                ExecutionEvent::TaskFailed { state, error, .. } => {
                    format!("  failed    {state}: {error}")
                }
            });
        }
        shown = events.len();
        if status.status != ExecutionStatus::Running {
            let timeline = show_timeline(sfn, execution, reporter).await;
            if status.status == ExecutionStatus::Succeeded {
                reporter.result(&format!("execution {name} SUCCEEDED"));
                return Ok(Followed {
                    status: status.status,
                    failure: None,
                    failed_task: None,
                    timeline,
                });
            }
            // A task of a child machine: the root's own events know only the child's start,
            // while the execution's error names the task and its cause is the task's error.
            let named = status.error.as_deref().and_then(failed_task);
            let in_child = named.is_some_and(|task| {
                !events
                    .iter()
                    .any(|e| matches!(e, ExecutionEvent::TaskFailed { state, .. } if state == task))
            });
            let failed = events
                .iter()
                .rev()
                .filter(|_| !in_child)
                .find_map(|e| match e {
                    ExecutionEvent::TaskFailed {
                        state,
                        error,
                        cause,
                    } => Some((state.clone(), error.clone(), cause.clone())),
                    _ => None,
                });
            let (task, error, cause) = failed.unwrap_or_else(|| {
                (
                    status
                        .error
                        .as_deref()
                        .and_then(failed_task)
                        .unwrap_or("?")
                        .to_string(),
                    status.error.clone().unwrap_or_default(),
                    status.cause.clone().unwrap_or_default(),
                )
            });
            let failure = format!(
                "execution {name} {}: task {task} failed with {error}: {cause}\n  error: {}\n  console: {console}",
                status.status,
                status.error.clone().unwrap_or_default()
            );
            return Ok(Followed {
                status: status.status,
                failure: Some(failure),
                failed_task: (task != "?").then_some(task),
                timeline,
            });
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// The run's timeline, task by task, with the chain that set its length; the run is over,
/// so a history that cannot be read is a note, not an error.
async fn show_timeline(
    sfn: &StepFunctions,
    execution: &str,
    reporter: &dyn Reporter,
) -> Option<Timeline> {
    match sfn.task_runs(execution, 20).await {
        Ok(runs) => {
            let spans: Vec<TaskSpan> = runs
                .into_iter()
                .map(|run| TaskSpan {
                    state: run.state,
                    start_s: run.entered_s,
                    end_s: run.exited_s,
                })
                .collect();
            // The order the run's own definition gives; without it, times alone.
            let waits: Option<Waits> = match sfn.definition_of_execution(execution).await {
                Ok(definition) => Some(
                    tasks_of(&definition)
                        .into_iter()
                        .map(|(state, (_, waits))| (state, waits))
                        .collect(),
                ),
                Err(error) => {
                    tracing::debug!(%error, "no definition for the timeline");
                    None
                }
            };
            for line in timeline::render(&spans, waits.as_ref()) {
                reporter.result(&line);
            }
            Some(Timeline { spans, waits })
        }
        Err(error) => {
            reporter.progress(&format!("note: no timeline of the run: {error}"));
            None
        }
    }
}
