//! Turns the guest runs of the control and the patched kernel into one list
//! of checks. The rules: the patched kernel passes every suite test it runs;
//! the control kernel fails exactly the fence-landing tests listed in
//! userspace-tests/control-expected-failures.txt and passes the rest (a fence
//! test that passes on the control proves nothing); v4l2-compliance gives the
//! same result on both; no kernel report (WARN, lockdep, kmemleak, ...) on
//! either; every stage ends.

use crate::compliance;
use crate::kernel_log;
use crate::results_log::GuestRun;
use crate::suite_output::{self, Status};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
    Skip(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub outcome: Outcome,
}

/// What one kernel's VM run left behind.
pub struct KernelRun {
    pub kind: &'static str,
    pub guest: GuestRun,
    pub console: String,
}

/// Stages whose non-zero exit fails the run by itself. The test stages
/// (TEST_STAGES) and the compliance stages are judged by their output.
const PLAIN_STAGES: &[&str] = &["load-drivers", "kmod-load", "unload-drivers", "kmemleak"];

fn check(name: String, outcome: Outcome) -> Check {
    Check { name, outcome }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn judge_guest(run: &KernelRun, checks: &mut Vec<Check>) {
    let k = run.kind;
    let boot = if run.guest.done {
        Outcome::Pass
    } else if let Some(hung) = run.guest.hung_stage() {
        Outcome::Fail(format!(
            "guest stopped inside stage '{}' (timeout or crash); its last output:\n{}\nconsole tail:\n{}",
            hung.name,
            tail(&hung.output, 15),
            tail(&run.console, 25)
        ))
    } else {
        Outcome::Fail(format!(
            "guest never reported completion; console tail:\n{}",
            tail(&run.console, 40)
        ))
    };
    checks.push(check(format!("{k}/vm-run"), boot));

    let mut log = run.console.clone();
    for stage in ["dmesg", "kmemleak"] {
        if let Some(s) = run.guest.stage(stage) {
            log.push_str(&s.output);
        }
    }
    let findings = kernel_log::scan(&log);
    let outcome = if findings.is_empty() {
        Outcome::Pass
    } else {
        let mut kinds: Vec<&str> = findings.iter().map(|f| f.what).collect();
        kinds.dedup();
        Outcome::Fail(format!(
            "kernel reported {}:\n{}",
            kinds.join(", "),
            findings
                .iter()
                .map(|f| f.excerpt.as_str())
                .collect::<Vec<_>>()
                .join("\n---\n")
        ))
    };
    checks.push(check(format!("{k}/kernel-log-clean"), outcome));

    for name in PLAIN_STAGES {
        if let Some(s) = run.guest.stage(name) {
            let outcome = match s.rc {
                Some(0) => Outcome::Pass,
                Some(rc) => Outcome::Fail(format!("exit {rc}:\n{}", tail(&s.output, 15))),
                None => Outcome::Fail("did not finish".to_string()),
            };
            checks.push(check(format!("{k}/stage/{name}"), outcome));
        }
    }
    if let Some(s) = run.guest.stage("bufinfo-final") {
        // Every armed fence must be signalled once the queues are gone.
        let pending: Vec<&str> = s
            .output
            .lines()
            .filter(|l| l.contains("unsignalled") || l.contains("unsignaled"))
            .collect();
        let outcome = if pending.is_empty() {
            Outcome::Pass
        } else {
            Outcome::Fail(format!("fences still pending:\n{}", pending.join("\n")))
        };
        checks.push(check(format!("{k}/no-pending-fences-at-end"), outcome));
    }
}

/// Stages that print PASS/FAIL/SKIP lines, and the kernels that run them.
const TEST_STAGES: &[(&str, &[&str])] = &[
    ("suite", &["control", "patched"]),
    ("kmod-check", &["patched"]),
    ("kmod-refused", &["control"]),
];

fn judge_tests(run: &KernelRun, expected_failures: &BTreeSet<String>, checks: &mut Vec<Check>) {
    for (name, kinds) in TEST_STAGES {
        if kinds.contains(&run.kind) {
            judge_test_stage(run, name, expected_failures, checks);
        }
    }
}

fn judge_test_stage(
    run: &KernelRun,
    stage_name: &str,
    expected_failures: &BTreeSet<String>,
    checks: &mut Vec<Check>,
) {
    let k = run.kind;
    let Some(stage) = run.guest.stage(stage_name) else {
        checks.push(check(
            format!("{k}/{stage_name}"),
            Outcome::Fail(format!("stage {stage_name} did not run")),
        ));
        return;
    };
    let results = suite_output::parse(&stage.output);
    if results.is_empty() {
        checks.push(check(
            format!("{k}/{stage_name}"),
            Outcome::Fail(format!(
                "{stage_name} printed no results:\n{}",
                tail(&stage.output, 20)
            )),
        ));
        return;
    }
    let control = k == "control";
    for r in &results {
        let expected_fail = control && expected_failures.contains(&r.name);
        let outcome = match (r.status, expected_fail) {
            (Status::Skip, _) => Outcome::Skip(r.reason.clone()),
            (Status::Pass, false) => Outcome::Pass,
            (Status::Fail, false) => Outcome::Fail(r.reason.clone()),
            (Status::Fail, true) => Outcome::Pass,
            (Status::Pass, true) => Outcome::Fail(
                "fence test passed on the control kernel: it cannot tell the series from no series"
                    .into(),
            ),
        };
        let suffix = if expected_fail {
            " (expected to fail)"
        } else {
            ""
        };
        checks.push(check(format!("{k}/{}{suffix}", r.name), outcome));
    }
    if control && stage_name == "suite" {
        let ran: BTreeSet<&str> = results.iter().map(|r| r.name.as_str()).collect();
        for name in expected_failures
            .iter()
            .filter(|n| !ran.contains(n.as_str()))
        {
            checks.push(check(
                format!("control/{name} (expected to fail)"),
                Outcome::Fail("listed in control-expected-failures.txt but not run".into()),
            ));
        }
    }
}

fn compliance_stages(run: &GuestRun) -> Vec<(&str, &str)> {
    run.stages
        .iter()
        .filter_map(|s| Some((s.name.strip_prefix("compliance-")?, s.output.as_str())))
        .collect()
}

fn judge_compliance(control: &KernelRun, patched: &KernelRun, checks: &mut Vec<Check>) {
    for (dev, patched_out) in compliance_stages(&patched.guest) {
        let name = format!("compliance/{dev}: patched equals control");
        let Some((_, control_out)) = compliance_stages(&control.guest)
            .into_iter()
            .find(|(d, _)| *d == dev)
        else {
            checks.push(check(
                name,
                Outcome::Fail("no control run to compare with".into()),
            ));
            continue;
        };
        let (p, c) = (
            compliance::parse(patched_out),
            compliance::parse(control_out),
        );
        let outcome = if p.is_empty() && c.is_empty() {
            Outcome::Skip(tail(patched_out, 1))
        } else if p.is_empty() || c.is_empty() {
            Outcome::Fail(format!(
                "compliance ran on only one kernel; patched:\n{}\ncontrol:\n{}",
                tail(patched_out, 8),
                tail(control_out, 8)
            ))
        } else if p.len() != c.len() {
            Outcome::Fail(format!(
                "{} nodes on patched, {} on control",
                p.len(),
                c.len()
            ))
        } else {
            let diffs: Vec<String> = p
                .iter()
                .zip(&c)
                .filter(|(a, b)| {
                    (a.total, a.succeeded, a.failed, &a.failed_tests)
                        != (b.total, b.succeeded, b.failed, &b.failed_tests)
                })
                .map(|(a, b)| {
                    format!(
                        "{}: patched {}/{} failed {:?}, control {}/{} failed {:?}",
                        a.device,
                        a.succeeded,
                        a.total,
                        a.failed_tests,
                        b.succeeded,
                        b.total,
                        b.failed_tests
                    )
                })
                .collect();
            if diffs.is_empty() {
                Outcome::Pass
            } else {
                Outcome::Fail(diffs.join("\n"))
            }
        };
        checks.push(check(name, outcome));
    }
}

/// Host-side checks recorded by scripts/test-all.sh in the suite's format.
pub fn host_checks(text: &str) -> Vec<Check> {
    suite_output::parse(text)
        .into_iter()
        .map(|r| {
            let outcome = match r.status {
                Status::Pass => Outcome::Pass,
                Status::Fail => Outcome::Fail(r.reason),
                Status::Skip => Outcome::Skip(r.reason),
            };
            check(r.name, outcome)
        })
        .collect()
}

pub fn judge(
    control: Option<&KernelRun>,
    patched: Option<&KernelRun>,
    expected_failures: &BTreeSet<String>,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for run in [control, patched].into_iter().flatten() {
        judge_guest(run, &mut checks);
        judge_tests(run, expected_failures, &mut checks);
    }
    if let (Some(c), Some(p)) = (control, patched) {
        judge_compliance(c, p, &mut checks);
    }
    checks
}

/// Compliance totals of one run, for the report (control's imperfections are
/// recorded, not hidden).
pub fn compliance_summary(run: &GuestRun) -> Vec<String> {
    compliance_stages(run)
        .into_iter()
        .flat_map(|(stage, out)| compliance::parse(out).into_iter().map(move |d| (stage, d)))
        .map(|(stage, d)| {
            format!(
                "[{stage}] {}: {} tests, {} succeeded, {} failed {:?}, {} warnings",
                d.device, d.total, d.succeeded, d.failed, d.failed_tests, d.warnings
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kind: &'static str, suite: &str) -> KernelRun {
        let log = format!(
            "@@FRESNEL KIND {kind} x\n@@FRESNEL BEGIN suite\n{suite}@@FRESNEL END suite rc=1\n\
             @@FRESNEL BEGIN compliance-vim2m\n\ttest Requests: FAIL\nTotal for vim2m device /dev/video0: 60, Succeeded: 59, Failed: 1, Warnings: 0\n@@FRESNEL END compliance-vim2m rc=1\n@@FRESNEL DONE\n"
        );
        KernelRun {
            kind,
            guest: GuestRun::parse(&log),
            console: String::new(),
        }
    }

    fn outcome<'a>(checks: &'a [Check], name: &str) -> &'a Outcome {
        &checks
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("no check {name} in {checks:?}"))
            .outcome
    }

    #[test]
    fn expected_failures_on_control_count_as_passes_and_passes_as_failures() {
        let expected: BTreeSet<String> =
            ["vim2m/fence".to_string(), "vim2m/gone".to_string()].into();
        let control = run(
            "control",
            "FAIL vim2m/fence: no fence\nPASS vim2m/readback\n",
        );
        let patched = run("patched", "PASS vim2m/fence\nPASS vim2m/readback\n");
        let checks = judge(Some(&control), Some(&patched), &expected);
        assert_eq!(
            outcome(&checks, "control/vim2m/fence (expected to fail)"),
            &Outcome::Pass
        );
        assert_eq!(outcome(&checks, "patched/vim2m/fence"), &Outcome::Pass);
        assert!(matches!(
            outcome(&checks, "control/vim2m/gone (expected to fail)"),
            Outcome::Fail(_)
        ));
        assert_eq!(
            outcome(&checks, "compliance/vim2m: patched equals control"),
            &Outcome::Pass
        );

        let control = run("control", "PASS vim2m/fence\n");
        let checks = judge(Some(&control), None, &expected);
        assert!(matches!(
            outcome(&checks, "control/vim2m/fence (expected to fail)"),
            Outcome::Fail(_)
        ));
    }

    #[test]
    fn a_hang_names_the_stage() {
        let k = KernelRun {
            kind: "patched",
            guest: GuestRun::parse("@@FRESNEL BEGIN suite\nrunning vim2m/x\n"),
            console: "boot\n".into(),
        };
        let checks = judge(None, Some(&k), &BTreeSet::new());
        match outcome(&checks, "patched/vm-run") {
            Outcome::Fail(why) => assert!(why.contains("stage 'suite'"), "{why}"),
            o => panic!("{o:?}"),
        }
    }
}
