//! Turns the guest runs of the control and the patched kernel into one list
//! of checks. vm/stages.list says what each stage means to the verdict (its
//! verdict column) and on which kernels it must have run; cases.txt says
//! what each kernel must report for each suite test (test_lines.rs). Beyond
//! the stages: the guest reached its end, no kernel report (WARN, lockdep,
//! kmemleak, ...) on either kernel, v4l2-compliance no worse on the
//! patched kernel than on the control one, and test-media's sequence
//! (test_media.rs).

mod kunit;
mod test_lines;
pub mod test_media;
#[cfg(test)]
mod tests;

use crate::bench;
use crate::cases::Case;
use crate::compliance;
use crate::control_reports::KnownReport;
use crate::kernel_log;
use crate::landing;
use crate::must_run::MustRun;
use crate::results_log::{GuestRun, Stage};
use crate::stages_list::{Kernel, StageSpec, Verdict};
use crate::suite_output::{self, Status};
use crate::watch;

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
    pub kernel: Kernel,
    pub guest: GuestRun,
    pub console: String,
}

/// What the runs are judged against.
pub struct Rules<'a> {
    pub cases: &'a [Case],
    pub stages: &'a [StageSpec],
    /// Reports the control kernel is excused for (never the patched one).
    pub control_reports: &'a [KnownReport],
    /// The results some stages must report (vm/must-run.list).
    pub must_run: &'a MustRun,
    /// The run must check cases.txt (a `cases` stage): every guest but
    /// one that only measures (`Guest::runs_the_suite`).
    pub cases_required: bool,
}

fn check(name: String, outcome: Outcome) -> Check {
    Check { name, outcome }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn vm_run(run: &KernelRun) -> Outcome {
    if run.guest.done {
        Outcome::Pass
    } else if let Some(hung) = run.guest.hung_stage() {
        Outcome::Fail(format!(
            "guest stopped inside stage '{}' (crash, or the VM's own timeout); its last output:\n{}\nconsole tail:\n{}",
            hung.name,
            tail(&hung.output, 15),
            tail(&run.console, 25)
        ))
    } else {
        Outcome::Fail(format!(
            "guest never reported completion; console tail:\n{}",
            tail(&run.console, 40)
        ))
    }
}

/// The run is the kernel it is judged as (suite review V2): the guest's
/// `@@FRESNEL KIND` line names it, so that a control run handed over as
/// the patched one (or the reverse) fails instead of passing for it.
fn guest_kind(run: &KernelRun) -> Outcome {
    let want = run.kernel.word();
    match run.guest.kind.as_deref() {
        Some(k) if k.split_whitespace().next() == Some(want) => Outcome::Pass,
        Some(k) => Outcome::Fail(format!(
            "the guest says `@@FRESNEL KIND {k}`; this run is judged as the {want} kernel"
        )),
        None => Outcome::Fail("the guest wrote no `@@FRESNEL KIND` line".into()),
    }
}

/// Whether a stage is judged against the control kernel's run: a
/// compliance comparison, or a step of test-media's sequence (added up and
/// compared per kernel). Without a control run it means nothing.
pub fn needs_control(spec: &StageSpec) -> bool {
    spec.verdict == Verdict::Compliance || spec.name.starts_with(test_media::STAGE_PREFIX)
}

/// The stages the table runs on `kernel`.
fn listed_for<'a>(rules: &Rules<'a>, kernel: Kernel) -> Vec<&'a StageSpec> {
    rules.stages.iter().filter(|s| s.runs_on(kernel)).collect()
}

/// The console and every `log` stage of `run`.
fn kernel_log(run: &KernelRun, listed: &[&StageSpec]) -> String {
    let mut log = run.console.clone();
    for spec in listed.iter().filter(|s| s.verdict == Verdict::Log) {
        if let Some(s) = run.guest.stage(&spec.name) {
            log.push_str(&s.output);
        }
    }
    log
}

/// The reports `run` is excused for: on the control kernel, those
/// `rules.control_reports` names; on the patched kernel, none.
fn excusable<'a>(run: &KernelRun, rules: &Rules<'a>) -> &'a [KnownReport] {
    match run.kernel {
        Kernel::Control => rules.control_reports,
        Kernel::Patched => &[],
    }
}

/// The kernel log scanned for reports; those the kernel is excused for are
/// left out (`excused_reports` lists them).
fn kernel_log_clean(run: &KernelRun, listed: &[&StageSpec], rules: &Rules) -> Outcome {
    let known = excusable(run, rules);
    let findings: Vec<kernel_log::Finding> = kernel_log::scan(&kernel_log(run, listed))
        .into_iter()
        .filter(|f| KnownReport::matching(known, f).is_none())
        .collect();
    if findings.is_empty() {
        return Outcome::Pass;
    }
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
}

/// One line per report `run` was excused for: the fix that removes it and
/// the report's first lines; and one per listed report it did not give,
/// so that a stale entry shows.
pub fn excused_reports(run: &KernelRun, rules: &Rules) -> Vec<String> {
    let listed = listed_for(rules, run.kernel);
    let known = excusable(run, rules);
    let log = kernel_log(run, &listed);
    let findings = kernel_log::scan(&log);
    let mut lines: Vec<String> = findings
        .iter()
        .filter_map(|f| {
            let k = KnownReport::matching(known, f)?;
            let head: Vec<&str> = f.excerpt.lines().take(2).collect();
            Some(format!(
                "{} excused, fixed by patch {} ({}): {}",
                f.what,
                k.patch,
                k.signature,
                head.join(" | ")
            ))
        })
        .collect();
    // The console and the dmesg stage both hold each report.
    let mut seen = std::collections::HashSet::new();
    lines.retain(|l| seen.insert(l.clone()));
    // The first DEBUG_LOCKS_WARN_ON turns lock debugging off for the rest
    // of the boot: a listed lock report after it cannot show.
    let locks_off = log.contains("DEBUG_LOCKS_WARN_ON");
    for k in known {
        if !findings
            .iter()
            .any(|f| KnownReport::matching(std::slice::from_ref(k), f).is_some())
        {
            let why = if locks_off {
                "not checkable (lock debugging was off after an earlier report)"
            } else {
                "not seen"
            };
            lines.push(format!(
                "listed report {why}: patch {} {} {}",
                k.patch, k.kind, k.signature
            ));
        }
    }
    lines
}

/// Every stage must have run and ended on its own; then its verdict word
/// says what else it must show.
fn stage_outcome(kernel: Kernel, spec: &StageSpec, stage: Option<&Stage>) -> Outcome {
    let Some(stage) = stage else {
        return Outcome::Fail(format!(
            "vm/stages.list lists it for the {kernel} kernel, but that guest did not run it"
        ));
    };
    let last_output = || tail(&stage.output, 15);
    let Some(rc) = stage.rc else {
        return Outcome::Fail(format!(
            "did not end (no END mark); its last output:\n{}",
            last_output()
        ));
    };
    if let Some(limit) = stage.timeout {
        return Outcome::Fail(format!(
            "stage {} was killed by its guest timeout of {limit} s (rc={rc}); its last output:\n{}",
            spec.name,
            last_output()
        ));
    }
    let mut problems = Vec::new();
    match spec.verdict {
        Verdict::Rc
        | Verdict::Log
        | Verdict::Bufinfo
        | Verdict::LandingMap
        | Verdict::Watch
        | Verdict::Bench
        | Verdict::Kunit
            if rc != 0 =>
        {
            problems.push(format!("exit status {rc}, expected 0"));
        }
        Verdict::Tests | Verdict::Cases => {
            problems.extend(test_lines::summary_problems(&stage.output, rc));
        }
        _ => {}
    }
    match spec.verdict {
        Verdict::Bufinfo => {
            // Every armed fence must be signalled once the queues are gone.
            let pending: Vec<&str> = stage
                .output
                .lines()
                .filter(|l| l.contains("unsignalled") || l.contains("unsignaled"))
                .collect();
            if !pending.is_empty() {
                problems.push(format!("fences still pending:\n{}", pending.join("\n")));
            }
        }
        Verdict::LandingMap => match landing::parse(&stage.output) {
            Err(e) => problems.push(format!("{e:#}")),
            Ok(rows) if kernel == Kernel::Patched => {
                problems.extend(landing::patched_problems(&rows));
            }
            Ok(_) => {}
        },
        Verdict::Watch => problems.extend(watch::problems(kernel, &stage.output)),
        Verdict::Bench => problems.extend(bench::problems(kernel, &stage.output)),
        Verdict::Kunit => problems.extend(kunit::problems(&stage.output)),
        _ => {}
    }
    if problems.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(format!(
            "stage {}: {}; its last output:\n{}",
            spec.name,
            problems.join("; "),
            last_output()
        ))
    }
}

fn judge_kernel(run: &KernelRun, rules: &Rules, checks: &mut Vec<Check>) {
    let k = run.kernel;
    let listed = listed_for(rules, k);
    checks.push(check(format!("{k}/vm-run"), vm_run(run)));
    checks.push(check(format!("{k}/guest-kind"), guest_kind(run)));
    checks.push(check(
        format!("{k}/kernel-log-clean"),
        kernel_log_clean(run, &listed, rules),
    ));
    for spec in &listed {
        let stage = run.guest.stage(&spec.name);
        checks.push(check(
            format!("{k}/stage/{}", spec.name),
            stage_outcome(k, spec, stage),
        ));
        let Some(stage) = stage else { continue };
        let results = suite_output::parse(&stage.output);
        match spec.verdict {
            Verdict::Tests => checks.extend(test_lines::plain(k, &results)),
            Verdict::Cases => checks.extend(test_lines::against_cases(k, &results, rules.cases)),
            Verdict::Kunit => checks.extend(kunit::checks(k, &stage.output)),
            _ => {}
        }
        if rules.must_run.covers(&spec.name) {
            let ktap;
            let reported: Vec<&str> = match spec.verdict {
                Verdict::Kunit => {
                    ktap = crate::ktap::parse(&stage.output);
                    ktap.results.iter().map(|r| r.name.as_str()).collect()
                }
                _ => results.iter().map(|r| r.name.as_str()).collect(),
            };
            let problems = rules.must_run.problems(&spec.name, reported);
            checks.push(check(
                format!("{k}/stage/{}/must-run", spec.name),
                if problems.is_empty() {
                    Outcome::Pass
                } else {
                    Outcome::Fail(problems.join("\n"))
                },
            ));
        }
    }
    for stage in &run.guest.stages {
        if !listed.iter().any(|s| s.name == stage.name) {
            checks.push(check(
                format!("{k}/stage/{}", stage.name),
                Outcome::Fail(format!(
                    "the guest ran it, but vm/stages.list does not list it for the {k} kernel, so nothing judges it"
                )),
            ));
        }
    }
    if rules.cases_required && !listed.iter().any(|s| s.verdict == Verdict::Cases) {
        checks.push(check(
            format!("{k}/cases"),
            Outcome::Fail(format!(
                "vm/stages.list runs no `cases` stage on the {k} kernel, so cases.txt is not checked there"
            )),
        ));
    }
}

fn compliance_outcome(patched_out: &str, control_out: &str) -> Outcome {
    let (p, c) = (
        compliance::parse(patched_out),
        compliance::parse(control_out),
    );
    if p.is_empty() || c.is_empty() {
        return Outcome::Fail(format!(
            "v4l2-compliance printed no totals on {}; patched:\n{}\ncontrol:\n{}",
            match (p.is_empty(), c.is_empty()) {
                (true, true) => "either kernel",
                (true, false) => "the patched kernel",
                _ => "the control kernel",
            },
            tail(patched_out, 8),
            tail(control_out, 8)
        ));
    }
    if p.len() != c.len() {
        return Outcome::Fail(format!(
            "{} nodes on patched, {} on control",
            p.len(),
            c.len()
        ));
    }
    // No worse than the control kernel: every test that passed there passes
    // here, and no node runs fewer tests. The patched kernel may fix what
    // fails on the control one (its fixes do).
    let diffs: Vec<String> = p
        .iter()
        .zip(&c)
        .filter(|(a, b)| {
            a.total < b.total
                || a.succeeded < b.succeeded
                || a.failed > b.failed
                || !a.failed_tests.is_subset(&b.failed_tests)
        })
        .map(|(a, b)| {
            format!(
                "{}: patched {}/{} failed {:?}, control ({}) {}/{} failed {:?}",
                a.device,
                a.succeeded,
                a.total,
                a.failed_tests,
                b.device,
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
}

/// The device name in a compliance check's name: `compliance-vim2m` → `vim2m`.
fn compliance_device(stage: &str) -> &str {
    stage.strip_prefix("compliance-").unwrap_or(stage)
}

/// Each `compliance` stage that ran on both kernels (a stage missing on
/// one already fails its stage check).
fn judge_compliance(
    control: &KernelRun,
    patched: &KernelRun,
    stages: &[StageSpec],
    checks: &mut Vec<Check>,
) {
    for spec in stages.iter().filter(|s| s.verdict == Verdict::Compliance) {
        let (Some(p), Some(c)) = (
            patched.guest.stage(&spec.name),
            control.guest.stage(&spec.name),
        ) else {
            continue;
        };
        checks.push(check(
            format!(
                "compliance/{}: patched no worse than control",
                compliance_device(&spec.name)
            ),
            compliance_outcome(&p.output, &c.output),
        ));
    }
}

/// fence-bench's tables, one per kernel, and the cross-kernel line: the
/// figures the verdict prints (a missed goal is printed, not failed).
pub fn bench_summary(
    control: Option<&GuestRun>,
    patched: Option<&GuestRun>,
    stages: &[StageSpec],
) -> Vec<String> {
    let mut lines = Vec::new();
    let mut reports = [None, None];
    for (slot, (kernel, run)) in [(Kernel::Control, control), (Kernel::Patched, patched)]
        .into_iter()
        .enumerate()
    {
        let Some(run) = run else { continue };
        for spec in stages.iter().filter(|s| s.verdict == Verdict::Bench) {
            let Some(stage) = run.stage(&spec.name) else {
                continue;
            };
            match bench::report(&stage.output) {
                Ok(r) => {
                    lines.extend(
                        landing_model::bench::table(&r)
                            .lines()
                            .map(|l| format!("[{kernel}] {l}")),
                    );
                    reports[slot] = Some(r);
                }
                Err(e) => lines.push(format!("[{kernel}] {}: {e}", spec.name)),
            }
        }
    }
    if let [Some(c), Some(p)] = &reports {
        lines.extend(bench::cross_kernel(c, p));
    }
    lines
}

/// The canary's check: the guest of the kernel built with vm/canary/
/// (a fence-contract breach put back on purpose, its rows of vm/stages.list) ran
/// to its end, and its kernel log holds a lockdep report through
/// `dma_fence_map`, the signalling annotations' lock. Without that report
/// the annotations cannot see such a breach, and the patched kernel's clean
/// log would prove nothing.
pub fn canary(run: &KernelRun) -> Check {
    let name = "canary/lockdep-reports-the-breach".to_string();
    if let Outcome::Fail(why) = vm_run(run) {
        return check(name, Outcome::Fail(why));
    }
    let findings = canary_findings(run);
    let outcome = if findings.iter().any(|f| f.excerpt.contains("dma_fence_map")) {
        Outcome::Pass
    } else if findings.is_empty() {
        Outcome::Fail(format!(
            "the canary kernel (vm/canary/) ran without any lockdep report: \
             the signalling annotations did not see the breach it puts back, so a \
             clean lockdep log proves nothing; console tail:\n{}",
            tail(&run.console, 15)
        ))
    } else {
        Outcome::Fail(format!(
            "the canary kernel's reports do not involve dma_fence_map, so they are \
             not the breach it puts back:\n{}",
            findings
                .iter()
                .map(|f| f.excerpt.as_str())
                .collect::<Vec<_>>()
                .join("\n---\n")
        ))
    };
    check(name, outcome)
}

/// The canary's lockdep reports (console and `log` stages alike).
fn canary_findings(run: &KernelRun) -> Vec<kernel_log::Finding> {
    let mut log = run.console.clone();
    for s in run.guest.stages.iter().filter(|s| s.name == "dmesg") {
        log.push_str(&s.output);
    }
    kernel_log::scan(&log)
        .into_iter()
        .filter(|f| f.what == "lockdep")
        .collect()
}

/// The first lines of the canary's report through `dma_fence_map`, for the
/// verdict's info lines: which lock was taken where, under what.
pub fn canary_evidence(run: &KernelRun) -> Vec<String> {
    canary_findings(run)
        .into_iter()
        .find(|f| f.excerpt.contains("dma_fence_map"))
        .map(|f| {
            f.excerpt
                .lines()
                .filter(|l| !l.trim().is_empty() && !l.contains("-----"))
                .take(8)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
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
    rules: &Rules,
) -> Vec<Check> {
    let mut checks = Vec::new();
    for run in [control, patched].into_iter().flatten() {
        judge_kernel(run, rules, &mut checks);
    }
    if let (Some(c), Some(p)) = (control, patched) {
        judge_compliance(c, p, rules.stages, &mut checks);
    }
    let control_sequence = control.and_then(|c| test_media::summary(&c.guest, rules.stages));
    if let Some(c) = &control_sequence {
        checks.push(test_media::control_check(c));
    }
    if let Some(p) = patched.and_then(|p| test_media::summary(&p.guest, rules.stages)) {
        checks.push(test_media::patched_check(&p, control_sequence.as_ref()));
    }
    checks
}

/// Compliance totals of one run, for the report (control's imperfections are
/// recorded, not hidden).
pub fn compliance_summary(run: &GuestRun, stages: &[StageSpec]) -> Vec<String> {
    stages
        .iter()
        .filter(|s| s.verdict == Verdict::Compliance)
        .filter_map(|s| run.stage(&s.name))
        .flat_map(|s| {
            compliance::parse(&s.output)
                .into_iter()
                .map(move |d| (s, d))
        })
        .map(|(s, d)| {
            format!(
                "[{}] {}: {} tests, {} succeeded, {} failed {:?}, {} warnings",
                s.name, d.device, d.total, d.succeeded, d.failed, d.failed_tests, d.warnings
            )
        })
        .collect()
}
