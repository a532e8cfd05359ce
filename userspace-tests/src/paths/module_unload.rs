//! A fence and its buffer outlive the driver that armed them: a sync_file
//! taken from a CAPTURE export while vim2m's job runs, and the export
//! itself, are held while the device is closed (which waits for the job,
//! so the fence has signalled, without error, before the unload) and vim2m
//! is unloaded. SYNC_IOC_FILE_INFO still reads the fence, and none of its
//! names comes from vim2m (a signalled fence reports the dma-fence core's
//! detached names), and dropping the export afterwards frees
//! the buffer without the driver; kmemleak, run after the suite, sees what
//! is left. The fence ops' own module, videobuf2-common, stays loaded: the
//! guest's `vb2-module-cycles` stage unloads that one. vim2m is loaded back
//! before the test returns, and by a guard on every error path.

use std::os::fd::AsFd;
use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::env::Env;
use crate::m2m::{open_vim2m, BufSource, M2mRun};
use crate::oracle::{self, expect_sync_signalled};
use crate::sys;
use crate::verdict::{absent, missing};

/// The module this test unloads.
const MODULE: &str = "vim2m";
/// Present only for a loadable module that is loaded.
const INITSTATE: &str = "/sys/module/vim2m/initstate";

/// vim2m can be unloaded and loaded back here: a loaded module (not built
/// in), and root to do it.
pub fn require_reloadable() -> Result<()> {
    if !Path::new(INITSTATE).exists() {
        return Err(absent(format!(
            "{INITSTATE} absent: vim2m must be a loaded module (modprobe vim2m; \
             CONFIG_VIDEO_VIM2M=m)"
        )));
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(absent("unloading vim2m needs root: run the suite as root"));
    }
    Ok(())
}

fn run(cmd: &str, args: &[&str]) -> Result<()> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .with_context(|| format!("run {cmd} {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "{cmd} {} failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Loads vim2m back: `finish` on the way out, so that a failure fails the
/// test; dropping it unfinished (an error path) tries once more.
struct LoadBack {
    done: bool,
}

impl LoadBack {
    fn load() -> Result<()> {
        if Path::new(INITSTATE).exists() {
            return Ok(());
        }
        run("modprobe", &[MODULE]).context("load vim2m back for the tests after this one")
    }

    fn finish(mut self) -> Result<()> {
        self.done = true;
        Self::load()
    }
}

impl Drop for LoadBack {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        if let Err(e) = Self::load() {
            eprintln!("warning: {e:#}");
        }
    }
}

pub fn sync_file_outlives_module(env: &Env) -> Result<()> {
    let mut job = M2mRun::setup(env, open_vim2m()?, b"RGB3", BufSource::Mmap)?;
    let cap = job.export_cap("fs:outlives:cap")?;
    job.start()?;
    job.wait_started(env)?;
    let t0 = job.t0_ns;
    let (sync, view) = oracle::sync_view(cap.as_fd(), sys::DMA_BUF_SYNC_READ as u32)?;
    if !view.pending_vb2() {
        return Err(missing(format!(
            "EXPORT_SYNC_FILE while the job runs holds no pending vb2 fence: {}",
            view.describe()
        )));
    }
    // Closing the device waits for the job: the fence ends with it, and
    // then nothing but the export and the sync_file refer to the buffer.
    drop(job);
    expect_sync_signalled(sync.as_fd(), t0, Some(false), env.job_timeout())
        .context("the sync_file once the device was closed")?;
    let load_back = LoadBack { done: false };
    run("rmmod", &[MODULE]).context("unload vim2m with an export and a sync_file held")?;
    let (status, fences) =
        sys::sync_file_info(sync.as_fd()).context("SYNC_IOC_FILE_INFO after the unload")?;
    if status != 1 || fences.is_empty() || fences.iter().any(|f| f.status != 1) {
        bail!("after the unload the sync_file reads status {status}, fences {fences:?}");
    }
    if let Some(f) = fences
        .iter()
        .find(|f| f.driver_name.contains(MODULE) || f.obj_name.contains(MODULE))
    {
        bail!("after the unload a fence still names {MODULE}: {f:?}");
    }
    // The last reference to the buffer goes after its driver.
    drop(cap);
    drop(sync);
    load_back.finish()
}
