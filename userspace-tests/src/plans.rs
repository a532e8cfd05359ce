//! The fence paths, in one table that both the case table and the
//! `landing-map` CLI read, so the map always shows what the tests check.

use anyhow::Result;

use crate::env::Env;
use crate::landing::LandingRow;
use crate::m2m::{CapSource, Driver};
use crate::paths::{End, ExportWhen, FencePlan, SyncExport, SyncPlan};

fn plan(src: CapSource, cap_exports: usize, when: ExportWhen, out: bool, end: End) -> FencePlan {
    FencePlan {
        src,
        cap_exports,
        when,
        watch_output: out,
        end,
    }
}

/// vim2m: a job lasts the transaction time, so pending fences are observable.
pub fn vim2m_fence_plans() -> Vec<(&'static str, FencePlan)> {
    use CapSource::*;
    use ExportWhen::*;
    vec![
        (
            "expbuf_before_qbuf",
            plan(Mmap, 1, BeforeQbuf, false, End::Done),
        ),
        (
            "expbuf_while_running",
            plan(Mmap, 1, WhileRunning, false, End::Done),
        ),
        (
            "several_exports",
            plan(Mmap, 3, BeforeQbuf, false, End::Done),
        ),
        (
            "capture_write_usage",
            plan(Mmap, 1, BeforeQbuf, true, End::Done),
        ),
        (
            "output_read_usage",
            plan(Mmap, 0, BeforeQbuf, true, End::Done),
        ),
        (
            "import_dma_heap",
            plan(Heap, 0, BeforeQbuf, false, End::Done),
        ),
        (
            "import_udmabuf",
            plan(Udmabuf, 0, BeforeQbuf, false, End::Done),
        ),
        (
            "import_v4l2_vivid",
            plan(Vivid, 0, BeforeQbuf, false, End::Done),
        ),
        (
            "streamoff_mid_job",
            plan(Mmap, 1, BeforeQbuf, true, End::StreamOff),
        ),
        ("close_mid_job", plan(Mmap, 1, BeforeQbuf, true, End::Close)),
        (
            "reqbufs0_live_exports",
            plan(Mmap, 1, BeforeQbuf, false, End::ReqBufs0),
        ),
    ]
}

fn sync_plan(cap_exports: usize, when: SyncExport, watch_output: bool) -> SyncPlan {
    SyncPlan {
        cap_exports,
        when,
        watch_output,
    }
}

/// Drivers that run and complete a job inside an ioctl (vicodec's encoder:
/// QBUF; visl: MEDIA_REQUEST_IOC_QUEUE): the signalled fence left behind.
pub fn sync_fence_plans(driver: Driver) -> Vec<(&'static str, SyncPlan)> {
    use SyncExport::*;
    let mut plans = vec![("expbuf_before_qbuf", sync_plan(1, BeforeQbuf, false))];
    if driver == Driver::VicodecEnc {
        plans.push(("expbuf_after_job", sync_plan(1, AfterJob, false)));
        plans.push(("several_exports", sync_plan(3, BeforeQbuf, false)));
    }
    plans.push(("capture_write_usage", sync_plan(1, BeforeQbuf, true)));
    plans.push(("output_read_usage", sync_plan(0, BeforeQbuf, true)));
    plans
}

/// A fence path that drives its device itself and reports its landing row.
pub type PathFn = fn(&Env, &str) -> (LandingRow, Result<()>);

/// visl with `visl_transtime_ms` set for the test: a pending window.
pub fn visl_fence_paths() -> Vec<(&'static str, PathFn)> {
    vec![(
        "expbuf_while_running",
        crate::visl_pending::expbuf_while_running,
    )]
}

/// vivid's multi-planar video capture (NV12M).
pub fn vivid_fence_paths() -> Vec<(&'static str, PathFn)> {
    vec![
        ("mmap_planes", crate::vivid::mmap_planes_path),
        ("planes_share_one_dmabuf", crate::vivid::shared_dmabuf_path),
    ]
}
