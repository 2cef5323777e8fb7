//! kedro-sfn: ship a Kedro project to AWS Step Functions.
//!
//! The flow is a pipeline of plain values, one module per arrow:
//!
//! ```text
//! PipelineDoc --check--> Problems
//!      |                               (pipeline/)
//!      +--group--> TaskGraph --decompose--> SpTree --render--> Definition + FunctionSpecs
//!                                                              (plan/)
//!                                            Plan --render--> summary.md (report/)
//! ```
//!
//! The pure core (`pipeline`, `plan`, `report`, `config`) knows nothing of AWS or GitHub.
//! `flow` is the application layer: plan or refuse, compare with the deployment, apply,
//! follow, roll back, build images, write a project's env; it takes plain requests and one
//! reporter. `commands` are thin shells: flags -> request -> flow -> printed result; the
//! GitHub Action (`commands::action`) is one more front end of the same flows. The edges:
//! `aws` (the only code that calls AWS), `github` (the only code that calls GitHub), `image`
//! (build contexts, builders, registries) and `process` (external tools, streamed).

pub mod aws;
pub mod commands;
pub mod config;
pub mod console;
pub mod flow;
pub mod github;
pub mod image;
pub mod pipeline;
pub mod plan;
pub mod process;
pub mod report;
pub mod synthetic;
pub mod user_file;

/// An error and its causes, one after another: "dispatch failure: io error: connection
/// refused" tells a user what "dispatch failure" alone does not.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut parts = vec![error.to_string()];
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if parts.last() != Some(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// Chooses rustls' crypto provider (aws-lc-rs, as the AWS SDK uses) once per process: two
/// HTTP stacks in this binary enable two providers, and rustls then refuses to guess.
pub fn init_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Err means a provider is installed already, which is just as good.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    });
}
