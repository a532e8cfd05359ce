//! The paths the suite drives on an m2m device, each producing a landing
//! row (what landed where) and a verdict.

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;

use crate::env::Env;
use crate::frames::{check_fwht_frame, VICODEC_H, VICODEC_W, VIM2M_H, VIM2M_W};
use crate::landing::LandingRow;
use crate::m2m::{
    label_buf, open_vicodec_dec, open_vicodec_enc, open_vim2m, read_via_export, CapSource, Driver,
    M2mRun, VIM2M_CID_TRANS_TIME_MSEC,
};
use crate::oracle::{self, HeldSync};
use crate::parse::Usage;
use crate::sys::{self, Mapping};
use crate::v4l2::Mem;
use crate::verdict::wrong;

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
