//! vivid's video capture (series patch 0008): the multi-planar paths, which
//! no m2m test driver has. A multi-planar vivid instance (`multiplanar=2`)
//! captures NV12M, luma and chroma in two memory planes.
//!
//! vivid is not an m2m device: its capture thread takes one queued buffer
//! per frame period, arms its fence, fills it and completes it in the same
//! tick, so userspace only ever sees the fence signalled and left on the
//! reservation (as with vicodec and visl); only bufinfo (required) and the
//! rust-kmod list signalled fences. Since patch 0041 the thread takes a
//! buffer only once the fences its readers had on it at QBUF (or STREAMON)
//! have signalled, and drops frames until then.

use std::os::fd::AsFd;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use v4l2r::QueueType;

use crate::env::Env;
use crate::landing::{self, LandingRow};
use crate::m2m::{open_dma_heap, open_vim2m, read_via_export, VIVID_MODPROBE};
use crate::observe::{ids_of, look, observe_each, one_fence, Expect, FenceId, Watch};
use crate::oracle::{kmod_records, FENCE_EIO};
use crate::parse::{KmodEvent, KmodRecord, Usage};
use crate::paths::foreign::{commit_returns_at_once, ForeignFence, WaitEnd};
use crate::sys;
use crate::v4l2::{find_device, DmaBufPlane, Mem, VideoDev};
use crate::verdict::{ran_early, wrong};

/// VIVID_CID_DQBUF_ERROR (vivid-ctrls.c: VIVID_CID_VIVID_BASE + 66), the
/// "Inject V4L2_BUF_FLAG_ERROR" button: the next captured buffer completes
/// with VB2_BUF_STATE_ERROR.
pub const VIVID_CID_DQBUF_ERROR: u32 = 0x00f0_f000 + 66;
/// VIVID_CID_START_STR_ERROR (VIVID_CID_VIVID_BASE + 69), the "Inject
/// VIDIOC_STREAMON Error" button: the next start_streaming() fails with
/// -EINVAL and returns the queued buffers to vb2 as QUEUED.
pub const VIVID_CID_START_STR_ERROR: u32 = 0x00f0_f000 + 69;
/// NV12M: Y in memory plane 0, interleaved CbCr in memory plane 1.
const NV12M: &[u8; 4] = b"NM12";
/// One of the sizes vivid's default (webcam) input offers.
const VIVID_W: u32 = 640;
const VIVID_H: u32 = 360;
/// vivid captures at 30 fps by default; TCG makes the thread slow.
const FRAME_TIMEOUT: Duration = Duration::from_secs(10);
/// `type=` of the kmod records of a multi-planar capture queue.
const CAPTURE_MPLANE_TYPE: &str = "9";

/// The first multi-planar vivid video capture node.
pub fn open_vivid_mplane() -> Result<VideoDev> {
    find_device(
        "vivid",
        &format!("{VIVID_MODPROBE} (instance 1: multi-planar)"),
        |d| d.is_capture() && !d.is_m2m() && d.mplane,
    )
}

/// A vivid capture queue set to NV12M with one buffer allocated.
struct Capture {
    dev: VideoDev,
    q: QueueType,
    /// sizeimage of each memory plane.
    sizes: Vec<u32>,
}

impl Capture {
    fn open(mem: Mem) -> Result<Self> {
        let mut dev = open_vivid_mplane()?;
        let q = dev.cap_q();
        let f = dev.set_format(q, NV12M, VIVID_W, VIVID_H)?;
        let sizes: Vec<u32> = f.plane_fmt.iter().map(|p| p.sizeimage).collect();
        if sizes.len() != 2 {
            bail!(
                "vivid NV12M has {} memory planes (sizeimage {sizes:?}), expected 2",
                sizes.len()
            );
        }
        // vivid allocates at least two buffers; one is queued.
        dev.reqbufs(q, mem, 1)?;
        Ok(Self { dev, q, sizes })
    }

    /// STREAMON, wait for the one queued buffer, STREAMOFF; returns
    /// whether it carried V4L2_BUF_FLAG_ERROR.
    fn capture_one(&self) -> Result<bool> {
        self.dev.streamon(self.q)?;
        let got = self.dev.dqbuf_wait(self.q, FRAME_TIMEOUT);
        // Stop the capture thread whatever happened; the buffer is done.
        let off = self.dev.streamoff(self.q);
        let d = got.context("vivid did not return the queued buffer")?;
        off?;
        Ok(d.error)
    }
}

/// Export every plane of MMAP buffer 0 (before QBUF), each watched as
/// "plane N export": one job's fence lands on all their reservations.
fn export_planes(cap: &Capture, name: &str) -> Result<Vec<Watch>> {
    let planes = cap.sizes.len();
    (0..planes as u32)
        .map(|p| {
            let fd = cap
                .dev
                .expbuf_plane(cap.q, 0, p)
                .with_context(|| format!("EXPBUF plane {p}"))?;
            let _ = sys::dma_buf_set_name(fd.as_fd(), &format!("fs:{name}:p{p}"));
            let w = Watch::new(format!("plane {p} export"), fd, Usage::Write, "exporter")?;
            Ok(w.on_resvs(planes))
        })
        .collect()
}

fn expect_nothing_yet(env: &Env, planes: &[Watch]) -> Result<()> {
    for (p, w) in planes.iter().enumerate() {
        let (obs, _) = w.observe(env)?;
        obs.expect_no_fences()
            .with_context(|| format!("plane {p} with the buffer queued but not streaming"))?;
    }
    Ok(())
}

/// Every plane's export shows one signalled WRITE fence carrying `error`,
/// the same fence on all planes (one job), with one kmod arm record per
/// plane.
fn expect_one_fence_on_every_plane(
    env: &Env,
    planes: &[Watch],
    error: i32,
    row: &mut LandingRow,
) -> Result<()> {
    let seen = observe_each(env, row, planes, in_tick(error), "after the frame")?;
    let ids: Vec<FenceId> = seen.iter().map(|s| s.id).collect();
    one_fence("the planes of one frame", &ids)
}

/// vivid's capture thread arms, fills and completes a buffer in one tick:
/// its fence is only ever seen signalled, with `error`.
fn in_tick(error: i32) -> Expect {
    Expect::Signalled {
        error,
        within: "the tick",
    }
}

/// NV12M MMAP buffer, each plane exported before QBUF: nothing while the
/// buffer waits for STREAMON; after the frame, one fence (the same on both
/// planes) of WRITE usage on each plane's reservation, signalled without
/// error; the kmod saw one arm per plane.
pub fn mmap_planes_path(env: &Env, name: &str) -> (LandingRow, Result<()>) {
    landing::record("vivid", name, |row| {
        let cap = Capture::open(Mem::Mmap)?;
        let exports = export_planes(&cap, name)?;
        cap.dev.qbuf_mmap_planes(cap.q, 0, cap.sizes.len())?;
        expect_nothing_yet(env, &exports)?;
        if cap.capture_one()? {
            bail!("the frame came back with V4L2_BUF_FLAG_ERROR, nothing was injected");
        }
        expect_one_fence_on_every_plane(env, &exports, 0, row)
    })
}

/// A frame's fence is signalled before its buffer can be dequeued (review
/// M4), and stays as it was when the dequeued buffer is freed with
/// VIDIOC_REMOVE_BUFS while the queue streams. NV12M MMAP buffer 0, each
/// plane exported before QBUF; at DQBUF, still streaming, every plane shows
/// the frame's fence signalled without error; after REMOVE_BUFS of buffer 0
/// the exports, which keep its memory, show the same fence, still without
/// error (a removal that signalled it would give -ECANCELED).
pub fn remove_bufs_after_frame(env: &Env, name: &str) -> (LandingRow, Result<()>) {
    landing::record("vivid", name, |row| {
        let cap = Capture::open(Mem::Mmap)?;
        let exports = export_planes(&cap, name)?;
        cap.dev.qbuf_mmap_planes(cap.q, 0, cap.sizes.len())?;
        cap.dev.streamon(cap.q)?;
        let checked = (|| {
            let d = cap
                .dev
                .dqbuf_wait(cap.q, FRAME_TIMEOUT)
                .context("vivid did not return the queued buffer")?;
            if d.error {
                bail!("the frame came back with V4L2_BUF_FLAG_ERROR, nothing was injected");
            }
            let at_dqbuf = observe_each(env, row, &exports, in_tick(0), "at DQBUF, streaming")?;
            sys::vidioc_remove_bufs(cap.dev.file.as_fd(), cap.q as u32, 0, 1)
                .context("VIDIOC_REMOVE_BUFS of the dequeued buffer 0 while streaming")?;
            let removed = observe_each(
                env,
                row,
                &exports,
                in_tick(0),
                "after VIDIOC_REMOVE_BUFS of its buffer",
            )?;
            let before = ids_of(&exports, &at_dqbuf, Usage::Write);
            let after = ids_of(&exports, &removed, Usage::Write);
            if before != after {
                return Err(wrong(format!(
                    "REMOVE_BUFS changed the fences on the exports: {before:?} at DQBUF, \
                     {after:?} after"
                )));
            }
            one_fence("the planes of one frame", &after)
        })();
        let off = cap.dev.streamoff(cap.q).map_err(anyhow::Error::from);
        checked.and(off)
    })
}

/// start_streaming() fails (vivid's "Inject VIDIOC_STREAMON Error"): the
/// queued buffer goes back to vb2 as QUEUED, never armed, so nothing is
/// left on its planes, neither pending nor signalled; the next STREAMON
/// captures it with one fence on every plane, signalled without error (an
/// unpatched kernel has none: no-fence).
pub fn start_streaming_error(env: &Env, name: &str) -> (LandingRow, Result<()>) {
    landing::record("vivid", name, |row| {
        let cap = Capture::open(Mem::Mmap)?;
        let exports = export_planes(&cap, name)?;
        cap.dev
            .s_ctrl(VIVID_CID_START_STR_ERROR, 1)
            .context("press vivid's Inject VIDIOC_STREAMON Error button")?;
        cap.dev.qbuf_mmap_planes(cap.q, 0, cap.sizes.len())?;
        if cap.dev.streamon(cap.q).is_ok() {
            let _ = cap.dev.streamoff(cap.q);
            bail!("STREAMON succeeded after the injection: nothing here exercises its failure");
        }
        expect_nothing_yet(env, &exports)
            .context("after start_streaming() failed and returned the buffer")?;
        if cap.capture_one()? {
            bail!("the frame came back with V4L2_BUF_FLAG_ERROR, nothing was injected");
        }
        expect_one_fence_on_every_plane(env, &exports, 0, row)
    })
}

/// "Inject V4L2_BUF_FLAG_ERROR", then capture one NV12M frame: the buffer
/// comes back with the error flag and its fence signalled with -EIO on
/// both planes. bufinfo must show the fence on each plane first (an
/// unpatched kernel has none: no-fence); only VB2FP_IOC_QUERY reports the
/// error of a signalled fence, so after that the kmod is required.
pub fn error_completion(env: &Env, name: &str) -> Result<()> {
    let cap = Capture::open(Mem::Mmap)?;
    let exports = export_planes(&cap, name)?;
    cap.dev
        .s_ctrl(VIVID_CID_DQBUF_ERROR, 1)
        .context("press vivid's Inject V4L2_BUF_FLAG_ERROR button")?;
    cap.dev.qbuf_mmap_planes(cap.q, 0, cap.sizes.len())?;
    // Checked first, so that an injection that stopped working is a
    // visible failure on every kernel.
    if !cap.capture_one()? {
        bail!("the frame came back without V4L2_BUF_FLAG_ERROR after the injection");
    }
    let mut row = LandingRow::new("vivid", name);
    expect_one_fence_on_every_plane(env, &exports, FENCE_EIO, &mut row)
}

/// One NV12M frame of a solid colour (`readback_dev::select_solid_red`:
/// the webcam input, the "100% Red" pattern with nothing drawn over it,
/// BT.601 limited range), read back per plane through the MMAP mapping,
/// through the plane's export (mmap + DMA_BUF_IOCTL_SYNC) and through an
/// importer (vim2m copying the export), each equal byte for byte to the
/// frame the suite computes with v4l2-tpg's arithmetic
/// (`readback_ref::tpg_bt601_limited`). Both planes are zeroed through MMAP
/// before QBUF, so any byte vivid did not write shows. Passes on both
/// kernels.
pub fn readback(env: &Env, name: &str) -> Result<()> {
    use crate::readback_dev::{read_via_vim2m, select_solid_red};
    use crate::readback_ref::{compare_exact, nv12m_planes, nv12m_solid};
    // Input and controls before Capture::open: S_INPUT is refused once
    // buffers exist.
    let colour = select_solid_red(&open_vivid_mplane()?)?;
    let cap = Capture::open(Mem::Mmap)?;
    let (w, h) = (VIVID_W as usize, VIVID_H as usize);
    let planes = nv12m_planes(w, h);
    let frame = nv12m_solid(w, h, colour);
    let sizes: Vec<usize> = cap.sizes.iter().map(|&s| s as usize).collect();
    let expected: Vec<usize> = frame.iter().map(Vec::len).collect();
    if sizes != expected {
        bail!(
            "vivid NV12M {w}x{h} planes have sizeimage {sizes:?}, expected {expected:?} \
             (lines of {w} bytes)"
        );
    }
    let exports = export_planes(&cap, name)?;
    let mut maps = cap.dev.mmap_planes(cap.q, 0)?;
    if maps.len() != frame.len() {
        bail!("QUERYBUF gave {} planes, NV12M has 2", maps.len());
    }
    for m in &mut maps {
        m.as_mut().fill(0);
    }
    cap.dev.qbuf_mmap_planes(cap.q, 0, frame.len())?;
    if cap.capture_one()? {
        bail!("the frame came back with V4L2_BUF_FLAG_ERROR, nothing was injected");
    }
    for (((plane, want), map), w) in planes.iter().zip(&frame).zip(&maps).zip(&exports) {
        let len = want.len();
        compare_exact(plane, want, &sys::plane_read(map, len))
            .context("through the MMAP mapping")?;
        compare_exact(plane, want, &read_via_export(&w.fd, len)?)
            .context("through the export (mmap + DMA_BUF_IOCTL_SYNC)")?;
        let via_importer = read_via_vim2m(open_vim2m()?, w.fd.as_fd(), len, env.job_timeout())?;
        compare_exact(plane, want, &via_importer)
            .context("through an importer (vim2m copying the export)")?;
    }
    Ok(())
}

/// The highest record number in the kmod ring (0 if empty).
fn kmod_last_seq() -> Result<u64> {
    Ok(kmod_records()?
        .iter()
        .filter_map(|r| match r {
            KmodRecord::Event { seq, .. } => Some(*seq),
            KmodRecord::Overflow { .. } => None,
        })
        .max()
        .unwrap_or(0))
}

/// Both planes of an NV12M DMABUF buffer imported from one dma-buf (system
/// heap): vb2 marks plane 1 `dbuf_duplicated`. After the frame the dma-buf
/// carries exactly one signalled WRITE fence, armed once (plane 0); the
/// kmod saw plane 1 skipped as a duplicated dma-buf and no arm for it.
/// Arming the same reservation twice would deadlock on its ww_mutex
/// (-EALREADY) or add the fence twice.
pub fn shared_dmabuf_path(env: &Env, name: &str) -> (LandingRow, Result<()>) {
    landing::record("vivid", name, |row| {
        let cap = Capture::open(Mem::DmaBuf)?;
        let heap = open_dma_heap()?;
        let total: u32 = cap.sizes.iter().sum::<u32>().div_ceil(4096) * 4096;
        let fd =
            sys::dma_heap_alloc(heap.as_fd(), u64::from(total)).context("DMA_HEAP_IOCTL_ALLOC")?;
        let _ = sys::dma_buf_set_name(fd.as_fd(), &format!("fs:{name}:shared"));
        let w = Watch::new(
            "dma-buf behind planes 0 and 1",
            fd,
            Usage::Write,
            "importer",
        )?;
        let seq0 = match &env.oracles.kmod {
            Ok(_) => Some(kmod_last_seq()?),
            Err(_) => None,
        };
        let plane = DmaBufPlane {
            fd: w.fd.as_fd(),
            length: total,
            bytesused: 0,
        };
        cap.dev
            .qbuf_dmabuf_planes(cap.q, 0, &[plane, plane])
            .context("QBUF with both planes on one dma-buf")?;
        let (obs, _) = w.observe(env)?;
        obs.expect_no_fences()
            .context("shared dma-buf with the buffer queued but not streaming")?;
        if cap.capture_one()? {
            bail!("the frame came back with V4L2_BUF_FLAG_ERROR, nothing was injected");
        }
        look(env, row, &w, in_tick(0))?
            .found
            .context("shared dma-buf after the frame")?;
        if let Some(seq0) = seq0 {
            expect_duplicate_skipped(seq0, w.ino)?;
        }
        Ok(())
    })
}

/// Review C8: planes that each import a dma-buf of their own (two system
/// dma-heap buffers): nothing while the buffer waits for STREAMON; after the
/// frame, the job's one fence on both dma-bufs' reservations, signalled
/// without error, armed once per plane.
pub fn own_dmabufs_path(env: &Env, name: &str) -> (LandingRow, Result<()>) {
    landing::record("vivid", name, |row| {
        let cap = Capture::open(Mem::DmaBuf)?;
        let heap = open_dma_heap()?;
        let planes = cap.sizes.len();
        let mut watches = Vec::with_capacity(planes);
        let mut lengths = Vec::with_capacity(planes);
        for (p, size) in cap.sizes.iter().enumerate() {
            let len = size.div_ceil(4096) * 4096;
            let fd = sys::dma_heap_alloc(heap.as_fd(), u64::from(len))
                .with_context(|| format!("DMA_HEAP_IOCTL_ALLOC for plane {p}"))?;
            let _ = sys::dma_buf_set_name(fd.as_fd(), &format!("fs:{name}:p{p}"));
            let w = Watch::new(
                format!("dma-buf of plane {p}"),
                fd,
                Usage::Write,
                "importer",
            )?;
            watches.push(w.on_resvs(planes));
            lengths.push(len);
        }
        let dplanes: Vec<DmaBufPlane> = watches
            .iter()
            .zip(&lengths)
            .map(|(w, &length)| DmaBufPlane {
                fd: w.fd.as_fd(),
                length,
                bytesused: 0,
            })
            .collect();
        cap.dev
            .qbuf_dmabuf_planes(cap.q, 0, &dplanes)
            .context("QBUF with a dma-buf per plane")?;
        expect_nothing_yet(env, &watches)?;
        if cap.capture_one()? {
            bail!("the frame came back with V4L2_BUF_FLAG_ERROR, nothing was injected");
        }
        expect_one_fence_on_every_plane(env, &watches, 0, row)
    })
}

/// The records written since `seq0` for the capture queue: exactly one
/// skip of plane 1 as a duplicated dma-buf, and every arm on plane 0 with
/// the shared dma-buf's inode.
fn expect_duplicate_skipped(seq0: u64, ino: u64) -> Result<()> {
    let recs = kmod_records()?;
    let mut skips = 0;
    let mut shown = Vec::new();
    for r in &recs {
        let KmodRecord::Event {
            seq,
            event,
            buf_type,
            plane,
            ino: rino,
            reason,
            ..
        } = r
        else {
            continue;
        };
        if *seq <= seq0 || buf_type != CAPTURE_MPLANE_TYPE {
            continue;
        }
        shown.push(format!(
            "seq={seq} event={event} plane={plane:?} ino={rino:?} reason={reason}"
        ));
        match event {
            KmodEvent::Skip if *plane == Some(1) && reason == "duplicated_dma-buf" => skips += 1,
            KmodEvent::Arm if *plane != Some(0) || *rino != Some(ino) => {
                return Err(wrong(format!(
                    "vb2_fence_probe: an arm on plane {plane:?} ino {rino:?}, expected only \
                     plane 0 on the shared dma-buf (ino {ino}); records: [{}]",
                    shown.join(" | ")
                )))
            }
            _ => {}
        }
    }
    if skips != 1 {
        return Err(wrong(format!(
            "vb2_fence_probe: expected exactly one skip of plane 1 with \
             reason=duplicated_dma-buf, found {skips}; records: [{}]",
            shown.join(" | ")
        )));
    }
    Ok(())
}

/// How long the frame must stay uncaptured while a reader's fence is on its
/// buffer. vivid captures at 30 fps, so a kernel that does not wait returns
/// the buffer well within it, even under TCG.
const READER_HOLD: Duration = Duration::from_secs(2);

/// A reader's fence (a GPU still sampling the buffer, or a display
/// commit's out-fence imported on it) keeps vivid's
/// capture thread from writing the buffer (series patch 0041): NV12M MMAP
/// buffer 0 with a sw_sync fence imported as a reader's on plane 0's
/// export, queued and STREAMON. STREAMON returns at once, and no frame
/// comes back for `READER_HOLD`. Then, by `end`: the fence signals and
/// the frame is captured into the buffer; or STREAMOFF while it waits
/// leaves the buffer unwritten, and once the fence signals the next
/// STREAMON captures it.
pub fn foreign_reader_holds_frame(end: WaitEnd) -> Result<()> {
    let cap = Capture::open(Mem::Mmap)?;
    let plane0 = cap
        .dev
        .expbuf_plane(cap.q, 0, 0)
        .context("EXPBUF plane 0")?;
    let _ = sys::dma_buf_set_name(plane0.as_fd(), "fs:vivid-foreign:p0");
    let luma = cap.sizes[0] as usize;
    let what = "a reader's fence on plane 0";
    let fence = ForeignFence::import(plane0.as_fd(), sys::DMA_BUF_SYNC_READ)?;
    cap.dev.qbuf_mmap_planes(cap.q, 0, cap.sizes.len())?;
    let committed = commit_returns_at_once("STREAMON", what, || Ok(cap.dev.streamon(cap.q)?))?;
    let checked = (|| {
        committed.not_back_within(&cap.dev, cap.q, READER_HOLD, "vivid's capture")?;
        if written(&plane0, luma)? {
            return Err(ran_early(format!(
                "vivid wrote the buffer while {what} was pending"
            )));
        }
        match end {
            WaitEnd::Signal => {
                fence.signal()?;
                let d = cap.dev.dqbuf_wait(cap.q, FRAME_TIMEOUT).context(
                    "vivid did not capture into the buffer once the reader's fence signalled",
                )?;
                if d.error {
                    bail!("the frame came back with V4L2_BUF_FLAG_ERROR, nothing was injected");
                }
                // The thread dropped the frames of the wait, not stalled.
                if d.sequence == 0 {
                    bail!(
                        "the frame after the wait has sequence 0: vivid stalled instead of \
                         dropping the frames while the buffer waited"
                    );
                }
                if !written(&plane0, luma)? {
                    bail!(
                        "the frame vivid returned after the reader's fence signalled is all zero"
                    );
                }
                Ok(())
            }
            WaitEnd::StreamOff => {
                cap.dev.streamoff(cap.q)?;
                if written(&plane0, luma)? {
                    bail!("STREAMOFF while the frame waited: vivid wrote the buffer");
                }
                fence.signal()?;
                cap.dev.qbuf_mmap_planes(cap.q, 0, cap.sizes.len())?;
                if cap.capture_one()? {
                    bail!("the capture after the canceled wait came back with V4L2_BUF_FLAG_ERROR");
                }
                if !written(&plane0, luma)? {
                    bail!("the capture after the canceled wait left the buffer all zero");
                }
                Ok(())
            }
        }
    })();
    let off = cap.dev.streamoff(cap.q).map_err(anyhow::Error::from);
    // Held to here: closing the timeline signals its fence.
    drop(fence);
    checked.and(off)
}

/// Whether any byte of the first `len` bytes behind `export` is non-zero:
/// vb2-vmalloc hands out zeroed memory, and every frame vivid draws has
/// non-zero luma.
fn written(export: &std::os::fd::OwnedFd, len: usize) -> Result<bool> {
    Ok(read_via_export(export, len)?.iter().any(|&b| b != 0))
}
