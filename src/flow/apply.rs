//! Apply a prepared change set in its safe order, and leave what was done in `deploy.json`
//! beside the plan files (which are written also when the deploy fails: they say what was
//! attempted).

use std::path::Path;

use anyhow::bail;
use serde_json::json;

use crate::aws::deploy::{apply, Applied, Job};
use crate::plan::changes::{ChangeSet, FunctionAction};
use crate::process::git_commit;
use crate::report::diff::headline;

use super::outputs::{write_atomically, DEPLOY_FILE};
use super::prepare::Prepared;
use super::Reporter;

/// Step Functions' limit on a version's description.
const DESCRIPTION_MAX_CHARS: usize = 256;

/// Applies `prepared`; writes the plan files and `deploy.json` into `out`.
pub async fn apply_prepared(
    prepared: &Prepared,
    project: &Path,
    out: &Path,
    image_dir: &Path,
    reporter: &dyn Reporter,
) -> anyhow::Result<Applied> {
    let changes = &prepared.changes;
    reporter.result(&format!(
        "deploy {}: {}",
        prepared.plan.state_machine.name,
        headline(changes)
    ));
    // A new task definition revision always names the image.
    let needs_image = changes.functions.iter().any(|f| {
        matches!(
            f.action,
            FunctionAction::Create | FunctionAction::Update { code: true, .. }
        )
    }) || changes.ecs_tasks.iter().any(|t| {
        matches!(
            t.action,
            FunctionAction::Create | FunctionAction::Update { .. }
        )
    });
    if needs_image && prepared.target.image_uri.is_none() {
        bail!(
            "deploy needs an image: run `kedro-sfn image build` and `kedro-sfn image push` (image.json in {}), or pass --image-uri REPO@sha256:…",
            image_dir.display()
        );
    }
    let description = version_description(project, changes);
    let progress = |line: &str| reporter.progress(line);
    let job = Job {
        clients: &prepared.clients,
        plan: &prepared.plan,
        deployment: &prepared.deployment,
        changes,
        target: &prepared.target,
        concurrency: prepared.concurrency,
        version_description: &description,
        probe: prepared.probe,
    };
    let result = apply(job, &progress).await;
    let calls = prepared.clients.calls.count();
    prepared.write_outputs(out, &calls)?;
    let applied = result?;
    let report = json!({
        "state_machine_arn": applied.state_machine_arn,
        "state_machine_version_arn": applied.version_arn,
        "alias": prepared.target.alias,
        "image_uri": prepared.target.image_uri,
        "changes_count": changes.count(),
        "has_changes": !changes.is_empty(),
        "function_versions": applied.function_versions,
        "deleted": applied.deleted,
        "validation": applied.validation,
        "probes": applied.probes,
        "calls": calls,
    });
    let mut text = serde_json::to_string_pretty(&report)?;
    text.push('\n');
    write_atomically(&out.join(DEPLOY_FILE), text.as_bytes())?;
    // An empty change set was said in the first line already ("no changes").
    if let (false, Some(version)) = (changes.is_empty(), &applied.version_arn) {
        reporter.result(&format!("deployed {version}"));
    }
    if let Some(probes) = applied.probes.as_ref().filter(|p| p.count > 0) {
        reporter.result(&format!(
            "probed {} new function version(s) in {:.1} s before the alias moved",
            probes.count, probes.seconds
        ));
    }
    reporter.result(&format!(
        "AWS calls: {} reads, {} writes",
        calls.reads, calls.writes
    ));
    Ok(applied)
}

/// `<commit>: <headline>`, within Step Functions' limit.
fn version_description(project: &Path, changes: &ChangeSet) -> String {
    let commit = git_commit(project).unwrap_or_else(|| "no commit".into());
    format!("{commit}: {}", headline(changes))
        .chars()
        .take(DESCRIPTION_MAX_CHARS)
        .collect()
}
