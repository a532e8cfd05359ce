//! visl with a simulated processing time: `visl_transtime_ms` (a writable
//! module parameter) makes visl_device_run() sleep between the arm and the
//! completion, inside MEDIA_REQUEST_IOC_QUEUE. Queueing the request from a
//! second thread leaves a window in which this one sees the fences pending,
//! as on vim2m, and can EXPBUF the CAPTURE buffer during the job.

use std::os::fd::{AsFd, OwnedFd};

use anyhow::{anyhow, bail, Context, Result};

use crate::env::Env;
use crate::landing::LandingRow;
use crate::m2m::{CapSource, Driver, M2mRun};
use crate::oracle::{self, HeldSync};
use crate::parse::Usage;
use crate::sys;
use crate::verdict::wrong;

pub const TRANSTIME_PARAM: &str = "/sys/module/visl/parameters/visl_transtime_ms";

/// Sets a module parameter and puts the old value back when dropped, so a
/// failing test does not slow down everything after it.
struct ParamGuard {
    path: &'static str,
    old: String,
}

impl ParamGuard {
    /// The test's prerequisites made sure the file is there and writable
    /// (`access::writable`), so any failure here is an error.
    fn set(path: &'static str, value: u32) -> Result<Self> {
        let old = std::fs::read_to_string(path)
            .with_context(|| format!("read {path}"))?
            .trim()
            .to_string();
        std::fs::write(path, value.to_string())
            .with_context(|| format!("write {value} to {path}"))?;
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
    LandingRow::record("visl", name, |row| while_running_inner(env, name, row))
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
    let checked = started.and_then(|()| check_pending(env, name, &run, out, out_ino, row));
    let req = queued
        .join()
        .map_err(|_| anyhow!("the thread queueing the request panicked"))?
        .context("MEDIA_REQUEST_IOC_QUEUE")?;
    let watched = checked?;
    if run.wait_done(env)? {
        bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
    }
    run.check_frame("CAPTURE after DQBUF", &run.cap_bytes())?;
    drop(req);
    for w in &watched {
        // The sync_file taken while the fence was pending must signal
        // without error, after the job started.
        let sf = if w.usage == Usage::Write {
            &w.held.writers
        } else {
            &w.held.all
        };
        let (_, ts) =
            oracle::expect_sync_signalled(sf.as_fd(), run.t0_ns, Some(false), env.job_timeout())
                .with_context(|| format!("{} after the job", w.label))?;
        row.set_pending_ms(w.landing, ts.saturating_sub(run.t0_ns) as f64 / 1e6);
        let id =
            w.id.ok_or_else(|| anyhow!("{}: no fence id recorded while pending", w.label))?;
        let (obs, _) = oracle::observe(&env.oracles, w.fd.as_fd())?;
        obs.holding(vec![w.ino], w.exported_after_arm)
            .expect_signalled(id, false)
            .with_context(|| format!("{} after the job", w.label))?;
    }
    Ok(())
}

/// An export watched while the job runs.
struct Watched {
    label: &'static str,
    fd: OwnedFd,
    ino: u64,
    usage: Usage,
    exported_after_arm: bool,
    id: Option<(u64, u64)>,
    held: HeldSync,
    landing: usize,
}

/// While the request's job sleeps: EXPBUF the CAPTURE buffer, then both
/// exports must show a pending fence of their usage, and not the same one.
fn check_pending(
    env: &Env,
    name: &str,
    run: &M2mRun,
    out: OwnedFd,
    out_ino: u64,
    row: &mut LandingRow,
) -> Result<Vec<Watched>> {
    let cap = run.export_cap(&format!("fs:{name}:cap"))?;
    let cap_ino = sys::inode_of(cap.as_fd()).context("fstat(CAPTURE export)")?;
    let mut watched = Vec::new();
    let mut first_err: Option<anyhow::Error> = None;
    // The CAPTURE export came after the arm: its arm record carries ino 0.
    for (label, fd, usage, ino, after) in [
        (
            "CAPTURE export (during the job)",
            cap,
            Usage::Write,
            cap_ino,
            true,
        ),
        ("OUTPUT export", out, Usage::Read, out_ino, false),
    ] {
        let (obs, held) = oracle::observe(&env.oracles, fd.as_fd())?;
        let view = if usage == Usage::Write {
            &obs.sync_writers
        } else {
            &obs.sync_all
        };
        let fence = view.fences.first().map_or_else(
            || "-".to_string(),
            |f| format!("{}/{}", f.driver_name, f.obj_name),
        );
        let id = obs.holding(vec![ino], after).expect_pending(usage);
        let landing = match &id {
            Ok(_) => row.land(label, "exporter", usage, fence),
            Err(_) => row.land_nothing(label),
        };
        // Look at both exports (the map shows them) before failing.
        let id = match id {
            Ok(id) => Some(id),
            Err(e) => {
                first_err.get_or_insert(e.context(format!("{label} while the job runs")));
                None
            }
        };
        watched.push(Watched {
            label,
            fd,
            ino,
            usage,
            exported_after_arm: after,
            id,
            held,
            landing,
        });
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    if let [Watched { id: Some(c), .. }, Watched { id: Some(o), .. }] = &watched[..] {
        if c == o {
            return Err(wrong(format!(
                "OUTPUT and CAPTURE share fence {c:?}: usages are not separate"
            )));
        }
    }
    Ok(watched)
}
