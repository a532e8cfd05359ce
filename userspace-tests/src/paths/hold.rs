//! V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF on visl: a frame sent as two slices,
//! each its own job, writes one CAPTURE buffer that only the last slice's
//! job returns. Which CAPTURE buffer a job behind a held one writes is
//! known only when it starts, so on a device that publishes at commit
//! those jobs publish their OUTPUT buffer's READ fence when committed and
//! nothing on the CAPTURE buffer (dmabuf.rst: dequeue it before handing it
//! on). A fence armed there by the first slice's job would be signalled
//! while the next slice is still to be written (review m7); one armed by
//! the last slice's device_run() would be published after commit, by an
//! allocation in front of the other contexts' published jobs.

use std::os::fd::AsFd;

use anyhow::{bail, Context, Result};
use v4l2r::ioctl::Request;

use crate::env::Env;
use crate::landing::{self, LandingRow};
use crate::m2m::open_visl;
use crate::observe::{observe_each, Expect, Watch};
use crate::parse::Usage;
use crate::sys;
use crate::v4l2::Mem;

/// The frame's timestamp (µs): both slices carry it.
const FRAME_TS_US: i64 = 1_000_000;

pub fn hold_capture_slices(env: &Env, name: &str) -> (LandingRow, Result<()>) {
    landing::record("visl", name, |row| slices(env, name, row))
}

fn slices(env: &Env, name: &str, row: &mut LandingRow) -> Result<()> {
    let visl = open_visl()?;
    let (media, dev, out_size) = (&visl.media, &visl.dev, visl.out_size);
    let (oq, cq) = (dev.out_q(), dev.cap_q());
    dev.reqbufs(oq, Mem::Mmap, 1)?;
    dev.reqbufs(cq, Mem::Mmap, 1)?;
    let cap_fd = dev.expbuf(cq, 0).context("EXPBUF CAPTURE 0")?;
    let _ = sys::dma_buf_set_name(cap_fd.as_fd(), &format!("fs:{name}:cap"));
    let cap = Watch::new("CAPTURE export", cap_fd, Usage::Write, "exporter")?;
    let out_fd = dev.expbuf(oq, 0).context("EXPBUF OUTPUT 0")?;
    let _ = sys::dma_buf_set_name(out_fd.as_fd(), &format!("fs:{name}:out"));
    let out = [Watch::new("OUTPUT export", out_fd, Usage::Read, "exporter")?];
    dev.qbuf_mmap(cq, 0, 0)?;
    dev.streamon(oq)?;
    dev.streamon(cq)?;

    let slice = |hold: bool| -> Result<()> {
        let req = Request::alloc(media).context("MEDIA_IOC_REQUEST_ALLOC")?;
        dev.qbuf_slice_request(oq, 0, out_size, &req, FRAME_TS_US, hold)?;
        // visl runs the job inside this ioctl.
        req.queue().context("MEDIA_REQUEST_IOC_QUEUE")?;
        let d = dev
            .dqbuf_wait(oq, env.job_timeout())
            .context("the slice's OUTPUT buffer did not come back")?;
        if d.error {
            bail!("the slice's OUTPUT buffer came back with V4L2_BUF_FLAG_ERROR");
        }
        Ok(())
    };

    slice(true).context("first slice, V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF")?;
    if dev
        .dqbuf_wait(cq, std::time::Duration::from_millis(200))
        .is_ok()
    {
        bail!("visl returned the CAPTURE buffer after a slice that held it");
    }
    // Each slice's job reads its OUTPUT buffer: one READ fence per job.
    let read = |when: &'static str, row: &mut LandingRow| -> Result<()> {
        let within = "the slice's job";
        observe_each(env, row, &out, Expect::Signalled { error: 0, within }, when)?;
        Ok(())
    };
    read("after the first slice", row)?;
    // The held buffer: nothing on it, on any kernel.
    let (held, _) = cap.observe(env)?;
    held.expect_no_fences()
        .context("CAPTURE export after the first slice, buffer held")?;

    slice(false).context("last slice")?;
    let d = dev
        .dqbuf_wait(cq, env.job_timeout())
        .context("the last slice did not return the CAPTURE buffer")?;
    if d.error {
        bail!("the CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
    }
    read("after the last slice", row)?;
    // Which CAPTURE buffer the last slice wrote was not known at its
    // commit: no fence was published on it, then or when the job ran.
    let (done, _) = cap.observe(env)?;
    done.expect_no_fences()
        .context("CAPTURE export after the last slice returned it")?;
    let _ = dev.streamoff(oq);
    dev.streamoff(cq)?;
    Ok(())
}
