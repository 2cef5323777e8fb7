//! The Kedro side: the pipeline document the exporter prints, how its datasets are stored,
//! and the checks that refuse what would break on Lambda.

pub mod cache;
pub mod check;
pub mod export;
pub mod graph;
pub mod model;
pub mod params;
pub mod remote_env;
pub mod storage;

pub use model::{Dataset, Node, PipelineDoc, ProjectInfo};
