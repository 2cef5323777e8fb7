//! How flows tell the user what happens, whoever the user is: a terminal, or a GitHub job
//! log with annotations. One handle is passed down, so a flow never chooses between
//! `println!` and `eprintln!` itself.

use crate::pipeline::check::Problem;

/// Receives what a flow has to say.
pub trait Reporter: Sync {
    /// A finding of the checks (errors before a refusal, warnings of a plan).
    fn finding(&self, problem: &Problem);
    /// A step of long work: a function created, a task of an execution started.
    fn progress(&self, line: &str);
    /// A result line: what was planned, deployed or started.
    fn result(&self, line: &str);
    /// A value that must never show in a log (a registry password): a job log masks it
    /// from then on. Nothing prints it; this guards against a tool that would.
    fn secret(&self, _value: &str) {}
}

/// The terminal: results on stdout (for scripts), the rest on stderr.
#[derive(Debug, Clone, Copy, Default)]
pub struct Terminal;

impl Reporter for Terminal {
    fn finding(&self, problem: &Problem) {
        crate::console::err(&format!("{problem}"));
    }

    fn progress(&self, line: &str) {
        crate::console::err(&format!("  {line}"));
    }

    fn result(&self, line: &str) {
        crate::console::out(line);
    }
}
