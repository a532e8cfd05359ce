//! `fence-bench`: what publishing fences costs, in one boot (method and
//! goals: docs/performance.md). Throughput with fences on vs off,
//! per-job arm and signal times, wake latency of fence waiters against
//! DQBUF, and a soak that must leak nothing.

mod cpu;
mod per_job;
mod soak;
mod stream;
mod throughput;
mod trace_lines;
mod tracefs;
mod wake;

use anyhow::{Context, Result};
use landing_model::bench::BenchReport;

use crate::m2m::vim2m_fences_switchable;

/// How much to run.
#[derive(Clone, Debug)]
pub struct Plan {
    pub pairs: u32,
    pub frames: u32,
    pub per_job_frames: u32,
    pub wake_jobs: u32,
    pub soak_frames: u32,
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|e| format!("unknown ({e})"))
}

/// Run every measurement; `progress` gets a line per step. Where this
/// kernel's vim2m cannot publish fences (no `publish_fences` parameter:
/// the control kernel) only the throughput and the soak run.
pub fn run(plan: &Plan, progress: &dyn Fn(&str)) -> Result<BenchReport> {
    let fences = vim2m_fences_switchable();
    progress(&format!(
        "throughput: {} x {} frames{}",
        plan.pairs,
        plan.frames,
        if fences {
            " (pairs: fences on, off)"
        } else {
            " (no fences on this kernel)"
        }
    ));
    let throughput =
        throughput::measure(plan.pairs, plan.frames, progress).context("throughput")?;
    let (per_job, wake) = if fences {
        progress(&format!(
            "per-job cost: {} jobs under kprobes",
            plan.per_job_frames
        ));
        let p = per_job::measure(plan.per_job_frames).context("per-job cost")?;
        progress(&format!("wake latency: {} jobs", plan.wake_jobs));
        let w = wake::measure(plan.wake_jobs).context("wake latency")?;
        (Some(p), Some(w))
    } else {
        (None, None)
    };
    progress(&format!("soak: {} frames", plan.soak_frames));
    let memory = soak::measure(plan.soak_frames).context("soak")?;
    Ok(BenchReport {
        kernel: kernel_release(),
        fences_available: fences,
        throughput,
        per_job,
        wake,
        memory,
    })
}
