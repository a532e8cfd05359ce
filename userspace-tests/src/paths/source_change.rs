//! vicodec's stateful decoder meets a new resolution in the middle of an
//! OUTPUT buffer: V4L2_EVENT_SOURCE_CHANGE stops decoding until userspace
//! reallocates CAPTURE, and the buffer stays queued meanwhile. No fence may
//! wait for that.

use std::os::fd::AsFd;

use anyhow::{bail, Context, Result};
use v4l2r::ioctl::{Event, SrcChanges};

use super::vicodec_error::fwht_bad_version_frame;
use crate::env::Env;
use crate::frames::fwht_yuv420_frame;
use crate::m2m::{label_buf, Driver, M2mRun};
use crate::oracle::{self, FENCE_EIO};
use crate::parse::Usage;
use crate::v4l2::Mem;
use crate::verdict::wrong;

/// The second frame's size: not the decoder's default CAPTURE size
/// (1280x720), within vicodec's limits (at least 640x360).
const NEW_W: u32 = 640;
const NEW_H: u32 = 368;
/// Payload bytes of the second frame: the decoder needs the whole frame
/// before it compares the resolution (job_ready()); what it decodes to
/// does not matter.
const NEW_PAYLOAD: u32 = 64;

/// Input: one OUTPUT buffer holding `fwht_bad_version_frame()` and then a
/// valid YUV 4:2:0 frame header of another size; two CAPTURE buffers.
/// vicodec-core.c: the first job decodes the first frame (an error,
/// version 0) into CAPTURE 0 and leaves the OUTPUT buffer queued; the next
/// job_ready() parses the second header, finds the new size, queues
/// SOURCE_CHANGE, returns CAPTURE 1 empty with V4L2_BUF_FLAG_LAST
/// (set_last_buffer()) and stops. Userspace then sits on the event:
///
/// - the OUTPUT buffer's READ fence of the first job is signalled (an
///   unpatched kernel has none: no-fence); a fence pending here would wait
///   for userspace to handle the event;
/// - CAPTURE 1, returned by the event and not by a job, carries no fence.
///
/// Then userspace handles the event (STREAMOFF CAPTURE, REQBUFS 0, REQBUFS
/// at the new size, QBUF, STREAMON): the job that decodes the second frame
/// arms a new READ fence on the same OUTPUT buffer, which is signalled
/// when it completes, with -EIO exactly when the buffer came back with
/// V4L2_BUF_FLAG_ERROR.
pub fn vicodec_source_change(env: &Env, name: &str) -> Result<()> {
    let dev = Driver::VicodecDec.open()?;
    let cf = dev.g_format(dev.cap_q())?;
    if (cf.width, cf.height) == (NEW_W, NEW_H) {
        bail!("the decoder's CAPTURE is already {NEW_W}x{NEW_H}: no source change to provoke");
    }
    dev.subscribe_source_change()?;
    let mut input = fwht_bad_version_frame();
    input.extend(fwht_yuv420_frame(NEW_W, NEW_H, NEW_PAYLOAD));
    let mut run = M2mRun::setup_vicodec_dec(dev, input)?;
    let out = run.export_out(&format!("fs:{name}:out"))?;
    let d = run.dev()?;
    let (oq, cq) = (d.out_q(), d.cap_q());
    let cap1 = d.expbuf(cq, 1).context("EXPBUF of CAPTURE 1")?;
    label_buf(&cap1, &format!("fs:{name}:cap1"));
    run.queue_capture()?;
    run.dev()?.qbuf_mmap(cq, 1, 0).context("QBUF CAPTURE 1")?;
    run.queue_output()?;
    let d = run.dev()?;
    let job = env.job_timeout();
    let first = d
        .dqbuf_wait(cq, job)
        .context("waiting for CAPTURE 0, the first frame's job")?;
    let last = d
        .dqbuf_wait(cq, job)
        .context("waiting for CAPTURE 1, which the source change returns")?;
    if first.index != 0 || !first.error || last.index != 1 || !last.last {
        bail!(
            "the input did not give a failed job and then a source change: CAPTURE came back \
             as {first:?} then {last:?} (expected index 0 with ERROR, then index 1 with LAST)"
        );
    }
    match d.dqevent_wait(job)? {
        Event::SrcChangeEvent(c) if c.contains(SrcChanges::RESOLUTION) => {}
        e => bail!("expected a SOURCE_CHANGE (resolution) event, got {e:?}"),
    }

    let (obs, _) = oracle::observe(&env.oracles, out.as_fd())?;
    let first_fence = obs
        .expect_one_signalled(Usage::Read)
        .context("OUTPUT export, still queued, with SOURCE_CHANGE not yet handled")?;
    let (obs, _) = oracle::observe(&env.oracles, cap1.as_fd())?;
    obs.expect_no_fences()
        .context("CAPTURE 1, returned with LAST by the source change, not by a job")?;

    // Handle the event as a decoder client does.
    d.streamoff(cq)?;
    d.reqbufs(cq, Mem::Mmap, 0)?;
    let nf = d.g_format(cq)?;
    if (nf.width, nf.height) != (NEW_W, NEW_H) {
        bail!(
            "after SOURCE_CHANGE CAPTURE is {}x{}, the stream says {NEW_W}x{NEW_H}",
            nf.width,
            nf.height
        );
    }
    d.reqbufs(cq, Mem::Mmap, 1)?;
    d.qbuf_mmap(cq, 0, 0)?;
    d.streamon(cq)?;
    d.dqbuf_wait(cq, job)
        .context("waiting for the CAPTURE buffer of the second frame's job")?;
    let done = d
        .dqbuf_wait(oq, job)
        .context("waiting for the OUTPUT buffer, consumed by the second frame's job")?;
    let error = if done.error { FENCE_EIO } else { 0 };
    let (obs, _) = oracle::observe(&env.oracles, out.as_fd())?;
    let second_fence = obs
        .expect_one_signalled_with(Usage::Read, error)
        .context("OUTPUT export after the second frame's job")?;
    if second_fence == first_fence {
        return Err(wrong(format!(
            "the second job left the first job's fence {first_fence:?} on the OUTPUT buffer: \
             each job must arm its own"
        )));
    }
    Ok(())
}
