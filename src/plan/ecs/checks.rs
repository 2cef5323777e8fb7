//! The checks of tasks that run on ECS Fargate, and of the `ecs:` section: a task whose
//! nodes ask for different services, a size Fargate does not offer, references of the wrong
//! shape. AWS alone says whether a subnet exists; these catch what is wrong in the file.

use crate::config::{Config, EcsConfig, Runner};
use crate::pipeline::check::{Problem, Rule, Severity, ECS_SECTION_HINT, MACHINE_TIMEOUT_MAX_S};

use crate::config::settings::NodeSettings;
use crate::plan::ecs::{
    ecs_size, is_valid_size, valid_cpus, valid_memory, RunnerChoiceMade, RunnerConflict,
    EPHEMERAL_STORAGE_GB,
};

/// One task as the ECS checks see it.
pub struct TaskToCheck<'a> {
    pub label: &'a str,
    pub nodes: Vec<(&'a str, &'a NodeSettings)>,
    pub choice: &'a Result<RunnerChoiceMade, RunnerConflict>,
}

/// An error of this check.
fn error(rule: Rule, subject: &str, message: String, hint: String) -> Problem {
    Problem {
        severity: Severity::Error,
        rule,
        subject: subject.to_string(),
        message,
        hint,
    }
}

/// Every problem of the tasks' runners and of the `ecs:` section.
pub fn check(config: &Config, tasks: &[TaskToCheck]) -> Vec<Problem> {
    let mut problems = Vec::new();
    let ecs = config.file.ecs.as_ref();
    for task in tasks {
        let label = task.label;
        let choice = match task.choice {
            Ok(choice) => choice,
            Err(conflict) => {
                problems.push(conflict_problem(label, conflict));
                continue;
            }
        };
        if choice.runner != Runner::Ecs {
            continue;
        }
        if ecs.is_none() {
            problems.push(error(
                Rule::InvalidSetting,
                &choice.reason,
                format!(
                    "{} asks for ECS (task `{label}`), but the config has no `ecs:` section",
                    config.describe_key(&choice.reason)
                ),
                ECS_SECTION_HINT.into(),
            ));
            continue;
        }
        problems.extend(size_problems(ecs, task));
    }
    if let Some(ecs) = ecs {
        problems.extend(section_shape(config, ecs));
    }
    if config.file.lambda.cpu.is_some() {
        problems.push(error(
            Rule::InvalidSetting,
            "lambda.cpu",
            format!(
                "{} is set, but Lambda sizes a function by memory alone",
                config.describe_key("lambda.cpu")
            ),
            "move it to ecs.cpu (the default of ECS tasks), or to a tag or node".into(),
        ));
    }
    problems
}

/// A task whose nodes ask for both services: it runs in one invocation, so on one.
fn conflict_problem(label: &str, conflict: &RunnerConflict) -> Problem {
    let list = |side: &[(String, String)]| {
        side.iter()
            .map(|(node, origin)| format!("{node} ({origin})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    error(
        Rule::RunnerConflict,
        label,
        format!(
            "task `{label}` runs its nodes in one invocation, but {} ask(s) for ECS and {} for Lambda",
            list(&conflict.ecs),
            list(&conflict.lambda)
        ),
        "a task runs on one service: give its nodes the same runner, or persist the datasets between them so they run as separate tasks (--group-by none)".into(),
    )
}

/// An ECS task's size, timeout and storage, within what Fargate and Step Functions allow.
fn size_problems(ecs: Option<&EcsConfig>, task: &TaskToCheck) -> Vec<Problem> {
    let label = task.label;
    let mut problems = Vec::new();
    let settings: Vec<&NodeSettings> = task.nodes.iter().map(|(_, s)| *s).collect();
    let size = ecs_size(ecs, &settings);
    let origins = size.origins.join(", ");
    if !valid_cpus().contains(&size.cpu) {
        problems.push(error(
            Rule::ResourceOutOfRange,
            label,
            format!(
                "task `{label}` asks for {} Fargate CPU units ({origins})",
                size.cpu
            ),
            format!(
                "Fargate offers {}",
                valid_cpus()
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    } else if !is_valid_size(size.cpu, size.memory_mb) {
        problems.push(error(
            Rule::ResourceOutOfRange,
            label,
            format!(
                "task `{label}` asks for {} MB with {} CPU units ({origins}), a size Fargate does not offer",
                size.memory_mb, size.cpu
            ),
            format!(
                "with {} CPU units Fargate takes {} MB; or change cpu",
                size.cpu,
                valid_memory(size.cpu).unwrap_or_default()
            ),
        ));
    }
    if u64::from(size.timeout_s) > MACHINE_TIMEOUT_MAX_S || size.timeout_s == 0 {
        problems.push(error(
            Rule::ResourceOutOfRange,
            label,
            format!(
                "task `{label}` has a timeout of {} s; Step Functions allows 1-{MACHINE_TIMEOUT_MAX_S}",
                size.timeout_s
            ),
            "set timeout_s for its nodes, or ecs.timeout_s".into(),
        ));
    }
    if let Some(gb) = size.ephemeral_storage_gb {
        let (low, high) = EPHEMERAL_STORAGE_GB;
        if !(low..=high).contains(&gb) {
            problems.push(error(
                Rule::ResourceOutOfRange,
                label,
                format!("task `{label}` asks for {gb} GiB of ephemeral storage"),
                format!("Fargate gives {low}-{high} GiB (20 when unset)"),
            ));
        }
    }
    let duration: f64 = task.nodes.iter().map(|(_, s)| s.duration_s.value).sum();
    if duration > f64::from(size.timeout_s) {
        problems.push(Problem {
            severity: Severity::Warning,
            rule: Rule::TimeoutBelowDuration,
            subject: label.to_string(),
            message: format!(
                "ECS task `{label}` is expected to take {duration} s but its timeout is {} s",
                size.timeout_s
            ),
            hint: "raise timeout_s for its nodes, or ecs.timeout_s".into(),
        });
    }
    problems
}

/// The references in the `ecs:` section, checked for shape.
fn section_shape(config: &Config, ecs: &EcsConfig) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut wrong = |key: &str, value: &str, expected: &str| {
        problems.push(Problem {
            severity: Severity::Error,
            rule: Rule::InvalidSetting,
            subject: format!("ecs.{key}"),
            message: format!(
                "{} is `{value}`, which is not {expected}",
                config.describe_key(&format!("ecs.{key}"))
            ),
            hint: "copy the value from the AWS console or `aws ec2 describe-subnets` / `describe-security-groups`; see docs/configuration.md".into(),
        });
    };
    let is_name = |text: &str, max: usize, extra: &str| {
        !text.is_empty()
            && text.len() <= max
            && text
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    let arn_of = |text: &str, service: &str, kind: &str| {
        let parts: Vec<&str> = text.splitn(6, ':').collect();
        parts.len() == 6
            && parts[0] == "arn"
            && parts[1].starts_with("aws")
            && parts[2] == service
            && parts[4].len() == 12
            && parts[4].bytes().all(|b| b.is_ascii_digit())
            && parts[5]
                .strip_prefix(kind)
                .is_some_and(|rest| rest.len() > 1 && rest.starts_with('/'))
    };
    if !(is_name(&ecs.cluster, 255, "-_") || arn_of(&ecs.cluster, "ecs", "cluster")) {
        wrong(
            "cluster",
            &ecs.cluster,
            "a cluster name or `arn:aws:ecs:REGION:ACCOUNT:cluster/NAME`",
        );
    }
    let is_id = |text: &str, prefix: &str| {
        text.strip_prefix(prefix).is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17)
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
    };
    if ecs.subnets.is_empty() {
        wrong(
            "subnets",
            "[]",
            "a list of at least one subnet id (Fargate needs one)",
        );
    }
    for (key, ids, prefix, what) in [
        ("subnets", &ecs.subnets, "subnet-", "a subnet id"),
        (
            "security_groups",
            &ecs.security_groups,
            "sg-",
            "a security group id",
        ),
    ] {
        for id in ids.iter().filter(|id| !is_id(id, prefix)) {
            wrong(key, id, &format!("{what} like `{prefix}0123456789abcdef0`"));
        }
    }
    let role = "an IAM role ARN like `arn:aws:iam::123456789012:role/NAME`";
    let is_role = |text: &str| crate::config::role_arn(text).is_ok();
    if !is_role(&ecs.execution_role_arn) {
        wrong("execution_role_arn", &ecs.execution_role_arn, role);
    }
    if let Some(task_role) = ecs.task_role_arn.as_deref().filter(|r| !is_role(r)) {
        wrong("task_role_arn", task_role, role);
    }
    if let Some(group) = ecs
        .log_group
        .as_deref()
        .filter(|g| !is_name(g, 512, "._-/#"))
    {
        wrong(
            "log_group",
            group,
            "a CloudWatch Logs group name (letters, digits, `._-/#`)",
        );
    }
    if let Some(version) = ecs.platform_version.as_deref() {
        let numbered = version.split('.').count() == 3
            && version
                .split('.')
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        if version != "LATEST" && !numbered {
            wrong(
                "platform_version",
                version,
                "`LATEST` or a version like `1.4.0`",
            );
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_config;

    fn config(text: &str) -> Config {
        Config {
            source: None,
            file: parse_config(text, "k.yml").expect("valid"),
        }
    }

    #[test]
    fn the_issue_s_section_passes_and_wrong_shapes_are_named() {
        let good = config(
            "ecs:\n  cluster: arn:aws:ecs:eu-west-1:123456789012:cluster/kedro\n  subnets: [subnet-0123456789abcdef0]\n  security_groups: [sg-0123456789abcdef0]\n  assign_public_ip: false\n  execution_role_arn: arn:aws:iam::123456789012:role/kedro-sfn-ecs-execution\n  task_role_arn: arn:aws:iam::123456789012:role/kedro-sfn-ecs-task\n  log_group: /kedro-sfn/spaceflights\n  cpu: 1024\n  memory_mb: 2048\n  ephemeral_storage_gb: 21\n",
        );
        assert_eq!(check(&good, &[]), vec![]);
        let bad = config(
            "ecs:\n  cluster: 'arn:aws:ecs:eu-west-1:1234:cluster/k'\n  subnets: [subnet-xyz]\n  security_groups: [sg-01234567]\n  execution_role_arn: kedro-role\n  platform_version: newest\nlambda: {cpu: 2048}\n",
        );
        let subjects: Vec<String> = check(&bad, &[]).into_iter().map(|p| p.subject).collect();
        assert_eq!(
            subjects,
            [
                "ecs.cluster",
                "ecs.subnets",
                "ecs.execution_role_arn",
                "ecs.platform_version",
                "lambda.cpu"
            ]
        );
    }
}
