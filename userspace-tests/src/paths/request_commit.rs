//! Fences published when a request's job is committed: on visl, a second
//! request queued behind a job that waits (a sw_sync reader fence on its
//! CAPTURE buffer) has its fences, WRITE on its CAPTURE buffer and READ on
//! its OUTPUT buffer, when MEDIA_REQUEST_IOC_QUEUE returns, before either
//! job started. The control kernel publishes none; a series that applies
//! the request's controls in device_run() publishes them only when the job
//! runs, inside the ioctl, and they are signalled by the time it returns.

use std::os::fd::AsFd;

use anyhow::{bail, Context, Result};
use v4l2r::ioctl::{PlaneMapping, Request};

use crate::env::Env;
use crate::landing::{self, LandingRow};
use crate::m2m::{label_buf, open_visl};
use crate::observe::{
    expect_each_signalled, observe_each, usages_separate, views_by_usage, Expect, Watch,
};
use crate::parse::Usage;
use crate::paths::commit::dequeue_jobs;
use crate::paths::foreign::ForeignFence;
use crate::sys;
use crate::v4l2::{Mem, VideoDev};

/// Job 1 uses buffer 0 of each queue, job 2 buffer 1.
const JOBS: u32 = 2;

pub fn fences_at_request_queue(env: &Env, name: &str) -> (LandingRow, Result<()>) {
    landing::record("visl", name, |row| at_request_queue(env, name, row))
}

fn at_request_queue(env: &Env, name: &str, row: &mut LandingRow) -> Result<()> {
    let visl = open_visl()?;
    let (media, dev, out_size) = (&visl.media, &visl.dev, visl.out_size);
    let (oq, cq) = (dev.out_q(), dev.cap_q());
    for (q, what) in [(oq, "OUTPUT"), (cq, "CAPTURE")] {
        let got = dev.reqbufs(q, Mem::Mmap, JOBS)?;
        if got < JOBS {
            bail!("visl gave {got} {what} buffers, the test needs {JOBS}");
        }
    }
    let caps = (0..JOBS)
        .map(|i| {
            let mut c = dev.mmap_plane(cq, i)?;
            c.as_mut().fill(0);
            Ok(c)
        })
        .collect::<Result<Vec<PlaneMapping>>>()?;

    // A display still reading job 1's CAPTURE buffer holds job 1.
    let held = dev.expbuf(cq, 0).context("EXPBUF CAPTURE 0")?;
    let reader = ForeignFence::import(held.as_fd(), sys::DMA_BUF_SYNC_READ)?;

    // Job 2's buffers, exported before anything is queued.
    let cap_fd = dev.expbuf(cq, 1).context("EXPBUF CAPTURE 1")?;
    label_buf(&cap_fd, &format!("fs:{name}:cap"));
    let out_fd = dev.expbuf(oq, 1).context("EXPBUF OUTPUT 1")?;
    label_buf(&out_fd, &format!("fs:{name}:out"));
    let mut watched = vec![
        Watch::new(
            "second request's CAPTURE export",
            cap_fd,
            Usage::Write,
            "exporter",
        )?,
        Watch::new(
            "second request's OUTPUT export",
            out_fd,
            Usage::Read,
            "exporter",
        )?,
    ];
    views_by_usage(&mut watched);

    dev.streamon(oq)?;
    dev.streamon(cq)?;
    for i in 0..JOBS {
        dev.qbuf_mmap(cq, i, 0)?;
    }
    let t0 = sys::monotonic_ns();
    let requests = (0..JOBS)
        .map(|i| queue_request(dev, media, i, out_size))
        .collect::<Result<Vec<Request>>>()?;
    let seen = observe_each(
        env,
        row,
        &watched,
        Expect::Pending,
        "when MEDIA_REQUEST_IOC_QUEUE of the second request returned",
    )?;
    // Neither job has started (visl fills the CAPTURE buffer when its job
    // runs): the fences seen were published at commit.
    for (i, c) in caps.iter().enumerate() {
        if written(c) {
            bail!(
                "job {} had started while job 1 waited for the foreign fence: a job queued with a request must wait for it",
                i + 1
            );
        }
    }
    usages_separate(&watched, &seen)?;

    reader.signal()?;
    dequeue_jobs(dev, JOBS, env).context("after the foreign fence signalled")?;
    expect_each_signalled(
        env,
        row,
        &watched,
        &seen,
        t0,
        Some(false),
        "after both jobs",
    )?;
    for (i, c) in caps.iter().enumerate() {
        if !written(c) {
            bail!("CAPTURE buffer {i} was not written by its job");
        }
    }
    drop(requests);
    // Held to here: closing the timeline signals what is left on it.
    drop((reader, held));
    Ok(())
}

/// OUTPUT buffer `index` in a request of its own, queued.
fn queue_request(
    dev: &VideoDev,
    media: &std::fs::File,
    index: u32,
    out_size: u32,
) -> Result<Request> {
    let req = Request::alloc(media).context("MEDIA_IOC_REQUEST_ALLOC")?;
    dev.qbuf_mmap_request(dev.out_q(), index, out_size, &req)?;
    req.queue()
        .with_context(|| format!("MEDIA_REQUEST_IOC_QUEUE of request {}", index + 1))?;
    Ok(req)
}

fn written(c: &PlaneMapping) -> bool {
    sys::plane_read(c, c.len()).iter().any(|&b| b != 0)
}
