//! The Amazon States Language definition: states from the tree, the event a Task state hands
//! its task, and the names and ARNs it uses.

pub mod arns;
pub mod asl;
pub mod names;
pub mod task_event;
pub mod tree;
pub mod view;
