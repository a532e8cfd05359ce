//! V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF on visl: a frame sent as two slices,
//! each its own job, writes one CAPTURE buffer that only the last slice's
//! job returns. Which CAPTURE buffer a job behind a held one writes is
//! known only when it starts, and a fence on its OUTPUT buffer alone would
//! wait for userspace to queue one, so those jobs publish no fence at all
//! (dmabuf.rst: dequeue the CAPTURE buffer before handing it on). They
//! still read their OUTPUT buffer only once its writers are done: the
//! last slice is queued behind a sw_sync writer's fence and must wait for
//! it. The other file handles of the device are not affected: while this
//! one holds its CAPTURE buffer, another's job is published at commit and
//! waits for a sw_sync reader on its CAPTURE buffer, as on its own. Once
//! the held frame is done, the next frame's job publishes at commit again,
//! and waits for a sw_sync reader.
//!
//! What fails it: a device that stops publishing at commit for everyone
//! while one file handle holds (the control kernel, and the series before
//! v4, whose other file handles' jobs then run at once: `no-wait`); a
//! fence armed by a held job (on the OUTPUT buffer, or on the CAPTURE
//! buffer by the last slice's device_run(), which would allocate in front
//! of the other contexts' published jobs); a held job that reads its
//! OUTPUT buffer while a writer's fence is pending (`no-wait`); and a
//! file handle that publishes nothing after a held frame until STREAMOFF
//! (`no-fence`).

use std::os::fd::AsFd;

use anyhow::{bail, Context, Result};
use v4l2r::ioctl::Request;

use crate::env::Env;
use crate::m2m::{open_visl, Driver, VislNode};
use crate::observe::Watch;
use crate::parse::Usage;
use crate::paths::foreign::{self, Foreign, ForeignFence, WaitEnd};
use crate::sys;
use crate::v4l2::Mem;

/// The frame's timestamp (µs): both slices carry it.
const FRAME_TS_US: i64 = 1_000_000;

pub fn hold_capture_slices(env: &Env, name: &str) -> Result<()> {
    let frame = HeldFrame::first_slice(env, name)?;
    // First, so that a kernel that publishes on held jobs too still shows
    // whether the other file handles publish at commit meanwhile.
    foreign::foreign_fence_holds_job(env, Driver::Visl, Foreign::ReaderOnCapture, WaitEnd::Signal)
        .context("another file handle's job while this one holds its CAPTURE buffer")?;
    frame.expect_no_fences(env, "after the first slice, CAPTURE held")?;
    frame.last_slice_behind_writer(env)?;
    frame.expect_only_the_writer(env, "after the last slice returned the CAPTURE buffer")?;
    frame.next_frame_publishes(env)?;
    frame.stop()
}

/// One visl file handle with one OUTPUT and one CAPTURE buffer, both
/// exported and watched.
struct HeldFrame {
    visl: VislNode,
    out: Watch,
    cap: Watch,
}

impl HeldFrame {
    /// Streams and decodes the first slice, which holds the CAPTURE
    /// buffer.
    fn first_slice(env: &Env, name: &str) -> Result<Self> {
        let visl = open_visl()?;
        let dev = &visl.dev;
        let (oq, cq) = (dev.out_q(), dev.cap_q());
        dev.reqbufs(oq, Mem::Mmap, 1)?;
        dev.reqbufs(cq, Mem::Mmap, 1)?;
        let cap_fd = dev.expbuf(cq, 0).context("EXPBUF CAPTURE 0")?;
        let _ = sys::dma_buf_set_name(cap_fd.as_fd(), &format!("fs:{name}:cap"));
        let cap = Watch::new("CAPTURE export", cap_fd, Usage::Write, "exporter")?;
        let out_fd = dev.expbuf(oq, 0).context("EXPBUF OUTPUT 0")?;
        let _ = sys::dma_buf_set_name(out_fd.as_fd(), &format!("fs:{name}:out"));
        let out = Watch::new("OUTPUT export", out_fd, Usage::Read, "exporter")?;
        dev.qbuf_mmap(cq, 0, 0)?;
        dev.streamon(oq)?;
        dev.streamon(cq)?;
        let frame = HeldFrame { visl, out, cap };
        frame
            .slice(env, true)
            .context("first slice, V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF")?;
        if frame
            .visl
            .dev
            .dqbuf_wait(cq, std::time::Duration::from_millis(200))
            .is_ok()
        {
            bail!("visl returned the CAPTURE buffer after a slice that held it");
        }
        Ok(frame)
    }

    /// Queues one slice in a request and waits for its OUTPUT buffer.
    fn slice(&self, env: &Env, hold: bool) -> Result<()> {
        let (media, dev) = (&self.visl.media, &self.visl.dev);
        let oq = dev.out_q();
        let req = Request::alloc(media).context("MEDIA_IOC_REQUEST_ALLOC")?;
        dev.qbuf_slice_request(oq, 0, self.visl.out_size, &req, FRAME_TS_US, hold)?;
        req.queue().context("MEDIA_REQUEST_IOC_QUEUE")?;
        let d = dev
            .dqbuf_wait(oq, env.job_timeout())
            .context("the slice's OUTPUT buffer did not come back")?;
        if d.error {
            bail!("the slice's OUTPUT buffer came back with V4L2_BUF_FLAG_ERROR");
        }
        Ok(())
    }

    /// The last slice, which returns the CAPTURE buffer, queued while a
    /// sw_sync writer's fence is on its OUTPUT buffer: its job publishes
    /// nothing, yet must not read the bitstream before the writer is done,
    /// nor block the ioctl meanwhile.
    fn last_slice_behind_writer(&self, env: &Env) -> Result<()> {
        let what = "a writer's fence on the last slice's OUTPUT buffer";
        let writer = ForeignFence::import(self.out.fd.as_fd(), sys::DMA_BUF_SYNC_WRITE)?;
        let (media, dev) = (&self.visl.media, &self.visl.dev);
        let oq = dev.out_q();
        let req = Request::alloc(media).context("MEDIA_IOC_REQUEST_ALLOC")?;
        dev.qbuf_slice_request(oq, 0, self.visl.out_size, &req, FRAME_TS_US, false)?;
        let committed = foreign::commit_returns_at_once("MEDIA_REQUEST_IOC_QUEUE", what, || {
            req.queue().context("MEDIA_REQUEST_IOC_QUEUE")
        })?;
        committed.not_back_within(dev, oq, foreign::HOLD, "the held job")?;
        writer.signal()?;
        let d = dev
            .dqbuf_wait(oq, env.job_timeout())
            .context("the last slice's OUTPUT buffer did not come back once the writer was done")?;
        if d.error {
            bail!("the last slice's OUTPUT buffer came back with V4L2_BUF_FLAG_ERROR");
        }
        let d = self
            .visl
            .dev
            .dqbuf_wait(self.visl.dev.cap_q(), env.job_timeout())
            .context("the last slice did not return the CAPTURE buffer")?;
        if d.error {
            bail!("the CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
        }
        Ok(())
    }

    /// No job of a held frame publishes a fence, then or when it runs.
    fn expect_no_fences(&self, env: &Env, when: &str) -> Result<()> {
        for w in [&self.out, &self.cap] {
            let (obs, _) = w.observe(env)?;
            obs.expect_no_fences()
                .with_context(|| format!("{} {when}", w.label))?;
        }
        Ok(())
    }

    /// A frame of one slice after the held one, queued while a sw_sync
    /// reader's fence is on the CAPTURE buffer: the held jobs are over
    /// (none pending, no CAPTURE buffer held), so with no STREAMOFF in
    /// between its job is published at commit again and waits for the
    /// reader, which held jobs do not.
    fn next_frame_publishes(&self, env: &Env) -> Result<()> {
        let what = "a reader's fence on the CAPTURE buffer";
        let reader = ForeignFence::import(self.cap.fd.as_fd(), sys::DMA_BUF_SYNC_READ)?;
        let (media, dev) = (&self.visl.media, &self.visl.dev);
        let (oq, cq) = (dev.out_q(), dev.cap_q());
        dev.qbuf_mmap(cq, 0, 0)?;
        let req = Request::alloc(media).context("MEDIA_IOC_REQUEST_ALLOC")?;
        dev.qbuf_slice_request(oq, 0, self.visl.out_size, &req, FRAME_TS_US, false)?;
        let committed = foreign::commit_returns_at_once("MEDIA_REQUEST_IOC_QUEUE", what, || {
            req.queue().context("MEDIA_REQUEST_IOC_QUEUE")
        })?;
        let (obs, _) = self.cap.observe(env)?;
        obs.expect_pending(Usage::Write).with_context(|| {
            format!(
                "{} when the request of a frame of one slice after the held one was queued",
                self.cap.label
            )
        })?;
        committed.not_back_within(dev, oq, foreign::HOLD, "the job after the held frame")?;
        reader.signal()?;
        for (q, which) in [(oq, "OUTPUT"), (cq, "CAPTURE")] {
            let d = dev.dqbuf_wait(q, env.job_timeout()).with_context(|| {
                format!("the frame after the held one did not return its {which} buffer")
            })?;
            if d.error {
                bail!("the frame after the held one returned its {which} buffer with V4L2_BUF_FLAG_ERROR");
            }
        }
        Ok(())
    }

    /// After the last slice: still no fence of a held job, the OUTPUT
    /// buffer carrying only the writer's fence the test put there.
    fn expect_only_the_writer(&self, env: &Env, when: &str) -> Result<()> {
        let (obs, _) = self.out.observe(env)?;
        obs.expect_only_foreign_signalled(Usage::Write)
            .with_context(|| format!("{} {when}", self.out.label))?;
        let (obs, _) = self.cap.observe(env)?;
        obs.expect_no_fences()
            .with_context(|| format!("{} {when}", self.cap.label))
    }

    fn stop(self) -> Result<()> {
        let dev = &self.visl.dev;
        let _ = dev.streamoff(dev.out_q());
        dev.streamoff(dev.cap_q())?;
        Ok(())
    }
}
