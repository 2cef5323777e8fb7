//! The only code that calls AWS. Each service module takes plain data in and gives plain
//! data out; errors carry the whole cause chain, because the SDK's top-level text ("dispatch
//! failure", "service error") alone tells a user nothing.

pub mod ecr;

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
    pub fn new<E, R>(action: impl Into<String>, error: aws_sdk_ecr::error::SdkError<E, R>) -> Self
    where
        E: std::error::Error + aws_sdk_ecr::error::ProvideErrorMetadata + 'static,
        R: std::fmt::Debug,
    {
        use aws_sdk_ecr::error::ProvideErrorMetadata;
        let code = error.code().map(str::to_string);
        let detail = aws_sdk_ecr::error::DisplayErrorContext(&error).to_string();
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
