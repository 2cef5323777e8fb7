//! What is deployed now: the functions, task definitions, state machine and children this
//! machine owns, read before anything is planned or changed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::*;
use crate::aws::lambda::Listed;
use crate::aws::AwsError;
use crate::plan::changes::child::pinned_children;
use crate::plan::changes::DeployedMachine;
use crate::plan::changes::{image_digest, pinned_versions, Deployment, Target};
use crate::plan::definition::names::{child_prefix, function_prefix};
use crate::plan::Plan;

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
    // The versions a deploy keeps say what a rollback still needs of what the plan removes
    // (see `plan::changes::retained`).
    let versions = match &machine {
        Some(machine) => read_versions(clients, machine, target.keep_versions).await?,
        None => Vec::new(),
    };
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
    // ECS is read only where ECS tasks are planned, served or called by a kept version,
    // so a deploy without them needs no ECS permission.
    let calls_ecs = |definition: &serde_json::Value| {
        crate::plan::definition::asl::task_states(definition)
            .iter()
            .any(|(_, state)| state.pointer("/Parameters/TaskDefinition").is_some())
    };
    let deployed_ecs = whole.as_ref().is_some_and(calls_ecs)
        || versions
            .iter()
            .filter_map(|v| v.definition.as_ref())
            .any(calls_ecs);
    let task_definitions = if plan.ecs_tasks.is_empty() && !deployed_ecs {
        BTreeMap::new()
    } else {
        let planned: BTreeSet<&str> = plan.ecs_tasks.iter().map(|t| t.family.as_str()).collect();
        clients.ecs.read(&prefix, &planned).await?
    };
    let operations = read_operations(clients, plan).await?;
    Ok(Deployment {
        machine,
        functions,
        task_definitions,
        children,
        operations,
        versions,
    })
}

/// The machine's versions, newest first, with their definitions: those a deploy keeps (the
/// newest `keep` and the one the alias serves, which was read with the machine) say what a
/// rollback needs, and those it deletes what may go with them (an ECS family only they
/// call). At most [`VERSIONS_READ`] are read; an older one is deleted unread.
const VERSIONS_READ: usize = 100;

async fn read_versions(
    clients: &Clients,
    machine: &crate::plan::changes::DeployedMachine,
    keep: usize,
) -> Result<Vec<crate::plan::deployed::MachineVersion>, AwsError> {
    let listed = clients.sfn.versions(&machine.arn).await?;
    let mut versions = Vec::with_capacity(listed.len());
    for (index, (number, arn)) in listed.into_iter().enumerate() {
        let kept = index < keep.max(1) || machine.alias_version_arn.as_deref() == Some(&arn);
        let definition = match machine.alias_version_arn.as_deref() {
            Some(served) if served == arn => Some(machine.definition.clone()),
            _ if kept || index < VERSIONS_READ => Some(clients.sfn.version_definition(&arn).await?),
            _ => None,
        };
        versions.push(crate::plan::deployed::MachineVersion {
            number,
            arn,
            definition,
        });
    }
    Ok(versions)
}

/// The schedule group and the alert rule. Read on every deploy, so that removing them from
/// the config deletes them; where the caller may not read them and none are planned, none
/// are taken to exist (a deploy without schedules needs no Scheduler permission).
async fn read_operations(
    clients: &Clients,
    plan: &Plan,
) -> Result<crate::plan::operations::changes::DeployedOperations, AwsError> {
    let ops = &plan.operations;
    match clients.operations.read(&ops.group, &ops.rule).await {
        Err(error) if ops.is_empty() && error.is_access_denied() => {
            tracing::debug!("schedules and alerts not read ({error}); none are planned");
            Ok(Default::default())
        }
        read => read,
    }
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
