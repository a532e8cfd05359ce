//! Keeps PKGBUILD in step with manifest.toml.
//!
//! makepkg only takes local sources from the PKGBUILD's own directory, by
//! bare file name. The series (patches/<scope>/...) and the helper files
//! (package/...) are listed by their base names, and `pkgbuild stage`
//! (scripts/makepkg.sh) makes the directory makepkg runs in: symlinks to
//! the checkout's files under those names, plus the PKGBUILD and the
//! directories it reads. makepkg then finds every local source in place and
//! checks the file as it is now. (A `NAME::file://` source would be copied
//! beside the PKGBUILD on the first build, and that stale copy is what a
//! second build after an edit found and failed to verify.) That list and its
//! sha256 sums live in one generated block of the PKGBUILD, written by
//! `fresnel-tools pkgbuild update` and verified by `pkgbuild check`, so the
//! PKGBUILD can never apply a different series, order or file content than
//! the manifest says.

use crate::diag::Diagnostic;
use crate::manifest::{Manifest, PatchEntry};
use sha2::{Digest, Sha256};
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

pub const BEGIN: &str = "# BEGIN fresnel-tools generated sources";
pub const END: &str = "# END fresnel-tools generated sources";

/// Helper files the PKGBUILD ships, relative to the repository root.
pub const HELPERS: &[&str] = &[
    "package/config.alarm",
    "package/config.pinebook-pro",
    "package/config.rig-arm64",
    "package/config.fragment",
    "package/linux.preset",
    "package/extlinux-entry.sh",
    "package/91-linux-fresnel-fourier-extlinux.hook",
];

#[derive(Debug, thiserror::Error)]
pub enum PkgbuildError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} has no `{BEGIN}` ... `{END}` block (exactly one is needed)")]
    NoBlock { path: PathBuf },
    #[error("{path} has no pkgrel to bump (`[package] pkgrel = N` in manifest.toml, `pkgrel=N` in PKGBUILD)")]
    NoPkgrel { path: PathBuf },
}

/// makepkg's name of an included patch: its base name (numbered, so
/// unique in a series).
pub fn source_name(p: &PatchEntry) -> String {
    base_name(&p.path).to_string()
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// What the makepkg directory holds besides the sources: the PKGBUILD and
/// what it reads from `$startdir` (the install= file lives in package/;
/// tools/ builds against landing-model/).
pub const STAGED: &[&str] = &[
    "PKGBUILD",
    "manifest.toml",
    "patches",
    "package",
    "tools",
    "landing-model",
    "rust-kmod",
];

fn hex(digest: &[u8]) -> String {
    digest.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

pub fn sha256_file(path: &Path) -> Result<String, PkgbuildError> {
    let bytes = fs::read(path).map_err(|source| PkgbuildError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(hex(&Sha256::digest(&bytes)))
}

/// The kernel package's install script (`install=`, read from `$startdir`).
pub const INSTALL_SCRIPT: &str = "package/linux-fresnel-fourier.install";

/// What `_package-vb2-fence-probe()` builds: rust-kmod's sources (not its
/// README or selftest, which no package ships).
pub const PROBE_SOURCES: &[&str] = &[
    "rust-kmod/Kbuild",
    "rust-kmod/Makefile",
    "rust-kmod/vb2_fence_probe_uapi.h",
    "rust-kmod/vb2fp_main.rs",
    "rust-kmod/vb2fp_shim.c",
    "rust-kmod/vb2fp_shim.h",
];

/// Every file besides the series and the PKGBUILD whose change changes
/// what the packages hold: the helpers (configs included), the install
/// script and the probe's sources.
pub fn pkgrel_files() -> impl Iterator<Item = &'static str> {
    HELPERS
        .iter()
        .copied()
        .chain([INSTALL_SCRIPT])
        .chain(PROBE_SOURCES.iter().copied())
}

/// The PKGBUILD as a recipe: without the generated block (the series'
/// digest covers it) and the `pkgrel=` line (which the bump writes).
fn pkgbuild_recipe(text: &str) -> String {
    let rest = match find_block(text) {
        Some((a, b)) => format!("{}{}", &text[..a], &text[b..]),
        None => text.to_string(),
    };
    rest.lines()
        .filter(|l| !l.starts_with("pkgrel="))
        .fold(String::new(), |mut s, l| {
            s.push_str(l);
            s.push('\n');
            s
        })
}

/// Digest of what the package's pkgrel stands for: the included series (in
/// order, path and content), every file of [`pkgrel_files`], the
/// PKGBUILD's recipe and the opt-in list made from the manifest, so that no
/// change of the packages' contents can ship under an old version.
pub fn series_digest(manifest: &Manifest, repo_root: &Path) -> Result<String, PkgbuildError> {
    let mut h = Sha256::new();
    for p in manifest.included() {
        let sum = sha256_file(&manifest.patch_file(p))?;
        h.update(format!("patches/{}\0{sum}\n", p.path));
    }
    for file in pkgrel_files() {
        let sum = sha256_file(&repo_root.join(file))?;
        h.update(format!("{file}\0{sum}\n"));
    }
    let pkgbuild = repo_root.join("PKGBUILD");
    let text = fs::read_to_string(&pkgbuild).map_err(|source| PkgbuildError::Read {
        path: pkgbuild,
        source,
    })?;
    let sum = hex(&Sha256::digest(pkgbuild_recipe(&text).as_bytes()));
    h.update(format!("PKGBUILD\0{sum}\n"));
    // The opt-in list the package installs is made from the manifest.
    for o in &manifest.hardware_optins {
        h.update(format!("hardware-optins\0{}\n", o.list_line()));
    }
    Ok(hex(&h.finalize()))
}

/// 1-based line of the first `key = ...` in manifest.toml (0: none).
fn manifest_key_line(text: &str, key: &str) -> usize {
    text.lines()
        .position(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map_or(0, |i| i + 1)
}

/// pkgrel was bumped for the current series and package files: the digest
/// recorded with it in `[package] series_sha256` is theirs.
pub fn check_pkgrel_bump(
    manifest: &Manifest,
    repo_root: &Path,
) -> Result<Vec<Diagnostic>, PkgbuildError> {
    let text = fs::read_to_string(&manifest.file).map_err(|source| PkgbuildError::Read {
        path: manifest.file.clone(),
        source,
    })?;
    let now = series_digest(manifest, repo_root)?;
    if manifest.series_sha256 == now {
        return Ok(Vec::new());
    }
    let fix = "bump pkgrel with `fresnel-tools pkgbuild update --bump` (it records the new digest)";
    let (line, msg) = if manifest.series_sha256.is_empty() {
        (
            manifest_key_line(&text, "pkgrel"),
            format!(
                "[package] has no series_sha256 recording what pkgrel {} stands for; {fix}",
                manifest.pkgrel
            ),
        )
    } else {
        (
            manifest_key_line(&text, "series_sha256"),
            format!(
                "the series, the PKGBUILD (outside its generated block and pkgrel), manifest.toml's [[hardware_optin]] list or a file the packages are made from ({}) changed since pkgrel {} was set (series_sha256 {} != {now}); {fix}",
                pkgrel_files().collect::<Vec<_>>().join(", "),
                manifest.pkgrel,
                manifest.series_sha256
            ),
        )
    };
    Ok(vec![Diagnostic::new(&manifest.file, line, msg)])
}

/// Replaces the value of `key = ...` inside `[table]` of a TOML text, or
/// inserts `key = value` after the line of `after`; None if the table or
/// `after` is missing. Line-based so that comments and layout stay.
fn set_toml_key(text: &str, table: &str, key: &str, value: &str, after: &str) -> Option<String> {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let start = lines
        .iter()
        .position(|l| l.trim() == format!("[{table}]"))?
        + 1;
    let end = lines[start..]
        .iter()
        .position(|l| l.trim_start().starts_with('['))
        .map_or(lines.len(), |i| start + i);
    let is_key = |l: &str, k: &str| {
        l.trim_start()
            .strip_prefix(k)
            .is_some_and(|r| r.trim_start().starts_with('='))
    };
    let new = format!("{key} = {value}");
    if let Some(i) = (start..end).find(|&i| is_key(&lines[i], key)) {
        lines[i] = new;
    } else {
        let i = (start..end).find(|&i| is_key(&lines[i], after))?;
        lines.insert(i + 1, new);
    }
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    Some(out)
}

/// `pkgbuild update --bump`: pkgrel + 1 in manifest.toml and PKGBUILD,
/// the new series digest recorded beside it, the sources block rewritten.
/// Returns the new pkgrel.
pub fn bump(pkgbuild: &Path, manifest: &Manifest, repo_root: &Path) -> Result<u32, PkgbuildError> {
    let file = &manifest.file;
    let read = |p: &Path| {
        fs::read_to_string(p).map_err(|source| PkgbuildError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let write = |p: &Path, t: String| {
        fs::write(p, t).map_err(|source| PkgbuildError::Write {
            path: p.to_path_buf(),
            source,
        })
    };
    let pkgrel = manifest.pkgrel + 1;
    let digest = series_digest(manifest, repo_root)?;
    let text = read(file)?;
    let text = set_toml_key(&text, "package", "pkgrel", &pkgrel.to_string(), "pkgrel")
        .and_then(|t| {
            set_toml_key(
                &t,
                "package",
                "series_sha256",
                &format!("\"{digest}\""),
                "pkgrel",
            )
        })
        .ok_or_else(|| PkgbuildError::NoPkgrel { path: file.clone() })?;
    let pb = read(pkgbuild)?;
    let Some(at) = pb.lines().position(|l| l.starts_with("pkgrel=")) else {
        return Err(PkgbuildError::NoPkgrel {
            path: pkgbuild.to_path_buf(),
        });
    };
    let mut lines: Vec<&str> = pb.lines().collect();
    let new_line = format!("pkgrel={pkgrel}");
    lines[at] = &new_line;
    let mut pb_new = lines.join("\n");
    if pb.ends_with('\n') {
        pb_new.push('\n');
    }
    write(file, text)?;
    write(pkgbuild, pb_new)?;
    let bumped = Manifest {
        pkgrel,
        series_sha256: digest,
        ..manifest.clone()
    };
    update(pkgbuild, &bumped, repo_root)?;
    Ok(pkgrel)
}

/// (source entry, sha256) pairs, series first, in manifest order.
pub fn expected_sources(
    manifest: &Manifest,
    repo_root: &Path,
) -> Result<Vec<(String, String, PathBuf)>, PkgbuildError> {
    let mut out = Vec::new();
    for p in manifest.included() {
        let file = manifest.patch_file(p);
        out.push((source_name(p), sha256_file(&file)?, file));
    }
    for h in HELPERS {
        let file = repo_root.join(h);
        out.push((base_name(h).to_string(), sha256_file(&file)?, file));
    }
    Ok(out)
}

/// The generated block, markers included.
pub fn generate(manifest: &Manifest, repo_root: &Path) -> Result<String, PkgbuildError> {
    let src = expected_sources(manifest, repo_root)?;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{BEGIN} (from manifest.toml by `fresnel-tools pkgbuild update`; do not edit)"
    );
    s.push_str("_fresnel_series=(\n");
    for p in manifest.included() {
        let _ = writeln!(s, "  '{}'", p.path);
    }
    s.push_str(")\n_fresnel_sources=(\n");
    for (entry, _, _) in &src {
        let _ = writeln!(s, "  \"{entry}\"");
    }
    s.push_str(")\n_fresnel_sha256sums=(\n");
    for (_, sum, _) in &src {
        let _ = writeln!(s, "  '{sum}'");
    }
    let _ = writeln!(s, ")\n{END}");
    Ok(s)
}

/// Byte range of the block (from BEGIN line start to END line end).
fn find_block(text: &str) -> Option<(usize, usize)> {
    let start = text.find(BEGIN)?;
    if text[start + 1..].contains(BEGIN) {
        return None;
    }
    let end_rel = text[start..].find(END)?;
    let mut end = start + end_rel + END.len();
    if text[end..].starts_with('\n') {
        end += 1;
    }
    Some((start, end))
}

/// Rewrites the block; returns true if the file changed.
pub fn update(
    pkgbuild: &Path,
    manifest: &Manifest,
    repo_root: &Path,
) -> Result<bool, PkgbuildError> {
    let text = fs::read_to_string(pkgbuild).map_err(|source| PkgbuildError::Read {
        path: pkgbuild.to_path_buf(),
        source,
    })?;
    let (a, b) = find_block(&text).ok_or_else(|| PkgbuildError::NoBlock {
        path: pkgbuild.to_path_buf(),
    })?;
    let new = format!(
        "{}{}{}",
        &text[..a],
        generate(manifest, repo_root)?,
        &text[b..]
    );
    if new == text {
        return Ok(false);
    }
    fs::write(pkgbuild, new).map_err(|source| PkgbuildError::Write {
        path: pkgbuild.to_path_buf(),
        source,
    })?;
    Ok(true)
}

/// Items of a bash array `name=( ... )` inside `block` (one per line,
/// quotes stripped), with their 1-based line in the whole file.
fn array_items(block: &str, first_line: usize, name: &str) -> Option<Vec<(String, usize)>> {
    let mut items = None;
    for (i, line) in block.lines().enumerate() {
        let t = line.trim();
        if t == format!("{name}=(") {
            items = Some(Vec::new());
            continue;
        }
        if let Some(v) = items.as_mut() {
            if t == ")" {
                return items;
            }
            let unq = t.trim_matches(|c| c == '\'' || c == '"').to_string();
            v.push((unq, first_line + i));
        }
    }
    None
}

/// Reads a simple `key=value` assignment at the start of a line.
fn scalar(text: &str, key: &str) -> Option<(String, usize)> {
    text.lines().enumerate().find_map(|(i, l)| {
        l.strip_prefix(key)
            .and_then(|r| r.strip_prefix('='))
            .map(|v| {
                (
                    v.trim().trim_matches(|c| c == '\'' || c == '"').to_string(),
                    i + 1,
                )
            })
    })
}

/// Every way PKGBUILD disagrees with the manifest and the files.
pub fn check(
    pkgbuild: &Path,
    manifest: &Manifest,
    repo_root: &Path,
) -> Result<Vec<Diagnostic>, PkgbuildError> {
    let text = fs::read_to_string(pkgbuild).map_err(|source| PkgbuildError::Read {
        path: pkgbuild.to_path_buf(),
        source,
    })?;
    let mut d = Vec::new();
    let mut err = |line: usize, m: String| d.push(Diagnostic::new(pkgbuild, line, m));
    let fix = "run `fresnel-tools pkgbuild update` and review the diff";

    for (key, want) in [
        ("pkgbase", manifest.name.clone()),
        ("pkgver", manifest.pkgver.clone()),
        ("pkgrel", manifest.pkgrel.to_string()),
    ] {
        match scalar(&text, key) {
            Some((v, l)) if v == want => {
                let _ = l;
            }
            Some((v, l)) => err(l, format!("{key}={v} but manifest.toml says {want:?}")),
            None => err(0, format!("no `{key}=` line")),
        }
    }

    let Some((a, b)) = find_block(&text) else {
        err(0, format!("no single `{BEGIN}` ... `{END}` block; {fix}"));
        return Ok(d);
    };
    let first_line = text[..a].lines().count() + 1;
    let block = &text[a..b];
    let expected = expected_sources(manifest, repo_root)?;
    let want_series: Vec<&str> = manifest.included().map(|p| p.path.as_str()).collect();

    match array_items(block, first_line, "_fresnel_series") {
        None => err(
            first_line,
            format!("generated block has no _fresnel_series array; {fix}"),
        ),
        Some(have) => {
            for i in 0..have.len().max(want_series.len()) {
                match (have.get(i), want_series.get(i)) {
                    (Some((h, l)), Some(w)) if h != w => err(
                        *l,
                        format!("series entry #{} is {h} but manifest.toml has {w} there (different patch or order); {fix}", i + 1),
                    ),
                    (Some((h, l)), None) => err(*l, format!("series entry #{} {h} is not an included patch in manifest.toml; {fix}", i + 1)),
                    (None, Some(w)) => err(first_line, format!("included patch {w} (#{}) is missing from the PKGBUILD series; {fix}", i + 1)),
                    _ => {}
                }
            }
        }
    }
    let sources = array_items(block, first_line, "_fresnel_sources");
    let sums = array_items(block, first_line, "_fresnel_sha256sums");
    match (sources, sums) {
        (Some(src), Some(sums)) => {
            if src.len() != sums.len() {
                err(
                    first_line,
                    format!("{} sources but {} sha256sums; {fix}", src.len(), sums.len()),
                );
            }
            // By entry, not by position: one inserted patch is one message.
            for (entry, sum, file) in &expected {
                match src.iter().position(|(s, _)| s == entry) {
                    None => err(first_line, format!("source {entry:?} is missing; {fix}")),
                    Some(i) => match sums.get(i) {
                        Some((s, l)) if s != sum => err(
                            *l,
                            format!(
                                "sha256 of {} is {s} in PKGBUILD but the file has {sum}; {fix}",
                                file.display()
                            ),
                        ),
                        None => err(
                            first_line,
                            format!("no sha256 for {}; {fix}", file.display()),
                        ),
                        _ => {}
                    },
                }
            }
            for (s, l) in &src {
                if !expected.iter().any(|(e, _, _)| e == s) {
                    err(*l, format!("unexpected source {s:?}; {fix}"));
                }
            }
            let have: Vec<&str> = src
                .iter()
                .map(|(s, _)| s.as_str())
                .filter(|s| expected.iter().any(|(e, _, _)| e == s))
                .collect();
            let want: Vec<&str> = expected
                .iter()
                .map(|(e, _, _)| e.as_str())
                .filter(|e| have.contains(e))
                .collect();
            if have != want {
                err(
                    first_line,
                    format!("sources are not in manifest order; {fix}"),
                );
            }
        }
        _ => err(
            first_line,
            format!("generated block lacks _fresnel_sources or _fresnel_sha256sums; {fix}"),
        ),
    }
    Ok(d)
}

/// Checks makepkg's own view (`makepkg --printsrcinfo`): the series must
/// appear as sources in manifest order with the expected sums.
pub fn check_srcinfo(
    srcinfo: &str,
    manifest: &Manifest,
    repo_root: &Path,
    label: &Path,
) -> Result<Vec<Diagnostic>, PkgbuildError> {
    let mut sources = Vec::new();
    let mut sums = Vec::new();
    for l in srcinfo.lines() {
        if let Some(v) = l.trim().strip_prefix("source = ") {
            sources.push(v.to_string());
        } else if let Some(v) = l.trim().strip_prefix("sha256sums = ") {
            sums.push(v.to_string());
        }
    }
    let mut d = Vec::new();
    if sources.len() != sums.len() {
        d.push(Diagnostic::new(
            label,
            0,
            format!("{} sources but {} sha256sums", sources.len(), sums.len()),
        ));
    }
    for (entry, sum, _) in expected_sources(manifest, repo_root)? {
        let name = entry.split("::").next().unwrap_or(&entry).to_string();
        match sources
            .iter()
            .position(|s| s.split("::").next() == Some(name.as_str()))
        {
            None => d.push(Diagnostic::new(
                label,
                0,
                format!("makepkg does not list source {name}"),
            )),
            Some(i) if sums.get(i) != Some(&sum) => d.push(Diagnostic::new(
                label,
                0,
                format!(
                    "makepkg has sha256 {:?} for {name}, file has {sum}",
                    sums.get(i)
                ),
            )),
            _ => {}
        }
    }
    // Order of the series as makepkg sees it.
    let order: Vec<&String> = sources
        .iter()
        .filter(|s| manifest.included().any(|p| source_name(p) == **s))
        .collect();
    let want: Vec<String> = manifest.included().map(source_name).collect();
    let have: Vec<String> = order
        .iter()
        .map(|s| s.split("::").next().unwrap_or(s).to_string())
        .collect();
    if have != want {
        d.push(Diagnostic::new(
            label,
            0,
            format!("series order in makepkg's view {have:?} differs from manifest {want:?}"),
        ));
    }
    Ok(d)
}

/// `pkgbuild stage --dir DIR`: makes DIR the directory to run makepkg in
/// (see the module comment). Symlinks left from an earlier series are
/// removed; makepkg's own src/, pkg/ and downloads stay. Returns how many
/// links it made.
pub fn stage(dir: &Path, manifest: &Manifest, repo_root: &Path) -> Result<usize, PkgbuildError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PkgbuildError::Write { path, source }
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        if entry.file_type().map_err(io(dir))?.is_symlink() {
            fs::remove_file(entry.path()).map_err(io(&entry.path()))?;
        }
    }
    let root = fs::canonicalize(repo_root).map_err(|source| PkgbuildError::Read {
        path: repo_root.to_path_buf(),
        source,
    })?;
    let mut links: Vec<(String, PathBuf)> = STAGED
        .iter()
        .map(|s| (s.to_string(), root.join(s)))
        .collect();
    for (name, _, file) in expected_sources(manifest, &root)? {
        links.push((name, file));
    }
    for (name, target) in &links {
        let link = dir.join(name);
        std::os::unix::fs::symlink(target, &link).map_err(io(&link))?;
    }
    Ok(links.len())
}
