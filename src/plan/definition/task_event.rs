//! The event a Task state hands its task: the Lambda payload's keys, and the container
//! variables an ECS task gets the same event in. Read back from definitions and from the
//! TaskScheduled events of executions (history, the change set, the deployed shape).

use crate::plan::definition::view::Machine;
use serde_json::Value;

/// The environment variables an ECS task's container gets its event in: the handler's
/// `EVENT_ENV` (python/kedro_sfn_handler.py), name for name.
pub mod ecs_env {
    pub const TASK: &str = "KEDRO_SFN_TASK";
    pub const NODES: &str = "KEDRO_SFN_NODES";
    pub const PIPELINE: &str = "KEDRO_SFN_PIPELINE";
    pub const ENV: &str = "KEDRO_SFN_ENV";
    pub const EXECUTION_NAME: &str = "KEDRO_SFN_EXECUTION_NAME";
    pub const EXECUTION_START_TIME: &str = "KEDRO_SFN_EXECUTION_START_TIME";
    pub const INPUT: &str = "KEDRO_SFN_INPUT";
}

/// An ECS task's container variable `name`, as a Task state's parameters set it.
fn container_variable<'a>(parameters: &'a Value, name: &str) -> Option<&'a str> {
    parameters
        .pointer("/Overrides/ContainerOverrides")?
        .as_array()?
        .iter()
        .filter_map(|o| o.get("Environment")?.as_array())
        .flatten()
        .find(|variable| variable.get("Name").and_then(Value::as_str) == Some(name))?
        .get("Value")?
        .as_str()
}

/// The execution's start time a Task was scheduled with (its resolved parameters): the
/// text the handler makes the run's data version from, exactly.
pub fn start_time_in_parameters(parameters: &Value) -> Option<String> {
    match parameters
        .pointer("/Payload/execution/StartTime")
        .or_else(|| parameters.pointer("/Payload/execution_start_time"))
    {
        Some(start) => start.as_str().map(str::to_string),
        None => container_variable(parameters, ecs_env::EXECUTION_START_TIME).map(str::to_string),
    }
}

/// The Kedro nodes a Task state's parameters name: a Lambda task's `Payload.nodes`, an ECS
/// task's `KEDRO_SFN_NODES` container variable (a JSON list). Reads a definition's
/// `Parameters` and an execution's TaskScheduled parameters alike.
pub fn nodes_in_parameters(parameters: &Value) -> Option<Vec<String>> {
    let strings = |list: &Value| -> Option<Vec<String>> {
        list.as_array()?
            .iter()
            .map(|n| n.as_str().map(str::to_string))
            .collect()
    };
    if let Some(nodes) = parameters.pointer("/Payload/nodes") {
        return strings(nodes);
    }
    let text = container_variable(parameters, ecs_env::NODES)?;
    strings(&serde_json::from_str(text).ok()?)
}

/// The registered pipeline a Task state's parameters run (`Payload.pipeline`, or an ECS
/// task's `KEDRO_SFN_PIPELINE` container variable).
pub fn pipeline_in_parameters(parameters: &Value) -> Option<String> {
    if let Some(pipeline) = parameters.pointer("/Payload/pipeline") {
        return pipeline.as_str().map(str::to_string);
    }
    container_variable(parameters, ecs_env::PIPELINE).map(str::to_string)
}

/// The registered pipeline a definition's tasks run: the first Task state's, searched
/// through Parallel branches in document order. `None`: no task names one.
pub fn pipeline_of_definition(definition: &Value) -> Option<String> {
    Machine::new(definition)
        .all_states()
        .into_iter()
        .find_map(|state| state.parameters().and_then(pipeline_in_parameters))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::ecs::CONTAINER_NAME;
    use serde_json::json;

    #[test]
    fn the_pipeline_is_read_from_lambda_payloads_inside_parallel_branches_and_from_ecs_variables() {
        let lambda = json!({"States": {"P": {"Type": "Parallel", "Branches": [
            {"States": {"t": {"Type": "Task", "Parameters": {"Payload": {"pipeline": "data_science"}}}}}
        ]}}});
        assert_eq!(
            pipeline_of_definition(&lambda).as_deref(),
            Some("data_science")
        );
        let ecs = json!({"States": {"t": {"Type": "Task", "Parameters": {"Overrides": {"ContainerOverrides": [
            {"Environment": [{"Name": ecs_env::PIPELINE, "Value": "__default__"}]}
        ]}}}}});
        assert_eq!(pipeline_of_definition(&ecs).as_deref(), Some("__default__"));
        assert_eq!(
            pipeline_of_definition(&json!({"States": {"end": {"Type": "Succeed"}}})),
            None
        );
    }

    #[test]
    fn nodes_are_read_from_lambda_payloads_and_ecs_container_environments() {
        let lambda = json!({"FunctionName": "f:3", "Payload": {"nodes": ["a", "b"]}});
        assert_eq!(
            nodes_in_parameters(&lambda),
            Some(vec!["a".to_string(), "b".to_string()])
        );
        // As a TaskScheduled event of an ECS task holds them: values resolved.
        let ecs = json!({"Overrides": {"ContainerOverrides": [{"Name": CONTAINER_NAME,
            "Environment": [{"Name": ecs_env::TASK, "Value": "t"},
                            {"Name": ecs_env::NODES, "Value": "[\"train\"]"},
                            {"Name": ecs_env::EXECUTION_NAME, "Value": "run-1"}]}]}});
        assert_eq!(nodes_in_parameters(&ecs), Some(vec!["train".to_string()]));
        assert_eq!(nodes_in_parameters(&json!({"FunctionName": "f"})), None);
        let broken = json!({"Overrides": {"ContainerOverrides": [{"Environment": [
            {"Name": ecs_env::NODES, "Value": "not json"}]}]}});
        assert_eq!(nodes_in_parameters(&broken), None);
    }
}
