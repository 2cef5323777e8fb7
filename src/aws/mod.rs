//! The only code that calls AWS. Each service module takes plain data in and gives plain
//! data out; errors carry the whole cause chain, because the SDK's top-level text ("dispatch
//! failure", "service error") alone tells a user nothing.

mod calls;
pub mod deploy;
pub mod ecr;
pub mod ecs;
pub mod lambda;
pub mod operations;
mod refused;
pub mod sfn;

pub use calls::{CallCount, Calls, CountCalls};
pub use refused::RefusedIsFinal;

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};

/// Attempts per AWS call, the first included. A code-only deploy of 500 tasks made 2,510
/// calls in the deploy benchmark (its settle polls included), so one of 1,500 tasks makes
/// about 7,500; with 35% of attempts failing (30% throttled, 5% server errors: the stress
/// test's mix) one call exhausts 15 attempts with probability 0.35^15 = 1.5e-7, so the
/// whole deploy fails with probability about 0.1%. The SDK's default (3) fails such a deploy
/// almost surely.
pub const MAX_ATTEMPTS: u32 = 15;

/// The SDK's standard retry (exponential backoff with full jitter, for throttling, 5xx and
/// transient network errors) with [`MAX_ATTEMPTS`]: 0.5 s doubling up to 5 s, so a call that
/// never succeeds gives up after about half a minute (a minute at worst), not ten.
///
/// Not the adaptive mode: its client-side rate limiter cuts the send rate after every
/// throttle, down to half a call per second, which is right when the throttling is caused by
/// this client's own rate, and ruinous when it is not (Lambda's control-plane limits are per
/// account: other jobs' calls count too). Measured through the stress proxy (30% of calls
/// throttled at random, 5% 500s, 5% lost answers; `tests/it/faults.rs`), the first deploy of
/// 24 tasks took 63.8 s adaptive and 9.1 s standard.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard()
        .with_max_attempts(MAX_ATTEMPTS)
        .with_initial_backoff(Duration::from_millis(500))
        .with_max_backoff(Duration::from_secs(5))
}

/// Loads credentials and endpoints the standard way (environment, profiles, SSO, IMDS;
/// `AWS_ENDPOINT_URL` points every client at an emulator) for `region`, with
/// [`retry_config`].
pub async fn sdk_config(region: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).retry_config(retry_config());
    if let Some(region) = region {
        loader = loader.region(Region::new(region.to_string()));
    }
    loader.load().await
}

/// As [`sdk_config`], for reads a command can do without (past executions): the SDK's own
/// three attempts, so a throttled or failing endpoint costs seconds, not the half minute
/// per call that [`MAX_ATTEMPTS`] allows a deploy.
pub async fn sdk_config_for_optional_reads(region: Option<&str>) -> SdkConfig {
    sdk_config(region)
        .await
        .to_builder()
        .retry_config(RetryConfig::standard().with_max_attempts(3))
        .build()
}

/// Error codes AWS services answer a throttled call with.
const THROTTLING_CODES: &[&str] = &[
    "TooManyRequestsException",
    "ThrottlingException",
    "Throttling",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequests",
    "RequestThrottled",
];

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
            _ if refused::is_refused(&error) => {
                format!("{}: {}", crate::error_chain(&error), refused::refused_hint())
            }
            _ => crate::error_chain(&error),
        };
        AwsError {
            action: action.into(),
            detail,
            code,
        }
    }

    /// True when AWS refused the call for its rate (after every retry).
    pub fn is_throttling(&self) -> bool {
        self.code
            .as_deref()
            .is_some_and(|code| THROTTLING_CODES.contains(&code))
    }

    /// The same failure, said of `action` (the caller's words for what was attempted).
    pub fn retitled(self, action: impl Into<String>) -> Self {
        AwsError {
            action: action.into(),
            ..self
        }
    }

    /// A failure that is not an SDK error (e.g. a malformed answer).
    /// The caller's credentials may not make this call.
    pub fn is_access_denied(&self) -> bool {
        matches!(
            self.code.as_deref(),
            Some("AccessDeniedException" | "AccessDenied" | "UnauthorizedOperation")
        )
    }

    pub fn other(action: impl Into<String>, detail: impl Into<String>) -> Self {
        AwsError {
            action: action.into(),
            detail: detail.into(),
            code: None,
        }
    }
}
