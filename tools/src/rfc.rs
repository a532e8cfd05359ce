//! Upstream export: the included series, applied strictly onto the CI base in
//! a throw-away worktree, re-authored by the person who sends it, and turned
//! into two postings: the fixes (`fixes/`, sent first, `[PATCH]`) and the
//! RFC (`rfc/`, `[RFC PATCH vN]`), each with its cover letter (templates
//! rfc/fixes-cover-letter.txt and rfc/cover-letter.txt), recipients from
//! get_maintainer.pl, checkpatch --strict --max-line-length=80 on every patch, and a round trip:
//! each series `git am`s onto a fresh worktree of the base and gives the
//! tree of the strict apply. Package-only patches are left out.

use crate::apply::{self, Options};
use crate::manifest::{Destination, Manifest};
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
    #[error("checkpatch.pl --strict --max-line-length=80 is not clean:\n{0}")]
    Checkpatch(String),
    #[error("{0}")]
    Identity(String),
    #[error("{0}")]
    Assistance(String),
    #[error("round trip: {series} does not `git am` onto {base} into the tree of the strict apply:\n{detail}")]
    RoundTrip {
        series: String,
        base: String,
        detail: String,
    },
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
    "base",
    "target_tree",
    "package_base",
    "tested",
    "disabled",
    "fixes",
    "package_only",
    "assistance",
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
    /// Which series this cover letter introduces.
    pub destination: Destination,
    pub tested: String,
    pub assistance: &'a Assistance,
}

fn subject_of(m: &Manifest, p: &crate::manifest::PatchEntry) -> String {
    fs::read_to_string(m.patch_file(p))
        .ok()
        .and_then(|t| mbox::parse(&t).subject)
        .map(|s| mbox::strip_subject_prefix(&s).to_string())
        .unwrap_or_else(|| p.path.clone())
}

/// "v7.2.13" and the tree the series targets, from `[rfc]`; falls back
/// to the CI base package when the manifest has no `[rfc]` table.
pub fn base_description(m: &Manifest) -> String {
    let ci = |k: &str| m.ci_base.get(k).cloned().unwrap_or_else(|| "?".into());
    match m.rfc.get("base_tag") {
        Some(tag) => {
            let commit = match m.rfc.get("base_commit").map(String::as_str) {
                Some(c) if !c.is_empty() => format!("upstream commit\n  {c}"),
                _ => "no upstream commit id is known,\n  so there is no base-commit: line"
                    .to_string(),
            };
            format!(
                "{tag}\n  (tested on {} {}, which is {tag} with the\n  distribution's patches; {commit})",
                ci("package"),
                ci("version")
            )
        }
        None => format!(
            "{} {} (no upstream tag recorded in manifest.toml [rfc])",
            ci("package"),
            ci("version")
        ),
    }
}

fn list(m: &Manifest, d: Destination) -> String {
    let l: Vec<String> = m
        .destined(d)
        .map(|p| format!("  - {}", subject_of(m, p)))
        .collect();
    if l.is_empty() {
        "  (none)".to_string()
    } else {
        l.join("\n")
    }
}

pub fn render(t: &Template, input: &CoverInput) -> String {
    let m = input.manifest;
    let mut series = String::new();
    for (i, p) in m.destined(input.destination).enumerate() {
        let subject = subject_of(m, p);
        // Fixes are a first posting; the RFC says what each patch was.
        let tag = match (input.destination, p.upstream.as_str()) {
            (Destination::Fixes, _) => String::new(),
            (_, "new") => "\n      (new in this version)".to_string(),
            (_, u) => format!("\n      (was {u})"),
        };
        series.push_str(&format!("  {:>2}. {subject}{tag}\n", i + 1));
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
        ("base", base_description(m)),
        (
            "target_tree",
            m.rfc
                .get("target_tree")
                .cloned()
                .unwrap_or_else(|| "(not recorded in manifest.toml [rfc])".into()),
        ),
        ("package_base", format!("v{}", m.base_version)),
        ("tested", input.tested.trim_end().to_string()),
        ("disabled", disabled),
        ("fixes", list(m, Destination::Fixes)),
        ("package_only", list(m, Destination::PackageOnly)),
        ("assistance", input.assistance.cover_line()),
    ]
    .into_iter()
    .collect();
    let mut out = t.body.clone();
    for (k, v) in vals {
        let placeholder = format!("{{{{{k}}}}}");
        // An empty value alone on its line takes the line with it.
        if v.is_empty() {
            out = out.replace(&format!("\n{placeholder}\n"), "\n");
        }
        out = out.replace(&placeholder, &v);
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

/// How checkpatch.pl judges every patch of the series, here on export and
/// in scripts/checkpatch-series.sh (`fresnel-tools rfc checkpatch-flags`):
/// as the media maintainer entry profile asks, `--strict
/// --max-line-length=80` (its accepted longer lines, whole strings, are
/// ones checkpatch itself lets through). Two types are ignored. UNKNOWN_COMMIT_ID: the CI base tree has none of
/// upstream's history, so checkpatch cannot look a Fixes: or commit
/// reference up (it still checks their format; the ids were confirmed in
/// public sources, see the fixes cover letter). FILE_PATH_CHANGES:
/// checkpatch's "does MAINTAINERS need updating?" for every added file,
/// which it cannot answer itself: the one file the series adds is under
/// VIDEOBUF2 FRAMEWORK's `F: drivers/media/common/videobuf2/*`.
pub const CHECKPATCH_FLAGS: &[&str] = &[
    "--strict",
    "--max-line-length=80",
    "--ignore",
    "UNKNOWN_COMMIT_ID,FILE_PATH_CHANGES",
];

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

/// Runs `cmd` with `input` on its stdin; its stdout, or an error with stderr.
fn run_with_stdin(cmd: &mut Command, input: &str) -> Result<String, RfcError> {
    use std::io::Write;
    use std::process::Stdio;
    let desc = format!("{cmd:?}");
    let spawn_err = |source| RfcError::Spawn {
        cmd: desc.clone(),
        source,
    };
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(spawn_err)?;
    }
    let o = child.wait_with_output().map_err(spawn_err)?;
    if !o.status.success() {
        return Err(RfcError::Cmd {
            cmd: desc,
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&o.stdout).into_owned())
}

/// The person who sends the series: author of every exported patch, its
/// last Signed-off-by, and the From: of the cover letters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} <{}>", self.name, self.email)
    }
}

/// What to do about a refused identity, shown with every refusal.
const SET_IDENTITY: &str = "the exported patches are authored and signed off (DCO) by the person who sends them, so that must be a real, reachable identity: set `git config user.name \"Your Name\"` and `git config user.email you@your.domain`, or pass --author \"Your Name <you@your.domain>\" (or set FRESNEL_RFC_AUTHOR, which scripts/export-rfc.sh passes on)";

/// Whether a coding assistant helped make the series. The kernel's
/// Documentation/process/coding-assistants.rst asks for an `Assisted-by:
/// AGENT:MODEL [TOOLS]` tag on such contributions; the export never picks
/// a default, so the submitter must say one or the other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assistance {
    /// The `Assisted-by:` value, `AGENT:MODEL [TOOL...]`.
    AssistedBy(String),
    /// The submitter states that no coding assistant was used.
    NoAssistant,
}

const CHOOSE_ASSISTANCE: &str = "pass --assisted-by AGENT:MODEL [TOOLS] (FRESNEL_RFC_ASSISTED_BY) if a coding assistant helped make the series, or --no-assistant (FRESNEL_RFC_NO_ASSISTANT=true) if none did; Documentation/process/coding-assistants.rst asks for an Assisted-by: tag, and the export does not guess";

impl Assistance {
    /// The submitter's choice, refused when it is missing, contradictory
    /// or not of the form the kernel documents.
    pub fn choose(assisted_by: Option<&str>, no_assistant: bool) -> Result<Self, RfcError> {
        let value = assisted_by.map(str::trim).filter(|v| !v.is_empty());
        if let Some(v) = value.filter(|v| v.contains(char::is_control)) {
            return Err(RfcError::Assistance(format!(
                "--assisted-by {v:?} holds a control character (a line break would add a trailer of its own): {CHOOSE_ASSISTANCE}"
            )));
        }
        match (value, no_assistant) {
            (None, false) => Err(RfcError::Assistance(format!(
                "say whether a coding assistant was used: {CHOOSE_ASSISTANCE}"
            ))),
            (Some(v), true) => Err(RfcError::Assistance(format!(
                "both --assisted-by {v:?} and --no-assistant were given: {CHOOSE_ASSISTANCE}"
            ))),
            (None, true) => Ok(Self::NoAssistant),
            (Some(v), false) => {
                let agent_model = v.split_whitespace().next().unwrap_or("");
                match agent_model.split_once(':') {
                    Some((agent, model)) if !agent.is_empty() && !model.is_empty() => {
                        Ok(Self::AssistedBy(v.to_string()))
                    }
                    _ => Err(RfcError::Assistance(format!(
                        "--assisted-by {v:?} does not start with AGENT:MODEL (e.g. \"Claude:claude-3-opus coccinelle\"): {CHOOSE_ASSISTANCE}"
                    ))),
                }
            }
        }
    }

    /// The `Assisted-by:` value, if any.
    pub fn assisted_by(&self) -> Option<&str> {
        match self {
            Self::AssistedBy(v) => Some(v),
            Self::NoAssistant => None,
        }
    }

    /// The cover letter's `{{assistance}}`.
    fn cover_line(&self) -> String {
        match self {
            Self::AssistedBy(v) => format!(
                "A coding assistant helped make this series; every patch carries\n  Assisted-by: {v}\nas Documentation/process/coding-assistants.rst asks."
            ),
            Self::NoAssistant => "The submitter states that no coding assistant was used.".into(),
        }
    }
}

/// Parses `Name <email>`.
pub fn parse_identity(s: &str) -> Result<Identity, RfcError> {
    let bad = || {
        RfcError::Identity(format!(
            "--author {s:?} is not of the form \"Name <email>\"; {SET_IDENTITY}"
        ))
    };
    let (name, rest) = s.split_once('<').ok_or_else(bad)?;
    let email = rest.trim().strip_suffix('>').ok_or_else(bad)?.trim();
    let name = name.trim().trim_matches('"').trim();
    if name.is_empty() || email.is_empty() {
        return Err(bad());
    }
    Ok(Identity {
        name: name.to_string(),
        email: email.to_string(),
    })
}

/// Top-level domains RFC 2606/6761 reserve (nothing there is reachable),
/// and the ones placeholder addresses use (`you@your.domain`, the example
/// in SET_IDENTITY; `host.localdomain`), which no registry serves.
const RESERVED_TLDS: &[&str] = &[
    "invalid",
    "example",
    "test",
    "localhost",
    "local",
    "domain",
    "localdomain",
];
/// Second-level domains RFC 2606 reserves for documentation.
const RESERVED_DOMAINS: &[&str] = &["example.com", "example.org", "example.net"];

/// Why `id` cannot sign a posting, or None if it can.
pub fn identity_problem(id: &Identity) -> Option<String> {
    let Some((local, domain)) = id.email.rsplit_once('@') else {
        return Some(format!("`{}` is not an e-mail address", id.email));
    };
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    if local.is_empty() || domain.is_empty() || !domain.contains('.') && domain != "localhost" {
        return Some(format!("`{}` is not a routable e-mail address", id.email));
    }
    let tld = domain.rsplit('.').next().unwrap_or("");
    if RESERVED_TLDS.contains(&tld) {
        return Some(format!(
            "`{}` is in the reserved top-level domain .{tld}, which nobody can reply to",
            id.email
        ));
    }
    if let Some(d) = RESERVED_DOMAINS
        .iter()
        .find(|d| domain == **d || domain.ends_with(&format!(".{d}")))
    {
        return Some(format!(
            "`{}` is in {d}, a domain reserved for documentation",
            id.email
        ));
    }
    if id.name.trim().is_empty() {
        return Some("the name is empty".to_string());
    }
    if id.name.trim().eq_ignore_ascii_case("Your Name") {
        return Some("\"Your Name\" is the example, not a name".to_string());
    }
    None
}

/// Refuses a placeholder or reserved-domain identity, saying what to set.
pub fn check_identity(id: &Identity) -> Result<(), RfcError> {
    match identity_problem(id) {
        Some(why) => Err(RfcError::Identity(format!(
            "refusing to export as {id}: {why}; {SET_IDENTITY}"
        ))),
        None => Ok(()),
    }
}

/// The submitter: `--author` if given, else `git config user.name` and
/// `user.email` as git sees them in `dir`; refused if it is a placeholder.
pub fn resolve_submitter(author: Option<&str>, dir: &Path) -> Result<Identity, RfcError> {
    let id = match author {
        Some(a) => parse_identity(a)?,
        None => {
            let get = |key: &str| {
                Command::new("git")
                    .arg("-C")
                    .arg(dir)
                    .args(["config", "--get", key])
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
                    .filter(|v| !v.is_empty())
            };
            match (get("user.name"), get("user.email")) {
                (Some(name), Some(email)) => Identity { name, email },
                _ => {
                    return Err(RfcError::Identity(format!(
                        "no submitter: git config user.name/user.email are not set and no --author was given; {SET_IDENTITY}"
                    )))
                }
            }
        }
    };
    check_identity(&id)?;
    Ok(id)
}

/// A commit message as sent by `submitter`: every trailer kept except
/// Signed-off-by lines of placeholder identities (the repository's own
/// project identity), then `Assisted-by:` if given, then the submitter's
/// Signed-off-by last (moved there if it was already present).
pub fn sign_message(msg: &str, submitter: &Identity, assisted_by: Option<&str>) -> String {
    let sob = format!("Signed-off-by: {submitter}");
    let mut lines: Vec<&str> = msg.trim_end().lines().collect();
    // The trailer block: the last paragraph, if every line is `Key: value`.
    let para_start = lines
        .iter()
        .rposition(|l| l.trim().is_empty())
        .map(|i| i + 1)
        .unwrap_or(lines.len());
    let is_trailer = |l: &str| {
        l.split_once(": ").is_some_and(|(k, _)| {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
    };
    let has_block = para_start > 0
        && para_start < lines.len()
        && lines[para_start..].iter().all(|l| is_trailer(l));
    let mut trailers: Vec<String> = Vec::new();
    if has_block {
        for l in lines.split_off(para_start) {
            let placeholder_sob = l
                .strip_prefix("Signed-off-by: ")
                .and_then(|v| parse_identity(v).ok())
                .is_some_and(|id| identity_problem(&id).is_some());
            let assisted_dup = assisted_by.is_some_and(|a| l == format!("Assisted-by: {a}"));
            if !placeholder_sob && l != sob && !assisted_dup {
                trailers.push(l.to_string());
            }
        }
    }
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if let Some(a) = assisted_by {
        trailers.push(format!("Assisted-by: {a}"));
    }
    trailers.push(sob);
    format!("{}\n\n{}\n", lines.join("\n"), trailers.join("\n"))
}

pub struct ExportArgs {
    pub src: PathBuf,
    pub base: String,
    pub out: PathBuf,
    pub version: u32,
    /// The RFC's cover letter template.
    pub template: PathBuf,
    /// The fix series' cover letter template.
    pub fixes_template: PathBuf,
    pub tested: String,
    /// Checked again by export(); resolve it with resolve_submitter().
    pub submitter: Identity,
    /// What the submitter said about coding assistants.
    pub assistance: Assistance,
}

/// Removes the worktree however the export ends.
struct Worktree {
    src: PathBuf,
    path: PathBuf,
}

impl Worktree {
    fn add(src: &Path, tag: &str, at: &str) -> Result<Self, RfcError> {
        let parent = src.parent().unwrap_or(Path::new("/"));
        let path = parent.join(format!("wt-rfc-{tag}-{}", std::process::id()));
        run(Command::new("git")
            .arg("-C")
            .arg(src)
            .args(["worktree", "add", "--detach", "--quiet"])
            .arg(&path)
            .arg(at))?;
        Ok(Self {
            src: src.to_path_buf(),
            path,
        })
    }

    fn git(&self, args: &[&str]) -> Command {
        let mut c = Command::new("git");
        c.arg("-C").arg(&self.path).args(args);
        c
    }
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

/// One posting that an export wrote.
#[derive(Debug)]
pub struct Series {
    /// `fixes` or `rfc`: the subdirectory of the output directory.
    pub name: &'static str,
    /// The cover letter's Subject: line, as written.
    pub subject: String,
    /// Cover letter first, then the patches.
    pub files: Vec<PathBuf>,
    pub to: Vec<String>,
    pub cc: Vec<String>,
}

/// What an export wrote.
#[derive(Debug)]
pub struct Exported {
    /// The fixes first (when there are any), then the RFC.
    pub series: Vec<Series>,
    /// The strict-apply report onto the base.
    pub apply_report: String,
    /// One line per series: the round trip that was checked.
    pub round_trip: Vec<String>,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RfcError + '_ {
    move |source| RfcError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn patch_files(dir: &Path) -> Result<Vec<PathBuf>, RfcError> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "patch"))
        .collect();
    files.sort();
    Ok(files)
}

/// Rewrites base..tip so that `submitter` authors and commits every commit
/// and signs it off last; trees are kept, so the strict apply's trees stay
/// the reference. Returns the new tip.
fn resign(
    wt: &Worktree,
    base: &str,
    tip: &str,
    submitter: &Identity,
    assisted_by: Option<&str>,
) -> Result<String, RfcError> {
    let revs = run(&mut wt.git(&["rev-list", "--reverse", &format!("{base}..{tip}")]))?;
    let mut parent = base.to_string();
    for c in revs.lines() {
        let msg = run(&mut wt.git(&["log", "-1", "--format=%B", c]))?;
        let tree = format!("{c}^{{tree}}");
        let mut cmd = wt.git(&["commit-tree", &tree, "-p", &parent, "-F", "-"]);
        cmd.env("GIT_AUTHOR_NAME", &submitter.name)
            .env("GIT_AUTHOR_EMAIL", &submitter.email)
            .env("GIT_COMMITTER_NAME", &submitter.name)
            .env("GIT_COMMITTER_EMAIL", &submitter.email);
        let new = run_with_stdin(&mut cmd, &sign_message(&msg, submitter, assisted_by))?;
        parent = new.trim().to_string();
    }
    Ok(parent)
}

/// A base-commit: line (and the fixes as prerequisite-patch-id: lines
/// for the RFC), only when `[rfc] base_commit` names an upstream commit.
fn base_lines(
    m: &Manifest,
    wt: &Worktree,
    prerequisites: Option<(&str, &str)>,
) -> Result<String, RfcError> {
    let Some(commit) = m.rfc.get("base_commit").filter(|c| !c.is_empty()) else {
        return Ok(String::new());
    };
    let mut out = format!("base-commit: {commit}\n");
    if let Some((from, to)) = prerequisites {
        let revs = run(&mut wt.git(&["rev-list", "--reverse", &format!("{from}..{to}")]))?;
        for c in revs.lines() {
            let diff = run(&mut wt.git(&["show", "--format=", c]))?;
            let pid = run_with_stdin(&mut wt.git(&["patch-id", "--stable"]), &diff)?;
            if let Some(id) = pid.split_whitespace().next() {
                out.push_str(&format!("prerequisite-patch-id: {id}\n"));
            }
        }
    }
    Ok(out)
}

struct SeriesSpec<'a> {
    name: &'static str,
    destination: Destination,
    template: &'a Template,
    /// format-patch options that make the subject prefix.
    prefix_args: Vec<String>,
    range_from: String,
    range_to: String,
}

fn write_series(
    manifest: &Manifest,
    a: &ExportArgs,
    wt: &Worktree,
    out_root: &Path,
    spec: &SeriesSpec,
) -> Result<Series, RfcError> {
    let out = out_root.join(spec.name);
    fs::create_dir_all(&out).map_err(io_err(&out))?;
    let range = format!("{}..{}", spec.range_from, spec.range_to);

    // First pass: plain patches for get_maintainer.pl.
    let scratch = out_root.join(format!(".get-maintainer-{}", spec.name));
    run(&mut wt.git(&[
        "format-patch",
        "--quiet",
        "-o",
        &scratch.to_string_lossy(),
        &range,
    ]))?;
    let scratch_files = patch_files(&scratch)?;
    let mut gm = Command::new("perl");
    gm.current_dir(&wt.path)
        .args([
            "scripts/get_maintainer.pl",
            "--no-git",
            "--no-git-fallback",
            "--rolestats",
        ])
        .args(&scratch_files);
    let gm_out = run(&mut gm);
    let _ = fs::remove_dir_all(&scratch);
    let (to, cc) = split_recipients(&gm_out?);

    let mut fp: Vec<String> = vec![
        "format-patch".into(),
        "--quiet".into(),
        "--cover-letter".into(),
        "--no-base".into(),
        "--thread=shallow".into(),
    ];
    fp.extend(spec.prefix_args.iter().cloned());
    fp.extend(["-o".into(), out.to_string_lossy().into_owned()]);
    fp.extend(to.iter().map(|t| format!("--to={t}")));
    fp.extend(cc.iter().map(|c| format!("--cc={c}")));
    fp.push(range);
    let fp_ref: Vec<&str> = fp.iter().map(String::as_str).collect();
    // The cover letter's From: is the committer: the submitter.
    let mut fp_cmd = wt.git(&fp_ref);
    fp_cmd
        .env("GIT_COMMITTER_NAME", &a.submitter.name)
        .env("GIT_COMMITTER_EMAIL", &a.submitter.email);
    run(&mut fp_cmd)?;

    let files = patch_files(&out)?;
    let cover = files
        .iter()
        .find(|p| p.to_string_lossy().contains("0000-cover-letter"))
        .cloned()
        .ok_or_else(|| RfcError::Cmd {
            cmd: "git format-patch --cover-letter".into(),
            stderr: "no cover letter written".into(),
        })?;
    let ctext = fs::read_to_string(&cover).map_err(io_err(&cover))?;
    let body = render(
        spec.template,
        &CoverInput {
            version: a.version,
            manifest,
            destination: spec.destination,
            tested: a.tested.clone(),
            assistance: &a.assistance,
        },
    );
    let prereq = (spec.destination == Destination::Rfc)
        .then_some((a.base.as_str(), spec.range_from.as_str()));
    let base = base_lines(manifest, wt, prereq)?;
    let mut filled = ctext
        .replace("*** SUBJECT HERE ***", &spec.template.subject)
        .replace("*** BLURB HERE ***", body.trim_end());
    if !base.is_empty() {
        filled = format!("{}\n\n{base}", filled.trim_end());
    }
    fs::write(&cover, &filled).map_err(io_err(&cover))?;
    let subject = filled
        .lines()
        .find(|l| l.starts_with("Subject: "))
        .unwrap_or("")
        .trim_start_matches("Subject: ")
        .to_string();

    // checkpatch on every patch (not the cover letter: no diff).
    let mut cp = Command::new("perl");
    cp.current_dir(&wt.path)
        .arg("scripts/checkpatch.pl")
        .args(CHECKPATCH_FLAGS)
        .arg("--no-color")
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
    Ok(Series {
        name: spec.name,
        subject,
        files,
        to,
        cc,
    })
}

/// `git am`s every series, in order, onto a fresh checkout of the base (the
/// export's worktree reset to it: only the touched files are rewritten) and
/// compares each resulting tree with the strict apply's tree at that point.
fn round_trip(
    a: &ExportArgs,
    wt: &Worktree,
    base_sha: &str,
    series: &[Series],
    expected_trees: &[String],
) -> Result<Vec<String>, RfcError> {
    run(&mut wt.git(&["reset", "--quiet", "--hard", base_sha]))?;
    run(&mut wt.git(&["clean", "--quiet", "-fdx"]))?;
    let mut lines = Vec::new();
    for (s, want) in series.iter().zip(expected_trees) {
        let patches: Vec<&PathBuf> = s
            .files
            .iter()
            .filter(|p| !p.to_string_lossy().contains("0000-cover-letter"))
            .collect();
        let mut am = wt.git(&["am", "--quiet", "--no-3way"]);
        am.args(&patches)
            .env("GIT_COMMITTER_NAME", &a.submitter.name)
            .env("GIT_COMMITTER_EMAIL", &a.submitter.email);
        if let Err(e) = run(&mut am) {
            let _ = run(&mut wt.git(&["am", "--abort"]));
            return Err(RfcError::RoundTrip {
                series: format!("{}/", s.name),
                base: a.base.clone(),
                detail: e.to_string(),
            });
        }
        let got = run(&mut wt.git(&["rev-parse", "HEAD^{tree}"]))?
            .trim()
            .to_string();
        if &got != want {
            let diff = run(&mut wt.git(&["diff", "--stat", want, &got])).unwrap_or_default();
            return Err(RfcError::RoundTrip {
                series: format!("{}/", s.name),
                base: a.base.clone(),
                detail: format!("tree {got}, strict apply gave {want}\n{diff}"),
            });
        }
        let bad_author = run(&mut wt.git(&[
            "log",
            "--format=%an <%ae>",
            &format!("HEAD~{}..HEAD", patches.len()),
        ]))?
        .lines()
        .any(|l| l != a.submitter.to_string());
        if bad_author {
            return Err(RfcError::RoundTrip {
                series: format!("{}/", s.name),
                base: a.base.clone(),
                detail: format!("a patch is not authored by {}", a.submitter),
            });
        }
        lines.push(format!(
            "round trip: {}/ ({} patch(es)) `git am`s onto {} and gives the strict apply's tree {}",
            s.name,
            patches.len(),
            a.base,
            &want[..12.min(want.len())]
        ));
    }
    Ok(lines)
}

/// Runs the whole export.
pub fn export(manifest: &Manifest, a: &ExportArgs) -> Result<Exported, RfcError> {
    check_identity(&a.submitter)?;
    let read_template = |p: &Path| -> Result<Template, RfcError> {
        let text = fs::read_to_string(p).map_err(io_err(p))?;
        parse_template(p, &text)
    };
    let rfc_template = read_template(&a.template)?;
    let n_fixes = manifest.destined(Destination::Fixes).count();
    let n_rfc = manifest.destined(Destination::Rfc).count();
    let n_pkg = manifest.destined(Destination::PackageOnly).count();
    let fixes_template = if n_fixes > 0 {
        Some(read_template(&a.fixes_template)?)
    } else {
        None
    };
    if n_rfc == 0 {
        return Err(RfcError::EmptySeries);
    }
    if a.out.exists()
        && fs::read_dir(&a.out)
            .map_err(io_err(&a.out))?
            .next()
            .is_some()
    {
        return Err(RfcError::OutNotEmpty(a.out.clone()));
    }
    fs::create_dir_all(&a.out).map_err(io_err(&a.out))?;
    let out = fs::canonicalize(&a.out).map_err(io_err(&a.out))?;

    let wt = Worktree::add(&a.src, "export", &a.base)?;
    let report = apply::apply_series(manifest, &wt.path, Options::default())?;
    if !report.success() {
        return Err(RfcError::Apply {
            base: a.base.clone(),
            report: report.to_string(),
        });
    }
    let rev = |r: String| -> Result<String, RfcError> {
        Ok(run(&mut wt.git(&["rev-parse", &r]))?.trim().to_string())
    };
    let base_sha = rev(format!("{}^{{commit}}", a.base))?;
    // The manifest orders included patches fixes, rfc, package-only.
    let fixes_tip = rev(format!("HEAD~{}", n_rfc + n_pkg))?;
    let rfc_tip = rev(format!("HEAD~{n_pkg}"))?;
    let mut expected_trees = Vec::new();
    if n_fixes > 0 {
        expected_trees.push(rev(format!("{fixes_tip}^{{tree}}"))?);
    }
    expected_trees.push(rev(format!("{rfc_tip}^{{tree}}"))?);

    let signed_tip = resign(
        &wt,
        &base_sha,
        &rfc_tip,
        &a.submitter,
        a.assistance.assisted_by(),
    )?;
    let signed_fixes_tip = rev(format!("{signed_tip}~{n_rfc}"))?;

    let mut series = Vec::new();
    if let Some(t) = &fixes_template {
        series.push(write_series(
            manifest,
            a,
            &wt,
            &out,
            &SeriesSpec {
                name: "fixes",
                destination: Destination::Fixes,
                template: t,
                prefix_args: vec![],
                range_from: base_sha.clone(),
                range_to: signed_fixes_tip.clone(),
            },
        )?);
    }
    series.push(write_series(
        manifest,
        a,
        &wt,
        &out,
        &SeriesSpec {
            name: "rfc",
            destination: Destination::Rfc,
            template: &rfc_template,
            prefix_args: vec!["--rfc".into(), format!("-v{}", a.version)],
            range_from: signed_fixes_tip,
            range_to: signed_tip,
        },
    )?);
    let round_trip = round_trip(a, &wt, &base_sha, &series, &expected_trees)?;
    Ok(Exported {
        series,
        apply_report: report.to_string(),
        round_trip,
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
