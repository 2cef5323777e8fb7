//! The GitHub edge, and the only code that knows GitHub: the Actions runner's environment
//! (inputs, outputs, workflow commands, the job summary), the REST API (the sticky
//! comment), and the action's run, which sequences the same flows as the commands and
//! reports through the job log. Nothing below `commands` imports it.

pub mod actions;
pub mod api;
pub mod outputs;
pub mod workflow;
