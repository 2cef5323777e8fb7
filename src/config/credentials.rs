//! `credentials:`: where each Kedro credentials key the catalog names is read from on AWS
//! (the image carries no credentials file), what every task is told of it (names, never
//! values), and what the tasks' role must be allowed.

use std::collections::BTreeMap;

use super::Config;

/// The environment variable that gives the handler the `credentials:` mapping (names of
/// secrets and parameters, never their values).
pub const CREDENTIALS_ENV: &str = "KEDRO_SFN_CREDENTIALS";

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
