//! kedro-sfn's integration tests, one binary (one link of the AWS SDK): a module per
//! concern, each against real local services (moto, a registry, buildah, Kedro, the ASL
//! validator and interpreter). Run one module with `cargo test --test it <module>::`.

#[path = "../support/mod.rs"]
mod support;

mod action_e2e;
mod action_files;
mod bad_input;
mod checks;
mod child_machines;
mod deploy_moto;
mod ecr_moto;
mod ecs;
mod export_cache;
mod export_example;
mod faults;
mod handler_on_interpreter;
mod image_buildah;
mod init;
mod mermaid_render;
mod moto_execution;
mod operations;
mod plan_example;
mod planning;
mod project_env;
mod real_projects;
mod resume;
mod run_task;
mod transcoding;
mod wheel;
