//! Runs external tools (image builders, Python) with an argument vector, never through a
//! shell, streaming their output as a progress line so long builds do not look hung, and
//! keeping the last lines so a failure can show what the tool said.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

/// How many of a tool's last lines a failure shows.
pub const TAIL_LINES: usize = 25;

/// One external command: the program, its arguments, and what it needs.
#[derive(Debug, Clone, Default)]
pub struct Tool {
    /// Shown in progress lines and errors, e.g. "buildah bud".
    pub label: String,
    pub program: PathBuf,
    pub args: Vec<OsString>,
    pub env: Vec<(OsString, OsString)>,
    pub current_dir: Option<PathBuf>,
    /// Written to the tool's standard input, which is then closed.
    pub stdin: Option<Vec<u8>>,
    /// What a user should do when the tool fails, printed after its last lines.
    pub hint: String,
}

/// What a finished tool printed.
#[derive(Debug, Clone)]
pub struct ToolOutput {
    pub stdout: Vec<u8>,
    pub seconds: f64,
}

/// Why a tool did not do its job.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("cannot run {program}: {source}; {hint}")]
    Spawn {
        program: String,
        source: std::io::Error,
        hint: String,
    },
    #[error("{label} failed (exit code {code}); its last lines:\n{tail}\n{hint}")]
    Failed {
        label: String,
        code: String,
        tail: String,
        hint: String,
    },
}

/// How a tool's stderr is shown while it runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Each line of output updates one status line (or is printed, when stderr is no
    /// terminal, as in CI logs); standard output is captured too.
    Stream,
    /// stdout is captured for the caller; stderr lines are passed through as they come.
    PassStderr,
    /// stdout is captured for the caller; stderr is kept for a failure's message only (a
    /// quick tool whose chatter would bury the result: git, the exporter).
    Quiet,
}

impl Tool {
    pub fn new(label: impl Into<String>, program: impl Into<PathBuf>) -> Self {
        Tool {
            label: label.into(),
            program: program.into(),
            ..Default::default()
        }
    }

    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    pub fn env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = hint.into();
        self
    }

    /// The command line, for logs (arguments longer than 80 characters are elided: the
    /// embedded Python programs are passed with `-c`).
    pub fn display(&self) -> String {
        let mut words = vec![self.program.display().to_string()];
        for arg in &self.args {
            let arg = arg.to_string_lossy();
            if arg.len() > 80 {
                words.push("<…>".to_string());
            } else {
                words.push(arg.into_owned());
            }
        }
        words.join(" ")
    }

    /// Runs the tool to its end; an exit code other than 0 is an error with its last lines.
    pub fn run(&self, progress: Progress) -> Result<ToolOutput, ToolError> {
        tracing::debug!(command = %self.display(), "running");
        let started = Instant::now();
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(if self.stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (key, value) in &self.env {
            command.env(key, value);
        }
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }
        let mut child = command.spawn().map_err(|source| ToolError::Spawn {
            program: self.program.display().to_string(),
            source,
            hint: self.hint.clone(),
        })?;
        if let (Some(input), Some(mut pipe)) = (self.stdin.clone(), child.stdin.take()) {
            // A writer thread: a tool that prints before reading must not deadlock us.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&input);
            });
        }
        let (lines_tx, lines_rx) = mpsc::channel::<String>();
        let stderr = child
            .stderr
            .take()
            .map(|pipe| spawn_line_reader(pipe, lines_tx.clone()));
        let stdout_reader = child.stdout.take().map(|mut pipe| {
            let tx = lines_tx.clone();
            let capture_only = progress != Progress::Stream;
            std::thread::spawn(move || {
                let mut captured = Vec::new();
                if capture_only {
                    let _ = pipe.read_to_end(&mut captured);
                } else {
                    let mut reader = BufReader::new(pipe);
                    let mut line = Vec::new();
                    while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                        captured.extend_from_slice(&line);
                        let _ = tx.send(String::from_utf8_lossy(&line).trim_end().to_string());
                        line.clear();
                    }
                }
                captured
            })
        });
        drop(lines_tx);

        let mut status_line = StatusLine::new(&self.label, progress);
        let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
        for line in lines_rx {
            status_line.show(&line, started);
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line);
        }
        status_line.finish();
        let stdout = stdout_reader
            .map(|handle| handle.join().unwrap_or_default())
            .unwrap_or_default();
        if let Some(handle) = stderr {
            let _ = handle.join();
        }
        let status = child.wait().map_err(|source| ToolError::Spawn {
            program: self.program.display().to_string(),
            source,
            hint: self.hint.clone(),
        })?;
        let seconds = started.elapsed().as_secs_f64();
        if !status.success() {
            return Err(ToolError::Failed {
                label: self.label.clone(),
                code: status
                    .code()
                    .map(|c| c.to_string())
                    .unwrap_or_else(|| "none: killed by a signal".into()),
                tail: tail
                    .iter()
                    .filter(|l| !l.trim().is_empty())
                    .map(|l| format!("  | {l}"))
                    .collect::<Vec<_>>()
                    .join("\n"),
                hint: self.hint.clone(),
            });
        }
        tracing::debug!(label = %self.label, seconds, "finished");
        Ok(ToolOutput { stdout, seconds })
    }
}

fn spawn_line_reader(
    pipe: impl Read + Send + 'static,
    tx: mpsc::Sender<String>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(pipe);
        let mut line = Vec::new();
        while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            let text = String::from_utf8_lossy(&line);
            // Builders redraw with carriage returns; the last segment is the current state.
            let text = text.trim_end().rsplit('\r').next().unwrap_or_default();
            let _ = tx.send(text.to_string());
            line.clear();
        }
    })
}

/// The commit checked out in `dir`, abbreviated to 12 hex digits; `None` outside a git
/// work tree or without git. Names image tags and state machine versions.
pub fn git_commit(dir: &std::path::Path) -> Option<String> {
    Tool::new("git rev-parse", "git")
        .arg("-C")
        .arg(dir.as_os_str())
        .args(["rev-parse", "--short=12", "HEAD"])
        .run(Progress::Quiet)
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .filter(|c| !c.is_empty() && c.chars().all(|ch| ch.is_ascii_hexdigit()))
}

/// One line on a terminal that shows the tool's latest output and the elapsed time; on
/// anything else (CI logs) every line is printed, indented under the label.
struct StatusLine {
    label: String,
    progress: Progress,
    terminal: bool,
    shown: bool,
}

impl StatusLine {
    fn new(label: &str, progress: Progress) -> Self {
        StatusLine {
            label: label.to_string(),
            progress,
            terminal: std::io::stderr().is_terminal(),
            shown: false,
        }
    }

    fn show(&mut self, line: &str, started: Instant) {
        if self.progress == Progress::Quiet {
            return;
        }
        let mut err = std::io::stderr().lock();
        if self.progress == Progress::PassStderr {
            let _ = writeln!(err, "{line}");
            return;
        }
        if line.trim().is_empty() {
            return;
        }
        if self.terminal {
            let text: String = line.chars().take(100).collect();
            let _ = write!(
                err,
                "\r\x1b[2K{} [{:>4.0} s] {text}",
                self.label,
                started.elapsed().as_secs_f64()
            );
            let _ = err.flush();
            self.shown = true;
        } else {
            let _ = writeln!(err, "  {} | {line}", self.label);
        }
    }

    fn finish(&mut self) {
        if self.shown {
            let _ = writeln!(std::io::stderr().lock(), "\r\x1b[2K");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_tool_shows_its_last_lines_and_the_hint() {
        let tool = Tool::new("sh test", "sh")
            .args([
                "-c",
                "for i in $(seq 1 40); do echo line $i >&2; done; exit 3",
            ])
            .hint("hint: do the thing");
        let error = tool.run(Progress::Stream).unwrap_err().to_string();
        assert!(error.contains("sh test failed (exit code 3)"), "{error}");
        assert!(
            error.contains("line 40") && error.contains("line 16"),
            "{error}"
        );
        assert!(!error.contains("line 15\n"), "{error}");
        assert!(error.ends_with("hint: do the thing"), "{error}");
    }

    #[test]
    fn stdout_is_captured_and_stdin_is_fed() {
        let mut tool = Tool::new("cat", "cat");
        tool.stdin = Some(b"hello\nworld\n".to_vec());
        let out = tool.run(Progress::PassStderr).unwrap();
        assert_eq!(out.stdout, b"hello\nworld\n");
    }

    #[test]
    fn a_missing_program_is_named() {
        let error = Tool::new("x", "/nonexistent/tool")
            .hint("install it")
            .run(Progress::Stream)
            .unwrap_err()
            .to_string();
        assert!(error.contains("/nonexistent/tool") && error.contains("install it"));
    }
}
