//! Where no fence may be: a CAPTURE buffer queued without the OUTPUT one
//! (no job can run), and an export made after the job of a buffer that was
//! never exported.

use std::os::fd::AsFd;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::env::Env;
use crate::m2m::{BufSource, Driver, M2mRun};
use crate::oracle;

/// CAPTURE queued, OUTPUT not: no job can run, so nothing may be armed.
pub fn no_fence_without_job(env: &Env, name: &str, driver: Driver) -> Result<()> {
    let run = M2mRun::open(env, driver, BufSource::Mmap)?;
    let exp = run.export_cap(&format!("fs:{name}:cap"))?;
    run.queue_capture()?;
    let (obs, _) = oracle::observe(&env.oracles, exp.as_fd())?;
    obs.expect_idle()
        .context("CAPTURE queued without OUTPUT must carry no fence")?;
    // Wait one job's worth of time on the video fd: no CAPTURE buffer may
    // complete (no job can run), and still nothing may be armed.
    let d = run.dev()?;
    if oracle::poll_wait(
        d.file.as_fd(),
        nix::poll::PollFlags::POLLIN,
        Duration::from_millis(u64::from(env.transtime_ms)),
    )? {
        bail!("a CAPTURE buffer completed although no OUTPUT buffer was queued");
    }
    let (obs, _) = oracle::observe(&env.oracles, exp.as_fd())?;
    obs.expect_idle()
        .context("one transaction time later, still no job")?;
    d.streamoff(d.cap_q())?;
    d.streamoff(d.out_q())?;
    let (obs, _) = oracle::observe(&env.oracles, exp.as_fd())?;
    obs.expect_idle().context("after STREAMOFF")
}

/// MMAP buffers, never exported: the job works, a later export carries no
/// unsignalled fence.
pub fn mmap_without_export(env: &Env, _name: &str, driver: Driver) -> Result<()> {
    let mut run = M2mRun::open(env, driver, BufSource::Mmap)?;
    run.start()?;
    if run.wait_done(env)? {
        bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
    }
    run.check_frame("CAPTURE MMAP mapping", &run.cap_bytes())?;
    let exp = run.export_cap("fs:mmap_without_export")?;
    let (obs, _) = oracle::observe(&env.oracles, exp.as_fd())?;
    obs.expect_idle()
        .context("export made after the job of a never-exported buffer")
}
