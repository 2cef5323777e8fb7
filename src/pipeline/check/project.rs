//! The project as Lambda will import it: a Kedro the handler supports, and credentials
//! that can reach the functions.

use super::*;
use crate::pipeline::model::PipelineDoc;

/// `major.minor` of a Kedro version (`1.0.0`, `0.19.12`, `1.2.0rc1`), or `None`.
pub(super) fn kedro_major_minor(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().ok()?))
}

pub(super) fn check_kedro_version(doc: &PipelineDoc, findings: &mut Findings) {
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
pub(super) fn check_credentials(context: &CheckContext, findings: &mut Findings) {
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
