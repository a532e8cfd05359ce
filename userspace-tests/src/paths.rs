//! The paths the suite drives, each a test body: on m2m devices whose jobs
//! stay pending (`pending`: vim2m) or complete inside an ioctl
//! (`in_ioctl`: vicodec, visl), with nothing armed (`idle`), reading a
//! frame back (`readback`), visl with a processing time (`visl`), vivid's
//! multi-planar capture (`vivid`), a decode job that fails
//! (`vicodec_error`), a source change in the middle of an OUTPUT buffer
//! (`source_change`), the capability flag (`capability`), and the
//! reservation objects of exports of a queue without fences (`exports`),
//! a frame sent as slices with HOLD_CAPTURE_BUF (`hold`), and a job
//! queued behind a busy device (`commit`), jobs held by fences other
//! users put on their buffers (`foreign`), a display that scans out a
//! CAPTURE buffer committed before its job ran (`scanout`), a fence
//! held while its driver is unloaded (`module_unload`), a queued
//! request cancelled (`request_cancel`), and a request queued behind a job
//! that waits (`request_commit`). A fence path returns the landing row it filled.

use anyhow::Result;

use crate::m2m::M2mRun;
use crate::observe::Watch;
use crate::parse::Usage;

pub mod capability;
pub mod commit;
pub mod exports;
pub mod foreign;
pub mod hold;
pub mod idle;
pub mod in_ioctl;
pub mod module_unload;
pub mod pending;
pub mod readback;
pub mod request_cancel;
pub mod request_commit;
pub mod scanout;
pub mod source_change;
pub mod vicodec_error;
pub mod visl;
pub mod vivid;

/// `run`'s CAPTURE buffer exported `n` times, watched as "CAPTURE export
/// #i" (bufinfo: `fs:<name>:cap<i>`); `after_arm` when the job's fence was
/// armed before the first of them.
fn watch_capture_exports(
    run: &M2mRun,
    name: &str,
    n: usize,
    after_arm: bool,
) -> Result<Vec<Watch>> {
    (0..n)
        .map(|i| {
            let fd = run.export_cap(&format!("fs:{name}:cap{i}"))?;
            let w = Watch::new(format!("CAPTURE export #{i}"), fd, Usage::Write, "exporter")?;
            Ok(w.exported_after_arm(after_arm))
        })
        .collect()
}

/// `run`'s OUTPUT buffer exported once, watched as "OUTPUT export"
/// (bufinfo: `fs:<name>:out`).
fn watch_output_export(run: &M2mRun, name: &str) -> Result<Watch> {
    let fd = run.export_out(&format!("fs:{name}:out"))?;
    Watch::new("OUTPUT export", fd, Usage::Read, "exporter")
}
