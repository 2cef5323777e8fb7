//! The settings each node asks for: within what Lambda and ECS allow, consistent within a
//! task, and naming nodes and tags that exist.

use std::collections::{BTreeMap, BTreeSet};

use super::*;
use crate::config::{limits, Architecture, Runner};

pub(super) fn check_resources(context: &CheckContext, findings: &mut Findings) {
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
pub(super) fn check_setting_values(context: &CheckContext, findings: &mut Findings) {
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

pub(super) fn check_architectures(context: &CheckContext, findings: &mut Findings) {
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

pub(super) fn check_task_durations(context: &CheckContext, findings: &mut Findings) {
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

pub(super) fn check_config_names(context: &CheckContext, findings: &mut Findings) {
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
    let inputs: Vec<&str> = doc
        .nodes
        .iter()
        .flat_map(|n| n.inputs.iter().map(String::as_str))
        .collect();
    for (schedule, settings) in &context.config.file.schedules {
        for key in settings.params.keys() {
            if crate::pipeline::params::read_by_any(key, &inputs) {
                continue;
            }
            let path = format!("schedules.{schedule}.params.{key}");
            findings.push(Problem {
                severity: Severity::Warning,
                rule: Rule::ConfigUnknownParam,
                subject: path.clone(),
                message: format!(
                    "{} sets a parameter that no node of pipeline `{}` reads (as `params:{key}`, a part of it, or `parameters`): the run ignores it",
                    context.config.describe_key(&path),
                    doc.pipeline
                ),
                hint: "check the spelling against conf/base/parameters*.yml, or remove it".into(),
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
pub(super) fn summarize_names(names: &[&str]) -> String {
    const SHOWN: usize = 3;
    let shown: Vec<String> = names.iter().take(SHOWN).map(|n| format!("`{n}`")).collect();
    if names.len() > SHOWN {
        format!("{} and {} more", shown.join(", "), names.len() - SHOWN)
    } else {
        shown.join(", ")
    }
}

/// The candidate with the smallest edit distance, if it is close enough to be a typo.
pub(super) fn closest<'a>(
    wanted: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(wanted, c), c))
        .filter(|(distance, c)| *distance <= c.chars().count().max(3) / 3 || c.ends_with(wanted))
        .min()
        .map(|(_, c)| c)
}

pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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
