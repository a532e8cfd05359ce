//! Just enough of a unified-diff reader to tell, before applying, whether
//! each hunk of a patch sits exactly where it says (clean), only somewhere
//! else in the file (offset: the patch needs a rebase), or nowhere (fails).
//! `git apply` accepts offsets silently, so this check is what makes the
//! apply strict.
//!
//! Why not parse `git apply --check -v`: it does print "Hunk #N succeeded at
//! L (offset K lines)", but a hunk that does not apply is reported only as
//! "patch failed: FILE:LINE" (no hunk number, no line in the patch file),
//! the rest of that file's hunks are not tried, and the text is translated
//! prose rather than an interface. Placing every hunk here gives one report
//! with each hunk's number and patch line; `git apply` still does the
//! applying (apply.rs).

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// 1-based within its file section.
    pub index: usize,
    pub old_start: usize,
    pub old_count: usize,
    /// Context and removed lines, in order: what must be in the file.
    pub old_lines: Vec<String>,
    /// The `@@ ... @@` line, for messages.
    pub header: String,
    /// 1-based line of the header in the patch file.
    pub patch_line: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilePatch {
    /// Path in the tree before the change (None for a new file).
    pub old_path: Option<String>,
    /// Path after the change (None for a deleted file).
    pub new_path: Option<String>,
    pub hunks: Vec<Hunk>,
    pub binary: bool,
}

impl FilePatch {
    pub fn display_path(&self) -> &str {
        self.old_path
            .as_deref()
            .or(self.new_path.as_deref())
            .unwrap_or("?")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DiffError {
    #[error("line {line}: malformed hunk header {header:?}")]
    BadHunkHeader { line: usize, header: String },
    #[error("line {line}: hunk ends early (expected {expected} more old/new lines)")]
    Truncated { line: usize, expected: usize },
}

fn strip_prefix_p1(p: &str) -> Option<String> {
    // Paths may be followed by a tab and a timestamp in non-git diffs.
    let p = p.split('\t').next().unwrap_or(p).trim_end();
    if p == "/dev/null" {
        return None;
    }
    Some(
        p.strip_prefix("a/")
            .or_else(|| p.strip_prefix("b/"))
            .unwrap_or(p)
            .to_string(),
    )
}

fn parse_range(s: &str) -> Option<(usize, usize)> {
    match s.split_once(',') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => Some((s.parse().ok()?, 1)),
    }
}

fn parse_header(line: &str) -> Option<(usize, usize, usize, usize)> {
    let rest = line.strip_prefix("@@ -")?;
    let (old, rest) = rest.split_once(" +")?;
    let (new, _) = rest.split_once(" @@")?;
    let (os, oc) = parse_range(old)?;
    let (ns, nc) = parse_range(new)?;
    Some((os, oc, ns, nc))
}

/// Parses every file section of a patch (mbox text around it is skipped).
pub fn parse(text: &str) -> Result<Vec<FilePatch>, DiffError> {
    let lines: Vec<&str> = text.lines().collect();
    let mut files: Vec<FilePatch> = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        if let Some(rest) = line.strip_prefix("diff --git ") {
            let mut fp = FilePatch::default();
            if let Some((a, b)) = rest.split_once(" b/") {
                fp.old_path = strip_prefix_p1(a);
                fp.new_path = Some(b.to_string());
            }
            files.push(fp);
        } else if let Some(p) = line.strip_prefix("--- ") {
            if files.is_empty() || !files.last().is_some_and(|f| f.hunks.is_empty()) {
                files.push(FilePatch::default());
            }
            if let Some(f) = files.last_mut() {
                f.old_path = strip_prefix_p1(p);
            }
        } else if let Some(p) = line.strip_prefix("+++ ") {
            if let Some(f) = files.last_mut() {
                f.new_path = strip_prefix_p1(p);
            }
        } else if line.starts_with("new file mode") {
            if let Some(f) = files.last_mut() {
                f.old_path = None;
            }
        } else if line.starts_with("deleted file mode") {
            if let Some(f) = files.last_mut() {
                f.new_path = None;
            }
        } else if let Some(p) = line.strip_prefix("rename from ") {
            if let Some(f) = files.last_mut() {
                f.old_path = Some(p.to_string());
            }
        } else if line == "GIT binary patch" || line.starts_with("Binary files ") {
            if let Some(f) = files.last_mut() {
                f.binary = true;
            }
        } else if line.starts_with("@@ ") {
            let (os, oc, _ns, nc) = parse_header(line).ok_or_else(|| DiffError::BadHunkHeader {
                line: i + 1,
                header: line.to_string(),
            })?;
            let header_line = i + 1;
            let (mut old_left, mut new_left) = (oc, nc);
            let mut old_lines = Vec::new();
            while old_left > 0 || new_left > 0 {
                i += 1;
                let Some(l) = lines.get(i) else {
                    return Err(DiffError::Truncated {
                        line: i,
                        expected: old_left + new_left,
                    });
                };
                match l.as_bytes().first() {
                    // An empty line is a context line whose leading space was
                    // eaten by an editor or mailer.
                    Some(b' ') | None => {
                        old_lines.push(l.get(1..).unwrap_or("").to_string());
                        old_left = old_left.saturating_sub(1);
                        new_left = new_left.saturating_sub(1);
                    }
                    Some(b'-') => {
                        old_lines.push(l[1..].to_string());
                        old_left = old_left.saturating_sub(1);
                    }
                    Some(b'+') => new_left = new_left.saturating_sub(1),
                    Some(b'\\') => {}
                    _ => {
                        return Err(DiffError::Truncated {
                            line: i + 1,
                            expected: old_left + new_left,
                        })
                    }
                }
            }
            if files.is_empty() {
                files.push(FilePatch::default());
            }
            if let Some(f) = files.last_mut() {
                let index = f.hunks.len() + 1;
                f.hunks.push(Hunk {
                    index,
                    old_start: os,
                    old_count: oc,
                    old_lines,
                    header: line.to_string(),
                    patch_line: header_line,
                });
            }
        }
        i += 1;
    }
    Ok(files)
}

/// Where a hunk's old text is found in the current file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// At the recorded line.
    Exact,
    /// Only `n` lines away from the recorded line (nearest match).
    Offset(isize),
    NotFound,
}

/// Checks `hunk` against the file's current lines.
pub fn fit(file_lines: &[&str], hunk: &Hunk) -> Fit {
    if hunk.old_lines.is_empty() {
        // Pure insertion: old_start is the line after which it goes.
        return if hunk.old_start <= file_lines.len() {
            Fit::Exact
        } else {
            Fit::NotFound
        };
    }
    let n = hunk.old_lines.len();
    let matches_at = |pos: usize| {
        pos + n <= file_lines.len()
            && file_lines[pos..pos + n]
                .iter()
                .zip(&hunk.old_lines)
                .all(|(a, b)| *a == b.as_str())
    };
    let expected = hunk.old_start.saturating_sub(1);
    if matches_at(expected) {
        return Fit::Exact;
    }
    let best = (0..file_lines.len())
        .filter(|&p| matches_at(p))
        .min_by_key(|&p| p.abs_diff(expected));
    match best {
        Some(p) => Fit::Offset(p as isize - expected as isize),
        None => Fit::NotFound,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: &str = "From x\nSubject: s\n\n---\ndiff --git a/f.c b/f.c\nindex 1..2 100644\n--- a/f.c\n+++ b/f.c\n@@ -2,3 +2,3 @@ fn\n a\n-b\n+B\n c\n@@ -10 +10,2 @@\n j\n+k\n-- \n2.39.0\n";

    #[test]
    fn parses_hunks_and_stops_at_signature() {
        let f = parse(P).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].old_path.as_deref(), Some("f.c"));
        assert_eq!(f[0].hunks.len(), 2);
        assert_eq!(f[0].hunks[0].old_lines, vec!["a", "b", "c"]);
        assert_eq!(f[0].hunks[1].old_start, 10);
        assert_eq!(f[0].hunks[1].old_lines, vec!["j"]);
    }

    #[test]
    fn fit_exact_offset_notfound() {
        let f = parse(P).unwrap();
        let h = &f[0].hunks[0];
        assert_eq!(fit(&["x", "a", "b", "c"], h), Fit::Exact);
        assert_eq!(fit(&["x", "y", "z", "a", "b", "c"], h), Fit::Offset(2));
        assert_eq!(fit(&["x", "a", "B", "c"], h), Fit::NotFound);
    }

    #[test]
    fn new_and_deleted_files() {
        let p = "diff --git a/n.c b/n.c\nnew file mode 100644\n--- /dev/null\n+++ b/n.c\n@@ -0,0 +1 @@\n+x\ndiff --git a/d.c b/d.c\ndeleted file mode 100644\n--- a/d.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-y\n";
        let f = parse(p).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(
            (f[0].old_path.as_deref(), f[0].new_path.as_deref()),
            (None, Some("n.c"))
        );
        assert_eq!(
            (f[1].old_path.as_deref(), f[1].new_path.as_deref()),
            (Some("d.c"), None)
        );
    }
}
