//! Every AWS call a command makes, counted by an interceptor on the SDK clients (not by
//! hand at each call site, where one could be missed): `deploy` reports them, and a deploy
//! with nothing to do must show zero writes.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_sfn::config::{ConfigBag, RuntimeComponents};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

/// The calls of one command, by operation.
#[derive(Debug, Default)]
pub struct Calls {
    by_operation: Mutex<BTreeMap<String, (bool, usize)>>,
}

/// A snapshot of [`Calls`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallCount {
    pub reads: usize,
    pub writes: usize,
    /// `service:Operation` -> calls.
    pub by_operation: BTreeMap<String, usize>,
}

impl Calls {
    /// Records one call of `operation` (`states:DescribeStateMachine`).
    pub fn record(&self, operation: &str) {
        let (_, name) = operation.split_once(':').unwrap_or(("", operation));
        if let Ok(mut map) = self.by_operation.lock() {
            map.entry(operation.to_string())
                .or_insert((!changes_nothing(name), 0))
                .1 += 1;
        }
    }

    pub fn count(&self) -> CallCount {
        let mut count = CallCount::default();
        if let Ok(map) = self.by_operation.lock() {
            for (operation, (mutating, calls)) in map.iter() {
                if *mutating {
                    count.writes += calls;
                } else {
                    count.reads += calls;
                }
                count.by_operation.insert(operation.clone(), *calls);
            }
        }
        count
    }
}

/// Operations that change nothing deployed: reads, validation, and the probe's `Invoke`
/// of a version that serves nothing yet.
fn changes_nothing(operation: &str) -> bool {
    ["Describe", "Get", "List", "Validate"]
        .iter()
        .any(|read| operation.starts_with(read))
        || operation == "Invoke"
}

/// IAM's prefix for a service, as the counts are keyed (`states`, `lambda`, `ecs`).
fn iam_prefix(service: &str) -> String {
    match service {
        "SFN" => "states".to_string(),
        "EventBridge" => "events".to_string(),
        other => other.to_ascii_lowercase(),
    }
}

/// The interceptor each client is built with: one count per operation executed (retries
/// of the same call are one call; a page of a paginator is one call).
#[derive(Debug, Clone)]
pub struct CountCalls(pub Arc<Calls>);

impl Intercept for CountCalls {
    fn name(&self) -> &'static str {
        "kedro-sfn call counter"
    }

    // Not `read_before_execution`: a client's interceptors run that hook before the
    // operation's configuration (which holds its name) is applied.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(metadata) = cfg.load::<Metadata>() {
            self.0.record(&format!(
                "{}:{}",
                iam_prefix(metadata.service()),
                metadata.name()
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_are_told_apart_by_the_operation() {
        let calls = Calls::default();
        for operation in [
            "states:DescribeStateMachine",
            "states:ListExecutions",
            "lambda:GetFunction",
            "lambda:Invoke",
            "states:ValidateStateMachineDefinition",
            "lambda:UpdateFunctionCode",
            "states:StartExecution",
            "states:DescribeStateMachine",
        ] {
            calls.record(operation);
        }
        let count = calls.count();
        assert_eq!((count.reads, count.writes), (6, 2));
        assert_eq!(count.by_operation["states:DescribeStateMachine"], 2);
        assert_eq!(iam_prefix("SFN"), "states");
        assert_eq!(iam_prefix("Lambda"), "lambda");
        assert_eq!(iam_prefix("ECS"), "ecs");
    }
}
