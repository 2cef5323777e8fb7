//! The user's settings: `kedro-sfn.yml` at the project root (or `--config`), merged with flags
//! in this one place and passed down as plain data. Reading the environment is left to the
//! edges that need it (the AWS SDK, the action's INPUT_*, the export cache's directory).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize};

pub mod credentials;
pub mod operations;
pub mod settings;
mod validate;
pub(crate) use validate::role_arn;
mod yaml_shape;

/// The file names looked for at the project root, in order.
pub const CONFIG_FILE_NAMES: &[&str] = &["kedro-sfn.yml", "kedro-sfn.yaml"];

/// Lambda's limits (and Fargate's storage), checked before anything is planned.
pub mod limits {
    pub const MEMORY_MB: (u32, u32) = (128, 10_240);
    pub const TIMEOUT_S: (u32, u32) = (1, 900);
    pub const EPHEMERAL_STORAGE_MB: (u32, u32) = (512, 10_240);
    /// Fargate's ephemeral storage range (GiB); 20 are given when nothing is asked.
    pub const FARGATE_EPHEMERAL_STORAGE_GB: (u32, u32) = (21, 200);
}

/// Defaults for a data workload: Lambda's own 128 MB / 3 s defaults fail almost every Kedro
/// node.
pub mod defaults {
    pub const MEMORY_MB: u32 = 1024;
    pub const TIMEOUT_S: u32 = 900;
    pub const EPHEMERAL_STORAGE_MB: u32 = 512;
    pub const DURATION_S: f64 = 1.0;
    pub const PIPELINE: &str = "__default__";
    /// The alias deploy moves and executions go through.
    pub const ALIAS: &str = "live";
    /// How many functions are read, created or updated at once.
    pub const CONCURRENCY: usize = 8;
    /// How many versions of the state machine a deploy keeps (`deploy.keep_versions`).
    pub const KEEP_VERSIONS: usize = 3;
    /// How many past successful executions give the tasks' expected durations.
    pub const HISTORY_EXECUTIONS: usize = 10;
}

/// How nodes are packed into Lambda tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum GroupBy {
    /// One task per node.
    None,
    /// One task per top-level namespace (what Kedro's Step Functions guide does).
    Namespace,
    /// Nodes joined by datasets that are not on shared storage run in one task.
    #[default]
    Memory,
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GroupBy::None => "none",
            GroupBy::Namespace => "namespace",
            GroupBy::Memory => "memory",
        })
    }
}

/// Where a node asks to run: `auto` (the default) keeps it on Lambda unless it outgrows
/// Lambda (over 900 s expected or allowed, over 10,240 MB) and an `ecs:` section says where
/// else it may run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunnerChoice {
    Lambda,
    Ecs,
    #[default]
    Auto,
}

/// The service a task runs on, once chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Runner {
    #[default]
    Lambda,
    Ecs,
}

impl fmt::Display for Runner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Runner::Lambda => "lambda",
            Runner::Ecs => "ecs",
        })
    }
}

/// The CPU architecture of the Lambda functions (and of the image).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Serialize, Deserialize)]
pub enum Architecture {
    #[default]
    #[serde(rename = "x86_64")]
    X86_64,
    #[serde(rename = "arm64")]
    Arm64,
}

impl fmt::Display for Architecture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Architecture::X86_64 => "x86_64",
            Architecture::Arm64 => "arm64",
        })
    }
}

/// `kedro-sfn.yml` as written: every key optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub state_machine: StateMachineConfig,
    pub env: Option<String>,
    pub pipeline: Option<String>,
    pub group_by: Option<GroupBy>,
    pub region: Option<String>,
    #[serde(default, deserialize_with = "string_or_integer")]
    pub account_id: Option<String>,
    #[serde(default)]
    pub lambda: TaskSettings,
    #[serde(default)]
    pub tags: BTreeMap<String, TaskSettings>,
    #[serde(default)]
    pub nodes: BTreeMap<String, TaskSettings>,
    #[serde(default)]
    pub image: ImageConfig,
    #[serde(default)]
    pub deploy: DeployConfig,
    /// List prices for the cost estimate, beside the built-in table.
    #[serde(default)]
    pub prices: PriceOverrides,
    /// Where tasks that outgrow Lambda run: ECS on Fargate.
    pub ecs: Option<EcsConfig>,
    /// Where each Kedro credentials key is read from on AWS: the image carries no
    /// credentials file, so a key the catalog names must come from here.
    #[serde(default)]
    pub credentials: BTreeMap<String, CredentialSource>,
    /// Runs on a timetable: EventBridge Scheduler schedules that start the alias.
    #[serde(default)]
    pub schedules: BTreeMap<String, operations::ScheduleConfig>,
    /// The role EventBridge Scheduler assumes to start executions (needed with schedules).
    pub schedule_role_arn: Option<String>,
    /// Failed runs announced on an SNS topic, by an EventBridge rule.
    pub alerts: Option<operations::AlertsConfig>,
}

/// Where one Kedro credentials entry lives on AWS: a secret or a SecureString parameter
/// holding the entry as a JSON object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum CredentialSource {
    /// `secretsmanager:NAME`: a Secrets Manager secret (name or ARN).
    SecretsManager(String),
    /// `ssm:NAME`: an SSM parameter (a path such as `/team/db`), read with decryption.
    Ssm(String),
}

impl CredentialSource {
    /// Parses `secretsmanager:NAME` or `ssm:NAME`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (service, name) = text.split_once(':').unwrap_or(("", ""));
        let name = name.trim();
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(format!(
                "`{text}` names no source; write secretsmanager:NAME (a secret whose value is \
                 the entry as JSON) or ssm:NAME (a SecureString parameter holding JSON)"
            ));
        }
        match service {
            "secretsmanager" => Ok(Self::SecretsManager(name.to_string())),
            "ssm" => Ok(Self::Ssm(name.to_string())),
            other => Err(format!(
                "`{text}`: unknown source `{other}`; write secretsmanager:NAME or ssm:NAME"
            )),
        }
    }

    /// The IAM action and resource ARN a task's role needs to read it, in `region` and
    /// `account` (or `*` when unknown).
    pub fn iam_grant(&self, region: &str, account: &str) -> (String, String) {
        match self {
            Self::SecretsManager(name) if name.starts_with("arn:") => {
                ("secretsmanager:GetSecretValue".into(), name.clone())
            }
            Self::SecretsManager(name) => (
                "secretsmanager:GetSecretValue".into(),
                // Secrets Manager appends six random characters to a secret's ARN.
                format!("arn:aws:secretsmanager:{region}:{account}:secret:{name}-??????"),
            ),
            Self::Ssm(name) if name.starts_with("arn:") => {
                ("ssm:GetParameter".into(), name.clone())
            }
            Self::Ssm(name) => (
                "ssm:GetParameter".into(),
                format!(
                    "arn:aws:ssm:{region}:{account}:parameter/{}",
                    name.trim_start_matches('/')
                ),
            ),
        }
    }
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::SecretsManager(name) => write!(f, "secretsmanager:{name}"),
            Self::Ssm(name) => write!(f, "ssm:{name}"),
        }
    }
}

impl<'de> Deserialize<'de> for CredentialSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The `ecs:` section: the cluster and network an ECS task runs in, its roles and logs, and
/// the defaults of its size. Without it every task runs on Lambda.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EcsConfig {
    /// A cluster name or ARN.
    pub cluster: String,
    /// The subnets the tasks get their network interface in (awsvpc, as Fargate requires).
    pub subnets: Vec<String>,
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// A public IP for each task: needed in a public subnet without a NAT gateway, to pull
    /// the image and reach S3.
    #[serde(default)]
    pub assign_public_ip: bool,
    /// The role ECS uses to pull the image from ECR and write the logs.
    pub execution_role_arn: String,
    /// The role the node's code runs as (what it may reach: S3, ...).
    pub task_role_arn: Option<String>,
    /// The CloudWatch Logs group of the tasks' output (default `/kedro-sfn/<state machine>`,
    /// created on first use).
    pub log_group: Option<String>,
    /// Fargate CPU units (256-16384), default 1024; per tag / node too.
    pub cpu: Option<u32>,
    /// Default 2048; per tag / node too (the key `lambda:` uses).
    pub memory_mb: Option<u32>,
    /// 21-200 GiB; Fargate gives 20 when unset.
    pub ephemeral_storage_gb: Option<u32>,
    /// How long an ECS task may run before the state machine stops it (default 3600 s).
    pub timeout_s: Option<u32>,
    /// The Fargate platform version (default `LATEST`).
    pub platform_version: Option<String>,
    /// The tasks' CPU architecture (default: the nodes' `architecture`, as the image's).
    pub architecture: Option<Architecture>,
}

/// The `prices:` section: USD list prices that replace the built-in `us-east-1` table
/// (another region, a negotiated rate). Each key is optional.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceOverrides {
    /// Lambda duration, per GB-second, x86_64.
    pub lambda_gb_second_x86_64: Option<f64>,
    /// Lambda duration, per GB-second, arm64.
    pub lambda_gb_second_arm64: Option<f64>,
    /// Lambda requests, per million.
    pub lambda_requests_per_million: Option<f64>,
    /// Lambda ephemeral storage beyond the free 512 MB, per GB-second.
    pub lambda_ephemeral_gb_second: Option<f64>,
    /// Step Functions Standard state transitions, per thousand.
    pub state_transitions_per_thousand: Option<f64>,
    /// Fargate, per vCPU-hour, x86_64.
    pub fargate_vcpu_hour_x86_64: Option<f64>,
    /// Fargate, per vCPU-hour, arm64.
    pub fargate_vcpu_hour_arm64: Option<f64>,
    /// Fargate memory, per GB-hour, x86_64.
    pub fargate_gb_hour_x86_64: Option<f64>,
    /// Fargate memory, per GB-hour, arm64.
    pub fargate_gb_hour_arm64: Option<f64>,
    /// Fargate ephemeral storage beyond the free 20 GB, per GB-hour.
    pub fargate_ephemeral_gb_hour: Option<f64>,
}

/// The `image:` section: how the Lambda container image is made and where it goes.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageConfig {
    /// The project's own Dockerfile (relative to the project); it replaces the generated one.
    pub dockerfile: Option<PathBuf>,
    /// The base image without its tag (default AWS's Lambda Python image).
    pub base_image: Option<String>,
    /// The tag of the base image: the Python version Lambda runs.
    pub python_version: Option<String>,
    /// Which tool builds and pushes the image.
    pub builder: Option<BuilderKind>,
    /// The ECR repository (default: the state machine's name).
    pub repository: Option<String>,
    /// Optional dependency groups of the project installed into the image (e.g. `[aws]`).
    pub extras: Option<Vec<String>>,
    /// More pip requirements for the image, beside the project's own (e.g. `s3fs` for a
    /// catalog on S3 when the project does not depend on it).
    pub requirements: Option<Vec<String>>,
    /// The file whose requirements the image installs beside the wheel's (relative to the
    /// project); default `requirements.txt`, else `src/requirements.txt`, when present.
    pub requirements_file: Option<PathBuf>,
}

/// The tools that can build and push images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BuilderKind {
    /// `docker buildx build` and `docker push` (needs a Docker engine).
    Docker,
    /// `buildah bud` and `buildah push` (no daemon needed).
    Buildah,
}

impl fmt::Display for BuilderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuilderKind::Docker => "docker",
            BuilderKind::Buildah => "buildah",
        })
    }
}

/// The `state_machine:` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateMachineConfig {
    pub name: Option<String>,
    pub timeout_s: Option<u64>,
    /// The IAM role Step Functions assumes (needed to create the state machine).
    pub role_arn: Option<String>,
    /// The alias moved to each new version (default `live`).
    pub alias: Option<String>,
    /// Execution logging to CloudWatch Logs.
    pub logging: Option<LoggingConfig>,
    /// X-Ray tracing of executions.
    pub tracing: Option<bool>,
}

/// `state_machine.logging`: where and how much Step Functions logs.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoggingConfig {
    /// The log group's ARN, ending in `:*`.
    pub log_group_arn: String,
    /// `ALL`, `ERROR`, `FATAL` or `OFF` (default `ERROR`).
    pub level: Option<String>,
    pub include_execution_data: Option<bool>,
}

/// The `deploy:` section.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeployConfig {
    /// How many functions are created or updated at once (default 8).
    pub concurrency: Option<usize>,
    /// Tags put on every resource kedro-sfn creates, beside its own.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// How many versions of the state machine are kept, with every function they call, so
    /// that `rollback` to any of them runs (default 3).
    pub keep_versions: Option<usize>,
}

/// Lambda settings, used for the defaults (`lambda:`), per tag and per node.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskSettings {
    pub memory_mb: Option<u32>,
    pub timeout_s: Option<u32>,
    pub ephemeral_storage_mb: Option<u32>,
    pub architecture: Option<Architecture>,
    pub environment: Option<BTreeMap<String, String>>,
    /// The functions' execution role; read under `lambda:` only (one role for all tasks).
    pub role_arn: Option<String>,
    /// Expected run time, used to choose the state machine's shape; not a Lambda setting.
    pub duration_s: Option<f64>,
    /// Where the node runs (default `auto`).
    pub runner: Option<RunnerChoice>,
    /// Fargate CPU units of an ECS task; per tag and node (`ecs.cpu` is the default).
    pub cpu: Option<u32>,
}

/// Settings a user changes per run, given as flags; each beats the file.
#[derive(Debug, Clone, Default)]
pub struct FlagOverrides {
    pub env: Option<String>,
    pub pipeline: Option<String>,
    pub group_by: Option<GroupBy>,
    pub state_machine_name: Option<String>,
    pub region: Option<String>,
    pub account_id: Option<String>,
}

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: at `{key}`: {message}")]
    Invalid {
        path: String,
        key: String,
        message: String,
    },
}

/// The file and the flags, merged: what every command works from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// The file it came from, for messages; `None` when there was none.
    pub source: Option<PathBuf>,
    pub file: ConfigFile,
}

impl Config {
    /// Loads `explicit`, else the first of [`CONFIG_FILE_NAMES`] in `project_dir`, else the
    /// defaults; then applies the flags.
    pub fn load(
        explicit: Option<&Path>,
        project_dir: Option<&Path>,
        flags: &FlagOverrides,
    ) -> Result<Self, ConfigError> {
        let path = match explicit {
            Some(path) => Some(path.to_path_buf()),
            None => project_dir.and_then(|dir| {
                CONFIG_FILE_NAMES
                    .iter()
                    .map(|name| dir.join(name))
                    .find(|candidate| candidate.is_file())
            }),
        };
        let mut config = match path {
            Some(path) => {
                let text = crate::user_file::read_text(&path, crate::user_file::CONFIG_MAX_BYTES)
                    .map_err(|source| ConfigError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                Config {
                    file: parse_config(&text, &path.display().to_string())?,
                    source: Some(path),
                }
            }
            None => Config::default(),
        };
        config.apply(flags);
        let origin = config.source.as_ref().map_or_else(
            || "the flags".to_string(),
            |path| format!("{} (or a flag)", path.display()),
        );
        validate_file(&config.file, &origin)?;
        Ok(config)
    }

    /// Flags beat the file.
    pub fn apply(&mut self, flags: &FlagOverrides) {
        let file = &mut self.file;
        override_with(&mut file.env, &flags.env);
        override_with(&mut file.pipeline, &flags.pipeline);
        override_with(&mut file.group_by, &flags.group_by);
        override_with(&mut file.state_machine.name, &flags.state_machine_name);
        override_with(&mut file.region, &flags.region);
        override_with(&mut file.account_id, &flags.account_id);
    }

    /// The alias the state machine's executions go through.
    pub fn alias(&self) -> String {
        self.file
            .state_machine
            .alias
            .clone()
            .unwrap_or_else(|| defaults::ALIAS.into())
    }

    /// The registered pipeline to plan.
    pub fn pipeline(&self) -> &str {
        self.file.pipeline.as_deref().unwrap_or(defaults::PIPELINE)
    }

    pub fn group_by(&self) -> GroupBy {
        self.file.group_by.unwrap_or_default()
    }

    /// The name a config key has in messages: `nodes.train.memory_mb (kedro-sfn.yml)`.
    pub fn describe_key(&self, key: &str) -> String {
        match &self.source {
            Some(path) => format!("{key} in {}", path.display()),
            None => format!("{key} (built-in default)"),
        }
    }
}

/// The first value of `file` that cannot be used: the settings, then the schedules and
/// the alert (`origin` names where they came from).
pub(crate) fn validate_file(file: &ConfigFile, origin: &str) -> Result<(), ConfigError> {
    validate::validate(file, origin)?;
    operations::validate(
        &file.schedules,
        file.schedule_role_arn.as_deref(),
        file.alerts.as_ref(),
    )
    .map_err(|(key, message)| ConfigError::Invalid {
        path: origin.to_string(),
        key,
        message,
    })
}

fn override_with<T: Clone>(target: &mut Option<T>, flag: &Option<T>) {
    if let Some(value) = flag {
        *target = Some(value.clone());
    }
}

/// Parses YAML (JSON is valid YAML) and names the path of a bad or unknown key.
pub fn parse_config(text: &str, origin: &str) -> Result<ConfigFile, ConfigError> {
    if text.trim().is_empty() {
        return Ok(ConfigFile::default());
    }
    yaml_shape::check(text).map_err(|(key, message)| ConfigError::Invalid {
        path: origin.to_string(),
        key,
        message,
    })?;
    let deserializer = serde_yaml::Deserializer::from_str(text);
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let key = error.path().to_string();
        let message = in_plain_words(&error.into_inner().to_string());
        // The YAML library prefixes its own (shorter) path; ours is already in `key`.
        let message = match message.split_once(": ") {
            Some((prefix, rest)) if key.starts_with(prefix) => rest.to_string(),
            _ => message,
        };
        ConfigError::Invalid {
            path: origin.to_string(),
            key: if key.is_empty() || key == "." {
                "<top level>".to_string()
            } else {
                key
            },
            message,
        }
    })
}

/// serde's words for types (`u32`, `struct TaskSettings`) as a user says them.
fn in_plain_words(message: &str) -> String {
    const WORDS: [(&str, &str); 7] = [
        (
            "expected u32",
            "expected a whole number from 0 to 4294967295",
        ),
        ("expected u64", "expected a whole number of 0 or more"),
        ("expected usize", "expected a whole number of 0 or more"),
        ("expected f64", "expected a number"),
        (
            "expected struct TaskSettings",
            "expected settings such as `memory_mb: 2048`",
        ),
        (
            "expected struct LoggingConfig",
            "expected `log_group_arn:` and `level:`",
        ),
        ("expected a map", "expected a mapping of keys to values"),
    ];
    let mut out = message.to_string();
    for (rust, plain) in WORDS {
        out = out.replace(rust, plain);
    }
    if let Some(start) = out.find("expected struct ") {
        let end = out[start..]
            .find(" at line")
            .map_or(out.len(), |i| start + i);
        out.replace_range(start..end, "expected a mapping of keys to values");
    }
    out
}

/// AWS account ids are 12 digits; YAML reads an unquoted one as a number.
fn string_or_integer<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Number(u64),
    }
    let raw = Option::<Raw>::deserialize(deserializer).map_err(|_| {
        serde::de::Error::custom(
            "expected an AWS account id: 12 digits (quote it if it starts with 0)",
        )
    })?;
    Ok(match raw {
        None => None,
        Some(Raw::Text(text)) => Some(text),
        Some(Raw::Number(number)) => Some(format!("{number:012}")),
    })
}

#[cfg(test)]
pub(crate) mod tests;
