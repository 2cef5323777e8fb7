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
    /// The region deployed to (the alert's console link).
    pub region: String,
    /// How many versions of the state machine are kept (`deploy.keep_versions`).
    pub keep_versions: usize,
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
            region: "us-east-1".into(),
            keep_versions: crate::config::defaults::KEEP_VERSIONS,
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
