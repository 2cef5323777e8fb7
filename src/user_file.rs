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
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(max_bytes + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > max_bytes {
        return Err(too_large(text.len() as u64));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
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
