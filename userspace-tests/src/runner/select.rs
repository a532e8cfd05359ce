//! Which tests a command line selects, with libtest's rules: the filter
//! (substring, or the whole name with `--exact`), `--skip` (the same
//! match, repeatable), `--ignored` / `--include-ignored`; and `--list` in
//! libtest's format (`name: test` lines, which cargo-nextest reads).

use std::io::Write;

use clap::{CommandFactory, FromArgMatches};
use libtest_mimic::{Arguments, FormatSetting};

use super::Test;

const AFTER_HELP: &str = "\
Tests run one at a time, each in its own process under a time limit.
Output: one `PASS <name>`, `SKIP <name>: <reason>` or
`FAIL <name> [<category>]: <reason>` line per test, then
`<P> passed, <F> failed, <S> skipped`; exit status 1 when a test failed.
--format and --quiet only change --list; --nocapture, --show-output,
--test-threads and --color are accepted and change nothing.";

/// Parse a command line (the first item is the program name) with
/// libtest-mimic's arguments; `--help` and a bad argument come back as the
/// clap error to `exit()` with. Rejects what the runner cannot honour
/// rather than ignoring it.
pub fn parse_args<I, T>(argv: I) -> Result<Arguments, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut cmd = Arguments::command().after_help(AFTER_HELP);
    let matches = cmd.try_get_matches_from_mut(argv)?;
    let args = Arguments::from_arg_matches(&matches)?;
    let mut refuse = |what: &str| {
        cmd.error(
            clap::error::ErrorKind::ArgumentConflict,
            format!("{what} is not supported: results are PASS/FAIL/SKIP lines on stdout"),
        )
    };
    if args.format == Some(FormatSetting::Json) {
        return Err(refuse("--format json"));
    }
    if args.logfile.is_some() {
        return Err(refuse("--logfile"));
    }
    Ok(args)
}

/// The tests a command line selects, in table order.
pub struct Selection<C> {
    pub to_run: Vec<Test<C>>,
    /// Tests that matched but are not run because they are ignored.
    pub ignored: usize,
    /// The `--exact` filter, when it names no test of the table: a typo or
    /// a renamed test, which a caller that names one test (a guest stage)
    /// must not take for a run that passed.
    pub unknown_exact: Option<String>,
}

fn matches(args: &Arguments, pattern: &str, name: &str) -> bool {
    if args.exact {
        name == pattern
    } else {
        name.contains(pattern)
    }
}

impl<C> Selection<C> {
    pub fn new(args: &Arguments, tests: Vec<Test<C>>) -> Self {
        let mut to_run = Vec::new();
        let mut ignored = 0;
        let unknown_exact = args
            .filter
            .as_ref()
            .filter(|f| args.exact && !tests.iter().any(|t| &t.name == *f))
            .cloned();
        for t in tests {
            let wanted = args
                .filter
                .as_deref()
                .map_or(true, |f| matches(args, f, &t.name))
                && !args.skip.iter().any(|s| matches(args, s, &t.name))
                // No benchmarks here: `--bench` selects nothing.
                && !args.bench;
            if !wanted {
                continue;
            }
            let run = if args.ignored {
                t.ignored
            } else {
                args.include_ignored || !t.ignored
            };
            if run || args.list && !args.ignored {
                to_run.push(t);
            } else if t.ignored {
                ignored += 1;
            }
        }
        Self {
            to_run,
            ignored,
            unknown_exact,
        }
    }

    /// libtest's listing: `name: test` per test, and unless terse a blank
    /// line and the count.
    pub fn list(&self, args: &Arguments, out: &mut dyn Write) -> std::io::Result<()> {
        for t in &self.to_run {
            writeln!(out, "{}: test", t.name)?;
        }
        let terse = args.quiet || args.format == Some(FormatSetting::Terse);
        if !terse {
            let n = self.to_run.len();
            let s = if n == 1 { "" } else { "s" };
            writeln!(out, "\n{n} test{s}, 0 benchmarks")?;
        }
        out.flush()
    }
}
