//! Lambda: read the functions a state machine owns, create and update them from the image,
//! wait until each change has landed, publish versions, delete what was removed.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_lambda::types::{
    Architecture as LambdaArchitecture, Environment, EphemeralStorage, FunctionCode,
    LastUpdateStatus, PackageType, State,
};
use aws_sdk_lambda::Client;

use super::{AwsError, Calls, CountCalls, RefusedIsFinal};
use crate::config::Architecture;
use crate::plan::changes::{DeployedFunction, RECORD_CHANGE, TAGS_CHANGE};
use crate::plan::functions::FunctionRecord;
use crate::plan::functions::FunctionSpec;

/// How long a function may take to become Active / Successful after a change.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(600);

/// Lambda's answer to a change while another is in progress, and to a create of a name
/// that exists.
const CONFLICT: &str = "ResourceConflictException";

/// How many times one change is sent again after a conflict (each after the function has
/// settled): more means something else keeps changing the function.
const CONFLICT_RETRIES: usize = 5;

/// Calls Lambda, counting every call.
#[derive(Debug, Clone)]
pub struct Lambda {
    client: Client,
}

/// What a function is created or updated with.
#[derive(Debug, Clone)]
pub struct FunctionInput<'a> {
    pub spec: &'a FunctionSpec,
    pub image_uri: &'a str,
    pub role_arn: Option<&'a str>,
    pub tags: &'a BTreeMap<String, String>,
    /// The function's record (`FunctionRecord::render`).
    pub description: &'a str,
}

/// A function as a ListFunctions page shows it, with when it last changed.
#[derive(Debug, Clone)]
pub struct Listed {
    pub function: DeployedFunction,
    /// Lambda's `LastModified`, in milliseconds since the epoch.
    pub last_modified_ms: Option<i64>,
}

fn architecture(arch: Architecture) -> LambdaArchitecture {
    match arch {
        Architecture::X86_64 => LambdaArchitecture::X8664,
        Architecture::Arm64 => LambdaArchitecture::Arm64,
    }
}

fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

fn storage(spec: &FunctionSpec, action: &str) -> Result<EphemeralStorage, AwsError> {
    EphemeralStorage::builder()
        .size(to_i32(spec.ephemeral_storage_mb))
        .build()
        .map_err(|e| AwsError::other(action, e.to_string()))
}

fn environment(spec: &FunctionSpec) -> Environment {
    Environment::builder()
        .set_variables(Some(spec.environment.clone().into_iter().collect()))
        .build()
}

impl Lambda {
    pub fn new(config: &aws_config::SdkConfig, calls: Arc<Calls>) -> Self {
        Lambda {
            client: Client::from_conf(
                aws_sdk_lambda::config::Builder::from(config)
                    .interceptor(CountCalls(calls))
                    .retry_classifier(RefusedIsFinal)
                    .build(),
            ),
        }
    }

    /// Every function in the account and region that `wanted` picks, from ListFunctions
    /// (50 a page): settings, image digest and record, without tags or versions.
    pub async fn list(&self, wanted: &dyn Fn(&str) -> bool) -> Result<Vec<Listed>, AwsError> {
        let mut listed = Vec::new();
        let mut pages = self
            .client
            .list_functions()
            .max_items(50)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page
                .map_err(|e| AwsError::new("listing Lambda functions (lambda:ListFunctions)", e))?;
            for config in page.functions() {
                let Some(name) = config.function_name().filter(|n| wanted(n)) else {
                    continue;
                };
                listed.push(Listed {
                    function: deployed(name, config),
                    last_modified_ms: config.last_modified().and_then(lambda_time_ms),
                });
            }
        }
        Ok(listed)
    }

    /// A function's settings, image, record and tags; `None` when there is no such
    /// function. Its versions are not read.
    pub async fn read(&self, name: &str) -> Result<Option<DeployedFunction>, AwsError> {
        let answer = match self.client.get_function().function_name(name).send().await {
            Ok(answer) => answer,
            Err(error) => {
                let error = AwsError::new(format!("reading the function {name}"), error);
                if error.code.as_deref() == Some("ResourceNotFoundException") {
                    return Ok(None);
                }
                return Err(error);
            }
        };
        let Some(config) = answer.configuration() else {
            return Err(AwsError::other(
                format!("reading the function {name}"),
                "no configuration",
            ));
        };
        let mut function = deployed(name, config);
        function.image_uri = answer
            .code()
            .and_then(|c| c.image_uri())
            .map(str::to_string);
        function.tags = Some(
            answer
                .tags()
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        );
        Ok(Some(function))
    }

    /// True when version `version` of the function exists (what a state machine version
    /// pinned to it needs to run).
    pub async fn version_exists(&self, name: &str, version: u64) -> Result<bool, AwsError> {
        match self
            .client
            .get_function_configuration()
            .function_name(name)
            .qualifier(version.to_string())
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(error) => {
                let error = AwsError::new(format!("reading {name}:{version}"), error);
                if error.code.as_deref() == Some("ResourceNotFoundException") {
                    Ok(false)
                } else {
                    Err(error)
                }
            }
        }
    }

    /// The highest published version number.
    pub async fn latest_version(&self, name: &str) -> Result<Option<u64>, AwsError> {
        let mut latest = None;
        let mut pages = self
            .client
            .list_versions_by_function()
            .function_name(name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| AwsError::new(format!("listing the versions of {name}"), e))?;
            for version in page.versions() {
                if let Some(number) = version.version().and_then(|v| v.parse::<u64>().ok()) {
                    latest = latest.max(Some(number));
                }
            }
        }
        Ok(latest)
    }

    /// Creates the function from the image, waits until it is Active, publishes version 1.
    pub async fn create(&self, input: &FunctionInput<'_>) -> Result<u64, AwsError> {
        let spec = input.spec;
        let action = format!("creating the function {}", spec.name);
        let role = input.role_arn.ok_or_else(|| {
            AwsError::other(
                &action,
                "no execution role: set lambda.role_arn in kedro-sfn.yml or pass --lambda-role-arn",
            )
        })?;
        let created = self
            .client
            .create_function()
            .function_name(&spec.name)
            .package_type(PackageType::Image)
            .code(FunctionCode::builder().image_uri(input.image_uri).build())
            .role(role)
            .memory_size(to_i32(spec.memory_mb))
            .timeout(to_i32(spec.timeout_s))
            .ephemeral_storage(storage(spec, &action)?)
            .architectures(architecture(spec.architecture))
            .environment(environment(spec))
            .description(input.description)
            .set_tags(Some(input.tags.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| AwsError::new(&action, e));
        match created {
            Ok(_) => {}
            Err(error) if error.code.as_deref() == Some(CONFLICT) => {
                return self.adopt(input, error).await;
            }
            Err(error) => return Err(error),
        }
        self.settle(&spec.name).await?;
        self.publish(&spec.name).await
    }

    /// A create that found the function already there: the SDK retried a create whose answer
    /// was lost, or an earlier deploy died after creating it. Ours (the ownership tag says so)
    /// is brought to the spec as an update of code and every setting; anyone else's is left
    /// alone and the create fails with Lambda's error.
    async fn adopt(&self, input: &FunctionInput<'_>, conflict: AwsError) -> Result<u64, AwsError> {
        let name = &input.spec.name;
        let Some(current) = self.read(name).await? else {
            return Err(conflict);
        };
        let owner = crate::plan::functions::OWNER_TAG;
        let tags = current.tags.unwrap_or_default();
        if tags.get(owner) != input.tags.get(owner) {
            return Err(conflict);
        }
        tracing::info!(function = %name, "already created (a retried or interrupted create): updating it");
        self.settle(name).await?;
        // As for a function without a record: every setting, the description and the tags.
        let everything = [RECORD_CHANGE.to_string()];
        self.update(input, true, &everything, None).await
    }

    /// Updates what differs (configuration and record first, then code), waiting after
    /// each change, and publishes a version. `current_description`: the description Lambda
    /// has (`None`: unknown, so it is written).
    pub async fn update(
        &self,
        input: &FunctionInput<'_>,
        code: bool,
        configuration: &[String],
        current_description: Option<&str>,
    ) -> Result<u64, AwsError> {
        let spec = input.spec;
        let action = format!("updating the function {}", spec.name);
        let settings: Vec<&String> = configuration.iter().filter(|c| *c != TAGS_CHANGE).collect();
        if !settings.is_empty() || current_description != Some(input.description) {
            let storage = storage(spec, &action)?;
            self.when_settled(&spec.name, "lambda:UpdateFunctionConfiguration", || {
                self.client
                    .update_function_configuration()
                    .function_name(&spec.name)
                    .set_role(input.role_arn.map(str::to_string))
                    .memory_size(to_i32(spec.memory_mb))
                    .timeout(to_i32(spec.timeout_s))
                    .ephemeral_storage(storage.clone())
                    .environment(environment(spec))
                    .description(input.description)
                    .send()
            })
            .await
            .map_err(|e| e.retitled(&action))?;
            self.settle(&spec.name).await?;
        }
        if code {
            self.when_settled(&spec.name, "lambda:UpdateFunctionCode", || {
                self.client
                    .update_function_code()
                    .function_name(&spec.name)
                    .image_uri(input.image_uri)
                    .architectures(architecture(spec.architecture))
                    .send()
            })
            .await
            .map_err(|e| e.retitled(&action))?;
            self.settle(&spec.name).await?;
        }
        if configuration
            .iter()
            .any(|c| c == TAGS_CHANGE || c == RECORD_CHANGE)
        {
            self.retag(&spec.name, input.tags).await?;
        }
        self.publish(&spec.name).await
    }

    /// Gives the function exactly `wanted` as tags (it reads the current ones first).
    async fn retag(&self, name: &str, wanted: &BTreeMap<String, String>) -> Result<(), AwsError> {
        let arn = self.arn(name).await?;
        let current = self
            .client
            .list_tags()
            .resource(&arn)
            .send()
            .await
            .map_err(|e| AwsError::new(format!("reading the tags of {name}"), e))?;
        let stale: Vec<String> = current
            .tags()
            .map(|t| {
                t.keys()
                    .filter(|k| !wanted.contains_key(*k))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if !stale.is_empty() {
            self.client
                .untag_resource()
                .resource(&arn)
                .set_tag_keys(Some(stale))
                .send()
                .await
                .map_err(|e| AwsError::new(format!("untagging {name}"), e))?;
        }
        self.client
            .tag_resource()
            .resource(&arn)
            .set_tags(Some(wanted.clone().into_iter().collect()))
            .send()
            .await
            .map_err(|e| AwsError::new(format!("tagging {name}"), e))?;
        Ok(())
    }

    async fn configuration(
        &self,
        name: &str,
        action: &str,
    ) -> Result<
        aws_sdk_lambda::operation::get_function_configuration::GetFunctionConfigurationOutput,
        AwsError,
    > {
        self.client
            .get_function_configuration()
            .function_name(name)
            .send()
            .await
            .map_err(|e| AwsError::new(action, e))
    }

    async fn arn(&self, name: &str) -> Result<String, AwsError> {
        let config = self
            .configuration(name, &format!("reading the function {name}"))
            .await?;
        config
            .function_arn()
            .map(str::to_string)
            .ok_or_else(|| AwsError::other(format!("reading the function {name}"), "no ARN"))
    }

    /// Waits until the function is Active and its last update Successful: Lambda refuses
    /// the next change (ResourceConflictException) while one is in progress.
    async fn settle(&self, name: &str) -> Result<(), AwsError> {
        let action = format!("waiting for the function {name} to finish updating");
        let started = std::time::Instant::now();
        let mut delay = Duration::from_millis(250);
        loop {
            let config = self.configuration(name, &action).await?;
            let state = config.state();
            let update = config.last_update_status();
            if matches!(state, Some(State::Failed))
                || matches!(update, Some(LastUpdateStatus::Failed))
            {
                let reason = config
                    .last_update_status_reason()
                    .or(config.state_reason())
                    .unwrap_or("no reason given");
                return Err(AwsError::other(
                    action,
                    format!("Lambda reports a failure: {reason}"),
                ));
            }
            let active = state.is_none_or(|s| *s == State::Active);
            let done = update.is_none_or(|u| *u == LastUpdateStatus::Successful);
            if active && done {
                return Ok(());
            }
            if started.elapsed() > SETTLE_TIMEOUT {
                return Err(AwsError::other(
                    action,
                    "still not settled after 10 minutes",
                ));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }

    /// Sends a change, and when Lambda refuses it because another change is still landing
    /// (ResourceConflictException: e.g. the SDK retried a call whose answer was lost, and the
    /// first one is in progress), waits for the function to settle and sends it again.
    async fn when_settled<T, E, F, Fut>(
        &self,
        name: &str,
        operation: &str,
        send: F,
    ) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<
            Output = Result<
                T,
                aws_sdk_lambda::error::SdkError<E, aws_sdk_lambda::config::http::HttpResponse>,
            >,
        >,
        E: std::error::Error + aws_sdk_lambda::error::ProvideErrorMetadata + 'static,
    {
        let mut conflicts = 0;
        loop {
            match send().await {
                Ok(answer) => return Ok(answer),
                Err(error) => {
                    let error = AwsError::new(format!("{operation} {name}"), error);
                    if error.code.as_deref() != Some(CONFLICT) || conflicts == CONFLICT_RETRIES {
                        return Err(error);
                    }
                    conflicts += 1;
                    self.settle(name).await?;
                }
            }
        }
    }

    async fn publish(&self, name: &str) -> Result<u64, AwsError> {
        let action = format!("publishing a version of {name}");
        let published = self
            .when_settled(name, "lambda:PublishVersion", || {
                self.client.publish_version().function_name(name).send()
            })
            .await
            .map_err(|e| e.retitled(&action))?;
        published
            .version()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| AwsError::other(action, "Lambda returned no version number"))
    }

    /// Invokes version `version` of `name` once with `payload` and waits for its answer:
    /// `Ok(Err(message))` when the function itself failed (Lambda's `FunctionError`, with
    /// the handler's error type and message), `Err` when the call failed.
    pub async fn invoke(
        &self,
        name: &str,
        version: u64,
        payload: &[u8],
    ) -> Result<Result<(), String>, AwsError> {
        // A probe runs no node and writes nothing: it changes no resource.
        let answer = self
            .client
            .invoke()
            .function_name(name)
            .qualifier(version.to_string())
            .payload(aws_sdk_lambda::primitives::Blob::new(payload))
            .send()
            .await
            .map_err(|e| AwsError::new(format!("invoking {name}:{version}"), e))?;
        let Some(kind) = answer.function_error() else {
            return Ok(Ok(()));
        };
        let body = answer
            .payload()
            .map(|blob| String::from_utf8_lossy(blob.as_ref()).into_owned())
            .unwrap_or_default();
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        let message = match (
            parsed["errorType"].as_str(),
            parsed["errorMessage"].as_str(),
        ) {
            (Some(error_type), Some(message)) => format!("{error_type}: {message}"),
            _ => format!("{kind}: {}", body.chars().take(2000).collect::<String>()),
        };
        Ok(Err(message))
    }

    /// Deletes a function (and its versions).
    pub async fn delete(&self, name: &str) -> Result<(), AwsError> {
        match self
            .client
            .delete_function()
            .function_name(name)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(error) => {
                let error = AwsError::new(format!("deleting the function {name}"), error);
                // Already gone: what a rerun after a partial deploy finds.
                if error.code.as_deref() == Some("ResourceNotFoundException") {
                    Ok(())
                } else {
                    Err(error)
                }
            }
        }
    }
}

/// A function's settings as Lambda reports them (in a page or a GetFunction answer).
fn deployed(name: &str, config: &aws_sdk_lambda::types::FunctionConfiguration) -> DeployedFunction {
    let environment: BTreeMap<String, String> = config
        .environment()
        .and_then(|e| e.variables())
        .map(|v| v.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    let architecture = match config.architectures().first() {
        Some(LambdaArchitecture::Arm64) => "arm64",
        _ => "x86_64",
    };
    DeployedFunction {
        name: name.to_string(),
        code_sha256: config
            .code_sha256()
            .filter(|c| !c.is_empty())
            .map(str::to_string),
        memory_mb: config.memory_size().unwrap_or(0).max(0) as u32,
        timeout_s: config.timeout().unwrap_or(0).max(0) as u32,
        ephemeral_storage_mb: config
            .ephemeral_storage()
            .map(|e| e.size())
            .unwrap_or(512)
            .max(0) as u32,
        architecture: architecture.to_string(),
        environment,
        role_arn: config.role().unwrap_or_default().to_string(),
        record: config.description().and_then(FunctionRecord::parse),
        image_uri: None,
        tags: None,
        latest_version: None,
    }
}

/// Lambda's `LastModified` (`2026-11-29T15:57:34.123+0000`) in milliseconds since the epoch.
fn lambda_time_ms(text: &str) -> Option<i64> {
    use aws_sdk_lambda::primitives::{DateTime, DateTimeFormat};
    let utc = match text.strip_suffix("+0000") {
        Some(time) => format!("{time}Z"),
        None => text.replace("+00:00", "Z"),
    };
    DateTime::from_str(&utc, DateTimeFormat::DateTime)
        .ok()
        .and_then(|t| t.to_millis().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_times_read_as_utc_milliseconds() {
        assert_eq!(lambda_time_ms("1970-01-01T00:00:01.500+0000"), Some(1_500));
        assert_eq!(lambda_time_ms("1970-01-01T00:00:02+0000"), Some(2_000));
        assert_eq!(
            lambda_time_ms("1970-01-01T00:00:03.250000+00:00"),
            Some(3_250)
        );
        assert_eq!(lambda_time_ms("yesterday"), None);
    }
}
