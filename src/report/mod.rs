//! What people read: the plan summary in Markdown, the pull-request comment and the
//! deployment record, the Mermaid picture, escaping.

pub mod comment;
pub mod deployment;
pub mod diff;
pub mod escape;
pub mod json_text;
pub mod mermaid;
pub mod operations;
pub mod review;
pub mod run_chart;
pub mod run_cost;
pub mod summary;
pub mod timeline;
