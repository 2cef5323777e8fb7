//! The checks that refuse, before anything is built, what would break on Lambda. Every
//! offender is reported at once, each saying what is wrong, where, and what to do.

use std::fmt;

use serde::Serialize;

use crate::config::settings::NodeSettings;
use crate::config::{Config, Runner};

mod data;
mod project;
mod settings;
#[cfg(test)]
mod tests;

use self::data::*;
use self::project::*;
use self::settings::*;

/// Step Functions' maximum execution time (one year), in seconds.
pub const MACHINE_TIMEOUT_MAX_S: u64 = 31_536_000;

use super::graph::NodeGraph;
use super::model::PipelineDoc;

/// Errors stop the plan; warnings are shown and the plan goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// The rules of the check, each with a stable id for scripts and annotations. Declared in
/// the alphabetical order of their ids, so findings sort as their ids do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    ConfigUnknownNode,
    ConfigUnknownParam,
    ConfigUnknownTag,
    CredentialsMissing,
    DatasetNotShared,
    DefinitionTooLarge,
    EmptyPipeline,
    FreeInputNotRemote,
    InvalidNodeName,
    InvalidSetting,
    KedroUnsupported,
    MixedArchitectures,
    OutputDiscarded,
    ResourceOutOfRange,
    RunnerConflict,
    TaskTooLong,
    TimeoutBelowDuration,
    UnknownPipeline,
}

/// Where a problem is fixed, for an annotation that points at the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FixedIn {
    /// The env's data catalog (`conf/<env>/catalog.yml`).
    Catalog,
    /// `kedro-sfn.yml`.
    Config,
    /// The project's code (its pipelines), or nothing one file holds.
    Project,
}

impl Rule {
    /// The stable id: `dataset-not-shared`, ...
    pub fn id(self) -> &'static str {
        match self {
            Rule::ConfigUnknownNode => "config-unknown-node",
            Rule::ConfigUnknownParam => "config-unknown-param",
            Rule::ConfigUnknownTag => "config-unknown-tag",
            Rule::CredentialsMissing => "credentials-missing",
            Rule::DatasetNotShared => "dataset-not-shared",
            Rule::DefinitionTooLarge => "definition-too-large",
            Rule::EmptyPipeline => "empty-pipeline",
            Rule::InvalidNodeName => "invalid-node-name",
            Rule::FreeInputNotRemote => "free-input-not-remote",
            Rule::InvalidSetting => "invalid-setting",
            Rule::KedroUnsupported => "kedro-unsupported",
            Rule::MixedArchitectures => "mixed-architectures",
            Rule::OutputDiscarded => "output-discarded",
            Rule::ResourceOutOfRange => "resource-out-of-range",
            Rule::RunnerConflict => "runner-conflict",
            Rule::TaskTooLong => "task-too-long",
            Rule::TimeoutBelowDuration => "timeout-below-duration",
            Rule::UnknownPipeline => "unknown-pipeline",
        }
    }

    /// The file a problem of this rule is fixed in.
    pub fn fixed_in(self) -> FixedIn {
        match self {
            Rule::DatasetNotShared | Rule::FreeInputNotRemote | Rule::OutputDiscarded => {
                FixedIn::Catalog
            }
            Rule::ConfigUnknownNode
            | Rule::ConfigUnknownParam
            | Rule::ConfigUnknownTag
            | Rule::CredentialsMissing
            | Rule::InvalidSetting
            | Rule::MixedArchitectures
            | Rule::ResourceOutOfRange
            | Rule::RunnerConflict
            | Rule::TaskTooLong
            | Rule::TimeoutBelowDuration => FixedIn::Config,
            Rule::DefinitionTooLarge
            | Rule::EmptyPipeline
            | Rule::InvalidNodeName
            | Rule::KedroUnsupported
            | Rule::UnknownPipeline => FixedIn::Project,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Problem {
    pub severity: Severity,
    pub rule: Rule,
    /// The dataset, node, config key or pipeline at fault.
    pub subject: String,
    pub message: String,
    /// What to do about it.
    pub hint: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{level}[{}]: {}\n  hint: {}",
            self.rule, self.message, self.hint
        )
    }
}

/// The findings of a check, errors first.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Findings {
    pub problems: Vec<Problem>,
}

impl Findings {
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Error)
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems
            .iter()
            .filter(|p| p.severity == Severity::Warning)
    }

    pub fn has_errors(&self) -> bool {
        self.errors().next().is_some()
    }

    fn push(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn finish(mut self) -> Self {
        self.problems.sort();
        self.problems.dedup();
        self
    }
}

/// The requested pipeline must exist and have nodes; checked before anything else.
pub fn check_pipeline_exists(doc: &PipelineDoc) -> Findings {
    let mut findings = Findings::default();
    let registered = doc.pipelines.is_empty() || doc.pipelines.contains(&doc.pipeline);
    if !registered {
        findings.push(Problem {
            severity: Severity::Error,
            rule: Rule::UnknownPipeline,
            subject: doc.pipeline.clone(),
            message: format!(
                "the project {} has no pipeline named `{}`; it registers: {}",
                doc.project.name,
                doc.pipeline,
                doc.pipelines.join(", ")
            ),
            hint: "pass one of those with --pipeline, or set `pipeline:` in kedro-sfn.yml".into(),
        });
    } else if doc.nodes.is_empty() {
        findings.push(Problem {
            severity: Severity::Error,
            rule: Rule::EmptyPipeline,
            subject: doc.pipeline.clone(),
            message: format!("the pipeline `{}` has no nodes", doc.pipeline),
            hint: "check pipeline_registry.py, or choose another pipeline with --pipeline".into(),
        });
    }
    // Names every task, function and message is made from: blank or with control
    // characters, a node cannot be named, shown or configured.
    for node in &doc.nodes {
        let blank = node.name.trim().is_empty();
        if blank || node.name.chars().any(char::is_control) {
            findings.push(Problem {
                severity: Severity::Error,
                rule: Rule::InvalidNodeName,
                subject: node.name.escape_debug().to_string(),
                message: format!(
                    "a node is named `{}`, which {}",
                    node.name.escape_debug(),
                    if blank {
                        "is blank"
                    } else {
                        "has control characters"
                    }
                ),
                hint: "give the node a name in its pipeline: node(..., name=\"...\")".into(),
            });
        }
    }
    findings.finish()
}

/// What the check looks at besides the document.
pub struct CheckContext<'a> {
    pub doc: &'a PipelineDoc,
    pub config: &'a Config,
    pub graph: &'a NodeGraph,
    /// `task_of[node]`: which task runs the node.
    pub task_of: &'a [usize],
    /// The readable name of each task, for messages.
    pub task_labels: &'a [String],
    /// `settings[node]`: the node's resolved Lambda settings.
    pub settings: &'a [NodeSettings],
    /// `task_runners[task]`: where the task runs; Lambda's limits hold only on Lambda (the
    /// planner checks ECS tasks against Fargate's).
    pub task_runners: &'a [Runner],
}

/// What to add to kedro-sfn.yml so that a task too big for Lambda runs on ECS Fargate.
pub const ECS_SECTION_HINT: &str = "add an `ecs:` section (cluster, subnets, execution_role_arn; see docs/configuration.md) and such tasks run on ECS Fargate (`runner: auto`, the default)";

/// Runs every rule and returns every finding.
pub fn check(context: &CheckContext) -> Findings {
    let mut findings = Findings::default();
    check_shared_datasets(context, &mut findings);
    check_free_inputs(context, &mut findings);
    check_discarded_outputs(context, &mut findings);
    check_resources(context, &mut findings);
    check_setting_values(context, &mut findings);
    check_architectures(context, &mut findings);
    check_task_durations(context, &mut findings);
    check_config_names(context, &mut findings);
    check_credentials(context, &mut findings);
    check_kedro_version(context.doc, &mut findings);
    findings.finish()
}

/// The Kedro releases the handler and the exporter are built for: 0.19.0 up to, not
/// including, the next major release after the newest one tested (1.x).
pub const KEDRO_SUPPORTED: &str = ">=0.19.0, <2.0";
