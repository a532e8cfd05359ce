//! SIGINT (Ctrl-C), SIGTERM and SIGHUP end a run between two steps instead
//! of killing it where it stands: the running test's child is killed, no
//! further test starts, and the caller gets control back to undo what it
//! changed (fresnel-ontarget puts the hardware opt-ins back). Off unless a
//! program asks for it; the handler only sets a flag (signal-hook), so the
//! process stays single-threaded for the runner's forks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};

/// The number of the first signal received; 0 while none was.
static RECEIVED: OnceLock<Arc<AtomicUsize>> = OnceLock::new();

/// Turn SIGINT, SIGTERM and SIGHUP into a stop request for the runner.
pub fn stop_on_signals() -> std::io::Result<()> {
    register(RECEIVED.get_or_init(|| Arc::new(AtomicUsize::new(0))))
}

/// The signal that asked the run to stop, if one did.
pub fn requested() -> Option<i32> {
    RECEIVED.get().and_then(|f| read(f))
}

fn register(flag: &Arc<AtomicUsize>) -> std::io::Result<()> {
    for sig in [SIGINT, SIGTERM, SIGHUP] {
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
        register(&flag).expect("handlers installed");
        assert_eq!(read(&flag), None);
        signal_hook::low_level::raise(SIGHUP).expect("raise");
        assert_eq!(read(&flag), Some(SIGHUP));
        assert_eq!(requested(), None, "the runner's own flag is untouched");
    }
}
