//! Drivers that run and complete a job inside an ioctl (vicodec's encoder:
//! QBUF; visl: MEDIA_REQUEST_IOC_QUEUE): userspace never sees the fence
//! pending, only the signalled fence the job left on each reservation.

use std::os::fd::{AsFd, OwnedFd};

use anyhow::{bail, Context, Result};

use crate::env::Env;
use crate::landing::LandingRow;
use crate::m2m::{CapSource, Driver, M2mRun};
use crate::oracle;
use crate::parse::Usage;
use crate::sys;
use crate::verdict::wrong;

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
pub fn fence_path(
    env: &Env,
    name: &str,
    driver: Driver,
    plan: &InIoctlPlan,
) -> (LandingRow, Result<()>) {
    LandingRow::record(driver.name(), name, |row| {
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
    let mut run = M2mRun::open(env, driver, CapSource::Mmap)?;
    let mut watched: Vec<(String, OwnedFd, Usage)> = Vec::new();
    let export_caps = |run: &M2mRun, watched: &mut Vec<(String, OwnedFd, Usage)>| -> Result<()> {
        for i in 0..plan.cap_exports {
            let fd = run.export_cap(&format!("fs:{name}:cap{i}"))?;
            watched.push((format!("CAPTURE export #{i}"), fd, Usage::Write));
        }
        Ok(())
    };
    if plan.when == InIoctlExport::BeforeQbuf {
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
    if plan.when == InIoctlExport::AfterJob {
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
        let after = *usage == Usage::Write && plan.when == InIoctlExport::AfterJob;
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
