//! The device halves of the readback tests: vicodec's encoder and decoder
//! for vicodec/readback_fwht, a vivid test pattern whose bytes the suite
//! computes for vivid/readback_nv12m, and vim2m as a second device that
//! imports an export and copies it out. The references and comparisons
//! live in `readback_ref`.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use v4l2r::bindings;
use v4l2r::ioctl::PlaneMapping;
use v4l2r::PixelFormat;

use crate::readback_ref::{tpg_bt601_limited, vim2m_rgb24_shape, YCbCr};
use crate::sys;
use crate::v4l2::{Mem, VideoDev};

/// The lowest QP vicodec accepts for V4L2_CID_FWHT_I_FRAME_QP and
/// V4L2_CID_FWHT_P_FRAME_QP (range 1..=31, default 20): the one for which
/// `readback_ref::fwht_source_yu12` derives its error bound.
const MIN_QP: i32 = 1;

/// An encoded frame still in the encoder's CAPTURE buffer.
pub struct Encoded {
    pub export: OwnedFd,
    /// CAPTURE bytesused.
    pub len: usize,
    map: PlaneMapping,
    // Keeps the encoder's queues (and so the buffer) as they were.
    _dev: VideoDev,
}

impl Encoded {
    /// The frame through the CAPTURE buffer's MMAP mapping.
    pub fn via_mmap(&self) -> Vec<u8> {
        sys::plane_read(&self.map, self.len)
    }
}

/// VIDIOC_S_CTRL, and the driver must keep the value asked for.
pub fn set_ctrl(dev: &VideoDev, id: u32, what: &str, value: i32) -> Result<()> {
    let got = dev
        .s_ctrl(id, value)
        .with_context(|| format!("set {what} (control 0x{id:08x}) to {value}"))?;
    if got != value {
        bail!("{what} (control 0x{id:08x}): asked {value}, the driver set {got}");
    }
    Ok(())
}

/// Encode `frame` (YU12, `w` x `h`) on the stateful encoder `dev` at the
/// minimum QP, every frame intra coded, into a CAPTURE buffer zeroed
/// beforehand and exported (labelled `label`) before the job.
pub fn encode(
    mut dev: VideoDev,
    frame: &[u8],
    (w, h): (u32, u32),
    label: &str,
    timeout: Duration,
) -> Result<Encoded> {
    set_ctrl(
        &dev,
        bindings::V4L2_CID_FWHT_I_FRAME_QP,
        "I-frame QP",
        MIN_QP,
    )?;
    set_ctrl(
        &dev,
        bindings::V4L2_CID_FWHT_P_FRAME_QP,
        "P-frame QP",
        MIN_QP,
    )?;
    // The first frame after STREAMON is intra coded whatever the GOP size
    // (start_streaming resets gop_cnt); GOP size 1 makes every frame so.
    set_ctrl(&dev, bindings::V4L2_CID_MPEG_VIDEO_GOP_SIZE, "GOP size", 1)?;
    let (oq, cq) = (dev.out_q(), dev.cap_q());
    let of = dev.set_format(oq, b"YU12", w, h)?;
    let out_size = plane0_size(&of);
    if (of.width, of.height, out_size) != (w, h, frame.len()) {
        bail!(
            "encoder OUTPUT is {}x{} with sizeimage {out_size}, expected {w}x{h} YU12 of {} bytes",
            of.width,
            of.height,
            frame.len()
        );
    }
    let cf = dev.g_format(cq)?;
    let cap_size = plane0_size(&cf);
    if cf.pixelformat != PixelFormat::from(b"FWHT") || cap_size < frame.len() {
        bail!(
            "encoder CAPTURE is {} with sizeimage {cap_size}, expected FWHT with room for \
             {} bytes",
            cf.pixelformat,
            frame.len()
        );
    }
    // The encoder allocates at least two OUTPUT buffers; index 0 is used.
    dev.reqbufs(oq, Mem::Mmap, 1)?;
    let mut out_map = dev.mmap_plane(oq, 0)?;
    out_map
        .as_mut()
        .get_mut(..frame.len())
        .context("encoder OUTPUT buffer smaller than its sizeimage")?
        .copy_from_slice(frame);
    dev.reqbufs(cq, Mem::Mmap, 1)?;
    let mut map = dev.mmap_plane(cq, 0)?;
    map.as_mut().fill(0);
    let export = dev
        .expbuf(cq, 0)
        .context("EXPBUF of the encoder's CAPTURE")?;
    // Only a label for a human reading bufinfo.
    let _ = sys::dma_buf_set_name(export.as_fd(), label);
    dev.streamon(oq)?;
    dev.streamon(cq)?;
    dev.qbuf_mmap(cq, 0, 0)?;
    dev.qbuf_mmap(oq, 0, out_size as u32)?;
    let c = dev
        .dqbuf_wait(cq, timeout)
        .context("encoder CAPTURE (the encoded frame)")?;
    dev.dqbuf_wait(oq, timeout)
        .context("encoder OUTPUT (the raw frame)")?;
    if c.error {
        bail!("encoder CAPTURE came back with V4L2_BUF_FLAG_ERROR");
    }
    let len = c.bytesused as usize;
    if len == 0 || len > cap_size {
        bail!("encoder CAPTURE bytesused {len}, its sizeimage is {cap_size}");
    }
    Ok(Encoded {
        export,
        len,
        map,
        _dev: dev,
    })
}

/// Decode the `len`-byte FWHT frame in the dma-buf `fwht` on the stateful
/// decoder `dev`, importing the dma-buf as its OUTPUT buffer, and return
/// the decoded YU12 frame, which must be `w` x `h`.
///
/// The stateful decoder's initialisation sequence: with only OUTPUT
/// streaming, vicodec_buf_queue() parses the FWHT header and sets the
/// CAPTURE format from it (update_capture_data_from_header(), and a
/// V4L2_EVENT_SOURCE_CHANGE); then CAPTURE is allocated at that format and
/// streamed, and the job runs inside its QBUF.
pub fn decode(
    mut dev: VideoDev,
    fwht: BorrowedFd<'_>,
    len: usize,
    (w, h): (u32, u32),
    timeout: Duration,
) -> Result<Vec<u8>> {
    let (oq, cq) = (dev.out_q(), dev.cap_q());
    let of = dev.set_format(oq, b"FWHT", w, h)?;
    let out_size = plane0_size(&of);
    if (of.width, of.height) != (w, h) || out_size < len {
        bail!(
            "decoder OUTPUT is {}x{} with sizeimage {out_size}, expected {w}x{h} FWHT with \
             room for {len} bytes",
            of.width,
            of.height
        );
    }
    let bytesused = u32::try_from(len).context("FWHT frame length")?;
    dev.reqbufs(oq, Mem::DmaBuf, 1)?;
    dev.streamon(oq)?;
    // length 0: vb2 takes the dma-buf's own size.
    dev.qbuf_dmabuf(oq, 0, fwht, 0, bytesused)
        .context("import the encoder's export as the decoder's OUTPUT")?;
    let cf = dev.g_format(cq)?;
    let raw_size = (w * h * 3 / 2) as usize;
    if cf.pixelformat != PixelFormat::from(b"YU12")
        || (cf.width, cf.height, plane0_size(&cf)) != (w, h, raw_size)
    {
        bail!(
            "after the FWHT header the decoder's CAPTURE is {} {}x{} (sizeimage {}), \
             expected YU12 {w}x{h} ({raw_size} bytes): the header was not taken",
            cf.pixelformat,
            cf.width,
            cf.height,
            plane0_size(&cf)
        );
    }
    // The decoder allocates at least two CAPTURE buffers; index 0 is used.
    dev.reqbufs(cq, Mem::Mmap, 1)?;
    let mut map = dev.mmap_plane(cq, 0)?;
    map.as_mut().fill(0);
    dev.streamon(cq)?;
    dev.qbuf_mmap(cq, 0, 0)?;
    let c = dev
        .dqbuf_wait(cq, timeout)
        .context("decoder CAPTURE (the decoded frame)")?;
    dev.dqbuf_wait(oq, timeout)
        .context("decoder OUTPUT (the imported FWHT frame)")?;
    if c.error {
        bail!("decoder CAPTURE came back with V4L2_BUF_FLAG_ERROR");
    }
    if c.bytesused as usize != raw_size {
        bail!(
            "decoder CAPTURE bytesused {}, expected {raw_size}",
            c.bytesused
        );
    }
    Ok(sys::plane_read(&map, raw_size))
}

/// sizeimage of a format's first plane (0 if the driver gave none).
fn plane0_size(f: &v4l2r::Format) -> usize {
    f.plane_fmt.first().map_or(0, |p| p.sizeimage as usize)
}

/// vivid-ctrls.c: VIVID_CID_VIVID_BASE and the capture controls the
/// pattern depends on.
const VIVID_BASE: u32 = 0x00f0_f000;
const VIVID_CID_TEST_PATTERN: u32 = VIVID_BASE;
const VIVID_CID_OSD_TEXT_MODE: u32 = VIVID_BASE + 1;
const VIVID_CID_SHOW_BORDER: u32 = VIVID_BASE + 4;
const VIVID_CID_SHOW_SQUARE: u32 = VIVID_BASE + 5;
const VIVID_CID_INSERT_SAV: u32 = VIVID_BASE + 6;
const VIVID_CID_INSERT_EAV: u32 = VIVID_BASE + 7;
const VIVID_CID_COLORSPACE: u32 = VIVID_BASE + 25;
const VIVID_CID_YCBCR_ENC: u32 = VIVID_BASE + 27;
const VIVID_CID_QUANTIZATION: u32 = VIVID_BASE + 28;
const VIVID_CID_PERCENTAGE_FILL: u32 = VIVID_BASE + 41;

/// vim2m.c: V4L2_CID_TRANS_TIME_MSEC, how long a job takes (this module
/// sits below `paths`, which names it too, so it does not import it).
const VIM2M_CID_TRANS_TIME_MSEC: u32 = bindings::V4L2_CID_USER_BASE + 0x1000;

/// The test pattern: "100% Red" (tpg_pattern_strings[7], TPG_PAT_RED),
/// drawn as tpg_colors[TPG_COLOR_100_RED].
const PATTERN_100_RED: i32 = 7;
const RED: (u8, u8, u8) = (255, 0, 0);

/// vivid's first input whose name starts with "Webcam" (vivid_enum_input()):
/// progressive, with no aspect-ratio bars, no WSS line, no noise and no
/// loop from an output (vivid_update_quality(), tpg_fill_plane_extras()).
fn webcam_input(dev: &VideoDev) -> Result<usize> {
    /// vivid-core.h MAX_INPUTS.
    const MAX_INPUTS: usize = 16;
    let mut seen = Vec::new();
    for i in 0..MAX_INPUTS {
        let inp: bindings::v4l2_input = match v4l2r::ioctl::enuminput(&dev.file, i) {
            Ok(inp) => inp,
            Err(v4l2r::ioctl::SelectionError::OutOfRange(_)) => break,
            Err(e) => return Err(anyhow!("VIDIOC_ENUMINPUT {i}: {e}")),
        };
        let len = inp
            .name
            .iter()
            .position(|&c| c == 0)
            .unwrap_or(inp.name.len());
        let name = String::from_utf8_lossy(&inp.name[..len]).into_owned();
        if name.starts_with("Webcam") {
            return Ok(i);
        }
        seen.push(name);
    }
    bail!("vivid has no Webcam input (inputs: {seen:?}); load it with the default input_types")
}

/// Make `dev` (a vivid capture node, before its format is set) capture a
/// frame of one solid colour and nothing else, and return the Y'CbCr it
/// will write. vivid's controls and input belong to the device, not to the
/// file handle, so they hold for every later open.
///
/// Set here: the webcam input (S_INPUT, refused once buffers exist); the
/// "100% Red" pattern; OSD text "None" (no counters or control dump,
/// vivid_fillbuff()); no border, square, SAV or EAV codes, and 100% of
/// the frame filled (tpg_fill_plane_extras(), tpg_fill_plane_pattern());
/// colorspace SMPTE 170M, Y'CbCr encoding ITU-R 601, limited quantization
/// (tpg_recalc() then uses exactly these, precalculate_color() the bt601
/// matrix); brightness 128, contrast 128, saturation 128, hue 0, at which
/// precalculate_color() leaves the colour alone. Not set because they
/// cannot change a solid colour: flips, movement, alpha (Y'CbCr has none),
/// the HDMI guard band (RGB formats only), the transfer function (CSC
/// colour bar only).
pub fn select_solid_red(dev: &VideoDev) -> Result<YCbCr> {
    let input = webcam_input(dev)?;
    let got = v4l2r::ioctl::s_input(&dev.file, input)
        .map_err(|e| anyhow!("VIDIOC_S_INPUT {input} (the webcam): {e}"))?;
    if got != input {
        bail!("VIDIOC_S_INPUT {input} selected input {got}");
    }
    // vivid moves the brightness range by 128 per input index
    // (vidioc_s_input()); the TPG sees the value minus that offset.
    let neutral_brightness = 128 + 128 * i32::try_from(input).context("input index")?;
    let controls = [
        (VIVID_CID_TEST_PATTERN, "test pattern", PATTERN_100_RED),
        (VIVID_CID_OSD_TEXT_MODE, "OSD text mode (None)", 2),
        (VIVID_CID_SHOW_BORDER, "show border", 0),
        (VIVID_CID_SHOW_SQUARE, "show square", 0),
        (VIVID_CID_INSERT_SAV, "insert SAV", 0),
        (VIVID_CID_INSERT_EAV, "insert EAV", 0),
        (VIVID_CID_PERCENTAGE_FILL, "fill percentage", 100),
        (VIVID_CID_COLORSPACE, "colorspace (SMPTE 170M)", 0),
        (VIVID_CID_YCBCR_ENC, "Y'CbCr encoding (ITU-R 601)", 1),
        (VIVID_CID_QUANTIZATION, "quantization (limited range)", 2),
        (
            bindings::V4L2_CID_BRIGHTNESS,
            "brightness",
            neutral_brightness,
        ),
        (bindings::V4L2_CID_CONTRAST, "contrast", 128),
        (bindings::V4L2_CID_SATURATION, "saturation", 128),
        (bindings::V4L2_CID_HUE, "hue", 0),
    ];
    for (id, what, value) in controls {
        set_ctrl(dev, id, &format!("vivid {what}"), value)?;
    }
    let (r, g, b) = RED;
    Ok(tpg_bt601_limited(r, g, b))
}

/// The `len` bytes of the dma-buf `buf` as a second device reads them:
/// `dev` (a fresh vim2m context) imports it as a DMABUF OUTPUT frame of
/// RGB24 and, with the same format and size on CAPTURE and no flip, copies
/// it line by line (device_process()) into a zeroed MMAP CAPTURE buffer.
pub fn read_via_vim2m(
    mut dev: VideoDev,
    buf: BorrowedFd<'_>,
    len: usize,
    timeout: Duration,
) -> Result<Vec<u8>> {
    let (w, h) = vim2m_rgb24_shape(len)
        .ok_or_else(|| anyhow!("vim2m cannot take {len} bytes as one RGB24 frame"))?;
    set_ctrl(&dev, VIM2M_CID_TRANS_TIME_MSEC, "vim2m transaction time", 1)?;
    set_ctrl(&dev, bindings::V4L2_CID_HFLIP, "vim2m horizontal flip", 0)?;
    set_ctrl(&dev, bindings::V4L2_CID_VFLIP, "vim2m vertical flip", 0)?;
    let (oq, cq) = (dev.out_q(), dev.cap_q());
    for q in [oq, cq] {
        let f = dev.set_format(q, b"RGB3", w, h)?;
        let size = f.plane_fmt.first().map_or(0, |p| p.sizeimage as usize);
        if (f.width, f.height, size) != (w, h, len) {
            bail!(
                "vim2m {q:?} is {}x{} with sizeimage {size}, expected RGB24 {w}x{h} of {len} bytes",
                f.width,
                f.height
            );
        }
    }
    let bytesused = u32::try_from(len).context("plane length")?;
    dev.reqbufs(oq, Mem::DmaBuf, 1)?;
    dev.reqbufs(cq, Mem::Mmap, 1)?;
    let mut map = dev.mmap_plane(cq, 0)?;
    map.as_mut().fill(0);
    dev.streamon(oq)?;
    dev.streamon(cq)?;
    dev.qbuf_mmap(cq, 0, 0)?;
    // length 0: vb2 takes the dma-buf's own size.
    dev.qbuf_dmabuf(oq, 0, buf, 0, bytesused)
        .context("vim2m: import the export as OUTPUT")?;
    let c = dev.dqbuf_wait(cq, timeout).context("vim2m CAPTURE")?;
    dev.dqbuf_wait(oq, timeout).context("vim2m OUTPUT")?;
    if c.error {
        bail!("vim2m CAPTURE came back with V4L2_BUF_FLAG_ERROR");
    }
    if c.bytesused as usize != len {
        bail!("vim2m CAPTURE bytesused {}, expected {len}", c.bytesused);
    }
    Ok(sys::plane_read(&map, len))
}
