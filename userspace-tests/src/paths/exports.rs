//! Exports of a queue that does not publish fences keep one reservation
//! object each, as before the series (patch 0001, review M5): importers
//! that lock two exports of one buffer in one ww context must keep
//! working there. Only queues that publish fences share the buffer's
//! reservation object between its exports (`vim2m/several_exports`).

use std::os::fd::AsFd;

use anyhow::{Context, Result};

use crate::m2m::{open_vim2m, vim2m_fences_switchable, vim2m_set_publish_fences, FencesBackOn};
use crate::oracle::bufinfo_entry;
use crate::sys;
use crate::v4l2::Mem;
use crate::verdict::wrong;

pub fn vim2m_unfenced_exports_separate() -> Result<()> {
    // On the control kernel vim2m has no switch and publishes nothing.
    let _restore = if vim2m_fences_switchable() {
        vim2m_set_publish_fences(false)?;
        Some(FencesBackOn)
    } else {
        None
    };
    let dev = open_vim2m()?;
    let q = dev.cap_q();
    dev.reqbufs(q, Mem::Mmap, 1)
        .context("REQBUFS(CAPTURE, MMAP, 1)")?;
    let first = dev.expbuf(q, 0).context("first EXPBUF of CAPTURE 0")?;
    let second = dev.expbuf(q, 0).context("second EXPBUF of CAPTURE 0")?;

    // The buffer is idle, so EXPORT_SYNC_FILE gives the signalled stub;
    // bufinfo lists signalled fences too, which is all this needs.
    let stub = sys::dma_buf_export_sync_file(first.as_fd(), sys::DMA_BUF_SYNC_READ as u32)
        .context("DMA_BUF_IOCTL_EXPORT_SYNC_FILE on the first export")?;
    sys::dma_buf_import_sync_file(first.as_fd(), sys::DMA_BUF_SYNC_WRITE as u32, stub.as_fd())
        .context("DMA_BUF_IOCTL_IMPORT_SYNC_FILE into the first export")?;

    let entry = |fd, which| {
        bufinfo_entry(fd)?.ok_or_else(|| wrong(format!("bufinfo does not list the {which} export")))
    };
    let on_first = entry(first.as_fd(), "first")?;
    if on_first.fences.is_empty() {
        return Err(wrong(
            "bufinfo lists no fence on the first export after IMPORT_SYNC_FILE, \
             so it cannot show whether the second export shares it",
        ));
    }
    let on_second = entry(second.as_fd(), "second")?;
    if !on_second.fences.is_empty() {
        return Err(wrong(format!(
            "a fence imported through one export of vim2m CAPTURE buffer 0 is on \
             another export of it ({:?}), on a queue that does not publish fences: \
             its exports must keep one reservation object each",
            on_second.fences
        )));
    }
    Ok(())
}
