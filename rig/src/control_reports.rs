//! Parses vm/control-reports.list: the kernel reports the control kernel is
//! known to give because of a bug the fixes posting removes, as
//! `PATCH KIND SIGNATURE...` lines (its header says why and how they are
//! used).

use thiserror::Error;

use crate::kernel_log::Finding;

/// A report the control kernel is excused for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownReport {
    /// The number of the patch that fixes it.
    pub patch: String,
    /// The kind of report (kernel_log's `WARN`, `BUG`, `lockdep`, ...).
    pub kind: String,
    /// A string of the report's excerpt that names the buggy path.
    pub signature: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("line {line}: {why}")]
pub struct ParseError {
    pub line: usize,
    pub why: String,
}

pub fn parse(text: &str) -> Result<Vec<KnownReport>, ParseError> {
    let mut out = Vec::new();
    for (n, line) in crate::table::rows(text) {
        let err = |why: &str| ParseError {
            line: n,
            why: why.to_string(),
        };
        let mut cols = line.splitn(3, char::is_whitespace);
        let (Some(patch), Some(kind), Some(signature)) = (cols.next(), cols.next(), cols.next())
        else {
            return Err(err("expected `PATCH KIND SIGNATURE`"));
        };
        if patch.len() != 4 || !patch.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(&format!("patch `{patch}` is not a four-digit number")));
        }
        if !crate::kernel_log::KINDS.contains(&kind) {
            return Err(err(&format!(
                "kind `{kind}` is none of {}",
                crate::kernel_log::KINDS.join(", ")
            )));
        }
        out.push(KnownReport {
            patch: patch.to_string(),
            kind: kind.to_string(),
            signature: signature.trim().to_string(),
        });
    }
    Ok(out)
}

impl KnownReport {
    /// The first known report of the finding's kind whose signature its
    /// excerpt contains.
    pub fn matching<'a>(known: &'a [KnownReport], f: &Finding) -> Option<&'a KnownReport> {
        known
            .iter()
            .find(|k| k.kind == f.what && f.excerpt.contains(&k.signature))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses() {
        let k = parse("# c\n\n0029 WARN visl_queue_cleanup\n").expect("parses");
        assert_eq!(
            k,
            vec![KnownReport {
                patch: "0029".into(),
                kind: "WARN".into(),
                signature: "visl_queue_cleanup".into()
            }]
        );
        assert_eq!(parse("0029 WARN\n").unwrap_err().line, 1);
        assert!(parse("29 WARN x\n").is_err());
        assert!(parse("0029 oops x\n").is_err());
        let finding = |what, excerpt: &str| Finding {
            what,
            excerpt: excerpt.to_string(),
        };
        let visl = "a\n visl_queue_cleanup+0x5e\n";
        assert_eq!(KnownReport::matching(&k, &finding("WARN", visl)), k.first());
        assert_eq!(KnownReport::matching(&k, &finding("lockdep", visl)), None);
        assert_eq!(
            KnownReport::matching(&k, &finding("WARN", "vicodec_stop_streaming")),
            None
        );
    }

    /// The list in the repository parses.
    #[test]
    fn repository_list_parses() {
        let text = include_str!("../../vm/control-reports.list");
        assert!(!parse(text).expect("vm/control-reports.list").is_empty());
    }
}
