//! Opening device nodes and files the suite needs, with the failure told
//! apart: absent or not permitted for this user (`verdict::absent`, with the
//! command that fixes it) versus broken (a plain error).

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use anyhow::{anyhow, Result};

use crate::verdict::absent;

/// How to get permission on `path`: root, or the group that owns it.
pub fn permission_fix(path: &Path) -> String {
    let group = std::fs::metadata(path).ok().and_then(|m| {
        nix::unistd::Group::from_gid(nix::unistd::Gid::from_raw(m.gid()))
            .ok()
            .flatten()
            .map(|g| g.name)
    });
    match group {
        Some(g) if g != "root" => format!(
            "no permission on {}: run as root or add yourself to the group that owns it ({g})",
            path.display()
        ),
        _ => format!("no permission on {}: run as root", path.display()),
    }
}

/// The error of an open of `path`: absent (`fix_absent` says how to get
/// it), not permitted, or broken.
pub fn open_error(path: &Path, e: &std::io::Error, fix_absent: &str) -> anyhow::Error {
    match e.kind() {
        ErrorKind::NotFound => absent(format!("{} absent: {fix_absent}", path.display())),
        ErrorKind::PermissionDenied => absent(permission_fix(path)),
        _ => anyhow!("open {}: {e}", path.display()),
    }
}

/// Open `path` (read-only, or read-write), classifying a failure as
/// `open_error` does.
pub fn open_node(path: &str, write: bool, fix_absent: &str) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(write)
        .open(path)
        .map_err(|e| open_error(Path::new(path), &e, fix_absent))
}

/// A file the suite writes (a module parameter): absent or not writable
/// for this user is an absence; the write itself is left to the test, so
/// that a failed write is its error.
pub fn writable(path: &str, fix_absent: &str) -> Result<()> {
    let p = Path::new(path);
    if !p.exists() {
        return Err(absent(format!("{path} absent: {fix_absent}")));
    }
    nix::unistd::access(p, nix::unistd::AccessFlags::W_OK)
        .map_err(|_| absent(format!("{path} is not writable for this user: run as root")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::is_absent;

    #[test]
    fn absent_and_denied_are_absences() {
        let e = open_node("/nonexistent/fence-suite-node", false, "modprobe x")
            .expect_err("no such node");
        assert!(is_absent(&e));
        assert!(format!("{e}").ends_with("absent: modprobe x"), "{e}");
        let denied = std::io::Error::from(ErrorKind::PermissionDenied);
        let e = open_error(Path::new("/dev/null"), &denied, "-");
        assert!(is_absent(&e));
        assert!(format!("{e}").starts_with("no permission on /dev/null: run as root"));
        let busy = std::io::Error::from_raw_os_error(nix::libc::EBUSY);
        assert!(!is_absent(&open_error(Path::new("/dev/null"), &busy, "-")));
    }
}
