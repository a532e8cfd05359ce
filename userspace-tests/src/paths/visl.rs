//! visl with a simulated processing time: `visl_transtime_ms` (a writable
//! module parameter) makes visl_device_run() sleep between the fill and the
//! completion, inside MEDIA_REQUEST_IOC_QUEUE (the fences were published
//! when the request's job was committed, earlier in that ioctl). Queueing the request from a
//! second thread leaves a window in which this one sees the fences pending,
//! as on vim2m, and can EXPBUF the CAPTURE buffer during the job.

use anyhow::{anyhow, bail, Context, Result};

use crate::env::Env;
use crate::landing::{self, LandingRow};
use crate::m2m::{BufSource, Driver, M2mRun};
use crate::observe::{expect_each_signalled, observe_each, usages_separate, Expect, Seen, Watch};
use crate::parse::Usage;
use crate::paths::watch_output_export;

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
    landing::record("visl", name, |row| while_running_inner(env, name, row))
}

fn while_running_inner(env: &Env, name: &str, row: &mut LandingRow) -> Result<()> {
    let _transtime = ParamGuard::set(TRANSTIME_PARAM, env.transtime_ms)?;
    let mut run = M2mRun::open(env, Driver::Visl, BufSource::Mmap)?;
    let out = watch_output_export(&run, name)?;
    run.queue_capture()?;
    let req = run.output_request()?;
    // The commit publishes the fences, then visl_device_run() fills
    // CAPTURE and sleeps visl_transtime_ms (up to twice that) inside this
    // ioctl.
    let queued = std::thread::spawn(move || req.queue().map(|()| req));
    // The fill comes right after the arm: CAPTURE content changing means
    // the fences are out. TCG makes the fill slow, so wait up to the job
    // timeout rather than vim2m's start window.
    let started = run.wait_started_within(env.job_timeout());
    let checked = started.and_then(|()| check_pending(env, name, &run, out, row));
    let req = queued
        .join()
        .map_err(|_| anyhow!("the thread queueing the request panicked"))?
        .context("MEDIA_REQUEST_IOC_QUEUE")?;
    let (watched, seen) = checked?;
    if run.wait_done(env)? {
        bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
    }
    run.check_frame("CAPTURE after DQBUF", &run.cap_bytes())?;
    drop(req);
    // The sync_files taken while the fences were pending must signal
    // without error, after the job started.
    expect_each_signalled(
        env,
        row,
        &watched,
        &seen,
        run.t0_ns,
        Some(false),
        "after the job",
    )
}

/// While the request's job sleeps: EXPBUF the CAPTURE buffer, then both
/// exports must show a pending fence of their usage, and not the same one.
fn check_pending(
    env: &Env,
    name: &str,
    run: &M2mRun,
    out: Watch,
    row: &mut LandingRow,
) -> Result<(Vec<Watch>, Vec<Seen>)> {
    let cap = run.export_cap(&format!("fs:{name}:cap"))?;
    // The CAPTURE export came after the arm: its arm record carries ino 0.
    let cap = Watch::new(
        "CAPTURE export (during the job)",
        cap,
        Usage::Write,
        "exporter",
    )?
    .exported_after_arm(true);
    let watched = vec![cap, out];
    let seen = observe_each(env, row, &watched, Expect::Pending, "while the job runs")?;
    usages_separate(&watched, &seen)?;
    Ok((watched, seen))
}
