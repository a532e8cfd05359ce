//! The vim2m paths: a job lasts vim2m's transaction time, so the fences it
//! arms are seen pending on every watched buffer, then followed to
//! signalled however the job ends (done, STREAMOFF, close, REQBUFS(0), the
//! driver unbound from the device, or the SIGKILL of the process that owns
//! the queue).

use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use nix::poll::PollFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::waitpid;

use crate::env::Env;
use crate::landing::{self, LandingRow};
use crate::m2m::{label_buf, open_vim2m, BufSource, M2mRun};
use crate::observe::{
    expect_each_signalled, ids_of, look, observe_each, one_fence, usages_separate, views_by_usage,
    Expect, Seen, Watch,
};
use crate::oracle;
use crate::parse::Usage;
use crate::paths::{watch_capture_exports, watch_output_export};
use crate::sys::{self, Mapping};
use crate::sysfs_bind;
use crate::v4l2::Mem;

/// When the watched CAPTURE exports are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportWhen {
    BeforeQbuf,
    WhileRunning,
}

/// How the job ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobEnd {
    Done,
    StreamOff,
    Close,
    ReqBufs0,
    /// The device is unbound from vim2m (sysfs) while the job runs, the
    /// queue's file closed after remove(), then the device bound back.
    Unbind,
}

/// What to watch.
#[derive(Clone, Debug)]
pub struct FencePlan {
    /// Where the CAPTURE buffer comes from.
    pub src: BufSource,
    /// Where the OUTPUT buffer comes from.
    pub out: BufSource,
    pub cap_exports: usize,
    pub when: ExportWhen,
    pub watch_output: bool,
    pub end: JobEnd,
}

/// The core fence-landing path: arm a job, see a pending fence of the right
/// usage on every watched buffer through every oracle, end the job, see it
/// signalled.
pub fn fence_path(env: &Env, name: &str, plan: &FencePlan) -> (LandingRow, Result<()>) {
    landing::record("vim2m", name, |row| fence_path_inner(env, name, plan, row))
}

fn fence_path_inner(env: &Env, name: &str, plan: &FencePlan, row: &mut LandingRow) -> Result<()> {
    let dev = open_vim2m()?;
    let mut run = M2mRun::setup_sources(env, dev, b"RGB3", plan.src, plan.out)?;
    // The CAPTURE views' arm records carry ino 0 when every export came
    // after the arm (an imported buffer's fd exists before it).
    let cap_after_arm = plan.src == BufSource::Mmap && plan.when == ExportWhen::WhileRunning;
    let mut watched: Vec<Watch> = Vec::new();
    if plan.src.is_import() {
        let fd = run
            .imported_fd()
            .ok_or_else(|| anyhow!("no imported fd"))?
            .try_clone()
            .context("dup imported fd")?;
        label_buf(&fd, &format!("fs:{name}:imp"));
        let label = format!("imported {:?} CAPTURE", plan.src);
        watched.push(Watch::new(label, fd, Usage::Write, "importer")?);
    }
    if let Some(fd) = run.imported_out_fd() {
        let fd = fd.try_clone().context("dup imported OUTPUT fd")?;
        label_buf(&fd, &format!("fs:{name}:impout"));
        let label = format!("imported {:?} OUTPUT", plan.out);
        watched.push(Watch::new(label, fd, Usage::Read, "importer")?);
    }
    let cap_exports =
        |run: &M2mRun| watch_capture_exports(run, name, plan.cap_exports, cap_after_arm);
    if plan.when == ExportWhen::BeforeQbuf {
        watched.extend(cap_exports(&run)?);
    }
    if plan.watch_output {
        watched.push(watch_output_export(&run, name)?);
    }
    run.start()?;
    run.wait_started(env)?;
    if plan.when == ExportWhen::WhileRunning {
        watched.extend(cap_exports(&run)?);
    }
    // Every fd held for a buffer, for the inode of its kmod arm record:
    // the CAPTURE views (imported fd or exports) are one buffer, the
    // OUTPUT export another.
    views_by_usage(&mut watched);
    // While the job runs: a pending vb2 fence of the right usage everywhere.
    let seen = observe_each(env, row, &watched, Expect::Pending, "while the job runs")?;
    // All CAPTURE views are of one allocation: one fence.
    one_fence(
        "exports of one CAPTURE buffer",
        &ids_of(&watched, &seen, Usage::Write),
    )?;
    usages_separate(&watched, &seen)?;
    // End the job.
    let mut unbound = None;
    let want_error = match plan.end {
        JobEnd::Done => {
            if run.wait_done(env)? {
                bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
            }
            run.check_frame("CAPTURE after DQBUF", &run.cap_bytes())?;
            Some(false)
        }
        JobEnd::StreamOff => {
            let d = run.dev()?;
            d.streamoff(d.cap_q())?;
            d.streamoff(d.out_q())?;
            None
        }
        JobEnd::Close => {
            run.drop_mappings();
            run.dev = None;
            None
        }
        JobEnd::ReqBufs0 => {
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
        JobEnd::Unbind => {
            let node = run.dev()?.path.clone();
            unbound = Some(sysfs_bind::unbind(&node)?);
            expect_still_pending(&watched, &seen)?;
            // remove() unregistered the node; the job's work item still
            // runs and completes the buffers: the frame is written.
            Some(false)
        }
    };
    let when = format!("after {:?}", plan.end);
    expect_each_signalled(env, row, &watched, &seen, run.t0_ns, want_error, &when)?;
    if let Some(u) = unbound {
        // The last close of the unregistered node releases the device.
        run.drop_mappings();
        run.dev = None;
        u.rebind().context("bind vim2m back after the unbind")?;
        drop(open_vim2m().context("vim2m's video node after binding the device back")?);
    }
    if plan.end == JobEnd::ReqBufs0 {
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

/// The job is still running: every sync_file taken while it was pending
/// is unsignalled. Checked right after the unbind, so that a job that
/// ended first (the transaction time too short for the rig) is a visible
/// failure instead of a test of nothing.
fn expect_still_pending(watched: &[Watch], seen: &[Seen]) -> Result<()> {
    for (w, s) in watched.iter().zip(seen) {
        let sync_file = s.held.for_usage(w.usage);
        if oracle::poll_wait(sync_file.as_fd(), PollFlags::POLLIN, Duration::ZERO)? {
            bail!(
                "{}: the job had ended before the unbind returned; raise \
                 FENCE_SUITE_TRANSTIME_MS so that the unbind happens mid-job",
                w.label
            );
        }
    }
    Ok(())
}

/// SIGKILL the process owning the queue while this one holds the export.
pub fn sigkill_path(env: &Env, name: &str) -> (LandingRow, Result<()>) {
    landing::record("vim2m", name, |row| sigkill_inner(env, name, row))
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
    let mut run = M2mRun::setup(env, dev, b"RGB3", BufSource::Mmap)?;
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
    let w = Watch::new(
        "CAPTURE export (other process)",
        fd,
        Usage::Write,
        "exporter",
    )?;
    let looked = look(env, row, &w, Expect::Pending)?;
    let id = looked
        .found
        .context("export held by another process while the owner's job runs")?;
    kill(pid, Signal::SIGKILL).context("kill(SIGKILL)")?;
    waitpid(pid, None).context("waitpid")?;
    // Pass 0 as t0: the job started in the child before we looked.
    let (_, ts) =
        oracle::expect_sync_signalled(looked.held.writers.as_fd(), 0, None, env.job_timeout())
            .context("after SIGKILL of the owner")?;
    row.set_pending_ms(looked.landing, ts.saturating_sub(t0.min(ts)) as f64 / 1e6);
    let (obs, _) = w.observe(env)?;
    obs.expect_signalled(id, false)
        .context("after SIGKILL of the owner")?;
    Ok(())
}
