//! Tasks that outgrow Lambda: which tasks run on ECS Fargate, and the task definition each
//! one gets. Pure: the sizes come from the config, the network and roles are checked for
//! shape only (AWS says whether they exist).

pub mod checks;

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::settings::NodeSettings;
use crate::config::{limits, Architecture, Config, EcsConfig, Runner, RunnerChoice};

use crate::plan::functions::{owned_tags, task_environment};

/// Defaults of an ECS task where neither a node nor the `ecs:` section says.
pub mod defaults {
    pub const CPU: u32 = 1024;
    pub const MEMORY_MB: u32 = 2048;
    pub const TIMEOUT_S: u32 = 3600;
    pub const PLATFORM_VERSION: &str = "LATEST";
}

/// The container's name in every task definition; the Task state's override names it.
pub const CONTAINER_NAME: &str = "kedro";

pub use crate::config::limits::FARGATE_EPHEMERAL_STORAGE_GB as EPHEMERAL_STORAGE_GB;

/// Fargate's valid task sizes: CPU units -> the memory values (MB) it allows, as
/// `(first, last, step)`.
const FARGATE_SIZES: &[(u32, (u32, u32, u32))] = &[
    (256, (512, 2048, 512)), // 512, 1024 or 2048 only
    (512, (1024, 4096, 1024)),
    (1024, (2048, 8192, 1024)),
    (2048, (4096, 16384, 1024)),
    (4096, (8192, 30720, 1024)),
    (8192, (16384, 61440, 4096)),
    (16384, (32768, 122_880, 8192)),
];

/// The CPU values Fargate accepts.
pub fn valid_cpus() -> Vec<u32> {
    FARGATE_SIZES.iter().map(|(cpu, _)| *cpu).collect()
}

/// The memory values Fargate accepts with `cpu` units (empty for an invalid `cpu`), as text
/// for a message: `2048-8192 in steps of 1024`.
pub fn valid_memory(cpu: u32) -> Option<String> {
    FARGATE_SIZES
        .iter()
        .find(|(c, _)| *c == cpu)
        .map(|(_, (first, last, step))| {
            // 256 units also take 512 and 1024 below the stepped range.
            if cpu == 256 {
                "512, 1024 or 2048".to_string()
            } else {
                format!("{first}-{last} in steps of {step}")
            }
        })
}

/// Whether Fargate runs a task of `cpu` units with `memory_mb`.
pub fn is_valid_size(cpu: u32, memory_mb: u32) -> bool {
    if cpu == 256 {
        return [512, 1024, 2048].contains(&memory_mb);
    }
    FARGATE_SIZES.iter().any(|(c, (first, last, step))| {
        *c == cpu
            && memory_mb >= *first
            && memory_mb <= *last
            && (memory_mb - first).is_multiple_of(*step)
    })
}

/// Why a task runs where it does, for the plan and its messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunnerChoiceMade {
    pub runner: Runner,
    /// `nodes.x.runner`, `tags.t.runner`, `auto: expected 1200 s > 900 s`, or `default`.
    pub reason: String,
}

/// A node of a task that explicitly asks for Lambda while another needs ECS: a task is one
/// invocation on one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunnerConflict {
    pub lambda: Vec<(String, String)>,
    pub ecs: Vec<(String, String)>,
}

/// Where each node of a task would go, and so where the task goes: ECS when any node needs
/// it (asks for it, or with `auto` outgrows Lambda while `ecs:` is configured), else Lambda.
/// A node that explicitly asks for Lambda in a task that must run on ECS is a conflict.
pub fn task_runner(
    config: &Config,
    nodes: &[(&str, &NodeSettings)],
) -> Result<RunnerChoiceMade, RunnerConflict> {
    let over = over_lambda(nodes);
    let mut ecs = Vec::new();
    let mut lambda = Vec::new();
    for (name, settings) in nodes {
        match settings.runner.value {
            RunnerChoice::Ecs => ecs.push((name.to_string(), settings.runner.origin.to_string())),
            RunnerChoice::Lambda => {
                lambda.push((name.to_string(), settings.runner.origin.to_string()))
            }
            RunnerChoice::Auto => {}
        }
    }
    let auto = nodes
        .iter()
        .any(|(_, s)| s.runner.value == RunnerChoice::Auto);
    let choice = if let Some((_, origin)) = ecs.first() {
        RunnerChoiceMade {
            runner: Runner::Ecs,
            reason: origin.clone(),
        }
    } else if let (true, Some(why), Some(_)) = (auto, &over, &config.file.ecs) {
        if lambda.is_empty() {
            RunnerChoiceMade {
                runner: Runner::Ecs,
                reason: format!("auto: {why}"),
            }
        } else {
            // An explicit `lambda` in the task keeps it there; the limits check says why
            // that cannot work.
            RunnerChoiceMade {
                runner: Runner::Lambda,
                reason: lambda[0].1.clone(),
            }
        }
    } else {
        RunnerChoiceMade {
            runner: Runner::Lambda,
            reason: lambda
                .first()
                .map_or_else(|| "default".to_string(), |(_, o)| o.clone()),
        }
    };
    if choice.runner == Runner::Ecs && !lambda.is_empty() {
        return Err(RunnerConflict { lambda, ecs });
    }
    Ok(choice)
}

/// Why a task cannot run on Lambda, if it cannot: its nodes run one after another in one
/// invocation, so their durations add up; memory, timeout and disk are the largest asked.
fn over_lambda(nodes: &[(&str, &NodeSettings)]) -> Option<String> {
    let duration: f64 = nodes.iter().map(|(_, s)| s.duration_s.value).sum();
    let max = |get: &dyn Fn(&NodeSettings) -> u32| nodes.iter().map(|(_, s)| get(s)).max();
    let limit = limits::TIMEOUT_S.1;
    if duration > f64::from(limit) {
        return Some(format!("expected {duration} s > Lambda's {limit} s"));
    }
    if let Some(timeout) = max(&|s| s.timeout_s.value).filter(|t| *t > limit) {
        return Some(format!("timeout {timeout} s > Lambda's {limit} s"));
    }
    let memory_limit = limits::MEMORY_MB.1;
    if let Some(memory) = max(&|s| s.memory_mb.value).filter(|m| *m > memory_limit) {
        return Some(format!("memory {memory} MB > Lambda's {memory_limit} MB"));
    }
    let disk_limit = limits::EPHEMERAL_STORAGE_MB.1;
    if let Some(disk) = max(&|s| s.ephemeral_storage_mb.value).filter(|d| *d > disk_limit) {
        return Some(format!("disk {disk} MB > Lambda's {disk_limit} MB"));
    }
    None
}

/// An ECS task's size, resolved from its nodes: each node's own (or its tags') value, else
/// the `ecs:` section's, else the default; the task takes the largest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcsSize {
    pub cpu: u32,
    pub memory_mb: u32,
    pub timeout_s: u32,
    pub ephemeral_storage_gb: Option<u32>,
    /// Where the cpu and memory came from, for a message about an invalid pair.
    pub origins: Vec<String>,
}

/// The size of an ECS task of these nodes.
pub fn ecs_size(ecs: Option<&EcsConfig>, nodes: &[&NodeSettings]) -> EcsSize {
    let section = |get: &dyn Fn(&EcsConfig) -> Option<u32>, key: &str, default: u32| {
        ecs.and_then(get)
            .map_or((default, "default".to_string()), |v| {
                (v, format!("ecs.{key}"))
            })
    };
    let mut origins = Vec::new();
    let mut pick = |per_node: &dyn Fn(&NodeSettings) -> Option<(u32, String)>,
                    fallback: (u32, String)| {
        let best = nodes
            .iter()
            .map(|s| per_node(s).unwrap_or_else(|| fallback.clone()))
            .max_by_key(|(v, _)| *v)
            .unwrap_or(fallback);
        origins.push(best.1.clone());
        best.0
    };
    let cpu = pick(
        &|s| s.cpu.as_ref().map(|c| (c.value, c.origin.to_string())),
        section(&|e| e.cpu, "cpu", defaults::CPU),
    );
    let memory_mb = pick(
        &|s| {
            s.memory_mb
                .is_per_node()
                .then(|| (s.memory_mb.value, s.memory_mb.origin.to_string()))
        },
        section(&|e| e.memory_mb, "memory_mb", defaults::MEMORY_MB),
    );
    let timeout_s = nodes
        .iter()
        .map(|s| match s.timeout_s.is_per_node() {
            true => s.timeout_s.value,
            false => ecs.and_then(|e| e.timeout_s).unwrap_or(defaults::TIMEOUT_S),
        })
        .max()
        .unwrap_or(defaults::TIMEOUT_S);
    // A node's own disk (MB) raises the section's (GiB), within Fargate's range.
    let per_node_disk = nodes
        .iter()
        .filter(|s| s.ephemeral_storage_mb.is_per_node())
        .map(|s| s.ephemeral_storage_mb.value.div_ceil(1024))
        .max();
    let ephemeral_storage_gb = match (ecs.and_then(|e| e.ephemeral_storage_gb), per_node_disk) {
        (None, None) => None,
        (a, b) => Some(
            a.unwrap_or(0)
                .max(b.unwrap_or(0))
                .max(EPHEMERAL_STORAGE_GB.0),
        ),
    };
    EcsSize {
        cpu,
        memory_mb,
        timeout_s,
        ephemeral_storage_gb,
        origins,
    }
}

/// An ECS task definition as the plan wants it: one family per task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EcsTaskSpec {
    /// The task definition family (named as the task's function would be).
    pub family: String,
    /// The Task state that runs it.
    pub state: String,
    pub cpu: u32,
    pub memory_mb: u32,
    pub timeout_s: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage_gb: Option<u32>,
    pub architecture: Architecture,
    pub environment: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

/// The task definition of a task: its size, the nodes' environments merged in node order,
/// and `KEDRO_ENV` as a Lambda function gets.
pub fn ecs_task_spec(
    family: &str,
    state: &str,
    state_machine: &str,
    env: Option<&str>,
    ecs: Option<&EcsConfig>,
    node_settings: &[&NodeSettings],
) -> EcsTaskSpec {
    let size = ecs_size(ecs, node_settings);
    EcsTaskSpec {
        family: family.to_string(),
        state: state.to_string(),
        cpu: size.cpu,
        memory_mb: size.memory_mb,
        timeout_s: size.timeout_s,
        ephemeral_storage_gb: size.ephemeral_storage_gb,
        architecture: ecs.and_then(|e| e.architecture).unwrap_or_else(|| {
            node_settings
                .first()
                .map(|s| s.architecture())
                .unwrap_or_default()
        }),
        environment: task_environment(env, node_settings),
        tags: owned_tags(state_machine, state),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;
    use crate::config::settings::Setting;

    #[test]
    fn fargate_sizes_are_aws_table() {
        for (cpu, memory) in [
            (256, 512),
            (256, 2048),
            (1024, 8192),
            (4096, 30720),
            (16384, 122_880),
        ] {
            assert!(is_valid_size(cpu, memory), "{cpu}/{memory}");
        }
        for (cpu, memory) in [
            (256, 4096),
            (1024, 1024),
            (1024, 2500),
            (8192, 18432),
            (3000, 4096),
        ] {
            assert!(!is_valid_size(cpu, memory), "{cpu}/{memory}");
        }
        assert_eq!(
            valid_memory(1024).as_deref(),
            Some("2048-8192 in steps of 1024")
        );
        assert_eq!(valid_memory(3000), None);
    }

    fn config(text: &str) -> Config {
        Config {
            source: None,
            file: parse_config(text, "k.yml").expect("valid"),
        }
    }

    const ECS: &str = "ecs: {cluster: c, subnets: [subnet-0123456789abcdef0], execution_role_arn: arn:aws:iam::123456789012:role/x}\n";

    #[test]
    fn auto_moves_only_what_outgrows_lambda_and_only_where_ecs_is_configured() {
        let text =
            format!("{ECS}nodes:\n  long: {{duration_s: 1200}}\n  big: {{memory_mb: 16384}}\n");
        let with = config(&text);
        let runner = |config: &Config, name: &str| {
            let settings = config.node_settings(name, &[] as &[&str]);
            task_runner(config, &[(name, &settings)]).map(|c| c.runner)
        };
        assert_eq!(runner(&with, "long"), Ok(Runner::Ecs));
        assert_eq!(runner(&with, "big"), Ok(Runner::Ecs));
        assert_eq!(runner(&with, "small"), Ok(Runner::Lambda));
        let without = config("nodes:\n  long: {duration_s: 1200}\n");
        assert_eq!(runner(&without, "long"), Ok(Runner::Lambda));
        // Two short nodes whose sum outgrows Lambda move together.
        let pair = config(&format!("{ECS}lambda: {{duration_s: 500}}\n"));
        let (a, b) = (
            pair.node_settings("a", &[] as &[&str]),
            pair.node_settings("b", &[] as &[&str]),
        );
        assert_eq!(
            task_runner(&pair, &[("a", &a), ("b", &b)]).map(|c| c.runner),
            Ok(Runner::Ecs)
        );
    }

    #[test]
    fn explicit_runners_win_and_conflict_when_mixed() {
        let text = format!("{ECS}tags:\n  training: {{runner: ecs}}\nnodes:\n  tiny: {{runner: lambda}}\n  long: {{runner: lambda, duration_s: 1200}}\n");
        let config = config(&text);
        let trained = config.node_settings("t", &["training"]);
        let made = task_runner(&config, &[("t", &trained)]).expect("no conflict");
        assert_eq!(made.runner, Runner::Ecs);
        assert_eq!(made.reason, "tags.training.runner");
        // Asked for lambda: stays there even when too long (the limits check refuses it).
        let long = config.node_settings("long", &[] as &[&str]);
        assert_eq!(
            task_runner(&config, &[("long", &long)]).map(|c| c.runner),
            Ok(Runner::Lambda)
        );
        let tiny = config.node_settings("tiny", &[] as &[&str]);
        let conflict = task_runner(&config, &[("t", &trained), ("tiny", &tiny)]).unwrap_err();
        assert_eq!(
            conflict.lambda,
            vec![("tiny".to_string(), "nodes.tiny.runner".to_string())]
        );
        assert_eq!(
            conflict.ecs,
            vec![("t".to_string(), "tags.training.runner".to_string())]
        );
    }

    #[test]
    fn an_ecs_task_takes_its_size_from_nodes_then_the_section_never_from_lambda() {
        let text = format!("{ECS}lambda: {{memory_mb: 512, timeout_s: 60}}\ntags:\n  training: {{runner: ecs, cpu: 4096, memory_mb: 16384, timeout_s: 14400}}\n");
        let config = config(&text);
        let trained = config.node_settings("t", &["training"]);
        let plain = config.node_settings("p", &[] as &[&str]);
        let size = ecs_size(config.file.ecs.as_ref(), &[&trained, &plain]);
        assert_eq!(
            (size.cpu, size.memory_mb, size.timeout_s),
            (4096, 16384, 14400)
        );
        let size = ecs_size(config.file.ecs.as_ref(), &[&plain]);
        assert_eq!(
            (
                size.cpu,
                size.memory_mb,
                size.timeout_s,
                size.ephemeral_storage_gb
            ),
            (
                defaults::CPU,
                defaults::MEMORY_MB,
                defaults::TIMEOUT_S,
                None
            )
        );
        let mut disk = plain.clone();
        disk.ephemeral_storage_mb = Setting {
            value: 30_000,
            origin: crate::config::settings::Origin::Node {
                node: "p".into(),
                field: "ephemeral_storage_mb",
            },
        };
        assert_eq!(ecs_size(None, &[&disk]).ephemeral_storage_gb, Some(30));
    }
}
