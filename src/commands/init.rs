//! `kedro-sfn init`: the AWS env of a project in one command. Writes `conf/<env>/catalog.yml`
//! (every dataset a deployment needs on S3), and `kedro-sfn.yml` and the GitHub workflow
//! when they are missing; never overwrites a file without `--force`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;

use crate::config::CONFIG_FILE_NAMES;
use crate::pipeline::export::{export_with_catalog, ExportRequest};
use crate::pipeline::remote_env::{catalog_yaml, remote_env, RemoteEnv, S3Prefix};
use crate::plan::names::state_machine_name;

use super::{write_atomically, SourceArgs};

/// The workflow `init` writes: the example the README documents, with the env and region
/// filled in.
const WORKFLOW_TEMPLATE: &str = include_str!("../../examples/workflows/kedro-sfn.yml");
const WORKFLOW_PATH: &str = ".github/workflows/kedro-sfn.yml";

/// The S3 filesystem the datasets need in the image; kept in step with the example's `aws`
/// extra.
const S3_REQUIREMENT: &str = "s3fs>=2023.1";

#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Where the data goes: every moved dataset keeps its relative path under this prefix.
    #[arg(long, value_name = "s3://BUCKET/PREFIX")]
    pub bucket: String,
    /// The Kedro env to write (conf/<env>).
    #[arg(long, default_value = "aws")]
    pub env: String,
    /// The env whose catalog is copied (Kedro's base env: conf/base alone).
    #[arg(long, value_name = "ENV", default_value = "base")]
    pub from_env: String,
    /// The registered pipeline whose datasets are moved.
    #[arg(long, value_name = "NAME", default_value = crate::config::defaults::PIPELINE)]
    pub pipeline: String,
    /// The AWS region written into kedro-sfn.yml and the workflow (default: AWS_REGION).
    #[arg(long, env = "AWS_REGION")]
    pub region: Option<String>,
    /// Overwrite files that exist.
    #[arg(long)]
    pub force: bool,
}

/// One file `init` writes, or keeps.
struct Planned {
    path: PathBuf,
    contents: String,
    /// The file exists and may only be replaced with --force.
    exists: bool,
    what: String,
}

pub fn run(args: &InitArgs) -> anyhow::Result<()> {
    let target = S3Prefix::parse(&args.bucket)?;
    if args.env == args.from_env {
        bail!(
            "--env {} is the env the catalog is copied from; write another env (e.g. --env aws)",
            args.env
        );
    }
    let project = &args.source.project;
    let request = ExportRequest {
        python: args.source.python.clone(),
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
    let files = [
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
    for file in &files {
        if file.exists && !args.force {
            println!(
                "kept   {} (it exists; --force replaces it)",
                shown(project, &file.path)
            );
            continue;
        }
        write_atomically(&file.path, file.contents.as_bytes())?;
        println!(
            "{} {}: {}",
            if file.exists { "replaced" } else { "wrote " },
            shown(project, &file.path),
            file.what
        );
    }
    print_next_steps(project, &env, &args.env);
    Ok(())
}

fn print_next_steps(project: &Path, env: &RemoteEnv, env_name: &str) {
    for left in &env.left {
        println!("left   `{}` as it is: {}", left.dataset, left.reason);
    }
    if !env.uploads.is_empty() {
        println!("\nUpload the inputs the pipeline reads to their new places (once):");
        for upload in &env.uploads {
            let local = Path::new(&upload.local);
            let missing = if project.join(local).exists() {
                ""
            } else {
                "    # not found here"
            };
            println!("  aws s3 cp {} {}{missing}", upload.local, upload.remote);
        }
    }
    println!("\nThen: kedro-sfn check --env {env_name}, kedro-sfn plan, kedro-sfn deploy");
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
        "# kedro-sfn settings, written by `kedro-sfn init`; every key is optional (see the README).\n\
         state_machine:\n  name: {}\n\
         env: {env}\n\
         {region}\
         group_by: memory\n\
         image:\n  # conf/{env} reads and writes S3 through s3fs: the image needs it.\n  requirements: [\"{S3_REQUIREMENT}\"]\n",
        state_machine_name(package)
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
