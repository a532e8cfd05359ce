//! The rules for `kunit` stages, which print KUnit's KTAP results: the run
//! is complete (each level reports as many results as its plan announced,
//! and there is at least one case), and every case and suite is `ok`. A
//! `# SKIP` fails, as a skipped suite test does: in the rig the kernel is
//! ours, so a test that did not run points at a broken rig.

use super::{check, Check, Outcome};
use crate::ktap::{self, KtapResult};
use crate::stages_list::Kernel;

/// What is wrong with the KTAP output as a whole (a run that died or was
/// cut short breaks one of these).
pub fn problems(output: &str) -> Vec<String> {
    let k = ktap::parse(output);
    let mut problems = Vec::new();
    if !k.results.iter().any(|r| r.depth >= 1) {
        problems.push("printed no KTAP test case result (`ok <n> <case>` below a suite)".into());
    }
    let deepest = k.plans.iter().map(|p| p.depth).max().unwrap_or(0);
    for depth in 0..=deepest {
        let planned: usize = k
            .plans
            .iter()
            .filter(|p| p.depth == depth)
            .map(|p| p.count)
            .sum();
        let reported = k.results.iter().filter(|r| r.depth == depth).count();
        if planned != reported {
            problems.push(format!(
                "at nesting level {depth} the KTAP plans announce {planned} results, {reported} were reported (did it stop part-way?)"
            ));
        }
    }
    problems
}

fn outcome(r: &KtapResult) -> Outcome {
    match (&r.skip, r.ok) {
        (Some(why), _) => Outcome::Fail(format!(
            "skipped in the rig, where it must run: {}",
            if why.is_empty() {
                "no reason given"
            } else {
                why
            }
        )),
        (None, true) => Outcome::Pass,
        (None, false) => Outcome::Fail(format!(
            "not ok {} (the kernel log has the failed expectations)",
            r.number
        )),
    }
}

/// One check per KTAP result line, named `<kernel>/kunit/<name>`.
pub fn checks(kernel: Kernel, output: &str) -> Vec<Check> {
    ktap::parse(output)
        .results
        .iter()
        .map(|r| check(format!("{kernel}/kunit/{}", r.name), outcome(r)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSED: &str = "KTAP version 1
1..1
    KTAP version 1
    # Subtest: videobuf2-fence
    1..2
    ok 1 vb2_fence_test_publish_and_backoff
    ok 2 vb2_fence_test_reserve_fails
ok 1 videobuf2-fence
";

    #[test]
    fn a_complete_passing_run_gives_passing_checks() {
        assert!(problems(PASSED).is_empty(), "{:?}", problems(PASSED));
        let c = checks(Kernel::Patched, PASSED);
        let names: Vec<&str> = c.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            vec![
                "patched/kunit/vb2_fence_test_publish_and_backoff",
                "patched/kunit/vb2_fence_test_reserve_fails",
                "patched/kunit/videobuf2-fence",
            ]
        );
        assert!(c.iter().all(|c| c.outcome == Outcome::Pass));
    }

    #[test]
    fn failures_skips_and_cut_runs_fail() {
        let failed = PASSED
            .replace("    ok 2", "    not ok 2")
            .replace("ok 1 videobuf2-fence", "not ok 1 videobuf2-fence");
        let c = checks(Kernel::Patched, &failed);
        assert!(matches!(c[1].outcome, Outcome::Fail(_)));
        assert!(matches!(c[2].outcome, Outcome::Fail(_)));
        let skipped = PASSED.replace("reserve_fails", "reserve_fails # SKIP no stub");
        let c = checks(Kernel::Patched, &skipped);
        assert!(matches!(&c[1].outcome, Outcome::Fail(m) if m.contains("no stub")));
        // Cut after the first case: level 1 announced 2, the suite line is
        // missing too.
        let cut: String = PASSED.lines().take(6).map(|l| format!("{l}\n")).collect();
        assert_eq!(problems(&cut).len(), 2, "{:?}", problems(&cut));
        assert_eq!(problems("modprobe: not found\n").len(), 1);
    }
}
