//! linux-media's regression sequence for the virtual drivers, v4l-utils'
//! `contrib/test/test-media`, as the rig runs it: the stages named
//! `test-media-*` (vm/stages/test-media.sh), added up per kernel the way
//! test-media's "Final Summary" adds up its v4l2-compliance totals and its
//! vicodec comparisons. The patched kernel must end with no failure and with
//! no fewer successes than the control kernel.

use super::{check, Check, Outcome};
use crate::compliance;
use crate::results_log::GuestRun;
use crate::stages_list::{Kernel, StageSpec, Verdict};
use crate::suite_output::{self, Counts};

/// The name prefix that puts a stage in the sequence.
pub const STAGE_PREFIX: &str = "test-media-";

/// test-media's "Final Summary" of one kernel, and where it failed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub total: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub warnings: u32,
    /// "stage: node or test: what failed", one per failing total.
    pub failures: Vec<String>,
}

impl Summary {
    fn add_compliance(&mut self, stage: &str, output: &str) {
        for d in compliance::parse(output) {
            self.total += d.total;
            self.succeeded += d.succeeded;
            self.failed += d.failed;
            self.warnings += d.warnings;
            if d.failed != 0 {
                self.failures.push(format!(
                    "{stage}: {}: failed {:?}",
                    d.device, d.failed_tests
                ));
            }
        }
    }

    fn add_tests(&mut self, stage: &str, output: &str) {
        let results = suite_output::parse(output);
        let counts = Counts::of(&results);
        let count = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.total += count(results.len());
        self.succeeded += count(counts.passed);
        self.failed += count(counts.failed + counts.skipped);
        for r in results
            .iter()
            .filter(|r| r.status != suite_output::Status::Pass)
        {
            self.failures
                .push(format!("{stage}: {}: {}", r.name, r.why()));
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Final Summary: {}, Succeeded: {}, Failed: {}, Warnings: {}",
            self.total, self.succeeded, self.failed, self.warnings
        )
    }
}

/// The sequence's stages in the table, in order.
pub fn stages(stages: &[StageSpec]) -> impl Iterator<Item = &StageSpec> {
    stages.iter().filter(|s| s.name.starts_with(STAGE_PREFIX))
}

/// One kernel's summary over the sequence's stages it ran; None when the
/// table has no such stage.
pub fn summary(run: &GuestRun, specs: &[StageSpec]) -> Option<Summary> {
    let mut listed = stages(specs).peekable();
    listed.peek()?;
    let mut sum = Summary::default();
    for spec in listed {
        let Some(stage) = run.stage(&spec.name) else {
            continue;
        };
        match spec.verdict {
            Verdict::Compliance => sum.add_compliance(&spec.name, &stage.output),
            Verdict::Tests => sum.add_tests(&spec.name, &stage.output),
            _ => {}
        }
    }
    Some(sum)
}

/// The verdict line of the control kernel's sequence: it ran. Its failures
/// are the base the patched kernel is compared with (info lines print
/// them); one that the patched kernel shares fails the patched line.
pub fn control_check(control: &Summary) -> Check {
    let outcome = if control.total == 0 {
        Outcome::Fail("no test of the sequence ran on the control kernel".to_string())
    } else {
        Outcome::Pass
    };
    check(format!("{}/test-media-sequence", Kernel::Control), outcome)
}

/// The verdict line of the patched kernel's sequence: nothing failed, and
/// nothing that succeeded on the control kernel is missing. The control
/// kernel's own failures are shown beside it, not judged: it is the base.
pub fn patched_check(patched: &Summary, control: Option<&Summary>) -> Check {
    let mut problems = Vec::new();
    if patched.total == 0 {
        problems.push("no test of the sequence ran on the patched kernel".to_string());
    }
    if patched.failed != 0 {
        problems.push(format!(
            "{} failed on the patched kernel:\n{}",
            patched.failed,
            patched.failures.join("\n")
        ));
    }
    if let Some(c) = control {
        if patched.succeeded < c.succeeded {
            problems.push(format!(
                "{} succeeded on the patched kernel, {} on the control kernel",
                patched.succeeded, c.succeeded
            ));
        }
    }
    let outcome = if problems.is_empty() {
        Outcome::Pass
    } else {
        Outcome::Fail(format!("{patched}; {}", problems.join("; ")))
    };
    check(format!("{}/test-media-sequence", Kernel::Patched), outcome)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages_list;
    use std::collections::BTreeSet;

    const STAGES: &str = "\
suite                    900 both compliance /usr/bin/fence-suite
test-media-vim2m         900 both compliance /usr/libexec/fresnel/test-media.sh vim2m-compliance
test-media-vicodec-decode 600 both tests     /usr/libexec/fresnel/test-media.sh vicodec-decode
test-media-vim2m-unbind  300 both log        /usr/libexec/fresnel/test-media.sh vim2m-unbind
";

    fn guest(vim2m: &str, decode: &str) -> GuestRun {
        GuestRun::parse(&format!(
            "@@FRESNEL KIND patched 7.2.13\n\
             @@FRESNEL BEGIN suite\nTotal for other device /dev/video9: 5, Succeeded: 0, Failed: 5, Warnings: 0\n\
             @@FRESNEL END suite rc=1 seconds=1\n\
             @@FRESNEL BEGIN test-media-vim2m\n{vim2m}@@FRESNEL END test-media-vim2m rc=0 seconds=1\n\
             @@FRESNEL BEGIN test-media-vicodec-decode\n{decode}@@FRESNEL END test-media-vicodec-decode rc=0 seconds=1\n\
             @@FRESNEL DONE\n"
        ))
    }

    const VIM2M_OK: &str =
        "Total for vim2m device /dev/media0: 8, Succeeded: 8, Failed: 0, Warnings: 0\n\
        Total for vim2m device /dev/video0: 60, Succeeded: 60, Failed: 0, Warnings: 1\n";
    const DECODE_OK: &str = "PASS vicodec/stateless-decode\n1 passed, 0 failed, 0 skipped\n";

    fn sum(g: &GuestRun) -> Summary {
        let specs = stages_list::parse(STAGES).expect("stages");
        summary(g, &specs).expect("the table lists test-media stages")
    }

    #[test]
    fn adds_up_only_the_sequence_as_test_media_does() {
        let s = sum(&guest(VIM2M_OK, DECODE_OK));
        assert_eq!(
            s.to_string(),
            "Final Summary: 69, Succeeded: 69, Failed: 0, Warnings: 1"
        );
        assert_eq!(patched_check(&s, Some(&s)).outcome, Outcome::Pass, "{s:?}");
    }

    #[test]
    fn a_failure_or_a_missing_success_fails_the_patched_kernel() {
        let control = sum(&guest(VIM2M_OK, DECODE_OK));
        let failed = sum(&guest(
            &VIM2M_OK.replace(
                "60, Succeeded: 60, Failed: 0",
                "60, Succeeded: 59, Failed: 1",
            ),
            "FAIL vicodec/stateless-decode: frames differ\n0 passed, 1 failed, 0 skipped\n",
        ));
        let Outcome::Fail(why) = patched_check(&failed, Some(&control)).outcome else {
            panic!("a failed sequence passed");
        };
        assert!(why.contains("2 failed on the patched kernel"), "{why}");
        assert!(
            why.contains("test-media-vim2m: vim2m device /dev/video0"),
            "{why}"
        );
        assert!(
            why.contains("test-media-vicodec-decode: vicodec/stateless-decode"),
            "{why}"
        );
        assert!(
            why.contains("67 succeeded on the patched kernel, 69 on the control"),
            "{why}"
        );
        // The control kernel failing what the patched one passes is fine.
        assert_eq!(
            patched_check(&control, Some(&failed)).outcome,
            Outcome::Pass
        );
    }

    /// README.md's map of test-media to the rig names exactly the
    /// sequence's stages of vm/stages.list, and those run every step of
    /// vm/stages/test-media.sh.
    #[test]
    fn the_readme_map_and_the_script_match_the_stage_table() {
        let table = include_str!("../../../vm/stages.list");
        let specs = stages_list::parse(table).expect("stages");
        let listed: Vec<&str> = stages(&specs).map(|s| s.name.as_str()).collect();
        // The map's second column, in the map's order.
        let readme = include_str!("../../../README.md");
        let mapped: Vec<&str> = readme
            .lines()
            .filter_map(|l| l.split('|').nth(2))
            .map(|cell| cell.trim().trim_matches('`'))
            .filter(|name| name.starts_with(STAGE_PREFIX))
            .collect();
        assert_eq!(
            mapped, listed,
            "README.md's test-media table against vm/stages.list"
        );
        // Every step the script knows is run, and no stage names another.
        let script = include_str!("../../../vm/stages/test-media.sh");
        let steps: BTreeSet<&str> = script
            .lines()
            .filter_map(|l| l.strip_suffix(')'))
            .filter(|l| !l.starts_with(['\t', ' ', '#']) && *l != "*")
            .collect();
        let run: BTreeSet<&str> = table
            .lines()
            .filter_map(|l| l.split_once("/test-media.sh "))
            .map(|(_, step)| step.trim())
            .collect();
        assert_eq!(
            steps, run,
            "vm/stages/test-media.sh's steps against vm/stages.list"
        );
    }

    #[test]
    fn each_kernel_has_a_line_and_an_empty_run_fails_it() {
        let ran = sum(&guest(VIM2M_OK, DECODE_OK));
        assert_eq!(control_check(&ran).outcome, Outcome::Pass);
        let empty = Summary::default();
        assert!(matches!(control_check(&empty).outcome, Outcome::Fail(_)));
        assert!(matches!(
            patched_check(&empty, None).outcome,
            Outcome::Fail(ref why) if why.contains("no test of the sequence ran")
        ));
    }

    #[test]
    fn no_sequence_in_the_table_no_summary() {
        let specs =
            stages_list::parse("suite 900 both cases /usr/bin/fence-suite\n").expect("stages");
        assert!(summary(&guest(VIM2M_OK, DECODE_OK), &specs).is_none());
    }
}
