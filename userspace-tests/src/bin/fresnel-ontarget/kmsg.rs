//! The kernel log written while the run lasted: /dev/kmsg read from the
//! record after the last one that existed when it started, so that a
//! report from before the run (or from boot) is not blamed on it.

use std::fs::File;
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;

use anyhow::{Context, Result};

const KMSG: &str = "/dev/kmsg";

pub struct Since(File);

/// Marks the log's end now.
pub fn mark() -> Result<Since> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits())
        .open(KMSG)
        .with_context(|| {
            format!("open {KMSG} (the run reads the kernel log it causes; run as root)")
        })?;
    f.seek(SeekFrom::End(0))
        .with_context(|| format!("seek to the end of {KMSG}"))?;
    Ok(Since(f))
}

/// The text of one /dev/kmsg record: the message after `prio,seq,ts,flags;`,
/// without the `KEY=value` continuation lines.
fn message(record: &str) -> Option<&str> {
    let first = record.lines().next()?;
    first.split_once(';').map(|(_, m)| m)
}

impl Since {
    /// Every message logged since `mark`, one per line, and whether
    /// records were lost (overwritten before they were read: a report may
    /// be among them).
    pub fn read(mut self) -> Result<(String, bool)> {
        let mut text = String::new();
        let mut lost = false;
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            match self.0.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    if let Some(m) = message(&String::from_utf8_lossy(&buf[..n])) {
                        text.push_str(m);
                        text.push('\n');
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // EPIPE: records were overwritten before they were read;
                // the next read goes on from the oldest one left.
                Err(e) if e.raw_os_error() == Some(nix::libc::EPIPE) => lost = true,
                Err(e) => return Err(e).with_context(|| format!("read {KMSG}")),
            }
        }
        Ok((text, lost))
    }
}

#[cfg(test)]
mod tests {
    use super::message;

    #[test]
    fn a_record_gives_its_message_only() {
        assert_eq!(
            message("4,1234,5678,-;WARNING: CPU: 0 PID: 1 at x\n SUBSYSTEM=foo\n"),
            Some("WARNING: CPU: 0 PID: 1 at x")
        );
        assert_eq!(message("garbage"), None);
    }
}
