//! The `watch` verdict: `landing-map watch --json` around real clients
//! (vm/stages/watch-clients.sh). Each watch prints `== watch: WHAT` and its
//! report as one JSON line (`landing_model::watch::WatchReport`). On the
//! patched kernel every report must come from the kmod, show fences armed
//! and no anomaly (a report whose sampling oracle was asked for with
//! `--oracle sampling` is shown, not judged on what it saw); on the control
//! kernel, where the module is refused, every report must come from the
//! sampling fallback (poll()/sync_file on the dma-bufs the client held) and
//! say that no vb2 fence was seen. On both, a watched client must have
//! exited 0; a client run again (`--attempts`) after a failed run passes on
//! the control kernel, shown in the info line, but fails on the patched
//! one, where the stall that outlasted its own timeout may be the series'.
//! A kmod report whose ring dropped records is incomplete, and fails.

use landing_model::watch::{exit_text, WatchReport, SAMPLING_ORACLE};

use crate::results_log::GuestRun;
use crate::stages_list::{Kernel, StageSpec, Verdict};

/// The reports in a stage's output, each with the `== watch:` label before
/// it; a report line that does not parse is an error naming it.
pub fn reports(output: &str) -> Vec<(String, Result<WatchReport, String>)> {
    let mut label = String::from("(unlabelled watch)");
    let mut out = Vec::new();
    for line in output.lines() {
        if let Some(l) = line.strip_prefix("== watch: ") {
            label = l.trim().to_string();
        } else if let Some(i) = line.find("{\"oracle\":") {
            let parsed = serde_json::from_str::<WatchReport>(line[i..].trim_end())
                .map_err(|e| format!("its report does not parse ({e}): {line}"));
            out.push((label.clone(), parsed));
        }
    }
    out
}

/// One line per watch report of `run`'s `watch` stages, for the verdict's
/// `info:` lines: what each client got, on either kernel.
pub fn summary(run: &GuestRun, stages: &[StageSpec]) -> Vec<String> {
    stages
        .iter()
        .filter(|s| s.verdict == Verdict::Watch)
        .filter_map(|s| run.stage(&s.name))
        .flat_map(|s| reports(&s.output))
        .map(|(label, r)| match r {
            Ok(r) => format!(
                "[{label}] oracle {}{}, {} fences {}, {} anomalies, client exit {}{}",
                r.oracle,
                if r.forced_oracle { " (asked for)" } else { "" },
                r.armed,
                if r.oracle == SAMPLING_ORACLE {
                    "seen pending"
                } else {
                    "armed"
                },
                r.anomalies.len(),
                r.command_status
                    .map_or_else(|| "-".to_string(), |c| c.to_string()),
                r.failed_runs_text()
                    .map_or_else(String::new, |f| format!(", {f}"))
            ),
            Err(e) => format!("[{label}] {e}"),
        })
        .collect()
}

/// What is wrong with the stage's watches on `kernel` (empty: nothing).
pub fn problems(kernel: Kernel, output: &str) -> Vec<String> {
    let reports = reports(output);
    if reports.is_empty() {
        return vec!["no landing-map watch report (a line starting {\"oracle\":)".into()];
    }
    let mut bad = Vec::new();
    for (label, report) in reports {
        let r = match report {
            Ok(r) => r,
            Err(e) => {
                bad.push(format!("{label}: {e}"));
                continue;
            }
        };
        // A watch around a client that failed shows nothing about it.
        let rerun_on_patched = kernel == Kernel::Patched && !r.failed_attempts.is_empty();
        if !r.command.is_empty() && r.command_status == Some(0) && rerun_on_patched {
            bad.push(format!(
                "{label}: the watched client `{}` passed only when run again, {}: on the \
                 patched kernel the stall it timed out on may be the series'",
                r.command.join(" "),
                r.failed_runs_text().unwrap_or_default()
            ));
        } else if !r.command.is_empty() && r.command_status != Some(0) {
            bad.push(format!(
                "{label}: the watched client `{}` exited {}{}",
                r.command.join(" "),
                exit_text(r.command_status),
                r.failed_runs_text()
                    .map_or_else(String::new, |f| format!(", {f}"))
            ));
        }
        match kernel {
            Kernel::Patched => {
                if r.forced_oracle && r.oracle == SAMPLING_ORACLE {
                    // The fallback checked on the kernel that has fences:
                    // what it saw is shown in the report, not judged
                    // (a 100 ms sampler may miss a short job).
                } else if r.oracle != "kmod" {
                    bad.push(format!(
                        "{label}: the kmod was not used (oracle {}: {})",
                        r.oracle, r.oracle_note
                    ));
                } else if r.armed == 0 {
                    bad.push(format!("{label}: nothing armed for the client's buffers"));
                }
                // A full ring lost records: the report cannot show what
                // they held (suite review V4).
                if r.oracle == "kmod" && r.dropped > 0 {
                    bad.push(format!(
                        "{label}: the kmod's record ring dropped {} record(s): the report is \
                         incomplete (a shorter client, or a larger ring)",
                        r.dropped
                    ));
                }
                for a in &r.anomalies {
                    bad.push(format!("{label}: anomaly {}: {}", a.kind, a.evidence));
                }
            }
            Kernel::Control => {
                if r.armed != 0 || r.oracle != SAMPLING_ORACLE {
                    bad.push(format!(
                        "{label}: expected the sampling oracle ({SAMPLING_ORACLE}) to see no \
                         vb2 fence on the control kernel, found {} (oracle {}: {})",
                        r.armed, r.oracle, r.oracle_note
                    ));
                }
            }
        }
    }
    bad
}

#[cfg(test)]
mod tests {
    use super::*;

    // As the guests print them (v4l2-ctl's progress and console lines
    // around the reports).
    const PATCHED: &str = "== watch: v4l2-ctl vim2m mmap\n\
<<<<<<<<<<<< 25.00 fps\n\
{\"oracle\":\"kmod\",\"oracle_note\":\"\",\"command\":[\"v4l2-ctl\"],\"command_status\":0,\"seconds\":1.5,\"devices\":[\"/dev/video0 vim2m\"],\"armed\":24,\"dropped\":0,\"queues\":[],\"anomalies\":[]}\n";
    const CONTROL: &str = "== watch: v4l2-ctl vim2m mmap\n\
{\"oracle\":\"poll+sync_file\",\"oracle_note\":\"/dev/vb2_fence_probe: No such file or directory (os error 2); fell back to poll()/sync_file sampling\",\"command\":[\"v4l2-ctl\"],\"command_status\":0,\"seconds\":1.5,\"devices\":[],\"armed\":0,\"dropped\":0,\"queues\":[],\"anomalies\":[]}\n";

    #[test]
    fn clean_reports_pass() {
        assert_eq!(problems(Kernel::Patched, PATCHED), Vec::<String>::new());
        assert_eq!(problems(Kernel::Control, CONTROL), Vec::<String>::new());
    }

    #[test]
    fn each_kernel_wants_its_own_report() {
        let p = problems(Kernel::Patched, CONTROL);
        assert!(p[0].contains("the kmod was not used"), "{p:?}");
        let c = problems(Kernel::Control, PATCHED);
        assert!(c[0].contains("to see no vb2 fence"), "{c:?}");
        assert!(c[0].contains("found 24 (oracle kmod: )"), "{c:?}");
        // The fallback that saw a vb2 fence on the control kernel: the
        // series is there after all, or the sampler misreads.
        let seen = CONTROL.replace("\"armed\":0", "\"armed\":2");
        let c = problems(Kernel::Control, &seen);
        assert!(c[0].contains("found 2 (oracle poll+sync_file"), "{c:?}");
        // A report from before the fallback existed says no oracle: wrong.
        let none = CONTROL.replace("poll+sync_file", "none");
        assert!(!problems(Kernel::Control, &none).is_empty());
        let none = PATCHED.replace("\"armed\":24", "\"armed\":0");
        let p = problems(Kernel::Patched, &none);
        assert!(p[0].contains("v4l2-ctl vim2m mmap: nothing armed"), "{p:?}");
    }

    #[test]
    fn a_sampling_watch_asked_for_is_shown_on_the_patched_kernel() {
        let sampled = CONTROL.replace("\"oracle_note\"", "\"forced_oracle\":true,\"oracle_note\"");
        assert_eq!(problems(Kernel::Patched, &sampled), Vec::<String>::new());
        assert_eq!(problems(Kernel::Control, &sampled), Vec::<String>::new());
        // Fallen back to (not asked for) on the patched kernel: the kmod is
        // missing.
        assert!(problems(Kernel::Patched, CONTROL)[0].contains("the kmod was not used"));
    }

    #[test]
    fn the_verdict_summarises_each_report() {
        let run = GuestRun::parse(&format!(
            "@@FRESNEL KIND patched 7.2.13+\n@@FRESNEL BEGIN watch-clients\n{PATCHED}{}\
             @@FRESNEL END watch-clients rc=0 seconds=2\n@@FRESNEL DONE\n",
            CONTROL.replace("\"oracle_note\"", "\"forced_oracle\":true,\"oracle_note\"")
        ));
        let stages = crate::stages_list::parse(
            "watch-clients 300 both watch /usr/libexec/fresnel/watch-clients.sh\n",
        )
        .expect("stages parse");
        assert_eq!(
            summary(&run, &stages),
            [
                "[v4l2-ctl vim2m mmap] oracle kmod, 24 fences armed, 0 anomalies, client exit 0",
                "[v4l2-ctl vim2m mmap] oracle poll+sync_file (asked for), 0 fences seen \
                 pending, 0 anomalies, client exit 0"
            ]
        );
    }

    #[test]
    fn an_anomaly_fails_the_patched_kernel() {
        let bad = PATCHED.replace(
            "\"anomalies\":[]",
            "\"anomalies\":[{\"kind\":\"pending-at-end\",\"evidence\":\"fence 8:2\"}]",
        );
        let p = problems(Kernel::Patched, &bad);
        assert_eq!(
            p,
            ["v4l2-ctl vim2m mmap: anomaly pending-at-end: fence 8:2"]
        );
    }

    #[test]
    fn a_failed_client_fails() {
        let bad = CONTROL.replace("\"command_status\":0", "\"command_status\":1");
        let p = problems(Kernel::Control, &bad);
        assert_eq!(
            p,
            ["v4l2-ctl vim2m mmap: the watched client `v4l2-ctl` exited with 1"]
        );
    }

    #[test]
    fn dropped_records_fail_on_the_patched_kernel() {
        let lost = PATCHED.replace("\"dropped\":0", "\"dropped\":3");
        assert_eq!(
            problems(Kernel::Patched, &lost),
            [
                "v4l2-ctl vim2m mmap: the kmod's record ring dropped 3 record(s): the report is \
              incomplete (a shorter client, or a larger ring)"
            ]
        );
    }

    #[test]
    fn a_client_that_passed_when_run_again_is_shown() {
        let again = CONTROL.replace(
            "\"command_status\":0",
            "\"command_status\":0,\"failed_attempts\":[1]",
        );
        assert!(problems(Kernel::Control, &again).is_empty());
        let patched_again = PATCHED.replace(
            "\"command_status\":0",
            "\"command_status\":0,\"failed_attempts\":[1]",
        );
        assert_eq!(
            problems(Kernel::Patched, &patched_again),
            [
                "v4l2-ctl vim2m mmap: the watched client `v4l2-ctl` passed only when run \
                 again, after 1 failed run(s) (exited with 1): on the patched kernel the stall \
                 it timed out on may be the series'"
            ]
        );
        let still = CONTROL.replace(
            "\"command_status\":0",
            "\"command_status\":1,\"failed_attempts\":[1]",
        );
        assert_eq!(
            problems(Kernel::Control, &still),
            [
                "v4l2-ctl vim2m mmap: the watched client `v4l2-ctl` exited with 1, \
              after 1 failed run(s) (exited with 1)"
            ]
        );
    }

    #[test]
    fn missing_or_broken_reports_fail() {
        assert!(problems(Kernel::Control, "== watch: x\n")[0].contains("no landing-map watch"));
        let p = problems(Kernel::Patched, "== watch: x\n{\"oracle\": 3\n");
        assert!(p[0].starts_with("x: its report does not parse"), "{p:?}");
    }
}
