//! What people read: the plan summary in Markdown, the Mermaid picture, escaping.

pub mod comment;
pub mod diff;
pub mod escape;
pub mod mermaid;
pub mod summary;
