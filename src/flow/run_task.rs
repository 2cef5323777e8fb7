//! One task of the planned state machine, run on this machine through the real handler with
//! the payload its Task state would send: for debugging a node, and for tests.

use anyhow::{anyhow, bail, Context};
use serde_json::{Map, Value};

use crate::config::Config;
use crate::image::context::HANDLER_PROGRAM;
use crate::pipeline::export::python_program;
use crate::process::{Progress, Tool, ToolError};

use super::source::Source;
use super::Reporter;

/// Which task, and the execution it pretends to be part of.
#[derive(Debug, Clone)]
pub struct RunTaskRequest {
    /// The task's state name, or the name of a Kedro node in it.
    pub task: String,
    /// The execution input, JSON text.
    pub input: String,
    pub execution_name: Option<String>,
    /// ISO 8601; sets the save version.
    pub start_time: Option<String>,
}

/// Runs one task through the real handler; returns the handler's result.
pub fn run_task(
    source: &Source,
    config: &Config,
    request: &RunTaskRequest,
    reporter: &dyn Reporter,
) -> anyhow::Result<Value> {
    let input: Value = serde_json::from_str(&request.input)
        .with_context(|| format!("--input is not JSON: {}", request.input))?;
    let planned = super::block_on(super::session::plan_pipeline(
        source,
        config,
        super::session::Durations::Configured,
        None,
        reporter,
    ))?;
    let plan = planned.plan;
    let task = plan
        .tasks
        .iter()
        .find(|t| t.state == request.task)
        .or_else(|| plan.tasks.iter().find(|t| t.nodes.contains(&request.task)))
        .ok_or_else(|| {
            anyhow!(
                "no task or node named {:?}; the tasks are: {}",
                request.task,
                plan.tasks
                    .iter()
                    .map(|t| t.state.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        })?;
    // In a split pipeline the task is in a child machine's definition.
    let state = plan
        .definitions()
        .find_map(|(_, definition, _)| find_task_state(&definition, &task.state).cloned())
        .ok_or_else(|| anyhow!("the definition has no Task state {:?}", task.state))?;
    let start_time = request.start_time.clone().unwrap_or_else(now_iso8601);
    let context = ExecutionContext {
        name: request
            .execution_name
            .clone()
            .unwrap_or_else(|| format!("local-{}", start_time.replace([':', '.'], "-"))),
        start_time,
        input,
    };
    let payload = resolve_payload(&state, &context)?;
    reporter.progress(&format!(
        "running task {} ({} node(s)) with the handler",
        task.state,
        task.nodes.len()
    ));

    let project = std::fs::canonicalize(&source.project).with_context(|| {
        format!(
            "the project directory {} does not exist",
            source.project.display()
        )
    })?;
    let python = python_program(&source.python);
    let mut tool = Tool::new(format!("task {}", task.state), &python)
        .arg("-c")
        .arg(HANDLER_PROGRAM)
        .env("KEDRO_SFN_PROJECT_DIR", project.as_os_str())
        .env("KEDRO_DISABLE_TELEMETRY", "true")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .hint("hint: pass the Python that has Kedro and the project's dependencies with --python (or KEDRO_SFN_PYTHON)");
    tool.stdin = Some(serde_json::to_vec(&payload)?);
    tool.current_dir = Some(std::env::temp_dir());
    let output = tool.run(Progress::PassStderr).map_err(task_failure_hint)?;
    let text = String::from_utf8_lossy(&output.stdout);
    let result: Value = serde_json::from_str(text.trim())
        .with_context(|| format!("the handler printed something that is not JSON: {text}"))?;
    Ok(result)
}

/// A failure's hint says what the handler's own words show: a node that failed (the
/// handler's `NodeFailed`), or a task that never reached its nodes (an import error, a bad
/// setting), where naming a node would send the user to the wrong place.
fn task_failure_hint(error: ToolError) -> ToolError {
    match error {
        ToolError::Failed {
            label, code, tail, ..
        } => {
            let hint = if tail.contains("NodeFailed") {
                "hint: the node named in `NodeFailed: node '...' failed` is the one that failed; its error follows the name"
            } else {
                "hint: the handler stopped before any node ran: the lines above say why (often a package missing from --python, or the project's settings for this env)"
            };
            ToolError::Failed {
                label,
                code,
                tail,
                hint: hint.into(),
            }
        }
        spawn => spawn,
    }
}

/// What `$$.Execution` holds for the payload's context paths.
#[derive(Debug, Clone)]
pub struct ExecutionContext {
    pub name: String,
    pub start_time: String,
    pub input: Value,
}

/// The Task state `name`, wherever it sits (inside Parallel branches too).
pub fn find_task_state<'a>(definition: &'a Value, name: &str) -> Option<&'a Value> {
    crate::plan::definition::asl::task_states(definition)
        .into_iter()
        .find_map(|(state_name, state)| (state_name == name).then_some(state))
}

/// The Task's `Parameters.Payload` with its `.$` paths resolved as Step Functions does for
/// the context object paths our definitions use.
pub fn resolve_payload(state: &Value, context: &ExecutionContext) -> anyhow::Result<Value> {
    if state.pointer("/Parameters/Overrides").is_some() {
        return ecs_event(state, context);
    }
    let payload = state
        .pointer("/Parameters/Payload")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("the Task state has no Parameters.Payload"))?;
    let mut resolved = Map::new();
    for (key, value) in payload {
        match key.strip_suffix(".$") {
            None => {
                resolved.insert(key.clone(), value.clone());
            }
            Some(field) => {
                let path = value.as_str().unwrap_or_default();
                // A child machine's tasks read the root's execution from their input.
                let path = match path.strip_prefix("$.execution") {
                    Some(rest) => format!("$$.Execution{rest}"),
                    None => path.to_string(),
                };
                let value = match path.as_str() {
                    "$$.Execution" => serde_json::json!({
                        "Name": context.name,
                        "StartTime": context.start_time,
                        "Input": context.input,
                    }),
                    "$$.Execution.Name" => Value::String(context.name.clone()),
                    "$$.Execution.StartTime" => Value::String(context.start_time.clone()),
                    "$$.Execution.Input" => context.input.clone(),
                    other => bail!("run-task cannot resolve the path {other} of {key}"),
                };
                resolved.insert(field.to_string(), value);
            }
        }
    }
    Ok(Value::Object(resolved))
}

/// An ECS Task state's event: what its container environment holds (the handler's
/// `--event-from-env` reads the same), as one payload the handler takes on stdin.
fn ecs_event(state: &Value, context: &ExecutionContext) -> anyhow::Result<Value> {
    use crate::plan::definition::task_event::ecs_env;
    let variables = state
        .pointer("/Parameters/Overrides/ContainerOverrides/0/Environment")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("the ECS Task state has no container environment"))?;
    let fixed = |name: &str| {
        variables
            .iter()
            .find(|v| v.get("Name").and_then(Value::as_str) == Some(name))
            .and_then(|v| v.get("Value"))
            .and_then(Value::as_str)
    };
    let task = fixed(ecs_env::TASK).ok_or_else(|| anyhow!("no {}", ecs_env::TASK))?;
    let nodes: Value = serde_json::from_str(fixed(ecs_env::NODES).unwrap_or("null"))
        .with_context(|| format!("{} is not a JSON list", ecs_env::NODES))?;
    let mut event = serde_json::json!({
        "task": task,
        "nodes": nodes,
        "pipeline": fixed(ecs_env::PIPELINE).unwrap_or_default(),
        "execution": {"Name": context.name, "StartTime": context.start_time, "Input": context.input},
    });
    if let Some(env) = fixed(ecs_env::ENV) {
        event["env"] = Value::String(env.to_string());
    }
    Ok(event)
}

/// Now, as Step Functions writes `$$.Execution.StartTime` (UTC, milliseconds).
fn now_iso8601() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let millis = now.as_millis() as i64;
    let (days, ms_of_day) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let seconds = ms_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        ms_of_day % 1000
    )
}

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn dates_convert_like_the_calendar() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        let now = now_iso8601();
        assert_eq!(now.len(), "2026-11-27T19:08:38.123Z".len(), "{now}");
    }

    #[test]
    fn payload_paths_resolve_from_the_context_and_tasks_are_found_in_branches() {
        let definition = json!({"States": {"P": {"Type": "Parallel", "Branches": [
            {"States": {"a": {"Type": "Task", "Parameters": {"Payload": {
                "task": "a", "nodes": ["n"], "execution_name.$": "$$.Execution.Name",
                "execution_start_time.$": "$$.Execution.StartTime",
                "input.$": "$$.Execution.Input"}}}}}]}}});
        let state = find_task_state(&definition, "a").unwrap();
        let context = ExecutionContext {
            name: "run-1".into(),
            start_time: "2026-11-27T19:08:38.123Z".into(),
            input: json!({"params": {"x": 1}}),
        };
        assert_eq!(
            resolve_payload(state, &context).unwrap(),
            json!({"task": "a", "nodes": ["n"], "execution_name": "run-1",
                   "execution_start_time": "2026-11-27T19:08:38.123Z",
                   "input": {"params": {"x": 1}}})
        );
        assert!(find_task_state(&definition, "P").is_none());
        // A child machine's task reads the root's execution from its input.
        let child = json!({"Parameters": {"Payload": {"task": "a", "execution.$": "$.execution"}}});
        assert_eq!(
            resolve_payload(&child, &context).unwrap(),
            json!({"task": "a", "execution": {"Name": "run-1",
                   "StartTime": "2026-11-27T19:08:38.123Z", "Input": {"params": {"x": 1}}}})
        );
    }

    #[test]
    fn an_ecs_task_s_event_comes_from_its_container_environment() {
        let state = json!({"Type": "Task", "Parameters": {"Overrides": {"ContainerOverrides": [
            {"Name": "kedro", "Environment": [
                {"Name": "KEDRO_SFN_TASK", "Value": "t"},
                {"Name": "KEDRO_SFN_NODES", "Value": "[\"a\", \"b\"]"},
                {"Name": "KEDRO_SFN_PIPELINE", "Value": "__default__"},
                {"Name": "KEDRO_SFN_ENV", "Value": "aws"},
                {"Name": "KEDRO_SFN_EXECUTION_NAME", "Value.$": "$$.Execution.Name"}]}]}}});
        let context = ExecutionContext {
            name: "run-1".into(),
            start_time: "2026-11-27T19:08:38.123Z".into(),
            input: json!({}),
        };
        assert_eq!(
            resolve_payload(&state, &context).unwrap(),
            json!({"task": "t", "nodes": ["a", "b"], "pipeline": "__default__", "env": "aws",
                   "execution": {"Name": "run-1", "StartTime": "2026-11-27T19:08:38.123Z",
                                 "Input": {}}})
        );
    }
}
