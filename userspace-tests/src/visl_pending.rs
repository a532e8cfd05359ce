//! visl with a simulated processing time: `visl_transtime_ms` (a writable
//! module parameter) makes visl_device_run() sleep between the arm and the
//! completion, inside MEDIA_REQUEST_IOC_QUEUE. Queueing the request from a
//! second thread leaves a window in which this one sees the fences pending,
//! as on vim2m, and can EXPBUF the CAPTURE buffer during the job.

use std::os::fd::AsFd;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use crate::harness::NoDevice;
use crate::oracle;
use crate::parse::Usage;
use crate::paths::{CapSource, Driver, Env, LandingRow, M2mRun};
use crate::sys;

const TRANSTIME_PARAM: &str = "/sys/module/visl/parameters/visl_transtime_ms";

/// Sets a module parameter and puts the old value back when dropped, so a
/// failing test does not slow down everything after it.
struct ParamGuard {
    path: &'static str,
    old: String,
}

impl ParamGuard {
    fn set(path: &'static str, value: u32) -> Result<Self> {
        if !Path::new(path).exists() {
            return Err(NoDevice(format!("{path} absent (visl not loaded as a module)")).into());
        }
        let old = std::fs::read_to_string(path)
            .with_context(|| format!("read {path}"))?
            .trim()
            .to_string();
        std::fs::write(path, value.to_string()).map_err(|e| {
            anyhow!(NoDevice(format!(
                "cannot write {path} ({e}): run as root to give visl a processing time"
            )))
        })?;
        Ok(Self { path, old })
    }
}

impl Drop for ParamGuard {
    fn drop(&mut self) {
        if let Err(e) = std::fs::write(self.path, &self.old) {
            eprintln!(
                "warning: could not restore {} to {}: {e}",
                self.path, self.old
            );
        }
    }
}

/// The OUTPUT buffer exported before the job, the CAPTURE buffer exported
/// while it runs: both show a pending vb2 fence of their usage (distinct
/// fences) through every oracle; after the job both are signalled without
/// error and the CAPTURE frame is visl's pattern.
pub fn expbuf_while_running(env: &Env, name: &str) -> (LandingRow, Result<()>) {
    let mut row = LandingRow::new("visl", name);
    let r = while_running_inner(env, name, &mut row);
    if let Err(e) = &r {
        row.error = format!("{e:#}");
    }
    (row, r)
}

fn while_running_inner(env: &Env, name: &str, row: &mut LandingRow) -> Result<()> {
    let _transtime = ParamGuard::set(TRANSTIME_PARAM, env.transtime_ms)?;
    let mut run = M2mRun::open(env, Driver::Visl, CapSource::Mmap)?;
    let out = run.export_out(&format!("fs:{name}:out"))?;
    let out_ino = sys::inode_of(out.as_fd()).context("fstat(OUTPUT export)")?;
    run.queue_capture()?;
    let req = run.output_request()?;
    // visl_device_run() arms, fills CAPTURE, then sleeps visl_transtime_ms
    // (up to twice that) inside this ioctl.
    let queued = std::thread::spawn(move || req.queue().map(|()| req));
    // The fill comes right after the arm: CAPTURE content changing means
    // the fences are out. TCG makes the fill slow, so wait up to the job
    // timeout rather than vim2m's start window.
    let started = run.wait_started_within(env.job_timeout());
    let checked = started.and_then(|()| check_pending(env, name, &run, &out, out_ino, row));
    let req = queued
        .join()
        .map_err(|_| anyhow!("the thread queueing the request panicked"))?
        .context("MEDIA_REQUEST_IOC_QUEUE")?;
    let (cap, ids) = checked?;
    if run.wait_done(env)? {
        bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
    }
    run.check_frame("CAPTURE after DQBUF", &run.cap_bytes())?;
    drop(req);
    for ((label, fd, held, after), id) in [
        ("CAPTURE export", &cap, vec![ids.2], true),
        ("OUTPUT export", &out, vec![out_ino], false),
    ]
    .into_iter()
    .zip([ids.0, ids.1])
    {
        let (obs, _) = oracle::observe(&env.oracles, fd.as_fd())?;
        obs.holding(held, after)
            .expect_signalled(id, false)
            .with_context(|| format!("{label} after the job"))?;
    }
    Ok(())
}

type PendingIds = (Option<(u64, u64)>, Option<(u64, u64)>, u64);

/// While the request's job sleeps: EXPBUF the CAPTURE buffer, then both
/// exports must show a pending fence of their usage, and not the same one.
fn check_pending(
    env: &Env,
    name: &str,
    run: &M2mRun,
    out: &std::os::fd::OwnedFd,
    out_ino: u64,
    row: &mut LandingRow,
) -> Result<(std::os::fd::OwnedFd, PendingIds)> {
    let cap = run.export_cap(&format!("fs:{name}:cap"))?;
    let cap_ino = sys::inode_of(cap.as_fd()).context("fstat(CAPTURE export)")?;
    let mut ids = Vec::new();
    // The CAPTURE export came after the arm: its arm record carries ino 0.
    for (label, fd, usage, held, after) in [
        (
            "CAPTURE export made during the job",
            &cap,
            Usage::Write,
            cap_ino,
            true,
        ),
        ("OUTPUT export", out, Usage::Read, out_ino, false),
    ] {
        let (obs, _) = oracle::observe(&env.oracles, fd.as_fd())?;
        let view = if usage == Usage::Write {
            &obs.sync_writers
        } else {
            &obs.sync_all
        };
        let fence = view.fences.first().map_or_else(
            || "-".to_string(),
            |f| format!("{}/{}", f.driver_name, f.obj_name),
        );
        let id = obs.holding(vec![held], after).expect_pending(usage);
        match &id {
            Ok(_) => row.land(label, "exporter", usage, fence),
            Err(_) => row.land_nothing(label),
        };
        ids.push(id.with_context(|| format!("{label} while the job runs")));
    }
    // Both exports were looked at (and are in the map) before failing.
    let ids = ids.into_iter().collect::<Result<Vec<_>>>()?;
    if let [Some(c), Some(o)] = ids[..] {
        if c == o {
            bail!("OUTPUT and CAPTURE share fence {c:?}: usages are not separate");
        }
    }
    Ok((cap, (ids[0], ids[1], cap_ino)))
}
