//! The pipeline document (`kedro-sfn/pipeline@1`): what the exporter prints and every later
//! command reads. It is the one boundary between Kedro (Python) and the planner (Rust).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// The format tag the exporter writes; a document with another tag is refused rather than
/// misread.
pub const PIPELINE_FORMAT: &str = "kedro-sfn/pipeline@1";

/// A Kedro pipeline as the exporter saw it, resolved for one env.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineDoc {
    pub format: String,
    pub project: ProjectInfo,
    /// The Kedro env the catalog was resolved for; `None` means Kedro's default.
    pub env: Option<String>,
    /// The registered pipeline that was exported.
    pub pipeline: String,
    /// Every pipeline the project registers, so a wrong `--pipeline` can be named.
    #[serde(default)]
    pub pipelines: Vec<String>,
    /// Nodes in the order Kedro gives (topological).
    pub nodes: Vec<Node>,
    /// Every dataset a node reads or writes, except parameters, as Kedro resolved it.
    #[serde(default)]
    pub datasets: BTreeMap<String, Dataset>,
    /// Every credentials key the env's catalog names (any entry, pattern or not: Kedro
    /// resolves them all when it builds the catalog), with the entries naming it. No values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub credentials: BTreeMap<String, Vec<String>>,
    /// Every node of every registered pipeline, when they are more than this pipeline's: one
    /// kedro-sfn.yml serves every pipeline, so its `nodes:` may name the others' nodes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub registered_nodes: Vec<String>,
}

/// Where the document came from; names the state machine by default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectInfo {
    pub name: String,
    pub package: String,
    pub kedro_version: String,
}

/// One Kedro node, with its exact (namespaced) name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Node {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub func: Option<String>,
    #[serde(default)]
    pub inputs: Vec<String>,
    #[serde(default)]
    pub outputs: Vec<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub namespace: Option<String>,
}

/// A catalog entry as Kedro resolved it; only what decides where the data lives, never
/// credentials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dataset {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub filepath: Option<String>,
    #[serde(default)]
    pub versioned: bool,
    /// True when no catalog entry or pattern matched and Kedro falls back to a MemoryDataset.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
}

/// Why a pipeline document could not be used.
#[derive(Debug, thiserror::Error)]
pub enum DocError {
    #[error("cannot read the pipeline document {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not a kedro-sfn pipeline document: {message}")]
    Parse { path: String, message: String },
    #[error(
        "{path} has format {found:?}, this kedro-sfn reads {PIPELINE_FORMAT:?}; re-run `kedro-sfn export` with this version"
    )]
    Format { path: String, found: String },
    #[error("{path} is inconsistent: {message}")]
    Invalid { path: String, message: String },
}

impl Node {
    /// The first segment of the node's namespace, the unit `--group-by namespace` groups by.
    pub fn top_level_namespace(&self) -> Option<&str> {
        self.namespace
            .as_deref()
            .filter(|ns| !ns.is_empty())
            .and_then(|ns| ns.split('.').next())
    }
}

/// Kedro's transcoding separator: `x@pandas` and `x@spark` are two views (two catalog entries,
/// two types) of the one dataset `x`, so a node reading `x@spark` depends on the node writing
/// `x@pandas`.
pub const TRANSCODING_SEPARATOR: char = '@';

/// The dataset a (possibly transcoded) name refers to: `x@pandas` -> `x`, `x` -> `x`. Data
/// dependencies are between these, never between the names as written (Kedro's own rule).
pub fn dataset_of(name: &str) -> &str {
    name.split_once(TRANSCODING_SEPARATOR)
        .map_or(name, |(dataset, _)| dataset)
}

/// Names that Kedro passes to nodes but are not datasets.
pub fn is_parameter(name: &str) -> bool {
    name == "parameters" || name.starts_with("params:")
}

#[cfg(test)]
impl PipelineDoc {
    /// An empty document of project `p`, for unit tests to fill in.
    pub(crate) fn for_tests(nodes: Vec<Node>) -> Self {
        PipelineDoc {
            format: PIPELINE_FORMAT.into(),
            project: ProjectInfo {
                name: "p".into(),
                package: "p".into(),
                kedro_version: "1.7.0".into(),
            },
            env: None,
            pipeline: "__default__".into(),
            pipelines: vec![],
            nodes,
            datasets: Default::default(),
            credentials: Default::default(),
            registered_nodes: Default::default(),
        }
    }
}

impl PipelineDoc {
    /// Reads and validates a document written by `kedro-sfn export` (or by hand, in tests and
    /// benchmarks).
    pub fn from_file(path: &Path) -> Result<Self, DocError> {
        let shown = path.display().to_string();
        let text = crate::user_file::read_text(path, crate::user_file::DOCUMENT_MAX_BYTES)
            .map_err(|source| DocError::Read {
                path: shown.clone(),
                source,
            })?;
        Self::from_json(&text, &shown)
    }

    /// Parses and validates a document; `origin` names it in errors.
    pub fn from_json(text: &str, origin: &str) -> Result<Self, DocError> {
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| DocError::Parse {
            path: origin.to_string(),
            message: e.to_string(),
        })?;
        let found = value
            .get("format")
            .and_then(|f| f.as_str())
            .unwrap_or("<missing>")
            .to_string();
        if found != PIPELINE_FORMAT {
            return Err(DocError::Format {
                path: origin.to_string(),
                found,
            });
        }
        let doc: PipelineDoc =
            serde_path_to_error::deserialize(value).map_err(|e| DocError::Parse {
                path: origin.to_string(),
                message: format!("at {}: {}", e.path(), e.inner()),
            })?;
        doc.validate().map_err(|message| DocError::Invalid {
            path: origin.to_string(),
            message,
        })?;
        Ok(doc)
    }

    /// Refuses documents no Kedro pipeline could produce: duplicate node names, a dataset with
    /// two writers, a node reading its own output (transcoded names count as their dataset, as
    /// Kedro counts them).
    fn validate(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        let mut writers: BTreeMap<&str, &str> = BTreeMap::new();
        for node in &self.nodes {
            if node.name.is_empty() {
                return Err("a node has an empty name".into());
            }
            if !names.insert(node.name.as_str()) {
                return Err(format!("node name {:?} appears twice", node.name));
            }
            for output in &node.outputs {
                if let Some(other) = writers.insert(dataset_of(output), node.name.as_str()) {
                    return Err(format!(
                        "dataset {output:?} is written by both {other:?} and {:?}",
                        node.name
                    ));
                }
                if node
                    .inputs
                    .iter()
                    .any(|input| dataset_of(input) == dataset_of(output))
                {
                    return Err(format!(
                        "node {:?} reads its own output {output:?}",
                        node.name
                    ));
                }
            }
        }
        Ok(())
    }

    /// Writes the document as the exporter does: pretty JSON, one trailing newline.
    pub fn to_json_pretty(&self) -> String {
        let mut text = serde_json::to_string_pretty(self)
            .expect("a PipelineDoc has string keys only, so it always serializes");
        text.push('\n');
        text
    }
}
