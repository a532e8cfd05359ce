//! Minimal reading of a `git format-patch` mbox: the headers and commit
//! message a patch must carry before it can be posted or applied with
//! authorship (`git am`).
//!
//! Why not `git mailinfo`/`git mailsplit`: they decode and rewrite what they
//! parse (subject prefixes stripped, headers folded, the message moved to a
//! separate file), so the line of a missing or misplaced `Signed-off-by:` or
//! separator, which `manifest check` reports as `file:line`, is lost; the
//! posting and applying themselves go through git (`git am`, `format-patch`).

use crate::diag::Diagnostic;
use std::path::Path;

/// What we need from one mbox patch.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchInfo {
    pub from: Option<String>,
    pub subject: Option<String>,
    /// 1-based lines of `Signed-off-by:` trailers in the commit message.
    pub signoffs: Vec<usize>,
    /// True if the file has at least one `diff --git` section.
    pub has_diff: bool,
    /// True if line 1 is an mbox separator (`From <sha> <date>`).
    pub mbox_separator: bool,
}

/// Parses `text` (the whole .patch file).
pub fn parse(text: &str) -> PatchInfo {
    let mut info = PatchInfo {
        mbox_separator: text.starts_with("From "),
        ..PatchInfo::default()
    };
    let mut lines = text.lines().enumerate().peekable();
    // Headers: up to the first empty line. RFC 2822 continuation lines start
    // with whitespace and belong to the previous header (long Subject:s).
    let mut current: Option<(String, String)> = None;
    let mut headers: Vec<(String, String)> = Vec::new();
    for (i, line) in lines.by_ref() {
        if i == 0 && info.mbox_separator {
            continue;
        }
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, v)) = current.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if let Some(h) = current.take() {
            headers.push(h);
        }
        if let Some((k, v)) = line.split_once(':') {
            current = Some((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    if let Some(h) = current.take() {
        headers.push(h);
    }
    for (k, v) in headers {
        match k.as_str() {
            "from" if !v.is_empty() => info.from = Some(v),
            "subject" if !v.is_empty() => info.subject = Some(v),
            _ => {}
        }
    }
    // Commit message: up to the `---` line that starts the diffstat/diff.
    let mut in_message = true;
    for (i, line) in lines {
        if in_message && (line == "---" || line.starts_with("diff --git ")) {
            in_message = false;
        }
        if in_message && line.starts_with("Signed-off-by:") && line.contains('@') {
            info.signoffs.push(i + 1);
        }
        if line.starts_with("diff --git ") {
            info.has_diff = true;
        }
    }
    info
}

/// The subject without the `[PATCH ...]` prefix, as `git am` records it.
pub fn strip_subject_prefix(subject: &str) -> &str {
    let s = subject.trim();
    if s.starts_with('[') {
        if let Some(end) = s.find(']') {
            return s[end + 1..].trim_start();
        }
    }
    s
}

/// Problems that make `file` unusable as a series patch.
pub fn check(file: &Path, text: &str, listed_at: &str) -> Vec<Diagnostic> {
    let info = parse(text);
    let mut out = Vec::new();
    let mut err = |line: usize, what: &str| {
        out.push(Diagnostic::new(
            file,
            line,
            format!("{what} (patch listed at {listed_at}); regenerate it with `git format-patch`"),
        ))
    };
    if !info.mbox_separator {
        err(
            1,
            "not a git format-patch mbox: line 1 must be the 'From <sha> <date>' separator",
        );
    }
    if info.from.is_none() {
        err(1, "no From: header (patch author)");
    }
    if info.subject.is_none() {
        err(1, "no Subject: header");
    }
    if info.signoffs.is_empty() {
        err(
            1,
            "no Signed-off-by: in the commit message (add one with `git commit -s --amend`)",
        );
    }
    if !info.has_diff {
        err(1, "no 'diff --git' section: the patch changes nothing");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_format_patch_headers() {
        let p = "From 0123 Mon Sep 17 00:00:00 2001\nFrom: A <a@b.c>\nDate: x\nSubject: [PATCH 1/2] media: videobuf2: add a very\n long subject\n\nWhy.\n\nSigned-off-by: A <a@b.c>\n---\n a | 1 +\n\ndiff --git a/a b/a\n";
        let i = parse(p);
        assert_eq!(i.from.as_deref(), Some("A <a@b.c>"));
        assert_eq!(
            i.subject.as_deref(),
            Some("[PATCH 1/2] media: videobuf2: add a very long subject")
        );
        assert_eq!(i.signoffs, vec![9]);
        assert!(i.has_diff && i.mbox_separator);
    }

    #[test]
    fn signoff_after_the_cut_line_does_not_count() {
        let p = "From 0 x\nFrom: A <a@b.c>\nSubject: s\n\nmsg\n---\nSigned-off-by: A <a@b.c>\ndiff --git a/a b/a\n";
        assert!(parse(p).signoffs.is_empty());
    }

    #[test]
    fn strips_patch_prefix() {
        assert_eq!(
            strip_subject_prefix("[RFC PATCH v2 1/3] media: x"),
            "media: x"
        );
        assert_eq!(strip_subject_prefix("media: x"), "media: x");
    }
}
