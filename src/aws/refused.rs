//! A connection refused is final. The SDK retries it as a transient network error, and with
//! [`super::MAX_ATTEMPTS`] a command against an endpoint where nothing listens (an emulator
//! not started, a wrong `AWS_ENDPOINT_URL`) waited half a minute per call before it said so.
//! AWS's own endpoints do not refuse connections; a refusal means the endpoint is wrong.

use std::error::Error;

use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};

/// Forbids the retry of a call whose connection was refused.
#[derive(Debug, Clone, Copy)]
pub struct RefusedIsFinal;

impl ClassifyRetry for RefusedIsFinal {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let refused = matches!(ctx.output_or_error(), Some(Err(error))
            if error.as_connector_error().is_some_and(|e| is_refused(e)));
        if refused {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "connection refused is final"
    }

    /// After the transient-error classifier, whose verdict (retry) it overrides.
    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Whether an error, or one of its causes, is an I/O error of a refused connection.
pub fn is_refused(error: &(dyn Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if error
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
        {
            return true;
        }
        current = error.source();
    }
    false
}

/// What to say of a refused connection: the endpoint in use and what to check.
pub fn refused_hint() -> String {
    match std::env::var("AWS_ENDPOINT_URL") {
        Ok(url) if !url.is_empty() => format!(
            "nothing accepts connections at {url} (AWS_ENDPOINT_URL): start the emulator there, or correct or unset AWS_ENDPOINT_URL"
        ),
        _ => "the AWS endpoint refused the connection: check the region, AWS_ENDPOINT_URL_* and any proxy settings".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapper(std::io::Error);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("tcp connect error")
        }
    }

    impl Error for Wrapper {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            Some(&self.0)
        }
    }

    #[test]
    fn a_refusal_is_found_among_the_causes_and_nothing_else_is() {
        let refused = Wrapper(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert!(is_refused(&refused));
        let reset = Wrapper(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(!is_refused(&reset));
    }
}
