//! Parses the userspace suite's report (docs/interfaces.md): one
//! `PASS <name>` / `FAIL <name>: <reason>` / `SKIP <name>: <reason>` per test.

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
    pub reason: String,
}

pub fn parse(text: &str) -> Vec<TestResult> {
    text.lines()
        .filter_map(|raw| {
            let line = raw.trim_end_matches('\r');
            let (status, rest) = if let Some(r) = line.strip_prefix("PASS ") {
                (Status::Pass, r)
            } else if let Some(r) = line.strip_prefix("FAIL ") {
                (Status::Fail, r)
            } else if let Some(r) = line.strip_prefix("SKIP ") {
                (Status::Skip, r)
            } else {
                return None;
            };
            let (name, reason) = match rest.split_once(": ") {
                Some((n, r)) => (n, r),
                None => (rest, ""),
            };
            Some(TestResult {
                name: name.trim().to_string(),
                status,
                reason: reason.to_string(),
            })
        })
        .collect()
}

/// Names listed one per line, `#` comments and blank lines ignored.
pub fn parse_name_list(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_statuses() {
        let r = parse("noise\nPASS vim2m/mmap\r\nFAIL vim2m/expbuf_before_qbuf: no fence: poll said ready\nSKIP visl/x: no device\n1 passed, 1 failed, 1 skipped\n");
        assert_eq!(r.len(), 3);
        assert_eq!(r[0].status, Status::Pass);
        assert_eq!(r[1].name, "vim2m/expbuf_before_qbuf");
        assert_eq!(r[1].reason, "no fence: poll said ready");
        assert_eq!(r[2].status, Status::Skip);
    }

    #[test]
    fn name_list_ignores_comments() {
        assert_eq!(
            parse_name_list("# x\nvim2m/a # why\n\nb\n"),
            vec!["vim2m/a", "b"]
        );
    }
}
