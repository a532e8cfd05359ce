//! The judge on recorded guest output: a green pair of runs, then each rule
//! broken once on top of it.

use super::*;
use crate::cases;
use crate::stages_list;

const STAGES: &str = "\
load-drivers      120 both    rc         /usr/libexec/fresnel/load-drivers.sh
suite             900 both    cases      /usr/bin/fence-suite
kmod-check        120 patched tests      /usr/bin/kmod-check.sh
kmod-refused       60 control tests      /usr/libexec/fresnel/kmod-refused.sh
compliance-vim2m  600 both    compliance /usr/libexec/fresnel/compliance.sh vim2m
bufinfo-final      30 both    bufinfo    cat /sys/kernel/debug/dma_buf/bufinfo
dmesg              30 both    log        dmesg
";

const CASES: &str = "\
vim2m/readback          pass pass     a frame reads back
vim2m/expbuf_before_qbuf pass no-fence an export carries the fence
oracle/vb2_fence_probe  pass skip     the module loads
";

const PATCHED_SUITE: &str = "\
PASS vim2m/readback
PASS vim2m/expbuf_before_qbuf
PASS oracle/vb2_fence_probe
3 passed, 0 failed, 0 skipped
";

const CONTROL_SUITE: &str = "\
PASS vim2m/readback
FAIL vim2m/expbuf_before_qbuf [no-fence]: poll says idle for a pending WRITE fence
SKIP oracle/vb2_fence_probe: no /dev/vb2_fence_probe
1 passed, 1 failed, 1 skipped
";

const COMPLIANCE: &str = "\ttest Requests: FAIL\n\
Total for vim2m device /dev/video0: 60, Succeeded: 59, Failed: 1, Warnings: 0\n";

/// One stage as the guest recorded it: name, output, END fields.
struct Recorded {
    name: &'static str,
    output: String,
    end: String,
}

fn rec(name: &'static str, output: &str, end: &str) -> Recorded {
    Recorded {
        name,
        output: output.to_string(),
        end: end.to_string(),
    }
}

/// The stages of a run where everything went as it must.
fn green(kernel: Kernel) -> Vec<Recorded> {
    let mut stages = vec![rec("load-drivers", "video0 vim2m\n", "rc=0 seconds=2")];
    match kernel {
        Kernel::Patched => {
            stages.push(rec("suite", PATCHED_SUITE, "rc=0 seconds=300"));
            stages.push(rec(
                "kmod-check",
                "PASS node_mode_0600\n1 passed, 0 failed, 0 skipped\nPASS rmmod_after_close\n2 passed, 0 failed, 0 skipped\n",
                "rc=0 seconds=3",
            ));
        }
        Kernel::Control => {
            stages.push(rec("suite", CONTROL_SUITE, "rc=1 seconds=280"));
            stages.push(rec(
                "kmod-refused",
                "PASS kmod/refused_without_series\n1 passed, 0 failed, 0 skipped\n",
                "rc=0 seconds=1",
            ));
        }
    }
    stages.push(rec("compliance-vim2m", COMPLIANCE, "rc=1 seconds=40"));
    stages.push(rec(
        "bufinfo-final",
        "\nDma-buf Objects:\n\tExclusive fence: vb2 cap-1 signalled\n",
        "rc=0 seconds=0",
    ));
    stages.push(rec("dmesg", "[ 1.0] vim2m: loaded\n", "rc=0 seconds=0"));
    stages
}

/// `stages` with stage `name` replaced (or, if absent, added).
fn with(mut stages: Vec<Recorded>, name: &'static str, output: &str, end: &str) -> Vec<Recorded> {
    let new = rec(name, output, end);
    match stages.iter_mut().find(|s| s.name == name) {
        Some(s) => *s = new,
        None => stages.push(new),
    }
    stages
}

fn without(mut stages: Vec<Recorded>, name: &str) -> Vec<Recorded> {
    stages.retain(|s| s.name != name);
    stages
}

fn run(kernel: Kernel, stages: &[Recorded]) -> KernelRun {
    let mut log = format!("@@FRESNEL KIND {kernel} 7.2.13\r\n");
    for s in stages {
        log.push_str(&format!("@@FRESNEL BEGIN {}\r\n", s.name));
        log.push_str(&s.output.replace('\n', "\r\n"));
        log.push_str(&format!("@@FRESNEL END {} {}\r\n", s.name, s.end));
    }
    log.push_str("@@FRESNEL DONE\r\n");
    KernelRun {
        kernel,
        guest: GuestRun::parse(&log),
        console: "[ 0.0] Linux version 7.2.13\n".into(),
    }
}

/// The fixture's must-run list: the probe module's two checks.
fn must_run() -> crate::must_run::MustRun {
    crate::must_run::parse("kmod-check node_mode_0600\nkmod-check rmmod_after_close\n")
        .expect("fixture must-run list")
}

/// The fixture's excused control-kernel reports.
fn known_reports() -> Vec<crate::control_reports::KnownReport> {
    crate::control_reports::parse("0029 WARN visl_queue_cleanup\n").expect("fixture reports")
}

fn judged(control: Option<Vec<Recorded>>, patched: Option<Vec<Recorded>>) -> Vec<Check> {
    let cases = cases::parse(CASES).expect("fixture cases");
    let stages = stages_list::parse(STAGES).expect("fixture stages");
    let control = control.map(|s| run(Kernel::Control, &s));
    let patched = patched.map(|s| run(Kernel::Patched, &s));
    judge(
        control.as_ref(),
        patched.as_ref(),
        &Rules {
            cases: &cases,
            stages: &stages,
            control_reports: &known_reports(),
            must_run: &must_run(),
            cases_required: true,
        },
    )
}

fn outcome<'a>(checks: &'a [Check], name: &str) -> &'a Outcome {
    &checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {checks:#?}"))
        .outcome
}

/// The reason of check `name`, which must have failed.
fn failure(checks: &[Check], name: &str) -> String {
    match outcome(checks, name) {
        Outcome::Fail(why) => why.clone(),
        o => panic!("{name}: expected a FAIL, got {o:?}"),
    }
}

fn failures(checks: &[Check]) -> Vec<&str> {
    checks
        .iter()
        .filter(|c| matches!(c.outcome, Outcome::Fail(_)))
        .map(|c| c.name.as_str())
        .collect()
}

#[test]
fn a_green_pair_of_runs_passes_every_check() {
    let checks = judged(Some(green(Kernel::Control)), Some(green(Kernel::Patched)));
    let not_passed: Vec<&Check> = checks
        .iter()
        .filter(|c| c.outcome != Outcome::Pass)
        .collect();
    assert!(not_passed.is_empty(), "{not_passed:#?}");
    for name in [
        "patched/vm-run",
        "patched/guest-kind",
        "control/guest-kind",
        "patched/kernel-log-clean",
        "patched/stage/suite",
        "patched/stage/kmod-check",
        "patched/vim2m/expbuf_before_qbuf",
        "patched/oracle/vb2_fence_probe",
        "patched/rmmod_after_close",
        "control/stage/kmod-refused",
        "control/vim2m/readback",
        "control/vim2m/expbuf_before_qbuf (must fail: no-fence)",
        "control/oracle/vb2_fence_probe (must skip)",
        "control/kmod/refused_without_series",
        "control/stage/bufinfo-final",
        "patched/stage/kmod-check/must-run",
        "compliance/vim2m: patched no worse than control",
    ] {
        assert_eq!(outcome(&checks, name), &Outcome::Pass, "{name}");
    }
}

/// Suite review V2: a control run handed over as the patched one fails.
#[test]
fn a_run_of_the_other_kernel_fails_its_guest_kind() {
    let stages = stages_list::parse(STAGES).expect("fixture stages");
    let cases = cases::parse(CASES).expect("fixture cases");
    let mut swapped = run(Kernel::Control, &green(Kernel::Patched));
    swapped.kernel = Kernel::Patched;
    let checks = judge(
        None,
        Some(&swapped),
        &Rules {
            cases: &cases,
            stages: &stages,
            control_reports: &known_reports(),
            must_run: &must_run(),
            cases_required: true,
        },
    );
    let why = failure(&checks, "patched/guest-kind");
    assert!(
        why.contains("KIND control 7.2.13") && why.contains("judged as the patched"),
        "{why}"
    );
}

#[test]
fn a_must_run_case_that_skips_on_patched_fails() {
    let suite = PATCHED_SUITE
        .replace(
            "PASS vim2m/expbuf_before_qbuf",
            "SKIP vim2m/expbuf_before_qbuf: no vim2m node",
        )
        .replace(
            "3 passed, 0 failed, 0 skipped",
            "2 passed, 0 failed, 1 skipped",
        );
    let checks = judged(
        None,
        Some(with(green(Kernel::Patched), "suite", &suite, "rc=0")),
    );
    assert_eq!(
        failure(&checks, "patched/vim2m/expbuf_before_qbuf"),
        "must run on the patched kernel: no vim2m node"
    );
    assert_eq!(failures(&checks), ["patched/vim2m/expbuf_before_qbuf"]);
}

#[test]
fn an_oracle_that_skips_on_patched_fails() {
    let suite = PATCHED_SUITE
        .replace(
            "PASS oracle/vb2_fence_probe",
            "SKIP oracle/vb2_fence_probe: no /dev/vb2_fence_probe",
        )
        .replace(
            "3 passed, 0 failed, 0 skipped",
            "2 passed, 0 failed, 1 skipped",
        );
    let checks = judged(
        None,
        Some(with(green(Kernel::Patched), "suite", &suite, "rc=0")),
    );
    assert!(failure(&checks, "patched/oracle/vb2_fence_probe")
        .starts_with("must run on the patched kernel"));
}

#[test]
fn a_case_missing_on_patched_fails_and_an_unknown_one_too() {
    let suite = PATCHED_SUITE.replace("PASS vim2m/readback\n", "PASS vim2m/renamed\n");
    let checks = judged(
        None,
        Some(with(green(Kernel::Patched), "suite", &suite, "rc=0")),
    );
    assert_eq!(failure(&checks, "patched/vim2m/readback"), "did not run");
    assert!(failure(&checks, "patched/vim2m/renamed").starts_with("not in cases.txt"));
    assert_eq!(
        failures(&checks),
        ["patched/vim2m/renamed", "patched/vim2m/readback"]
    );
}

#[test]
fn a_case_that_runs_twice_fails() {
    let suite = PATCHED_SUITE
        .replace(
            "PASS oracle/vb2_fence_probe\n",
            "PASS oracle/vb2_fence_probe\nPASS vim2m/readback\n",
        )
        .replace("3 passed", "4 passed");
    let checks = judged(
        None,
        Some(with(green(Kernel::Patched), "suite", &suite, "rc=0")),
    );
    assert_eq!(failures(&checks), ["patched/vim2m/readback"]);
}

#[test]
fn a_missing_summary_line_fails_the_stage() {
    // The suite died after its second test: no summary, the third missing.
    let suite = "PASS vim2m/readback\nPASS vim2m/expbuf_before_qbuf\nthread 'main' panicked at src/paths.rs:10:5\n";
    let checks = judged(
        None,
        Some(with(green(Kernel::Patched), "suite", suite, "rc=101")),
    );
    let why = failure(&checks, "patched/stage/suite");
    assert!(why.contains("its last line must be the summary `<P> passed, <F> failed, <S> skipped`, found \"thread 'main' panicked"), "{why}");
    assert!(why.contains("exit status 101, expected 0"), "{why}");
    assert_eq!(
        failure(&checks, "patched/oracle/vb2_fence_probe"),
        "did not run"
    );

    // The same with an exit status that looks fine: the summary alone fails it.
    let checks = judged(
        None,
        Some(with(
            green(Kernel::Patched),
            "suite",
            &PATCHED_SUITE.replace("3 passed, 0 failed, 0 skipped\n", ""),
            "rc=0",
        )),
    );
    assert_eq!(failures(&checks), ["patched/stage/suite"]);
}

#[test]
fn a_summary_whose_counts_disagree_fails_the_stage() {
    let suite = PATCHED_SUITE.replace(
        "3 passed, 0 failed, 0 skipped",
        "4 passed, 0 failed, 0 skipped",
    );
    let checks = judged(
        None,
        Some(with(green(Kernel::Patched), "suite", &suite, "rc=0")),
    );
    let why = failure(&checks, "patched/stage/suite");
    assert!(why.starts_with("stage suite: its summary says \"4 passed, 0 failed, 0 skipped\" but its result lines count \"3 passed, 0 failed, 0 skipped\""), "{why}");
    assert_eq!(failures(&checks), ["patched/stage/suite"]);
}

#[test]
fn a_suite_exit_status_that_disagrees_fails_the_stage() {
    let checks = judged(
        None,
        Some(with(green(Kernel::Patched), "suite", PATCHED_SUITE, "rc=1")),
    );
    let why = failure(&checks, "patched/stage/suite");
    assert!(
        why.starts_with("stage suite: exit status 1, expected 0 for 0 failed"),
        "{why}"
    );
    assert_eq!(failures(&checks), ["patched/stage/suite"]);

    // The control's suite fails a test, so it must exit 1.
    let checks = judged(
        Some(with(green(Kernel::Control), "suite", CONTROL_SUITE, "rc=0")),
        None,
    );
    assert!(
        failure(&checks, "control/stage/suite").contains("exit status 0, expected 1 for 1 failed")
    );
}

#[test]
fn the_summary_rule_holds_for_the_module_stages_too() {
    let checks = judged(
        Some(with(
            green(Kernel::Control),
            "kmod-refused",
            "PASS kmod/refused_without_series\n",
            "rc=0",
        )),
        Some(with(
            green(Kernel::Patched),
            "kmod-check",
            "PASS a\nFAIL b: x\n1 passed, 1 failed, 0 skipped\n",
            "rc=0",
        )),
    );
    assert!(failure(&checks, "control/stage/kmod-refused")
        .contains("its last line must be the summary"));
    assert!(failure(&checks, "patched/stage/kmod-check")
        .contains("exit status 0, expected 1 for 1 failed"));
    assert_eq!(failure(&checks, "patched/b"), "x");
}

#[test]
fn a_stage_killed_by_its_timeout_fails_naming_stage_and_limit() {
    let checks = judged(
        None,
        Some(with(
            green(Kernel::Patched),
            "suite",
            PATCHED_SUITE,
            "rc=143 seconds=901 timeout=900",
        )),
    );
    let why = failure(&checks, "patched/stage/suite");
    assert!(
        why.starts_with("stage suite was killed by its guest timeout of 900 s (rc=143)"),
        "{why}"
    );
    assert_eq!(failures(&checks), ["patched/stage/suite"]);
    let checks = judged(
        None,
        Some(with(
            green(Kernel::Patched),
            "dmesg",
            "",
            "rc=137 seconds=40 timeout=30",
        )),
    );
    assert!(failure(&checks, "patched/stage/dmesg")
        .starts_with("stage dmesg was killed by its guest timeout of 30 s"));
}

#[test]
fn a_stage_that_never_ended_fails_and_names_the_hang() {
    let k = KernelRun {
        kernel: Kernel::Patched,
        guest: GuestRun::parse("@@FRESNEL BEGIN load-drivers\n@@FRESNEL END load-drivers rc=0\n@@FRESNEL BEGIN suite\nPASS vim2m/readback\n"),
        console: "boot\n".into(),
    };
    let cases = cases::parse(CASES).expect("cases");
    let stages = stages_list::parse(STAGES).expect("stages");
    let checks = judge(
        None,
        Some(&k),
        &Rules {
            cases: &cases,
            stages: &stages,
            control_reports: &known_reports(),
            must_run: &must_run(),
            cases_required: true,
        },
    );
    assert!(failure(&checks, "patched/vm-run").contains("stage 'suite'"));
    assert!(failure(&checks, "patched/stage/suite").starts_with("did not end"));
    assert!(failure(&checks, "patched/stage/dmesg").contains("did not run"));
}

#[test]
fn a_control_fence_test_that_failed_with_an_error_fails() {
    let suite = CONTROL_SUITE.replace(
        "FAIL vim2m/expbuf_before_qbuf [no-fence]: poll says idle for a pending WRITE fence",
        "FAIL vim2m/expbuf_before_qbuf [error]: VIDIOC_QBUF: Invalid argument",
    );
    let checks = judged(
        Some(with(green(Kernel::Control), "suite", &suite, "rc=1")),
        None,
    );
    let why = failure(
        &checks,
        "control/vim2m/expbuf_before_qbuf (must fail: no-fence)",
    );
    assert!(
        why.starts_with("failed for the wrong reason [error]: VIDIOC_QBUF: Invalid argument"),
        "{why}"
    );
    assert_eq!(
        failures(&checks),
        ["control/vim2m/expbuf_before_qbuf (must fail: no-fence)"]
    );
}

#[test]
fn a_control_fence_test_that_passes_or_skips_fails() {
    let passed = CONTROL_SUITE
        .replace(
            "FAIL vim2m/expbuf_before_qbuf [no-fence]: poll says idle for a pending WRITE fence",
            "PASS vim2m/expbuf_before_qbuf",
        )
        .replace("1 passed, 1 failed", "2 passed, 0 failed");
    let checks = judged(
        Some(with(green(Kernel::Control), "suite", &passed, "rc=0")),
        None,
    );
    assert!(failure(
        &checks,
        "control/vim2m/expbuf_before_qbuf (must fail: no-fence)"
    )
    .contains("proves nothing"));
    let skipped = CONTROL_SUITE
        .replace(
            "FAIL vim2m/expbuf_before_qbuf [no-fence]: poll says idle for a pending WRITE fence",
            "SKIP vim2m/expbuf_before_qbuf: no vim2m",
        )
        .replace(
            "1 passed, 1 failed, 1 skipped",
            "1 passed, 0 failed, 2 skipped",
        );
    let checks = judged(
        Some(with(green(Kernel::Control), "suite", &skipped, "rc=0")),
        None,
    );
    assert!(failure(
        &checks,
        "control/vim2m/expbuf_before_qbuf (must fail: no-fence)"
    )
    .starts_with("must run on the control kernel"));
}

#[test]
fn a_control_skip_case_that_passed_fails() {
    let suite = CONTROL_SUITE
        .replace(
            "SKIP oracle/vb2_fence_probe: no /dev/vb2_fence_probe",
            "PASS oracle/vb2_fence_probe",
        )
        .replace(
            "1 passed, 1 failed, 1 skipped",
            "2 passed, 1 failed, 0 skipped",
        );
    let checks = judged(
        Some(with(green(Kernel::Control), "suite", &suite, "rc=1")),
        None,
    );
    let why = failure(&checks, "control/oracle/vb2_fence_probe (must skip)");
    assert!(
        why.starts_with("passed on the control kernel, where it must skip"),
        "{why}"
    );
    assert_eq!(
        failures(&checks),
        ["control/oracle/vb2_fence_probe (must skip)"]
    );
}

#[test]
fn a_listed_stage_that_never_ran_fails_and_an_unlisted_one_too() {
    let checks = judged(
        Some(without(green(Kernel::Control), "kmod-refused")),
        Some(with(green(Kernel::Patched), "surprise", "hello\n", "rc=0")),
    );
    assert_eq!(
        failure(&checks, "control/stage/kmod-refused"),
        "vm/stages.list lists it for the control kernel, but that guest did not run it"
    );
    assert!(failure(&checks, "patched/stage/surprise")
        .contains("does not list it for the patched kernel"));
    assert_eq!(
        failures(&checks),
        ["control/stage/kmod-refused", "patched/stage/surprise"]
    );
}

#[test]
fn stage_verdict_words_decide_what_is_checked() {
    let checks = judged(
        Some(with(
            green(Kernel::Control),
            "bufinfo-final",
            "\tExclusive fence: vb2 cap-1 unsignalled\n",
            "rc=0",
        )),
        Some(with(
            with(
                green(Kernel::Patched),
                "load-drivers",
                "modprobe: vim2m not found\n",
                "rc=1",
            ),
            "dmesg",
            "[ 9.0] WARNING: CPU: 0 PID: 1 at drivers/media/common/videobuf2/videobuf2-core.c:1\n",
            "rc=0",
        )),
    );
    assert!(failure(&checks, "control/stage/bufinfo-final").contains("fences still pending"));
    assert!(failure(&checks, "patched/stage/load-drivers")
        .starts_with("stage load-drivers: exit status 1, expected 0"));
    assert!(failure(&checks, "patched/kernel-log-clean").starts_with("kernel reported WARN"));
    // compliance: its exit status is not the verdict, the comparison is.
    assert_eq!(
        outcome(&checks, "patched/stage/compliance-vim2m"),
        &Outcome::Pass
    );
    assert_eq!(failures(&checks).len(), 3, "{:?}", failures(&checks));
}

#[test]
fn compliance_must_give_results_and_the_same_on_both() {
    let checks = judged(
        Some(with(
            green(Kernel::Control),
            "compliance-vim2m",
            "SKIP: no video node named vim2m*\n",
            "rc=0",
        )),
        Some(with(
            green(Kernel::Patched),
            "compliance-vim2m",
            "SKIP: no video node named vim2m*\n",
            "rc=0",
        )),
    );
    assert!(
        failure(&checks, "compliance/vim2m: patched no worse than control")
            .starts_with("v4l2-compliance printed no totals on either kernel")
    );
    let checks = judged(
        Some(green(Kernel::Control)),
        Some(with(
            green(Kernel::Patched),
            "compliance-vim2m",
            &COMPLIANCE.replace("Succeeded: 59, Failed: 1", "Succeeded: 58, Failed: 2"),
            "rc=1",
        )),
    );
    assert!(
        failure(&checks, "compliance/vim2m: patched no worse than control")
            .contains("patched 58/60")
    );
}

#[test]
fn no_cases_stage_for_a_kernel_fails() {
    let cases = cases::parse(CASES).expect("cases");
    let stages = stages_list::parse("load-drivers 120 both rc /x\n").expect("stages");
    let patched = run(Kernel::Patched, &[rec("load-drivers", "", "rc=0")]);
    let checks = judge(
        None,
        Some(&patched),
        &Rules {
            cases: &cases,
            stages: &stages,
            control_reports: &known_reports(),
            must_run: &must_run(),
            cases_required: true,
        },
    );
    assert!(failure(&checks, "patched/cases").contains("no `cases` stage"));
}

#[test]
fn a_skip_in_a_module_test_stage_fails() {
    let checks = judged(
        None,
        Some(with(
            green(Kernel::Patched),
            "kmod-check",
            "PASS a\nSKIP query_*: no /dev/dma_heap/system buffer\n1 passed, 0 failed, 1 skipped\n",
            "rc=0",
        )),
    );
    assert!(failure(&checks, "patched/query_*").contains("skipped in the rig"));
}

/// A lockdep report as the canary kernel prints it (abridged).
const CANARY_REPORT: &str = "\
[  61.2] ======================================================
[  61.2] WARNING: possible circular locking dependency detected
[  61.2] 7.2.13 #1 Not tainted
[  61.2] ------------------------------------------------------
[  61.2] vivid-000-vid-c/301 is trying to acquire lock:
[  61.2] ffff8880 (vivid-ctrls.c:1633:(hdl_user_gen)->_lock){+.+.}-{4:4}, at: vivid_prepare_frame+0x4c/0x6a0 [vivid]
[  61.2] but task is already holding lock:
[  61.2] ffffffff (dma_fence_map){++++}-{0:0}, at: vivid_thread_vid_cap_tick+0x1a0/0x8d0 [vivid]
";

fn canary_run(dmesg: &str, done: bool) -> KernelRun {
    let mut r = run(
        Kernel::Patched,
        &[
            rec("load-drivers", "video0 vivid\n", "rc=0 seconds=2"),
            rec("dmesg", dmesg, "rc=0 seconds=0"),
        ],
    );
    r.guest.done = done;
    r
}

#[test]
fn the_canary_passes_with_a_report_through_dma_fence_map() {
    let c = canary(&canary_run(CANARY_REPORT, true));
    assert_eq!(c.outcome, Outcome::Pass, "{c:?}");
    let evidence = canary_evidence(&canary_run(CANARY_REPORT, true));
    assert!(evidence.iter().any(|l| l.contains("vivid_prepare_frame")));
}

#[test]
fn a_canary_without_lockdep_report_fails() {
    let Outcome::Fail(why) = canary(&canary_run("[ 1.0] vivid: loaded\n", true)).outcome else {
        panic!("a canary with a clean log must fail");
    };
    assert!(why.contains("proves nothing"), "{why}");
}

#[test]
fn a_canary_whose_report_is_another_lock_fails() {
    let other = CANARY_REPORT.replace("dma_fence_map", "&q->mmap_lock");
    let Outcome::Fail(why) = canary(&canary_run(&other, true)).outcome else {
        panic!("a report not through dma_fence_map is not the canary's");
    };
    assert!(why.contains("do not involve dma_fence_map"), "{why}");
}

#[test]
fn a_canary_guest_that_did_not_finish_fails() {
    assert!(matches!(
        canary(&canary_run(CANARY_REPORT, false)).outcome,
        Outcome::Fail(_)
    ));
}

/// A report the control kernel is excused for passes there, with its fix
/// named; the same report fails the patched kernel, and any other report
/// fails the control kernel.
#[test]
fn control_kernel_is_excused_only_for_listed_reports() {
    let visl = "WARNING: ../src/kernel/locking/mutex.c:625 at __mutex_lock+0x2ec/0xd80, CPU#0: fence-suite/131\n \
                v4l2_ctrl_request_complete+0x1bd/0x220\n visl_queue_cleanup+0x5e/0x100 [visl]\n";
    let checks = judged(
        Some(with(green(Kernel::Control), "dmesg", visl, "rc=0")),
        Some(with(green(Kernel::Patched), "dmesg", visl, "rc=0")),
    );
    assert_eq!(outcome(&checks, "control/kernel-log-clean"), &Outcome::Pass);
    assert!(failure(&checks, "patched/kernel-log-clean").starts_with("kernel reported WARN"));
    let other = "WARNING: ../src/drivers/media/test-drivers/vicodec/vicodec-core.c:1 at vicodec_stop_streaming, CPU#0: x/1\n";
    let checks = judged(
        Some(with(green(Kernel::Control), "dmesg", other, "rc=0")),
        None,
    );
    assert!(failure(&checks, "control/kernel-log-clean").starts_with("kernel reported WARN"));
}

#[test]
fn a_must_run_result_that_is_not_reported_fails() {
    let checks = judged(
        Some(green(Kernel::Control)),
        Some(with(
            green(Kernel::Patched),
            "kmod-check",
            "PASS node_mode_0600\nPASS read_format\n2 passed, 0 failed, 0 skipped\n",
            "rc=0 seconds=3",
        )),
    );
    let why = failure(&checks, "patched/stage/kmod-check/must-run");
    assert!(
        why.contains("rmmod_after_close: listed in vm/must-run.list, not reported"),
        "{why}"
    );
    assert!(why.contains("read_format: reported, not listed"), "{why}");
}

#[test]
fn the_edit_loop_leaves_out_what_needs_the_control_kernel() {
    let specs = crate::stages_list::parse(include_str!("../../../vm/stages.list"))
        .expect("vm/stages.list parses");
    let kept: Vec<&str> = specs
        .iter()
        .filter(|s| !needs_control(s))
        .map(|s| s.name.as_str())
        .collect();
    assert!(kept.contains(&"suite") && kept.contains(&"watch-clients"));
    assert!(!kept
        .iter()
        .any(|n| n.starts_with("test-media-") || n.starts_with("compliance-")));
}

/// A guest whose stages run no suite (the production guest) is held to
/// cases.txt only when the caller asks: its bench run passes alone.
#[test]
fn a_run_without_a_suite_fails_only_when_cases_are_required() {
    let cases = cases::parse(CASES).expect("fixture cases");
    let stages =
        stages_list::parse("load-drivers 120 patched rc /usr/libexec/fresnel/load-drivers.sh\n")
            .expect("fixture stages");
    let patched = run(
        Kernel::Patched,
        &[rec("load-drivers", "video0 vim2m\n", "rc=0 seconds=2")],
    );
    let judged_with = |cases_required| {
        judge(
            None,
            Some(&patched),
            &Rules {
                cases: &cases,
                stages: &stages,
                control_reports: &[],
                must_run: &must_run(),
                cases_required,
            },
        )
    };
    assert!(matches!(
        outcome(&judged_with(true), "patched/cases"),
        Outcome::Fail(_)
    ));
    let alone = judged_with(false);
    assert!(alone.iter().all(|c| c.name != "patched/cases"));
    assert!(
        alone.iter().all(|c| c.outcome == Outcome::Pass),
        "{alone:#?}"
    );
}
