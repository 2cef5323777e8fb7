//! The deploy's steps, in the order `plan::changes::steps` decides: functions, probes,
//! machines, aliases, deletions. Each executes what the pure planner decided.

use std::collections::BTreeMap;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::*;
use crate::aws::ecs::Registration;
use crate::aws::lambda::FunctionInput;
use crate::aws::sfn::{MachineInput, Validation};
use crate::aws::AwsError;
use crate::plan::changes::child::{pin_children, pinned_children};
use crate::plan::changes::steps::{
    kept_child, pinned, probe_event, root_changes, Deletions, Steps,
};
use crate::plan::changes::{function_record, function_tags, FunctionAction, Target};
use crate::plan::functions::OWNER_TAG;

/// Step 1: functions created or updated, `concurrency` at a time, each publishing a
/// version; task definitions registered. Every failure is listed; any stops the deploy.
pub(super) async fn put_functions(
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
pub(super) async fn probe_versions(
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
pub(super) async fn publish_machines(
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
pub(super) async fn point_aliases(
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
pub(super) async fn delete_removed(
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
pub(super) fn definition_text(
    definition: &serde_json::Value,
    machine: &str,
) -> Result<String, DeployError> {
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
pub(super) async fn validate(
    clients: &Clients,
    text: &str,
    noticed: &mut bool,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Validation, DeployError> {
    match clients.sfn.validate(text).await {
        Validation::Ok => Ok(Validation::Ok),
        Validation::Unavailable(why) => {
            if !std::mem::replace(noticed, true) {
                let first_line = why.lines().next().unwrap_or_default().to_string();
                progress(&format!(
                    "notice: ValidateStateMachineDefinition is not available here ({first_line}); relying on the planner's checks"
                ));
            }
            Ok(Validation::Unavailable(why))
        }
        Validation::Invalid(problems) => Err(DeployError::InvalidDefinition(problems.join("; "))),
    }
}

/// The tags of every machine of the deploy: the configured ones and kedro-sfn's mark.
pub(super) fn machine_tags(target: &Target) -> BTreeMap<String, String> {
    let mut tags = target.extra_tags.clone();
    tags.insert(crate::aws::sfn::MANAGED_TAG.into(), "true".into());
    tags
}
