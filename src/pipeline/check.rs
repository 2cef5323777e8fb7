//! The checks that refuse, before anything is built, what would break on Lambda. Every
//! offender is reported at once, each saying what is wrong, where, and what to do.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;

use crate::config::settings::NodeSettings;
use crate::config::{limits, Architecture, Config, GroupBy, Runner};

/// Step Functions' maximum execution time (one year), in seconds.
pub const MACHINE_TIMEOUT_MAX_S: u64 = 31_536_000;

use super::graph::{DataEdge, NodeGraph};
use super::model::{dataset_of, is_parameter, PipelineDoc};
use super::storage::{classify, Storage};

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
    ConfigUnknownTag,
    CredentialsMissing,
    DatasetNotShared,
    DefinitionTooLarge,
    EmptyPipeline,
    FreeInputNotRemote,
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
            Rule::ConfigUnknownTag => "config-unknown-tag",
            Rule::CredentialsMissing => "credentials-missing",
            Rule::DatasetNotShared => "dataset-not-shared",
            Rule::DefinitionTooLarge => "definition-too-large",
            Rule::EmptyPipeline => "empty-pipeline",
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

/// `major.minor` of a Kedro version (`1.0.0`, `0.19.12`, `1.2.0rc1`), or `None`.
fn kedro_major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

fn check_kedro_version(doc: &PipelineDoc, findings: &mut Findings) {
    let found = &doc.project.kedro_version;
    let supported = kedro_major_minor(found)
        .is_some_and(|(major, minor)| (major == 0 && minor >= 19) || major == 1);
    if !supported {
        findings.push(Problem {
            severity: Severity::Error,
            rule: Rule::KedroUnsupported,
            subject: found.clone(),
            message: format!(
                "the project runs with Kedro {found}; kedro-sfn supports Kedro {KEDRO_SUPPORTED}"
            ),
            hint: "install a supported Kedro in the project's environment (e.g. `pip install 'kedro>=0.19,<2'`) and pin it in the project's requirements, so the image gets the same".into(),
        });
    }
}

/// A credentials key the env's catalog names must have a source in `credentials:`: the
/// image carries no credentials file, and Kedro resolves every key when it builds the
/// catalog, so one missing key fails every task.
fn check_credentials(context: &CheckContext, findings: &mut Findings) {
    let mapped = &context.config.file.credentials;
    for (key, entries) in &context.doc.credentials {
        if mapped.contains_key(key) {
            continue;
        }
        findings.push(Problem {
            severity: Severity::Error,
            rule: Rule::CredentialsMissing,
            subject: key.clone(),
            message: format!(
                "{} names the credentials `{key}`, which nothing gives a task on AWS (the image carries no credentials file, and Kedro resolves every credentials key of the catalog when it builds it, so every task would fail)",
                entries
                    .iter()
                    .map(|e| format!("`{e}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ),
            hint: format!(
                "add `credentials: {{{key}: secretsmanager:NAME}}` (or `ssm:/PATH`) to {}; the secret holds the entry as JSON, as credentials.yml would",
                context
                    .config
                    .source
                    .as_ref()
                    .map_or_else(|| "kedro-sfn.yml".to_string(), |p| p.display().to_string())
            ),
        });
    }
}

fn env_catalog(doc: &PipelineDoc) -> String {
    match &doc.env {
        Some(env) => format!("conf/{env}/catalog.yml"),
        None => "the catalog of the env you deploy (conf/<env>/catalog.yml)".into(),
    }
}

fn check_shared_datasets(context: &CheckContext, findings: &mut Findings) {
    let doc = context.doc;
    // Per catalog name that is not shared: the edges that carry it across tasks.
    let mut crossing: BTreeMap<&str, Vec<&DataEdge>> = BTreeMap::new();
    for edge in &context.graph.edges {
        if context.task_of[edge.from] == context.task_of[edge.to] {
            continue;
        }
        for name in edge.names() {
            if !classify(doc, name).is_shared() {
                crossing.entry(name).or_default().push(edge);
            }
        }
    }
    let group_by = context.config.group_by();
    for (dataset, edges) in crossing {
        let writer = edges[0].from;
        let readers: BTreeSet<usize> = edges.iter().map(|e| e.to).collect();
        let reader_names: Vec<String> = readers
            .iter()
            .map(|&n| format!("`{}`", doc.nodes[n].name))
            .collect();
        let transcoded: BTreeSet<&str> = edges.iter().flat_map(|e| e.names()).collect();
        let views = if transcoded.len() > 1 {
            format!(
                " (one dataset, transcoded as {})",
                transcoded
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            )
        } else {
            String::new()
        };
        let regroup = if group_by == GroupBy::Memory {
            String::new()
        } else {
            format!(", or run them in one task with --group-by memory (now: {group_by})")
        };
        findings.push(Problem {
            severity: Severity::Error,
            rule: Rule::DatasetNotShared,
            subject: dataset.to_string(),
            message: format!(
                "dataset `{dataset}`{views} is {} but is written by `{}` (task `{}`) and read by {} in other tasks; each Lambda function has its own memory and disk, so they would never see it",
                classify(doc, dataset).describe(),
                doc.nodes[writer].name,
                context.task_labels[context.task_of[writer]],
                reader_names.join(", "),
            ),
            hint: format!(
                "put `{dataset}` on shared storage (s3://...) in {}{regroup}{}",
                env_catalog(doc),
                type_hint(doc, dataset)
            ),
        });
    }
}

fn check_free_inputs(context: &CheckContext, findings: &mut Findings) {
    let doc = context.doc;
    let mut free: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for node in &doc.nodes {
        for input in &node.inputs {
            if !is_parameter(input) && context.graph.writer_of(input).is_none() {
                free.entry(input.as_str())
                    .or_default()
                    .push(node.name.as_str());
            }
        }
    }
    for (dataset, nodes) in free {
        let storage = classify(doc, dataset);
        if storage.is_shared() {
            continue;
        }
        let why = match storage {
            Storage::NotInCatalog | Storage::Memory { .. } => {
                "nothing in the pipeline writes it, so it would be empty"
            }
            _ => "a Lambda function cannot read a file from this machine",
        };
        findings.push(Problem {
            severity: Severity::Error,
            rule: Rule::FreeInputNotRemote,
            subject: dataset.to_string(),
            message: format!(
                "input `{dataset}` of {} is {}; {why}",
                nodes
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", "),
                storage.describe()
            ),
            hint: format!(
                "put `{dataset}` on remote storage (s3://...) in {}{}",
                env_catalog(doc),
                type_hint(doc, dataset)
            ),
        });
    }
}

/// What to write in the catalog: users otherwise guess a dataset type, or miss that
/// `kedro-sfn init` writes the whole overlay.
fn type_hint(doc: &PipelineDoc, dataset: &str) -> String {
    let what = match classify(doc, dataset) {
        Storage::NotInCatalog | Storage::Memory { .. } => {
            " with a type that can store it: `pickle.PickleDataset` takes any Python object (a pandas Series, a scikit-learn model), `pandas.ParquetDataset` a DataFrame"
        }
        Storage::LocalPath { .. } => ": keep its type and options, and change its `filepath` to an s3:// URL",
        _ => "",
    };
    format!(
        "{what}; `kedro-sfn init --bucket s3://BUCKET/PREFIX` writes such an env for every dataset"
    )
}

fn check_discarded_outputs(context: &CheckContext, findings: &mut Findings) {
    let doc = context.doc;
    let read: BTreeSet<&str> = doc
        .nodes
        .iter()
        .flat_map(|n| n.inputs.iter().map(|input| dataset_of(input)))
        .collect();
    for node in &doc.nodes {
        for output in &node.outputs {
            let storage = classify(doc, output);
            if !read.contains(dataset_of(output)) && !storage.is_shared() {
                findings.push(Problem {
                    severity: Severity::Warning,
                    rule: Rule::OutputDiscarded,
                    subject: output.clone(),
                    message: format!(
                        "output `{output}` of `{}` is {} and no node reads it: it is lost when the function ends",
                        node.name,
                        storage.describe()
                    ),
                    hint: format!("persist it in {} if you need it", env_catalog(doc)),
                });
            }
        }
    }
}

fn check_resources(context: &CheckContext, findings: &mut Findings) {
    type Offence = (String, u32, &'static str, (u32, u32));
    let mut offenders: BTreeMap<Offence, Vec<&str>> = BTreeMap::new();
    for ((node, settings), &task) in context
        .doc
        .nodes
        .iter()
        .zip(context.settings)
        .zip(context.task_of)
    {
        if context.task_runners.get(task) == Some(&Runner::Ecs) {
            continue;
        }
        let checks = [
            (&settings.memory_mb, limits::MEMORY_MB, "MB of memory"),
            (&settings.timeout_s, limits::TIMEOUT_S, "seconds of timeout"),
            (
                &settings.ephemeral_storage_mb,
                limits::EPHEMERAL_STORAGE_MB,
                "MB of ephemeral storage",
            ),
        ];
        for (setting, range, unit) in checks {
            if setting.value < range.0 || setting.value > range.1 {
                offenders
                    .entry((setting.origin.to_string(), setting.value, unit, range))
                    .or_default()
                    .push(node.name.as_str());
            }
        }
    }
    for ((origin, value, unit, (low, high)), nodes) in offenders {
        let beyond_timeout = (low, high) == limits::TIMEOUT_S && value > high;
        findings.push(Problem {
            severity: Severity::Error,
            rule: Rule::ResourceOutOfRange,
            subject: origin.clone(),
            message: format!(
                "{} asks for {value} {unit} (for {}); Lambda allows {low}-{high}",
                context.config.describe_key(&origin),
                summarize_names(&nodes)
            ),
            hint: match (beyond_timeout || value > high, &context.config.file.ecs) {
                (true, None) => format!(
                    "Lambda stops a function after 15 minutes and at 10,240 MB: {ECS_SECTION_HINT}, or split the node"
                ),
                (true, Some(_)) => "set `runner: ecs` (or `auto`) for these nodes: they run on ECS Fargate, whose limits are higher".into(),
                (false, _) => format!("set a value between {low} and {high}"),
            },
        });
    }
}

/// Numbers that are not Lambda settings but must still make sense.
fn check_setting_values(context: &CheckContext, findings: &mut Findings) {
    let file = &context.config.file;
    if let Some(timeout) = file.state_machine.timeout_s {
        if !(1..=MACHINE_TIMEOUT_MAX_S).contains(&timeout) {
            findings.push(Problem {
                severity: Severity::Error,
                rule: Rule::InvalidSetting,
                subject: "state_machine.timeout_s".into(),
                message: format!(
                    "{} is {timeout}; Step Functions allows 1-{MACHINE_TIMEOUT_MAX_S} seconds",
                    context.config.describe_key("state_machine.timeout_s")
                ),
                hint: "remove it to derive the timeout from the task timeouts".into(),
            });
        }
    }
    let durations = std::iter::once(("lambda".to_string(), &file.lambda))
        .chain(file.tags.iter().map(|(k, v)| (format!("tags.{k}"), v)))
        .chain(file.nodes.iter().map(|(k, v)| (format!("nodes.{k}"), v)));
    for (key, settings) in durations {
        if key != "lambda" && settings.role_arn.is_some() {
            let key = format!("{key}.role_arn");
            findings.push(Problem {
                severity: Severity::Error,
                rule: Rule::InvalidSetting,
                subject: key.clone(),
                message: format!(
                    "{} is set, but every function shares one role",
                    context.config.describe_key(&key)
                ),
                hint: "move it to lambda.role_arn".into(),
            });
        }
        if let Some(duration) = settings.duration_s {
            if !duration.is_finite() || duration < 0.0 {
                let key = format!("{key}.duration_s");
                findings.push(Problem {
                    severity: Severity::Error,
                    rule: Rule::InvalidSetting,
                    subject: key.clone(),
                    message: format!(
                        "{} is {duration}; an expected duration is a number of seconds, 0 or more",
                        context.config.describe_key(&key)
                    ),
                    hint: "give the node's typical run time in seconds".into(),
                });
            }
        }
    }
}

fn check_architectures(context: &CheckContext, findings: &mut Findings) {
    let mut seen: BTreeMap<String, (Architecture, Vec<&str>)> = BTreeMap::new();
    for (node, settings) in context.doc.nodes.iter().zip(context.settings) {
        for (origin, arch) in &settings.architectures {
            seen.entry(origin.to_string())
                .or_insert((*arch, Vec::new()))
                .1
                .push(node.name.as_str());
        }
    }
    let distinct: BTreeSet<Architecture> = seen.values().map(|(arch, _)| *arch).collect();
    if distinct.len() > 1 {
        let listed: Vec<String> = seen
            .iter()
            .map(|(origin, (arch, _))| format!("{origin} = {arch}"))
            .collect();
        findings.push(Problem {
            severity: Severity::Error,
            rule: Rule::MixedArchitectures,
            subject: "architecture".into(),
            message: format!(
                "nodes ask for different architectures ({}), but every function runs the same image, built for one platform",
                listed.join(", ")
            ),
            hint: "set `architecture` once, under `lambda:`".into(),
        });
    }
}

fn check_task_durations(context: &CheckContext, findings: &mut Findings) {
    let mut per_task: BTreeMap<usize, (f64, u32, Vec<&str>)> = BTreeMap::new();
    for (node, (settings, &task)) in context
        .doc
        .nodes
        .iter()
        .zip(context.settings.iter().zip(context.task_of))
    {
        let entry = per_task.entry(task).or_insert((0.0, 0, Vec::new()));
        entry.0 += settings.duration_s.value;
        entry.1 = entry.1.max(settings.timeout_s.value);
        entry.2.push(node.name.as_str());
    }
    for (task, (duration, timeout, nodes)) in per_task {
        if context.task_runners.get(task) == Some(&Runner::Ecs) {
            continue;
        }
        let label = &context.task_labels[task];
        let limit = limits::TIMEOUT_S.1;
        if duration > f64::from(limit) {
            findings.push(Problem {
                severity: Severity::Error,
                rule: Rule::TaskTooLong,
                subject: label.clone(),
                message: format!(
                    "task `{label}` ({}) is expected to take {duration} s, more than Lambda's limit of {limit} s",
                    summarize_names(&nodes)
                ),
                hint: match (&context.config.file.ecs, nodes.len()) {
                    (None, 1) => format!("{ECS_SECTION_HINT}; or split the node into shorter nodes, or lower duration_s if it is wrong"),
                    (None, _) => format!("{ECS_SECTION_HINT}; or persist the datasets inside the group so its nodes can run as separate tasks (--group-by none), or lower duration_s if it is wrong"),
                    (Some(_), 1) => "set `runner: ecs` (or `auto`) for the node to run it on ECS Fargate, or lower duration_s if it is wrong".into(),
                    (Some(_), _) => "set `runner: ecs` (or `auto`) for its nodes to run the task on ECS Fargate, or persist the datasets inside the group so its nodes run as separate tasks (--group-by none)".into(),
                },
            });
        } else if duration > f64::from(timeout) {
            findings.push(Problem {
                severity: Severity::Warning,
                rule: Rule::TimeoutBelowDuration,
                subject: label.clone(),
                message: format!(
                    "task `{label}` is expected to take {duration} s but its timeout is {timeout} s"
                ),
                hint: "raise timeout_s for its nodes".into(),
            });
        }
    }
}

fn check_config_names(context: &CheckContext, findings: &mut Findings) {
    let doc = context.doc;
    let names: BTreeSet<&str> = doc.nodes.iter().map(|n| n.name.as_str()).collect();
    let tags: BTreeSet<&str> = doc
        .nodes
        .iter()
        .flat_map(|n| n.tags.iter().map(String::as_str))
        .collect();
    let elsewhere: BTreeSet<&str> = doc.registered_nodes.iter().map(String::as_str).collect();
    for name in context.config.file.nodes.keys() {
        // A node of another registered pipeline: the shared config's, not a typo.
        if !names.contains(name.as_str()) && !elsewhere.contains(name.as_str()) {
            findings.push(Problem {
                severity: Severity::Error,
                rule: Rule::ConfigUnknownNode,
                subject: format!("nodes.{name}"),
                message: format!(
                    "{} names a node that pipeline `{}` does not have",
                    context.config.describe_key(&format!("nodes.{name}")),
                    doc.pipeline
                ),
                hint: match closest(name, names.iter().copied()) {
                    Some(near) => {
                        format!("did you mean `{near}`? (namespaced nodes include their namespace)")
                    }
                    None => "use the full node name as `kedro-sfn export` prints it".into(),
                },
            });
        }
    }
    for tag in context.config.file.tags.keys() {
        if !tags.contains(tag.as_str()) {
            findings.push(Problem {
                severity: Severity::Warning,
                rule: Rule::ConfigUnknownTag,
                subject: format!("tags.{tag}"),
                message: format!(
                    "{} names a tag no node of pipeline `{}` has",
                    context.config.describe_key(&format!("tags.{tag}")),
                    doc.pipeline
                ),
                hint: "check the spelling, or remove the entry".into(),
            });
        }
    }
}

/// "`a`, `b` and 3 more".
fn summarize_names(names: &[&str]) -> String {
    const SHOWN: usize = 3;
    let shown: Vec<String> = names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
    if names.len() > SHOWN {
        format!("{} and {} more", shown.join(", "), names.len() - SHOWN)
    } else {
        shown.join(", ")
    }
}

/// The candidate with the smallest edit distance, if it is close enough to be a typo.
fn closest<'a>(wanted: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(wanted, c), c))
        .filter(|(distance, c)| *distance <= c.chars().count().max(3) / 3 || c.ends_with(wanted))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_misses_are_suggested() {
        let names = ["train_model_node", "split_data_node"];
        assert_eq!(
            closest("train_modle_node", names.iter().copied()),
            Some("train_model_node")
        );
        assert_eq!(closest("zzz", names.iter().copied()), None);
        let namespaced = ["ds.train_model_node"];
        assert_eq!(
            closest("train_model_node", namespaced.iter().copied()),
            Some("ds.train_model_node")
        );
    }

    #[test]
    fn kedro_from_0_19_to_1_x_is_supported_and_the_rest_refused_naming_the_range() {
        for (version, supported) in [
            ("0.18.14", false),
            ("0.19.0", true),
            ("0.19.12", true),
            ("1.0.0", true),
            ("1.2.0rc1", true),
            ("1.7.0", true),
            ("2.0.0", false),
            ("unknown", false),
        ] {
            let mut doc = PipelineDoc::for_tests(vec![]);
            doc.project.kedro_version = version.into();
            let mut findings = Findings::default();
            check_kedro_version(&doc, &mut findings);
            assert_eq!(findings.problems.is_empty(), supported, "{version}");
            if let Some(problem) = findings.problems.first() {
                assert_eq!(problem.rule, Rule::KedroUnsupported);
                assert!(
                    problem.message.contains(version) && problem.message.contains(KEDRO_SUPPORTED),
                    "{}",
                    problem.message
                );
            }
        }
    }
}
