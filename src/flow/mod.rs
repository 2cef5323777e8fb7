//! The application layer: the flows that every front end runs (the commands, the GitHub
//! Action). A flow takes plain requests (no clap types), reports through one [`Reporter`],
//! and returns what it did; the commands parse flags into requests and print results. Below
//! it the core (`pipeline`, `plan`, `report`) knows nothing of AWS or GitHub, and the edges
//! (`aws`, `image`, `github`) take plain data in and give plain data out.
//!
//! - [`session`]: the sequence every front end runs (load, durations, plan or refuse;
//!   compare, apply, execute), written once;
//! - [`source`]: the pipeline document, exported (through the cache) or read from a file;
//! - [`history`]: how long each task took in past executions, read before planning;
//! - [`planning`]: plan, or refuse with every problem named (one behaviour everywhere);
//! - [`outputs`]: the plan files (`state-machine.asl.json`, `plan.json`, `summary.md`);
//! - [`prepare`]: read the deployment and compute the change set; changes nothing;
//! - [`apply`]: apply a prepared change set;
//! - [`execution`]: start an execution and follow it;
//! - [`rollback`]: move the alias back;
//! - [`run_task`]: run one task here through the real handler;
//! - [`project_env`]: the cached Python environment the action exports with;
//! - [`image`]: build and push the Lambda image;
//! - [`init`]: write a project's AWS env.
//!
//! The GitHub Action's run is in [`crate::github::workflow`], on top of these.

pub mod apply;
pub mod execution;
pub mod history;
pub mod image;
pub mod init;
pub mod outputs;
pub mod planning;
pub mod prepare;
pub mod project_env;
pub mod reporter;
pub mod resume;
pub mod rollback;
pub mod run_task;
pub mod session;
pub mod source;

pub use reporter::{Reporter, Terminal};

use std::future::Future;

use anyhow::Context;

/// Runs async work (the AWS SDK's) to its end: the one place a runtime is made.
pub fn block_on<T>(work: impl Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Runtime::new()
        .context("cannot start the async runtime")?
        .block_on(work)
}
