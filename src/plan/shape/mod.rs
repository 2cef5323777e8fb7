//! The machine's shape: the DAG of tasks, its series-parallel tree, and the split into child
//! machines; how nodes are grouped into tasks.

pub mod dag;
pub mod grouping;
pub mod sp_tree;
pub mod split;
