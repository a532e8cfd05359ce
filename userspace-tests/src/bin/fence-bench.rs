//! fence-bench: what publishing videobuf2 fences costs, measured in one
//! boot (docs/performance.md). Prints the table, or with --json one JSON
//! line (`landing_model::bench::BenchReport`) that fresnel-rig reads.
//! Exits 1 when the soak leaked (fences, dma-bufs, kmemleak), 2 when a
//! measurement could not be made.

use anyhow::Result;
use clap::Parser;
use userspace_tests::bench::{self, Plan};

#[derive(Parser)]
#[command(about = "Measure what publishing videobuf2 fences costs (vim2m, one boot)")]
struct Args {
    /// Print one JSON line instead of the table.
    #[arg(long)]
    json: bool,
    /// On/off pairs of throughput runs.
    #[arg(long, default_value_t = 5)]
    pairs: u32,
    /// Frames per throughput run.
    #[arg(long, default_value_t = 2000)]
    frames: u32,
    /// Jobs timed under kprobes for the per-job cost.
    #[arg(long, default_value_t = 500)]
    per_job_frames: u32,
    /// Jobs for the wake-latency measurement (the waiter kinds in turn).
    #[arg(long, default_value_t = 150)]
    wake_jobs: u32,
    /// Frames of the soak.
    #[arg(long, default_value_t = 10_000)]
    soak_frames: u32,
}

fn main() -> Result<()> {
    let a = Args::parse();
    let plan = Plan {
        pairs: a.pairs,
        frames: a.frames,
        per_job_frames: a.per_job_frames,
        wake_jobs: a.wake_jobs,
        soak_frames: a.soak_frames,
    };
    let progress = |s: &str| eprintln!("fence-bench: {s}");
    let report = match bench::run(&plan, &progress) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fence-bench: error: {e:#}");
            std::process::exit(2);
        }
    };
    if a.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        print!("{}", landing_model::bench::table(&report));
    }
    let leaks = report.memory.leaks();
    if !leaks.is_empty() {
        eprintln!("fence-bench: leak: {}", leaks.join("; "));
        std::process::exit(1);
    }
    Ok(())
}
