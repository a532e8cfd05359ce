//! The run's report (report.json and report.txt) and the rule that gives a
//! device its Tested-by: found, driven by at least one test, every one of
//! its tests passed, no test of the kernel as a whole failed, the kernel
//! logged no report (WARN, BUG, lockdep, ...) while the run lasted, and,
//! for a hardware driver, its fence opt-in was on.

use std::fmt::Write as _;

use userspace_tests::runner::Ran;
use userspace_tests::verdict::Outcome;

use landing_model::ontarget::{
    Board, Check, DeviceResult, KernelReport, Report, Switched, TestedBy, Verdict, FORMAT,
};
use userspace_tests::devices::{Device, NodeFacts};

/// What `build` needs besides the table and the results.
pub struct Context {
    pub kernel_release: String,
    pub package: String,
    pub board: Board,
    pub seconds: u64,
    pub tester: Option<String>,
    pub unreadable_nodes: Vec<String>,
    pub kernel_checkers: Vec<String>,
    /// The run stands the virtual drivers in for the hardware (CI): only
    /// then do they get Tested-by blocks, marked not for posting.
    pub stand_ins: bool,
}

use landing_model::ontarget::count;

/// The `kernel_log` kinds a kernel reports only when built with their
/// checker: the kind, the file that shows the checker runs, and what that
/// file must read (`None`: that it exists is enough).
pub const CHECKERS: &[(&str, &str, Option<&str>)] = &[
    ("lockdep", "/proc/lockdep", None),
    ("kmemleak", "/sys/kernel/debug/kmemleak", None),
    // CONFIG_RCU_STALL_COMMON's module parameter; 1 silences every report.
    (
        "rcu-stall",
        "/sys/module/rcupdate/parameters/rcu_cpu_stall_suppress",
        Some("0"),
    ),
    // 1 only where kernel/watchdog.c's hard-lockup detector is built in,
    // could start (an NMI or a buddy CPU) and is not turned off.
    ("hard-lockup", "/proc/sys/kernel/nmi_watchdog", Some("1")),
];

fn check_of((name, outcome): &Ran) -> Check {
    let (status, reason) = match outcome {
        Outcome::Pass => ("pass", String::new()),
        Outcome::Skip(r) => ("skip", r.clone()),
        Outcome::Fail(c, r) => ("fail", format!("[{c}] {r}")),
    };
    Check {
        name: name.clone(),
        status: status.into(),
        reason,
    }
}

pub fn build(
    table: &[Device],
    nodes: &[NodeFacts],
    ran: &[Ran],
    optins: Vec<Switched>,
    kernel_reports: Vec<KernelReport>,
    cx: Context,
) -> Report {
    let prefix_of = |name: &str| name.split_once('/').map_or(name, |(d, _)| d).to_string();
    let mut devices = Vec::new();
    for d in table {
        let found: Vec<String> = nodes
            .iter()
            .filter(|n| d.matches(n))
            .map(|n| format!("{} ({}, {})", n.path.display(), n.card, n.bus_info))
            .collect();
        let checks: Vec<Check> = ran
            .iter()
            .filter(|r| d.cases.as_deref() == Some(prefix_of(&r.0).as_str()))
            .map(check_of)
            .collect();
        let verdict = if found.is_empty() {
            Verdict::Absent
        } else if checks.is_empty() {
            Verdict::NotDriven
        } else if count(&checks, "fail") > 0 {
            Verdict::Failed
        } else if count(&checks, "pass") == checks.len() {
            Verdict::Passed
        } else {
            Verdict::Skipped
        };
        devices.push(DeviceResult {
            name: d.name.clone(),
            driver: d.driver.clone(),
            stands_in_for: d.stands_in_for.clone(),
            nodes: found,
            checks,
            verdict,
        });
    }
    let kernel_wide: Vec<Check> = ran
        .iter()
        .filter(|r| {
            !table
                .iter()
                .any(|d| d.cases.as_deref() == Some(prefix_of(&r.0).as_str()))
        })
        .map(check_of)
        .collect();
    let mut report = Report {
        format: FORMAT,
        kernel_release: cx.kernel_release,
        package: cx.package,
        board: cx.board,
        seconds: cx.seconds,
        devices,
        kernel_wide,
        optins,
        kernel_checkers: cx.kernel_checkers,
        kernel_reports,
        unreadable_nodes: cx.unreadable_nodes,
        tested_by: Vec::new(),
    };
    report.tested_by = table
        .iter()
        .zip(&report.devices)
        .filter(|(d, r)| (cx.stand_ins || !d.is_stand_in()) && deserves_tested_by(d, r, &report))
        .map(|(d, r)| tested_by(d, r, &report, cx.tester.as_deref()))
        .collect();
    report
}

fn deserves_tested_by(d: &Device, r: &DeviceResult, report: &Report) -> bool {
    let optin_on = d.optin.as_ref().map_or(true, |o| {
        report.optins.iter().any(|s| &s.driver == o && s.on)
    });
    r.verdict == Verdict::Passed
        && count(&report.kernel_wide, "fail") == 0
        && report.kernel_reports.is_empty()
        && optin_on
}

fn tested_by(d: &Device, r: &DeviceResult, report: &Report, tester: Option<&str>) -> TestedBy {
    let board = if report.board.model.is_empty() {
        "no device tree".to_string()
    } else {
        report.board.model.clone()
    };
    let mut summary = format!(
        "{} ({}): {} of {} fence tests passed on {}, {}",
        d.name,
        d.driver,
        r.checks.len(),
        r.checks.len(),
        report.kernel_release,
        board
    );
    if d.is_stand_in() {
        let _ = write!(
            summary,
            "; stands in for {} (CI only, not for posting)",
            d.stands_in_for.join(", ")
        );
    }
    TestedBy {
        device: d.name.clone(),
        stands_in_for: d.stands_in_for.clone(),
        summary,
        line: tester
            .map(|t| format!("Tested-by: {t}"))
            .unwrap_or_default(),
    }
}

/// The report as report.txt holds it (and the run prints).
pub fn text(report: &Report) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "fresnel-ontarget report (format {})", report.format);
    let _ = writeln!(t, "  kernel:  {}", report.kernel_release);
    let _ = writeln!(t, "  package: {}", report.package);
    let _ = writeln!(
        t,
        "  board:   {} [{}]",
        if report.board.model.is_empty() {
            "(no device tree)"
        } else {
            &report.board.model
        },
        report.board.compatible.join(", ")
    );
    let _ = writeln!(t, "  took:    {} s", report.seconds);
    let _ = writeln!(t, "devices:");
    for d in &report.devices {
        let role = if d.stands_in_for.is_empty() {
            String::new()
        } else {
            format!(" [stands in for {}]", d.stands_in_for.join(", "))
        };
        let _ = writeln!(
            t,
            "  {:<16} {:<10} {}/{} passed{}",
            d.name,
            d.verdict.as_str(),
            count(&d.checks, "pass"),
            d.checks.len(),
            role
        );
        for n in &d.nodes {
            let _ = writeln!(t, "      node {n}");
        }
        for c in d.checks.iter().filter(|c| c.status != "pass") {
            let _ = writeln!(t, "      {} {}: {}", c.status, c.name, c.reason);
        }
    }
    let _ = writeln!(
        t,
        "kernel-wide tests: {} passed, {} failed, {} skipped",
        count(&report.kernel_wide, "pass"),
        count(&report.kernel_wide, "fail"),
        count(&report.kernel_wide, "skip")
    );
    for c in report.kernel_wide.iter().filter(|c| c.status == "fail") {
        let _ = writeln!(t, "      fail {}: {}", c.name, c.reason);
    }
    let _ = writeln!(t, "opt-ins:");
    for s in &report.optins {
        let what = match &s.before {
            None => "no such parameter (module not loaded, or without the package's patch), \
                     not switched"
                .to_string(),
            Some(b) => format!(
                "{b} -> {} -> {}",
                if s.on { "Y" } else { "switch failed" },
                if s.restored {
                    format!("restored {b}")
                } else {
                    "NOT restored".into()
                }
            ),
        };
        let _ = writeln!(t, "  {:<8} {} ({})", s.driver, what, s.path);
    }
    if report.kernel_reports.is_empty() {
        let kinds: Vec<&str> = landing_model::kernel_log::KINDS
            .iter()
            .copied()
            .filter(|k| {
                !CHECKERS.iter().any(|(c, _, _)| c == k)
                    || report.kernel_checkers.iter().any(|c| c == k)
            })
            .collect();
        let _ = writeln!(
            t,
            "kernel log: no report during the run (this kernel reports {})",
            kinds.join(", ")
        );
    } else {
        let _ = writeln!(
            t,
            "kernel log: {} report(s) during the run:",
            report.kernel_reports.len()
        );
        for k in &report.kernel_reports {
            let _ = writeln!(t, "  {}:", k.what);
            for l in k.excerpt.lines() {
                let _ = writeln!(t, "    {l}");
            }
        }
    }
    for u in &report.unreadable_nodes {
        let _ = writeln!(t, "could not open {u}");
    }
    if report.tested_by.is_empty() {
        let _ = writeln!(t, "Tested-by: none earned (see above)");
    }
    for b in &report.tested_by {
        let _ = writeln!(t, "Tested-by for {}:", b.device);
        let _ = writeln!(t, "  {}", b.summary);
        if b.line.is_empty() {
            let _ = writeln!(t, "  (pass --tester 'Name <email>' for the tag line)");
        } else {
            let _ = writeln!(t, "  {}", b.line);
        }
    }
    let _ = writeln!(
        t,
        "result: {}",
        if report.passed() { "passed" } else { "FAILED" }
    );
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use userspace_tests::devices::{parse, TABLE};
    use userspace_tests::verdict::Category;

    fn nodes() -> Vec<NodeFacts> {
        let n = |driver: &str, out: &[u8; 4], cap: &[u8; 4], name: &str| NodeFacts {
            path: format!("/dev/video-{name}").into(),
            driver: driver.into(),
            m2m: true,
            name: Some(name.into()),
            out_formats: vec![*out],
            cap_formats: vec![*cap],
            ..NodeFacts::default()
        };
        vec![
            n("vim2m", b"RGB3", b"RGB3", "vim2m"),
            n("vicodec", b"YU12", b"FWHT", "stateful-encoder"),
            n("visl", b"VP8F", b"NV12", "visl"),
        ]
    }

    fn ran(fail: Option<&str>) -> Vec<Ran> {
        [
            "vim2m/a",
            "vim2m/b",
            "vicodec/a",
            "visl/a",
            "vivid/a",
            "oracle/bufinfo",
        ]
        .iter()
        .map(|n| {
            let o = if Some(*n) == fail {
                Outcome::Fail(Category::NoFence, "idle".into())
            } else {
                Outcome::Pass
            };
            (n.to_string(), o)
        })
        .collect()
    }

    fn cx() -> Context {
        Context {
            kernel_release: "7.2.13-1-fresnel-fourier".into(),
            package: "linux-fresnel-fourier 7.2.13-6".into(),
            board: Board::default(),
            seconds: 1,
            tester: Some("Jane Dev <jane@example.org>".into()),
            unreadable_nodes: vec![],
            kernel_checkers: vec!["lockdep".into()],
            stand_ins: true,
        }
    }

    fn names(r: &Report) -> Vec<&str> {
        r.tested_by.iter().map(|b| b.device.as_str()).collect()
    }

    #[test]
    fn every_passing_stand_in_earns_a_block_and_absent_hardware_none() {
        let table = parse(TABLE).unwrap();
        let r = build(&table, &nodes(), &ran(None), vec![], vec![], cx());
        assert_eq!(names(&r), ["vim2m", "vicodec", "visl"]);
        assert!(r.passed());
        let rga = r.devices.iter().find(|d| d.name == "rga").unwrap();
        assert_eq!(rga.verdict, Verdict::Absent);
        assert_eq!(
            r.kernel_wide.len(),
            2,
            "vivid and the oracle are the kernel's"
        );
        assert!(r.tested_by[0].summary.contains("not for posting"));
        assert_eq!(
            r.tested_by[0].line,
            "Tested-by: Jane Dev <jane@example.org>"
        );
        assert!(text(&r).contains("result: passed"));
        assert!(
            text(&r)
                .contains("this kernel reports WARN, BUG, Oops, panic, lockdep, hung-task, UBSAN)"),
            "kmemleak is not among the fixture's checkers"
        );
    }

    /// What the control kernel shows: fence tests fail, nobody earns a tag.
    #[test]
    fn a_failing_test_takes_its_device_block_and_a_kernel_wide_one_takes_all() {
        let table = parse(TABLE).unwrap();
        let r = build(
            &table,
            &nodes(),
            &ran(Some("vim2m/b")),
            vec![],
            vec![],
            cx(),
        );
        assert_eq!(names(&r), ["vicodec", "visl"]);
        assert!(!r.passed());
        let r = build(
            &table,
            &nodes(),
            &ran(Some("vivid/a")),
            vec![],
            vec![],
            cx(),
        );
        assert!(names(&r).is_empty() && !r.passed());
        let warn = KernelReport {
            what: "WARN".into(),
            excerpt: "WARNING: at x".into(),
        };
        let r = build(&table, &nodes(), &ran(None), vec![], vec![warn], cx());
        assert!(names(&r).is_empty() && !r.passed());
        assert!(text(&r).contains("result: FAILED"));
    }

    /// On the laptop (not --expect stand-ins) the virtual drivers earn no
    /// block, and a run in which no device test passed did not pass.
    #[test]
    fn a_hardware_run_gives_stand_ins_no_block_and_nothing_tested_fails() {
        let table = parse(TABLE).unwrap();
        let mut c = cx();
        c.stand_ins = false;
        let r = build(&table, &nodes(), &ran(None), vec![], vec![], c);
        assert!(names(&r).is_empty() && r.passed());
        let skipped: Vec<Ran> = ran(None)
            .into_iter()
            .map(|(n, _)| (n, Outcome::Skip("modprobe vim2m".into())))
            .collect();
        let r = build(&table, &nodes(), &skipped, vec![], vec![], cx());
        assert!(!r.passed() && text(&r).contains("result: FAILED"));
    }

    /// A hardware row earns its block only with its opt-in switched on.
    #[test]
    fn hardware_needs_its_optin_on() {
        let table = parse("rga rockchip-rga m2m vim2m - rga\n").unwrap();
        let mut n = nodes();
        n[0].driver = "rockchip-rga".into();
        let switched = |on| Switched {
            driver: "rga".into(),
            path: "/sys/module/rockchip_rga/parameters/publish_fences".into(),
            before: Some("N".into()),
            on,
            restored: true,
        };
        let r = build(&table, &n, &ran(None), vec![switched(false)], vec![], cx());
        assert!(names(&r).is_empty(), "{:?}", names(&r));
        let r = build(&table, &n, &ran(None), vec![switched(true)], vec![], cx());
        assert_eq!(names(&r), ["rga"]);
        assert!(!r.tested_by[0].summary.contains("not for posting"));
    }
}
