//! The `bench` verdict: fence-bench's JSON report (one line starting
//! `{"kernel":`). The run fails on what must not happen: no report, a leak
//! in the soak, fences timed on the control kernel or missing on the
//! patched one. Performance goals are printed next to their figures
//! (`landing_model::bench::table`), not failed: the figures come from an
//! emulated, shared machine.

use landing_model::bench::{median, BenchReport};

use crate::stages_list::Kernel;

/// The report in a stage's output.
pub fn report(output: &str) -> Result<BenchReport, String> {
    let line = output
        .lines()
        .find_map(|l| l.find("{\"kernel\":").map(|i| &l[i..]))
        .ok_or("no fence-bench report (a line starting {\"kernel\":)")?;
    serde_json::from_str(line.trim_end())
        .map_err(|e| format!("its report does not parse ({e}): {line}"))
}

/// What is wrong with the report on `kernel` (empty: nothing).
pub fn problems(kernel: Kernel, output: &str) -> Vec<String> {
    let r = match report(output) {
        Ok(r) => r,
        Err(e) => return vec![e],
    };
    let mut bad: Vec<String> = r
        .memory
        .leaks()
        .into_iter()
        .map(|l| format!("leak: {l}"))
        .collect();
    match kernel {
        Kernel::Patched => {
            if !r.fences_available {
                bad.push(
                    "vim2m's publish_fences parameter is missing on the patched kernel".into(),
                );
            }
            let fps = !r.throughput.fps_ratios.is_empty();
            if !fps || r.per_job.is_none() || r.wake.is_none() {
                bad.push(
                    "the fence figures (on/off ratios, per-job cost, wake latency) are missing"
                        .into(),
                );
            }
            if r.memory.fences_allocated == 0 {
                bad.push("the soak allocated no vb2 fence: nothing was measured".into());
            }
        }
        Kernel::Control => {
            if r.fences_available || r.memory.fences_allocated != 0 {
                bad.push(format!(
                    "the control kernel published fences ({} in the soak)",
                    r.memory.fences_allocated
                ));
            }
        }
    }
    bad
}

/// Patched with fences off against the control kernel: non-opted queues
/// must not pay. Two boots, so the noise is each side's own spread.
pub fn cross_kernel(control: &BenchReport, patched: &BenchReport) -> Option<String> {
    let c = control.throughput.median_fps(false)?;
    let p = patched.throughput.median_fps(false)?;
    let spread = |r: &BenchReport| {
        let v = r.throughput.fps(false);
        let m = median(&v)?;
        let (lo, hi) = v.iter().fold((f64::INFINITY, 0.0_f64), |(lo, hi), x| {
            (lo.min(*x), hi.max(*x))
        });
        Some((hi - lo) / m)
    };
    let noise = spread(control)?.max(spread(patched)?);
    let ratio = p / c;
    Some(format!(
        "patched with fences off / control: {ratio:.3} ({p:.1} vs {c:.1} fps, medians); \
         goal 1.00 within the runs' spread ({:.3}): {}",
        noise,
        if (ratio - 1.0).abs() <= noise {
            "met"
        } else {
            "MISSED"
        }
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use landing_model::bench::{Memory, PerJob, StreamRun, Throughput, Wake};

    fn run(fences: bool, fps: f64) -> StreamRun {
        StreamRun {
            fences,
            frames: 100,
            seconds: 100.0 / fps,
            fps,
            cpu_us_per_frame: 100.0,
        }
    }

    fn patched() -> BenchReport {
        BenchReport {
            kernel: "7.2.13".into(),
            fences_available: true,
            throughput: Throughput {
                workload: "w".into(),
                runs: vec![run(true, 99.0), run(false, 100.0)],
                fps_ratios: vec![0.99],
                cpu_extra_us: vec![900.0],
            },
            per_job: Some(PerJob::default()),
            wake: Some(Wake::default()),
            memory: Memory {
                fences_allocated: 8,
                fences_released: 8,
                ..Memory::default()
            },
        }
    }

    fn control() -> BenchReport {
        BenchReport {
            fences_available: false,
            throughput: Throughput {
                runs: vec![run(false, 98.0), run(false, 101.0)],
                ..Throughput::default()
            },
            per_job: None,
            wake: None,
            memory: Memory::default(),
            ..patched()
        }
    }

    fn stage(r: &BenchReport) -> String {
        format!(
            "fence-bench: soak: 10000 frames\n{}\n",
            serde_json::to_string(r).expect("serialises")
        )
    }

    #[test]
    fn clean_reports_pass() {
        assert_eq!(
            problems(Kernel::Patched, &stage(&patched())),
            Vec::<String>::new()
        );
        assert_eq!(
            problems(Kernel::Control, &stage(&control())),
            Vec::<String>::new()
        );
    }

    #[test]
    fn a_leak_fails() {
        let mut r = patched();
        r.memory.fences_released = 7;
        let p = problems(Kernel::Patched, &stage(&r));
        assert_eq!(
            p,
            ["leak: 8 vb2 fences allocated, 7 released (never released: )"]
        );
    }

    #[test]
    fn each_kernel_wants_its_own_report() {
        let p = problems(Kernel::Patched, &stage(&control()));
        assert!(
            p.iter()
                .any(|x| x.contains("publish_fences parameter is missing")),
            "{p:?}"
        );
        assert!(
            p.iter().any(|x| x.contains("allocated no vb2 fence")),
            "{p:?}"
        );
        let c = problems(Kernel::Control, &stage(&patched()));
        assert_eq!(c, ["the control kernel published fences (8 in the soak)"]);
    }

    #[test]
    fn no_report_fails() {
        let p = problems(Kernel::Control, "fence-bench: error: no vim2m\n");
        assert!(p[0].starts_with("no fence-bench report"), "{p:?}");
    }

    #[test]
    fn cross_kernel_ratio_against_the_spread() {
        let line = cross_kernel(&control(), &patched()).expect("both have off runs");
        assert!(
            line.starts_with("patched with fences off / control: 1.020"),
            "{line}"
        );
        assert!(line.ends_with("met"), "{line}");
    }
}
