//! A display consumer handed a frame the moment its job is queued, the
//! compositor case the series exists for: vim2m's second job is committed
//! while the device is busy with the first; right after that QBUF its
//! CAPTURE export is PRIME-imported into vkms and committed to the primary
//! plane, and the writeback connector captures what vkms composed. KMS's
//! `prepare_fb` waits for the WRITE fence on the buffer's reservation, so
//! on the patched kernel the capture is the job's frame. The control kernel
//! publishes none: vkms scans out the buffer before the job writes it.

use anyhow::{bail, Context, Result};
use drm::buffer::DrmFourcc;

use crate::env::Env;
use crate::frames::{VIM2M_H, VIM2M_W};
use crate::kms::{self, ImportedFrame, Pipeline, WritebackTarget};
use crate::paths::commit::BackToBack;
use crate::verdict::missing;

/// vkms converts 8-bit channels to 16 bits and back for the writeback;
/// one step of rounding either way is not a wrong frame.
const CHANNEL_TOLERANCE: u8 = 1;

pub fn vkms_scanout_waits_for_job(env: &Env) -> Result<()> {
    let card = kms::open_vkms()?;
    let pipe = Pipeline::discover(&card)?;
    let (cw, ch) = pipe.size();
    if cw < VIM2M_W || ch < VIM2M_H {
        bail!("vkms's smallest mode {cw}x{ch} is smaller than vim2m's {VIM2M_W}x{VIM2M_H} frame");
    }
    let mut target = WritebackTarget::new(&card, &pipe)?;
    let jobs = BackToBack::setup(env)?;
    let cap = jobs.dev.expbuf(jobs.dev.cap_q(), 1)?;
    // V4L2's RGB24 is R, G, B in memory: DRM's BGR888 (little endian
    // [23:0] B:G:R).
    let frame = ImportedFrame::import(
        &card,
        std::os::fd::AsFd::as_fd(&cap),
        (VIM2M_W, VIM2M_H),
        DrmFourcc::Bgr888,
        jobs.cap_pitch,
    )?;

    jobs.start_first(env)?;
    jobs.commit_second()?;
    let wb_fence = kms::commit_with_writeback(&card, &pipe, &frame, &target)?;
    jobs.second_not_started("when the atomic commit returned")?;
    // Job 1's remaining time, job 2's, and the writeback's vblank.
    let limit = env.job_timeout() * 2;
    if !kms::wait_signalled(&wb_fence, limit)? {
        bail!(
            "vkms's writeback did not complete within {} ms of the commit",
            limit.as_millis()
        );
    }
    jobs.finish(env)?;
    jobs.check_frames()?;
    let produced = jobs.capture(1);
    let shown = target.read_rgb24(&card, VIM2M_W, VIM2M_H)?;
    kms::disable(&card, &pipe)?;
    compare(&produced, &shown)
}

/// What vkms captured against the frame the job produced: all black is
/// the stale buffer (the commit found no fence to wait for), anything else
/// that differs is a wrong frame.
fn compare(produced: &[u8], shown: &[u8]) -> Result<()> {
    if produced.iter().all(|&b| b == 0) {
        bail!("the job's frame is all black, as the stale buffer: this cannot tell them apart");
    }
    let differs = |a: u8, b: u8| a.abs_diff(b) > CHANNEL_TOLERANCE;
    let bad = produced
        .iter()
        .zip(shown)
        .filter(|(a, b)| differs(**a, **b))
        .count();
    if bad == 0 && produced.len() == shown.len() {
        return Ok(());
    }
    if shown.iter().all(|&b| b == 0) {
        return Err(missing(
            "vkms scanned out the CAPTURE buffer before its job wrote it (the writeback is \
             all black): the KMS commit found no fence on the buffer's reservation to wait for",
        ));
    }
    let first = produced
        .iter()
        .zip(shown)
        .position(|(a, b)| differs(*a, *b))
        .unwrap_or(0);
    Err(anyhow::anyhow!(
        "vkms's writeback differs from the job's frame in {bad} of {} bytes (first at byte \
         {first}: {} vs {})",
        produced.len(),
        produced.get(first).copied().unwrap_or(0),
        shown.get(first).copied().unwrap_or(0)
    ))
    .context("a wrong frame, not a stale one")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{category_of, Category};

    #[test]
    fn stale_is_no_fence_other_is_error() {
        let frame = vec![10u8, 20, 30, 40, 50, 60];
        assert!(compare(&frame, &[11, 19, 30, 40, 51, 60]).is_ok());
        let stale = compare(&frame, &[0; 6]).expect_err("stale");
        assert_eq!(category_of(&stale), Category::NoFence);
        let wrong = compare(&frame, &[10, 20, 30, 0, 0, 0]).expect_err("wrong");
        assert_eq!(category_of(&wrong), Category::Error);
        assert!(compare(&[0; 6], &[0; 6]).is_err());
    }
}
