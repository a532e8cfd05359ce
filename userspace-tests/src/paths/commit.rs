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
use crate::v4l2::{Mem, VideoDev};

/// The buffers of the two jobs, by index: job 1 uses 0, job 2 uses 1.
const JOBS: u32 = 2;

pub fn fences_at_commit(env: &Env, name: &str) -> (LandingRow, Result<()>) {
    landing::record("vim2m", name, |row| fences_at_commit_inner(env, name, row))
}

/// Two vim2m jobs, RGB24 to RGB24, one MMAP buffer pair each (job 1 uses
/// index 0, job 2 index 1), the second committed while the device is busy
/// with the first for the transaction time.
pub struct BackToBack {
    pub dev: VideoDev,
    pub input: Vec<u8>,
    /// The OUTPUT mappings the input was written through.
    _outs: Vec<PlaneMapping>,
    caps: Vec<PlaneMapping>,
    /// CAPTURE bytes per line.
    pub cap_pitch: u32,
}

impl BackToBack {
    pub fn setup(env: &Env) -> Result<Self> {
        let mut dev = open_vim2m()?;
        dev.s_ctrl(VIM2M_CID_TRANS_TIME_MSEC, env.transtime_ms as i32)
            .context("set vim2m transaction time")?;
        let (oq, cq) = (dev.out_q(), dev.cap_q());
        let input = pattern_rgb24(VIM2M_W, VIM2M_H);
        let mut cap_pitch = 0;
        for (q, what) in [(oq, "OUTPUT"), (cq, "CAPTURE")] {
            let f = dev.set_format(q, b"RGB3", VIM2M_W, VIM2M_H)?;
            let plane = f.plane_fmt.first();
            let size = plane.map_or(0, |p| p.sizeimage);
            if size as usize != input.len() || (f.width, f.height) != (VIM2M_W, VIM2M_H) {
                bail!(
                    "vim2m {what}: {}x{} sizeimage {size}, expected {VIM2M_W}x{VIM2M_H} RGB24",
                    f.width,
                    f.height
                );
            }
            cap_pitch = plane.map_or(0, |p| p.bytesperline);
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
        Ok(BackToBack {
            dev,
            input,
            _outs: outs,
            caps,
            cap_pitch,
        })
    }

    /// Streams on and queues job 1; returns once it has started.
    pub fn start_first(&self, env: &Env) -> Result<()> {
        let (oq, cq) = (self.dev.out_q(), self.dev.cap_q());
        self.dev.streamon(oq)?;
        self.dev.streamon(cq)?;
        self.dev.qbuf_mmap(cq, 0, 0)?;
        self.dev.qbuf_mmap(oq, 0, self.input.len() as u32)?;
        wait_written(&self.caps[0], "the first job", env.start_timeout())
    }

    /// The QBUFs that make job 2 runnable while the device is busy with
    /// job 1: they commit it without starting it.
    pub fn commit_second(&self) -> Result<()> {
        let (oq, cq) = (self.dev.out_q(), self.dev.cap_q());
        self.dev.qbuf_mmap(cq, 1, 0)?;
        self.dev.qbuf_mmap(oq, 1, self.input.len() as u32)?;
        self.second_not_started("when its QBUF returned")
    }

    /// Job 2 has not started: otherwise what it wrote (or a fence armed
    /// when it started) would pass for what was there at commit.
    pub fn second_not_started(&self, when: &str) -> Result<()> {
        if written(&self.caps[1]) {
            bail!(
                "the second job had started {when}, so this cannot tell what was published at \
                 commit from what its start did; raise FENCE_SUITE_TRANSTIME_MS"
            );
        }
        Ok(())
    }

    /// Dequeues both jobs' buffers; an error flag fails.
    pub fn finish(&self, env: &Env) -> Result<()> {
        dequeue_jobs(&self.dev, JOBS, env)
    }

    /// What CAPTURE buffer `index` holds now.
    pub fn capture(&self, index: usize) -> Vec<u8> {
        sys::plane_read(&self.caps[index], self.input.len())
    }

    /// Every CAPTURE buffer holds the input frame (vim2m copies RGB24).
    pub fn check_frames(&self) -> Result<()> {
        let reference = Reference::Exact(self.input.clone());
        for i in 0..self.caps.len() {
            reference.check(&format!("CAPTURE buffer {i} after DQBUF"), &self.capture(i))?;
        }
        Ok(())
    }
}

fn fences_at_commit_inner(env: &Env, name: &str, row: &mut LandingRow) -> Result<()> {
    let jobs = BackToBack::setup(env)?;
    let (dev, oq, cq) = (&jobs.dev, jobs.dev.out_q(), jobs.dev.cap_q());
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

    let t0 = sys::monotonic_ns();
    jobs.start_first(env)?;
    jobs.commit_second()?;
    let seen = observe_each(
        env,
        row,
        &watched,
        Expect::Pending,
        "when the QBUF that committed the second job returned",
    )?;
    // Still not started after the look: the fences seen were published at
    // commit, not by a job that started meanwhile.
    jobs.second_not_started("after looking")?;
    usages_separate(&watched, &seen)?;
    jobs.finish(env)?;
    expect_each_signalled(
        env,
        row,
        &watched,
        &seen,
        t0,
        Some(false),
        "after both jobs",
    )?;
    jobs.check_frames()
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

/// Dequeues the CAPTURE and OUTPUT buffer of `jobs` jobs, in order; a
/// CAPTURE buffer with V4L2_BUF_FLAG_ERROR fails.
pub fn dequeue_jobs(dev: &VideoDev, jobs: u32, env: &Env) -> Result<()> {
    for _ in 0..jobs {
        let c = dev
            .dqbuf_wait(dev.cap_q(), env.job_timeout())
            .context("waiting for a CAPTURE buffer")?;
        if c.error {
            bail!(
                "CAPTURE buffer {} came back with V4L2_BUF_FLAG_ERROR",
                c.index
            );
        }
        dev.dqbuf_wait(dev.out_q(), env.job_timeout())
            .context("waiting for an OUTPUT buffer")?;
    }
    Ok(())
}
