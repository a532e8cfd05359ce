//! One test in a forked child: its outcome comes back through a pipe as one
//! line; a panic is caught in the child and reported; the parent kills a
//! child that exceeds its limit, and leaves behind one that does not die
//! after SIGKILL (a task stuck in the kernel) rather than wait for it.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::sys::{self, Forked};
use crate::verdict::Category;
use crate::verdict::Outcome;

thread_local! {
    /// Set on the main thread of a test's child process.
    static IN_CHILD: Cell<bool> = const { Cell::new(false) };
    /// Where the last panic of this thread happened.
    static PANIC_AT: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// In a child, a panic of the test's own thread is recorded (and reported
/// as its outcome) instead of printed; every other panic goes to the hook
/// that was there before.
fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_CHILD.with(Cell::get) {
                let at = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                PANIC_AT.with(|p| *p.borrow_mut() = at);
            } else {
                previous(info);
            }
        }));
    });
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(a panic without a message)".to_string());
    match PANIC_AT.with(|p| p.borrow_mut().take()) {
        Some(at) => format!("{msg} (at {at})"),
        None => msg,
    }
}

/// The report a child writes: one line.
fn encode(o: &Outcome) -> String {
    let flat = |s: &str| s.replace('\n', " | ");
    match o {
        Outcome::Pass => "PASS\n".to_string(),
        Outcome::Skip(r) => format!("SKIP {}\n", flat(r)),
        Outcome::Fail(c, r) => format!("FAIL {c} {}\n", flat(r)),
    }
}

fn decode(line: &str) -> Option<Outcome> {
    if line == "PASS" {
        return Some(Outcome::Pass);
    }
    if let Some(r) = line.strip_prefix("SKIP ") {
        return Some(Outcome::Skip(r.to_string()));
    }
    let (cat, reason) = line.strip_prefix("FAIL ")?.split_once(' ')?;
    let cat = Category::ALL.into_iter().find(|c| c.as_str() == cat)?;
    Some(Outcome::Fail(cat, reason.to_string()))
}

fn write_all(fd: &OwnedFd, mut buf: &[u8]) {
    while !buf.is_empty() {
        match nix::unistd::write(fd, buf) {
            Ok(0) => return,
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR) => {}
            // The parent is gone or stopped listening: nobody to tell.
            Err(_) => return,
        }
    }
}

fn error(msg: String) -> Outcome {
    Outcome::Fail(Category::Error, msg)
}

fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// Run `run(ctx)` in a forked child; its outcome, or what went wrong with
/// the child.
pub fn run_in_child<C>(
    run: &dyn Fn(&C) -> Outcome,
    ctx: &C,
    limit: Duration,
    kill_grace: Duration,
) -> Outcome {
    install_panic_hook();
    let (rx, tx) = match nix::unistd::pipe2(OFlag::O_CLOEXEC) {
        Ok(p) => p,
        Err(e) => return error(format!("pipe2: {e}")),
    };
    match sys::fork_process() {
        Err(e) => error(format!("fork: {e}")),
        Ok(Forked::Child) => {
            drop(rx);
            IN_CHILD.with(|c| c.set(true));
            super::interrupt::release_in_child();
            let outcome = catch_unwind(AssertUnwindSafe(|| run(ctx)))
                .unwrap_or_else(|p| Outcome::Fail(Category::Panic, panic_message(&*p)));
            write_all(&tx, encode(&outcome).as_bytes());
            sys::child_exit(0);
        }
        Ok(Forked::Parent(pid)) => {
            drop(tx);
            watch(pid, &rx, limit, kill_grace)
        }
    }
}

enum Report {
    Line(String),
    /// The child closed the pipe without a whole line.
    Eof,
    TimedOut,
    /// A signal asked the run to stop (`interrupt`).
    Interrupted(i32),
}

/// How long one poll waits at most, so that a stop request that arrives
/// just before it is seen soon after.
const POLL_SLICE: Duration = Duration::from_millis(200);

/// Read the child's line until `deadline`. A grandchild may hold the pipe
/// open after the child exits, so the line, not EOF, ends the read.
fn read_report(rx: &OwnedFd, deadline: Instant) -> Result<Report, Errno> {
    let mut buf = Vec::new();
    loop {
        if let Some(i) = buf.iter().position(|&b| b == b'\n') {
            return Ok(Report::Line(
                String::from_utf8_lossy(&buf[..i]).into_owned(),
            ));
        }
        if let Some(sig) = super::interrupt::requested() {
            return Ok(Report::Interrupted(sig));
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(Report::TimedOut);
        }
        let mut fds = [PollFd::new(rx.as_fd(), PollFlags::POLLIN)];
        let t = PollTimeout::try_from(left.min(POLL_SLICE)).unwrap_or(PollTimeout::MAX);
        match nix::poll::poll(&mut fds, t) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
        let mut chunk = [0u8; 4096];
        match nix::unistd::read(std::os::fd::AsRawFd::as_raw_fd(rx), &mut chunk) {
            Ok(0) => return Ok(Report::Eof),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(Errno::EINTR) => {}
            Err(e) => return Err(e),
        }
    }
}

/// Reap `pid` if it exits before `deadline`.
fn reap_by(pid: Pid, deadline: Instant) -> Option<WaitStatus> {
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => {}
            Ok(s) => return Some(s),
            Err(Errno::EINTR) => {}
            // ECHILD: already reaped; nothing more to learn.
            Err(_) => return None,
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// SIGKILL the child and reap it; a sentence for the report when it does
/// not die within `grace`.
fn kill_and_reap(pid: Pid, grace: Duration) -> String {
    let _ = kill(pid, Signal::SIGKILL);
    match reap_by(pid, Instant::now() + grace) {
        Some(_) => "killed with SIGKILL".to_string(),
        None => format!(
            "still alive {} after SIGKILL (stuck in the kernel?): pid {pid} left behind",
            seconds(grace)
        ),
    }
}

fn watch(pid: Pid, rx: &OwnedFd, limit: Duration, grace: Duration) -> Outcome {
    let deadline = Instant::now() + limit;
    let report = match read_report(rx, deadline) {
        Ok(r) => r,
        Err(e) => {
            let fate = kill_and_reap(pid, grace);
            return error(format!("reading the test's result: {e}; {fate}"));
        }
    };
    let line = match report {
        Report::TimedOut => {
            let fate = kill_and_reap(pid, grace);
            return Outcome::Fail(
                Category::Timeout,
                format!("no result within its limit of {}; {fate}", seconds(limit)),
            );
        }
        Report::Interrupted(sig) => {
            let fate = kill_and_reap(pid, grace);
            return error(format!("stopped by signal {sig} before it ended; {fate}"));
        }
        Report::Line(l) => Some(l),
        Report::Eof => None,
    };
    let status = reap_by(pid, deadline);
    match (line, status) {
        (Some(l), Some(_)) => {
            decode(&l).unwrap_or_else(|| error(format!("unreadable result from the test: {l:?}")))
        }
        (Some(l), None) => {
            let fate = kill_and_reap(pid, grace);
            Outcome::Fail(
                Category::Timeout,
                format!(
                    "reported {l:?} but did not exit within its limit of {}; {fate}",
                    seconds(limit)
                ),
            )
        }
        (None, Some(WaitStatus::Exited(_, code))) => error(format!(
            "the test process exited with status {code} without a result"
        )),
        (None, Some(WaitStatus::Signaled(_, sig, _))) => error(format!(
            "the test process was killed by {sig} without a result"
        )),
        (None, Some(s)) => error(format!("the test process ended without a result: {s:?}")),
        (None, None) => {
            let fate = kill_and_reap(pid, grace);
            Outcome::Fail(
                Category::Timeout,
                format!(
                    "closed its result pipe but did not exit within its limit of {}; {fate}",
                    seconds(limit)
                ),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_round_trip() {
        for o in [
            Outcome::Pass,
            Outcome::Skip("modprobe vim2m".into()),
            Outcome::Fail(Category::NoFence, "poll says idle: a b".into()),
            Outcome::Fail(Category::Timeout, "x".into()),
        ] {
            let line = encode(&o);
            assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
            assert_eq!(decode(line.trim_end_matches('\n')), Some(o));
        }
        let two_lines = Outcome::Fail(Category::Error, "a\nb".into());
        assert_eq!(
            decode(encode(&two_lines).trim_end()),
            Some(Outcome::Fail(Category::Error, "a | b".into()))
        );
        assert_eq!(decode("FAIL bogus reason"), None);
        assert_eq!(decode("what"), None);
    }
}
