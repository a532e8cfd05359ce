//! The rules for stages that print test lines (verdict `tests` and
//! `cases`): the summary line and the exit status must agree with the lines,
//! and, for `cases`, each case of cases.txt must report exactly once what
//! its column for this kernel says.

use super::{check, Check, Outcome};
use crate::cases::{Case, Expect};
use crate::stages_list::Kernel;
use crate::suite_output::{self, Counts, Status, TestResult};
use std::collections::BTreeSet;

const SUMMARY_FORMAT: &str = "`<P> passed, <F> failed, <S> skipped`";

/// What is wrong with how a test stage ended: its last line must be the
/// summary, counting the result lines above it, and its exit status 0 when
/// none failed, else 1. A run that died part-way breaks one of these.
pub fn summary_problems(output: &str, rc: i32) -> Vec<String> {
    let results = suite_output::parse(output);
    let lines = Counts::of(&results);
    let mut problems = Vec::new();
    if results.is_empty() {
        problems.push("printed no PASS/FAIL/SKIP line".to_string());
    }
    match suite_output::last_line(output) {
        None => problems.push(format!(
            "printed nothing; its last line must be the summary {SUMMARY_FORMAT}"
        )),
        Some(last) => match suite_output::parse_summary(last) {
            None => problems.push(format!(
                "its last line must be the summary {SUMMARY_FORMAT}, found {last:?} (did it stop part-way?)"
            )),
            Some(summary) if summary != lines => problems.push(format!(
                "its summary says \"{summary}\" but its result lines count \"{lines}\""
            )),
            Some(_) => {}
        },
    }
    let want = i32::from(lines.failed != 0);
    if rc != want {
        problems.push(format!(
            "exit status {rc}, expected {want} for {} failed",
            lines.failed
        ));
    }
    problems
}

/// A `tests` stage: each line stands for itself, and a SKIP is a failure:
/// in the rig the kernel, the modules and the devices are ours, so a test
/// that could not run points at a broken rig, not at a missing machine part.
pub fn plain(kernel: Kernel, results: &[TestResult]) -> Vec<Check> {
    results
        .iter()
        .map(|r| {
            let outcome = match r.status {
                Status::Pass => Outcome::Pass,
                Status::Fail => Outcome::Fail(r.why()),
                Status::Skip => Outcome::Fail(format!(
                    "skipped in the rig, where it must run: {}",
                    r.reason
                )),
            };
            check(format!("{kernel}/{}", r.name), outcome)
        })
        .collect()
}

fn expectation(kernel: Kernel, case: &Case) -> Expect {
    match kernel {
        // No rig has the device: both guests must skip it.
        _ if case.patched == Expect::Hardware => Expect::Hardware,
        Kernel::Control => case.control,
        Kernel::Patched => case.patched,
    }
}

fn case_check_name(kernel: Kernel, case: &str, expect: Expect) -> String {
    match expect {
        Expect::Pass => format!("{kernel}/{case}"),
        Expect::NoFence | Expect::NoWait => format!("{kernel}/{case} (must fail: {expect})"),
        Expect::Skip => format!("{kernel}/{case} (must skip)"),
        Expect::Hardware => format!("{kernel}/{case} (hardware: must skip in the rig)"),
    }
}

/// Why a must-fail case must fail, for the judge's messages.
fn must_fail_because(expect: Expect) -> &'static str {
    match expect {
        Expect::NoWait => "a job ran while a fence it must wait for was pending",
        _ => "no vb2 fence was found",
    }
}

/// One case's line against what its column for this kernel says.
fn case_outcome(kernel: Kernel, expect: Expect, r: &TestResult) -> Outcome {
    match (expect, r.status) {
        (Expect::Pass, Status::Pass)
        | (Expect::Skip, Status::Skip)
        | (Expect::Hardware, Status::Skip) => Outcome::Pass,
        (Expect::Hardware, Status::Pass | Status::Fail) => Outcome::Fail(format!(
            "ran on the {kernel} kernel's guest, which has no such device: a hardware case must skip in the rig ({})",
            r.why()
        )),
        (Expect::Pass, Status::Fail) => Outcome::Fail(r.why()),
        (Expect::Pass, Status::Skip) => {
            Outcome::Fail(format!("must run on the {kernel} kernel: {}", r.reason))
        }
        (Expect::Skip, Status::Pass) => Outcome::Fail(format!(
            "passed on the {kernel} kernel, where it must skip: what it needs (vb2_fence_probe needs the series' tracepoints) loaded on a kernel without the series"
        )),
        (Expect::Skip, Status::Fail) => Outcome::Fail(format!(
            "must skip on the {kernel} kernel, but failed: {}",
            r.why()
        )),
        (Expect::NoFence | Expect::NoWait, _) => must_fail_outcome(kernel, expect, r),
    }
}

/// A case that must FAIL with the category its expectation names.
fn must_fail_outcome(kernel: Kernel, expect: Expect, r: &TestResult) -> Outcome {
    let category = r.category.as_deref().unwrap_or("none");
    let want = expect.word();
    match r.status {
        Status::Fail if category == want => Outcome::Pass,
        Status::Fail => Outcome::Fail(format!(
            "failed for the wrong reason [{category}]: {} (it must fail because {})",
            r.reason,
            must_fail_because(expect)
        )),
        Status::Pass => Outcome::Fail(format!(
            "passed on the {kernel} kernel, where it must fail with [{want}]: it proves nothing, it cannot tell the series from no series"
        )),
        Status::Skip => Outcome::Fail(format!(
            "must run on the {kernel} kernel and fail with [{want}]: {}",
            r.reason
        )),
    }
}

/// A `cases` stage: every case of the table exactly once, as its column for
/// this kernel says; a line the table does not know fails.
pub fn against_cases(kernel: Kernel, results: &[TestResult], cases: &[Case]) -> Vec<Check> {
    let mut checks = Vec::new();
    let mut ran: BTreeSet<&str> = BTreeSet::new();
    for r in results {
        let Some(case) = cases.iter().find(|c| c.name == r.name) else {
            checks.push(check(
                format!("{kernel}/{}", r.name),
                Outcome::Fail(
                    "not in cases.txt: the judge does not know what this test must report".into(),
                ),
            ));
            continue;
        };
        let expect = expectation(kernel, case);
        let name = case_check_name(kernel, &case.name, expect);
        let outcome = if ran.insert(&case.name) {
            case_outcome(kernel, expect, r)
        } else {
            Outcome::Fail("ran again: every case runs exactly once".into())
        };
        checks.push(check(name, outcome));
    }
    for case in cases.iter().filter(|c| !ran.contains(c.name.as_str())) {
        checks.push(check(
            case_check_name(kernel, &case.name, expectation(kernel, case)),
            Outcome::Fail("did not run".into()),
        ));
    }
    checks
}
