//! Parses vm/stages.list, the guest's stages in run order:
//! `name timeout kernels verdict command...` (its header says what each
//! column and each verdict word means). The initramfs builder packs the
//! stages of one kernel; the judge reads the verdict column.

use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kernel {
    Control,
    Patched,
}

impl Kernel {
    pub fn word(self) -> &'static str {
        match self {
            Kernel::Control => "control",
            Kernel::Patched => "patched",
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// What a stage means to the verdict (the verdict column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `rc`: exit status 0.
    Rc,
    /// `tests`: PASS/FAIL/SKIP lines ending in the summary line, whose
    /// counts match them; exit 0 when nothing failed, else 1.
    Tests,
    /// `cases`: `tests`, and the lines are judged against cases.txt.
    Cases,
    /// `compliance`: v4l2-compliance, compared between the two kernels.
    Compliance,
    /// `log`: kernel log text scanned for reports; exit status 0.
    Log,
    /// `bufinfo`: the dma-buf bufinfo, with no unsignalled fence; exit 0.
    Bufinfo,
    /// `landing-map`: the landing map's JSON; exit 0 (a path that errors
    /// makes it exit non-zero).
    LandingMap,
    /// `watch`: landing-map watch's JSON reports; exit 0; the patched
    /// kernel's show fences armed and no anomaly, the control's nothing.
    Watch,
    /// `bench`: fence-bench's JSON report; exit 0 (1 is a leak); fences
    /// timed on the patched kernel, absent on the control one.
    Bench,
    /// `kunit`: KUnit's KTAP results, complete, every case `ok`; exit 0.
    Kunit,
}

impl Verdict {
    const WORDS: [(&'static str, Verdict); 10] = [
        ("rc", Verdict::Rc),
        ("tests", Verdict::Tests),
        ("cases", Verdict::Cases),
        ("compliance", Verdict::Compliance),
        ("log", Verdict::Log),
        ("bufinfo", Verdict::Bufinfo),
        ("landing-map", Verdict::LandingMap),
        ("watch", Verdict::Watch),
        ("bench", Verdict::Bench),
        ("kunit", Verdict::Kunit),
    ];

    fn from_word(word: &str) -> Option<Self> {
        Self::WORDS
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, v)| *v)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageSpec {
    pub name: String,
    /// The guest timeout, in seconds.
    pub limit: u64,
    /// The kernels whose guest runs it.
    pub kernels: Vec<Kernel>,
    pub verdict: Verdict,
}

impl StageSpec {
    pub fn runs_on(&self, kernel: Kernel) -> bool {
        self.kernels.contains(&kernel)
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StagesError {
    #[error("line {line}: expected `name timeout kernels verdict command...`, found {found:?}")]
    Columns { line: usize, found: String },
    #[error("line {line}: {name}: timeout {word:?} is not a number of seconds above 0")]
    Limit {
        line: usize,
        name: String,
        word: String,
    },
    #[error("line {line}: {name}: kernels {word:?} is not one of both, control, patched")]
    Kernels {
        line: usize,
        name: String,
        word: String,
    },
    #[error("line {line}: {name}: verdict {word:?} is not one of rc, tests, cases, compliance, log, bufinfo, landing-map, watch, bench, kunit")]
    Verdict {
        line: usize,
        name: String,
        word: String,
    },
    #[error("line {line}: {name}: a compliance stage is compared between the kernels, so it must run on both")]
    ComplianceOnOneKernel { line: usize, name: String },
    #[error("line {line}: {name} is already listed on line {first}")]
    Duplicate {
        line: usize,
        name: String,
        first: usize,
    },
}

pub fn parse(text: &str) -> Result<Vec<StageSpec>, StagesError> {
    let mut specs = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = content.split_whitespace().collect();
        let [name, limit, kernels, verdict, _command, ..] = words[..] else {
            return Err(StagesError::Columns {
                line,
                found: content.to_string(),
            });
        };
        let limit =
            limit
                .parse()
                .ok()
                .filter(|&l: &u64| l > 0)
                .ok_or_else(|| StagesError::Limit {
                    line,
                    name: name.to_string(),
                    word: limit.to_string(),
                })?;
        let kernels = match kernels {
            "both" => vec![Kernel::Control, Kernel::Patched],
            "control" => vec![Kernel::Control],
            "patched" => vec![Kernel::Patched],
            word => {
                return Err(StagesError::Kernels {
                    line,
                    name: name.to_string(),
                    word: word.to_string(),
                })
            }
        };
        let verdict = Verdict::from_word(verdict).ok_or_else(|| StagesError::Verdict {
            line,
            name: name.to_string(),
            word: verdict.to_string(),
        })?;
        if verdict == Verdict::Compliance && kernels.len() != 2 {
            return Err(StagesError::ComplianceOnOneKernel {
                line,
                name: name.to_string(),
            });
        }
        if let Some(&first) = seen.get(name) {
            return Err(StagesError::Duplicate {
                line,
                name: name.to_string(),
                first,
            });
        }
        seen.insert(name.to_string(), line);
        specs.push(StageSpec {
            name: name.to_string(),
            limit,
            kernels,
            verdict,
        });
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_list_parses() {
        let text = include_str!("../../vm/stages.list");
        let specs = parse(text).expect("vm/stages.list parses");
        let suite = specs
            .iter()
            .find(|s| s.name == "suite")
            .expect("a suite stage");
        assert_eq!(suite.verdict, Verdict::Cases);
        assert!(suite.runs_on(Kernel::Control) && suite.runs_on(Kernel::Patched));
        assert!(specs.iter().all(|s| !s.kernels.is_empty()));
    }

    #[test]
    fn columns_and_words() {
        let specs = parse("# header\nload 120 both rc /x.sh arg\nkmod-check 60 patched tests /y\n")
            .expect("parses");
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].limit, 120);
        assert_eq!(specs[1].kernels, vec![Kernel::Patched]);
        assert_eq!(specs[1].verdict, Verdict::Tests);
    }

    #[test]
    fn bad_lines_name_their_line() {
        let cases = [
            ("a 10 both rc\n", "expected `name"),
            ("a ten both rc /x\n", "timeout \"ten\""),
            ("a 0 both rc /x\n", "timeout \"0\""),
            ("a 10 all rc /x\n", "kernels \"all\""),
            ("a 10 both exit0 /x\n", "verdict \"exit0\""),
            ("a 10 patched compliance /x\n", "must run on both"),
            (
                "a 10 both rc /x\nb 10 both rc /y\na 5 both rc /z\n",
                "line 3: a is already listed on line 1",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
