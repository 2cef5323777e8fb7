//! Reads what is deployed and executes the steps of a change set (decided, pure, by
//! [`crate::plan::changes::steps`]), in an order that keeps the running
//! state machine working if any step fails: functions first (new versions; the machine
//! still names the old ones), then the state machine (a new version), then the alias, then
//! the functions of removed tasks. A rerun after a failure reads again and converges.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::ecs::{Ecs, Registration};
use super::lambda::{FunctionInput, Lambda, Listed};
use super::sfn::{MachineInput, StepFunctions, Validation};
use super::{AwsError, Calls};
use crate::plan::changes::child::{pin_children, pinned_children};
use crate::plan::changes::steps::{
    kept_child, pinned, probe_event, root_changes, steps, Deletions, Steps,
};
use crate::plan::changes::DeployedMachine;
use crate::plan::changes::{
    function_record, function_tags, image_digest, pinned_versions, ChangeSet, ChildAction,
    Deployment, FunctionAction, Target,
};
use crate::plan::definition::names::{child_prefix, function_prefix};
use crate::plan::functions::OWNER_TAG;
use crate::plan::Plan;

/// The AWS clients a deploy uses, sharing one call counter.
#[derive(Debug, Clone)]
pub struct Clients {
    pub lambda: Lambda,
    pub ecs: Ecs,
    pub sfn: StepFunctions,
    pub calls: Arc<Calls>,
}

impl Clients {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let calls = Arc::new(Calls::default());
        Clients {
            lambda: Lambda::new(config, calls.clone()),
            ecs: Ecs::new(config, calls.clone()),
            sfn: StepFunctions::new(config, calls.clone()),
            calls,
        }
    }
}

/// Why a deploy stopped.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("{} function(s) or ECS task definition(s) exist with the names this state machine needs but are not tagged {}={}: {}. kedro-sfn never overwrites what it does not own; rename the state machine (state_machine.name) or remove them", .names.len(), crate::plan::functions::OWNER_TAG, .machine, .names.join(", "))]
    Clash { machine: String, names: Vec<String> },
    #[error("{count} function(s) could not be deployed; {}. Fix the cause and deploy again:\n{list}", if *.first { "no state machine was created, so nothing runs until a deploy succeeds" } else { "the state machine and its alias were left as they were, so executions keep running the previous version" })]
    Functions {
        count: usize,
        list: String,
        /// Nothing was deployed before: there is no previous version to keep running.
        first: bool,
    },
    #[error("{count} new function version(s) failed their probe: each would fail its task before a node runs. The state machine and its alias were left as they were (the new versions serve nothing). Fix the cause, build the image again and deploy:\n{list}")]
    Probe { count: usize, list: String },
    #[error("Step Functions rejects the definition: {0}")]
    InvalidDefinition(String),
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// One line per distinct error, naming what it stopped: a missing role fails every
/// function alike, and is said once.
fn grouped_failures(failures: Vec<(String, String)>) -> String {
    // Errors that differ only by the resource's own name are one error.
    let mut by_error: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (name, error) in failures {
        let key = error.replace(&format!(" {name}"), "");
        by_error.entry(key).or_default().push((name, error));
    }
    by_error
        .into_iter()
        .map(|(error, mut failed)| {
            failed.sort();
            let names: Vec<String> = failed.iter().map(|(name, _)| name.clone()).collect();
            match failed.as_slice() {
                [(one, original)] => format!("  - {one}: {original}"),
                _ => {
                    const SHOWN: usize = 5;
                    let more = names.len().saturating_sub(SHOWN);
                    let mut list = names
                        .iter()
                        .take(SHOWN)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ");
                    if more > 0 {
                        list.push_str(&format!(" and {more} more"));
                    }
                    format!("  - {} of them ({list}): {error}", names.len())
                }
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Reads the state machine (by name) and every function that carries its prefix or a
/// planned name: one ListFunctions page per 50 functions in the region, and a call per
/// function only where the page does not say enough, `concurrency` at a time: tags where a
/// function has no record (made by hand or by an older kedro-sfn) or is about to be deleted
/// (its task, and its ownership confirmed by tag), and versions where a function changed
/// since the served state machine version was published (else the version that machine
/// names is its latest: a new version needs an update first).
pub async fn read_deployment(
    clients: &Clients,
    plan: &Plan,
    target: &Target,
    concurrency: usize,
) -> Result<Deployment, AwsError> {
    let machine_name = &plan.state_machine.name;
    let listed_machines = clients.sfn.list_machines().await?;
    let machine = match listed_machines.get(machine_name.as_str()) {
        Some(arn) => Some(clients.sfn.read(arn, &target.alias, None).await?),
        None => None,
    };
    let children = read_children(clients, plan, machine.as_ref(), &listed_machines, target).await?;
    let partial = Deployment {
        machine,
        children,
        ..Deployment::default()
    };
    let whole = partial.whole_definition();
    let Deployment {
        machine, children, ..
    } = partial;
    let digest = target.image_uri.as_deref().and_then(image_digest);
    let prefix = function_prefix(machine_name);
    let planned: BTreeSet<&str> = plan.functions.iter().map(|f| f.name.as_str()).collect();
    let listed = clients
        .lambda
        .list(&|name| name.starts_with(&prefix) || planned.contains(name))
        .await?;
    let pins = whole.as_ref().map(pinned_versions).unwrap_or_default();
    let served_since = machine.as_ref().and_then(|m| m.served_since_ms);
    let pool = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut reads = JoinSet::new();
    for Listed {
        mut function,
        last_modified_ms,
    } in listed
    {
        let needs_tags = function.record.is_none()
            || (function.owner() == Some(machine_name.as_str())
                && !planned.contains(function.name.as_str()));
        // CodeSha256 is the image's digest; where it is not (an emulator that hashes the
        // URI), the image URI that GetFunction reports decides.
        let needs_image = digest.is_some_and(|d| function.code_sha256.as_deref() != Some(d));
        let pinned = pins.get(&function.name).copied().filter(|_| {
            matches!((last_modified_ms, served_since), (Some(changed), Some(served)) if changed < served)
        });
        let lambda = clients.lambda.clone();
        let pool = pool.clone();
        let machine_name = machine_name.clone();
        reads.spawn(async move {
            let _permit = pool.acquire_owned().await;
            if needs_tags || needs_image {
                match lambda.read(&function.name).await? {
                    Some(read) => {
                        function.tags = read.tags;
                        function.image_uri = read.image_uri;
                    }
                    None => return Ok(None),
                }
            }
            if function.owner() == Some(machine_name.as_str()) {
                function.latest_version = match pinned {
                    Some(version) => Some(version),
                    None => lambda.latest_version(&function.name).await?,
                };
            }
            Ok::<_, AwsError>(Some(function))
        });
    }
    let mut functions = BTreeMap::new();
    while let Some(joined) = reads.join_next().await {
        let read = joined.map_err(|e| AwsError::other("reading functions", e.to_string()))?;
        if let Some(function) = read? {
            functions.insert(function.name.clone(), function);
        }
    }
    // ECS is read only where ECS tasks are planned or deployed, so a deploy without them
    // needs no ECS permission.
    let deployed_ecs = whole.as_ref().is_some_and(|definition| {
        crate::plan::definition::asl::task_states(definition)
            .iter()
            .any(|(_, state)| state.pointer("/Parameters/TaskDefinition").is_some())
    });
    let task_definitions = if plan.ecs_tasks.is_empty() && !deployed_ecs {
        BTreeMap::new()
    } else {
        let planned: BTreeSet<&str> = plan.ecs_tasks.iter().map(|t| t.family.as_str()).collect();
        clients.ecs.read(&prefix, &planned).await?
    };
    Ok(Deployment {
        machine,
        functions,
        task_definitions,
        children,
    })
}

/// The child machines the plan names, and those named like this root's children (their
/// ownership tag decides whether they are this root's): each read at the version the
/// served root starts.
async fn read_children(
    clients: &Clients,
    plan: &Plan,
    root: Option<&DeployedMachine>,
    listed: &BTreeMap<String, String>,
    target: &Target,
) -> Result<BTreeMap<String, DeployedMachine>, AwsError> {
    let prefix = child_prefix(&plan.state_machine.name);
    let pinned = root
        .map(|m| pinned_children(&m.definition))
        .unwrap_or_default();
    let mut children = BTreeMap::new();
    for (name, arn) in listed {
        let planned = plan.children.iter().any(|c| &c.name == name);
        if !planned && !name.starts_with(&prefix) {
            continue;
        }
        let served = pinned.get(name).map(|version| format!("{arn}:{version}"));
        let child = clients
            .sfn
            .read(arn, &target.alias, served.as_deref())
            .await?;
        children.insert(name.clone(), child);
    }
    Ok(children)
}

/// What a deploy did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Applied {
    pub state_machine_arn: Option<String>,
    /// The version the alias now serves.
    pub version_arn: Option<String>,
    /// Function -> the version its Task names.
    pub function_versions: BTreeMap<String, u64>,
    /// Task definition family -> the revision its Task names.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub task_definition_revisions: BTreeMap<String, u64>,
    /// Child machine -> the version ARN the root starts.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub child_versions: BTreeMap<String, String>,
    pub deleted: Vec<String>,
    pub validation: Option<String>,
    /// The definition as sent (or as already deployed).
    pub definition: serde_json::Value,
    /// The probes run before the state machine changed (`None`: none were asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probes: Option<Probes>,
}

/// What one deploy works from, all decided before anything changes.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    pub clients: &'a Clients,
    pub plan: &'a Plan,
    pub deployment: &'a Deployment,
    pub changes: &'a ChangeSet,
    pub target: &'a Target,
    pub concurrency: usize,
    /// The new state machine version's description: the commit and a one-line summary.
    pub version_description: &'a str,
    /// Invoke each new or changed function version once with a probe before the state
    /// machine changes (see [`probe_versions`]).
    pub probe: bool,
}

/// The probes a deploy ran: how many versions, and how long they took together.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Probes {
    pub count: usize,
    pub seconds: f64,
}

/// Applies the change set in the steps [`steps`] decides. Nothing mutating happens when it
/// is empty.
pub async fn apply(job: Job<'_>, progress: &(dyn Fn(&str) + Sync)) -> Result<Applied, DeployError> {
    let Job {
        plan,
        deployment,
        changes,
        ..
    } = job;
    if !changes.clashes.is_empty() {
        return Err(DeployError::Clash {
            machine: plan.state_machine.name.clone(),
            names: changes.clashes.clone(),
        });
    }
    let mut applied = kept(deployment, changes);
    if changes.is_empty() {
        return Ok(applied);
    }
    let steps = steps(plan, changes);
    let pool = Arc::new(Semaphore::new(job.concurrency.max(1)));
    put_functions(&job, &steps, &pool, &mut applied, progress).await?;
    if job.probe {
        applied.probes = Some(probe_versions(&job, &steps, &applied, &pool, progress).await?);
    }
    publish_machines(&job, &mut applied, progress).await?;
    point_aliases(&job, &applied, progress).await?;
    delete_removed(&job, &steps.deletions, &pool, &mut applied, progress).await?;
    Ok(applied)
}

/// What a deploy starts from: the deployed machine, and the versions of everything kept.
fn kept(deployment: &Deployment, changes: &ChangeSet) -> Applied {
    Applied {
        state_machine_arn: deployment.machine.as_ref().map(|m| m.arn.clone()),
        version_arn: deployment
            .machine
            .as_ref()
            .and_then(|m| m.alias_version_arn.clone()),
        function_versions: changes
            .functions
            .iter()
            .filter(|f| f.action == FunctionAction::Keep)
            .filter_map(|f| Some((f.name.clone(), f.version?)))
            .collect(),
        task_definition_revisions: changes
            .ecs_tasks
            .iter()
            .filter(|t| t.action == FunctionAction::Keep)
            .filter_map(|t| Some((t.family.clone(), t.revision?)))
            .collect(),
        child_versions: changes
            .children
            .iter()
            .filter(|c| c.action == ChildAction::Keep)
            .filter_map(|c| {
                let arn = &deployment.children.get(&c.name)?.arn;
                Some((c.name.clone(), format!("{arn}:{}", c.version?)))
            })
            .collect(),
        deleted: Vec::new(),
        validation: None,
        definition: changes.definition.clone(),
        probes: None,
    }
}

/// Step 1: functions created or updated, `concurrency` at a time, each publishing a
/// version; task definitions registered. Every failure is listed; any stops the deploy.
async fn put_functions(
    job: &Job<'_>,
    steps: &Steps<'_>,
    pool: &Arc<Semaphore>,
    applied: &mut Applied,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), DeployError> {
    let Job {
        clients,
        plan,
        deployment,
        target,
        ..
    } = *job;
    let image_uri = target.image_uri.clone().unwrap_or_default();
    let mut work = JoinSet::new();
    for (spec, action) in &steps.functions {
        let (spec, action) = ((*spec).clone(), action.clone());
        let lambda = clients.lambda.clone();
        let pool = pool.clone();
        let tags = function_tags(&spec, target);
        let description = function_record(&spec, plan, target).render();
        let current_description = deployment
            .functions
            .get(&spec.name)
            .and_then(|f| f.record.as_ref())
            .map(|r| r.render());
        let image_uri = image_uri.clone();
        let role = target.lambda_role_arn.clone();
        work.spawn(async move {
            let _permit = pool.acquire_owned().await;
            let input = FunctionInput {
                spec: &spec,
                image_uri: &image_uri,
                role_arn: role.as_deref(),
                tags: &tags,
                description: &description,
            };
            let result = match &action {
                FunctionAction::Update {
                    code,
                    configuration,
                } => {
                    lambda
                        .update(&input, *code, configuration, current_description.as_deref())
                        .await
                }
                _ => lambda.create(&input).await,
            };
            (spec.name.clone(), action, result)
        });
    }
    let mut failures = Vec::new();
    while let Some(joined) = work.join_next().await {
        match joined {
            Ok((name, action, Ok(version))) => {
                let verb = if action == FunctionAction::Create {
                    "created"
                } else {
                    "updated"
                };
                progress(&format!("{verb} {name} (version {version})"));
                applied.function_versions.insert(name, version);
            }
            Ok((name, _, Err(error))) => failures.push((name, error.to_string())),
            Err(error) => failures.push(("a function task".into(), format!("stopped: {error}"))),
        }
    }
    if let Some(ecs) = &plan.ecs_config {
        for spec in &steps.task_definitions {
            let content = crate::plan::changes::ecs::TaskDefinitionContent::new(
                spec,
                ecs,
                &plan.state_machine.name,
            );
            let tags = crate::plan::changes::ecs::task_definition_tags(spec, &content, target);
            let registration = Registration {
                content: &content,
                image_uri: &image_uri,
                tags: &tags,
            };
            match clients.ecs.register(&registration).await {
                Ok(revision) => {
                    progress(&format!(
                        "registered the task definition {}:{revision}",
                        spec.family
                    ));
                    applied
                        .task_definition_revisions
                        .insert(spec.family.clone(), revision);
                }
                Err(error) => failures.push((spec.family.clone(), error.to_string())),
            }
        }
    }
    if failures.is_empty() {
        return Ok(());
    }
    Err(DeployError::Functions {
        count: failures.len(),
        list: grouped_failures(failures),
        first: deployment.machine.is_none(),
    })
}

/// Step 2: each function version this deploy published is invoked once with the handler's
/// probe event, `concurrency` at a time: it imports the project and its task's nodes,
/// builds the env's catalog with its real credentials and each dataset its nodes use, and
/// reads or writes no data. Any failure stops the deploy before a machine or an alias
/// changes, naming the task, its nodes and the error.
async fn probe_versions(
    job: &Job<'_>,
    steps: &Steps<'_>,
    applied: &Applied,
    pool: &Arc<Semaphore>,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Probes, DeployError> {
    let started = std::time::Instant::now();
    let mut work = JoinSet::new();
    for task in &steps.probes {
        let Some(&version) = applied.function_versions.get(&task.function) else {
            continue;
        };
        let payload = probe_event(job.plan, task).to_string();
        let lambda = job.clients.lambda.clone();
        let pool = pool.clone();
        let (state, function, nodes) = (
            task.state.clone(),
            task.function.clone(),
            task.nodes.clone(),
        );
        work.spawn(async move {
            let _permit = pool.acquire_owned().await;
            let answer = lambda.invoke(&function, version, payload.as_bytes()).await;
            (state, function, version, nodes, answer)
        });
    }
    let mut count = 0;
    let mut failures = Vec::new();
    while let Some(joined) = work.join_next().await {
        let Ok((state, function, version, nodes, answer)) = joined else {
            continue;
        };
        count += 1;
        let task = format!(
            "task {state} ({function}:{version}, node(s) {})",
            nodes.join(", ")
        );
        match answer {
            Ok(Ok(())) => progress(&format!(
                "probed {function}:{version}: it loads its project and nodes"
            )),
            Ok(Err(message)) => failures.push((task, message)),
            Err(error) => failures.push((task, error.to_string())),
        }
    }
    if !failures.is_empty() {
        return Err(DeployError::Probe {
            count: failures.len(),
            list: grouped_failures(failures),
        });
    }
    Ok(Probes {
        count,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Step 3: the child machines (where the pipeline is split), pinned to the versions just
/// published, then the root, pinned to the children's versions; each published only where
/// it changed.
async fn publish_machines(
    job: &Job<'_>,
    applied: &mut Applied,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), DeployError> {
    let Job {
        clients,
        plan,
        deployment,
        changes,
        target,
        version_description,
        ..
    } = *job;
    let machine_name = &plan.state_machine.name;
    let versions: BTreeMap<&str, u64> = applied
        .function_versions
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    let revisions: BTreeMap<&str, u64> = applied
        .task_definition_revisions
        .iter()
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    let served = deployment
        .machine
        .as_ref()
        .map(|m| pinned_children(&m.definition))
        .unwrap_or_default();
    let mut validated = false;
    let mut child_versions = BTreeMap::new();
    for child in &plan.children {
        let definition = pinned(&child.definition(), &versions, &revisions);
        let current = deployment.children.get(&child.name);
        let kept = kept_child(
            current,
            served.get(&child.name).copied(),
            &definition,
            target,
        );
        let version = match kept {
            Some(version) => version,
            None => {
                let text = definition_text(&definition, &child.name)?;
                applied.validation =
                    Some(validate(clients, &text, &mut validated, progress).await?);
                let mut tags = machine_tags(target);
                tags.insert(OWNER_TAG.into(), machine_name.clone());
                let input = MachineInput {
                    name: &child.name,
                    definition: &text,
                    role_arn: target.machine_role_arn.as_deref(),
                    logging: &target.logging,
                    tracing: target.tracing,
                    tags: &tags,
                    version_description,
                };
                let version = match current {
                    None => clients.sfn.create(&input).await?.1,
                    Some(current) => clients.sfn.update(&current.arn, &input).await?,
                };
                progress(&format!("published {version}"));
                version
            }
        };
        child_versions.insert(child.name.clone(), version);
    }
    applied.child_versions.extend(child_versions);
    let mut definition = pinned(&plan.definition, &versions, &revisions);
    pin_children(&mut definition, &applied.child_versions);
    let definition_text = definition_text(&definition, machine_name)?;
    let publish = root_changes(changes, deployment.machine.as_ref(), &definition);
    applied.definition = definition;
    if !publish {
        return Ok(());
    }
    applied.validation = Some(validate(clients, &definition_text, &mut validated, progress).await?);
    let machine_tags = machine_tags(target);
    let input = MachineInput {
        name: machine_name,
        definition: &definition_text,
        role_arn: target.machine_role_arn.as_deref(),
        logging: &target.logging,
        tracing: target.tracing,
        tags: &machine_tags,
        version_description,
    };
    let (arn, version) = match &deployment.machine {
        None => clients.sfn.create(&input).await?,
        Some(current) => {
            let version = clients.sfn.update(&current.arn, &input).await?;
            (current.arn.clone(), version)
        }
    };
    progress(&format!("published {version}"));
    applied.state_machine_arn = Some(arn);
    applied.version_arn = Some(version);
    Ok(())
}

/// Step 4: the root's alias to the new (or current) version; the children's aliases follow
/// the versions the served root starts (for people: the root names versions, not aliases).
async fn point_aliases(
    job: &Job<'_>,
    applied: &Applied,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), DeployError> {
    let Job {
        clients,
        deployment,
        target,
        ..
    } = *job;
    if let (Some(arn), Some(version)) = (&applied.state_machine_arn, &applied.version_arn) {
        let current = deployment
            .machine
            .as_ref()
            .and_then(|m| m.alias_version_arn.as_ref());
        if current != Some(version) {
            clients
                .sfn
                .point_alias(arn, &target.alias, version, current.is_some())
                .await?;
            progress(&format!("alias {} -> {version}", target.alias));
        }
    }
    for (name, version) in &applied.child_versions {
        let Some(arn) = version.rsplit_once(':').map(|(arn, _)| arn) else {
            continue;
        };
        let current = deployment
            .children
            .get(name)
            .and_then(|c| c.alias_version_arn.as_ref());
        if current != Some(version) {
            clients
                .sfn
                .point_alias(arn, &target.alias, version, current.is_some())
                .await?;
        }
    }
    Ok(())
}

/// Step 5, only now: what left the pipeline, which no version in service names; functions
/// `concurrency` at a time (a pipeline that shrank by a thousand tasks deletes a thousand).
async fn delete_removed(
    job: &Job<'_>,
    deletions: &Deletions,
    pool: &Arc<Semaphore>,
    applied: &mut Applied,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(), DeployError> {
    let Job {
        clients,
        deployment,
        ..
    } = *job;
    let mut work = JoinSet::new();
    for name in &deletions.functions {
        let lambda = clients.lambda.clone();
        let pool = pool.clone();
        let name = name.clone();
        work.spawn(async move {
            let _permit = pool.acquire_owned().await;
            let result = lambda.delete(&name).await;
            (name, result)
        });
    }
    let mut deleted = Vec::new();
    while let Some(joined) = work.join_next().await {
        let (name, result) =
            joined.map_err(|e| AwsError::other("deleting functions", e.to_string()))?;
        result?;
        progress(&format!("deleted {name}"));
        deleted.push(name);
    }
    deleted.sort();
    applied.deleted.extend(deleted);
    for family in &deletions.task_definition_families {
        let count = clients.ecs.deregister_family(family).await?;
        progress(&format!(
            "deregistered the task definition {family} ({count} revision(s))"
        ));
        applied.deleted.push(family.clone());
    }
    for name in &deletions.children {
        if let Some(current) = deployment.children.get(name) {
            clients.sfn.delete(&current.arn).await?;
            progress(&format!("deleted the state machine {name}"));
            applied.deleted.push(name.clone());
        }
    }
    Ok(())
}

/// The definition as sent; refused when the version qualifiers took it past the limit the
/// planner measured against.
fn definition_text(definition: &serde_json::Value, machine: &str) -> Result<String, DeployError> {
    let text = serde_json::to_string(definition).unwrap_or_default();
    if text.len() > crate::plan::DEFINITION_MAX_BYTES {
        return Err(DeployError::InvalidDefinition(format!(
            "the definition of {machine} is {} bytes with versions; Step Functions accepts at most {}: run fewer, larger tasks (--group-by namespace)",
            text.len(),
            crate::plan::DEFINITION_MAX_BYTES
        )));
    }
    Ok(text)
}

/// Validates a definition where the endpoint can; says once when it cannot.
async fn validate(
    clients: &Clients,
    text: &str,
    noticed: &mut bool,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<String, DeployError> {
    match clients.sfn.validate(text).await {
        Validation::Ok => Ok("valid".into()),
        Validation::Unavailable(why) => {
            if !std::mem::replace(noticed, true) {
                let first_line = why.lines().next().unwrap_or_default().to_string();
                progress(&format!(
                    "notice: ValidateStateMachineDefinition is not available here ({first_line}); relying on the planner's checks"
                ));
            }
            Ok("unavailable".into())
        }
        Validation::Invalid(problems) => Err(DeployError::InvalidDefinition(problems.join("; "))),
    }
}

/// The tags of every machine of the deploy: the configured ones and kedro-sfn's mark.
fn machine_tags(target: &Target) -> BTreeMap<String, String> {
    let mut tags = target.extra_tags.clone();
    tags.insert(super::sfn::MANAGED_TAG.into(), "true".into());
    tags
}
