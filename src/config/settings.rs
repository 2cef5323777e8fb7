//! One node's settings, resolved: its own entry beats its tags, which beat `lambda:`, which
//! beats the built-in default; each value carries the config key it came from, so a message
//! can say where to fix it.

use std::collections::BTreeMap;
use std::fmt;

use super::credentials::CREDENTIALS_ENV;
use super::{defaults, Architecture, Config, RunnerChoice, TaskSettings};

impl Config {
    /// The Lambda settings of one node: node beats tag beats `lambda:` beats the built-in
    /// default. Where several of the node's tags set a number, the largest wins (the node
    /// needs the most any of its tags asks for).
    pub fn node_settings(&self, name: &str, tags: &[impl AsRef<str>]) -> NodeSettings {
        let file = &self.file;
        let mut tags: Vec<&str> = tags.iter().map(AsRef::as_ref).collect();
        tags.sort();
        tags.dedup();
        let scopes = Scopes {
            node: file.nodes.get(name).map(|s| (Scope::Node(name), s)),
            tags: tags
                .iter()
                .filter_map(|tag| file.tags.get(*tag).map(|s| (Scope::Tag(tag), s)))
                .collect(),
            lambda: &file.lambda,
        };
        let number = |field, get: fn(&TaskSettings) -> Option<u32>, default| {
            scopes
                .pick(field, get, Among::Largest, true)
                .unwrap_or_else(|| Setting::new(default, Origin::Default))
        };
        let memory_mb = number("memory_mb", |s| s.memory_mb, defaults::MEMORY_MB);
        let timeout_s = number("timeout_s", |s| s.timeout_s, defaults::TIMEOUT_S);
        let ephemeral_storage_mb = number(
            "ephemeral_storage_mb",
            |s| s.ephemeral_storage_mb,
            defaults::EPHEMERAL_STORAGE_MB,
        );
        let duration_s = scopes
            .pick("duration_s", |s| s.duration_s, Among::Largest, true)
            .unwrap_or_else(|| Setting::new(defaults::DURATION_S, Origin::Default));
        // The runner: an `ecs` tag beats an `auto` one, `lambda` beats both (a node asks
        // for the most specific place any of its tags names).
        let runner = scopes
            .pick("runner", |s| s.runner, Among::Smallest, true)
            .unwrap_or_else(|| Setting::new(RunnerChoice::Auto, Origin::Default));
        let cpu = scopes.pick("cpu", |s| s.cpu, Among::Largest, false);

        // Every architecture the node's own entry, else its tags, else `lambda:` names.
        let field = "architecture";
        let mut architectures: Vec<(Origin, Architecture)> = match &scopes.node {
            Some((scope, s)) => s
                .architecture
                .map(|a| (scope.origin(field), a))
                .into_iter()
                .collect(),
            None => Vec::new(),
        };
        if architectures.is_empty() {
            architectures = scopes
                .tags
                .iter()
                .filter_map(|(scope, s)| s.architecture.map(|a| (scope.origin(field), a)))
                .collect();
        }
        if architectures.is_empty() {
            let arch = file.lambda.architecture.unwrap_or_default();
            architectures.push((Scope::Lambda.origin(field), arch));
        }

        // Environments merge: `lambda:`, then the tags, then the node's own.
        let mut environment = file.lambda.environment.clone().unwrap_or_default();
        for (_, s) in scopes.tags.iter().chain(&scopes.node) {
            environment.extend(s.environment.clone().unwrap_or_default());
        }
        if let Some(mapping) = self.credentials_mapping() {
            environment.insert(CREDENTIALS_ENV.to_string(), mapping);
        }

        NodeSettings {
            memory_mb,
            timeout_s,
            ephemeral_storage_mb,
            architectures,
            environment,
            duration_s,
            runner,
            cpu,
        }
    }
}

/// Where a node's setting can be read: its own entry, one of its tags, or `lambda:`.
#[derive(Debug, Clone, Copy)]
enum Scope<'a> {
    Node(&'a str),
    Tag(&'a str),
    Lambda,
}

impl Scope<'_> {
    fn origin(self, field: &'static str) -> Origin {
        match self {
            Scope::Node(node) => Origin::Node {
                node: node.to_string(),
                field,
            },
            Scope::Tag(tag) => Origin::Tag {
                tag: tag.to_string(),
                field,
            },
            Scope::Lambda => Origin::Lambda { field },
        }
    }
}

/// Which of several tags' values wins.
#[derive(Debug, Clone, Copy)]
enum Among {
    Largest,
    Smallest,
}

/// The config sections that speak for one node, in precedence order.
struct Scopes<'a> {
    node: Option<(Scope<'a>, &'a TaskSettings)>,
    tags: Vec<(Scope<'a>, &'a TaskSettings)>,
    lambda: &'a TaskSettings,
}

impl Scopes<'_> {
    /// The node's own value, else the winning tag's, else `lambda:`'s (when `with_lambda`):
    /// the one precedence chain every setting follows.
    fn pick<T: PartialOrd + Copy>(
        &self,
        field: &'static str,
        get: fn(&TaskSettings) -> Option<T>,
        among: Among,
        with_lambda: bool,
    ) -> Option<Setting<T>> {
        if let Some((scope, value)) = self.node.and_then(|(scope, s)| get(s).map(|v| (scope, v))) {
            return Some(Setting::new(value, scope.origin(field)));
        }
        let from_tags = self
            .tags
            .iter()
            .filter_map(|(scope, s)| get(s).map(|v| (*scope, v)))
            .reduce(|best, next| {
                let better = match among {
                    Among::Largest => next.1 > best.1,
                    Among::Smallest => next.1 < best.1,
                };
                if better {
                    next
                } else {
                    best
                }
            });
        if let Some((scope, value)) = from_tags {
            return Some(Setting::new(value, scope.origin(field)));
        }
        with_lambda
            .then(|| get(self.lambda))
            .flatten()
            .map(|value| Setting::new(value, Scope::Lambda.origin(field)))
    }
}

/// Where a setting came from: the config key that set it, or the built-in default.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Origin {
    Default,
    /// `nodes.<node>.<field>`
    Node {
        node: String,
        field: &'static str,
    },
    /// `tags.<tag>.<field>`
    Tag {
        tag: String,
        field: &'static str,
    },
    /// `lambda.<field>`
    Lambda {
        field: &'static str,
    },
}

impl Origin {
    /// Set for this node by its own entry or one of its tags (not a section's default):
    /// such a value holds on either runner, where a `lambda:` default holds only on Lambda.
    pub fn is_per_node(&self) -> bool {
        matches!(self, Origin::Node { .. } | Origin::Tag { .. })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::Node { node, field } => write!(f, "nodes.{node}.{field}"),
            Origin::Tag { tag, field } => write!(f, "tags.{tag}.{field}"),
            Origin::Lambda { field } => write!(f, "lambda.{field}"),
        }
    }
}

/// A resolved number and the config key it came from, so a message can say where to fix it.
#[derive(Debug, Clone, PartialEq)]
pub struct Setting<T> {
    pub value: T,
    pub origin: Origin,
}

impl<T> Setting<T> {
    fn new(value: T, origin: Origin) -> Self {
        Setting { value, origin }
    }

    /// Set for this node by its own entry or one of its tags (see [`Origin::is_per_node`]).
    pub fn is_per_node(&self) -> bool {
        self.origin.is_per_node()
    }
}

/// The Lambda settings one node asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeSettings {
    pub memory_mb: Setting<u32>,
    pub timeout_s: Setting<u32>,
    pub ephemeral_storage_mb: Setting<u32>,
    /// Every architecture a node's settings name, with where; more than one distinct value
    /// is a conflict the check reports.
    pub architectures: Vec<(Origin, Architecture)>,
    pub environment: BTreeMap<String, String>,
    /// Expected run time; its origin is `default` when no config names one (then past
    /// executions may say better).
    pub duration_s: Setting<f64>,
    pub runner: Setting<RunnerChoice>,
    /// Fargate CPU units, where a node or tag names them.
    pub cpu: Option<Setting<u32>>,
}

impl NodeSettings {
    /// The architecture the node runs on (the first named; conflicts are a check error).
    pub fn architecture(&self) -> Architecture {
        self.architectures
            .first()
            .map(|(_, arch)| *arch)
            .unwrap_or_default()
    }
}
