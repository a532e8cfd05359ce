//! `landing-map watch`: reset rust-kmod's record ring, run the command (or
//! wait), read the ring and `/proc/*/fd` while it runs, then fold and judge
//! what was seen (`userspace_tests::watch`, pure and unit-tested).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use landing_model::watch::{WatchReport, NO_ORACLE};
use userspace_tests::oracle::{kmod_records, KMOD_DEV};
use userspace_tests::sys;
use userspace_tests::watch::{analyse, merge, table, HeldDmaBuf, Observed};

#[derive(clap::Args)]
pub struct WatchArgs {
    /// Watch for this many seconds instead of running a command.
    #[arg(long, conflicts_with = "command")]
    seconds: Option<f64>,
    /// A fence pending longer than this (ms) is an anomaly; a fence still
    /// pending at the end gets this long to signal.
    #[arg(long, default_value_t = 1000)]
    pending_bound_ms: u64,
    /// The client to watch (its stdout goes to stderr, so that the report
    /// alone is on stdout, its JSON on one line).
    #[arg(last = true, value_name = "COMMAND")]
    command: Vec<String>,
}

/// How often the ring and `/proc` are sampled.
const TICK: Duration = Duration::from_millis(100);

pub fn main(args: &WatchArgs, json: bool) -> ExitCode {
    match run(args) {
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
            if report.anomalies.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
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
}

/// One pass over `/proc/*/fd` (other processes' fds are visible to root
/// only; what cannot be read is skipped).
fn scan_proc(seen: &mut ProcSeen) {
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return;
    };
    for p in procs.flatten() {
        let pid = p.file_name().to_string_lossy().into_owned();
        if pid == me || !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
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
    let probe = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(KMOD_DEV)
    {
        Ok(f) => {
            sys::vb2fp_reset(f.as_fd())
                .with_context(|| format!("VB2FP_IOC_RESET on {KMOD_DEV}"))?;
            report.oracle = "kmod".into();
            Some(f)
        }
        Err(e) => {
            report.oracle = NO_ORACLE.into();
            report.oracle_note = format!(
                "{KMOD_DEV}: {e} (the vb2_fence_probe module loads only on a kernel with the \
                 series); fell back to: none (without the series nothing arms a vb2 fence, so \
                 nothing can be recorded)"
            );
            None
        }
    };
    let t0 = Instant::now();
    let mut child = if args.command.is_empty() {
        None
    } else {
        Some(spawn(&args.command)?)
    };
    let deadline = args.seconds.map(|s| t0 + Duration::from_secs_f64(s));
    let mut records = Vec::new();
    let mut seen = ProcSeen::default();
    let sample = |records: &mut Vec<_>, seen: &mut ProcSeen, probe: &Option<File>| -> Result<()> {
        if probe.is_some() {
            merge(records, kmod_records()?);
        }
        scan_proc(seen);
        Ok(())
    };
    loop {
        sample(&mut records, &mut seen, &probe)?;
        if let Some(c) = child.as_mut() {
            if let Some(status) = c.try_wait().context("wait for the command")? {
                report.command_status = status.code();
                break;
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
    report.devices = seen.devices.into_iter().collect();
    report.armed = analysis.armed;
    report.dropped = analysis.dropped;
    report.queues = analysis.queues;
    report.anomalies = analysis.anomalies;
    Ok(report)
}
