//! Upstream RFC export: the included series, applied onto the CI base in a
//! throw-away worktree, turned into `git format-patch --rfc -v N` output with
//! a cover letter rendered from rfc/cover-letter.txt, recipients from
//! get_maintainer.pl, and checkpatch --strict run on every patch.

use crate::apply::{self, Options};
use crate::manifest::Manifest;
use crate::mbox;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum RfcError {
    #[error("cover letter template {path}: {msg}")]
    Template { path: PathBuf, msg: String },
    #[error("the manifest has no included patch: nothing to export")]
    EmptySeries,
    #[error("output directory {0} exists and is not empty; give a new or empty directory")]
    OutNotEmpty(PathBuf),
    #[error("cannot run `{cmd}`: {source}")]
    Spawn { cmd: String, source: std::io::Error },
    #[error("`{cmd}` failed:\n{stderr}")]
    Cmd { cmd: String, stderr: String },
    #[error("the series does not apply strictly onto {base}:\n{report}")]
    Apply { base: String, report: String },
    #[error(transparent)]
    ApplySetup(#[from] apply::ApplyError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("checkpatch.pl --strict is not clean:\n{0}")]
    Checkpatch(String),
}

/// A parsed template: subject line and body with `{{name}}` placeholders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub subject: String,
    pub body: String,
}

pub const PLACEHOLDERS: &[&str] = &[
    "version",
    "series",
    "ci_base",
    "package_base",
    "tested",
    "disabled",
];

pub fn parse_template(path: &Path, text: &str) -> Result<Template, RfcError> {
    let terr = |msg: String| RfcError::Template {
        path: path.to_path_buf(),
        msg,
    };
    // Lines starting with '#' are notes for whoever edits the template.
    let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let first = kept.first().copied().unwrap_or("");
    let subject = first
        .strip_prefix("Subject: ")
        .ok_or_else(|| terr("the first non-comment line must be `Subject: <series title>`".into()))?
        .trim()
        .to_string();
    if subject.is_empty() {
        return Err(terr("empty Subject:".into()));
    }
    let body = kept.get(1..).unwrap_or(&[]).join("\n").trim().to_string() + "\n";
    let mut rest = body.as_str();
    while let Some(i) = rest.find("{{") {
        let after = &rest[i + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| terr("unclosed `{{`".into()))?;
        let name = &after[..end];
        if !PLACEHOLDERS.contains(&name) {
            return Err(terr(format!(
                "unknown placeholder {{{{{name}}}}} (known: {})",
                PLACEHOLDERS.join(", ")
            )));
        }
        rest = &after[end + 2..];
    }
    Ok(Template { subject, body })
}

/// Values for the placeholders.
pub struct CoverInput<'a> {
    pub version: u32,
    pub manifest: &'a Manifest,
    pub ci_base_desc: String,
    pub tested: String,
}

pub fn render(t: &Template, input: &CoverInput) -> String {
    let m = input.manifest;
    let mut series = String::new();
    for (i, p) in m.included().enumerate() {
        let subject = fs::read_to_string(m.patch_file(p))
            .ok()
            .and_then(|t| mbox::parse(&t).subject)
            .map(|s| mbox::strip_subject_prefix(&s).to_string())
            .unwrap_or_else(|| p.path.clone());
        let tag = if p.upstream == "new" {
            "new in this version".to_string()
        } else {
            format!("was {}", p.upstream)
        };
        series.push_str(&format!("  {:>2}. {subject}\n      ({tag})\n", i + 1));
    }
    let disabled: Vec<String> = m
        .patches
        .iter()
        .filter(|p| p.status == crate::manifest::Status::Disabled)
        .map(|p| format!("  - {}: {}", p.path, p.reason.clone().unwrap_or_default()))
        .collect();
    let disabled = if disabled.is_empty() {
        "  (none)".to_string()
    } else {
        disabled.join("\n")
    };
    let vals: BTreeMap<&str, String> = [
        ("version", input.version.to_string()),
        ("series", series.trim_end().to_string()),
        ("ci_base", input.ci_base_desc.clone()),
        ("package_base", format!("v{}", m.base_version)),
        ("tested", input.tested.trim_end().to_string()),
        ("disabled", disabled),
    ]
    .into_iter()
    .collect();
    let mut out = t.body.clone();
    for (k, v) in vals {
        out = out.replace(&format!("{{{{{k}}}}}",), &v);
    }
    out
}

/// Recipients from `get_maintainer.pl` output (with role stats):
/// maintainers and reviewers go to To:, lists and the rest to Cc:.
pub fn split_recipients(get_maintainer_out: &str) -> (Vec<String>, Vec<String>) {
    let mut to = BTreeSet::new();
    let mut cc = BTreeSet::new();
    for line in get_maintainer_out
        .lines()
        .map(str::trim)
        .filter(|l| l.contains('@'))
    {
        let (addr, role) = match line.find(" (") {
            Some(i) => (line[..i].trim(), &line[i..]),
            None => (line, ""),
        };
        if role.contains("maintainer") || role.contains("reviewer") {
            to.insert(addr.to_string());
        } else {
            cc.insert(addr.to_string());
        }
    }
    cc.retain(|a| !to.contains(a));
    (to.into_iter().collect(), cc.into_iter().collect())
}

/// Sums `total: E errors, W warnings, C checks` lines; Some(report) if any nonzero.
pub fn checkpatch_problems(output: &str) -> Option<String> {
    let dirty = output.lines().any(|l| {
        l.starts_with("total: ") && !l.starts_with("total: 0 errors, 0 warnings, 0 checks")
    });
    let no_total = !output.lines().any(|l| l.starts_with("total: "));
    (dirty || no_total).then(|| output.to_string())
}

fn run(cmd: &mut Command) -> Result<String, RfcError> {
    let desc = format!("{cmd:?}");
    let out = cmd.output().map_err(|source| RfcError::Spawn {
        cmd: desc.clone(),
        source,
    })?;
    if !out.status.success() {
        return Err(RfcError::Cmd {
            cmd: desc,
            stderr: format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Name and address from the first included patch's `From:` header.
pub fn series_author(m: &Manifest) -> Option<(String, String)> {
    let p = m.included().next()?;
    let from = mbox::parse(&fs::read_to_string(m.patch_file(p)).ok()?).from?;
    if from.contains("=?") {
        return None;
    }
    let (name, rest) = from.split_once('<')?;
    let email = rest.strip_suffix('>')?.trim();
    let name = name.trim().trim_matches('"').trim();
    (!name.is_empty() && email.contains('@')).then(|| (name.to_string(), email.to_string()))
}

pub struct ExportArgs {
    pub src: PathBuf,
    pub base: String,
    pub out: PathBuf,
    pub version: u32,
    pub template: PathBuf,
    pub tested: String,
}

/// Removes the worktree however the export ends.
struct Worktree {
    src: PathBuf,
    path: PathBuf,
}

impl Drop for Worktree {
    fn drop(&mut self) {
        let _ = Command::new("git")
            .arg("-C")
            .arg(&self.src)
            .args(["worktree", "remove", "--force"])
            .arg(&self.path)
            .output();
        let _ = Command::new("git")
            .arg("-C")
            .arg(&self.src)
            .args(["worktree", "prune"])
            .output();
    }
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    /// Cover letter first, then the patches.
    pub files: Vec<PathBuf>,
    /// The strict-apply report onto the base.
    pub apply_report: String,
    pub to: Vec<String>,
    pub cc: Vec<String>,
}

/// Runs the whole export.
pub fn export(manifest: &Manifest, a: &ExportArgs) -> Result<Exported, RfcError> {
    let ttext = fs::read_to_string(&a.template).map_err(|source| RfcError::Io {
        path: a.template.clone(),
        source,
    })?;
    let template = parse_template(&a.template, &ttext)?;
    if manifest.included().next().is_none() {
        return Err(RfcError::EmptySeries);
    }
    if a.out.exists()
        && fs::read_dir(&a.out)
            .map_err(|source| RfcError::Io {
                path: a.out.clone(),
                source,
            })?
            .next()
            .is_some()
    {
        return Err(RfcError::OutNotEmpty(a.out.clone()));
    }
    fs::create_dir_all(&a.out).map_err(|source| RfcError::Io {
        path: a.out.clone(),
        source,
    })?;
    let out = fs::canonicalize(&a.out).map_err(|source| RfcError::Io {
        path: a.out.clone(),
        source,
    })?;

    let parent = a.src.parent().unwrap_or(Path::new("/"));
    let wt_path = parent.join(format!("wt-rfc-export-{}", std::process::id()));
    run(Command::new("git")
        .arg("-C")
        .arg(&a.src)
        .args(["worktree", "add", "--detach", "--quiet"])
        .arg(&wt_path)
        .arg(&a.base))?;
    let wt = Worktree {
        src: a.src.clone(),
        path: wt_path,
    };

    let report = apply::apply_series(manifest, &wt.path, Options::default())?;
    if !report.success() {
        return Err(RfcError::Apply {
            base: a.base.clone(),
            report: report.to_string(),
        });
    }
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.arg("-C").arg(&wt.path).args(args);
        c
    };
    let base_sha = run(&mut git(&["rev-parse", &format!("{}^{{commit}}", a.base)]))?
        .trim()
        .to_string();
    let range = format!("{base_sha}..HEAD");
    let v = format!("-v{}", a.version);

    // First pass: plain patches for get_maintainer.pl.
    let scratch = out.join(".get-maintainer");
    run(&mut git(&[
        "format-patch",
        "--quiet",
        "-o",
        &scratch.to_string_lossy(),
        &range,
    ]))?;
    let mut gm = Command::new("perl");
    gm.current_dir(&wt.path).args([
        "scripts/get_maintainer.pl",
        "--no-git",
        "--no-git-fallback",
        "--rolestats",
    ]);
    let mut scratch_files: Vec<PathBuf> = fs::read_dir(&scratch)
        .map_err(|source| RfcError::Io {
            path: scratch.clone(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    scratch_files.sort();
    gm.args(&scratch_files);
    let (to, cc) = split_recipients(&run(&mut gm)?);
    let _ = fs::remove_dir_all(&scratch);

    let mut fp: Vec<String> = vec![
        "format-patch".into(),
        "--quiet".into(),
        "--cover-letter".into(),
        "--rfc".into(),
        v,
        format!("--base={base_sha}"),
        "-o".into(),
        out.to_string_lossy().into_owned(),
    ];
    fp.extend(to.iter().map(|t| format!("--to={t}")));
    fp.extend(cc.iter().map(|c| format!("--cc={c}")));
    fp.push(range);
    let fp_ref: Vec<&str> = fp.iter().map(String::as_str).collect();
    let mut fp_cmd = git(&fp_ref);
    // The cover letter's From: is the committer identity; make it the
    // series author (first patch's From:) rather than this machine's git
    // config. RFC 2047-encoded names are left to git's identity.
    if let Some((name, email)) = series_author(manifest) {
        fp_cmd
            .env("GIT_COMMITTER_NAME", name)
            .env("GIT_COMMITTER_EMAIL", email);
    }
    run(&mut fp_cmd)?;

    let mut files: Vec<PathBuf> = fs::read_dir(&out)
        .map_err(|source| RfcError::Io {
            path: out.clone(),
            source,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "patch"))
        .collect();
    files.sort();

    // Fill the cover letter that format-patch left with placeholders.
    let cover = files
        .iter()
        .find(|p| p.to_string_lossy().contains("0000-cover-letter"))
        .cloned()
        .ok_or_else(|| RfcError::Cmd {
            cmd: "git format-patch --cover-letter".into(),
            stderr: "no cover letter written".into(),
        })?;
    let ctext = fs::read_to_string(&cover).map_err(|source| RfcError::Io {
        path: cover.clone(),
        source,
    })?;
    let ci = &manifest.ci_base;
    let body = render(
        &template,
        &CoverInput {
            version: a.version,
            manifest,
            ci_base_desc: format!(
                "Debian {} {} (tag {}, commit {})",
                ci.get("package").map(String::as_str).unwrap_or("?"),
                ci.get("version").map(String::as_str).unwrap_or("?"),
                a.base,
                &base_sha[..12.min(base_sha.len())]
            ),
            tested: a.tested.clone(),
        },
    );
    let filled = ctext
        .replace("*** SUBJECT HERE ***", &template.subject)
        .replace("*** BLURB HERE ***", body.trim_end());
    fs::write(&cover, filled).map_err(|source| RfcError::Io {
        path: cover.clone(),
        source,
    })?;

    // checkpatch --strict on every patch (not the cover letter: it has no diff).
    let mut cp = Command::new("perl");
    cp.current_dir(&wt.path)
        .args(["scripts/checkpatch.pl", "--strict", "--no-color"])
        .args(files.iter().filter(|p| *p != &cover));
    let desc = format!("{cp:?}");
    let o = cp
        .output()
        .map_err(|source| RfcError::Spawn { cmd: desc, source })?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    if !o.status.success() {
        return Err(RfcError::Checkpatch(text));
    }
    if let Some(problems) = checkpatch_problems(&text) {
        return Err(RfcError::Checkpatch(problems));
    }
    Ok(Exported {
        files,
        apply_report: report.to_string(),
        to,
        cc,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_rejects_unknown_placeholder() {
        let e = parse_template(Path::new("t"), "Subject: x\n\n{{nope}}\n").unwrap_err();
        assert!(
            e.to_string().contains("unknown placeholder {{nope}}"),
            "{e}"
        );
    }

    #[test]
    fn template_needs_subject() {
        let e = parse_template(Path::new("t"), "# note\nHello\n").unwrap_err();
        assert!(e.to_string().contains("Subject:"), "{e}");
    }

    #[test]
    fn recipients_split_by_role() {
        let gm = "Mauro <m@k.org> (maintainer:MEDIA)\nR <r@x.org> (reviewer:VB2)\nlinux-media@vger.kernel.org (open list:MEDIA)\nlinux-kernel@vger.kernel.org (open list)\n";
        let (to, cc) = split_recipients(gm);
        assert_eq!(to, vec!["Mauro <m@k.org>", "R <r@x.org>"]);
        assert_eq!(
            cc,
            vec![
                "linux-kernel@vger.kernel.org",
                "linux-media@vger.kernel.org"
            ]
        );
    }

    #[test]
    fn checkpatch_totals() {
        assert!(
            checkpatch_problems("total: 0 errors, 0 warnings, 0 checks, 10 lines checked\n")
                .is_none()
        );
        assert!(
            checkpatch_problems("total: 0 errors, 1 warnings, 0 checks, 10 lines checked\n")
                .is_some()
        );
        assert!(checkpatch_problems("").is_some());
    }
}
