//! `V4L2_BUF_CAP_PUBLISHES_FENCES` (patch 0018): REQBUFS and CREATE_BUFS
//! report it on both queues of an opted-in device, and only while the
//! queues publish fences (vim2m's `publish_fences` off must clear it).

use anyhow::Result;

use crate::m2m::{open_vim2m, vim2m_fences_switchable, vim2m_set_publish_fences, FencesBackOn};
use crate::v4l2::Mem;
use crate::verdict::{missing, wrong};

/// include/uapi/linux/videodev2.h with the series.
pub const V4L2_BUF_CAP_PUBLISHES_FENCES: u32 = 1 << 9;

/// The capabilities each queue of a new vim2m context reports, by ioctl:
/// `("REQBUFS on OUTPUT", caps)`, ... for REQBUFS and CREATE_BUFS on
/// OUTPUT and CAPTURE.
fn vim2m_flags() -> Result<Vec<(String, u32)>> {
    let dev = open_vim2m()?;
    let mut out = Vec::new();
    for q in [dev.out_q(), dev.cap_q()] {
        out.push((
            format!("CREATE_BUFS on {q:?}"),
            dev.create_bufs_caps(q, Mem::Mmap)?,
        ));
        let (_, caps) = dev.reqbufs_caps(q, Mem::Mmap, 1)?;
        out.push((format!("REQBUFS on {q:?}"), caps));
    }
    Ok(out)
}

pub fn vim2m_capability_flag() -> Result<()> {
    for (q, caps) in vim2m_flags()? {
        if caps & V4L2_BUF_CAP_PUBLISHES_FENCES == 0 {
            return Err(missing(format!(
                "{q} reports capabilities {caps:#x}, without \
                 V4L2_BUF_CAP_PUBLISHES_FENCES ({V4L2_BUF_CAP_PUBLISHES_FENCES:#x})"
            )));
        }
    }
    if !vim2m_fences_switchable() {
        return Err(wrong(
            "vim2m reports V4L2_BUF_CAP_PUBLISHES_FENCES but has no publish_fences parameter",
        ));
    }
    let _restore = FencesBackOn;
    vim2m_set_publish_fences(false)?;
    for (q, caps) in vim2m_flags()? {
        if caps & V4L2_BUF_CAP_PUBLISHES_FENCES != 0 {
            return Err(wrong(format!(
                "with publish_fences=N, {q} still reports \
                 V4L2_BUF_CAP_PUBLISHES_FENCES (capabilities {caps:#x})"
            )));
        }
    }
    Ok(())
}
