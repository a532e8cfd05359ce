//! The soak: many frames with fences on while other threads keep
//! exporting the CAPTURE buffers, taking sync_files from them and polling
//! them; then every vb2 fence allocated must have been released, no
//! dma-buf may be left over, and kmemleak must find nothing.

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};
use landing_model::bench::Memory;

use super::stream::{Stream, BUFFERS};
use super::throughput::TRANSTIME_MS;
use super::trace_lines::{fence_balance, parse_trace};
use super::tracefs::Tracefs;
use crate::m2m::{vim2m_fences_switchable, vim2m_set_publish_fences};
use crate::oracle::{bufinfo_objects, poll_now};
use crate::sys;

const KMEMLEAK: &str = "/sys/kernel/debug/kmemleak";

fn dmabufs() -> Result<usize> {
    Ok(bufinfo_objects()?.len())
}

/// Export every CAPTURE buffer again, take a sync_file of each export,
/// close both, until told to stop.
fn exporter(s: &Stream, stop: &AtomicBool) -> Result<u64> {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        for i in 0..BUFFERS {
            let e = s.dev.expbuf(s.cap_q, i)?;
            drop(sys::dma_buf_export_sync_file(
                e.as_fd(),
                sys::DMA_BUF_SYNC_READ as u32,
            )?);
            n += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(n)
}

/// poll() every held export, until told to stop.
fn poller(s: &Stream, stop: &AtomicBool) -> Result<u64> {
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        for e in &s.exports {
            poll_now(e.as_fd())?;
            n += 1;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(n)
}

fn stream_with_company(frames: u32) -> Result<()> {
    let s = Stream::open(TRANSTIME_MS)?;
    let stop = AtomicBool::new(false);
    std::thread::scope(|sc| {
        let ex = sc.spawn(|| exporter(&s, &stop));
        let po = sc.spawn(|| poller(&s, &stop));
        let ran = s.run(frames);
        stop.store(true, Ordering::Relaxed);
        let joined = |h: std::thread::ScopedJoinHandle<'_, Result<u64>>, who: &str| {
            h.join()
                .map_err(|_| anyhow::anyhow!("the {who} thread panicked"))?
        };
        ran?;
        joined(ex, "exporter")?;
        joined(po, "poller")?;
        Ok(())
    })
}

/// Objects kmemleak reports after two scans (it reports an object only
/// once it was unreferenced in consecutive scans and older than 5 s).
fn kmemleak_reports() -> Result<Option<usize>> {
    if !std::path::Path::new(KMEMLEAK).exists() {
        return Ok(None);
    }
    std::thread::sleep(Duration::from_secs(6));
    for _ in 0..2 {
        std::fs::write(KMEMLEAK, "scan").with_context(|| format!("write scan to {KMEMLEAK}"))?;
    }
    let text = std::fs::read_to_string(KMEMLEAK).with_context(|| format!("read {KMEMLEAK}"))?;
    Ok(Some(text.matches("unreferenced object").count()))
}

pub fn measure(frames: u32) -> Result<Memory> {
    if vim2m_fences_switchable() {
        vim2m_set_publish_fences(true)?;
    }
    let dmabufs_before = dmabufs()?;
    let t = Tracefs::open(16384)?;
    t.enable(&["dma_fence/dma_fence_init", "dma_fence/dma_fence_destroy"])?;
    t.on(true)?;
    let ran = stream_with_company(frames);
    // The context is closed: its buffers and their reservations are gone,
    // and with them the last references to the fences.
    t.on(false)?;
    ran?;
    let balance = fence_balance(&parse_trace(&t.read()?)?, "vb2");
    drop(t);
    Ok(Memory {
        frames,
        method: format!(
            "{frames} vim2m frames (transaction time {TRANSTIME_MS} ms, fences on where the \
             kernel has them) while one thread re-exports every CAPTURE buffer and takes a \
             sync_file of it and another polls the held exports; vb2 fences counted by the \
             dma_fence_init (driver vb2) and dma_fence_destroy trace events, dma-bufs by \
             debugfs bufinfo before and after, then two kmemleak scans"
        ),
        fences_allocated: balance.allocated,
        fences_released: balance.released,
        unreleased: balance.unreleased,
        dmabufs_before,
        dmabufs_after: dmabufs()?,
        kmemleak_reports: kmemleak_reports()?,
    })
}
