//! The paths the suite drives on an m2m device, each producing a landing
//! row (what landed where) and a verdict.

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;
use sha2::{Digest, Sha256};
use v4l2r::ioctl::PlaneMapping;

use crate::oracle::{self, HeldSync, Oracles};
use crate::parse::Usage;
use crate::sys::{self, Mapping};
use crate::v4l2::{find_device, Mem, VideoDev};

/// vim2m: V4L2_CID_USER_BASE (0x00980900) + 0x1000
/// (drivers/media/test-drivers/vim2m.c, V4L2_CID_TRANS_TIME_MSEC).
pub const VIM2M_CID_TRANS_TIME_MSEC: u32 = 0x0098_0900 + 0x1000;
pub const W: u32 = 64;
pub const H: u32 = 48;

/// Run-wide settings and oracles.
pub struct Env {
    pub oracles: Oracles,
    /// How long one vim2m job takes: the window in which a pending fence
    /// is observable.
    pub transtime_ms: u32,
}

impl Env {
    pub fn new() -> Self {
        let transtime_ms = std::env::var("FENCE_SUITE_TRANSTIME_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(1500);
        Self {
            oracles: Oracles::probe(),
            transtime_ms,
        }
    }

    fn job_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.transtime_ms) + 5000)
    }

    fn start_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.transtime_ms / 2).max(200))
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

/// One row of the landing map.
#[derive(Clone, Debug, Default)]
pub struct LandingRow {
    pub device: String,
    pub path: String,
    /// exporter / importer / none
    pub reservation: String,
    pub usage: String,
    pub fence: String,
    pub pending_to_signalled_ms: Option<f64>,
    pub error: String,
}

impl LandingRow {
    fn new(device: &str, path: &str) -> Self {
        Self {
            device: device.into(),
            path: path.into(),
            reservation: "none".into(),
            usage: "-".into(),
            fence: "-".into(),
            ..Default::default()
        }
    }
}

/// Deterministic RGB24 test frame.
pub fn pattern_rgb24(w: u32, h: u32) -> Vec<u8> {
    let mut v = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            v.push((x * 4 + y + 1) as u8);
            v.push(((y * 5 + x * 3) ^ 0x5a) as u8);
            v.push(((x ^ y) * 7 + 3) as u8);
        }
    }
    v
}

/// vim2m's RGB24 -> YUYV conversion (copy_two_pixels in vim2m.c): Y from
/// each pixel, U and V both from the first pixel of the pair.
pub fn vim2m_rgb24_to_yuyv(rgb: &[u8], w: u32, h: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity((w * h * 2) as usize);
    for y in 0..h as usize {
        for x in (0..w as usize).step_by(2) {
            let p0 = &rgb[(y * w as usize + x) * 3..][..3];
            let p1 = &rgb[(y * w as usize + x + 1) * 3..][..3];
            let (r, g, b) = (i32::from(p0[0]), i32::from(p0[1]), i32::from(p0[2]));
            let (r1, g1, b1) = (i32::from(p1[0]), i32::from(p1[1]), i32::from(p1[2]));
            let yy = (8453 * r + 16594 * g + 3223 * b + 524288) >> 15;
            let u = (-4878 * r - 9578 * g + 14456 * b + 4210688) >> 15;
            let v = (14456 * r - 12105 * g - 2351 * b + 4210688) >> 15;
            let y1 = (8453 * r1 + 16594 * g1 + 3223 * b1 + 524288) >> 15;
            out.extend_from_slice(&[yy as u8, u as u8, y1 as u8, v as u8]);
        }
    }
    out
}

pub fn sha256_hex(d: &[u8]) -> String {
    Sha256::digest(d)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
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

/// One vim2m context with one OUTPUT and one CAPTURE buffer.
pub struct M2mRun {
    pub dev: Option<VideoDev>,
    out_map: Option<PlaneMapping>,
    cap: Option<CapBacking>,
    pub out_size: u32,
    pub cap_size: u32,
    pub input: Vec<u8>,
    pub expected: Vec<u8>,
    pub t0_ns: u64,
}

fn page_round(n: u32) -> u32 {
    n.div_ceil(4096) * 4096
}

pub fn open_vim2m() -> std::result::Result<VideoDev, String> {
    find_device("vim2m", |d| d.is_m2m())
}

fn import_source(src: CapSource, size: u32) -> Result<(OwnedFd, u32, Option<VideoDev>)> {
    match src {
        CapSource::Mmap => bail!("not an import"),
        CapSource::Heap => {
            let heap = std::fs::File::open("/dev/dma_heap/system")
                .context("open /dev/dma_heap/system (CONFIG_DMABUF_HEAPS_SYSTEM)")?;
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
            let dev = std::fs::File::open("/dev/udmabuf")
                .context("open /dev/udmabuf (CONFIG_UDMABUF)")?;
            let fd = sys::udmabuf_create(dev.as_fd(), memfd.as_fd(), u64::from(len))
                .context("UDMABUF_CREATE")?;
            Ok((fd, len, None))
        }
        CapSource::Vivid => {
            let v = find_device("vivid", |d| d.is_capture() && !d.is_m2m()).map_err(|e| {
                anyhow!("{e} (load vivid with allocators=1 for dma-contig exports)")
            })?;
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
    /// vim2m, RGB24 W x H in, `cap_fourcc` out, CAPTURE backed by `src`.
    pub fn setup(env: &Env, dev: VideoDev, cap_fourcc: &[u8; 4], src: CapSource) -> Result<Self> {
        let mut dev = dev;
        dev.s_ctrl(VIM2M_CID_TRANS_TIME_MSEC, env.transtime_ms as i32)
            .context("set vim2m transaction time")?;
        let (oq, cq) = (dev.out_q(), dev.cap_q());
        let of = dev.set_format(oq, b"RGB3", W, H)?;
        let cf = dev.set_format(cq, cap_fourcc, W, H)?;
        if (of.width, of.height, cf.width, cf.height) != (W, H, W, H) {
            bail!(
                "vim2m adjusted {W}x{H} to {}x{} / {}x{}",
                of.width,
                of.height,
                cf.width,
                cf.height
            );
        }
        let out_size = of.plane_fmt.first().map(|p| p.sizeimage).unwrap_or(0);
        let cap_size = cf.plane_fmt.first().map(|p| p.sizeimage).unwrap_or(0);
        let input = pattern_rgb24(W, H);
        if out_size as usize != input.len() {
            bail!("OUTPUT sizeimage {out_size}, expected {}", input.len());
        }
        let expected = match cap_fourcc {
            b"RGB3" => input.clone(),
            b"YUYV" => vim2m_rgb24_to_yuyv(&input, W, H),
            _ => bail!("no software reference for this CAPTURE format"),
        };
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
            dev: Some(dev),
            out_map: Some(out_map),
            cap: Some(cap),
            out_size,
            cap_size,
            input,
            expected,
            t0_ns: 0,
        })
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
        self.t0_ns = sys::monotonic_ns();
        let d = self.dev()?;
        d.qbuf_mmap(d.out_q(), 0, self.out_size)?;
        Ok(())
    }

    pub fn cap_bytes(&self) -> Vec<u8> {
        match &self.cap {
            Some(CapBacking::Mmap(m)) => sys::plane_read(m, self.cap_size as usize),
            Some(CapBacking::Imported { map, .. }) => map.read(self.cap_size as usize),
            None => Vec::new(),
        }
    }

    /// vim2m writes the frame in device_run(), then completes after the
    /// transaction time: CAPTURE content changing means the job is running.
    pub fn wait_started(&self, env: &Env) -> Result<()> {
        let deadline = Instant::now() + env.start_timeout();
        loop {
            if self.cap_bytes().iter().any(|&b| b != 0) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "job did not start within {} ms of QBUF (CAPTURE content unchanged)",
                    env.start_timeout().as_millis()
                );
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// DQBUF both buffers (bounded), checking the CAPTURE one.
    pub fn wait_done(&self, env: &Env) -> Result<bool> {
        let d = self.dev()?;
        let c = d
            .dqbuf_wait(d.cap_q(), env.job_timeout())
            .context("waiting for the CAPTURE buffer")?;
        d.dqbuf_wait(d.out_q(), env.job_timeout())
            .context("waiting for the OUTPUT buffer")?;
        Ok(c.error)
    }

    pub fn check_frame(&self, what: &str, got: &[u8]) -> Result<()> {
        if got != self.expected.as_slice() {
            bail!(
                "{what}: sha256 {} differs from the software reference {}",
                sha256_hex(got),
                sha256_hex(&self.expected)
            );
        }
        Ok(())
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
    let mut row = LandingRow::new("vim2m", name);
    let r = fence_path_inner(env, name, plan, &mut row);
    if let Err(e) = &r {
        row.error = format!("{e:#}");
    }
    (row, r)
}

fn fence_path_inner(env: &Env, name: &str, plan: &FencePlan, row: &mut LandingRow) -> Result<()> {
    let dev = open_vim2m().map_err(|e| anyhow!(e))?;
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
    // While the job runs: a pending vb2 fence of the right usage everywhere.
    for w in watched.iter_mut() {
        let (obs, held) = oracle::observe(&env.oracles, w.fd.as_fd())?;
        row.reservation = w.reservation.to_string();
        w.id = obs
            .expect_pending(w.usage)
            .with_context(|| format!("{} while the job runs", w.label))?;
        let view = if w.usage == Usage::Write {
            &obs.sync_writers
        } else {
            &obs.sync_all
        };
        if let Some(f) = view.fences.first() {
            row.fence = format!("{}/{}", f.driver_name, f.obj_name);
        }
        row.usage = w.usage.name().into();
        w.held = Some(held);
    }
    // All CAPTURE views are of one allocation: one fence.
    let cap_ids: Vec<_> = watched
        .iter()
        .filter(|w| w.usage == Usage::Write)
        .filter_map(|w| w.id)
        .collect();
    if cap_ids.windows(2).any(|p| p[0] != p[1]) {
        bail!("exports of one CAPTURE buffer show different fences: {cap_ids:?}");
    }
    if let [.., last] = watched.as_slice() {
        if watched.len() > 1 && last.usage == Usage::Read {
            if let (Some(a), Some(b)) = (cap_ids.first(), last.id) {
                if *a == b {
                    bail!("OUTPUT and CAPTURE share fence {a:?}: usages are not separate");
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
    for w in &watched {
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
        row.pending_to_signalled_ms = Some(ts.saturating_sub(run.t0_ns) as f64 / 1e6);
        let (obs, _) = oracle::observe(&env.oracles, w.fd.as_fd())?;
        obs.expect_signalled(w.id, want_error == Some(true))
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
    let mut row = LandingRow::new("vim2m", name);
    let r = sigkill_inner(env, name, &mut row);
    if let Err(e) = &r {
        row.error = format!("{e:#}");
    }
    (row, r)
}

fn sigkill_inner(env: &Env, name: &str, row: &mut LandingRow) -> Result<()> {
    use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
    // Fail early (and visibly) in the parent if there is no device.
    drop(open_vim2m().map_err(|e| anyhow!(e))?);
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
    let dev = open_vim2m().map_err(|e| anyhow!(e))?;
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
    row.reservation = "exporter".into();
    row.usage = "write".into();
    let id = obs
        .expect_pending(Usage::Write)
        .context("export held by another process while the owner's job runs")?;
    if let Some(f) = obs.sync_writers.fences.first() {
        row.fence = format!("{}/{}", f.driver_name, f.obj_name);
    }
    kill(pid, Signal::SIGKILL).context("kill(SIGKILL)")?;
    waitpid(pid, None).context("waitpid")?;
    // Pass 0 as t0: the job started in the child before we looked.
    let (_, ts) = oracle::expect_sync_signalled(held.writers.as_fd(), 0, None, env.job_timeout())
        .context("after SIGKILL of the owner")?;
    row.pending_to_signalled_ms = Some(ts.saturating_sub(t0.min(ts)) as f64 / 1e6);
    let (obs, _) = oracle::observe(&env.oracles, fd.as_fd())?;
    obs.expect_signalled(id, false)
        .context("after SIGKILL of the owner")?;
    Ok(())
}

/// CAPTURE queued, OUTPUT not: no job can run, so nothing may be armed.
pub fn no_fence_without_job(env: &Env, name: &str) -> Result<()> {
    let dev = open_vim2m().map_err(|e| anyhow!(e))?;
    let run = M2mRun::setup(env, dev, b"RGB3", CapSource::Mmap)?;
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
pub fn mmap_without_export(env: &Env, _name: &str) -> Result<()> {
    let dev = open_vim2m().map_err(|e| anyhow!(e))?;
    let mut run = M2mRun::setup(env, dev, b"RGB3", CapSource::Mmap)?;
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
    let dev = open_vim2m().map_err(|e| anyhow!(e))?;
    let mut run = M2mRun::setup(env, dev, fourcc, CapSource::Mmap)?;
    let exp = run.export_cap(&format!("fs:{name}:cap"))?;
    run.start()?;
    if run.wait_done(env)? {
        bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
    }
    let via_mmap = run.cap_bytes();
    run.check_frame("MMAP mapping", &via_mmap)?;

    let m = Mapping::new(exp.as_fd(), run.cap_size as usize).context("mmap export")?;
    sys::dma_buf_sync(
        exp.as_fd(),
        sys::DMA_BUF_SYNC_START | sys::DMA_BUF_SYNC_READ,
    )
    .context("DMA_BUF_IOCTL_SYNC start")?;
    let via_export = m.read(run.cap_size as usize);
    sys::dma_buf_sync(exp.as_fd(), sys::DMA_BUF_SYNC_END | sys::DMA_BUF_SYNC_READ)
        .context("DMA_BUF_IOCTL_SYNC end")?;
    run.check_frame("exported dma-buf mmap", &via_export)?;

    // Importer: a second context reads the export as its OUTPUT (same
    // format both sides: vim2m copies line by line).
    let mut imp = run.dev()?.reopen()?;
    imp.s_ctrl(VIM2M_CID_TRANS_TIME_MSEC, 1)?;
    let (oq, cq) = (imp.out_q(), imp.cap_q());
    imp.set_format(oq, fourcc, W, H)?;
    imp.set_format(cq, fourcc, W, H)?;
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
