//! Parses the case table, userspace-tests/cases.txt (docs/interfaces.md):
//! every test the suite generates, in run order, one per line as
//! `name patched control about`, with what each kernel must report for it
//! and, in the rest of the line, what the test shows.
//! `#` starts a comment; blank lines are ignored.

use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;

/// What a kernel must report for a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// `pass`: a PASS line.
    Pass,
    /// `no-fence`: a FAIL line of category `no-fence` (the oracle found no
    /// vb2 fence where the series puts one).
    NoFence,
    /// `no-wait`: a FAIL line of category `no-wait` (a job ran while a
    /// fence it must wait for was pending).
    NoWait,
    /// `skip`: a SKIP line (what the test needs cannot exist on that kernel).
    Skip,
    /// `hardware` (patched column only): a device no rig has; both guests
    /// must report a SKIP line. fresnel-ontarget runs the case on the
    /// board, and the control column then says what a board kernel
    /// without the series does.
    Hardware,
}

impl Expect {
    pub const ALL: [Expect; 5] = [
        Expect::Pass,
        Expect::NoFence,
        Expect::NoWait,
        Expect::Skip,
        Expect::Hardware,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Expect::Pass => "pass",
            Expect::NoFence => "no-fence",
            Expect::NoWait => "no-wait",
            Expect::Skip => "skip",
            Expect::Hardware => "hardware",
        }
    }

    fn from_word(word: &str) -> Option<Self> {
        Expect::ALL.into_iter().find(|e| e.word() == word)
    }
}

impl fmt::Display for Expect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub name: String,
    pub patched: Expect,
    pub control: Expect,
    /// What the test shows, in one line.
    pub about: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CasesError {
    #[error("line {line}: expected `name patched control about`, found {found:?}")]
    Columns { line: usize, found: String },
    #[error(
        "line {line}: {name}: unknown {column} expectation {word:?} (one of pass, no-fence, no-wait, skip; hardware in the patched column)"
    )]
    UnknownWord {
        line: usize,
        name: String,
        column: &'static str,
        word: String,
    },
    #[error("line {line}: {name}: the patched column must be `pass` (every case runs on the patched kernel) or `hardware` (a device no rig has), found {word:?}")]
    PatchedNotPass {
        line: usize,
        name: String,
        word: String,
    },
    #[error("line {line}: {name}: `hardware` belongs in the patched column; the control column says what a board kernel without the series does")]
    HardwareInControl { line: usize, name: String },
    #[error("line {line}: {name} is already listed on line {first}")]
    Duplicate {
        line: usize,
        name: String,
        first: usize,
    },
}

/// Three words, then the rest of the line (not empty, no `|`).
fn columns(content: &str) -> Option<(&str, &str, &str, &str)> {
    let mut rest = content;
    let mut words = [""; 3];
    for word in &mut words {
        let t = rest.trim_start();
        let end = t.find(char::is_whitespace)?;
        (*word, rest) = t.split_at(end);
    }
    let about = rest.trim();
    // A `|` would break the READMEs' Markdown rows (a `#` starts a comment).
    (!about.is_empty() && !about.contains('|')).then_some((words[0], words[1], words[2], about))
}

pub fn parse(text: &str) -> Result<Vec<Case>, CasesError> {
    let mut cases = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        let Some((name, patched, control, about)) = columns(content) else {
            return Err(CasesError::Columns {
                line,
                found: content.to_string(),
            });
        };
        let expect = |column: &'static str, word: &str| {
            Expect::from_word(word).ok_or_else(|| CasesError::UnknownWord {
                line,
                name: name.to_string(),
                column,
                word: word.to_string(),
            })
        };
        let (patched_expect, control) = (expect("patched", patched)?, expect("control", control)?);
        if !matches!(patched_expect, Expect::Pass | Expect::Hardware) {
            return Err(CasesError::PatchedNotPass {
                line,
                name: name.to_string(),
                word: patched.to_string(),
            });
        }
        if control == Expect::Hardware {
            return Err(CasesError::HardwareInControl {
                line,
                name: name.to_string(),
            });
        }
        if let Some(&first) = seen.get(name) {
            return Err(CasesError::Duplicate {
                line,
                name: name.to_string(),
                first,
            });
        }
        seen.insert(name.to_string(), line);
        cases.push(Case {
            name: name.to_string(),
            patched: patched_expect,
            control,
            about: about.to_string(),
        });
    }
    Ok(cases)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_comments_and_words() {
        let cases = parse(
            "# name patched control about\n\nvim2m/mmap pass pass a job runs\nvim2m/fence  pass  no-fence   a fence lands # why\noracle/vb2_fence_probe pass skip the module loads\n",
        )
        .expect("parses");
        assert_eq!(cases.len(), 3);
        assert_eq!(cases[1].name, "vim2m/fence");
        assert_eq!(
            (cases[1].patched, cases[1].control),
            (Expect::Pass, Expect::NoFence)
        );
        assert_eq!(cases[2].control, Expect::Skip);
        assert_eq!(cases[1].about, "a fence lands");
    }

    #[test]
    fn hardware_only_in_the_patched_column() {
        let cases = parse("rga/a hardware no-wait shows a\n").expect("parses");
        assert_eq!(
            (cases[0].patched, cases[0].control),
            (Expect::Hardware, Expect::NoWait)
        );
        let e = parse("rga/a pass hardware shows a\n").expect_err("hardware in control");
        assert!(
            matches!(e, CasesError::HardwareInControl { line: 1, .. }),
            "{e}"
        );
    }

    #[test]
    fn unknown_words_are_rejected_with_their_line() {
        let e = parse("a pass pass shows a\nb pass fails shows b\n").expect_err("bad control word");
        assert!(
            matches!(
                e,
                CasesError::UnknownWord {
                    line: 2,
                    column: "control",
                    ..
                }
            ),
            "{e}"
        );
        assert!(
            e.to_string().starts_with("line 2: b: unknown control"),
            "{e}"
        );
        let e = parse("a maybe pass shows a\n").expect_err("bad patched word");
        assert!(
            matches!(
                e,
                CasesError::UnknownWord {
                    line: 1,
                    column: "patched",
                    ..
                }
            ),
            "{e}"
        );
        let e = parse("a skip pass shows a\n").expect_err("patched must pass");
        assert!(
            matches!(e, CasesError::PatchedNotPass { line: 1, .. }),
            "{e}"
        );
        let e = parse("a pass pass\n").expect_err("no about");
        assert!(matches!(e, CasesError::Columns { line: 1, .. }), "{e}");
    }

    #[test]
    fn duplicates_are_rejected_with_both_lines() {
        let e = parse("a pass pass x\n# gap\nb pass pass y\na pass no-fence z\n")
            .expect_err("duplicate");
        assert_eq!(
            e,
            CasesError::Duplicate {
                line: 4,
                name: "a".into(),
                first: 1
            }
        );
        assert_eq!(e.to_string(), "line 4: a is already listed on line 1");
    }
}
