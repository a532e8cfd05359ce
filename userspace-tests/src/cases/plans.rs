//! The plans the table expands into tests: which buffers a vim2m path
//! watches and how its job ends; which an in-ioctl path watches and when.

use crate::m2m::{BufSource, Driver};
use crate::paths::in_ioctl::{InIoctlExport, InIoctlPlan};
use crate::paths::pending::{ExportWhen, FencePlan, JobEnd};

fn plan(src: BufSource, cap_exports: usize, when: ExportWhen, out: bool, end: JobEnd) -> FencePlan {
    FencePlan {
        src,
        out: BufSource::Mmap,
        cap_exports,
        when,
        watch_output: out,
        end,
    }
}

/// vim2m: a job lasts the transaction time, so pending fences are observable.
pub(super) fn vim2m_fence_plans() -> Vec<(&'static str, FencePlan)> {
    use BufSource::*;
    use ExportWhen::*;
    vec![
        (
            "expbuf_before_qbuf",
            plan(Mmap, 1, BeforeQbuf, false, JobEnd::Done),
        ),
        (
            "expbuf_while_running",
            plan(Mmap, 1, WhileRunning, false, JobEnd::Done),
        ),
        (
            "several_exports",
            plan(Mmap, 3, BeforeQbuf, false, JobEnd::Done),
        ),
        (
            "capture_write_usage",
            plan(Mmap, 1, BeforeQbuf, true, JobEnd::Done),
        ),
        (
            "output_read_usage",
            plan(Mmap, 0, BeforeQbuf, true, JobEnd::Done),
        ),
        (
            "import_dma_heap",
            plan(Heap, 0, BeforeQbuf, false, JobEnd::Done),
        ),
        (
            "import_udmabuf",
            plan(Udmabuf, 0, BeforeQbuf, false, JobEnd::Done),
        ),
        (
            "import_v4l2_vivid",
            plan(Vivid, 0, BeforeQbuf, false, JobEnd::Done),
        ),
        // The OUTPUT buffer imported: the job's READ fence lands on the
        // exporter's reservation.
        (
            "import_output_dma_heap",
            FencePlan {
                out: Heap,
                ..plan(Mmap, 0, BeforeQbuf, false, JobEnd::Done)
            },
        ),
        (
            "import_output_v4l2_vivid",
            FencePlan {
                out: Vivid,
                ..plan(Mmap, 0, BeforeQbuf, false, JobEnd::Done)
            },
        ),
        (
            "streamoff_mid_job",
            plan(Mmap, 1, BeforeQbuf, true, JobEnd::StreamOff),
        ),
        (
            "close_mid_job",
            plan(Mmap, 1, BeforeQbuf, true, JobEnd::Close),
        ),
        (
            "reqbufs0_live_exports",
            plan(Mmap, 1, BeforeQbuf, false, JobEnd::ReqBufs0),
        ),
        (
            "unbind_mid_job",
            plan(Mmap, 1, BeforeQbuf, true, JobEnd::Unbind),
        ),
    ]
}

fn in_ioctl_plan(cap_exports: usize, when: InIoctlExport, watch_output: bool) -> InIoctlPlan {
    InIoctlPlan {
        cap_exports,
        when,
        watch_output,
    }
}

/// Drivers that run and complete a job inside an ioctl (vicodec's encoder:
/// QBUF; visl: MEDIA_REQUEST_IOC_QUEUE): the signalled fence left behind.
pub(super) fn in_ioctl_plans(driver: Driver) -> Vec<(&'static str, InIoctlPlan)> {
    use InIoctlExport::*;
    let mut plans = vec![("expbuf_before_qbuf", in_ioctl_plan(1, BeforeQbuf, false))];
    if driver == Driver::VicodecEnc {
        plans.push(("expbuf_after_job", in_ioctl_plan(1, AfterJob, false)));
        plans.push(("several_exports", in_ioctl_plan(3, BeforeQbuf, false)));
    }
    plans.push(("capture_write_usage", in_ioctl_plan(1, BeforeQbuf, true)));
    plans.push(("output_read_usage", in_ioctl_plan(0, BeforeQbuf, true)));
    plans
}
