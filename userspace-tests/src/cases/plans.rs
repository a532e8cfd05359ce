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
pub(super) fn vim2m_fence_plans() -> Vec<(&'static str, &'static str, FencePlan)> {
    use BufSource::*;
    use ExportWhen::*;
    vec![
        (
            "expbuf_before_qbuf",
            "a CAPTURE buffer exported before QBUF carries the job's pending WRITE fence, which signals when the job ends",
            plan(Mmap, 1, BeforeQbuf, false, JobEnd::Done),
        ),
        (
            "expbuf_while_running",
            "a CAPTURE buffer exported while its job runs carries the pending WRITE fence",
            plan(Mmap, 1, WhileRunning, false, JobEnd::Done),
        ),
        (
            "several_exports",
            "three exports of one CAPTURE buffer share one reservation and its one fence",
            plan(Mmap, 3, BeforeQbuf, false, JobEnd::Done),
        ),
        (
            "capture_write_usage",
            "the CAPTURE fence is a WRITE fence and the OUTPUT one a READ fence, each on its own buffer",
            plan(Mmap, 1, BeforeQbuf, true, JobEnd::Done),
        ),
        (
            "output_read_usage",
            "an OUTPUT buffer exported before QBUF carries the job's pending READ fence",
            plan(Mmap, 0, BeforeQbuf, true, JobEnd::Done),
        ),
        (
            "userptr_capture",
            "a job whose CAPTURE buffer is USERPTR memory (which has no dma-buf to carry a fence) still publishes its OUTPUT buffer's READ fence and writes the frame",
            plan(UserPtr, 0, BeforeQbuf, true, JobEnd::Done),
        ),
        (
            "import_dma_heap",
            "a CAPTURE buffer imported from a system dma-heap gets the fence on the heap buffer's reservation",
            plan(Heap, 0, BeforeQbuf, false, JobEnd::Done),
        ),
        (
            "import_udmabuf",
            "a CAPTURE buffer imported from udmabuf gets the fence on the udmabuf's reservation",
            plan(Udmabuf, 0, BeforeQbuf, false, JobEnd::Done),
        ),
        (
            "import_v4l2_vivid",
            "a CAPTURE buffer imported from vivid's V4L2 export gets the fence on vivid's reservation",
            plan(Vivid, 0, BeforeQbuf, false, JobEnd::Done),
        ),
        // The OUTPUT buffer imported: the job's READ fence lands on the
        // exporter's reservation.
        (
            "import_output_dma_heap",
            "an OUTPUT buffer imported from a dma-heap gets the job's READ fence on the heap buffer's reservation",
            FencePlan {
                out: Heap,
                ..plan(Mmap, 0, BeforeQbuf, false, JobEnd::Done)
            },
        ),
        (
            "import_output_v4l2_vivid",
            "an OUTPUT buffer imported from vivid's export gets the job's READ fence on vivid's reservation",
            FencePlan {
                out: Vivid,
                ..plan(Mmap, 0, BeforeQbuf, false, JobEnd::Done)
            },
        ),
        (
            "streamoff_mid_job",
            "STREAMOFF during the job signals the fences it published",
            plan(Mmap, 1, BeforeQbuf, true, JobEnd::StreamOff),
        ),
        (
            "close_mid_job",
            "closing the file during the job signals the fences it published",
            plan(Mmap, 1, BeforeQbuf, true, JobEnd::Close),
        ),
        (
            "reqbufs0_live_exports",
            "REQBUFS(0) with an export alive: the fence signals and the export still holds the written frame",
            plan(Mmap, 1, BeforeQbuf, false, JobEnd::ReqBufs0),
        ),
        (
            "unbind_mid_job",
            "unbinding vim2m mid-job: the fences stay pending until the job completes the buffers, then signal without error",
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
pub(super) fn in_ioctl_plans(driver: Driver) -> Vec<(&'static str, &'static str, InIoctlPlan)> {
    use InIoctlExport::*;
    let mut plans = vec![(
        "expbuf_before_qbuf",
        "a CAPTURE buffer exported before the job carries its WRITE fence, signalled when the \
         ioctl that ran the job returns",
        in_ioctl_plan(1, BeforeQbuf, false),
    )];
    if driver == Driver::VicodecEnc {
        plans.push((
            "expbuf_after_job",
            "a CAPTURE buffer exported after its job carries the signalled WRITE fence",
            in_ioctl_plan(1, AfterJob, false),
        ));
        plans.push((
            "several_exports",
            "three exports of one CAPTURE buffer share the one signalled fence",
            in_ioctl_plan(3, BeforeQbuf, false),
        ));
    }
    plans.push((
        "capture_write_usage",
        "the CAPTURE fence is a WRITE fence and the OUTPUT one a READ fence",
        in_ioctl_plan(1, BeforeQbuf, true),
    ));
    plans.push((
        "output_read_usage",
        "an OUTPUT buffer exported before the job carries its READ fence",
        in_ioctl_plan(0, BeforeQbuf, true),
    ));
    plans
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A USERPTR CAPTURE buffer has no dma-buf: a plan can neither export
    /// it (EXPBUF fails) nor free it with REQBUFS(MMAP, 0), so its plans
    /// watch the OUTPUT export and end with the job.
    #[test]
    fn userptr_plans_export_nothing_of_the_capture_buffer() {
        for (name, _, plan) in vim2m_fence_plans() {
            if plan.src != BufSource::UserPtr && plan.out != BufSource::UserPtr {
                continue;
            }
            assert_eq!(plan.cap_exports, 0, "{name}");
            assert_eq!(plan.when, ExportWhen::BeforeQbuf, "{name}");
            assert_eq!(plan.end, JobEnd::Done, "{name}");
            assert!(plan.watch_output, "{name}: nothing would be watched");
        }
    }
}
