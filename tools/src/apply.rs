//! Strict application of the included series onto a kernel tree.
//!
//! Rules (design brief §7): no fuzz; a hunk that only fits at another line
//! than recorded makes the patch "needs rebase"; a hunk that fits nowhere
//! fails the run, naming patch, file and hunk. A failed run leaves the tree
//! exactly as it was:
//! * git tree: every patch becomes a commit via `git am` (authorship kept,
//!   which the RFC export needs); on failure `git am --abort` and
//!   `git reset --hard` to the starting commit. The tree must be clean.
//! * plain tree (e.g. makepkg's extracted tarball): `git apply` outside any
//!   repository (GIT_CEILING_DIRECTORIES stops git from finding an enclosing
//!   repo, where it would silently skip paths); on failure the patches that
//!   went in are reverse-applied, last first.

use crate::diff::{self, Fit};
use crate::manifest::{Manifest, PatchEntry, Status};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{0} is not a directory")]
    NoTree(PathBuf),
    #[error("git tree {tree} has uncommitted changes to tracked files; commit or stash them first (a failed apply resets the tree)")]
    Dirty { tree: PathBuf },
    #[error("git tree {tree} has a `git am`/rebase in progress; finish or abort it first")]
    AmInProgress { tree: PathBuf },
    #[error("cannot run `{cmd}`: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("`{cmd}` failed: {stderr}")]
    Git { cmd: String, stderr: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    /// Applied, but some hunks only with an offset: one detail per hunk.
    NeedsRebase(Vec<String>),
    Failed(String),
    Disabled(String),
    /// Not attempted because an earlier patch failed.
    NotTried,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchReport {
    pub path: String,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub patches: Vec<PatchReport>,
    /// True if the tree now holds the whole included series.
    pub tree_applied: bool,
    /// What happened to the tree at the end, for the summary line.
    pub tree_note: String,
}

impl Report {
    pub fn success(&self) -> bool {
        self.tree_applied
            && self
                .patches
                .iter()
                .all(|p| matches!(p.outcome, Outcome::Applied | Outcome::Disabled(_)))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "per-patch report:")?;
        for p in &self.patches {
            match &p.outcome {
                Outcome::Applied => writeln!(f, "  applied       {}", p.path)?,
                Outcome::NeedsRebase(d) => {
                    writeln!(f, "  needs rebase  {}", p.path)?;
                    for line in d {
                        writeln!(f, "                  {line}")?;
                    }
                }
                Outcome::Failed(why) => {
                    writeln!(f, "  failed        {}", p.path)?;
                    for line in why.lines() {
                        writeln!(f, "                  {line}")?;
                    }
                }
                Outcome::Disabled(r) => writeln!(f, "  disabled      {} ({r})", p.path)?,
                Outcome::NotTried => {
                    writeln!(f, "  not tried     {} (an earlier patch failed)", p.path)?
                }
            }
        }
        let count =
            |pred: fn(&Outcome) -> bool| self.patches.iter().filter(|p| pred(&p.outcome)).count();
        writeln!(
            f,
            "{} applied, {} needs rebase, {} failed, {} disabled, {} not tried; {}",
            count(|o| matches!(o, Outcome::Applied)),
            count(|o| matches!(o, Outcome::NeedsRebase(_))),
            count(|o| matches!(o, Outcome::Failed(_))),
            count(|o| matches!(o, Outcome::Disabled(_))),
            count(|o| matches!(o, Outcome::NotTried)),
            self.tree_note
        )
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Keep patches that applied with offsets (still reported) instead of
    /// failing the run and restoring the tree.
    pub allow_offsets: bool,
}

enum Mode {
    Git { orig_head: String },
    Plain,
}

fn run(cmd: &mut Command) -> Result<Output, ApplyError> {
    let desc = format!("{cmd:?}");
    cmd.output()
        .map_err(|source| ApplyError::Spawn { cmd: desc, source })
}

fn git(tree: &Path) -> Command {
    let mut c = Command::new("git");
    c.arg("-C").arg(tree);
    c
}

fn git_ok(tree: &Path, args: &[&str]) -> Result<String, ApplyError> {
    let out = run(git(tree).args(args))?;
    if !out.status.success() {
        return Err(ApplyError::Git {
            cmd: format!("git {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// True if `tree` is the top of a git work tree.
fn is_git_top(tree: &Path) -> bool {
    let Ok(top) = git_ok(tree, &["rev-parse", "--show-toplevel"]) else {
        return false;
    };
    match (fs::canonicalize(top), fs::canonicalize(tree)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// `git apply` for a tree that is not a repository.
fn plain_apply(
    tree: &Path,
    patch: &Path,
    reverse: bool,
    check: bool,
) -> Result<Output, ApplyError> {
    let parent = fs::canonicalize(tree)
        .ok()
        .and_then(|t| t.parent().map(Path::to_path_buf))
        .unwrap_or_else(|| PathBuf::from("/"));
    let mut c = Command::new("git");
    c.current_dir(tree)
        .env("GIT_CEILING_DIRECTORIES", parent)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .arg("apply");
    if reverse {
        c.arg("-R");
    }
    if check {
        c.arg("--check");
    }
    c.arg(patch);
    run(&mut c)
}

/// Hunk-by-hunk placement of `text` against the files in `tree`.
/// Ok(details) lists the offset hunks (empty: clean); Err says why it cannot apply.
pub fn precheck(tree: &Path, text: &str) -> Result<Vec<String>, String> {
    let files = diff::parse(text).map_err(|e| format!("malformed patch: {e}"))?;
    if files.is_empty() {
        return Err("the patch has no diff in it".into());
    }
    let mut offsets = Vec::new();
    for fp in &files {
        let Some(old) = fp.old_path.as_deref() else {
            if let Some(new) = fp.new_path.as_deref() {
                if tree.join(new).exists() {
                    return Err(format!(
                        "file {new}: the patch creates it but it already exists in the tree. \
                         What to do: the file was added by another change; rebase the patch onto this base."
                    ));
                }
            }
            continue;
        };
        if fp.binary {
            continue; // git apply checks binary patches by blob id itself.
        }
        let path = tree.join(old);
        let content = match fs::read(&path) {
            Ok(c) => String::from_utf8_lossy(&c).into_owned(),
            Err(_) => {
                return Err(format!(
                    "file {old}: does not exist in the tree. What to do: the file was moved or \
                     removed in this base; rebase the patch (git am --3way, resolve, re-export) \
                     and update the manifest."
                ))
            }
        };
        let lines: Vec<&str> = content.lines().collect();
        for h in &fp.hunks {
            match diff::fit(&lines, h) {
                Fit::Exact => {}
                Fit::Offset(n) => offsets.push(format!(
                    "{old}: hunk #{} ({}) fits at line {} instead of {} (offset {n:+})",
                    h.index,
                    h.header,
                    h.old_start as isize + n,
                    h.old_start
                )),
                Fit::NotFound => {
                    return Err(format!(
                        "{old}: hunk #{} ({}, patch line {}) does not apply: the {} line(s) it \
                         expects at line {} are not in the file.\nWhat to do: the code this hunk \
                         changes differs in this base. Rebase the patch: `git am --3way` it onto \
                         the base in a worktree, resolve the conflict, re-export it with `git \
                         format-patch`, and replace the file (bump [package] pkgrel).",
                        h.index,
                        h.header,
                        h.patch_line,
                        h.old_lines.len(),
                        h.old_start
                    ))
                }
            }
        }
    }
    Ok(offsets)
}

/// Applies the included series of `manifest` onto `tree`.
pub fn apply_series(manifest: &Manifest, tree: &Path, opts: Options) -> Result<Report, ApplyError> {
    if !tree.is_dir() {
        return Err(ApplyError::NoTree(tree.to_path_buf()));
    }
    let mode = if is_git_top(tree) {
        if !git_ok(tree, &["status", "--porcelain", "--untracked-files=no"])?.is_empty() {
            return Err(ApplyError::Dirty {
                tree: tree.to_path_buf(),
            });
        }
        let gitdir = PathBuf::from(git_ok(tree, &["rev-parse", "--absolute-git-dir"])?);
        if gitdir.join("rebase-apply").exists() || gitdir.join("rebase-merge").exists() {
            return Err(ApplyError::AmInProgress {
                tree: tree.to_path_buf(),
            });
        }
        Mode::Git {
            orig_head: git_ok(tree, &["rev-parse", "HEAD"])?,
        }
    } else {
        Mode::Plain
    };
    // git am needs a committer; don't depend on the machine's git config.
    let need_committer = matches!(mode, Mode::Git { .. })
        && git_ok(tree, &["config", "user.email"]).map_or(true, |s| s.is_empty());

    let mut reports = Vec::new();
    let mut applied_plain: Vec<PathBuf> = Vec::new();
    let mut failed = false;
    for p in &manifest.patches {
        let outcome = if p.status == Status::Disabled {
            Outcome::Disabled(p.reason.clone().unwrap_or_default())
        } else if failed {
            Outcome::NotTried
        } else {
            let o = apply_one(manifest, p, tree, &mode, need_committer)?;
            match &o {
                Outcome::Failed(_) => failed = true,
                _ => applied_plain.push(manifest.patch_file(p)),
            }
            o
        };
        reports.push(PatchReport {
            path: p.path.clone(),
            outcome,
        });
    }
    let offsets = reports
        .iter()
        .any(|r| matches!(r.outcome, Outcome::NeedsRebase(_)));
    let keep = !failed && (!offsets || opts.allow_offsets);
    let tree_note = if keep {
        match &mode {
            Mode::Git { .. } => format!(
                "tree has the series as {} commit(s) on top of its starting HEAD",
                applied_plain.len()
            ),
            Mode::Plain => format!("tree has {} patch(es) applied", applied_plain.len()),
        }
    } else {
        restore(tree, &mode, &applied_plain)?
    };
    Ok(Report {
        patches: reports,
        tree_applied: keep,
        tree_note,
    })
}

fn apply_one(
    manifest: &Manifest,
    p: &PatchEntry,
    tree: &Path,
    mode: &Mode,
    need_committer: bool,
) -> Result<Outcome, ApplyError> {
    let file = manifest.patch_file(p);
    let text = match fs::read(&file) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            return Ok(Outcome::Failed(format!(
                "cannot read {}: {e}",
                file.display()
            )))
        }
    };
    let offsets = match precheck(tree, &text) {
        Ok(o) => o,
        Err(why) => return Ok(Outcome::Failed(why)),
    };
    let out = match mode {
        Mode::Git { .. } => {
            let mut c = git(tree);
            if need_committer {
                c.env("GIT_COMMITTER_NAME", "fresnel-tools")
                    .env("GIT_COMMITTER_EMAIL", "fresnel-tools@localhost");
            }
            // --no-3way: a 3-way merge would hide a needed rebase.
            let out = run(c.args(["am", "--quiet", "--no-3way"]).arg(&file))?;
            if !out.status.success() {
                // Leave no am session behind; the tree is reset by restore().
                let _ = run(git(tree).args(["am", "--abort"]));
            }
            out
        }
        Mode::Plain => {
            let check = plain_apply(tree, &file, false, true)?;
            if check.status.success() {
                plain_apply(tree, &file, false, false)?
            } else {
                check
            }
        }
    };
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        return Ok(Outcome::Failed(format!(
            "git refused the patch although every hunk has its context in place:\n{}{}\nWhat to do: \
             check the patch for whitespace damage or a mode/rename change the base lacks; \
             regenerate it with `git format-patch` from a tree at this base.",
            stdout.trim(),
            stderr.trim()
        )));
    }
    Ok(if offsets.is_empty() {
        Outcome::Applied
    } else {
        Outcome::NeedsRebase(offsets)
    })
}

/// Puts the tree back as it was before the run; returns the note for the summary.
fn restore(tree: &Path, mode: &Mode, applied: &[PathBuf]) -> Result<String, ApplyError> {
    match mode {
        Mode::Git { orig_head } => {
            git_ok(tree, &["reset", "--quiet", "--hard", orig_head])?;
            Ok(format!("tree reset to {orig_head} (nothing applied)"))
        }
        Mode::Plain => {
            for p in applied.iter().rev() {
                let out = plain_apply(tree, p, true, false)?;
                if !out.status.success() {
                    return Ok(format!(
                        "could NOT restore the tree: reverse of {} failed ({}); re-extract the tree",
                        p.display(),
                        String::from_utf8_lossy(&out.stderr).trim()
                    ));
                }
            }
            Ok(format!(
                "tree restored ({} applied patch(es) reversed; nothing applied)",
                applied.len()
            ))
        }
    }
}
