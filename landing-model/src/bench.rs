//! `fence-bench --json`: what publishing fences costs, measured in one
//! boot (docs/performance.md has the method). The benchmark serialises
//! these types and `fresnel-rig judge` reads the same ones back to print
//! the table with each goal next to its figure.

use serde::{Deserialize, Serialize};

/// The goals the verdict prints next to the figures. Only a leak fails a
/// run; a missed goal is printed as missed.
pub const GOAL_THROUGHPUT_RATIO: f64 = 0.98;
/// A fence waiter's p99 wake may trail DQBUF's p99 by at most this much.
pub const GOAL_WAKE_OVER_DQBUF_US: f64 = 1000.0;

/// Percentiles of a sample, in the unit its field name says.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub n: usize,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
}

impl Stats {
    /// Nearest-rank percentiles of `v` (`None` when `v` is empty).
    pub fn of(v: &[f64]) -> Option<Self> {
        if v.is_empty() {
            return None;
        }
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let rank = |p: f64| s[((p * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1];
        Some(Self {
            n: s.len(),
            p50: rank(0.50),
            p99: rank(0.99),
            max: s[s.len() - 1],
        })
    }
}

/// The median of `v` (`None` when empty).
pub fn median(v: &[f64]) -> Option<f64> {
    Stats::of(v).map(|s| s.p50)
}

/// One streaming run of the throughput workload.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StreamRun {
    /// Whether the queues published fences (vim2m `publish_fences`).
    pub fences: bool,
    pub frames: u32,
    pub seconds: f64,
    pub fps: f64,
    /// CPU time of the whole guest (all CPUs, /proc/stat busy time, which
    /// the kernel samples at the tick) per frame: the cost a fixed job time
    /// hides from `fps`.
    pub cpu_us_per_frame: f64,
}

/// Fences on vs off, alternating in one boot.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    /// `vim2m WxH FOURCC, N buffers per queue, transaction time T ms, CAPTURE exported`.
    pub workload: String,
    pub runs: Vec<StreamRun>,
    /// Per pair, fps(on) / fps(off); empty where fences cannot be switched on.
    pub fps_ratios: Vec<f64>,
    /// Per pair, CPU per frame with fences minus without, in us (a
    /// difference, not a ratio: without fences the guest is near idle).
    pub cpu_extra_us: Vec<f64>,
}

impl Throughput {
    /// The fps of the runs with (or without) fences, in run order.
    pub fn fps(&self, fences: bool) -> Vec<f64> {
        self.runs
            .iter()
            .filter(|r| r.fences == fences)
            .map(|r| r.fps)
            .collect()
    }

    pub fn median_fps(&self, fences: bool) -> Option<f64> {
        median(&self.fps(fences))
    }
}

/// Per-job cost, from trace events on one streaming run with fences on.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PerJob {
    pub method: String,
    /// vb2_arm_fences() entry to its first fence published.
    pub arm_to_publish_us: Option<Stats>,
    /// vb2_arm_fences() entry to return.
    pub arm_call_us: Option<Stats>,
    /// vb2_buffer_done() entry to the fence's signal.
    pub done_to_signal_us: Option<Stats>,
}

/// Wake latency after the CAPTURE fence signalled: each fence waiter
/// against the DQBUF waiter of the same jobs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Wake {
    pub method: String,
    pub dqbuf_us: Option<Stats>,
    pub poll_us: Option<Stats>,
    pub sync_ioctl_us: Option<Stats>,
    pub sync_file_us: Option<Stats>,
    /// Samples dropped because the waiter entered its wait only after the
    /// signal (nothing to measure).
    pub late_waiters: usize,
}

/// The soak: fences allocated and released, dma-bufs before and after.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Memory {
    pub frames: u32,
    pub method: String,
    /// vb2 fences initialised (dma_fence_init events, driver "vb2").
    pub fences_allocated: u64,
    /// Of those, released (dma_fence_destroy events).
    pub fences_released: u64,
    /// Example fences allocated and never released (`context:seqno`).
    pub unreleased: Vec<String>,
    pub dmabufs_before: usize,
    pub dmabufs_after: usize,
    /// `unreferenced object` reports after a kmemleak scan (`None`: no kmemleak).
    pub kmemleak_reports: Option<usize>,
}

impl Memory {
    /// What leaked (empty: nothing).
    pub fn leaks(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.fences_allocated != self.fences_released {
            v.push(format!(
                "{} vb2 fences allocated, {} released (never released: {})",
                self.fences_allocated,
                self.fences_released,
                self.unreleased.join(" ")
            ));
        }
        if self.dmabufs_after > self.dmabufs_before {
            v.push(format!(
                "{} dma-bufs before the soak, {} after",
                self.dmabufs_before, self.dmabufs_after
            ));
        }
        if let Some(n @ 1..) = self.kmemleak_reports {
            v.push(format!("kmemleak reported {n} unreferenced objects"));
        }
        v
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// `uname -r`.
    pub kernel: String,
    /// Whether this kernel can publish fences on vim2m (the patched one).
    pub fences_available: bool,
    pub throughput: Throughput,
    /// `None` where there are no fences to time.
    pub per_job: Option<PerJob>,
    pub wake: Option<Wake>,
    pub memory: Memory,
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn spread(v: &[f64]) -> String {
    spread_with(v, 3)
}

/// Median, min and max of `v` with `digits` decimals.
fn spread_with(v: &[f64], digits: usize) -> String {
    match (median(v), Stats::of(v)) {
        (Some(m), Some(s)) => {
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            format!(
                "median {m:.digits$} (min {min:.digits$}, max {:.digits$}, {} pairs)",
                s.max, s.n
            )
        }
        _ => "-".to_string(),
    }
}

fn stats_row(label: &str, s: &Option<Stats>) -> String {
    match s {
        Some(s) => format!(
            "    {label:<26} {:>9.1} {:>9.1} {:>9.1} {:>6}\n",
            s.p50, s.p99, s.max, s.n
        ),
        None => format!(
            "    {label:<26} {:>9} {:>9} {:>9} {:>6}\n",
            "-", "-", "-", 0
        ),
    }
}

/// The report as the verdict prints it, each goal next to its figure.
pub fn table(r: &BenchReport) -> String {
    let mut o = format!(
        "fence-bench, kernel {} ({})\n",
        r.kernel,
        if r.fences_available {
            "vim2m fences switchable"
        } else {
            "no fences on this kernel"
        }
    );
    let t = &r.throughput;
    o += &format!("  throughput: {}\n", t.workload);
    if r.fences_available {
        let m = median(&t.fps_ratios);
        o += &format!(
            "    fps on/off        {}   goal >= {GOAL_THROUGHPUT_RATIO}: {}\n",
            spread(&t.fps_ratios),
            met(m.is_some_and(|m| m >= GOAL_THROUGHPUT_RATIO))
        );
        o += &format!(
            "    cpu/frame on-off  {} us (tick-sampled)\n",
            spread_with(&t.cpu_extra_us, 0)
        );
    }
    for (label, on) in [("off", false), ("on", true)] {
        let runs: Vec<&StreamRun> = t.runs.iter().filter(|x| x.fences == on).collect();
        if runs.is_empty() {
            continue;
        }
        let fps: Vec<f64> = runs.iter().map(|x| x.fps).collect();
        let cpu: Vec<f64> = runs.iter().map(|x| x.cpu_us_per_frame).collect();
        o += &format!(
            "    fences {label:<3}  median {:.1} fps, {:.0} us CPU per frame ({} runs)\n",
            median(&fps).unwrap_or(0.0),
            median(&cpu).unwrap_or(0.0),
            runs.len()
        );
    }
    if let Some(p) = &r.per_job {
        o += &format!(
            "  per job (us){:>22} {:>9} {:>9} {:>6}\n",
            "p50", "p99", "max", "n"
        );
        o += &stats_row("arm entry -> 1st publish", &p.arm_to_publish_us);
        o += &stats_row("arm call", &p.arm_call_us);
        o += &stats_row("done entry -> signal", &p.done_to_signal_us);
    }
    if let Some(w) = &r.wake {
        o += &format!(
            "  wake after signal (us){:>12} {:>9} {:>9} {:>6}   goal: p99 <= DQBUF p99 + {GOAL_WAKE_OVER_DQBUF_US} us\n",
            "p50", "p99", "max", "n"
        );
        o += &stats_row("DQBUF (poll on the node)", &w.dqbuf_us);
        let limit = w.dqbuf_us.as_ref().map(|d| d.p99 + GOAL_WAKE_OVER_DQBUF_US);
        for (label, s) in [
            ("poll() on the export", &w.poll_us),
            ("DMA_BUF_IOCTL_SYNC", &w.sync_ioctl_us),
            ("EXPORT_SYNC_FILE + poll", &w.sync_file_us),
        ] {
            let row = stats_row(label, s);
            let ok = matches!((s, limit), (Some(s), Some(l)) if s.p99 <= l);
            o += &format!("{}   {}\n", row.trim_end(), met(ok));
        }
        if w.late_waiters > 0 {
            o += &format!(
                "    ({} samples dropped: waiter entered after the signal)\n",
                w.late_waiters
            );
        }
    }
    let m = &r.memory;
    let leaks = m.leaks();
    o += &format!(
        "  memory, {} frames: vb2 fences {} allocated, {} released; dma-bufs {} -> {}; kmemleak {}: {}\n",
        m.frames,
        m.fences_allocated,
        m.fences_released,
        m.dmabufs_before,
        m.dmabufs_after,
        m.kmemleak_reports
            .map_or_else(|| "not available".to_string(), |n| format!("{n} reports")),
        if leaks.is_empty() {
            "no leak".to_string()
        } else {
            format!("LEAK: {}", leaks.join("; "))
        }
    );
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Stats::of(&v).expect("non-empty");
        assert_eq!((s.n, s.p50, s.p99, s.max), (100, 50.0, 99.0, 100.0));
        let one = Stats::of(&[7.0]).expect("non-empty");
        assert_eq!((one.p50, one.p99, one.max), (7.0, 7.0, 7.0));
        assert_eq!(Stats::of(&[]), None);
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn the_table_says_which_goal_is_missed() {
        let s = |p99: f64| {
            Some(Stats {
                n: 10,
                p50: p99 / 2.0,
                p99,
                max: p99,
            })
        };
        let r = BenchReport {
            kernel: "7.2.13".into(),
            fences_available: true,
            throughput: Throughput {
                workload: "vim2m".into(),
                runs: vec![],
                fps_ratios: vec![0.99, 0.97, 0.96],
                cpu_extra_us: vec![1000.0],
            },
            per_job: None,
            wake: Some(Wake {
                dqbuf_us: s(500.0),
                poll_us: s(400.0),
                sync_ioctl_us: s(1600.0),
                sync_file_us: None,
                ..Wake::default()
            }),
            memory: Memory::default(),
        };
        let t = table(&r);
        assert!(
            t.contains("median 0.970 (min 0.960, max 0.990, 3 pairs)   goal >= 0.98: MISSED"),
            "{t}"
        );
        let line = |k: &str| {
            t.lines()
                .find(|l| l.contains(k))
                .unwrap_or_default()
                .to_string()
        };
        assert!(line("poll() on the export").ends_with("met"), "{t}");
        assert!(line("DMA_BUF_IOCTL_SYNC").ends_with("MISSED"), "{t}");
        assert!(line("EXPORT_SYNC_FILE").ends_with("MISSED"), "{t}");
        assert!(t.contains("no leak"), "{t}");
    }

    #[test]
    fn leaks_are_named() {
        let mut m = Memory {
            fences_allocated: 4,
            fences_released: 4,
            dmabufs_before: 2,
            dmabufs_after: 2,
            kmemleak_reports: Some(0),
            ..Memory::default()
        };
        assert!(m.leaks().is_empty());
        m.fences_released = 3;
        m.unreleased = vec!["9:2".into()];
        m.dmabufs_after = 3;
        m.kmemleak_reports = Some(1);
        assert_eq!(
            m.leaks(),
            [
                "4 vb2 fences allocated, 3 released (never released: 9:2)",
                "2 dma-bufs before the soak, 3 after",
                "kmemleak reported 1 unreferenced objects"
            ]
        );
    }
}
