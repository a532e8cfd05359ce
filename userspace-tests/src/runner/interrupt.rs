//! SIGINT (Ctrl-C), SIGTERM and SIGHUP end a run between two steps instead
//! of killing it where it stands: the running test's child is killed, no
//! further test starts, and the caller gets control back to undo what it
//! changed (fresnel-ontarget puts the hardware opt-ins back). Off unless a
//! program asks for it; the handler only sets a flag (signal-hook), so the
//! process stays single-threaded for the runner's forks. A signal ignored
//! when the program started (`nohup`, a background job) stays ignored, and
//! a test's child gets the default actions back.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The number of the last signal received; 0 while none was.
static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();
/// The signals `stop_on_signals` took over.
static TAKEN: OnceLock<Vec<i32>> = OnceLock::new();

/// Turn SIGINT, SIGTERM and SIGHUP into a stop request for the runner,
/// those of them the process does not ignore.
pub fn stop_on_signals() -> std::io::Result<()> {
    let ignored = ignored_signals()?;
    let taken: Vec<i32> = [SIGINT, SIGTERM, SIGHUP]
        .into_iter()
        .filter(|s| !ignored.contains(s))
        .collect();
    register(
        RECEIVED.get_or_init(|| Arc::new(AtomicUsize::new(0))),
        &taken,
    )?;
    let _ = TAKEN.set(taken);
    Ok(())
}

/// In a test's forked child: the default actions back, so that a Ctrl-C
/// ends it even when the runner is gone.
pub fn release_in_child() {
    if let Some(taken) = TAKEN.get() {
        // Best effort: the parent kills the child on a stop request anyway.
        let _ = crate::sys::default_signal_actions(taken);
    }
}

/// The signals this process ignores (/proc/self/status `SigIgn`).
fn ignored_signals() -> std::io::Result<Vec<i32>> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    Ok(parse_sigign(&status))
}

fn parse_sigign(status: &str) -> Vec<i32> {
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
        .unwrap_or(0);
    (1..=64).filter(|s| mask & (1 << (s - 1)) != 0).collect()
}

/// The signal that asked the run to stop, if one did.
pub fn requested() -> Option<i32> {
    RECEIVED.get().and_then(|f| read(f))
}

fn register(flag: &Arc<AtomicUsize>, signals: &[i32]) -> std::io::Result<()> {
    for &sig in signals {
        signal_hook::flag::register_usize(sig, Arc::clone(flag), sig as usize)?;
    }
    Ok(())
}

fn read(flag: &AtomicUsize) -> Option<i32> {
    let sig = flag.load(Ordering::SeqCst);
    (sig != 0).then_some(sig as i32)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On a flag of its own: the runner tests running alongside in this
    /// process must not see a stop request.
    #[test]
    fn a_signal_is_recorded_not_fatal() {
        let flag = Arc::new(AtomicUsize::new(0));
        register(&flag, &[SIGHUP]).expect("handler installed");
        assert_eq!(read(&flag), None);
        signal_hook::low_level::raise(SIGHUP).expect("raise");
        assert_eq!(read(&flag), Some(SIGHUP));
        assert_eq!(requested(), None, "the runner's own flag is untouched");
    }

    #[test]
    fn ignored_signals_come_from_the_sigign_mask() {
        // SIGHUP (1) and SIGINT (2) ignored, as under `nohup ... &`.
        let status = "Name:\tx\nSigIgn:\t0000000000000003\nSigCgt:\t0\n";
        assert_eq!(parse_sigign(status), vec![SIGHUP, SIGINT]);
        assert!(parse_sigign("Name:\tx\n").is_empty());
    }
}
