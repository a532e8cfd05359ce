//! Parses the report every test stage prints (docs/interfaces.md): one line
//! per test, `PASS <name>` / `SKIP <name>: <reason>` /
//! `FAIL <name> [<category>]: <reason>`, and last the summary line
//! `<P> passed, <F> failed, <S> skipped`.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestResult {
    pub name: String,
    pub status: Status,
    /// Why a FAIL failed (`no-fence`, `wrong-fence`, `error`, `panic`,
    /// `timeout`), when the line says; only FAIL lines carry one.
    pub category: Option<String>,
    pub reason: String,
}

impl TestResult {
    /// The reason with its category in front, as the line printed it.
    pub fn why(&self) -> String {
        match &self.category {
            Some(c) => format!("[{c}]: {}", self.reason),
            None => self.reason.clone(),
        }
    }
}

/// How many results of each status; the summary line in numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    pub fn of(results: &[TestResult]) -> Self {
        let mut c = Counts::default();
        for r in results {
            c.add(r.status);
        }
        c
    }

    pub fn add(&mut self, status: Status) {
        match status {
            Status::Pass => self.passed += 1,
            Status::Fail => self.failed += 1,
            Status::Skip => self.skipped += 1,
        }
    }

    pub fn plus(self, other: Counts) -> Counts {
        Counts {
            passed: self.passed + other.passed,
            failed: self.failed + other.failed,
            skipped: self.skipped + other.skipped,
        }
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

fn parse_line(line: &str) -> Option<TestResult> {
    let (status, rest) = if let Some(r) = line.strip_prefix("PASS ") {
        (Status::Pass, r)
    } else if let Some(r) = line.strip_prefix("FAIL ") {
        (Status::Fail, r)
    } else if let Some(r) = line.strip_prefix("SKIP ") {
        (Status::Skip, r)
    } else {
        return None;
    };
    let (head, reason) = rest.split_once(": ").unwrap_or((rest, ""));
    let (name, category) = match head.trim_end().strip_suffix(']') {
        Some(h) if status == Status::Fail => match h.rsplit_once(" [") {
            Some((n, c)) => (n, Some(c.to_string())),
            None => (head, None),
        },
        _ => (head, None),
    };
    Some(TestResult {
        name: name.trim().to_string(),
        status,
        category,
        reason: reason.to_string(),
    })
}

pub fn parse(text: &str) -> Vec<TestResult> {
    text.lines()
        .filter_map(|raw| parse_line(raw.trim_end_matches('\r')))
        .collect()
}

/// The last line that is not blank: where a test stage's summary must be.
pub fn last_line(text: &str) -> Option<&str> {
    text.lines()
        .map(|l| l.trim_end_matches('\r').trim())
        .rfind(|l| !l.is_empty())
}

/// `<P> passed, <F> failed, <S> skipped`, nothing else on the line.
pub fn parse_summary(line: &str) -> Option<Counts> {
    let mut parts = line.trim().split(", ");
    let mut count = |word: &str| -> Option<usize> {
        parts
            .next()?
            .strip_suffix(word)?
            .strip_suffix(' ')?
            .parse()
            .ok()
    };
    let counts = Counts {
        passed: count("passed")?,
        failed: count("failed")?,
        skipped: count("skipped")?,
    };
    parts.next().is_none().then_some(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_statuses_and_the_category() {
        let r = parse("noise\nPASS vim2m/mmap\r\nFAIL vim2m/expbuf_before_qbuf [no-fence]: poll said ready: idle\nSKIP visl/x: no device\nFAIL rmmod_after_close\nFAIL host/x: exit 1\n1 passed, 3 failed, 1 skipped\n");
        assert_eq!(r.len(), 5);
        assert_eq!(r[0].status, Status::Pass);
        assert_eq!(r[1].name, "vim2m/expbuf_before_qbuf");
        assert_eq!(r[1].category.as_deref(), Some("no-fence"));
        assert_eq!(r[1].reason, "poll said ready: idle");
        assert_eq!(r[1].why(), "[no-fence]: poll said ready: idle");
        assert_eq!(r[2].status, Status::Skip);
        assert_eq!(r[2].category, None);
        assert_eq!(
            (r[3].name.as_str(), r[3].category.as_deref()),
            ("rmmod_after_close", None)
        );
        assert_eq!(
            (r[4].name.as_str(), r[4].reason.as_str()),
            ("host/x", "exit 1")
        );
        assert_eq!(
            Counts::of(&r),
            Counts {
                passed: 1,
                failed: 3,
                skipped: 1
            }
        );
    }

    #[test]
    fn the_summary_line_and_only_it() {
        let c = parse_summary("37 passed, 1 failed, 5 skipped").expect("a summary");
        assert_eq!((c.passed, c.failed, c.skipped), (37, 1, 5));
        assert_eq!(c.to_string(), "37 passed, 1 failed, 5 skipped");
        for not in [
            "37 passed, 1 failed",
            "37 passed, 1 failed, 5 skipped, 2 ignored",
            "x passed, 1 failed, 5 skipped",
            "37passed, 1 failed, 5 skipped",
            "PASS x",
        ] {
            assert_eq!(parse_summary(not), None, "{not}");
        }
        assert_eq!(last_line("a\nb\r\n\n  \n"), Some("b"));
        assert_eq!(last_line("\n"), None);
    }
}
