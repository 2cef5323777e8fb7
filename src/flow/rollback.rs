//! Move the alias back to the previous (or a given) version of the state machine. Versions
//! pin function versions, so the old version runs the old code.

use anyhow::{anyhow, bail};

use crate::aws::deploy::Clients;
use crate::config::Config;
use crate::plan::definition::arns::version_number;
use crate::plan::deployed::pinned_versions;

/// What version `version_arn` calls that is gone: function versions, child machine
/// versions, ECS task definition revisions.
async fn missing_for(clients: &Clients, version_arn: &str) -> anyhow::Result<Vec<String>> {
    let definition = clients.sfn.version_definition(version_arn).await?;
    let mut missing = Vec::new();
    for (function, version) in pinned_versions(&definition) {
        if !clients.lambda.version_exists(&function, version).await? {
            missing.push(format!("the function {function} version {version}"));
        }
    }
    for child in crate::plan::definition::asl::started_children(&definition) {
        if !clients.sfn.version_exists(child).await? {
            missing.push(format!("the child state machine version {child}"));
        }
    }
    Ok(missing)
}

/// What a rollback did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolledBack {
    /// The alias serves the wanted version already.
    Already { alias: String, version: String },
    Moved {
        alias: String,
        from: String,
        to: String,
    },
}

/// Points the alias of `machine_name` at version `to`, else at the newest version older
/// than the one it serves.
pub async fn rollback(
    config: &Config,
    machine_name: &str,
    to: Option<u64>,
) -> anyhow::Result<RolledBack> {
    let alias = config.alias();
    let sdk = crate::aws::sdk_config(config.file.region.as_deref()).await;
    let clients = Clients::new(&sdk);
    let sfn = &clients.sfn;
    let name = machine_name;
    let arn = sfn
        .find(name)
        .await?
        .ok_or_else(|| anyhow!("there is no state machine {name} to roll back"))?;
    let current = sfn
        .alias_target(&arn, &alias)
        .await?
        .ok_or_else(|| anyhow!("{name} has no alias {alias}; deploy first"))?;
    let current_number = version_number(&current)
        .ok_or_else(|| anyhow!("the alias {alias} points at {current}, which is not a version"))?;
    let target = match to {
        Some(version) => {
            let wanted = format!("{arn}:{version}");
            if !sfn.version_exists(&wanted).await? {
                bail!("{name} has no version {version}");
            }
            wanted
        }
        None => {
            let mut found = None;
            for version in (1..current_number).rev() {
                let candidate = format!("{arn}:{version}");
                if sfn.version_exists(&candidate).await? {
                    found = Some(candidate);
                    break;
                }
            }
            found.ok_or_else(|| anyhow!("{name} has no version older than {current_number}"))?
        }
    };
    if target == current {
        return Ok(RolledBack::Already {
            alias,
            version: target,
        });
    }
    let missing = missing_for(&clients, &target).await?;
    if !missing.is_empty() {
        bail!(
            "version {} of {name} cannot run: it calls {} that no longer exist{}. The alias stays on {current}. Roll back to a newer version (a deploy keeps what the newest deploy.keep_versions versions call), or deploy the old code again",
            version_number(&target).unwrap_or_default(),
            missing.join(", "),
            if missing.len() == 1 { "s" } else { "" }
        );
    }
    sfn.point_alias(&arn, &alias, &target, true).await?;
    Ok(RolledBack::Moved {
        alias,
        from: current,
        to: target,
    })
}
