//! The only code that calls AWS. Each service module takes plain data in and gives plain
//! data out; errors carry the whole cause chain, because the SDK's top-level text ("dispatch
//! failure", "service error") alone tells a user nothing.

pub mod deploy;
pub mod ecr;
pub mod lambda;
pub mod sfn;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Loads credentials and endpoints the standard way (environment, profiles, SSO, IMDS;
/// `AWS_ENDPOINT_URL` points every client at an emulator) for `region`.
pub async fn sdk_config(region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_string()));
    }
    loader.load().await
}

/// An AWS call that failed, with what was being done and the SDK's full error chain.
#[derive(Debug, thiserror::Error)]
#[error("{action}: {detail}")]
pub struct AwsError {
    pub action: String,
    pub detail: String,
    /// The service's error code (e.g. `RepositoryNotFoundException`), when it sent one.
    pub code: Option<String>,
}

impl AwsError {
    /// Wraps an SDK error; `action` says what was attempted, in the user's words.
    pub fn new<E>(
        action: impl Into<String>,
        error: aws_sdk_ecr::error::SdkError<E, aws_sdk_ecr::config::http::HttpResponse>,
    ) -> Self
    where
        E: std::error::Error + aws_sdk_ecr::error::ProvideErrorMetadata + 'static,
    {
        use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
        let code = error.code().map(str::to_string);
        let status = error.raw_response().map(|r| r.status().as_u16());
        let detail = match (&error, &code) {
            (SdkError::ServiceError(_), Some(code)) => {
                format!("{code}: {}", error.message().unwrap_or("no message"))
            }
            (SdkError::ServiceError(_), None) | (SdkError::ResponseError(_), None) => format!(
                "the endpoint answered HTTP {} without an AWS error (does it implement this operation?)",
                status.map_or("?".to_string(), |s| s.to_string())
            ),
            _ => crate::error_chain(&error),
        };
        AwsError {
            action: action.into(),
            detail,
            code,
        }
    }

    /// A failure that is not an SDK error (e.g. a malformed answer).
    pub fn other(action: impl Into<String>, detail: impl Into<String>) -> Self {
        AwsError {
            action: action.into(),
            detail: detail.into(),
            code: None,
        }
    }
}

/// Every AWS call a command makes, read or write: `deploy` reports them, and a deploy with
/// nothing to do must show zero writes.
#[derive(Debug, Default)]
pub struct Calls {
    by_operation: std::sync::Mutex<std::collections::BTreeMap<String, (bool, usize)>>,
}

/// A snapshot of [`Calls`].
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CallCount {
    pub reads: usize,
    pub writes: usize,
    /// `service:Operation` -> calls.
    pub by_operation: std::collections::BTreeMap<String, usize>,
}

impl Calls {
    /// Records a call that changes nothing.
    pub fn read(&self, operation: &str) {
        self.record(operation, false);
    }

    /// Records a mutating call.
    pub fn write(&self, operation: &str) {
        self.record(operation, true);
    }

    fn record(&self, operation: &str, mutating: bool) {
        if let Ok(mut map) = self.by_operation.lock() {
            map.entry(operation.to_string()).or_insert((mutating, 0)).1 += 1;
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
