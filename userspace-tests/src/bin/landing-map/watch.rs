//! `landing-map watch`: reset rust-kmod's record ring, run the command (or
//! wait), read the ring and `/proc/*/fd` while it runs, then fold and judge
//! what was seen (`userspace_tests::watch`, pure and unit-tested).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use landing_model::watch::{exit_text, WatchReport, SAMPLING_ORACLE};
use nix::errno::Errno;
use userspace_tests::oracle::{kmod_records, poll_now, sync_view, KMOD_DEV, VB2_DRIVER};
use userspace_tests::sys;
use userspace_tests::watch::{analyse, merge, table, HeldDmaBuf, Look, Observed, Sampled};

#[derive(clap::Args)]
pub struct WatchArgs {
    /// Watch for this many seconds instead of running a command.
    #[arg(long, conflicts_with = "command")]
    seconds: Option<f64>,
    /// A fence pending longer than this (ms) is an anomaly; a fence still
    /// pending at the end gets this long to signal.
    #[arg(long, default_value_t = 1000)]
    pending_bound_ms: u64,
    /// Which oracle: `auto` (rust-kmod's records, or the sampling fallback
    /// where the module cannot be opened: the report names the oracle, and
    /// sampling never finds an anomaly), `kmod` (the module's records, or
    /// the watch fails: exit 2), or `sampling` (poll()/sync_file looks at
    /// the dma-bufs the watched processes hold, even where the module is
    /// loaded: to check the fallback itself). The module's record ring is
    /// one for the whole system, and the watch starts by resetting it: a
    /// second watch or a suite run at the same time loses records.
    #[arg(long, value_enum, default_value_t = OracleChoice::Auto)]
    oracle: OracleChoice,
    /// After the command has exited, how long (ms) its remaining
    /// descendants are still followed; those still running then are
    /// killed, and the report names them.
    #[arg(long, default_value_t = 10_000)]
    follow_ms: u64,
    /// Run the command again, each run watched afresh, until it exits 0 or
    /// this many runs have been made. For third-party clients whose own
    /// timeouts a TCG guest can outlast (v4l2-compliance gives a frame 2 s
    /// in select()); the report is the last run's and lists the failed ones.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=5))]
    attempts: u32,
    /// The client to watch (its stdout goes to stderr, so that the report
    /// alone is on stdout, its JSON on one line).
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OracleChoice {
    Auto,
    Kmod,
    Sampling,
}

/// How often the ring and `/proc` are sampled.
const TICK: Duration = Duration::from_millis(100);

/// The watched command ran and did not exit 0.
fn client_failed(report: &WatchReport) -> bool {
    !report.command.is_empty() && report.command_status != Some(0)
}

/// `run`, again while the client fails and attempts are left.
fn run_attempts(args: &WatchArgs) -> Result<WatchReport> {
    let mut failed = Vec::new();
    // What a failed run saw stays in the report (its anomalies, the records
    // its ring dropped): a retry hides no anomaly.
    let mut earlier_anomalies = Vec::new();
    let mut earlier_dropped = 0;
    loop {
        let mut report = run(args)?;
        if client_failed(&report) && failed.len() + 1 < args.attempts as usize {
            eprintln!(
                "landing-map watch: run {} of {} of `{}` exited {}; watching it again",
                failed.len() + 1,
                args.attempts,
                args.command.join(" "),
                exit_text(report.command_status)
            );
            failed.push(report.command_status);
            earlier_dropped += report.dropped;
            let run_n = failed.len();
            earlier_anomalies.extend(report.anomalies.into_iter().map(|mut a| {
                a.evidence = format!("run {run_n}: {}", a.evidence);
                a
            }));
            continue;
        }
        report.failed_attempts = failed;
        report.anomalies.splice(0..0, earlier_anomalies);
        report.dropped += earlier_dropped;
        return Ok(report);
    }
}

pub fn main(args: &WatchArgs, json: bool) -> ExitCode {
    match run_attempts(args) {
        Ok(report) => {
            let text = if json {
                match serde_json::to_string(&report) {
                    Ok(j) => format!("{j}\n"),
                    Err(e) => {
                        eprintln!("landing-map watch: report as JSON: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                table(&report)
            };
            let _ = std::io::stdout().write_all(text.as_bytes());
            if !report.anomalies.is_empty() {
                ExitCode::FAILURE
            } else if client_failed(&report) {
                ExitCode::from(3)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("landing-map watch: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// What `/proc` showed: dma-bufs by inode, and the V4L2 nodes held.
#[derive(Default)]
struct ProcSeen {
    held: BTreeMap<u64, HeldDmaBuf>,
    devices: BTreeSet<String>,
    /// The dma-bufs the watched processes hold right now: (pid, fd, inode).
    watched_fds: Vec<(i32, RawFd, u64)>,
}

/// The live (not zombie) pids in `/proc` and their parents.
fn parents() -> BTreeMap<i32, i32> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return BTreeMap::new();
    };
    procs
        .flatten()
        .filter_map(|p| {
            let pid: i32 = p.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(p.path().join("stat")).ok()?;
            let (state, ppid) = state_and_ppid(&stat)?;
            (state != "Z").then_some((pid, ppid))
        })
        .collect()
}

/// The state and the parent pid in a `/proc/PID/stat` line:
/// `pid (comm) state ppid ...`, where comm may hold spaces and parentheses.
fn state_and_ppid(stat: &str) -> Option<(&str, i32)> {
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?;
    Some((state, fields.next()?.parse().ok()?))
}

/// Every live process below `root` (zombies left out: they hold no fd).
fn descendants_of(root: i32) -> BTreeSet<i32> {
    let parents = parents();
    let mut tree = BTreeSet::new();
    loop {
        let before = tree.len();
        for (pid, ppid) in &parents {
            if *ppid == root || tree.contains(ppid) {
                tree.insert(*pid);
            }
        }
        if tree.len() == before {
            return tree;
        }
    }
}

/// Reap the client's orphaned descendants that have exited (the watch is
/// their subreaper). Only once the client itself has been reaped, so that
/// its status is not taken here.
fn reap_orphans() {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
        if status == WaitStatus::StillAlive {
            break;
        }
    }
}

/// One pass over `/proc/*/fd` (other processes' fds are visible to root
/// only; what cannot be read is skipped). `watched`: the processes whose
/// dma-bufs count as the client's and that the sampling oracle looks at
/// (None: every process).
fn scan_proc(seen: &mut ProcSeen, watched: Option<&BTreeSet<i32>>) {
    seen.watched_fds.clear();
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for p in procs.flatten() {
        let pid = p.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let pid_n: Option<i32> = pid.parse().ok();
        let is_watched = match (pid_n, watched) {
            (Some(n), Some(w)) => w.contains(&n),
            (Some(_), None) => true,
            (None, _) => false,
        };
        let Ok(fds) = std::fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let comm = std::fs::read_to_string(p.path().join("comm")).unwrap_or_default();
        let who = format!("{}[{pid}]", comm.trim());
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let target = target.to_string_lossy();
            if target.starts_with("/dmabuf:") || target.starts_with("anon_inode:dmabuf") {
                let Ok(meta) = std::fs::metadata(fd.path()) else {
                    continue;
                };
                let info = p.path().join("fdinfo").join(fd.file_name());
                let exporter = std::fs::read_to_string(info)
                    .ok()
                    .and_then(|t| {
                        t.lines()
                            .find_map(|l| l.strip_prefix("exp_name:"))
                            .map(|v| v.trim().to_string())
                    })
                    .unwrap_or_default();
                let h = seen.held.entry(meta.ino()).or_default();
                if h.exporter.is_empty() {
                    h.exporter = exporter;
                }
                h.holders.insert(who.clone());
                // What others hold (a compositor the client hands frames
                // to) is listed, but not the client's to fence.
                h.by_client |= is_watched;
                let fd_n = fd.file_name().to_str().and_then(|f| f.parse().ok());
                if let (true, Some(pid_n), Some(fd_n)) = (is_watched, pid_n, fd_n) {
                    seen.watched_fds.push((pid_n, fd_n, meta.ino()));
                }
            } else if let Some(node) = target.strip_prefix("/dev/") {
                if node.starts_with("video") {
                    let name =
                        std::fs::read_to_string(format!("/sys/class/video4linux/{node}/name"))
                            .unwrap_or_default();
                    seen.devices.insert(format!("/dev/{node} {}", name.trim()));
                }
            }
        }
    }
}

/// The sampling oracle's look at every dma-buf the watched processes hold
/// now: a duplicate of their fd (pidfd_getfd), poll() and an exported
/// sync_file on it, then closed again. A process or fd gone since the scan
/// is no failure.
fn sample_fds(fds: &[(i32, RawFd, u64)], sampled: &mut Sampled) {
    let gone = |e: &Errno| matches!(e, Errno::ESRCH | Errno::EBADF);
    let mut pidfds = BTreeMap::new();
    for &(pid, fd, ino) in fds {
        let pidfd = match pidfds.entry(pid).or_insert_with(|| sys::pidfd_open(pid)) {
            Ok(p) => p,
            Err(e) if gone(e) => continue,
            Err(e) => {
                sampled.fail(format!("pidfd_open: {e}"));
                continue;
            }
        };
        let dup = match sys::pidfd_getfd(pidfd.as_fd(), fd) {
            Ok(d) => d,
            Err(e) if gone(&e) => continue,
            Err(e) => {
                sampled.fail(format!("pidfd_getfd: {e}"));
                continue;
            }
        };
        // The fd may have been closed and reused since the scan.
        if sys::inode_of(&dup).ok() != Some(ino) {
            continue;
        }
        let busy = match poll_now(dup.as_fd()) {
            Ok((_, out_ready)) => !out_ready,
            Err(e) => {
                sampled.fail(format!("{e:#}"));
                continue;
            }
        };
        match sync_view(dup.as_fd(), sys::DMA_BUF_SYNC_WRITE as u32) {
            Ok((_, view)) => sampled.add(
                Look {
                    ino,
                    busy,
                    fences: view
                        .fences
                        .into_iter()
                        .map(|f| (f.driver_name, f.obj_name, f.status))
                        .collect(),
                },
                VB2_DRIVER,
            ),
            Err(e) => sampled.fail(format!("{e:#}")),
        }
    }
}

/// The watched client: killed and reaped if the watch ends before it does
/// (an error, or the watch itself failing), so that no client outlives a
/// watch that cannot report on it.
struct Client {
    child: Child,
    status: Option<std::process::ExitStatus>,
}

impl Client {
    /// The client's exit status once it has exited (reaped then).
    fn exited(&mut self) -> Result<Option<std::process::ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait().context("wait for the command")?;
        }
        Ok(self.status)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = self.child.kill();
        }
        kill_descendants();
        // A client stuck in an uninterruptible ioctl is left behind
        // rather than hanging the watch that reports the failure.
        let end = Instant::now() + Duration::from_secs(5);
        while self.status.is_none() && Instant::now() < end {
            self.status = self.child.try_wait().ok().flatten();
            std::thread::sleep(TICK);
        }
        reap_orphans();
    }
}

/// SIGKILL every live descendant of the watch (the client's tree, which
/// it is the subreaper of); their pids and names, for the report.
fn kill_descendants() -> Vec<String> {
    use nix::sys::signal::{kill, Signal};
    let me = std::process::id() as i32;
    descendants_of(me)
        .into_iter()
        .map(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let _ = kill(nix::unistd::Pid::from_raw(pid), Signal::SIGKILL);
            format!("{}[{pid}]", comm.trim())
        })
        .collect()
}

fn spawn(command: &[String]) -> Result<Child> {
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .context("dup stderr for the command's stdout")?;
    Command::new(&command[0])
        .args(&command[1..])
        .stdout(Stdio::from(stderr))
        .spawn()
        .with_context(|| format!("run {:?}", command.join(" ")))
}

fn run(args: &WatchArgs) -> Result<WatchReport> {
    if args.command.is_empty() && args.seconds.is_none() {
        bail!("nothing to watch: give --seconds N or -- COMMAND...");
    }
    if let Some(s) = args.seconds.filter(|s| !(s.is_finite() && *s > 0.0)) {
        bail!("--seconds {s}: expected a number of seconds above 0");
    }
    let bound = Duration::from_millis(args.pending_bound_ms);
    let mut report = WatchReport {
        command: args.command.clone(),
        ..Default::default()
    };
    // The kmod: open (it is refused on a kernel without the series) and
    // reset.
    let opened = match args.oracle {
        OracleChoice::Auto | OracleChoice::Kmod => std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(KMOD_DEV)
            .map_err(|e| {
                format!(
                    "{KMOD_DEV}: {e} (the vb2_fence_probe module loads only on a kernel with the \
                     series)"
                )
            }),
        OracleChoice::Sampling => {
            report.forced_oracle = true;
            Err("--oracle sampling: rust-kmod not used, by request".to_string())
        }
    };
    let probe = match opened {
        Ok(f) => {
            sys::vb2fp_reset(f.as_fd())
                .with_context(|| format!("VB2FP_IOC_RESET on {KMOD_DEV}"))?;
            report.oracle = "kmod".into();
            Some(f)
        }
        Err(why) if args.oracle == OracleChoice::Kmod => bail!("--oracle kmod: {why}"),
        Err(why) => {
            report.oracle = SAMPLING_ORACLE.into();
            report.oracle_note = why;
            None
        }
    };
    let mut sampled = Sampled::default();
    let t0 = Instant::now();
    // Descendants the client leaves behind (daemonised, re-exec'd into the
    // background) are reparented to the watch rather than to init, so the
    // watch follows them until the last has exited.
    nix::sys::prctl::set_child_subreaper(true).context("PR_SET_CHILD_SUBREAPER")?;
    let mut client = if args.command.is_empty() {
        None
    } else {
        Some(Client {
            child: spawn(&args.command)?,
            status: None,
        })
    };
    let deadline = args.seconds.map(|s| t0 + Duration::from_secs_f64(s));
    let mut records = Vec::new();
    let mut seen = ProcSeen::default();
    let me = i32::try_from(std::process::id()).context("this process's id")?;
    let watching_client = client.is_some();
    let mut sample =
        |records: &mut Vec<_>, seen: &mut ProcSeen, probe: &Option<File>| -> Result<()> {
            let watched = watching_client.then(|| descendants_of(me));
            scan_proc(seen, watched.as_ref());
            if probe.is_some() {
                merge(records, kmod_records()?);
            } else {
                sample_fds(&seen.watched_fds, &mut sampled);
            }
            Ok(())
        };
    let follow = Duration::from_millis(args.follow_ms);
    let mut exited_at = None;
    loop {
        sample(&mut records, &mut seen, &probe)?;
        if let Some(c) = client.as_mut() {
            if let Some(status) = c.exited()? {
                report.command_status = status.code();
                reap_orphans();
                let since = *exited_at.get_or_insert_with(Instant::now);
                if descendants_of(me).is_empty() {
                    break;
                }
                if since.elapsed() >= follow {
                    let killed = kill_descendants();
                    reap_orphans();
                    report.oracle_note.push_str(&format!(
                        "{}still running {} ms after the command exited, killed: {}",
                        if report.oracle_note.is_empty() {
                            ""
                        } else {
                            "; "
                        },
                        args.follow_ms,
                        killed.join(", ")
                    ));
                    break;
                }
            }
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        std::thread::sleep(TICK);
    }
    report.seconds = t0.elapsed().as_secs_f64();
    // A fence still pending gets the bound to signal before it counts.
    let settle = Instant::now() + bound;
    let analysis = loop {
        if probe.is_some() {
            merge(&mut records, kmod_records()?);
        }
        let obs = Observed {
            records: records.clone(),
            held: seen.held.clone(),
            end_ns: sys::monotonic_ns(),
            pending_bound_ns: bound.as_nanos() as u64,
        };
        let a = analyse(&obs);
        let pending = a.anomalies.iter().any(|x| x.kind == "pending-at-end");
        if !pending || Instant::now() >= settle {
            break a;
        }
        std::thread::sleep(TICK);
    };
    if probe.is_none() {
        report.oracle_note = sampled.note(&report.oracle_note);
        report.armed = sampled.vb2.len();
        report.devices = seen.devices.into_iter().collect();
        return Ok(report);
    }
    report.devices = seen.devices.into_iter().collect();
    report.armed = analysis.armed;
    report.dropped = analysis.dropped;
    report.queues = analysis.queues;
    report.anomalies = analysis.anomalies;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::state_and_ppid;

    #[test]
    fn state_and_parent_pid_from_stat() {
        assert_eq!(
            state_and_ppid("167 (v4l2-ctl) S 160 167 1 0 -1"),
            Some(("S", 160))
        );
        assert_eq!(state_and_ppid("9 (a) b (c)) Z 8 9 9"), Some(("Z", 8)));
        assert_eq!(state_and_ppid("9 (truncated"), None);
    }
}
