//! Drivers that run and complete a job inside an ioctl (vicodec's encoder:
//! QBUF; visl: MEDIA_REQUEST_IOC_QUEUE): userspace never sees the fence
//! pending, only the signalled fence the job left on each reservation.

use anyhow::{bail, Context, Result};

use crate::env::Env;
use crate::landing::{self, LandingRow};
use crate::m2m::{BufSource, Driver, M2mRun};
use crate::observe::{ids_of, observe_each, one_fence, usages_separate, views_by_usage, Expect};
use crate::parse::Usage;
use crate::paths::{watch_capture_exports, watch_output_export};

/// When the watched CAPTURE exports of an in-ioctl job are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InIoctlExport {
    BeforeQbuf,
    /// After DQBUF: the export must still see the job's (signalled) fence,
    /// i.e. every export of an MMAP plane shares its reservation.
    AfterJob,
}

/// What to watch around a job that completes inside an ioctl.
#[derive(Clone, Debug)]
pub struct InIoctlPlan {
    pub cap_exports: usize,
    pub when: InIoctlExport,
    pub watch_output: bool,
}

/// The fence path for drivers that run and complete a job inside an ioctl
/// (vicodec, visl): nothing on the reservations while only CAPTURE is queued;
/// after the job, exactly one fence of the right usage, signalled without
/// error, left on each buffer's reservation, the same fence on every
/// export of one buffer, distinct fences for CAPTURE and OUTPUT.
///
/// The pending state cannot be seen from userspace here, so only the
/// oracles that list signalled fences (bufinfo, required; vb2_fence_probe)
/// can tell a fence was attached. An unpatched kernel attaches nothing and
/// fails it at the first `Expect::Signalled` look (bufinfo: no fence).
pub fn fence_path(
    env: &Env,
    name: &str,
    driver: Driver,
    plan: &InIoctlPlan,
) -> (LandingRow, Result<()>) {
    landing::record(driver.name(), name, |row| {
        fence_path_inner(env, name, driver, plan, row)
    })
}

fn fence_path_inner(
    env: &Env,
    name: &str,
    driver: Driver,
    plan: &InIoctlPlan,
    row: &mut LandingRow,
) -> Result<()> {
    let mut run = M2mRun::open(env, driver, BufSource::Mmap)?;
    // CAPTURE exports made after the job came after the arm.
    let cap_after_arm = plan.when == InIoctlExport::AfterJob;
    let cap_exports =
        |run: &M2mRun| watch_capture_exports(run, name, plan.cap_exports, cap_after_arm);
    let mut watched = if plan.when == InIoctlExport::BeforeQbuf {
        cap_exports(&run)?
    } else {
        Vec::new()
    };
    if plan.watch_output {
        watched.push(watch_output_export(&run, name)?);
    }
    // No job can run yet: nothing at all may be on the reservations (in
    // particular, QBUF of CAPTURE must not arm).
    run.queue_capture()?;
    for w in &watched {
        let (obs, _) = w.observe(env)?;
        obs.expect_no_fences()
            .with_context(|| format!("{} with only CAPTURE queued", w.label))?;
    }
    run.queue_output()?;
    if run.wait_done(env)? {
        bail!("CAPTURE buffer came back with V4L2_BUF_FLAG_ERROR");
    }
    run.check_frame("CAPTURE after DQBUF", &run.cap_bytes())?;
    if plan.when == InIoctlExport::AfterJob {
        watched.extend(cap_exports(&run)?);
    }
    // Every fd held for a buffer, for the inode of its kmod arm record.
    views_by_usage(&mut watched);
    let signalled = Expect::Signalled {
        error: 0,
        within: "the ioctl",
    };
    let seen = observe_each(env, row, &watched, signalled, "after the job")?;
    one_fence(
        "exports of one CAPTURE buffer",
        &ids_of(&watched, &seen, Usage::Write),
    )?;
    usages_separate(&watched, &seen)
}
