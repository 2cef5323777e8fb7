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
//! The pure core (`pipeline`, `plan`, `report`, `config`) knows nothing of AWS or GitHub;
//! `commands` are thin shells that read files, run the core and write results. The edges:
//! `aws` (the only code that calls AWS), `image` (build contexts, builders, registries) and
//! `process` (external tools, streamed).

pub mod aws;
pub mod commands;
pub mod config;
pub mod image;
pub mod pipeline;
pub mod plan;
pub mod process;
pub mod report;
pub mod synthetic;
