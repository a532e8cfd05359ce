//! vicodec's stateful decoder fed a frame it must reject: the decode job
//! completes with an error, and its CAPTURE fence must be signalled with
//! -EIO.

use std::os::fd::AsFd;

use anyhow::{bail, Context, Result};

use crate::env::Env;
use crate::frames::{FWHT_HDR_LEN, FWHT_MAGIC, VICODEC_H, VICODEC_W};
use crate::m2m::{Driver, M2mRun};
use crate::oracle::{self, FENCE_EIO};
use crate::parse::Usage;

/// A complete FWHT frame whose header announces version 0, which no
/// vicodec accepts: 44 header bytes (magic, then big-endian version,
/// width, height, flags, colorspace, xfer_func, ycbcr_enc, quantization,
/// size) and `size` bytes of payload.
pub fn fwht_bad_version_frame() -> Vec<u8> {
    const PAYLOAD: u32 = 64;
    let mut v = FWHT_MAGIC.to_vec();
    for f in [0, VICODEC_W, VICODEC_H, 0, 0, 0, 0, 0, PAYLOAD] {
        v.extend_from_slice(&f.to_be_bytes());
    }
    v.resize(FWHT_HDR_LEN + PAYLOAD as usize, 0);
    v
}

/// A decode job that fails signals its CAPTURE fence with -EIO.
///
/// Input: one OUTPUT buffer holding exactly `fwht_bad_version_frame()`,
/// queued with both queues already streaming (so the stateful decoder
/// parses it in job_ready(), not in buf_queue()). vicodec-core.c:
/// job_ready() finds the magic, copies the header and the `size` payload
/// bytes (comp_has_frame), then, the header being invalid
/// (is_header_valid() -> validate_by_version(): version 0), returns 1
/// before any resolution check ("device_run will just drop the frame with
/// an error"). device_run() arms both fences, device_process() ->
/// v4l2_fwht_decode() rejects version 0 with -EINVAL, so both buffers
/// complete with VB2_BUF_STATE_ERROR, and vb2_buffer_done() signals the
/// fences with -EIO.
///
/// The job runs inside QBUF, so the fence is only ever seen signalled:
/// bufinfo shows that it is there, but only VB2FP_IOC_QUERY reports the
/// error of a signalled fence (bufinfo does not print it; poll and
/// EXPORT_SYNC_FILE skip signalled fences and return the stub). Signalling detaches the fence's driver name, so the
/// kmod's records (written by the vb2 tracepoints) tie it to vb2: an arm
/// of that (context, seqno) as WRITE on this export's inode, and one
/// signal with error -5.
pub fn vicodec_error_completion(env: &Env, name: &str) -> Result<()> {
    let dev = Driver::VicodecDec.open()?;
    let mut run = M2mRun::setup_vicodec_dec(dev, fwht_bad_version_frame())?;
    let exp = run.export_cap(&format!("fs:{name}:cap"))?;
    run.queue_capture()?;
    let (obs, _) = oracle::observe(&env.oracles, exp.as_fd())?;
    obs.expect_no_fences()
        .context("CAPTURE export with only CAPTURE queued")?;
    run.queue_output()?;
    // Checked first, so that an input that stopped provoking an error is
    // a visible failure on every kernel.
    let error = run
        .wait_done(env)
        .context("the FWHT frame with version 0 did not complete as one decode job")?;
    if !error {
        bail!(
            "the input did not provoke an error: the FWHT frame with version 0 was decoded \
             (CAPTURE returned without V4L2_BUF_FLAG_ERROR, bytesused {}), so nothing here \
             exercises error completion",
            run.payload_len()
        );
    }
    let (obs, _) = oracle::observe(&env.oracles, exp.as_fd())?;
    // expect_one_signalled_with() asks bufinfo first: one signalled WRITE
    // fence on the reservation (an unpatched kernel has none: no-fence).
    // Then the kmod, required for the error: QUERY says -5, and its
    // records show one event=arm of this fence as WRITE on this export's
    // inode and one event=signal with error -5.
    obs.expect_one_signalled_with(Usage::Write, FENCE_EIO)
        .context("CAPTURE export after the failed decode job")?;
    Ok(())
}

/// A fence covers one job, not the buffer's stay in the driver: an OUTPUT
/// buffer that spans two jobs has the fence of the first signalled when
/// that job ends, although the buffer stays queued.
///
/// Input: one OUTPUT buffer holding two `fwht_bad_version_frame()`s, one
/// CAPTURE buffer. vicodec-core.c: job_ready() parses one frame per job
/// and stops after it, so the first job consumes the first frame only
/// (cur_buf_offset < bytesused): device_run() completes the CAPTURE
/// buffer (with an error, version 0) and leaves the OUTPUT buffer queued,
/// then v4l2_m2m_job_finish(). The second job needs another CAPTURE
/// buffer, which the test never queues: whatever userspace does next, the
/// OUTPUT buffer's READ fence of the first job must already be signalled.
/// Before per-job fences it stayed pending until STREAMOFF or close.
pub fn vicodec_output_spans_jobs(env: &Env, name: &str) -> Result<()> {
    let dev = Driver::VicodecDec.open()?;
    let mut input = fwht_bad_version_frame();
    input.extend(fwht_bad_version_frame());
    let mut run = M2mRun::setup_vicodec_dec(dev, input)?;
    let exp = run.export_out(&format!("fs:{name}:out"))?;
    run.queue_capture()?;
    run.queue_output()?;
    let d = run.dev()?;
    d.dqbuf_wait(d.cap_q(), env.job_timeout())
        .context("waiting for the CAPTURE buffer of the first of the two jobs")?;
    let (obs, _) = oracle::observe(&env.oracles, exp.as_fd())?;
    // One READ fence on the OUTPUT buffer's reservation, signalled (an
    // unpatched kernel has none: no-fence); pending would be a fence that
    // waits for userspace to queue another CAPTURE buffer.
    obs.expect_one_signalled(Usage::Read)
        .context("OUTPUT export, still queued, after the first of its two jobs")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn be32(b: &[u8], off: usize) -> u32 {
        u32::from_be_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
    }

    #[test]
    fn bad_version_frame_is_complete() {
        let f = fwht_bad_version_frame();
        assert_eq!(f[..8], FWHT_MAGIC);
        assert_eq!(be32(&f, 8), 0, "version");
        assert_eq!(be32(&f, 40) as usize + FWHT_HDR_LEN, f.len(), "size");
        assert_eq!(FENCE_EIO, -5);
    }
}
