//! Reading a file a user names (the config, a pipeline document): a regular file only, and
//! only up to a size. A FIFO would block the command forever and `/dev/zero` would read until
//! memory ran out; both are refused before a byte is read, with what to name instead.

use std::io::{self, Read};
use std::path::Path;

/// The most a config file may hold: a kedro-sfn.yml is a few kilobytes.
pub const CONFIG_MAX_BYTES: u64 = 1 << 20;

/// The most a pipeline document may hold: 10,000 nodes take about 10 MB.
pub const DOCUMENT_MAX_BYTES: u64 = 256 << 20;

/// The file's text, when it is a regular file of at most `max_bytes`.
pub fn read_text(path: &Path, max_bytes: u64) -> io::Result<String> {
    let metadata = std::fs::metadata(path)?;
    if !metadata.is_file() {
        let kind = if metadata.is_dir() {
            "a directory"
        } else {
            "not a regular file (a pipe, a device or a socket)"
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("it is {kind}; name a regular file"),
        ));
    }
    let too_large = |bytes: u64| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("it holds {bytes} bytes; at most {max_bytes} are read"),
        )
    };
    if metadata.len() > max_bytes {
        return Err(too_large(metadata.len()));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(max_bytes + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_large(bytes.len() as u64));
    }
    utf8(bytes)
}

/// The text of a file's bytes: UTF-8, with or without a byte-order mark; any other encoding
/// is named, with the fix.
fn utf8(bytes: Vec<u8>) -> io::Result<String> {
    let bad = |message: String| io::Error::new(io::ErrorKind::InvalidData, message);
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(bad(
            "it is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8".into(),
        ));
    }
    let body = bytes
        .strip_prefix(&[0xEF, 0xBB, 0xBF])
        .map_or(bytes.as_slice(), |rest| rest);
    match std::str::from_utf8(body) {
        Ok(text) => Ok(text.to_string()),
        Err(error) => Err(bad(format!(
            "it is not UTF-8 (byte {} is not); save it as UTF-8",
            error.valid_up_to()
        ))),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodings_are_named_and_a_utf8_mark_is_dropped() {
        assert_eq!(
            utf8(b"\xEF\xBB\xBFregion: x".to_vec()).expect("utf-8"),
            "region: x"
        );
        let utf16 = utf8(vec![0xFF, 0xFE, b'r', 0]).unwrap_err().to_string();
        assert!(
            utf16.contains("UTF-16") && utf16.contains("save it as UTF-8"),
            "{utf16}"
        );
        let latin1 = utf8(b"caf\xE9".to_vec()).unwrap_err().to_string();
        assert!(latin1.contains("not UTF-8 (byte 3"), "{latin1}");
    }

    use super::*;

    #[test]
    fn a_regular_file_is_read_and_anything_else_refused_without_reading() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("k.yml");
        std::fs::write(&file, "region: eu-west-1\n").expect("write");
        assert_eq!(read_text(&file, 100).expect("reads"), "region: eu-west-1\n");

        let large = read_text(&file, 5).expect_err("over the cap");
        assert!(large.to_string().contains("at most 5"), "{large}");

        let directory = read_text(dir.path(), 100).expect_err("a directory");
        assert!(directory.to_string().contains("a directory"), "{directory}");

        let zero = read_text(Path::new("/dev/zero"), 100).expect_err("a device");
        assert!(zero.to_string().contains("not a regular file"), "{zero}");
    }
}
