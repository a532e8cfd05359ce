//! The test runner: selects tests as libtest does (libtest-mimic's
//! arguments), runs each one in a forked child under a watchdog, and prints
//! one line per test in the format the rig parses (docs/interfaces.md):
//!
//! ```text
//! PASS <name>
//! SKIP <name>: <reason>
//! FAIL <name> [<category>]: <reason>
//! <P> passed, <F> failed, <S> skipped
//! ```
//!
//! It knows nothing about V4L2: a test is a name, a time limit and a
//! function of a context `C` that the caller builds once, before the first
//! fork.

pub mod interrupt;
mod isolate;
mod select;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

pub use libtest_mimic::Arguments;
pub use select::{parse_args, Selection};

use crate::verdict::{Category, Outcome};

/// How long a test may run unless it says otherwise.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(90);
/// How long a child gets to die after SIGKILL before it is left behind.
pub const KILL_GRACE: Duration = Duration::from_secs(5);

type TestFn<C> = Box<dyn Fn(&C) -> Outcome>;

/// One test: its name, its time limit, whether it is ignored unless asked
/// for (libtest's `#[ignore]`), and its body.
pub struct Test<C> {
    pub name: String,
    pub limit: Duration,
    pub ignored: bool,
    run: TestFn<C>,
}

impl<C> Test<C> {
    pub fn new(name: impl Into<String>, run: impl Fn(&C) -> Outcome + 'static) -> Self {
        Self {
            name: name.into(),
            limit: DEFAULT_LIMIT,
            ignored: false,
            run: Box::new(run),
        }
    }

    /// A longer (or shorter) limit than `DEFAULT_LIMIT`.
    pub fn limit(mut self, limit: Duration) -> Self {
        self.limit = limit;
        self
    }

    pub fn ignored(mut self, ignored: bool) -> Self {
        self.ignored = ignored;
        self
    }
}

/// What the run needs before its first test: the context every test gets,
/// and informational lines printed before the results (not test results).
pub struct Setup<C> {
    pub context: C,
    pub notes: Vec<String>,
}

/// Counts of the printed result lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// The signal that stopped the run early (`interrupt`), if one did.
    pub interrupted: Option<i32>,
}

/// The summary line the rig reads last (docs/interfaces.md).
impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

/// One printed result: the test's name and its outcome.
pub type Ran = (String, Outcome);

impl Summary {
    pub fn exit_code(&self) -> ExitCode {
        if self.failed == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}

/// Knobs of a run; the defaults are the suite's.
pub struct Runner {
    pub kill_grace: Duration,
    /// Printed when every selected test is ignored (how to run them).
    pub ignored_hint: String,
}

impl Default for Runner {
    fn default() -> Self {
        Self {
            kill_grace: KILL_GRACE,
            ignored_hint: "pass --include-ignored to run them".into(),
        }
    }
}

/// The line the rig parses for one result.
pub fn result_line(name: &str, outcome: &Outcome) -> String {
    match outcome {
        Outcome::Pass => format!("PASS {name}"),
        Outcome::Skip(r) => format!("SKIP {name}: {}", one_line(r)),
        Outcome::Fail(c, r) => format!("FAIL {name} [{c}]: {}", one_line(r)),
    }
}

fn one_line(s: &str) -> String {
    s.replace('\n', " | ")
}

impl Runner {
    /// `--list`, or run the selected tests; returns the counts of a run
    /// (zero for a listing). `setup` is called only when a test will run.
    pub fn main<C>(
        &self,
        args: &Arguments,
        tests: Vec<Test<C>>,
        setup: impl FnOnce() -> Setup<C>,
        out: &mut dyn Write,
    ) -> Summary {
        let selection = Selection::new(args, tests);
        if args.list {
            // A closed pipe (`--list | head`) is not worth a panic.
            let _ = selection.list(args, out);
            return Summary::default();
        }
        self.run(selection, setup, out).0
    }

    /// Runs every test of `tests` (none ignored), printing as `main` does;
    /// returns the counts and each outcome, for a caller that reports on
    /// them (the on-target run).
    pub fn run_all<C>(
        &self,
        tests: Vec<Test<C>>,
        setup: impl FnOnce() -> Setup<C>,
        out: &mut dyn Write,
    ) -> (Summary, Vec<Ran>) {
        let tests = tests.into_iter().map(|t| t.ignored(false)).collect();
        let selection = Selection::new(&Arguments::default(), tests);
        self.run(selection, setup, out)
    }

    fn run<C>(
        &self,
        selection: Selection<C>,
        setup: impl FnOnce() -> Setup<C>,
        out: &mut dyn Write,
    ) -> (Summary, Vec<Ran>) {
        let mut summary = Summary::default();
        let mut ran = Vec::new();
        if let Some(name) = &selection.unknown_exact {
            let outcome = Outcome::Fail(
                Category::Error,
                "--exact names no test of the table (--list shows them)".into(),
            );
            summary.failed += 1;
            let _ = writeln!(out, "{}", result_line(name, &outcome));
            ran.push((name.clone(), outcome));
        }
        if selection.ignored > 0 {
            let _ = writeln!(
                out,
                "note: {} ignored test(s) not run: {}",
                selection.ignored, self.ignored_hint
            );
        }
        if !selection.to_run.is_empty() {
            let setup = setup();
            for n in &setup.notes {
                let _ = writeln!(out, "note: {}", one_line(n));
            }
            for t in &selection.to_run {
                // Flushed before the fork, so that nothing buffered here
                // is written twice.
                let _ = out.flush();
                let outcome =
                    isolate::run_in_child(&*t.run, &setup.context, t.limit, self.kill_grace);
                match outcome {
                    Outcome::Pass => summary.passed += 1,
                    Outcome::Skip(_) => summary.skipped += 1,
                    Outcome::Fail(..) => summary.failed += 1,
                }
                let _ = writeln!(out, "{}", result_line(&t.name, &outcome));
                ran.push((t.name.clone(), outcome));
                if let Some(sig) = interrupt::requested() {
                    let _ = writeln!(
                        out,
                        "note: stopped by signal {sig}: {} test(s) not run",
                        selection.to_run.len() - ran.len()
                    );
                    summary.interrupted = Some(sig);
                    break;
                }
            }
        }
        let _ = writeln!(out, "{summary}");
        let _ = out.flush();
        (summary, ran)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::missing;

    fn args(a: &[&str]) -> Arguments {
        let mut v = vec!["fence-suite"];
        v.extend_from_slice(a);
        parse_args(v).expect("valid arguments")
    }

    fn run_table(a: &[&str], tests: Vec<Test<u32>>) -> (Summary, Vec<String>) {
        run_with_notes(a, tests, vec![])
    }

    fn run_with_notes(
        a: &[&str],
        tests: Vec<Test<u32>>,
        notes: Vec<String>,
    ) -> (Summary, Vec<String>) {
        let runner = Runner {
            kill_grace: Duration::from_secs(2),
            ..Runner::default()
        };
        let mut out = Vec::new();
        let s = runner.main(&args(a), tests, || Setup { context: 7, notes }, &mut out);
        let text = String::from_utf8(out).expect("utf-8 output");
        (s, text.lines().map(str::to_string).collect())
    }

    /// `run_all` runs the ignored tests too and hands back each outcome,
    /// in order, as well as printing it.
    #[test]
    fn run_all_returns_every_outcome_in_order() {
        let tests = vec![
            Test::new("a/pass", |_: &u32| Outcome::Pass).ignored(true),
            Test::new("a/fail", |c: &u32| {
                Outcome::of(Err(missing(format!("ctx {c}"))))
            }),
        ];
        let mut out = Vec::new();
        let (s, ran) = Runner::default().run_all(
            tests,
            || Setup {
                context: 7,
                notes: vec![],
            },
            &mut out,
        );
        assert_eq!((s.passed, s.failed), (1, 1));
        assert_eq!(ran[0], ("a/pass".to_string(), Outcome::Pass));
        assert!(matches!(&ran[1], (n, Outcome::Fail(_, r)) if n == "a/fail" && r == "ctx 7"));
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("1 passed, 1 failed, 0 skipped\n"), "{text}");
    }

    /// A test that panics costs one FAIL [panic]; the next still runs, a
    /// hang costs one FAIL [timeout], and the summary comes last.
    #[test]
    fn isolates_panics_and_hangs() {
        let short = Duration::from_millis(500);
        let tests = vec![
            Test::new("t/pass", |c: &u32| {
                assert_eq!(*c, 7, "the context reaches the child");
                Outcome::Pass
            }),
            Test::new("t/panic", |_: &u32| panic!("boom {}", 42)),
            Test::new("t/after_panic", |_: &u32| Outcome::Pass),
            Test::new("t/hang", |_: &u32| loop {
                std::thread::sleep(Duration::from_secs(1));
            })
            .limit(short),
            Test::new("t/skip", |_: &u32| Outcome::Skip("modprobe x".into())),
            Test::new("t/no_fence", |_: &u32| {
                Outcome::of(Err(
                    missing("poll says idle").context("CAPTURE export #0 while the job runs")
                ))
            }),
            Test::new("t/exit", |_: &u32| std::process::exit(3)),
        ];
        let notes = vec!["rkvdec present, not driven".to_string()];
        let (s, lines) = run_with_notes(&[], tests, notes);
        assert_eq!(lines[0], "note: rkvdec present, not driven");
        assert_eq!(lines[1], "PASS t/pass");
        assert!(
            lines[2].starts_with("FAIL t/panic [panic]: boom 42 (at src/runner.rs:"),
            "{}",
            lines[2]
        );
        assert_eq!(lines[3], "PASS t/after_panic");
        assert_eq!(
            lines[4],
            "FAIL t/hang [timeout]: no result within its limit of 0.5 s; killed with SIGKILL"
        );
        assert_eq!(lines[5], "SKIP t/skip: modprobe x");
        assert_eq!(
            lines[6],
            "FAIL t/no_fence [no-fence]: CAPTURE export #0 while the job runs: poll says idle"
        );
        assert_eq!(
            lines[7],
            "FAIL t/exit [error]: the test process exited with status 3 without a result"
        );
        assert_eq!(lines[8], "2 passed, 4 failed, 1 skipped");
        assert_eq!(lines.len(), 9);
        assert_eq!(
            s,
            Summary {
                passed: 2,
                failed: 4,
                skipped: 1,
                interrupted: None,
            }
        );
        assert_eq!(s.exit_code(), ExitCode::FAILURE);
    }

    fn names() -> Vec<Test<u32>> {
        ["vim2m/expbuf_before_qbuf", "vim2m/expbuf", "visl/expbuf"]
            .into_iter()
            .map(|n| Test::new(n, |_: &u32| Outcome::Pass))
            .collect()
    }

    #[test]
    fn skip_exact_and_filters() {
        let (_, l) = run_table(&["--skip", "visl"], names());
        assert_eq!(
            l[..2],
            ["PASS vim2m/expbuf_before_qbuf", "PASS vim2m/expbuf"]
        );
        let (_, l) = run_table(&["--exact", "vim2m/expbuf"], names());
        assert_eq!(
            l[..2],
            ["PASS vim2m/expbuf", "1 passed, 0 failed, 0 skipped"]
        );
        let (_, l) = run_table(&["expbuf_before"], names());
        assert_eq!(l[..1], ["PASS vim2m/expbuf_before_qbuf"]);
        let (_, l) = run_table(
            &["--exact", "--skip", "vim2m/expbuf", "vim2m/expbuf"],
            names(),
        );
        assert_eq!(l, ["0 passed, 0 failed, 0 skipped"]);
        // A name --exact cannot find fails the run (a stage naming one test).
        let (s, l) = run_table(&["--exact", "vim2m/no_such_test"], names());
        assert_eq!(
            l,
            [
                "FAIL vim2m/no_such_test [error]: --exact names no test of the table (--list shows them)",
                "0 passed, 1 failed, 0 skipped"
            ]
        );
        assert_eq!(s.exit_code(), ExitCode::FAILURE);
        let (_, l) = run_table(&["--skip", "vim2m", "--skip", "visl"], names());
        assert_eq!(l, ["0 passed, 0 failed, 0 skipped"]);
    }

    #[test]
    fn list_in_libtest_format() {
        let (s, l) = run_table(&["--list", "--skip", "visl"], names());
        assert_eq!(
            l,
            [
                "vim2m/expbuf_before_qbuf: test",
                "vim2m/expbuf: test",
                "",
                "2 tests, 0 benchmarks"
            ]
        );
        assert_eq!(s, Summary::default());
        let (_, l) = run_table(
            &["--list", "--format", "terse", "--exact", "visl/expbuf"],
            names(),
        );
        assert_eq!(l, ["visl/expbuf: test"]);
    }

    #[test]
    fn ignored_tests() {
        let table = || {
            let mut t = names();
            t[2].ignored = true;
            t
        };
        let (_, l) = run_table(&[], table());
        assert_eq!(
            l,
            [
                "note: 1 ignored test(s) not run: pass --include-ignored to run them",
                "PASS vim2m/expbuf_before_qbuf",
                "PASS vim2m/expbuf",
                "2 passed, 0 failed, 0 skipped"
            ]
        );
        let (_, l) = run_table(&["--ignored"], table());
        assert_eq!(l, ["PASS visl/expbuf", "1 passed, 0 failed, 0 skipped"]);
        let (s, _) = run_table(&["--include-ignored"], table());
        assert_eq!(s.passed, 3);
        let (_, l) = run_table(&["--list", "--format", "terse", "--ignored"], table());
        assert_eq!(l, ["visl/expbuf: test"]);
        let (_, l) = run_table(&["--list", "--format", "terse"], table());
        assert_eq!(l.len(), 3, "--list shows ignored tests too, as libtest");
    }

    /// Nothing to run: no setup (no device probing), just the summary.
    #[test]
    fn no_setup_without_tests() {
        let mut out = Vec::new();
        let s = Runner::default().main(
            &args(&["--skip", "/"]),
            names(),
            || -> Setup<u32> { panic!("setup must not run") },
            &mut out,
        );
        assert_eq!(s, Summary::default());
        assert_eq!(out, b"0 passed, 0 failed, 0 skipped\n");
    }

    #[test]
    fn unsupported_arguments_rejected() {
        let e = |a: &[&str]| {
            let mut v = vec!["fence-suite"];
            v.extend_from_slice(a);
            parse_args(v).expect_err("rejected").to_string()
        };
        assert!(e(&["--format", "json"]).contains("json"));
        assert!(e(&["--logfile", "x"]).contains("--logfile"));
        assert!(e(&["--no-such-flag"]).contains("--no-such-flag"));
    }
}
