//! The paths the suite drives on an m2m device, each producing a landing
//! row (what landed where) and a verdict.

use std::cell::Cell;
use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use v4l2r::ioctl::PlaneMapping;
use v4l2r::PixelFormat;

use crate::env::Env;
use crate::frames::{
    check_fwht_frame, pattern_rgb24, pattern_yuv420, vim2m_rgb24_to_yuyv, Reference, FWHT_HDR_LEN,
    VICODEC_H, VICODEC_W, VIM2M_H, VIM2M_W,
};
use crate::landing::LandingRow;
use crate::oracle::{self, HeldSync};
use crate::parse::Usage;
use crate::sys::{self, Mapping};
use crate::v4l2::{find_device, Mem, VideoDev};
use crate::verdict::wrong;

/// vim2m: V4L2_CID_USER_BASE (0x00980900) + 0x1000
/// (drivers/media/test-drivers/vim2m.c, V4L2_CID_TRANS_TIME_MSEC).
pub const VIM2M_CID_TRANS_TIME_MSEC: u32 = 0x0098_0900 + 0x1000;
/// The system dma-heap, and what provides it.
pub const DMA_HEAP: &str = "/dev/dma_heap/system";
pub const DMA_HEAP_FIX: &str = "the kernel needs CONFIG_DMABUF_HEAPS_SYSTEM";
/// udmabuf, and what provides it.
pub const UDMABUF: &str = "/dev/udmabuf";
pub const UDMABUF_FIX: &str = "the kernel needs CONFIG_UDMABUF";

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
}

impl Driver {
    /// Test-name prefix and QUERYCAP driver name.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Vim2m => "vim2m",
            Driver::VicodecEnc | Driver::VicodecDec => "vicodec",
            Driver::Visl => "visl",
        }
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

/// Where the CAPTURE buffer comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapSource {
    Mmap,
    Heap,
    Udmabuf,
    Vivid,
}

enum CapBacking {
    Mmap(PlaneMapping),
    Imported {
        fd: OwnedFd,
        map: Mapping,
        len: u32,
        // Keeps the exporting device (vivid) and its queue alive.
        _exporter: Option<VideoDev>,
    },
}

/// One m2m context with one OUTPUT and one CAPTURE buffer.
pub struct M2mRun {
    pub driver: Driver,
    pub dev: Option<VideoDev>,
    out_map: Option<PlaneMapping>,
    cap: Option<CapBacking>,
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

/// sizeimage of a format's first plane (0 if the driver gave none).
fn plane0_size(f: &v4l2r::Format) -> u32 {
    f.plane_fmt.first().map_or(0, |p| p.sizeimage)
}

fn page_round(n: u32) -> u32 {
    n.div_ceil(4096) * 4096
}

pub fn open_vim2m() -> Result<VideoDev> {
    find_device("vim2m", "modprobe vim2m", |d| d.is_m2m())
}

/// vivid's single-planar video capture (dma-contig allocator), a second
/// V4L2 exporter for the DMABUF-import path.
pub fn open_vivid_capture() -> Result<VideoDev> {
    find_device(
        "vivid",
        "modprobe vivid n_devs=2 allocators=1,0 multiplanar=1,2 node_types=0x1,0x1 \
         num_outputs=0,0 (instance 0: single-planar, dma-contig; as vm/stages/load-drivers.sh)",
        |d| d.is_capture() && !d.is_m2m() && !d.mplane,
    )
}

fn import_source(src: CapSource, size: u32) -> Result<(OwnedFd, u32, Option<VideoDev>)> {
    match src {
        CapSource::Mmap => bail!("not an import"),
        CapSource::Heap => {
            let heap = crate::access::open_node(DMA_HEAP, false, DMA_HEAP_FIX)?;
            let len = page_round(size);
            let fd = sys::dma_heap_alloc(heap.as_fd(), u64::from(len))
                .context("DMA_HEAP_IOCTL_ALLOC")?;
            Ok((fd, len, None))
        }
        CapSource::Udmabuf => {
            use nix::fcntl::{fcntl, FcntlArg, SealFlag};
            use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
            let len = page_round(size);
            let name = CString::new("fence-suite").context("memfd name")?;
            let memfd =
                memfd_create(&name, MemFdCreateFlag::MFD_ALLOW_SEALING).context("memfd_create")?;
            nix::unistd::ftruncate(&memfd, i64::from(len)).context("ftruncate(memfd)")?;
            // udmabuf requires F_SEAL_SHRINK (and refuses F_SEAL_WRITE).
            fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&memfd),
                FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK),
            )
            .context("F_ADD_SEALS")?;
            let dev = crate::access::open_node(UDMABUF, false, UDMABUF_FIX)?;
            let fd = sys::udmabuf_create(dev.as_fd(), memfd.as_fd(), u64::from(len))
                .context("UDMABUF_CREATE")?;
            Ok((fd, len, None))
        }
        CapSource::Vivid => {
            let v = open_vivid_capture()?;
            let q = v.cap_q();
            v.reqbufs(q, Mem::Mmap, 1).context("vivid REQBUFS(MMAP)")?;
            let (_, len) = v.query_mmap_plane(q, 0)?;
            if len < size {
                bail!("vivid buffer is {len} bytes, vim2m needs {size}");
            }
            let fd = v.expbuf(q, 0).context("vivid EXPBUF")?;
            Ok((fd, len, Some(v)))
        }
    }
}

impl M2mRun {
    /// vim2m, RGB24 VIM2M_W x VIM2M_H in, `cap_fourcc` out, CAPTURE backed by `src`.
    pub fn setup(env: &Env, dev: VideoDev, cap_fourcc: &[u8; 4], src: CapSource) -> Result<Self> {
        let mut dev = dev;
        dev.s_ctrl(VIM2M_CID_TRANS_TIME_MSEC, env.transtime_ms as i32)
            .context("set vim2m transaction time")?;
        let (oq, cq) = (dev.out_q(), dev.cap_q());
        let of = dev.set_format(oq, b"RGB3", VIM2M_W, VIM2M_H)?;
        let cf = dev.set_format(cq, cap_fourcc, VIM2M_W, VIM2M_H)?;
        if (of.width, of.height, cf.width, cf.height) != (VIM2M_W, VIM2M_H, VIM2M_W, VIM2M_H) {
            bail!(
                "vim2m adjusted {VIM2M_W}x{VIM2M_H} to {}x{} / {}x{}",
                of.width,
                of.height,
                cf.width,
                cf.height
            );
        }
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
        dev.reqbufs(oq, Mem::Mmap, 1)?;
        let mut out_map = dev.mmap_plane(oq, 0)?;
        out_map.as_mut()[..input.len()].copy_from_slice(&input);
        let cap = if src == CapSource::Mmap {
            dev.reqbufs(cq, Mem::Mmap, 1)?;
            let mut m = dev.mmap_plane(cq, 0)?;
            m.as_mut().fill(0);
            CapBacking::Mmap(m)
        } else {
            dev.reqbufs(cq, Mem::DmaBuf, 1)?;
            let (fd, len, exporter) = import_source(src, cap_size)?;
            let mut map =
                Mapping::new(fd.as_fd(), len as usize).context("mmap imported dma-buf")?;
            sys::dma_buf_sync(
                fd.as_fd(),
                sys::DMA_BUF_SYNC_START | sys::DMA_BUF_SYNC_WRITE,
            )
            .context("DMA_BUF_IOCTL_SYNC start")?;
            map.write(&vec![0u8; len as usize]);
            sys::dma_buf_sync(fd.as_fd(), sys::DMA_BUF_SYNC_END | sys::DMA_BUF_SYNC_WRITE)
                .context("DMA_BUF_IOCTL_SYNC end")?;
            CapBacking::Imported {
                fd,
                map,
                len,
                _exporter: exporter,
            }
        };
        Ok(Self {
            driver: Driver::Vim2m,
            dev: Some(dev),
            out_map: Some(out_map),
            cap: Some(cap),
            out_size,
            cap_size,
            input,
            reference,
            payload: Cell::new(cap_size),
            t0_ns: 0,
            media: None,
            request: None,
        })
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
        Self::with_mmap_buffers(
            Driver::VicodecEnc,
            dev,
            input,
            (out_size, cap_size),
            reference,
            None,
        )
    }

    /// The common end of the codec setups: one MMAP buffer per queue, the
    /// OUTPUT one filled with `input`, the CAPTURE one zeroed (so a job that
    /// writes nothing is visible).
    fn with_mmap_buffers(
        driver: Driver,
        dev: VideoDev,
        input: Vec<u8>,
        (out_size, cap_size): (u32, u32),
        reference: Reference,
        media: Option<std::fs::File>,
    ) -> Result<Self> {
        let (oq, cq) = (dev.out_q(), dev.cap_q());
        dev.reqbufs(oq, Mem::Mmap, 1)?;
        let mut out_map = dev.mmap_plane(oq, 0)?;
        out_map.as_mut()[..input.len()].copy_from_slice(&input);
        dev.reqbufs(cq, Mem::Mmap, 1)?;
        let mut m = dev.mmap_plane(cq, 0)?;
        m.as_mut().fill(0);
        Ok(Self {
            driver,
            dev: Some(dev),
            out_map: Some(out_map),
            cap: Some(CapBacking::Mmap(m)),
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
        Self::with_mmap_buffers(
            Driver::VicodecDec,
            dev,
            input,
            (out_size, cap_size),
            Reference::Written,
            None,
        )
    }

    /// Open `driver` and set it up (vim2m: RGB24 -> RGB24).
    pub fn open(env: &Env, driver: Driver, src: CapSource) -> Result<Self> {
        let dev = driver.open()?;
        match driver {
            Driver::Vim2m => Self::setup(env, dev, b"RGB3", src),
            Driver::VicodecEnc if src == CapSource::Mmap => Self::setup_vicodec_enc(dev),
            Driver::VicodecEnc => bail!("the suite drives vicodec with MMAP buffers only"),
            Driver::VicodecDec => {
                bail!("the vicodec decoder needs a compressed input: use setup_vicodec_dec")
            }
            Driver::Visl if src == CapSource::Mmap => Self::setup_visl(dev),
            Driver::Visl => bail!("the suite drives visl with MMAP buffers only"),
        }
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
        Self::with_mmap_buffers(
            Driver::Visl,
            dev,
            input,
            (out_size, cap_size),
            Reference::Written,
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

    pub fn imported_fd(&self) -> Option<&OwnedFd> {
        match &self.cap {
            Some(CapBacking::Imported { fd, .. }) => Some(fd),
            _ => None,
        }
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
            Some(CapBacking::Mmap(_)) => d.qbuf_mmap(d.cap_q(), 0, 0)?,
            Some(CapBacking::Imported { fd, len, .. }) => {
                d.qbuf_dmabuf(d.cap_q(), 0, fd.as_fd(), *len, 0)?
            }
            None => bail!("CAPTURE buffer released"),
        }
        Ok(())
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
        d.qbuf_mmap(d.out_q(), 0, self.out_size)?;
        Ok(())
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
            Some(CapBacking::Mmap(m)) => sys::plane_read(m, self.payload_len()),
            Some(CapBacking::Imported { map, .. }) => map.read(self.payload_len()),
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
        self.out_map = None;
        if let Some(CapBacking::Mmap(_)) = self.cap {
            self.cap = None;
        }
    }
}

fn label_buf(fd: &OwnedFd, label: &str) {
    // Labels only help a human read bufinfo; matching is by inode, so a
    // kernel refusing the name does not invalidate the test.
    let l: String = label.chars().take(31).collect();
    let _ = sys::dma_buf_set_name(fd.as_fd(), &l);
}

/// When the watched CAPTURE exports are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportWhen {
    BeforeQbuf,
    WhileRunning,
}

/// How the job ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum End {
    Done,
    StreamOff,
    Close,
    ReqBufs0,
}

/// What to watch.
#[derive(Clone, Debug)]
pub struct FencePlan {
    pub src: CapSource,
    pub cap_exports: usize,
    pub when: ExportWhen,
    pub watch_output: bool,
    pub end: End,
}

struct Watched {
    label: String,
    fd: OwnedFd,
    usage: Usage,
    reservation: &'static str,
    held: Option<HeldSync>,
    id: Option<(u64, u64)>,
}

/// The core fence-landing path: arm a job, see a pending fence of the right
/// usage on every watched buffer through every oracle, end the job, see it
/// signalled.
pub fn fence_path(env: &Env, name: &str, plan: &FencePlan) -> (LandingRow, Result<()>) {
    LandingRow::record("vim2m", name, |row| fence_path_inner(env, name, plan, row))
}

fn fence_path_inner(env: &Env, name: &str, plan: &FencePlan, row: &mut LandingRow) -> Result<()> {
    let dev = open_vim2m()?;
    let mut run = M2mRun::setup(env, dev, b"RGB3", plan.src)?;
    let mut watched: Vec<Watched> = Vec::new();
    if plan.src != CapSource::Mmap {
        let fd = run
            .imported_fd()
            .ok_or_else(|| anyhow!("no imported fd"))?
            .try_clone()
            .context("dup imported fd")?;
        label_buf(&fd, &format!("fs:{name}:imp"));
        watched.push(Watched {
            label: format!("imported {:?} CAPTURE", plan.src),
            fd,
            usage: Usage::Write,
            reservation: "importer",
            held: None,
            id: None,
        });
    }
    let export_caps = |run: &M2mRun, watched: &mut Vec<Watched>| -> Result<()> {
        for i in 0..plan.cap_exports {
            watched.push(Watched {
                label: format!("CAPTURE export #{i}"),
                fd: run.export_cap(&format!("fs:{name}:cap{i}"))?,
                usage: Usage::Write,
                reservation: "exporter",
                held: None,
                id: None,
            });
        }
        Ok(())
    };
    if plan.when == ExportWhen::BeforeQbuf {
        export_caps(&run, &mut watched)?;
    }
    if plan.watch_output {
        watched.push(Watched {
            label: "OUTPUT export".into(),
            fd: run.export_out(&format!("fs:{name}:out"))?,
            usage: Usage::Read,
            reservation: "exporter",
            held: None,
            id: None,
        });
    }
    run.start()?;
    run.wait_started(env)?;
    if plan.when == ExportWhen::WhileRunning {
        export_caps(&run, &mut watched)?;
    }
    // Every fd held for a buffer, for the inode of its kmod arm record:
    // the CAPTURE views (imported fd or exports) are one buffer, the
    // OUTPUT export another. Exports made while running came after the arm.
    let inos_of = |u: Usage| -> Result<Vec<u64>> {
        watched
            .iter()
            .filter(|w| w.usage == u)
            .map(|w| sys::inode_of(w.fd.as_fd()).context("fstat(watched fd)"))
            .collect()
    };
    let (cap_inos, out_inos) = (inos_of(Usage::Write)?, inos_of(Usage::Read)?);
    let held_for = |u: Usage| match u {
        Usage::Write => (
            cap_inos.clone(),
            plan.src == CapSource::Mmap && plan.when == ExportWhen::WhileRunning,
        ),
        _ => (out_inos.clone(), false),
    };
    // While the job runs: a pending vb2 fence of the right usage everywhere.
    let mut landed = Vec::new();
    let mut first_err = None;
    for w in watched.iter_mut() {
        let (obs, held) = oracle::observe(&env.oracles, w.fd.as_fd())?;
        let (inos, after) = held_for(w.usage);
        let obs = obs.holding(inos, after);
        let id = obs.expect_pending(w.usage);
        let view = if w.usage == Usage::Write {
            &obs.sync_writers
        } else {
            &obs.sync_all
        };
        let fence = match view.fences.first() {
            Some(f) => format!("{}/{}", f.driver_name, f.obj_name),
            None => "-".into(),
        };
        landed.push(match &id {
            Ok(_) => row.land(&w.label, w.reservation, w.usage, fence),
            Err(_) => row.land_nothing(&w.label),
        });
        w.held = Some(held);
        // Look at every buffer before failing, so the map shows them all.
        match id {
            Ok(id) => w.id = Some(id),
            Err(e) if first_err.is_none() => {
                first_err = Some(e.context(format!("{} while the job runs", w.label)))
            }
            Err(_) => {}
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    // All CAPTURE views are of one allocation: one fence.
    let cap_ids: Vec<_> = watched
        .iter()
        .filter(|w| w.usage == Usage::Write)
        .filter_map(|w| w.id)
        .collect();
    if cap_ids.windows(2).any(|p| p[0] != p[1]) {
        return Err(wrong(format!(
            "exports of one CAPTURE buffer show different fences: {cap_ids:?}"
        )));
    }
    if let [.., last] = watched.as_slice() {
        if watched.len() > 1 && last.usage == Usage::Read {
            if let (Some(a), Some(b)) = (cap_ids.first(), last.id) {
                if *a == b {
                    return Err(wrong(format!(
                        "OUTPUT and CAPTURE share fence {a:?}: usages are not separate"
                    )));
                }
            }
        }
    }
    // End the job.
    let want_error = match plan.end {
        End::Done => {
            if run.wait_done(env)? {
                bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
            }
            run.check_frame("CAPTURE after DQBUF", &run.cap_bytes())?;
            Some(false)
        }
        End::StreamOff => {
            let d = run.dev()?;
            d.streamoff(d.cap_q())?;
            d.streamoff(d.out_q())?;
            None
        }
        End::Close => {
            run.drop_mappings();
            run.dev = None;
            None
        }
        End::ReqBufs0 => {
            {
                let d = run.dev()?;
                d.streamoff(d.cap_q())?;
                d.streamoff(d.out_q())?;
            }
            run.drop_mappings();
            let d = run.dev()?;
            d.reqbufs(d.cap_q(), Mem::Mmap, 0)
                .context("REQBUFS(0) CAPTURE with exports alive")?;
            d.reqbufs(d.out_q(), Mem::Mmap, 0)
                .context("REQBUFS(0) OUTPUT with exports alive")?;
            None
        }
    };
    for (w, landing) in watched.iter().zip(landed) {
        let held = w
            .held
            .as_ref()
            .ok_or_else(|| anyhow!("no sync_file held"))?;
        let sf = if w.usage == Usage::Write {
            &held.writers
        } else {
            &held.all
        };
        let (_, ts) =
            oracle::expect_sync_signalled(sf.as_fd(), run.t0_ns, want_error, env.job_timeout())
                .with_context(|| format!("{} after {:?}", w.label, plan.end))?;
        row.set_pending_ms(landing, ts.saturating_sub(run.t0_ns) as f64 / 1e6);
        let id =
            w.id.ok_or_else(|| anyhow!("{}: no fence id recorded while pending", w.label))?;
        let (obs, _) = oracle::observe(&env.oracles, w.fd.as_fd())?;
        let (inos, after) = held_for(w.usage);
        obs.holding(inos, after)
            .expect_signalled(id, want_error == Some(true))
            .with_context(|| format!("{} after {:?}", w.label, plan.end))?;
    }
    if plan.end == End::ReqBufs0 {
        // The allocation must outlive REQBUFS(0) while an export holds it.
        let w = watched
            .iter()
            .find(|w| w.usage == Usage::Write)
            .ok_or_else(|| anyhow!("no CAPTURE export watched"))?;
        let m = Mapping::new(w.fd.as_fd(), run.cap_size as usize)
            .context("mmap export after REQBUFS(0)")?;
        sys::dma_buf_sync(
            w.fd.as_fd(),
            sys::DMA_BUF_SYNC_START | sys::DMA_BUF_SYNC_READ,
        )?;
        let got = m.read(run.cap_size as usize);
        sys::dma_buf_sync(w.fd.as_fd(), sys::DMA_BUF_SYNC_END | sys::DMA_BUF_SYNC_READ)?;
        run.check_frame("export after REQBUFS(0)", &got)?;
    }
    Ok(())
}

/// SIGKILL the process owning the queue while this one holds the export.
pub fn sigkill_path(env: &Env, name: &str) -> (LandingRow, Result<()>) {
    LandingRow::record("vim2m", name, |row| sigkill_inner(env, name, row))
}

fn sigkill_inner(env: &Env, name: &str, row: &mut LandingRow) -> Result<()> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    // Fail early (and visibly) in the parent if there is no device.
    drop(open_vim2m()?);
    let (ps, cs) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .context("socketpair")?;
    match sys::fork_process().context("fork")? {
        sys::Forked::Child => {
            drop(ps);
            let code = match child_owner(env, name, &cs) {
                Ok(()) => 0,
                Err(e) => {
                    let _ = sys::send_fd(cs.as_fd(), None, b'E');
                    eprintln!("sigkill child: {e:#}");
                    1
                }
            };
            sys::child_exit(code);
        }
        sys::Forked::Parent(pid) => {
            drop(cs);
            let res = sigkill_parent(env, &ps, pid, row);
            // Whatever happened, do not leave the child behind.
            let _ = kill(pid, Signal::SIGKILL);
            let _ = waitpid(pid, None);
            res
        }
    }
}

fn child_owner(env: &Env, name: &str, sock: &OwnedFd) -> Result<()> {
    let dev = open_vim2m()?;
    let mut run = M2mRun::setup(env, dev, b"RGB3", CapSource::Mmap)?;
    let exp = run.export_cap(&format!("fs:{name}:cap"))?;
    run.start()?;
    run.wait_started(env)?;
    sys::send_fd(sock.as_fd(), Some(exp.as_fd()), b'S').context("send export")?;
    drop(exp);
    // Own the queue until killed (bounded, in case the parent dies).
    let _ = oracle::poll_wait(
        sock.as_fd(),
        nix::poll::PollFlags::POLLIN,
        Duration::from_secs(60),
    );
    Ok(())
}

fn sigkill_parent(
    env: &Env,
    sock: &OwnedFd,
    pid: nix::unistd::Pid,
    row: &mut LandingRow,
) -> Result<()> {
    if !oracle::poll_wait(
        sock.as_fd(),
        nix::poll::PollFlags::POLLIN,
        env.job_timeout(),
    )? {
        bail!("child did not start its job in time");
    }
    let (tag, fd) = sys::recv_fd(sock.as_fd())
        .context("recvmsg")?
        .ok_or_else(|| anyhow!("child exited before sending the export"))?;
    if tag != b'S' {
        bail!("child failed to set up its job (see its stderr)");
    }
    let fd = fd.ok_or_else(|| anyhow!("child sent no fd"))?;
    let t0 = sys::monotonic_ns();
    let (obs, held) = oracle::observe(&env.oracles, fd.as_fd())?;
    let fence = match obs.sync_writers.fences.first() {
        Some(f) => format!("{}/{}", f.driver_name, f.obj_name),
        None => "-".into(),
    };
    let label = "CAPTURE export (other process)";
    let id = obs.expect_pending(Usage::Write);
    let landing = match &id {
        Ok(_) => row.land(label, "exporter", Usage::Write, fence),
        Err(_) => row.land_nothing(label),
    };
    let id = id.context("export held by another process while the owner's job runs")?;
    kill(pid, Signal::SIGKILL).context("kill(SIGKILL)")?;
    waitpid(pid, None).context("waitpid")?;
    // Pass 0 as t0: the job started in the child before we looked.
    let (_, ts) = oracle::expect_sync_signalled(held.writers.as_fd(), 0, None, env.job_timeout())
        .context("after SIGKILL of the owner")?;
    row.set_pending_ms(landing, ts.saturating_sub(t0.min(ts)) as f64 / 1e6);
    let (obs, _) = oracle::observe(&env.oracles, fd.as_fd())?;
    obs.expect_signalled(id, false)
        .context("after SIGKILL of the owner")?;
    Ok(())
}

/// CAPTURE queued, OUTPUT not: no job can run, so nothing may be armed.
pub fn no_fence_without_job(env: &Env, name: &str, driver: Driver) -> Result<()> {
    let run = M2mRun::open(env, driver, CapSource::Mmap)?;
    let exp = run.export_cap(&format!("fs:{name}:cap"))?;
    run.queue_capture()?;
    let (obs, _) = oracle::observe(&env.oracles, exp.as_fd())?;
    obs.expect_idle()
        .context("CAPTURE queued without OUTPUT must carry no fence")?;
    // Wait one job's worth of time on the video fd: no CAPTURE buffer may
    // complete (no job can run), and still nothing may be armed.
    let d = run.dev()?;
    if oracle::poll_wait(
        d.file.as_fd(),
        nix::poll::PollFlags::POLLIN,
        Duration::from_millis(u64::from(env.transtime_ms)),
    )? {
        bail!("a CAPTURE buffer completed although no OUTPUT buffer was queued");
    }
    let (obs, _) = oracle::observe(&env.oracles, exp.as_fd())?;
    obs.expect_idle()
        .context("one transaction time later, still no job")?;
    d.streamoff(d.cap_q())?;
    d.streamoff(d.out_q())?;
    let (obs, _) = oracle::observe(&env.oracles, exp.as_fd())?;
    obs.expect_idle().context("after STREAMOFF")
}

/// MMAP buffers, never exported: the job works, a later export carries no
/// unsignalled fence.
pub fn mmap_without_export(env: &Env, _name: &str, driver: Driver) -> Result<()> {
    let mut run = M2mRun::open(env, driver, CapSource::Mmap)?;
    run.start()?;
    if run.wait_done(env)? {
        bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
    }
    run.check_frame("CAPTURE MMAP mapping", &run.cap_bytes())?;
    let exp = run.export_cap("fs:mmap_without_export")?;
    let (obs, _) = oracle::observe(&env.oracles, exp.as_fd())?;
    obs.expect_idle()
        .context("export made after the job of a never-exported buffer")
}

/// sha256 of one frame through the MMAP mapping, through an export mmapped
/// with DMA_BUF_IOCTL_SYNC, and through an importer (a second vim2m
/// context copying the export) all equal the software reference.
pub fn readback(env: &Env, name: &str, fourcc: &[u8; 4]) -> Result<()> {
    let dev = open_vim2m()?;
    let mut run = M2mRun::setup(env, dev, fourcc, CapSource::Mmap)?;
    let (exp, _, via_export) = run_and_read_back(env, &mut run, name)?;
    run.check_frame("exported dma-buf mmap", &via_export)?;

    // Importer: a second context reads the export as its OUTPUT (same
    // format both sides: vim2m copies line by line). vim2m takes YUYV only
    // on CAPTURE, so a YUYV frame is imported as RGB565, which has the same
    // 2 bytes per pixel and is copied just as verbatim.
    let import_fourcc: &[u8; 4] = if fourcc == b"YUYV" { b"RGBP" } else { fourcc };
    let mut imp = run.dev()?.reopen()?;
    imp.s_ctrl(VIM2M_CID_TRANS_TIME_MSEC, 1)?;
    let (oq, cq) = (imp.out_q(), imp.cap_q());
    imp.set_format(oq, import_fourcc, VIM2M_W, VIM2M_H)?;
    imp.set_format(cq, import_fourcc, VIM2M_W, VIM2M_H)?;
    imp.reqbufs(oq, Mem::DmaBuf, 1)?;
    imp.reqbufs(cq, Mem::Mmap, 1)?;
    let imp_map = imp.mmap_plane(cq, 0)?;
    imp.streamon(oq)?;
    imp.streamon(cq)?;
    imp.qbuf_mmap(cq, 0, 0)?;
    // length 0: vb2 takes the dma-buf's own size.
    imp.qbuf_dmabuf(oq, 0, exp.as_fd(), 0, run.cap_size)
        .context("import the export as OUTPUT of a second context")?;
    let c = imp
        .dqbuf_wait(cq, env.job_timeout())
        .context("importer CAPTURE")?;
    if c.error {
        bail!("importer CAPTURE came back with V4L2_BUF_FLAG_ERROR");
    }
    let via_importer = sys::plane_read(&imp_map, run.cap_size as usize);
    run.check_frame("importer (second context)", &via_importer)?;
    Ok(())
}

/// The common start of the readback tests: export the CAPTURE buffer, run
/// one job, check the frame read through the MMAP mapping against the run's
/// reference, and read it again through the export (mmap + SYNC). Returns
/// the export (an importer may still read it), the MMAP bytes and the
/// export's bytes.
fn run_and_read_back(
    env: &Env,
    run: &mut M2mRun,
    name: &str,
) -> Result<(OwnedFd, Vec<u8>, Vec<u8>)> {
    let exp = run.export_cap(&format!("fs:{name}:cap"))?;
    run.start()?;
    if run.wait_done(env)? {
        bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
    }
    let via_mmap = run.cap_bytes();
    run.check_frame("MMAP mapping", &via_mmap)?;
    let via_export = read_via_export(&exp, run.payload_len())?;
    Ok((exp, via_mmap, via_export))
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

/// vicodec round trip. A YU12 frame whose pixels the suite generates
/// (`readback_ref::fwht_source_yu12`) is encoded by vicodec's stateful
/// encoder at the minimum QP. The FWHT frame read through the CAPTURE
/// buffer's MMAP mapping and through its export (mmap + DMA_BUF_IOCTL_SYNC)
/// must be the same bytes, and a well-formed intra frame with every plane
/// transform coded. vicodec's stateful decoder, importing that export as
/// its OUTPUT buffer, must give back the source within the bound derived
/// and measured in `fwht_source_yu12`: no sample off by more than 3, and
/// 1.5 on average. Passes on both kernels.
pub fn readback_fwht(env: &Env, name: &str) -> Result<()> {
    use crate::readback_dev::{decode, encode};
    use crate::readback_ref::{
        check_fwht_intra_coded, compare_exact, compare_within, fwht_source_yu12, yu12_planes, Plane,
    };
    let (w, h) = (VICODEC_W, VICODEC_H);
    let src = fwht_source_yu12(w as usize, h as usize);
    let label = format!("fs:{name}:cap");
    let enc = encode(
        open_vicodec_enc()?,
        &src.frame,
        (w, h),
        &label,
        env.job_timeout(),
    )?;
    let via_mmap = enc.via_mmap();
    let via_export = read_via_export(&enc.export, enc.len)?;
    compare_exact(&Plane::whole("FWHT", enc.len), &via_mmap, &via_export).context(
        "the encoded frame through the export (mmap + DMA_BUF_IOCTL_SYNC), against the MMAP \
         mapping",
    )?;
    check_fwht_frame(&via_mmap, w, h).context("the encoded frame")?;
    check_fwht_intra_coded(&via_mmap).context("the encoded frame")?;
    let decoded = decode(
        open_vicodec_dec()?,
        enc.export.as_fd(),
        enc.len,
        (w, h),
        env.job_timeout(),
    )?;
    compare_within(
        &yu12_planes(w as usize, h as usize),
        &src.frame,
        &decoded,
        src.bound,
    )
    .context("the frame vicodec's decoder made of the export, against the source")?;
    Ok(())
}

/// When the watched CAPTURE exports of a synchronous job are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncExport {
    BeforeQbuf,
    /// After DQBUF: the export must still see the job's (signalled) fence,
    /// i.e. every export of an MMAP plane shares its reservation.
    AfterJob,
}

/// What to watch around a job that completes inside an ioctl.
#[derive(Clone, Debug)]
pub struct SyncPlan {
    pub cap_exports: usize,
    pub when: SyncExport,
    pub watch_output: bool,
}

/// The fence path for drivers that run and complete a job synchronously
/// (vicodec): nothing on the reservations while only CAPTURE is queued;
/// after the job, exactly one fence of the right usage, signalled without
/// error, left on each buffer's reservation, the same fence on every
/// export of one buffer, distinct fences for CAPTURE and OUTPUT.
///
/// The pending state cannot be seen from userspace here, so only the
/// oracles that list signalled fences (bufinfo, required; vb2_fence_probe)
/// can tell a fence was attached. An unpatched kernel attaches nothing and
/// fails it at the first `expect_one_signalled` (bufinfo: no fence).
pub fn sync_fence_path(
    env: &Env,
    name: &str,
    driver: Driver,
    plan: &SyncPlan,
) -> (LandingRow, Result<()>) {
    LandingRow::record(driver.name(), name, |row| {
        sync_fence_inner(env, name, driver, plan, row)
    })
}

fn sync_fence_inner(
    env: &Env,
    name: &str,
    driver: Driver,
    plan: &SyncPlan,
    row: &mut LandingRow,
) -> Result<()> {
    let mut run = M2mRun::open(env, driver, CapSource::Mmap)?;
    let mut watched: Vec<(String, OwnedFd, Usage)> = Vec::new();
    let export_caps = |run: &M2mRun, watched: &mut Vec<(String, OwnedFd, Usage)>| -> Result<()> {
        for i in 0..plan.cap_exports {
            let fd = run.export_cap(&format!("fs:{name}:cap{i}"))?;
            watched.push((format!("CAPTURE export #{i}"), fd, Usage::Write));
        }
        Ok(())
    };
    if plan.when == SyncExport::BeforeQbuf {
        export_caps(&run, &mut watched)?;
    }
    if plan.watch_output {
        let fd = run.export_out(&format!("fs:{name}:out"))?;
        watched.push(("OUTPUT export".into(), fd, Usage::Read));
    }
    // No job can run yet: nothing at all may be on the reservations (in
    // particular, QBUF of CAPTURE must not arm).
    run.queue_capture()?;
    for (label, fd, _) in &watched {
        let (obs, _) = oracle::observe(&env.oracles, fd.as_fd())?;
        obs.expect_no_fences()
            .with_context(|| format!("{label} with only CAPTURE queued"))?;
    }
    run.queue_output()?;
    if run.wait_done(env)? {
        bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
    }
    run.check_frame("CAPTURE after DQBUF", &run.cap_bytes())?;
    if plan.when == SyncExport::AfterJob {
        export_caps(&run, &mut watched)?;
    }
    let mut cap_id = None;
    let mut out_id = None;
    let mut first_err: Option<anyhow::Error> = None;
    // Every fd held for a buffer, for the inode of its kmod arm record;
    // CAPTURE exports made after the job came after the arm.
    let mut inos: Vec<(Usage, u64)> = Vec::new();
    for (_, fd, usage) in &watched {
        inos.push((*usage, sys::inode_of(fd.as_fd()).context("fstat(export)")?));
    }
    for (label, fd, usage) in &watched {
        let (obs, _) = oracle::observe(&env.oracles, fd.as_fd())?;
        let held: Vec<u64> = inos
            .iter()
            .filter(|(u, _)| u == usage)
            .map(|(_, i)| *i)
            .collect();
        let after = *usage == Usage::Write && plan.when == SyncExport::AfterJob;
        let id = obs.holding(held, after).expect_one_signalled(*usage);
        match &id {
            Ok((c, s)) => row.land(
                label,
                "exporter",
                *usage,
                format!("{c}:{s} (signalled within the ioctl)"),
            ),
            Err(_) => row.land_nothing(label),
        };
        // Look at every buffer before failing, so the map shows them all.
        let id = match id {
            Ok(id) => id,
            Err(e) => {
                first_err.get_or_insert(e.context(format!("{label} after the job")));
                continue;
            }
        };
        match usage {
            Usage::Write => match cap_id {
                None => cap_id = Some(id),
                Some(c) if c != id => {
                    return Err(wrong(format!(
                        "exports of one CAPTURE buffer show different fences: {c:?} vs {id:?}"
                    )))
                }
                Some(_) => {}
            },
            _ => out_id = Some(id),
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    if let (Some(c), Some(o)) = (cap_id, out_id) {
        if c == o {
            return Err(wrong(format!(
                "OUTPUT and CAPTURE share fence {c:?}: usages are not separate"
            )));
        }
    }
    Ok(())
}
