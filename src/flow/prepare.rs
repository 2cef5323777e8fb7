//! Read what is deployed and compute the change set: everything a live plan shows and a
//! deploy applies, computed before anything is changed.

use std::path::{Path, PathBuf};

use anyhow::anyhow;
use serde_json::{json, Value};

use crate::aws::deploy::{read_deployment, Clients};
use crate::aws::{self, CallCount};
use crate::config::Config;
use crate::image::ImageRef;
use crate::plan::changes::{changes, ChangeSet, Deployment, Target};
use crate::plan::Plan;
use crate::report::diff::{definition_diff, task_diff};
use crate::report::summary::Baseline;

use super::image::read_record;
use super::outputs::{write_plan, Compared};
use super::Reporter;

/// What a deploy targets besides the plan: the image and the roles, each beating the config.
#[derive(Debug, Clone, Default)]
pub struct TargetRequest {
    /// A pinned image (REGISTRY/REPO@sha256:…); else the one `image push` recorded.
    pub image_uri: Option<String>,
    /// Where `image build` / `image push` wrote image.json.
    pub image_dir: PathBuf,
    pub lambda_role_arn: Option<String>,
    pub state_machine_role_arn: Option<String>,
    /// Functions created or updated at once.
    pub concurrency: Option<usize>,
    /// The checkout the image is (or would be) built from: its source digest is compared
    /// with the one each function records. `None`: code is compared by image only.
    pub project: Option<PathBuf>,
    /// Skip the probe of new function versions before the state machine changes.
    pub no_probe: bool,
}

/// Everything computed before anything is changed.
pub struct Prepared {
    pub config: Config,
    pub plan: Plan,
    pub target: Target,
    pub deployment: Deployment,
    pub changes: ChangeSet,
    /// The whole definition's diff, for plan.json.
    pub text_diff: String,
    /// What changes in each changed Task state, for people.
    pub task_diff: String,
    pub clients: Clients,
    pub region: String,
    pub concurrency: usize,
    /// Probe new function versions before the state machine changes.
    pub probe: bool,
}

impl Prepared {
    /// Writes the plan files of this comparison (see [`super::outputs::write_plan`]).
    pub fn write_outputs(&self, out: &Path, calls: &CallCount) -> anyhow::Result<String> {
        let baseline = Baseline::Live {
            region: self.region.clone(),
            state_machine_arn: self.deployment.machine.as_ref().map(|m| m.arn.clone()),
        };
        let compared = Compared {
            changes: &self.changes,
            text_diff: &self.text_diff,
            task_diff: &self.task_diff,
            image_uri: self.target.image_uri.as_deref(),
            calls,
        };
        write_plan(out, &self.plan, &baseline, Some(&compared))
    }
}

/// The state machine named in the config or by flag, as deploy names it; for the flows that
/// act on a deployed machine without planning (rollback, execute).
pub fn configured_machine_name(config: &Config) -> anyhow::Result<String> {
    let name = config.file.state_machine.name.clone().ok_or_else(|| {
        anyhow!(
            "which state machine? set state_machine.name in kedro-sfn.yml or pass --state-machine-name"
        )
    })?;
    Ok(crate::plan::definition::names::state_machine_name(&name))
}

fn logging_target(config: &Config) -> Value {
    match &config.file.state_machine.logging {
        None => json!({"level": "OFF"}),
        Some(logging) => {
            let level = logging.level.clone().unwrap_or_else(|| "ERROR".into());
            if level == "OFF" {
                return json!({"level": "OFF"});
            }
            json!({
                "level": level,
                "include_execution_data": logging.include_execution_data.unwrap_or(false),
                "log_group_arn": logging.log_group_arn,
            })
        }
    }
}

/// What the deployed image is built from: the digest `image build` recorded for the image
/// being deployed, else the checkout's (an image given by URI is taken to be built from the
/// checked-out project).
fn source_digest(
    request: &TargetRequest,
    config: &Config,
    image_uri: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let Some(project) = &request.project else {
        return Ok(None);
    };
    if request.image_dir.join(super::image::IMAGE_FILE).is_file() {
        let record = read_record(&request.image_dir)?;
        if record.uri.is_some() && record.uri.as_deref() == image_uri {
            if let Some(recorded) = record.source_digest {
                return Ok(Some(recorded));
            }
        }
    }
    Ok(Some(crate::image::source::source_digest(
        project,
        config.file.env.as_deref(),
        &config.file.image,
    )))
}

/// The image to deploy: the request's, else the one `image push` recorded; always by digest.
fn image_uri(request: &TargetRequest) -> anyhow::Result<Option<String>> {
    let uri = match &request.image_uri {
        Some(uri) => Some(uri.clone()),
        None if request.image_dir.join(super::image::IMAGE_FILE).is_file() => {
            read_record(&request.image_dir)?.uri
        }
        None => None,
    };
    match uri {
        None => Ok(None),
        Some(uri) => {
            let parsed = ImageRef::parse(&uri)?;
            let pinned = parsed.pinned().ok_or_else(|| {
                anyhow!("{uri} names no digest; functions are deployed by digest only (REPO@sha256:…) so that a moving tag never leaves one on old code")
            })?;
            Ok(Some(pinned))
        }
    }
}

/// Reads the deployment for a plan and computes the change set; changes nothing.
pub async fn prepare(
    config: Config,
    plan: Plan,
    request: &TargetRequest,
    reporter: &dyn Reporter,
) -> anyhow::Result<Prepared> {
    let sdk = aws::sdk_config(config.file.region.as_deref()).await;
    let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| {
        anyhow!("no AWS region: set region in kedro-sfn.yml, pass --region, or set AWS_REGION")
    })?;
    let state = &config.file.state_machine;
    let image_uri = image_uri(request)?;
    let source_digest = source_digest(request, &config, image_uri.as_deref())?;
    let target = Target {
        image_uri,
        source_digest,
        lambda_role_arn: request
            .lambda_role_arn
            .clone()
            .or_else(|| config.file.lambda.role_arn.clone()),
        machine_role_arn: request
            .state_machine_role_arn
            .clone()
            .or_else(|| state.role_arn.clone()),
        alias: config.alias(),
        extra_tags: config.file.deploy.tags.clone(),
        logging: logging_target(&config),
        tracing: state.tracing.unwrap_or(false),
        region: region.clone(),
        keep_versions: config
            .file
            .deploy
            .keep_versions
            .unwrap_or(crate::config::defaults::KEEP_VERSIONS),
    };
    let concurrency = request
        .concurrency
        .or(config.file.deploy.concurrency)
        .unwrap_or(crate::config::defaults::CONCURRENCY)
        .max(1);
    let clients = Clients::new(&sdk);
    reporter.progress(&format!(
        "reading the deployment of {} in {region}",
        plan.state_machine.name
    ));
    let deployment = read_deployment(&clients, &plan, &target, concurrency)
        .await
        .map_err(|error| {
            let why = read_failure(&error, concurrency);
            anyhow::Error::new(error).context(why)
        })?;
    refuse_other_pipeline(&plan, &deployment, config.file.state_machine.name.is_some())?;
    let changes = changes(&plan, &deployment, &target);
    // Children inlined on both sides: the diff shows tasks, wherever they run.
    let planned_whole =
        crate::plan::definition::asl::inline_children(&changes.definition, &|reference| {
            let name = crate::plan::definition::arns::state_machine_name_of(reference);
            changes
                .children
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.definition.clone())
        });
    let deployed_whole = deployment.whole_definition();
    let text_diff = definition_diff(deployed_whole.as_ref(), &planned_whole);
    let task_diff = task_diff(deployed_whole.as_ref(), &planned_whole);
    Ok(Prepared {
        config,
        plan,
        target,
        deployment,
        changes,
        text_diff,
        task_diff,
        clients,
        region,
        concurrency,
        probe: !request.no_probe,
    })
}

/// The state machine this plan targets runs another registered pipeline: deploying would
/// replace it (and delete its functions).
#[derive(Debug, thiserror::Error)]
#[error("the state machine {machine} runs the pipeline `{deployed}`, and this plan is of the pipeline `{planned}`: deploying would replace one pipeline with the other and delete its functions. {hint}")]
pub struct OtherPipeline {
    pub machine: String,
    pub deployed: String,
    pub planned: String,
    hint: String,
}

fn refuse_other_pipeline(
    plan: &Plan,
    deployment: &crate::plan::deployed::Deployment,
    named: bool,
) -> Result<(), OtherPipeline> {
    let Some(deployed) = deployment
        .whole_definition()
        .as_ref()
        .and_then(crate::plan::definition::task_event::pipeline_of_definition)
    else {
        return Ok(());
    };
    let planned = &plan.pipeline;
    if &deployed == planned {
        return Ok(());
    }
    let hint = if named {
        "Give each pipeline its own state machine: set another --state-machine-name (state_machine.name in kedro-sfn.yml names one machine for every pipeline)".to_string()
    } else {
        format!("Pass --state-machine-name to deploy `{planned}` under another name, or --pipeline {deployed} to update this one")
    };
    Err(OtherPipeline {
        machine: plan.state_machine.name.clone(),
        deployed,
        planned: planned.clone(),
        hint,
    })
}

/// What a failed read of the deployment means for the user: throttling is not a permission
/// problem, and a denied call is.
fn read_failure(error: &crate::aws::AwsError, concurrency: usize) -> String {
    if error.is_throttling() {
        format!(
            "cannot read what is deployed: AWS throttled kedro-sfn's calls even after {} attempts each; lower deploy.concurrency (now {concurrency}) or deploy again later",
            crate::aws::MAX_ATTEMPTS
        )
    } else if error
        .code
        .as_deref()
        .is_some_and(|code| code.contains("AccessDenied") || code == "UnrecognizedClientException")
    {
        "cannot read what is deployed: the caller needs read access to Lambda and Step Functions (docs/deploying.md lists the IAM actions)".to_string()
    } else {
        "cannot read what is deployed".to_string()
    }
}
