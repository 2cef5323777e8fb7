//! A read-only bind mount, as Lambda's task root is read-only (needs root, as CI runs).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `source` seen read-only at a new directory; unmounted when dropped.
pub struct ReadOnlyMount {
    pub path: PathBuf,
    _dir: tempfile::TempDir,
}

impl ReadOnlyMount {
    pub fn new(source: &Path) -> ReadOnlyMount {
        let euid = Command::new("id").arg("-u").output().expect("id runs");
        assert!(
            String::from_utf8_lossy(&euid.stdout).trim() == "0",
            "a read-only bind mount (Lambda's read-only task root) needs root: run the tests as root, as CI does"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("task-root");
        std::fs::create_dir(&path).expect("mkdir");
        let mount = |args: &[&str], target: &Path| {
            let output = Command::new("mount")
                .args(args)
                .arg(target)
                .output()
                .expect("mount runs (util-linux)");
            assert!(
                output.status.success(),
                "mount {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let source = source.to_string_lossy().into_owned();
        mount(&["--bind", &source], &path);
        let mounted = ReadOnlyMount { path, _dir: dir };
        mount(&["-o", "remount,bind,ro"], &mounted.path);
        assert!(
            std::fs::write(mounted.path.join(".probe"), b"x").is_err(),
            "the mount is writable"
        );
        mounted
    }
}

impl Drop for ReadOnlyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}
