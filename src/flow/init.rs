//! A project's AWS env in one step: `conf/<env>/catalog.yml` with every dataset a deployment
//! needs on S3 (see [`crate::pipeline::remote_env`]), and `kedro-sfn.yml` and the GitHub
//! workflow when they are missing; never a file replaced without `force`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::config::CONFIG_FILE_NAMES;
use crate::pipeline::export::{export_with_catalog, ExportRequest};
use crate::pipeline::remote_env::{catalog_yaml, remote_env, RemoteEnv, S3Prefix};
use crate::plan::definition::names::state_machine_name;

use super::outputs::write_atomically;

/// The workflow `init` writes: the example that docs/action.md documents, with the env and
/// region filled in.
const WORKFLOW_TEMPLATE: &str = include_str!("../../examples/workflows/kedro-sfn.yml");
const WORKFLOW_PATH: &str = ".github/workflows/kedro-sfn.yml";

/// The `uses:` line of the workflow `init` writes: a placeholder the user points at the
/// repository they get kedro-sfn's action from.
pub const ACTION_USES: &str = "owner/kedro-sfn@v1";

/// What kedro-sfn writes into a project that is output, not source: ignored by git.
const IGNORED_OUTPUTS: &[&str] = &["kedro-sfn-plan/", "kedro-sfn-image/"];

/// The S3 filesystem the datasets need in the image; kept in step with the example's `aws`
/// extra.
const S3_REQUIREMENT: &str = "s3fs>=2023.1";

/// What to write, and from where.
#[derive(Debug, Clone)]
pub struct InitRequest {
    pub project: PathBuf,
    /// The Python that has Kedro and the project's dependencies.
    pub python: PathBuf,
    /// `s3://BUCKET/PREFIX`: every moved dataset keeps its relative path under it.
    pub bucket: String,
    /// The env to write.
    pub env: String,
    /// The env whose catalog is copied.
    pub from_env: String,
    pub pipeline: String,
    pub region: Option<String>,
    /// Replace files that exist.
    pub force: bool,
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    Wrote,
    Replaced,
    /// It exists and `force` was not given.
    Kept,
}

/// One file of the report.
#[derive(Debug, Clone)]
pub struct WrittenFile {
    /// Relative to the project, as users see it in their tree.
    pub shown: String,
    pub outcome: FileOutcome,
    pub what: String,
}

/// What `init` did, and what the user still has to do (the env's uploads and leftovers).
#[derive(Debug, Clone)]
pub struct InitReport {
    pub files: Vec<WrittenFile>,
    pub env: RemoteEnv,
    pub env_name: String,
}

/// One file `init` writes, or keeps.
struct Planned {
    path: PathBuf,
    contents: String,
    /// The file exists and may only be replaced with --force.
    exists: bool,
    what: String,
}

/// Writes the env (and the config and workflow when missing); refuses up front, before
/// anything is written, to replace an env catalog without `force`.
pub fn init(args: &InitRequest) -> anyhow::Result<InitReport> {
    let target = S3Prefix::parse(&args.bucket)?;
    if args.env == args.from_env {
        bail!(
            "--env {} is the env the catalog is copied from; write another env (e.g. --env aws)",
            args.env
        );
    }
    let project = &args.project;
    let request = ExportRequest {
        python: args.python.clone(),
        project: project.clone(),
        env: Some(args.from_env.clone()),
        pipeline: args.pipeline.clone(),
    };
    let (doc, catalog) = export_with_catalog(&request).with_context(|| {
        format!(
            "cannot read the Kedro project at {} to write its env",
            project.display()
        )
    })?;
    if doc.nodes.is_empty() {
        bail!(
            "the project has no pipeline {:?} with nodes; it registers: {} (pass one with --pipeline)",
            args.pipeline,
            doc.pipelines.join(", ")
        );
    }
    let env = remote_env(&doc, &catalog, &target)?;

    let catalog_path = project.join("conf").join(&args.env).join("catalog.yml");
    let config_path = CONFIG_FILE_NAMES
        .iter()
        .map(|name| project.join(name))
        .find(|path| path.is_file())
        .unwrap_or_else(|| project.join(CONFIG_FILE_NAMES[0]));
    let workflow_path = project.join(WORKFLOW_PATH);
    let files = vec![
        Planned {
            exists: catalog_path.exists(),
            contents: catalog_yaml(&env, &args.env, &target),
            what: format!(
                "{} dataset(s) on {target}: {} file(s) moved, {} in-memory dataset(s) pickled",
                env.entries.len(),
                env.moved_files,
                env.entries.len() - env.moved_files
            ),
            path: catalog_path,
        },
        Planned {
            exists: config_path.exists(),
            contents: config_yaml(&doc.project.package, &args.env, args.region.as_deref()),
            what: "the state machine's name, the env and the image's S3 support".into(),
            path: config_path,
        },
        Planned {
            exists: workflow_path.exists(),
            contents: workflow_yaml(&args.env, args.region.as_deref()),
            what: "plans on pull requests, deploys on pushes to main".into(),
            path: workflow_path,
        },
    ];
    // The catalog is what was asked for: refuse up front, before anything is written.
    if files[0].exists && !args.force {
        bail!(
            "{} exists; kedro-sfn init writes the whole file: move it away, or pass --force to replace it",
            shown(project, &files[0].path)
        );
    }
    let mut written = Vec::new();
    for file in files {
        let outcome = match (file.exists, args.force) {
            (true, false) => FileOutcome::Kept,
            (exists, _) => {
                write_atomically(&file.path, file.contents.as_bytes())?;
                if exists {
                    FileOutcome::Replaced
                } else {
                    FileOutcome::Wrote
                }
            }
        };
        written.push(WrittenFile {
            shown: shown(project, &file.path),
            outcome,
            what: file.what,
        });
    }
    if let Some(outcome) = ignore_outputs(&project.join(".gitignore"))? {
        written.push(WrittenFile {
            shown: ".gitignore".into(),
            outcome,
            what: format!(
                "ignores kedro-sfn's outputs ({})",
                IGNORED_OUTPUTS.join(", ")
            ),
        });
    }
    Ok(InitReport {
        files: written,
        env,
        env_name: args.env.clone(),
    })
}

/// Adds kedro-sfn's output folders to the project's `.gitignore` where missing (creating
/// it); `None` when every one is there already.
fn ignore_outputs(path: &Path) -> anyhow::Result<Option<FileOutcome>> {
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => None,
        Err(error) => {
            return Err(anyhow::Error::new(error).context(format!("cannot read {}", path.display())))
        }
    };
    let text = existing.clone().unwrap_or_default();
    let present = |entry: &str| {
        text.lines().map(str::trim).any(|line| {
            line == entry || line == entry.trim_end_matches('/') || line == format!("/{entry}")
        })
    };
    let missing: Vec<&str> = IGNORED_OUTPUTS
        .iter()
        .copied()
        .filter(|e| !present(e))
        .collect();
    if missing.is_empty() {
        return Ok(None);
    }
    let mut updated = text.clone();
    if !updated.is_empty() && !updated.ends_with('\n') {
        updated.push('\n');
    }
    updated.push_str("# kedro-sfn's plan and image build outputs\n");
    for entry in missing {
        updated.push_str(entry);
        updated.push('\n');
    }
    write_atomically(path, updated.as_bytes())?;
    Ok(Some(if existing.is_some() {
        FileOutcome::Replaced
    } else {
        FileOutcome::Wrote
    }))
}

/// `path` relative to the project, as users see it in their tree.
fn shown(project: &Path, path: &Path) -> String {
    path.strip_prefix(project)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A `kedro-sfn.yml` with what a first deploy needs and nothing it does not.
fn config_yaml(package: &str, env: &str, region: Option<&str>) -> String {
    let region = match region {
        Some(region) => format!("region: {region}\n"),
        None => "# region: eu-west-1     # or AWS_REGION / the AWS profile's region\n".into(),
    };
    format!(
        "# kedro-sfn settings, written by `kedro-sfn init`; every key is optional (see kedro-sfn's docs/configuration.md).\n\
         # One state machine per registered pipeline: the package's name for __default__,\n\
         # <package>-<pipeline> for the others. To name it yourself:\n\
         # state_machine:\n#   name: {}\n\
         env: {env}\n\
         {region}\
         group_by: memory\n\
         image:\n  # conf/{env} reads and writes S3 through s3fs: the image needs it.\n  requirements: [\"{S3_REQUIREMENT}\"]\n\
         # Run it on a timetable, and hear about failed runs (kedro-sfn's docs/production.md).\n\
         # The role Scheduler assumes trusts scheduler.amazonaws.com and may\n\
         # states:StartExecution on arn:aws:states:REGION:ACCOUNT:stateMachine:{machine}:live;\n\
         # the topic's policy lets events.amazonaws.com sns:Publish.\n\
         # schedules:\n#   nightly:\n#     expression: cron(0 6 * * ? *)\n#     timezone: Europe/Paris\n\
         # schedule_role_arn: arn:aws:iam::ACCOUNT:role/kedro-sfn-scheduler\n\
         # alerts:\n#   sns_topic_arn: arn:aws:sns:REGION:ACCOUNT:pipeline-alerts\n",
        state_machine_name(package),
        machine = state_machine_name(package)
    )
}

/// The example workflow with this env and region.
fn workflow_yaml(env: &str, region: Option<&str>) -> String {
    let mut text = WORKFLOW_TEMPLATE
        .replace("options: [aws, staging]", &format!("options: [{env}]"))
        .replace("default: aws", &format!("default: {env}"))
        .replace("inputs.env || 'aws'", &format!("inputs.env || '{env}'"));
    if let Some(region) = region {
        text = text.replace("AWS_REGION: eu-west-1", &format!("AWS_REGION: {region}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_template_has_the_places_init_fills_in() {
        for anchor in [
            "options: [aws, staging]",
            "default: aws",
            "inputs.env || 'aws'",
            "AWS_REGION: eu-west-1",
        ] {
            assert!(WORKFLOW_TEMPLATE.contains(anchor), "{anchor}");
        }
        let written = workflow_yaml("prod", Some("us-east-2"));
        assert!(written.contains("options: [prod]") && written.contains("AWS_REGION: us-east-2"));
        assert!(!written.contains("'aws'"));
    }

    #[test]
    fn the_written_config_is_a_valid_config() {
        for region in [Some("eu-west-1"), None] {
            let text = config_yaml("spaceflights_pandas", "aws", region);
            let config = crate::config::parse_config(&text, "kedro-sfn.yml").expect("parses");
            assert_eq!(config.env.as_deref(), Some("aws"));
            assert_eq!(config.region.as_deref(), region);
            assert_eq!(
                config.image.requirements,
                Some(vec![S3_REQUIREMENT.to_string()])
            );
        }
    }
}
