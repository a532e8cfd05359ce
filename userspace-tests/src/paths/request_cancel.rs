//! Request-API cancel: a request carrying the OUTPUT buffer is queued while
//! no CAPTURE buffer is, so no job can run, and then the queue is stopped
//! (STREAMOFF) or its file closed. The request completes, no fence is left
//! pending on either buffer's export, the request can be reinitialised, and
//! after a STREAMOFF the queue runs a job again. Nothing in it needs the
//! series, which must keep it so; today no fence is armed before the job
//! starts, so the fence check guards the future commit of request jobs.
//! The close of visl and vim2m also completes the queued request through
//! the context's control handler, which both drivers freed first
//! (patches 0029 and 0033): the kernel log shows it, not the test.

use std::os::fd::AsFd;

use anyhow::{bail, Context, Result};
use nix::poll::PollFlags;

use crate::env::Env;
use crate::m2m::{open_vim2m, BufSource, Driver, M2mRun};
use crate::oracle;
use crate::sys;
use crate::v4l2::find_media;

/// How the queued request is cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelBy {
    StreamOff,
    Close,
}

/// The m2m drivers whose OUTPUT queue takes requests.
fn open_with_requests(env: &Env, driver: Driver) -> Result<M2mRun> {
    match driver {
        Driver::Visl => M2mRun::open(env, Driver::Visl, BufSource::Mmap),
        Driver::Vim2m => {
            let media = find_media("vim2m", "modprobe vim2m")?;
            let run = M2mRun::setup(env, open_vim2m()?, b"RGB3", BufSource::Mmap)?;
            Ok(run.with_requests(media))
        }
        other => bail!("{} takes no requests in this suite", other.name()),
    }
}

pub fn request_cancel(env: &Env, driver: Driver, by: CancelBy) -> Result<()> {
    let mut run = open_with_requests(env, driver)?;
    let exports = [
        ("OUTPUT", run.export_out("fs:reqcancel:out")?),
        ("CAPTURE", run.export_cap("fs:reqcancel:cap")?),
    ];
    {
        let d = run.dev()?;
        d.streamon(d.out_q())?;
        d.streamon(d.cap_q())?;
    }
    let req = run.output_request()?;
    req.queue().context("MEDIA_REQUEST_IOC_QUEUE")?;
    if oracle::poll_wait(
        sys::request_fd(&req),
        PollFlags::POLLPRI,
        env.start_timeout(),
    )? {
        bail!("the request completed without a CAPTURE buffer: it cannot be cancelled");
    }
    match by {
        CancelBy::StreamOff => {
            let d = run.dev()?;
            d.streamoff(d.out_q())
                .context("STREAMOFF OUTPUT with a request queued")?;
            d.streamoff(d.cap_q())?;
        }
        CancelBy::Close => {
            run.drop_mappings();
            run.dev = None;
        }
    }
    if !oracle::poll_wait(sys::request_fd(&req), PollFlags::POLLPRI, env.job_timeout())? {
        bail!("the queued request did not complete after {by:?}");
    }
    for (what, fd) in &exports {
        let (_, view) = oracle::sync_view(fd.as_fd(), sys::DMA_BUF_SYNC_WRITE as u32)?;
        if view.pending_any() {
            bail!(
                "after {by:?} a fence is still pending on the {what} export: {}",
                view.describe()
            );
        }
    }
    req.reinit()
        .context("MEDIA_REQUEST_IOC_REINIT of the completed request")?;
    if by == CancelBy::StreamOff {
        run.start().context("a job after the cancel")?;
        if run.wait_done(env)? {
            bail!("the job after the cancel returned its CAPTURE buffer with an error");
        }
    }
    Ok(())
}
