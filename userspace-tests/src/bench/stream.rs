//! The benchmark's workload: one vim2m context streaming small RGB24
//! frames through a few MMAP buffers per queue, every CAPTURE buffer
//! exported (so its fences land on a dma-buf a consumer could hold).

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use v4l2r::QueueType;

use crate::frames::pattern_rgb24;
use crate::m2m::{open_vim2m, VIM2M_CID_TRANS_TIME_MSEC};
use crate::v4l2::{Dequeued, Mem, VideoDev};

/// Frame size: the smallest vim2m accepts comfortably, so the per-frame
/// copy does not drown the per-job fence cost.
pub const W: u32 = 64;
pub const H: u32 = 64;
/// Buffers per queue: jobs in flight behind the running one.
pub const BUFFERS: u32 = 4;

/// The buffers of one job.
#[derive(Clone, Copy, Debug)]
pub struct Job {
    pub out: u32,
    pub cap: u32,
}

fn check_done(d: &Dequeued, queue: &str) -> Result<()> {
    if d.error {
        bail!("vim2m returned {queue} buffer {} with an error", d.index);
    }
    Ok(())
}

/// A streaming vim2m context (STREAMON on both queues, nothing queued).
pub struct Stream {
    pub dev: VideoDev,
    pub out_q: QueueType,
    pub cap_q: QueueType,
    out_size: u32,
    /// One export per CAPTURE buffer, held for the stream's life.
    pub exports: Vec<OwnedFd>,
    pub timeout: Duration,
}

impl Stream {
    /// Open a new context (so `publish_fences` as set now applies), set
    /// the job time, formats and buffers, export CAPTURE, STREAMON.
    pub fn open(transtime_ms: u32) -> Result<Self> {
        let mut dev = open_vim2m()?;
        dev.s_ctrl(VIM2M_CID_TRANS_TIME_MSEC, transtime_ms as i32)
            .context("set vim2m transaction time")?;
        let (out_q, cap_q) = (dev.out_q(), dev.cap_q());
        let of = dev.set_format(out_q, b"RGB3", W, H)?;
        let cf = dev.set_format(cap_q, b"RGB3", W, H)?;
        if (of.width, of.height, cf.width, cf.height) != (W, H, W, H) {
            bail!("vim2m adjusted {W}x{H} to {}x{}", cf.width, cf.height);
        }
        let out_size = of.plane_fmt.first().map_or(0, |p| p.sizeimage);
        let frame = pattern_rgb24(W, H);
        if out_size as usize != frame.len() {
            bail!("OUTPUT sizeimage {out_size}, expected {}", frame.len());
        }
        let n_out = dev.reqbufs(out_q, Mem::Mmap, BUFFERS)?;
        let n_cap = dev.reqbufs(cap_q, Mem::Mmap, BUFFERS)?;
        if n_out < BUFFERS || n_cap < BUFFERS {
            bail!("vim2m gave {n_out} OUTPUT and {n_cap} CAPTURE buffers, asked {BUFFERS}");
        }
        for i in 0..BUFFERS {
            let mut m = dev.mmap_plane(out_q, i)?;
            m.as_mut()[..frame.len()].copy_from_slice(&frame);
        }
        let exports = (0..BUFFERS)
            .map(|i| dev.expbuf(cap_q, i))
            .collect::<Result<Vec<_>, _>>()?;
        dev.streamon(out_q)?;
        dev.streamon(cap_q)?;
        Ok(Self {
            dev,
            out_q,
            cap_q,
            out_size,
            exports,
            timeout: Duration::from_millis(u64::from(transtime_ms) + 5000),
        })
    }

    /// Queue an OUTPUT and a CAPTURE buffer: one job.
    pub fn queue_job(&self, job: Job) -> Result<()> {
        self.dev.qbuf_mmap(self.out_q, job.out, self.out_size)?;
        self.dev.qbuf_mmap(self.cap_q, job.cap, 0)?;
        Ok(())
    }

    /// DQBUF the CAPTURE and the OUTPUT buffer of the next finished job.
    pub fn dequeue_job(&self) -> Result<Job> {
        let cap = self.dev.dqbuf_wait(self.cap_q, self.timeout)?;
        let out = self.dev.dqbuf_wait(self.out_q, self.timeout)?;
        check_done(&cap, "CAPTURE")?;
        check_done(&out, "OUTPUT")?;
        Ok(Job {
            out: out.index,
            cap: cap.index,
        })
    }

    /// Stream `frames` jobs with every buffer in flight; returns the wall time.
    pub fn run(&self, frames: u32) -> Result<Duration> {
        let start = Instant::now();
        let first = frames.min(BUFFERS);
        for i in 0..first {
            self.queue_job(Job { out: i, cap: i })?;
        }
        let mut queued = first;
        for _ in 0..frames {
            let done = self.dequeue_job()?;
            if queued < frames {
                self.queue_job(done)?;
                queued += 1;
            }
        }
        Ok(start.elapsed())
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        // Errors here cannot change a result already measured; closing the
        // fd releases the buffers either way.
        let _ = self.dev.streamoff(self.cap_q);
        let _ = self.dev.streamoff(self.out_q);
    }
}
