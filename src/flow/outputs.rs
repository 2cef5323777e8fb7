//! The files a plan leaves for people and scripts: the definition, `plan.json` and
//! `summary.md`, written in one place whatever made the plan (offline, live, the action,
//! a deploy), and a refusal's `summary.md`.

use std::borrow::Cow;
use std::path::Path;

use anyhow::Context;

use crate::aws::CallCount;
use crate::pipeline::check::Findings;
use crate::plan::changes::ChangeSet;
use crate::plan::document::{Comparison, PlanDocument};
use crate::plan::Plan;
use crate::report::diff::{headline, render as render_changes};
use crate::report::review::{verdict, Review};
use crate::report::summary::{self, Baseline};

/// The files `plan` (and `deploy`) write into their output directory.
pub const DEFINITION_FILE: &str = "state-machine.asl.json";
/// The child machines' definitions, `<name>.asl.json` each, where the pipeline is split.
pub const CHILDREN_DIR: &str = "state-machines";
pub const PLAN_FILE: &str = "plan.json";
pub const SUMMARY_FILE: &str = "summary.md";
/// What a deploy did, beside the plan.
pub const DEPLOY_FILE: &str = "deploy.json";

/// A plan compared with the live deployment.
pub struct Compared<'a> {
    pub changes: &'a ChangeSet,
    pub text_diff: &'a str,
    pub task_diff: &'a str,
    pub image_uri: Option<&'a str>,
    pub calls: &'a CallCount,
}

/// Writes the definition (the change set's, when compared), `plan.json` and `summary.md`;
/// returns the summary's text.
pub fn write_plan(
    out: &Path,
    plan: &Plan,
    baseline: &Baseline,
    compared: Option<&Compared>,
) -> anyhow::Result<String> {
    let definition = compared.map_or(&plan.definition, |c| &c.changes.definition);
    let mut definition = crate::report::json_text::to_pretty(definition)?;
    definition.push('\n');
    // Each text is written, and freed, before the next is made: a 10,000-task definition is
    // 26 MB of text, plan.json 10 MB.
    write_atomically(&out.join(DEFINITION_FILE), definition.as_bytes())?;
    drop(definition);
    // Each child's compact text, reindented one at a time.
    let mut children: Box<dyn Iterator<Item = (&str, Cow<'_, str>)>> = match compared {
        Some(c) => Box::new(
            c.changes
                .children
                .iter()
                .filter(|c| c.action != crate::plan::changes::ChildAction::Delete)
                .map(|c| (c.name.as_str(), Cow::Owned(c.definition.to_string()))),
        ),
        None => Box::new(
            plan.children
                .iter()
                .map(|c| (c.name.as_str(), Cow::Borrowed(c.definition_text.as_str()))),
        ),
    };
    write_children(out, &mut children)?;
    let described = baseline.describe();
    let mut document = PlanDocument::new(plan, &described);
    let deployed_run = compared.and_then(|c| c.changes.deployed_run.as_ref());
    // Verdict first: what the deploy would do, right under the title, and the schedules;
    // then what the plan is.
    let mut summary_md = summary::header(plan, baseline);
    if let Some(compared) = compared {
        document.changes = Some(Comparison {
            headline: headline(compared.changes),
            count: compared.changes.count(),
            set: compared.changes,
            definition_diff: compared.text_diff,
            image_uri: compared.image_uri,
            calls: serde_json::to_value(compared.calls)?,
        });
        let review = Review::of(plan, compared.changes);
        let verdict = verdict(plan, compared.changes, &review);
        summary_md.push_str(&render_changes(
            plan,
            compared.changes,
            &review,
            compared.task_diff,
            Some(&verdict),
        ));
        summary_md.push('\n');
    }
    summary_md.push_str(&crate::report::operations::render(
        plan,
        compared.map(|c| c.changes),
        chrono::Utc::now(),
    ));
    summary_md.push_str(&summary::body(plan, deployed_run));
    write_atomically(&out.join(PLAN_FILE), document.to_json().as_bytes())?;
    write_atomically(&out.join(SUMMARY_FILE), summary_md.as_bytes())?;
    Ok(summary_md)
}

/// A refusal is a result too: people (and the pull-request comment) read why. Writes its
/// `summary.md` and removes a previous plan's definition and `plan.json`, which no longer
/// describe this pipeline; returns the summary's text.
pub fn write_refusal(
    out: &Path,
    project: &str,
    pipeline: &str,
    findings: &Findings,
) -> anyhow::Result<String> {
    clear_stale(out)?;
    let text = summary::render_refusal(project, pipeline, findings);
    write_atomically(&out.join(SUMMARY_FILE), text.as_bytes())?;
    Ok(text)
}

/// Removes what an earlier plan or deploy wrote into `out` (plan.json, the definitions,
/// summary.md, deploy.json), before anything else is read: a plan that then fails, for any
/// reason, leaves no stale plan that reads as this one's. Anything else in `out` is kept.
pub fn clear_stale(out: &Path) -> anyhow::Result<()> {
    if !out.is_dir() {
        return Ok(());
    }
    write_children(out, &mut std::iter::empty())?;
    for stale in [DEFINITION_FILE, PLAN_FILE, SUMMARY_FILE, DEPLOY_FILE] {
        let path = out.join(stale);
        if path.is_file() {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove the stale {}", path.display()))?;
        }
    }
    Ok(())
}

/// Writes each child's definition into `state-machines/` and removes the definitions of
/// children an earlier plan had (the directory goes when there are none).
fn write_children<'a>(
    out: &Path,
    children: &mut dyn Iterator<Item = (&'a str, Cow<'a, str>)>,
) -> anyhow::Result<()> {
    let dir = out.join(CHILDREN_DIR);
    let mut written = std::collections::BTreeSet::new();
    for (name, definition) in children {
        let file = format!("{name}.asl.json");
        let mut text = crate::report::json_text::pretty_from_compact(&definition);
        text.push('\n');
        write_atomically(&dir.join(&file), text.as_bytes())?;
        written.insert(file);
    }
    if !dir.is_dir() {
        return Ok(());
    }
    let entries = std::fs::read_dir(&dir)
        .with_context(|| format!("cannot read the directory {}", dir.display()))?;
    for entry in entries {
        let entry =
            entry.with_context(|| format!("cannot read the directory {}", dir.display()))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        if file.ends_with(".asl.json") && !written.contains(&file) {
            std::fs::remove_file(entry.path())
                .with_context(|| format!("cannot remove the stale {}", entry.path().display()))?;
        }
    }
    if written.is_empty() {
        // Only when empty: anything else in it is not ours to remove.
        let _ = std::fs::remove_dir(&dir);
    }
    Ok(())
}

/// Writes a file whole or not at all: a temporary file in the same directory, then a rename.
pub fn write_atomically(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the directory {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    file.write_all(contents)
        .with_context(|| format!("cannot write {}", path.display()))?;
    // Temporary files are private (0600); results are for everyone who may read the folder.
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_walk_knows_a_plan_s_files() {
        assert_eq!(
            crate::pipeline::cache::PLAN_OUTPUTS,
            [DEFINITION_FILE, PLAN_FILE, SUMMARY_FILE]
        );
    }
}
