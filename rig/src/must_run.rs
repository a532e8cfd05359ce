//! Parses vm/must-run.list, the results some stages must report (`STAGE
//! NAME` lines; its header says why), and checks a stage's reported
//! results against it: every listed name reported, nothing reported that
//! is not listed.

use std::collections::{BTreeMap, BTreeSet};
use thiserror::Error;

/// The must-run names of each listed stage.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MustRun {
    by_stage: BTreeMap<String, BTreeSet<String>>,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("line {line}: {why}")]
pub struct ParseError {
    pub line: usize,
    pub why: String,
}

pub fn parse(text: &str) -> Result<MustRun, ParseError> {
    let mut out = MustRun::default();
    for (n, line) in crate::table::rows(text) {
        let err = |why: String| ParseError { line: n, why };
        let Some((stage, name)) = line.split_once(char::is_whitespace) else {
            return Err(err("expected `STAGE NAME`".into()));
        };
        let name = name.trim();
        if !out
            .by_stage
            .entry(stage.to_string())
            .or_default()
            .insert(name.to_string())
        {
            return Err(err(format!("{stage} {name} is listed twice")));
        }
    }
    Ok(out)
}

impl MustRun {
    /// Whether the list names results for `stage`.
    pub fn covers(&self, stage: &str) -> bool {
        self.by_stage.contains_key(stage)
    }

    /// What is wrong with the names `stage` reported, one line per name:
    /// listed but not reported, or reported but not listed. Empty for a
    /// stage the list does not cover.
    pub fn problems<'a>(
        &self,
        stage: &str,
        reported: impl IntoIterator<Item = &'a str>,
    ) -> Vec<String> {
        let Some(listed) = self.by_stage.get(stage) else {
            return Vec::new();
        };
        let reported: BTreeSet<&str> = reported.into_iter().collect();
        let missing = listed
            .iter()
            .filter(|n| !reported.contains(n.as_str()))
            .map(|n| format!("{n}: listed in vm/must-run.list, not reported (it did not run)"));
        let unlisted = reported
            .iter()
            .filter(|n| !listed.contains(**n))
            .map(|n| format!("{n}: reported, not listed in vm/must-run.list (add it there)"));
        missing.chain(unlisted).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages_list::{self, Verdict};

    #[test]
    fn missing_and_unlisted_names_are_named() {
        let m = parse("# header\nkunit suite-a\nkunit a case with spaces\n").expect("parses");
        assert!(m
            .problems("kunit", ["suite-a", "a case with spaces"])
            .is_empty());
        let p = m.problems("kunit", ["suite-a", "a new case"]);
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(p[0].starts_with("a case with spaces: listed"), "{p:?}");
        assert!(
            p[1].starts_with("a new case: reported, not listed"),
            "{p:?}"
        );
        assert!(m.problems("suite", ["anything"]).is_empty());
    }

    #[test]
    fn bad_lines_name_their_line() {
        assert_eq!(parse("kunit\n").expect_err("no name").line, 1);
        let e = parse("kunit a\nkunit a\n").expect_err("twice");
        assert_eq!((e.line, e.why.as_str()), (2, "kunit a is listed twice"));
    }

    /// Every KUnit stage and the probe module's checks of the project's
    /// stage tables have their names in the project's list, and the list
    /// names no stage the tables do not run.
    #[test]
    fn the_projects_list_covers_every_kunit_stage_and_kmod_check() {
        let m = parse(include_str!("../../vm/must-run.list")).expect("vm/must-run.list parses");
        let mut staged = BTreeSet::new();
        {
            let table = include_str!("../../vm/stages.list");
            for s in stages_list::parse(table).expect("the stage table parses") {
                if s.verdict == Verdict::Kunit || s.name == "kmod-check" {
                    assert!(
                        m.covers(&s.name),
                        "vm/must-run.list has no line for {}",
                        s.name
                    );
                }
                staged.insert(s.name);
            }
        }
        for stage in m.by_stage.keys() {
            assert!(
                staged.contains(stage),
                "vm/must-run.list names {stage}, which no table runs"
            );
        }
    }
}
