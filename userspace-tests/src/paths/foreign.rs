//! Fences other users put on a buffer hold the job that uses it, as IGT's
//! dmabuf_sync_file tests do it: a sw_sync fence imported with
//! DMA_BUF_IOCTL_IMPORT_SYNC_FILE, as a writer's on an OUTPUT buffer (the
//! job reads it) or as a reader's on a CAPTURE buffer (the job writes it).
//! While it is pending the QBUF still returns at once, the job does not
//! start, and its own fence is already on the CAPTURE buffer; once it
//! signals, the job runs. STREAMOFF while the job waits cancels it.

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use v4l2r::{QueueDirection, QueueType};

use crate::access::open_node;
use crate::env::Env;
use crate::m2m::{BufSource, Driver, M2mRun};
use crate::observe::Watch;
use crate::oracle;
use crate::parse::Usage;
use crate::sys;
use crate::v4l2::{V4l2Error, VideoDev};
use crate::verdict::ran_early;

/// sw_sync's debugfs file: each open is a timeline.
pub const SW_SYNC: &str = "/sys/kernel/debug/sync/sw_sync";
/// How to get it.
pub const SW_SYNC_FIX: &str = "a kernel with CONFIG_SW_SYNC=y and debugfs mounted";

/// How long the job must stay unstarted while the foreign fence is
/// pending. vim2m and vicodec write the frame when the job starts, and a
/// kernel that does not wait starts it inside the QBUF, so a short hold
/// tells them apart.
pub const HOLD: Duration = Duration::from_millis(500);

/// A fence of another user: a sw_sync fence, pending until `signal()`,
/// imported into a dma-buf's reservation as a reader's
/// (`DMA_BUF_SYNC_READ`) or a writer's (`DMA_BUF_SYNC_WRITE`). Dropping it
/// closes the timeline, which signals the fence too.
pub struct ForeignFence {
    timeline: std::fs::File,
}

impl ForeignFence {
    pub fn import(target: BorrowedFd<'_>, flags: u64) -> Result<Self> {
        let timeline = open_node(SW_SYNC, false, SW_SYNC_FIX)?;
        let fence = sys::sw_sync_create_fence(timeline.as_fd(), 1, "fresnel-foreign")
            .context("SW_SYNC_IOC_CREATE_FENCE")?;
        sys::dma_buf_import_sync_file(target, flags as u32, fence.as_fd())
            .context("DMA_BUF_IOCTL_IMPORT_SYNC_FILE")?;
        Ok(Self { timeline })
    }

    pub fn signal(&self) -> Result<()> {
        sys::sw_sync_inc(self.timeline.as_fd(), 1).context("SW_SYNC_IOC_INC")?;
        Ok(())
    }
}

/// A job committed while a foreign fence is pending on one of its buffers:
/// by which ioctl, behind what, and when.
pub struct Committed<'a> {
    ioctl: &'a str,
    what: &'a str,
    t0: Instant,
}

/// Run `commit`, the `ioctl` that commits a job while `what` is pending on
/// one of its buffers: it must return within `HOLD`, as the job waits by
/// callback, not in the ioctl.
pub fn commit_returns_at_once<'a>(
    ioctl: &'a str,
    what: &'a str,
    commit: impl FnOnce() -> Result<()>,
) -> Result<Committed<'a>> {
    let t0 = Instant::now();
    commit()?;
    let took = t0.elapsed();
    if took >= HOLD {
        bail!(
            "{ioctl} took {} ms with {what} pending: the job must wait by callback, not in the ioctl",
            took.as_millis()
        );
    }
    Ok(Committed { ioctl, what, t0 })
}

impl Committed<'_> {
    /// `job` must not return its buffer of `q` within `hold`: it has not
    /// run. Only DQBUF's timeout shows that; any other error fails the
    /// check, as it could hide a job that ran.
    pub fn not_back_within(
        &self,
        dev: &VideoDev,
        q: QueueType,
        hold: Duration,
        job: &str,
    ) -> Result<()> {
        let (ioctl, what) = (self.ioctl, self.what);
        match dev.dqbuf_wait(q, hold) {
            Ok(_) => Err(ran_early(format!(
                "{job} returned its {} buffer {} ms after {ioctl} while {what} was pending",
                queue_name(q),
                self.t0.elapsed().as_millis()
            ))),
            Err(V4l2Error::Timeout { .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| {
                format!(
                    "DQBUF of {job}'s {} buffer while {what} was pending",
                    queue_name(q)
                )
            }),
        }
    }
}

/// The name V4L2's documentation gives `q`'s direction.
fn queue_name(q: QueueType) -> &'static str {
    match q.direction() {
        QueueDirection::Output => "OUTPUT",
        QueueDirection::Capture => "CAPTURE",
    }
}

/// Whose fence, on which buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Foreign {
    /// A producer still writing the OUTPUT buffer (WRITE usage).
    WriterOnOutput,
    /// A consumer still reading the CAPTURE buffer (READ usage).
    ReaderOnCapture,
}

/// How the wait ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitEnd {
    /// The foreign fence signals: the job runs.
    Signal,
    /// STREAMOFF while the job waits: its fence is canceled.
    StreamOff,
}

pub fn foreign_fence_holds_job(
    env: &Env,
    driver: Driver,
    foreign: Foreign,
    end: WaitEnd,
) -> Result<()> {
    let mut run = M2mRun::open(env, driver, BufSource::Mmap)?;
    let cap = run.export_cap("fs:foreign:cap")?;
    let (target, flags, what) = match foreign {
        Foreign::WriterOnOutput => (
            run.export_out("fs:foreign:out")?,
            sys::DMA_BUF_SYNC_WRITE,
            "a writer's fence on the OUTPUT buffer",
        ),
        Foreign::ReaderOnCapture => (
            cap.try_clone().context("dup CAPTURE export")?,
            sys::DMA_BUF_SYNC_READ,
            "a reader's fence on the CAPTURE buffer",
        ),
    };
    let fence = ForeignFence::import(target.as_fd(), flags)?;

    commit_returns_at_once("QBUF", what, || run.start())?;
    hold(&run, what)?;
    // Published at commit although the job waits: a consumer handed the
    // CAPTURE buffer now waits for this job.
    let w = Watch::new("CAPTURE export", cap, Usage::Write, "exporter")?;
    let (obs, held) = w.observe(env)?;
    let id = obs
        .expect_pending(Usage::Write)
        .with_context(|| format!("CAPTURE export while the job waits for {what}"))?;

    match end {
        WaitEnd::Signal => {
            fence.signal()?;
            if run.wait_done(env)? {
                bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
            }
            run.check_frame(
                "CAPTURE after the foreign fence signalled",
                &run.cap_bytes(),
            )?;
            oracle::expect_sync_signalled(
                held.writers.as_fd(),
                run.t0_ns,
                Some(false),
                env.job_timeout(),
            )
            .context("the job's fence after the foreign fence signalled")?;
            let (obs, _) = w.observe(env)?;
            obs.expect_signalled(id, false)
                .context("CAPTURE export after the job")?;
        }
        WaitEnd::StreamOff => {
            let d = run.dev()?;
            d.streamoff(d.cap_q())?;
            d.streamoff(d.out_q())?;
            oracle::expect_sync_signalled(
                held.writers.as_fd(),
                run.t0_ns,
                Some(true),
                env.job_timeout(),
            )
            .context("the waiting job's fence after STREAMOFF")?;
            let (obs, _) = w.observe(env)?;
            obs.expect_signalled(id, true)
                .context("CAPTURE export after STREAMOFF")?;
            if run.cap_bytes().iter().any(|&b| b != 0) {
                bail!("the canceled job wrote the CAPTURE buffer");
            }
            // The foreign fence is still pending: the job was canceled, not
            // run. Let it go now.
            fence.signal()?;
        }
    }
    // Held to here: closing the timeline signals its fences.
    drop((fence, target));
    Ok(())
}

/// The job stays unstarted for `HOLD` (the frame is written when the job
/// starts).
fn hold(run: &M2mRun, what: &str) -> Result<()> {
    let start = Instant::now();
    while start.elapsed() < HOLD {
        if run.cap_bytes().iter().any(|&b| b != 0) {
            return Err(ran_early(format!(
                "the job started {} ms after QBUF while {what} was pending",
                start.elapsed().as_millis()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}
