//! `M2mRun`: one m2m context with one OUTPUT and one CAPTURE buffer, set
//! up for a driver, queued, waited for and read back.

use std::cell::Cell;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use v4l2r::ioctl::PlaneMapping;
use v4l2r::{PixelFormat, QueueType};

use super::source::import_source;
use super::{label_buf, BufSource, Driver, VIM2M_CID_TRANS_TIME_MSEC};
use crate::env::Env;
use crate::frames::{
    pattern_rgb24, pattern_yuv420, vim2m_rgb24_to_yuyv, Reference, FWHT_HDR_LEN, RGA_H, RGA_W,
    VICODEC_H, VICODEC_W, VIM2M_H, VIM2M_W,
};
use crate::sys::{self, Mapping};
use crate::v4l2::{Mem, VideoDev};

/// A buffer as the run holds it: its MMAP mapping, or the imported dma-buf
/// with a mapping of its own.
enum Backing {
    Mmap(PlaneMapping),
    Imported {
        fd: OwnedFd,
        map: Mapping,
        len: u32,
        // Keeps the exporting device (vivid) and its queue alive.
        _exporter: Option<VideoDev>,
    },
    /// USERPTR: the queue pins the pages of this mapping of a memfd.
    UserPtr {
        map: Mapping,
        len: u32,
    },
}

impl Backing {
    /// REQBUFS one buffer of `q` from `src`; `fill` is written into it
    /// (zeros after it), through DMA_BUF_IOCTL_SYNC for an import.
    fn new(dev: &VideoDev, q: QueueType, src: BufSource, size: u32, fill: &[u8]) -> Result<Self> {
        if src == BufSource::Mmap {
            dev.reqbufs(q, Mem::Mmap, 1)?;
            let mut m = dev.mmap_plane(q, 0)?;
            let mem = m.as_mut();
            mem.fill(0);
            mem[..fill.len()].copy_from_slice(fill);
            return Ok(Backing::Mmap(m));
        }
        if src == BufSource::UserPtr {
            dev.reqbufs(q, Mem::UserPtr, 1)?;
            let (memfd, len) = super::source::memfd(size)?;
            let mut map =
                Mapping::new(memfd.as_fd(), len as usize).context("mmap USERPTR memory")?;
            map.write(fill);
            return Ok(Backing::UserPtr { map, len });
        }
        dev.reqbufs(q, Mem::DmaBuf, 1)?;
        let (fd, len, exporter) = import_source(src, size)?;
        let mut map = Mapping::new(fd.as_fd(), len as usize).context("mmap imported dma-buf")?;
        sys::dma_buf_sync(
            fd.as_fd(),
            sys::DMA_BUF_SYNC_START | sys::DMA_BUF_SYNC_WRITE,
        )
        .context("DMA_BUF_IOCTL_SYNC start")?;
        let mut bytes = fill.to_vec();
        bytes.resize(len as usize, 0);
        map.write(&bytes);
        sys::dma_buf_sync(fd.as_fd(), sys::DMA_BUF_SYNC_END | sys::DMA_BUF_SYNC_WRITE)
            .context("DMA_BUF_IOCTL_SYNC end")?;
        Ok(Backing::Imported {
            fd,
            map,
            len,
            _exporter: exporter,
        })
    }

    fn imported_fd(&self) -> Option<&OwnedFd> {
        match self {
            Backing::Imported { fd, .. } => Some(fd),
            Backing::Mmap(_) | Backing::UserPtr { .. } => None,
        }
    }

    /// QBUF it as buffer 0 of `q` with `bytesused`.
    fn qbuf(&self, dev: &VideoDev, q: QueueType, bytesused: u32) -> Result<()> {
        match self {
            Backing::Mmap(_) => dev.qbuf_mmap(q, 0, bytesused)?,
            Backing::Imported { fd, len, .. } => {
                dev.qbuf_dmabuf(q, 0, fd.as_fd(), *len, bytesused)?
            }
            Backing::UserPtr { map, len } => {
                dev.qbuf_userptr(q, 0, map.address(), *len, bytesused)?
            }
        }
        Ok(())
    }
}

/// One m2m context with one OUTPUT and one CAPTURE buffer.
pub struct M2mRun {
    pub driver: Driver,
    pub dev: Option<VideoDev>,
    out: Option<Backing>,
    cap: Option<Backing>,
    pub out_size: u32,
    pub cap_size: u32,
    pub input: Vec<u8>,
    pub reference: Reference,
    /// CAPTURE bytesused: `cap_size` until DQBUF reports it.
    payload: Cell<u32>,
    pub t0_ns: u64,
    /// Request API drivers (visl): the media device and the request that
    /// carries the OUTPUT buffer (kept open until the run is dropped).
    media: Option<std::fs::File>,
    request: Option<v4l2r::ioctl::Request>,
}

/// RGB24 `w`x`h` on OUTPUT and `cap_fourcc` at the same size on CAPTURE;
/// an error naming `who` if the driver adjusts the size.
fn set_formats(
    dev: &mut VideoDev,
    who: &str,
    cap_fourcc: &[u8; 4],
    (w, h): (u32, u32),
) -> Result<(v4l2r::Format, v4l2r::Format)> {
    let (oq, cq) = (dev.out_q(), dev.cap_q());
    let of = dev.set_format(oq, b"RGB3", w, h)?;
    let cf = dev.set_format(cq, cap_fourcc, w, h)?;
    if (of.width, of.height, cf.width, cf.height) != (w, h, w, h) {
        bail!(
            "{who} adjusted {w}x{h} to {}x{} / {}x{}",
            of.width,
            of.height,
            cf.width,
            cf.height
        );
    }
    Ok((of, cf))
}

/// sizeimage of a format's first plane (0 if the driver gave none).
fn plane0_size(f: &v4l2r::Format) -> u32 {
    f.plane_fmt.first().map_or(0, |p| p.sizeimage)
}

impl M2mRun {
    /// vim2m, RGB24 VIM2M_W x VIM2M_H in, `cap_fourcc` out, CAPTURE backed by `src`.
    pub fn setup(env: &Env, dev: VideoDev, cap_fourcc: &[u8; 4], src: BufSource) -> Result<Self> {
        Self::setup_sources(env, dev, cap_fourcc, src, BufSource::Mmap)
    }

    /// As `setup`, with the OUTPUT buffer backed by `out_src`.
    pub fn setup_sources(
        env: &Env,
        dev: VideoDev,
        cap_fourcc: &[u8; 4],
        src: BufSource,
        out_src: BufSource,
    ) -> Result<Self> {
        let mut dev = dev;
        dev.s_ctrl(VIM2M_CID_TRANS_TIME_MSEC, env.transtime_ms as i32)
            .context("set vim2m transaction time")?;
        let (of, cf) = set_formats(&mut dev, "vim2m", cap_fourcc, (VIM2M_W, VIM2M_H))?;
        let out_size = plane0_size(&of);
        let cap_size = plane0_size(&cf);
        let input = pattern_rgb24(VIM2M_W, VIM2M_H);
        if out_size as usize != input.len() {
            bail!("OUTPUT sizeimage {out_size}, expected {}", input.len());
        }
        let expected = match cap_fourcc {
            b"RGB3" => input.clone(),
            b"YUYV" => vim2m_rgb24_to_yuyv(&input, VIM2M_W, VIM2M_H),
            _ => bail!("no software reference for this CAPTURE format"),
        };
        let reference = Reference::Exact(expected.clone());
        if cap_size as usize != expected.len() {
            bail!("CAPTURE sizeimage {cap_size}, expected {}", expected.len());
        }
        Self::with_buffers(
            Driver::Vim2m,
            dev,
            input,
            (out_size, cap_size),
            reference,
            (out_src, src),
            None,
        )
    }

    /// vicodec stateful encoder: YU12 VICODEC_W x VICODEC_H in, FWHT out,
    /// both MMAP (vb2-vmalloc).
    pub fn setup_vicodec_enc(dev: VideoDev) -> Result<Self> {
        let mut dev = dev;
        let (oq, cq) = (dev.out_q(), dev.cap_q());
        // The encoder derives the CAPTURE (FWHT) format from the OUTPUT one.
        let of = dev.set_format(oq, b"YU12", VICODEC_W, VICODEC_H)?;
        if (of.width, of.height) != (VICODEC_W, VICODEC_H) {
            bail!(
                "vicodec adjusted {VICODEC_W}x{VICODEC_H} to {}x{}",
                of.width,
                of.height
            );
        }
        let cf = dev.g_format(cq)?;
        if cf.pixelformat != PixelFormat::from(b"FWHT") {
            bail!(
                "vicodec encoder CAPTURE format is {}, not FWHT",
                cf.pixelformat
            );
        }
        let out_size = plane0_size(&of);
        let cap_size = plane0_size(&cf);
        let input = pattern_yuv420(VICODEC_W, VICODEC_H);
        if out_size as usize != input.len() {
            bail!("OUTPUT sizeimage {out_size}, expected {}", input.len());
        }
        if (cap_size as usize) <= FWHT_HDR_LEN {
            bail!("CAPTURE sizeimage {cap_size} cannot hold an FWHT frame");
        }
        // The encoder asks for at least 2 OUTPUT buffers; index 0 is used.
        let reference = Reference::Fwht {
            w: VICODEC_W,
            h: VICODEC_H,
        };
        Self::with_buffers(
            Driver::VicodecEnc,
            dev,
            input,
            (out_size, cap_size),
            reference,
            (BufSource::Mmap, BufSource::Mmap),
            None,
        )
    }

    /// The common end of every setup: one buffer per queue from `sources`
    /// (OUTPUT, CAPTURE), the OUTPUT one filled with `input`, the CAPTURE
    /// one zeroed (so a job that writes nothing is visible).
    fn with_buffers(
        driver: Driver,
        dev: VideoDev,
        input: Vec<u8>,
        (out_size, cap_size): (u32, u32),
        reference: Reference,
        (out_src, cap_src): (BufSource, BufSource),
        media: Option<std::fs::File>,
    ) -> Result<Self> {
        let (oq, cq) = (dev.out_q(), dev.cap_q());
        let out = Backing::new(&dev, oq, out_src, out_size, &input).context("OUTPUT buffer")?;
        let cap = Backing::new(&dev, cq, cap_src, cap_size, &[]).context("CAPTURE buffer")?;
        Ok(Self {
            driver,
            dev: Some(dev),
            out: Some(out),
            cap: Some(cap),
            out_size,
            cap_size,
            input,
            reference,
            payload: Cell::new(cap_size),
            t0_ns: 0,
            media,
            request: None,
        })
    }

    /// vicodec stateful decoder with its default formats (FWHT in, the
    /// first raw format at 1280x720 out), MMAP (vb2-vmalloc) both; the
    /// OUTPUT buffer holds exactly `input` (its bytesused).
    pub fn setup_vicodec_dec(dev: VideoDev, input: Vec<u8>) -> Result<Self> {
        let (oq, cq) = (dev.out_q(), dev.cap_q());
        let of = dev.g_format(oq)?;
        if of.pixelformat != PixelFormat::from(b"FWHT") {
            bail!(
                "vicodec decoder OUTPUT format is {}, not FWHT",
                of.pixelformat
            );
        }
        let cf = dev.g_format(cq)?;
        let out_len = plane0_size(&of);
        let cap_size = plane0_size(&cf);
        let out_size = u32::try_from(input.len()).context("input length")?;
        if out_size == 0 || out_size > out_len || cap_size == 0 {
            bail!(
                "vicodec decoder sizeimage OUTPUT {out_len} / CAPTURE {cap_size}, \
                 input {out_size} bytes"
            );
        }
        // The decoder allocates at least VICODEC_REC_BUFS; index 0 is used.
        // Reference::Written is what a successful decode would leave; the
        // error test never gets that far.
        Self::with_buffers(
            Driver::VicodecDec,
            dev,
            input,
            (out_size, cap_size),
            Reference::Written,
            (BufSource::Mmap, BufSource::Mmap),
            None,
        )
    }

    /// Queue the OUTPUT buffer in a request of `media` from now on (vim2m
    /// supports requests without requiring them).
    pub fn with_requests(mut self, media: std::fs::File) -> Self {
        self.media = Some(media);
        self
    }

    /// Open `driver` and set it up (vim2m: RGB24 -> RGB24).
    pub fn open(env: &Env, driver: Driver, src: BufSource) -> Result<Self> {
        let dev = driver.open()?;
        match driver {
            Driver::Vim2m => Self::setup(env, dev, b"RGB3", src),
            Driver::VicodecEnc if src == BufSource::Mmap => Self::setup_vicodec_enc(dev),
            Driver::VicodecEnc => bail!("the suite drives vicodec with MMAP buffers only"),
            Driver::VicodecDec => {
                bail!("the vicodec decoder needs a compressed input: use setup_vicodec_dec")
            }
            Driver::Visl if src == BufSource::Mmap => Self::setup_visl(dev),
            Driver::Visl => bail!("the suite drives visl with MMAP buffers only"),
            Driver::Rga => Self::setup_rga(dev, src),
        }
    }

    /// The RGA: RGB24 RGA_W x RGA_H in and out, no rotation, flip or
    /// scaling (its controls' defaults), so CAPTURE must equal OUTPUT byte
    /// for byte; CAPTURE backed by `src`.
    pub fn setup_rga(dev: VideoDev, src: BufSource) -> Result<Self> {
        let mut dev = dev;
        let (of, cf) = set_formats(&mut dev, "the RGA", b"RGB3", (RGA_W, RGA_H))?;
        let out_size = plane0_size(&of);
        let cap_size = plane0_size(&cf);
        let input = pattern_rgb24(RGA_W, RGA_H);
        if out_size as usize != input.len() || cap_size as usize != input.len() {
            bail!(
                "the RGA's RGB24 sizeimage is {out_size} / {cap_size}, expected {} (no stride padding at this width)",
                input.len()
            );
        }
        let reference = Reference::Exact(input.clone());
        Self::with_buffers(
            Driver::Rga,
            dev,
            input,
            (out_size, cap_size),
            reference,
            (BufSource::Mmap, src),
            None,
        )
    }

    /// visl with its default formats (the first coded format, decoded to
    /// its first raw format, one plane each), MMAP (vb2-vmalloc) both.
    pub fn setup_visl(dev: VideoDev) -> Result<Self> {
        let media = crate::v4l2::find_media("visl", "modprobe visl")?;
        let (oq, cq) = (dev.out_q(), dev.cap_q());
        let of = dev.g_format(oq)?;
        let cf = dev.g_format(cq)?;
        if of.plane_fmt.len() != 1 || cf.plane_fmt.len() != 1 {
            bail!(
                "visl default formats have {} / {} planes; the suite queues one",
                of.plane_fmt.len(),
                cf.plane_fmt.len()
            );
        }
        let out_size = of.plane_fmt[0].sizeimage;
        let cap_size = cf.plane_fmt[0].sizeimage;
        if out_size == 0 || cap_size == 0 {
            bail!("visl reports sizeimage {out_size} / {cap_size}");
        }
        // Not a real bitstream: visl only traces it.
        let input: Vec<u8> = (0..out_size).map(|i| (i % 251) as u8).collect();
        Self::with_buffers(
            Driver::Visl,
            dev,
            input,
            (out_size, cap_size),
            Reference::Written,
            (BufSource::Mmap, BufSource::Mmap),
            Some(media),
        )
    }

    /// Bytes the job produced (DQBUF bytesused; `cap_size` before that).
    pub fn payload_len(&self) -> usize {
        self.payload.get() as usize
    }

    pub fn dev(&self) -> Result<&VideoDev> {
        self.dev
            .as_ref()
            .ok_or_else(|| anyhow!("device already closed"))
    }

    /// The CAPTURE buffer's dma-buf, when the queue imported it.
    pub fn imported_fd(&self) -> Option<&OwnedFd> {
        self.cap.as_ref().and_then(Backing::imported_fd)
    }

    /// The OUTPUT buffer's dma-buf, when the queue imported it.
    pub fn imported_out_fd(&self) -> Option<&OwnedFd> {
        self.out.as_ref().and_then(Backing::imported_fd)
    }

    pub fn export_cap(&self, label: &str) -> Result<OwnedFd> {
        let d = self.dev()?;
        let fd = d.expbuf(d.cap_q(), 0)?;
        label_buf(&fd, label);
        Ok(fd)
    }

    pub fn export_out(&self, label: &str) -> Result<OwnedFd> {
        let d = self.dev()?;
        let fd = d.expbuf(d.out_q(), 0)?;
        label_buf(&fd, label);
        Ok(fd)
    }

    /// Queue CAPTURE only (no job can run).
    pub fn queue_capture(&self) -> Result<()> {
        let d = self.dev()?;
        d.streamon(d.out_q())?;
        d.streamon(d.cap_q())?;
        match &self.cap {
            Some(b) => b.qbuf(d, d.cap_q(), 0),
            None => bail!("CAPTURE buffer released"),
        }
    }

    /// STREAMON, queue both buffers; the job becomes runnable.
    pub fn start(&mut self) -> Result<()> {
        self.queue_capture()?;
        self.queue_output()
    }

    /// Queue the OUTPUT buffer (after `queue_capture`): the job becomes
    /// runnable (vicodec: runs and completes inside this QBUF).
    pub fn queue_output(&mut self) -> Result<()> {
        if self.media.is_some() {
            // Request API: QBUF into a fresh request, then queue the
            // request; the job runs inside MEDIA_REQUEST_IOC_QUEUE.
            let req = self.output_request()?;
            req.queue().context("MEDIA_REQUEST_IOC_QUEUE")?;
            self.request = Some(req);
            return Ok(());
        }
        self.t0_ns = sys::monotonic_ns();
        let d = self.dev()?;
        match &self.out {
            Some(b) => b.qbuf(d, d.out_q(), self.out_size),
            None => bail!("OUTPUT buffer released"),
        }
    }

    /// Request API drivers (visl): QBUF the OUTPUT buffer into a fresh
    /// request and return it unqueued; queueing it runs the job.
    pub fn output_request(&mut self) -> Result<v4l2r::ioctl::Request> {
        let media = self
            .media
            .as_ref()
            .ok_or_else(|| anyhow!("{} does not use the Request API", self.driver.name()))?;
        let req = v4l2r::ioctl::Request::alloc(media).context("MEDIA_IOC_REQUEST_ALLOC")?;
        let d = self.dev()?;
        d.qbuf_mmap_request(d.out_q(), 0, self.out_size, &req)?;
        self.t0_ns = sys::monotonic_ns();
        Ok(req)
    }

    pub fn cap_bytes(&self) -> Vec<u8> {
        match &self.cap {
            Some(Backing::Mmap(m)) => sys::plane_read(m, self.payload_len()),
            Some(Backing::Imported { map, .. }) | Some(Backing::UserPtr { map, .. }) => {
                map.read(self.payload_len())
            }
            None => Vec::new(),
        }
    }

    /// vim2m writes the frame in device_run(), then completes after the
    /// transaction time: CAPTURE content changing means the job is running.
    pub fn wait_started(&self, env: &Env) -> Result<()> {
        self.wait_started_within(env.start_timeout())
    }

    /// As `wait_started`, with an explicit bound.
    pub fn wait_started_within(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.cap_bytes().iter().any(|&b| b != 0) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "job did not start within {} ms of QBUF (CAPTURE content unchanged)",
                    timeout.as_millis()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// DQBUF both buffers (bounded), checking the CAPTURE one; records
    /// its bytesused.
    pub fn wait_done(&self, env: &Env) -> Result<bool> {
        let d = self.dev()?;
        let c = d
            .dqbuf_wait(d.cap_q(), env.job_timeout())
            .context("waiting for the CAPTURE buffer")?;
        d.dqbuf_wait(d.out_q(), env.job_timeout())
            .context("waiting for the OUTPUT buffer")?;
        if c.bytesused > self.cap_size {
            bail!(
                "CAPTURE bytesused {} exceeds its size {}",
                c.bytesused,
                self.cap_size
            );
        }
        self.payload.set(c.bytesused);
        Ok(c.error)
    }

    /// The CAPTURE bytes `got` (read through `what`) hold what the run's
    /// reference says.
    pub fn check_frame(&self, what: &str, got: &[u8]) -> Result<()> {
        self.reference.check(what, got)
    }

    pub fn drop_mappings(&mut self) {
        if let Some(Backing::Mmap(_)) = self.out {
            self.out = None;
        }
        if let Some(Backing::Mmap(_)) = self.cap {
            self.cap = None;
        }
    }
}
