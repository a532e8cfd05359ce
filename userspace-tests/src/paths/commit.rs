//! Fences published when a job is committed: on vim2m, a second job queued
//! while the device is busy with the first carries its fences (WRITE on its
//! CAPTURE buffer, READ on its OUTPUT buffer) when the QBUF that made it
//! runnable returns, before it starts. The control kernel publishes none;
//! a series that arms in device_run() publishes none there either, as the
//! second job has not started.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use v4l2r::ioctl::PlaneMapping;

use crate::env::Env;
use crate::frames::{pattern_rgb24, Reference, VIM2M_H, VIM2M_W};
use crate::landing::{self, LandingRow};
use crate::m2m::{label_buf, open_vim2m, VIM2M_CID_TRANS_TIME_MSEC};
use crate::observe::{
    expect_each_signalled, observe_each, usages_separate, views_by_usage, Expect, Watch,
};
use crate::parse::Usage;
use crate::sys;
use crate::v4l2::Mem;

/// The buffers of the two jobs, by index: job 1 uses 0, job 2 uses 1.
const JOBS: u32 = 2;

pub fn fences_at_commit(env: &Env, name: &str) -> (LandingRow, Result<()>) {
    landing::record("vim2m", name, |row| fences_at_commit_inner(env, name, row))
}

fn fences_at_commit_inner(env: &Env, name: &str, row: &mut LandingRow) -> Result<()> {
    let mut dev = open_vim2m()?;
    dev.s_ctrl(VIM2M_CID_TRANS_TIME_MSEC, env.transtime_ms as i32)
        .context("set vim2m transaction time")?;
    let (oq, cq) = (dev.out_q(), dev.cap_q());
    let input = pattern_rgb24(VIM2M_W, VIM2M_H);
    for (q, what) in [(oq, "OUTPUT"), (cq, "CAPTURE")] {
        let f = dev.set_format(q, b"RGB3", VIM2M_W, VIM2M_H)?;
        let size = f.plane_fmt.first().map_or(0, |p| p.sizeimage);
        if size as usize != input.len() || (f.width, f.height) != (VIM2M_W, VIM2M_H) {
            bail!(
                "vim2m {what}: {}x{} sizeimage {size}, expected {VIM2M_W}x{VIM2M_H} RGB24",
                f.width,
                f.height
            );
        }
        let got = dev.reqbufs(q, Mem::Mmap, JOBS)?;
        if got < JOBS {
            bail!("vim2m gave {got} {what} buffers, the test needs {JOBS}");
        }
    }
    let mut outs = Vec::new();
    let mut caps = Vec::new();
    for i in 0..JOBS {
        let mut o = dev.mmap_plane(oq, i)?;
        o.as_mut()[..input.len()].copy_from_slice(&input);
        outs.push(o);
        let mut c = dev.mmap_plane(cq, i)?;
        c.as_mut().fill(0);
        caps.push(c);
    }
    // The second job's buffers, exported before anything is queued.
    let cap_fd = dev.expbuf(cq, 1)?;
    label_buf(&cap_fd, &format!("fs:{name}:cap"));
    let out_fd = dev.expbuf(oq, 1)?;
    label_buf(&out_fd, &format!("fs:{name}:out"));
    let mut watched = vec![
        Watch::new(
            "second job's CAPTURE export",
            cap_fd,
            Usage::Write,
            "exporter",
        )?,
        Watch::new(
            "second job's OUTPUT export",
            out_fd,
            Usage::Read,
            "exporter",
        )?,
    ];
    views_by_usage(&mut watched);

    dev.streamon(oq)?;
    dev.streamon(cq)?;
    let t0 = sys::monotonic_ns();
    dev.qbuf_mmap(cq, 0, 0)?;
    dev.qbuf_mmap(oq, 0, input.len() as u32)?;
    wait_written(&caps[0], "the first job", env.start_timeout())?;
    // The device is busy with job 1 for the transaction time: this QBUF
    // makes job 2 runnable without starting it.
    dev.qbuf_mmap(cq, 1, 0)?;
    dev.qbuf_mmap(oq, 1, input.len() as u32)?;
    not_started(&caps[1], "before looking")?;
    let seen = observe_each(
        env,
        row,
        &watched,
        Expect::Pending,
        "when the QBUF that committed the second job returned",
    )?;
    // Still not started after the look: the fences seen were published at
    // commit, not by a job that started meanwhile.
    not_started(&caps[1], "after looking")?;
    usages_separate(&watched, &seen)?;

    for _ in 0..JOBS {
        let c = dev
            .dqbuf_wait(cq, env.job_timeout())
            .context("waiting for a CAPTURE buffer")?;
        if c.error {
            bail!(
                "CAPTURE buffer {} came back with V4L2_BUF_FLAG_ERROR",
                c.index
            );
        }
        dev.dqbuf_wait(oq, env.job_timeout())
            .context("waiting for an OUTPUT buffer")?;
    }
    expect_each_signalled(
        env,
        row,
        &watched,
        &seen,
        t0,
        Some(false),
        "after both jobs",
    )?;
    let len = input.len();
    let reference = Reference::Exact(input);
    for (i, c) in caps.iter().enumerate() {
        reference.check(
            &format!("CAPTURE buffer {i} after DQBUF"),
            &sys::plane_read(c, len),
        )?;
    }
    drop(outs);
    Ok(())
}

/// vim2m writes a job's frame when the job starts (device_run()).
fn written(c: &PlaneMapping) -> bool {
    sys::plane_read(c, c.len()).iter().any(|&b| b != 0)
}

fn wait_written(c: &PlaneMapping, what: &str, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !written(c) {
        if Instant::now() >= deadline {
            bail!("{what} did not start within {} ms", timeout.as_millis());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// The second job has not started: otherwise a fence armed when it started
/// would pass for one published at commit.
fn not_started(c: &PlaneMapping, when: &str) -> Result<()> {
    if written(c) {
        bail!(
            "the second job had started {when}, so this cannot tell a fence published at \
             commit from one armed at the start; raise FENCE_SUITE_TRANSTIME_MS"
        );
    }
    Ok(())
}
