//! Values that parse but that AWS would refuse, or that mean nothing, refused when the
//! config is loaded: each message names the key, what is wrong, what is allowed and the
//! fix. (Node sizes against Lambda's ranges are checks, which see the pipeline: see
//! `pipeline::check::settings`.)

use super::{ConfigError, ConfigFile, TaskSettings};

/// What one value must be, and whether it is.
type Rule = fn(&str) -> Result<(), String>;

/// The first value of `file` that cannot be used (file and flags merged; `origin` names
/// where it came from).
pub fn validate(file: &ConfigFile, origin: &str) -> Result<(), ConfigError> {
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        path: origin.to_string(),
        key: key.to_string(),
        message,
    };
    let texts: [(&str, Option<&String>, Rule); 7] = [
        ("region", file.region.as_ref(), region),
        ("account_id", file.account_id.as_ref(), account_id),
        (
            "state_machine.name",
            file.state_machine.name.as_ref(),
            machine_name,
        ),
        (
            "state_machine.alias",
            file.state_machine.alias.as_ref(),
            alias_name,
        ),
        (
            "state_machine.role_arn",
            file.state_machine.role_arn.as_ref(),
            role_arn,
        ),
        ("lambda.role_arn", file.lambda.role_arn.as_ref(), role_arn),
        (
            "image.repository",
            file.image.repository.as_ref(),
            repository,
        ),
    ];
    for (key, value, rule) in texts {
        if let Some(value) = value {
            rule(value).map_err(|message| invalid(key, message))?;
        }
    }
    if let Some(logging) = &file.state_machine.logging {
        log_group_arn(&logging.log_group_arn)
            .map_err(|m| invalid("state_machine.logging.log_group_arn", m))?;
        if let Some(level) = &logging.level {
            if !LOG_LEVELS.contains(&level.as_str()) {
                return Err(invalid(
                    "state_machine.logging.level",
                    format!(
                        "`{level}` is not a Step Functions log level; use one of {}",
                        LOG_LEVELS.join(", ")
                    ),
                ));
            }
        }
    }
    if let Some(concurrency) = file.deploy.concurrency {
        if !(1..=CONCURRENCY_MAX).contains(&concurrency) {
            return Err(invalid(
                "deploy.concurrency",
                format!("{concurrency} functions at once: use 1 to {CONCURRENCY_MAX} (default 8)"),
            ));
        }
    }
    if let Some(keep) = file.deploy.keep_versions {
        if !(1..=KEEP_VERSIONS_MAX).contains(&keep) {
            return Err(invalid(
                "deploy.keep_versions",
                format!("{keep} versions: keep 1 (no rollback) to {KEEP_VERSIONS_MAX} (default 3)"),
            ));
        }
    }
    // Checked per task too, but only for tasks on ECS: the section's default is checked
    // here whether or not a task uses it yet.
    if let Some(storage) = file.ecs.as_ref().and_then(|e| e.ephemeral_storage_gb) {
        let (low, high) = super::limits::FARGATE_EPHEMERAL_STORAGE_GB;
        if !(low..=high).contains(&storage) {
            return Err(invalid(
                "ecs.ephemeral_storage_gb",
                format!(
                    "{storage} GiB: Fargate takes {low} to {high} GiB (it gives 20 when the key is left out)"
                ),
            ));
        }
    }
    prices(file).map_err(|(key, message)| invalid(&key, message))?;
    for (key, settings) in settings_sections(file) {
        if let Some(environment) = &settings.environment {
            lambda_environment(environment)
                .map_err(|message| invalid(&format!("{key}.environment"), message))?;
        }
    }
    Ok(())
}

/// `lambda:`, each `tags.<tag>:` and each `nodes.<node>:`, with their keys.
fn settings_sections(file: &ConfigFile) -> Vec<(String, &TaskSettings)> {
    let mut sections = vec![("lambda".to_string(), &file.lambda)];
    sections.extend(file.tags.iter().map(|(t, s)| (format!("tags.{t}"), s)));
    sections.extend(file.nodes.iter().map(|(n, s)| (format!("nodes.{n}"), s)));
    sections
}

/// Step Functions' log levels.
const LOG_LEVELS: [&str; 4] = ["ALL", "ERROR", "FATAL", "OFF"];
/// Step Functions keeps up to 1,000 versions; more than this many kept is a forgotten knob.
const KEEP_VERSIONS_MAX: usize = 100;
/// More functions at once than this only meets Lambda's control-plane throttling.
const CONCURRENCY_MAX: usize = 64;
/// Lambda's limit on a function's environment: keys and values together.
const ENVIRONMENT_MAX_BYTES: usize = 4 * 1024;
/// Keys Lambda sets itself and refuses in a function's environment.
const RESERVED_ENVIRONMENT: [&str; 16] = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
];

/// `eu-west-1`, `us-gov-west-1`, `cn-north-1`: area, optional partition part, direction,
/// one digit.
pub(super) fn region(value: &str) -> Result<(), String> {
    let hint = "an AWS region looks like `eu-west-1` or `us-gov-west-1`";
    let parts: Vec<&str> = value.split('-').collect();
    let directions = [
        "central",
        "north",
        "northeast",
        "northwest",
        "south",
        "southeast",
        "southwest",
        "east",
        "west",
    ];
    let ok = match parts.as_slice() {
        [area, direction, number] | [area, _, direction, number] => {
            area.len() == 2
                && area.chars().all(|c| c.is_ascii_lowercase())
                && directions.contains(direction)
                && number.len() == 1
                && number.chars().all(|c| ('1'..='9').contains(&c))
                && (parts.len() == 3 || matches!(parts[1], "gov" | "iso" | "isob"))
        }
        _ => false,
    };
    match ok {
        true => Ok(()),
        false => Err(format!("`{value}` is not an AWS region: {hint}")),
    }
}

pub(super) fn account_id(value: &str) -> Result<(), String> {
    match value.len() == 12 && value.chars().all(|c| c.is_ascii_digit()) {
        true => Ok(()),
        false => Err(format!(
            "`{value}` is not an AWS account id: it is 12 digits (quote it if it starts with 0)"
        )),
    }
}

/// Names the user types are used as typed: a name Step Functions would refuse is refused
/// here, not quietly changed.
fn machine_name(value: &str) -> Result<(), String> {
    name_of("a state machine name", value, 80, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
    })
}

fn alias_name(value: &str) -> Result<(), String> {
    name_of("an alias name", value, 80, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_')
    })?;
    match value.chars().all(|c| c.is_ascii_digit()) {
        true => Err(format!(
            "`{value}` is all digits, which Step Functions reads as a version number: add a letter"
        )),
        false => Ok(()),
    }
}

fn name_of(what: &str, value: &str, max: usize, allowed: fn(char) -> bool) -> Result<(), String> {
    if value.is_empty() || value.chars().count() > max {
        return Err(format!("{what} has 1 to {max} characters"));
    }
    match value.chars().find(|c| !allowed(*c)) {
        Some(c) => Err(format!(
            "`{}` cannot be {what}: it has {:?}; use letters, digits, `-` and `_`",
            value.escape_debug(),
            c
        )),
        None => Ok(()),
    }
}

/// ECR's rule: lowercase parts of letters and digits joined by `.`, `_`, `-` or `/`.
fn repository(value: &str) -> Result<(), String> {
    let parts_ok = value.split('/').all(|part| {
        !part.is_empty()
            && part.split(['.', '_', '-']).all(|word| {
                !word.is_empty()
                    && word
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
    });
    match (2..=256).contains(&value.len()) && parts_ok {
        true => Ok(()),
        false => Err(format!(
            "`{}` is not an ECR repository name: lowercase letters and digits, parts joined by `.`, `_`, `-` or `/`, 2 to 256 characters",
            value.escape_debug()
        )),
    }
}

/// `arn:<partition>:<service>:<region>:<account>:<resource>`, split.
fn arn_parts(value: &str) -> Option<[&str; 6]> {
    let mut parts = value.splitn(6, ':');
    let arn = [
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    ];
    (arn[0] == "arn" && arn[1].starts_with("aws")).then_some(arn)
}

/// Also what the `ecs:` section's checks hold its roles to.
pub(crate) fn role_arn(value: &str) -> Result<(), String> {
    let ok = arn_parts(value).is_some_and(|[_, _, service, region, account, resource]| {
        service == "iam"
            && region.is_empty()
            && account_id(account).is_ok()
            && resource
                .strip_prefix("role/")
                .is_some_and(|name| !name.is_empty())
    });
    match ok {
        true => Ok(()),
        false => Err(format!(
            "`{}` is not an IAM role ARN: it looks like `arn:aws:iam::123456789012:role/NAME`",
            value.escape_debug()
        )),
    }
}

fn log_group_arn(value: &str) -> Result<(), String> {
    let ok = arn_parts(value).is_some_and(|[_, _, service, region_part, account, resource]| {
        service == "logs"
            && region(region_part).is_ok()
            && account_id(account).is_ok()
            && resource.starts_with("log-group:")
            && resource.ends_with(":*")
    });
    match ok {
        true => Ok(()),
        false => Err(format!(
            "`{}` is not a log group ARN as Step Functions takes it: `arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*`",
            value.escape_debug()
        )),
    }
}

/// Prices are finite and not negative.
fn prices(file: &ConfigFile) -> Result<(), (String, String)> {
    let p = &file.prices;
    let all = [
        ("lambda_gb_second_x86_64", p.lambda_gb_second_x86_64),
        ("lambda_gb_second_arm64", p.lambda_gb_second_arm64),
        ("lambda_requests_per_million", p.lambda_requests_per_million),
        ("lambda_ephemeral_gb_second", p.lambda_ephemeral_gb_second),
        (
            "state_transitions_per_thousand",
            p.state_transitions_per_thousand,
        ),
        ("fargate_vcpu_hour_x86_64", p.fargate_vcpu_hour_x86_64),
        ("fargate_vcpu_hour_arm64", p.fargate_vcpu_hour_arm64),
        ("fargate_gb_hour_x86_64", p.fargate_gb_hour_x86_64),
        ("fargate_gb_hour_arm64", p.fargate_gb_hour_arm64),
        ("fargate_ephemeral_gb_hour", p.fargate_ephemeral_gb_hour),
    ];
    for (key, value) in all {
        if let Some(value) = value.filter(|v| !v.is_finite() || *v < 0.0) {
            return Err((
                format!("prices.{key}"),
                format!("{value} is not a price: use a USD amount of 0 or more"),
            ));
        }
    }
    Ok(())
}

/// Lambda's rules for a function's environment: keys of letters, digits and `_` starting
/// with a letter, none of the keys Lambda sets, 4 KB in all.
fn lambda_environment(
    environment: &std::collections::BTreeMap<String, String>,
) -> Result<(), String> {
    for key in environment.keys() {
        let mut chars = key.chars();
        let well_formed = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !well_formed {
            return Err(format!(
                "`{}` is not a Lambda environment variable name: a letter, then letters, digits and `_`",
                key.escape_debug()
            ));
        }
        if RESERVED_ENVIRONMENT.contains(&key.as_str()) {
            return Err(format!(
                "`{key}` is set by Lambda itself and cannot be set here; use another name"
            ));
        }
    }
    let bytes: usize = environment.iter().map(|(k, v)| k.len() + v.len()).sum();
    if bytes > ENVIRONMENT_MAX_BYTES {
        return Err(format!(
            "{bytes} bytes of keys and values: Lambda takes at most 4 KB; keep large values in S3, SSM or Secrets Manager (`credentials:`)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(yaml: &str) -> String {
        let file = super::super::parse_config(yaml, "kedro-sfn.yml").expect("parses");
        match validate(&file, "kedro-sfn.yml") {
            Err(error) => error.to_string(),
            Ok(()) => panic!("accepted: {yaml}"),
        }
    }

    #[test]
    fn nonsense_is_refused_with_the_key_and_what_is_allowed() {
        let cases = [
            ("region: eu-west-99", "region", "looks like `eu-west-1`"),
            ("region: ''", "region", "not an AWS region"),
            ("region: ../../x", "region", "not an AWS region"),
            ("account_id: abc", "account_id", "12 digits"),
            ("account_id: '123'", "account_id", "12 digits"),
            ("state_machine: {role_arn: not-an-arn}", "state_machine.role_arn", "arn:aws:iam::"),
            ("lambda: {role_arn: 'arn:aws:s3:::bucket'}", "lambda.role_arn", "IAM role ARN"),
            ("state_machine: {name: 'my machine!'}", "state_machine.name", "letters, digits"),
            ("state_machine: {alias: '7'}", "state_machine.alias", "version number"),
            ("image: {repository: 'My Repo'}", "image.repository", "lowercase"),
            (
                "state_machine: {logging: {log_group_arn: 'arn:aws:logs:eu-west-1:123456789012:log-group:x:*', level: VERBOSE}}",
                "state_machine.logging.level",
                "ALL, ERROR, FATAL, OFF",
            ),
            (
                "state_machine: {logging: {log_group_arn: 'my-group'}}",
                "state_machine.logging.log_group_arn",
                "log-group:NAME:*",
            ),
            ("prices: {lambda_gb_second_x86_64: -1}", "prices.lambda_gb_second_x86_64", "0 or more"),
            ("prices: {state_transitions_per_thousand: .inf}", "prices.state_transitions_per_thousand", "not a price"),
            ("deploy: {concurrency: 0}", "deploy.concurrency", "1 to 64"),
            (
                "ecs: {cluster: c, subnets: [s], execution_role_arn: 'arn:aws:iam::123456789012:role/e', ephemeral_storage_gb: 10}",
                "ecs.ephemeral_storage_gb",
                "21 to 200",
            ),
            ("lambda: {environment: {'1-bad key': x}}", "lambda.environment", "a letter, then"),
            ("nodes: {train: {environment: {AWS_REGION: x}}}", "nodes.train.environment", "set by Lambda"),
        ];
        for (yaml, key, words) in cases {
            let message = refused(yaml);
            assert!(
                message.contains(&format!("at `{key}`")) && message.contains(words),
                "{yaml}: {message}"
            );
        }
        let big = format!("lambda: {{environment: {{BIG: '{}'}}}}", "x".repeat(5_000));
        assert!(refused(&big).contains("at most 4 KB"));
    }

    #[test]
    fn real_values_pass() {
        let yaml = "region: us-gov-west-1\naccount_id: 012345678901\nstate_machine: {name: flights-v2_x, alias: live, role_arn: 'arn:aws-cn:iam::123456789012:role/path/r', logging: {log_group_arn: 'arn:aws:logs:eu-west-1:123456789012:log-group:/aws/x:*', level: ERROR}}\nimage: {repository: team/flights.v2}\nprices: {lambda_gb_second_x86_64: 0}\ndeploy: {concurrency: 8}\nlambda: {environment: {LOG_LEVEL: debug, S3_BUCKET: b}}\n";
        let file = super::super::parse_config(yaml, "kedro-sfn.yml").expect("parses");
        validate(&file, "kedro-sfn.yml").expect("valid");
        for region_name in [
            "eu-west-1",
            "ap-southeast-4",
            "cn-northwest-1",
            "us-iso-east-1",
            "il-central-1",
        ] {
            region(region_name).expect(region_name);
        }
    }
}
