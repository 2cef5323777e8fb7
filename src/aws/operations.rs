//! EventBridge Scheduler and EventBridge: read and apply the schedules and the failure
//! alert of one state machine (planned by [`crate::plan::operations`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_sdk_eventbridge::types::{
    InputTransformer, RuleState, Tag as RuleTag, Target as EventsTarget,
};
use aws_sdk_scheduler::types::{
    FlexibleTimeWindow, FlexibleTimeWindowMode, ScheduleState, Tag as ScheduleTag,
    Target as ScheduleTarget,
};

use super::{AwsError, Calls, CountCalls, RefusedIsFinal};
use crate::plan::operations::changes::{
    DeployedOperations, DeployedRule, DeployedSchedule, RuleTarget,
};
use crate::plan::operations::PlannedSchedule;

/// The id of the alert rule's one target.
const TARGET_ID: &str = "kedro-sfn-alert";

/// Calls Scheduler and EventBridge, counting every call.
#[derive(Debug, Clone)]
pub struct Operations {
    scheduler: aws_sdk_scheduler::Client,
    events: aws_sdk_eventbridge::Client,
}

/// A schedule as deploy writes it.
#[derive(Debug, Clone, Copy)]
pub struct ScheduleInput<'a> {
    pub group: &'a str,
    pub schedule: &'a PlannedSchedule,
    pub target_arn: &'a str,
    pub role_arn: &'a str,
    pub description: &'a str,
}

/// The alert rule as deploy writes it.
#[derive(Debug, Clone)]
pub struct RuleInput<'a> {
    pub name: &'a str,
    pub pattern: &'a str,
    pub description: &'a str,
    pub tags: &'a BTreeMap<String, String>,
    pub topic_arn: &'a str,
    pub input_paths: &'a BTreeMap<String, String>,
    pub template: &'a str,
}

fn not_found(error: &AwsError) -> bool {
    error.code.as_deref() == Some("ResourceNotFoundException")
}

/// A deletion whose resource is gone already is done (a rerun after a kill).
fn gone_is_done(deleted: Result<(), AwsError>) -> Result<(), AwsError> {
    match deleted {
        Err(error) if !not_found(&error) => Err(error),
        _ => Ok(()),
    }
}

fn built<T>(
    what: &str,
    built: Result<T, aws_sdk_scheduler::error::BuildError>,
) -> Result<T, AwsError> {
    built.map_err(|e| AwsError::other(what.to_string(), e.to_string()))
}

impl Operations {
    pub fn new(config: &aws_config::SdkConfig, calls: Arc<Calls>) -> Self {
        Operations {
            scheduler: aws_sdk_scheduler::Client::from_conf(
                aws_sdk_scheduler::config::Builder::from(config)
                    .interceptor(CountCalls(calls.clone()))
                    .retry_classifier(RefusedIsFinal)
                    .build(),
            ),
            events: aws_sdk_eventbridge::Client::from_conf(
                aws_sdk_eventbridge::config::Builder::from(config)
                    .interceptor(CountCalls(calls))
                    .retry_classifier(RefusedIsFinal)
                    .build(),
            ),
        }
    }

    /// The group (its tags) and its schedules, and the rule with its tags and targets:
    /// two calls when neither exists, and one per schedule more when they do.
    pub async fn read(&self, group: &str, rule: &str) -> Result<DeployedOperations, AwsError> {
        let mut deployed = DeployedOperations::default();
        let described = self.scheduler.get_schedule_group().name(group).send().await;
        match described.map_err(|e| AwsError::new(format!("reading the schedule group {group}"), e))
        {
            Ok(found) => {
                let arn = found.arn().unwrap_or_default().to_string();
                deployed.group = Some(self.schedule_tags(&arn).await?);
                deployed.schedules = self.schedules(group).await?;
            }
            Err(error) if not_found(&error) => {}
            Err(error) => return Err(error),
        }
        let described = self.events.describe_rule().name(rule).send().await;
        match described
            .map_err(|e| AwsError::new(format!("reading the EventBridge rule {rule}"), e))
        {
            Ok(found) => {
                let arn = found.arn().unwrap_or_default().to_string();
                let tags = self
                    .events
                    .list_tags_for_resource()
                    .resource_arn(&arn)
                    .send()
                    .await
                    .map_err(|e| {
                        AwsError::new(format!("reading the tags of the rule {rule}"), e)
                    })?;
                let targets = self
                    .events
                    .list_targets_by_rule()
                    .rule(rule)
                    .send()
                    .await
                    .map_err(|e| {
                        AwsError::new(format!("reading the targets of the rule {rule}"), e)
                    })?;
                deployed.rule = Some(DeployedRule {
                    tags: tags
                        .tags()
                        .iter()
                        .map(|t| (t.key().to_string(), t.value().to_string()))
                        .collect(),
                    pattern: found.event_pattern().map(str::to_string),
                    enabled: found.state() == Some(&RuleState::Enabled),
                    targets: targets
                        .targets()
                        .iter()
                        .map(|t| {
                            let transformer = t.input_transformer();
                            RuleTarget {
                                id: t.id().to_string(),
                                arn: t.arn().to_string(),
                                input_paths: transformer
                                    .and_then(|x| x.input_paths_map())
                                    .map(|m| {
                                        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
                                    })
                                    .unwrap_or_default(),
                                template: transformer.map(|x| x.input_template().to_string()),
                            }
                        })
                        .collect(),
                });
            }
            Err(error) if not_found(&error) => {}
            Err(error) => return Err(error),
        }
        Ok(deployed)
    }

    async fn schedule_tags(&self, arn: &str) -> Result<BTreeMap<String, String>, AwsError> {
        let listed = self
            .scheduler
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| AwsError::new(format!("reading the tags of {arn}"), e))?;
        Ok(listed
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect())
    }

    async fn schedules(&self, group: &str) -> Result<BTreeMap<String, DeployedSchedule>, AwsError> {
        let mut names = Vec::new();
        let mut pages = self
            .scheduler
            .list_schedules()
            .group_name(group)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page =
                page.map_err(|e| AwsError::new(format!("listing the schedules of {group}"), e))?;
            names.extend(
                page.schedules()
                    .iter()
                    .filter_map(|s| s.name().map(str::to_string)),
            );
        }
        let mut schedules = BTreeMap::new();
        for name in names {
            let got = self
                .scheduler
                .get_schedule()
                .group_name(group)
                .name(&name)
                .send()
                .await
                .map_err(|e| AwsError::new(format!("reading the schedule {group}/{name}"), e))?;
            let window = got.flexible_time_window();
            let target = got.target();
            schedules.insert(
                name,
                DeployedSchedule {
                    expression: got.schedule_expression().unwrap_or_default().to_string(),
                    timezone: got.schedule_expression_timezone().map(str::to_string),
                    input: target.and_then(|t| t.input()).map(str::to_string),
                    enabled: got.state() != Some(&ScheduleState::Disabled),
                    flexible_window_minutes: window
                        .filter(|w| w.mode() == &FlexibleTimeWindowMode::Flexible)
                        .and_then(|w| w.maximum_window_in_minutes())
                        .and_then(|m| u32::try_from(m).ok())
                        .unwrap_or(0),
                    target_arn: target.map(|t| t.arn().to_string()).unwrap_or_default(),
                    role_arn: target.map(|t| t.role_arn().to_string()).unwrap_or_default(),
                    description: got.description().map(str::to_string),
                },
            );
        }
        Ok(schedules)
    }

    /// Creates the schedule group, tagged as this machine's.
    pub async fn create_group(
        &self,
        group: &str,
        tags: &BTreeMap<String, String>,
    ) -> Result<(), AwsError> {
        let mut create = self.scheduler.create_schedule_group().name(group);
        for (key, value) in tags {
            create = create.tags(built(
                "a schedule group tag",
                ScheduleTag::builder().key(key).value(value).build(),
            )?);
        }
        create
            .send()
            .await
            .map_err(|e| AwsError::new(format!("creating the schedule group {group}"), e))?;
        Ok(())
    }

    /// Deletes the (emptied) schedule group.
    pub async fn delete_group(&self, group: &str) -> Result<(), AwsError> {
        gone_is_done(
            self.scheduler
                .delete_schedule_group()
                .name(group)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::new(format!("deleting the schedule group {group}"), e)),
        )
    }

    /// Creates (`create`) or replaces one schedule.
    pub async fn put_schedule(
        &self,
        input: ScheduleInput<'_>,
        create: bool,
    ) -> Result<(), AwsError> {
        let ScheduleInput {
            group,
            schedule,
            target_arn,
            role_arn,
            description,
        } = input;
        let window = match schedule.flexible_window_minutes {
            0 => FlexibleTimeWindow::builder().mode(FlexibleTimeWindowMode::Off),
            minutes => FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Flexible)
                .maximum_window_in_minutes(i32::try_from(minutes).unwrap_or(i32::MAX)),
        };
        let window = built("a flexible time window", window.build())?;
        let target = built(
            "a schedule target",
            ScheduleTarget::builder()
                .arn(target_arn)
                .role_arn(role_arn)
                .input(&schedule.input)
                .build(),
        )?;
        let state = if schedule.enabled {
            ScheduleState::Enabled
        } else {
            ScheduleState::Disabled
        };
        let name = &schedule.name;
        // CreateSchedule and UpdateSchedule take the same fields (an update replaces them
        // all), through two builder types.
        macro_rules! with_fields {
            ($builder:expr, $doing:literal) => {
                $builder
                    .group_name(group)
                    .name(name)
                    .schedule_expression(&schedule.expression)
                    .schedule_expression_timezone(&schedule.timezone)
                    .flexible_time_window(window)
                    .target(target)
                    .state(state)
                    .description(description)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| {
                        AwsError::new(format!("{} the schedule {group}/{name}", $doing), e)
                    })
            };
        }
        if create {
            with_fields!(self.scheduler.create_schedule(), "creating")
        } else {
            with_fields!(self.scheduler.update_schedule(), "updating")
        }
    }

    /// Deletes one schedule (gone already is done).
    pub async fn delete_schedule(&self, group: &str, name: &str) -> Result<(), AwsError> {
        gone_is_done(
            self.scheduler
                .delete_schedule()
                .group_name(group)
                .name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::new(format!("deleting the schedule {group}/{name}"), e)),
        )
    }

    /// Creates or updates the rule and sets its one target.
    pub async fn put_rule(&self, input: &RuleInput<'_>) -> Result<(), AwsError> {
        let name = input.name;
        let mut put = self
            .events
            .put_rule()
            .name(name)
            .event_pattern(input.pattern)
            .state(RuleState::Enabled)
            .description(input.description);
        for (key, value) in input.tags {
            put = put.tags(built(
                "a rule tag",
                RuleTag::builder().key(key).value(value).build(),
            )?);
        }
        put.send()
            .await
            .map_err(|e| AwsError::new(format!("putting the EventBridge rule {name}"), e))?;
        let transformer = built(
            "the alert's message",
            InputTransformer::builder()
                .set_input_paths_map(Some(
                    input
                        .input_paths
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ))
                .input_template(input.template)
                .build(),
        )?;
        let target = built(
            "the alert's target",
            EventsTarget::builder()
                .id(TARGET_ID)
                .arn(input.topic_arn)
                .input_transformer(transformer)
                .build(),
        )?;
        let put = self
            .events
            .put_targets()
            .rule(name)
            .targets(target)
            .send()
            .await
            .map_err(|e| AwsError::new(format!("setting the target of the rule {name}"), e))?;
        if put.failed_entry_count() > 0 {
            let why: Vec<String> = put
                .failed_entries()
                .iter()
                .map(|f| f.error_message().unwrap_or("no reason given").to_string())
                .collect();
            return Err(AwsError::other(
                format!("setting the target of the rule {name}"),
                why.join("; "),
            ));
        }
        Ok(())
    }

    /// Removes the rule's targets, then the rule.
    pub async fn delete_rule(&self, name: &str, target_ids: &[String]) -> Result<(), AwsError> {
        if !target_ids.is_empty() {
            self.events
                .remove_targets()
                .rule(name)
                .set_ids(Some(target_ids.to_vec()))
                .send()
                .await
                .map_err(|e| {
                    AwsError::new(format!("removing the targets of the rule {name}"), e)
                })?;
        }
        gone_is_done(
            self.events
                .delete_rule()
                .name(name)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| AwsError::new(format!("deleting the EventBridge rule {name}"), e)),
        )
    }
}
