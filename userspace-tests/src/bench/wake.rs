//! Wake latency: one job at a time, a fence waiter (poll() on the CAPTURE
//! export, DMA_BUF_IOCTL_SYNC, or a sync_file from EXPORT_SYNC_FILE, in
//! turn) next to the client's own DQBUF waiter, each measured from the
//! CAPTURE fence's signal (its tracepoint, trace_clock mono) to the moment
//! the waiter's thread runs again (CLOCK_MONOTONIC).

use std::os::fd::{AsFd, BorrowedFd};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use landing_model::bench::{Stats, Wake};
use nix::poll::PollFlags;

use super::stream::{Job, Stream, BUFFERS};
use super::trace_lines::{capture_signals, parse_trace};
use super::tracefs::Tracefs;
use crate::m2m::vim2m_set_publish_fences;
use crate::oracle::{poll_now, poll_wait};
use crate::sys::{self, monotonic_ns};

/// Long enough (five 4 ms ticks) for the waiter thread to be blocked
/// before the job completes.
pub const TRANSTIME_MS: u32 = 20;
const WAIT_LIMIT: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Waiter {
    Poll,
    SyncIoctl,
    SyncFile,
}

const WAITERS: [Waiter; 3] = [Waiter::Poll, Waiter::SyncIoctl, Waiter::SyncFile];

/// Block until the export's write fence signals; (entered, woke) in ns.
fn wait(kind: Waiter, export: BorrowedFd<'_>) -> Result<(u64, u64)> {
    let entered = monotonic_ns();
    match kind {
        Waiter::Poll => {
            if !poll_wait(export, PollFlags::POLLIN, WAIT_LIMIT)? {
                bail!("poll() on the CAPTURE export did not wake within {WAIT_LIMIT:?}");
            }
        }
        Waiter::SyncIoctl => {
            sys::dma_buf_sync(export, sys::DMA_BUF_SYNC_START | sys::DMA_BUF_SYNC_READ)
                .context("DMA_BUF_IOCTL_SYNC(START|READ)")?;
        }
        Waiter::SyncFile => {
            let sf = sys::dma_buf_export_sync_file(export, sys::DMA_BUF_SYNC_READ as u32)
                .context("DMA_BUF_IOCTL_EXPORT_SYNC_FILE(READ)")?;
            if !poll_wait(sf.as_fd(), PollFlags::POLLIN, WAIT_LIMIT)? {
                bail!("the sync_file did not signal within {WAIT_LIMIT:?}");
            }
        }
    }
    let woke = monotonic_ns();
    if kind == Waiter::SyncIoctl {
        sys::dma_buf_sync(export, sys::DMA_BUF_SYNC_END | sys::DMA_BUF_SYNC_READ)
            .context("DMA_BUF_IOCTL_SYNC(END|READ)")?;
    }
    Ok((entered, woke))
}

/// Wait until the job's CAPTURE fence is published (poll() on the export
/// stops reporting readable), so the waiter has something to wait for.
fn await_pending(export: BorrowedFd<'_>) -> Result<()> {
    let start = Instant::now();
    while poll_now(export)?.0 {
        if start.elapsed() > Duration::from_secs(1) {
            bail!("the CAPTURE export never showed a pending fence after QBUF");
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    Ok(())
}

struct Sample {
    kind: Waiter,
    entered: u64,
    woke: u64,
    dqbuf_woke: u64,
}

fn run_jobs(s: &Stream, jobs: u32) -> Result<Vec<Sample>> {
    let mut samples = Vec::new();
    for j in 0..jobs {
        let kind = WAITERS[j as usize % WAITERS.len()];
        let i = j % BUFFERS;
        let export = s.exports[i as usize].as_fd();
        s.queue_job(Job { out: i, cap: i })?;
        await_pending(export)?;
        let (fence_wait, dqbuf_woke) = std::thread::scope(|sc| {
            let waiter = sc.spawn(move || wait(kind, export));
            let dq = poll_wait(s.dev.file.as_fd(), PollFlags::POLLIN, WAIT_LIMIT);
            let dqbuf_woke = monotonic_ns();
            (waiter.join(), dq.map(|ready| (ready, dqbuf_woke)))
        });
        let (entered, woke) =
            fence_wait.map_err(|_| anyhow::anyhow!("the {kind:?} waiter thread panicked"))??;
        let (ready, dqbuf_woke) = dqbuf_woke?;
        if !ready {
            bail!("the CAPTURE queue had no buffer to dequeue within {WAIT_LIMIT:?}");
        }
        s.dequeue_job()?;
        samples.push(Sample {
            kind,
            entered,
            woke,
            dqbuf_woke,
        });
    }
    Ok(samples)
}

pub fn measure(jobs: u32) -> Result<Wake> {
    vim2m_set_publish_fences(true)?;
    let t = Tracefs::open(1024)?;
    t.enable(&["vb2/vb2_fence_signal"])?;
    let s = Stream::open(TRANSTIME_MS)?;
    t.on(true)?;
    let ran = run_jobs(&s, jobs);
    t.on(false)?;
    drop(s);
    let samples = ran?;
    let signals = capture_signals(&parse_trace(&t.read()?)?);
    if signals.len() != samples.len() {
        bail!(
            "{} jobs ran but the trace has {} CAPTURE fence signals",
            samples.len(),
            signals.len()
        );
    }
    let us = |from: u64, to: u64| to.saturating_sub(from) as f64 / 1000.0;
    let mut by_kind: [Vec<f64>; 3] = Default::default();
    let mut dqbuf = Vec::new();
    let mut late = 0;
    for (smp, &sig) in samples.iter().zip(&signals) {
        dqbuf.push(us(sig, smp.dqbuf_woke));
        if smp.entered > sig {
            late += 1;
            continue;
        }
        let k = WAITERS.iter().position(|w| *w == smp.kind).unwrap_or(0);
        by_kind[k].push(us(sig, smp.woke));
    }
    Ok(Wake {
        method: format!(
            "{jobs} vim2m jobs one at a time (transaction time {TRANSTIME_MS} ms), each with \
             the client's DQBUF waiter (poll() on the video node) and one fence waiter in \
             another thread, the three kinds in turn; latency = the waiter's CLOCK_MONOTONIC \
             after its wait minus the CAPTURE fence's vb2_fence_signal timestamp"
        ),
        dqbuf_us: Stats::of(&dqbuf),
        poll_us: Stats::of(&by_kind[0]),
        sync_ioctl_us: Stats::of(&by_kind[1]),
        sync_file_us: Stats::of(&by_kind[2]),
        late_waiters: late,
    })
}
