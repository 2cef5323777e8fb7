//! Writing to stdout and stderr without a panic. `println!` panics when the stream is closed
//! (`kedro-sfn plan | head -1`) or full (`> /dev/full`), which would stop a deploy halfway
//! for the sake of a progress line. Here a failed write is remembered instead: the work goes
//! on, later lines to that stream are dropped, and `main` says at the end what could not be
//! written (a closed pipe ends quietly: its reader wanted no more).

use std::io::{self, Write};
use std::sync::Mutex;

/// The first failed write to stdout, other than a closed pipe.
static STDOUT_ERROR: Mutex<Option<String>> = Mutex::new(None);
/// Whether stdout (index 0) or stderr (index 1) failed once: later writes are skipped.
static FAILED: [std::sync::atomic::AtomicBool; 2] = [
    std::sync::atomic::AtomicBool::new(false),
    std::sync::atomic::AtomicBool::new(false),
];

/// A line on stdout (results, for scripts).
pub fn out(line: &str) {
    write(
        0,
        &mut io::stdout().lock(),
        format_args!("{}\n", inert(line)),
    );
}

/// Text on stdout as it is (a document, already ending with its newline).
pub fn out_raw(text: &str) {
    write(0, &mut io::stdout().lock(), format_args!("{text}"));
}

/// A line on stderr (progress, findings, errors).
pub fn err(line: &str) {
    write(
        1,
        &mut io::stderr().lock(),
        format_args!("{}\n", inert(line)),
    );
}

/// The line with every control character but newline and tab written as `\u{..}`: a node
/// or dataset name that carries terminal escapes (`\x1b[2J`) is shown, never obeyed.
pub fn inert(line: &str) -> std::borrow::Cow<'_, str> {
    let obeyed = |c: char| c.is_control() && c != '\n' && c != '\t';
    if !line.chars().any(obeyed) {
        return std::borrow::Cow::Borrowed(line);
    }
    line.chars()
        .map(|c| {
            if obeyed(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

fn write(stream: usize, writer: &mut dyn Write, text: std::fmt::Arguments) {
    use std::sync::atomic::Ordering;
    if FAILED[stream].load(Ordering::Relaxed) {
        return;
    }
    let result = writer.write_fmt(text).and_then(|()| writer.flush());
    if let Err(error) = result {
        FAILED[stream].store(true, Ordering::Relaxed);
        if stream == 0 && error.kind() != io::ErrorKind::BrokenPipe {
            if let Ok(mut first) = STDOUT_ERROR.lock() {
                first.get_or_insert_with(|| error.to_string());
            }
        }
    }
}

/// Why stdout could not take the output, when it could not (a closed pipe is not an error).
pub fn stdout_error() -> Option<String> {
    STDOUT_ERROR.lock().ok().and_then(|error| error.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails as a full disk does.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(28))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(inert("plain\tline\n"), "plain\tline\n");
        assert_eq!(
            inert("node \u{1b}[2Jclear\u{7}\u{9b}"),
            "node \\u{1b}[2Jclear\\u{7}\\u{9b}"
        );
    }

    #[test]
    fn a_failed_write_is_remembered_not_panicked_on() {
        write(0, &mut Full, format_args!("a result\n"));
        write(0, &mut Full, format_args!("another\n"));
        let error = stdout_error().expect("the first failure is kept");
        assert!(error.contains("No space left"), "{error}");
    }
}
