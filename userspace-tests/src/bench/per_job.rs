//! Per-job cost: kprobe events on vb2_arm_fences_deps() (which every arm
//! goes through: vim2m's commit calls it, vb2_arm_fences() wraps it) and
//! vb2_buffer_done()
//! next to the series' arm and signal tracepoints, on one streaming run
//! with fences on (separate from the throughput runs, which it would
//! perturb: each kprobe hit is a trap).

use anyhow::{bail, Result};
use landing_model::bench::{PerJob, Stats};

use super::stream::Stream;
use super::throughput::TRANSTIME_MS;
use super::trace_lines::{job_times, parse_trace};
use super::tracefs::Tracefs;
use crate::m2m::vim2m_set_publish_fences;

const KPROBES: [&str; 3] = [
    "p:fresnel_bench/arm_enter vb2_arm_fences_deps",
    "r:fresnel_bench/arm_exit vb2_arm_fences_deps",
    "p:fresnel_bench/done_enter vb2_buffer_done",
];

pub fn measure(frames: u32) -> Result<PerJob> {
    vim2m_set_publish_fences(true)?;
    let t = Tracefs::open(4096)?;
    t.add_kprobes(&KPROBES)?;
    t.enable(&["fresnel_bench", "vb2/vb2_fence_arm", "vb2/vb2_fence_signal"])?;
    let s = Stream::open(TRANSTIME_MS)?;
    t.on(true)?;
    let ran = s.run(frames);
    t.on(false)?;
    drop(s);
    ran?;
    let times = job_times(&parse_trace(&t.read()?)?);
    // A line that saw no job judges nothing: the probe missed the arm.
    for (what, n) in [
        ("arm entry -> 1st publish", times.arm_to_publish_us.len()),
        ("arm call", times.arm_call_us.len()),
        ("done entry -> signal", times.done_to_signal_us.len()),
    ] {
        if n == 0 {
            bail!(
                "per-job cost: no sample for \"{what}\" in {frames} jobs with fences on: the \
                 kprobes ({}) or the tracepoints did not fire",
                KPROBES.join(", ")
            );
        }
    }
    Ok(PerJob {
        method: format!(
            "{frames} vim2m jobs with fences on; kprobe events on vb2_arm_fences_deps \
             (entry, return) and vb2_buffer_done (entry) paired per task with the vb2_fence_arm and \
             vb2_fence_signal tracepoints; trace_clock mono (1 us resolution); each kprobe \
             adds a trap, so these are upper bounds"
        ),
        arm_to_publish_us: Stats::of(&times.arm_to_publish_us),
        arm_call_us: Stats::of(&times.arm_call_us),
        done_to_signal_us: Stats::of(&times.done_to_signal_us),
    })
}
