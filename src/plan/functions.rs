//! One Lambda function spec per task: what deploy creates or updates.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::settings::NodeSettings;
use crate::config::Architecture;

/// The tag that marks a function as owned by a state machine: deploy updates and prunes
/// only functions that carry it.
pub const OWNER_TAG: &str = "kedro-sfn:state-machine";
/// The tag naming the task a function runs.
pub const TASK_TAG: &str = "kedro-sfn:task";

/// What kedro-sfn writes into each function's description, so that one ListFunctions page
/// (50 functions) tells everything a plan compares, without a call per function: the owner
/// (as the ownership tag says), what its image was built from (the source digest of
/// `image::source`, so a plan sees new node code without building an image), and a hash of
/// its tags (so a changed tag shows without reading them).
///
/// Text form, at most 199 characters (Lambda allows 256):
/// `kedro-sfn state-machine=NAME source=DIGEST|none tags=16HEX`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionRecord {
    pub state_machine: String,
    pub source: Option<String>,
    pub tags_hash: String,
}

impl FunctionRecord {
    /// The record for a function with these tags.
    pub fn new(
        state_machine: &str,
        source: Option<&str>,
        tags: &BTreeMap<String, String>,
    ) -> FunctionRecord {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for (key, value) in tags {
            hasher.update((key.len() as u64).to_le_bytes());
            hasher.update(key.as_bytes());
            hasher.update((value.len() as u64).to_le_bytes());
            hasher.update(value.as_bytes());
        }
        let digest = hasher.finalize();
        FunctionRecord {
            state_machine: state_machine.to_string(),
            source: source.map(str::to_string),
            tags_hash: digest[..8].iter().map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The description text.
    pub fn render(&self) -> String {
        format!(
            "kedro-sfn state-machine={} source={} tags={}",
            self.state_machine,
            self.source.as_deref().unwrap_or("none"),
            self.tags_hash
        )
    }

    /// The record in a description; `None` for any other text (a function made by hand, or
    /// by a kedro-sfn older than records).
    pub fn parse(description: &str) -> Option<FunctionRecord> {
        let rest = description.strip_prefix("kedro-sfn ")?;
        let mut fields = rest.split(' ');
        let state_machine = fields.next()?.strip_prefix("state-machine=")?;
        let source = fields.next()?.strip_prefix("source=")?;
        let tags_hash = fields.next()?.strip_prefix("tags=")?;
        if fields.next().is_some() || state_machine.is_empty() || tags_hash.is_empty() {
            return None;
        }
        Some(FunctionRecord {
            state_machine: state_machine.to_string(),
            source: (source != "none").then(|| source.to_string()),
            tags_hash: tags_hash.to_string(),
        })
    }
}

/// A Lambda function as the plan wants it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionSpec {
    pub name: String,
    /// The Task state that invokes it.
    pub state: String,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub ephemeral_storage_mb: u32,
    pub architecture: Architecture,
    pub environment: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// A task's environment, on either runner: its nodes' environments merged in node order,
/// and `KEDRO_ENV` so the handler opens the right env.
pub fn task_environment(
    env: Option<&str>,
    node_settings: &[&NodeSettings],
) -> BTreeMap<String, String> {
    let mut environment = BTreeMap::new();
    for settings in node_settings {
        environment.extend(settings.environment.clone());
    }
    if let Some(env) = env {
        environment.insert("KEDRO_ENV".to_string(), env.to_string());
    }
    environment
}

/// kedro-sfn's own tags on what a task runs (a function, a task definition): its owner, and
/// the Task state it serves.
pub fn owned_tags(state_machine: &str, state: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (OWNER_TAG.to_string(), state_machine.to_string()),
        (TASK_TAG.to_string(), state.to_string()),
    ])
}

/// The function of a task: the largest memory, timeout and disk any of its nodes asks for
/// (they run one after another in one invocation), their environments merged in node order,
/// and `KEDRO_ENV` so the handler opens the right env.
pub fn function_spec(
    name: &str,
    state: &str,
    state_machine: &str,
    env: Option<&str>,
    node_settings: &[&NodeSettings],
) -> FunctionSpec {
    let max = |get: &dyn Fn(&NodeSettings) -> u32| {
        node_settings.iter().map(|s| get(s)).max().unwrap_or(0)
    };
    let environment = task_environment(env, node_settings);
    let tags = owned_tags(state_machine, state);
    FunctionSpec {
        name: name.to_string(),
        state: state.to_string(),
        memory_mb: max(&|s| s.memory_mb.value),
        timeout_s: max(&|s| s.timeout_s.value),
        ephemeral_storage_mb: max(&|s| s.ephemeral_storage_mb.value),
        architecture: node_settings
            .first()
            .map(|s| s.architecture())
            .unwrap_or_default(),
        environment,
        tags,
    }
}

#[cfg(test)]
mod record_tests {
    use super::*;

    #[test]
    fn a_record_reads_back_what_it_wrote_and_nothing_else() {
        let tags = BTreeMap::from([("team".to_string(), "data".to_string())]);
        let record = FunctionRecord::new("flights", Some("sha256:ab12"), &tags);
        let text = record.render();
        assert_eq!(FunctionRecord::parse(&text), Some(record.clone()));
        assert_eq!(
            text.len(),
            "kedro-sfn state-machine=flights source=sha256:ab12 tags=".len() + 16
        );
        let unknown = FunctionRecord::new("flights", None, &tags);
        assert_eq!(FunctionRecord::parse(&unknown.render()), Some(unknown));
        // Another tag set, another hash.
        let other = BTreeMap::from([("team".to_string(), "ml".to_string())]);
        assert_ne!(
            FunctionRecord::new("flights", None, &other).tags_hash,
            record.tags_hash
        );
        for text in [
            "",
            "made by hand",
            "kedro-sfn state-machine=x",
            "kedro-sfn state-machine= source=none tags=ab",
            "kedro-sfn state-machine=x source=none tags=ab extra",
        ] {
            assert_eq!(FunctionRecord::parse(text), None, "{text}");
        }
        // The longest: an 80-character name and a sha256 digest.
        let long = FunctionRecord::new(
            &"m".repeat(80),
            Some(&format!("sha256:{}", "f".repeat(64))),
            &tags,
        );
        assert!(long.render().len() <= 256, "{}", long.render().len());
    }
}
