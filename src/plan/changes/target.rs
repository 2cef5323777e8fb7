//! What a deploy targets and what it can do to one resource: shared by the Lambda and the
//! ECS sides of the change set.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

/// What the deploy adds to the plan: the image, roles, tags and machine options.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Target {
    /// `repo@sha256:…`; `None` when planning without an image.
    pub image_uri: Option<String>,
    /// What the image is (or would be) built from, computed from the checkout without a
    /// build: a function whose recorded source differs gets new code. `None`: not compared.
    pub source_digest: Option<String>,
    pub lambda_role_arn: Option<String>,
    pub machine_role_arn: Option<String>,
    pub alias: String,
    /// Tags on every resource, beside kedro-sfn's own.
    pub extra_tags: BTreeMap<String, String>,
    pub logging: Value,
    pub tracing: bool,
}

impl Target {
    /// A target with only an image (or none): no roles, no extra tags, the alias `live`,
    /// logging and tracing off, code compared by image only. For tests and benchmarks.
    pub fn with_image(image_uri: Option<String>) -> Target {
        Target {
            image_uri,
            source_digest: None,
            lambda_role_arn: None,
            machine_role_arn: None,
            alias: "live".into(),
            extra_tags: BTreeMap::new(),
            logging: serde_json::json!({"level": "OFF"}),
            tracing: false,
        }
    }
}

/// What happens to one function.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "action")]
pub enum FunctionAction {
    Create,
    /// `code`: new code (another image, or another source digest); `configuration`: the
    /// settings that differ.
    Update {
        code: bool,
        configuration: Vec<String>,
    },
    Keep,
    Delete,
}

/// The hex digest in `repo@sha256:HEX`.
pub fn image_digest(image_uri: &str) -> Option<&str> {
    image_uri.split_once("@sha256:").map(|(_, hex)| hex)
}

/// `value` without a trailing `:N` (a function version, a task definition revision).
pub fn without_number_suffix(value: &str) -> &str {
    match value.rsplit_once(':') {
        Some((rest, number))
            if !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit()) =>
        {
            rest
        }
        _ => value,
    }
}

/// Appends `:N` to the field at `pointer` of every Task state (inside Parallel branches
/// too) whose resource `key_of` names in `numbers`: function versions and task definition
/// revisions are pinned the same way.
pub fn pin_numbers(
    machine: &mut Value,
    pointer: &str,
    key_of: fn(&str) -> &str,
    numbers: &BTreeMap<&str, u64>,
) {
    let Some(states) = machine.get_mut("States").and_then(Value::as_object_mut) else {
        return;
    };
    for state in states.values_mut() {
        if let Some(branches) = state.get_mut("Branches").and_then(Value::as_array_mut) {
            for branch in branches {
                pin_numbers(branch, pointer, key_of, numbers);
            }
        }
        if let Some(field) = state.pointer_mut(pointer) {
            let text = field.as_str().unwrap_or_default().to_string();
            if let Some(number) = numbers.get(key_of(&text)) {
                *field = Value::String(format!("{text}:{number}"));
            }
        }
    }
}
