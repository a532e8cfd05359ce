//! The m2m fixture: the memory-to-memory devices the suite drives (vim2m,
//! vicodec, visl), how to find each one's node, and `M2mRun`, one context
//! of one with its two buffers. Also the dma-buf helpers every path uses on
//! what a run exports: a bufinfo label, a read through the export.

mod run;
mod source;

use std::os::fd::{AsFd, OwnedFd};

use anyhow::{bail, Context, Result};

pub use run::M2mRun;
pub use source::{open_dma_heap, open_udmabuf, open_vivid_capture, BufSource, VIVID_MODPROBE};

use crate::sys::{self, Mapping};
use crate::v4l2::{find_device, VideoDev};

/// vim2m: V4L2_CID_USER_BASE (0x00980900) + 0x1000
/// (drivers/media/test-drivers/vim2m.c, V4L2_CID_TRANS_TIME_MSEC).
pub const VIM2M_CID_TRANS_TIME_MSEC: u32 = 0x0098_0900 + 0x1000;

/// vim2m's switch for its producer fences (patch 0017): read when a file
/// handle is opened, so a context keeps the setting it was created with.
pub const VIM2M_PUBLISH_FENCES: &str = "/sys/module/vim2m/parameters/publish_fences";

/// Whether this kernel's vim2m can switch its fences (the patched one).
pub fn vim2m_fences_switchable() -> bool {
    std::path::Path::new(VIM2M_PUBLISH_FENCES).exists()
}

/// Set vim2m's `publish_fences` for the contexts opened from now on.
pub fn vim2m_set_publish_fences(on: bool) -> Result<()> {
    std::fs::write(VIM2M_PUBLISH_FENCES, if on { "Y" } else { "N" })
        .with_context(|| format!("write {VIM2M_PUBLISH_FENCES}"))
}

/// Puts vim2m's `publish_fences` back on however a test that turned it off
/// ends.
pub struct FencesBackOn;

impl Drop for FencesBackOn {
    fn drop(&mut self) {
        // Best effort: later tests expect the default, and a failure here
        // shows in them.
        let _ = vim2m_set_publish_fences(true);
    }
}

/// The m2m devices the suite drives, and how their jobs run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Driver {
    /// vim2m: device_run() writes the frame, a delayed work completes it
    /// after the transaction time: a pending fence is observable.
    Vim2m,
    /// vicodec's stateful encoder ("stateful-encoder" node): device_run()
    /// encodes and completes both buffers synchronously inside the QBUF
    /// that made the job runnable, so userspace never sees the fence
    /// pending, only signalled and still on the reservation afterwards.
    VicodecEnc,
    /// vicodec's stateful decoder ("stateful-decoder" node): FWHT in, raw
    /// out; like the encoder it runs and completes a job inside the QBUF
    /// that makes it runnable. Driven only with a compressed frame the
    /// test builds (`M2mRun::setup_vicodec_dec`).
    VicodecDec,
    /// visl, the virtual stateless decoder: the job runs when the request
    /// holding the OUTPUT buffer is queued, inside MEDIA_REQUEST_IOC_QUEUE
    /// (plus `visl_transtime_ms`, 0 by default). visl decodes nothing: it
    /// fills CAPTURE with a debug pattern, so its default coded format and
    /// default (never set) codec controls suffice.
    Visl,
    /// The Rockchip RGA (RK3399), hardware: a 2D engine whose every job
    /// converts the next OUTPUT frame into the next CAPTURE buffer, done
    /// by its interrupt. Found only on the board (fresnel-ontarget); the
    /// rig has none, and its tests SKIP there (cases.txt `hardware`).
    Rga,
}

impl Driver {
    /// Test-name prefix (the virtual drivers': also the QUERYCAP driver
    /// name).
    pub fn name(self) -> &'static str {
        match self {
            Driver::Vim2m => "vim2m",
            Driver::VicodecEnc | Driver::VicodecDec => "vicodec",
            Driver::Visl => "visl",
            Driver::Rga => "rga",
        }
    }

    /// Hardware no rig has: its tests run on the board only.
    pub fn is_hardware(self) -> bool {
        self == Driver::Rga
    }

    /// The device's node (visl: and its media device); an absence is a
    /// `verdict::absent` error naming the command that loads the driver.
    pub fn open(self) -> Result<VideoDev> {
        match self {
            Driver::Vim2m => open_vim2m(),
            Driver::VicodecEnc => open_vicodec_enc(),
            Driver::VicodecDec => open_vicodec_dec(),
            Driver::Visl => {
                let d = find_device("visl", "modprobe visl", |d| d.is_m2m())?;
                crate::v4l2::find_media("visl", "modprobe visl")?;
                Ok(d)
            }
            Driver::Rga => find_device(
                "rockchip-rga",
                "a board with an RGA (RK3399) and the rockchip_rga module loaded",
                |d| d.is_m2m(),
            ),
        }
    }
}

pub fn open_vicodec_enc() -> Result<VideoDev> {
    find_device(
        "vicodec",
        "modprobe vicodec (the suite drives its node named stateful-encoder)",
        |d| d.is_m2m() && d.node_name().as_deref() == Some("stateful-encoder"),
    )
}

pub fn open_vicodec_dec() -> Result<VideoDev> {
    find_device(
        "vicodec",
        "modprobe vicodec (the suite drives its node named stateful-decoder)",
        |d| d.is_m2m() && d.node_name().as_deref() == Some("stateful-decoder"),
    )
}

pub fn open_vim2m() -> Result<VideoDev> {
    find_device("vim2m", "modprobe vim2m", |d| d.is_m2m())
}

/// visl, its media device (for requests) and its default OUTPUT
/// sizeimage: what the tests that queue visl's requests by hand start from.
pub struct VislNode {
    pub media: std::fs::File,
    pub dev: VideoDev,
    pub out_size: u32,
}

pub fn open_visl() -> Result<VislNode> {
    let media = crate::v4l2::find_media("visl", "modprobe visl")?;
    let dev = Driver::Visl.open()?;
    let out_size = dev
        .g_format(dev.out_q())?
        .plane_fmt
        .first()
        .map_or(0, |p| p.sizeimage);
    if out_size == 0 {
        bail!("visl reports an OUTPUT sizeimage of 0");
    }
    Ok(VislNode {
        media,
        dev,
        out_size,
    })
}

/// Name a dma-buf for bufinfo's readers.
pub fn label_buf(fd: &OwnedFd, label: &str) {
    // Labels only help a human read bufinfo; matching is by inode, so a
    // kernel refusing the name does not invalidate the test.
    let l: String = label.chars().take(31).collect();
    let _ = sys::dma_buf_set_name(fd.as_fd(), &l);
}

/// mmap an export and read `len` bytes between DMA_BUF_IOCTL_SYNC
/// start/end (READ), as a CPU consumer must.
pub fn read_via_export(exp: &OwnedFd, len: usize) -> Result<Vec<u8>> {
    let m = Mapping::new(exp.as_fd(), len).context("mmap export")?;
    sys::dma_buf_sync(
        exp.as_fd(),
        sys::DMA_BUF_SYNC_START | sys::DMA_BUF_SYNC_READ,
    )
    .context("DMA_BUF_IOCTL_SYNC start")?;
    let got = m.read(len);
    sys::dma_buf_sync(exp.as_fd(), sys::DMA_BUF_SYNC_END | sys::DMA_BUF_SYNC_READ)
        .context("DMA_BUF_IOCTL_SYNC end")?;
    Ok(got)
}
