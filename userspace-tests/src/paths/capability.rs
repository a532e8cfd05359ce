//! `V4L2_BUF_CAP_PUBLISHES_FENCES` (patch 0018): REQBUFS and CREATE_BUFS
//! report it on both queues of an opted-in device, only while the queues
//! publish fences (vim2m's `publish_fences` off must clear it), not for
//! USERPTR buffers, which get no fence, and only where the jobs publish
//! when they are committed and wait: not on the queues that add their
//! fences when the job starts.

use anyhow::Result;

use v4l2r::QueueType;

use crate::m2m::{
    open_vicodec_dec, open_vicodec_enc, open_vim2m, open_vivid_capture, vim2m_fences_switchable,
    vim2m_set_publish_fences, FencesBackOn,
};
use crate::v4l2::{Mem, VideoDev};
use crate::verdict::{missing, wrong};

/// include/uapi/linux/videodev2.h with the series.
pub const V4L2_BUF_CAP_PUBLISHES_FENCES: u32 = 1 << 9;

/// The capabilities each of `queues` of `dev` reports for buffers of
/// `mem`, by ioctl: `("REQBUFS Mmap on VideoOutput", caps)`, ... for
/// CREATE_BUFS and REQBUFS.
fn queue_flags(dev: &VideoDev, queues: &[QueueType], mem: Mem) -> Result<Vec<(String, u32)>> {
    let mut out = Vec::new();
    for &q in queues {
        out.push((
            format!("CREATE_BUFS {mem:?} on {q:?}"),
            dev.create_bufs_caps(q, mem)?,
        ));
        let (_, caps) = dev.reqbufs_caps(q, mem, 1)?;
        out.push((format!("REQBUFS {mem:?} on {q:?}"), caps));
    }
    Ok(out)
}

/// What each queue of a new mem2mem context of `dev` reports for buffers
/// of `mem`.
fn m2m_flags(dev: &VideoDev, mem: Mem) -> Result<Vec<(String, u32)>> {
    queue_flags(dev, &[dev.out_q(), dev.cap_q()], mem)
}

/// What each queue of a new vim2m context reports for buffers of `mem`.
fn vim2m_flags(mem: Mem) -> Result<Vec<(String, u32)>> {
    m2m_flags(&open_vim2m()?, mem)
}

/// Every queue in `flags` of `device` must report the flag.
fn require_flag(device: &str, flags: &[(String, u32)]) -> Result<()> {
    for (q, caps) in flags {
        if caps & V4L2_BUF_CAP_PUBLISHES_FENCES == 0 {
            return Err(missing(format!(
                "{device}: {q} reports capabilities {caps:#x}, without \
                 V4L2_BUF_CAP_PUBLISHES_FENCES ({V4L2_BUF_CAP_PUBLISHES_FENCES:#x})"
            )));
        }
    }
    Ok(())
}

/// No queue in `flags` of `device` may report the flag, because `why`.
fn refuse_flag(device: &str, why: &str, flags: &[(String, u32)]) -> Result<()> {
    for (q, caps) in flags {
        if caps & V4L2_BUF_CAP_PUBLISHES_FENCES != 0 {
            return Err(wrong(format!(
                "{device}: {q} reports V4L2_BUF_CAP_PUBLISHES_FENCES \
                 (capabilities {caps:#x}), but {why}"
            )));
        }
    }
    Ok(())
}

/// The flag promises fences at commit and waits: vicodec's encoder, whose
/// jobs are committed, reports it; its stateful decoder, which consumes an
/// OUTPUT buffer over several jobs, and vivid's capture, which adds its
/// fence when it starts filling a buffer, do not. That those two still add
/// fences is for vicodec/error_completion and the vivid/* cases to show.
pub fn flag_only_where_published_at_commit() -> Result<()> {
    require_flag(
        "vicodec stateful-encoder",
        &m2m_flags(&open_vicodec_enc()?, Mem::Mmap)?,
    )?;
    refuse_flag(
        "vicodec stateful-decoder",
        "its jobs publish when they start, not when they are committed",
        &m2m_flags(&open_vicodec_dec()?, Mem::Mmap)?,
    )?;
    let vivid = open_vivid_capture()?;
    refuse_flag(
        "vivid capture",
        "it publishes when it starts filling a buffer, not at QBUF",
        &queue_flags(&vivid, &[vivid.cap_q()], Mem::Mmap)?,
    )
}

pub fn vim2m_capability_flag() -> Result<()> {
    require_flag("vim2m", &vim2m_flags(Mem::Mmap)?)?;
    require_flag("vim2m", &vim2m_flags(Mem::DmaBuf)?)?;
    refuse_flag(
        "vim2m",
        "USERPTR planes have no reservation object and get no fence",
        &vim2m_flags(Mem::UserPtr)?,
    )?;
    if !vim2m_fences_switchable() {
        return Err(wrong(
            "vim2m reports V4L2_BUF_CAP_PUBLISHES_FENCES but has no publish_fences parameter",
        ));
    }
    let _restore = FencesBackOn;
    vim2m_set_publish_fences(false)?;
    refuse_flag("vim2m", "publish_fences is N", &vim2m_flags(Mem::Mmap)?)
}
