//! `credentials:`: where each Kedro credentials key the catalog names is read from on AWS
//! (the image carries no credentials file), what every task is told of it (names, never
//! values), and what the tasks' role must be allowed.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer};

use super::Config;

/// The environment variable that gives the handler the `credentials:` mapping (names of
/// secrets and parameters, never their values).
pub const CREDENTIALS_ENV: &str = "KEDRO_SFN_CREDENTIALS";

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

impl Config {
    /// `credentials:` as the handler reads it (compact JSON, keys sorted); `None` without
    /// the section, so a deployment that maps nothing carries no variable.
    pub fn credentials_mapping(&self) -> Option<String> {
        let credentials = &self.file.credentials;
        if credentials.is_empty() {
            return None;
        }
        let mapping: BTreeMap<&str, String> = credentials
            .iter()
            .map(|(key, source)| (key.as_str(), source.to_string()))
            .collect();
        serde_json::to_string(&mapping).ok()
    }

    /// What the tasks' role must be allowed for `credentials:`, one line per source:
    /// `secretsmanager:GetSecretValue on arn:aws:secretsmanager:eu-west-1:…:secret:x-??????
    /// (credentials key db)`. Region and account as configured, else placeholders.
    pub fn credential_grants(&self) -> Vec<String> {
        let region = self.file.region.as_deref().unwrap_or("REGION");
        let account = self.file.account_id.as_deref().unwrap_or("ACCOUNT");
        self.file
            .credentials
            .iter()
            .map(|(key, source)| {
                let (action, resource) = source.iam_grant(region, account);
                format!("{action} on {resource} (credentials key {key})")
            })
            .collect()
    }
}
