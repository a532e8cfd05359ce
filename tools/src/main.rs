//! `fresnel-tools`: command-line entry point. Exit status: 0 clean,
//! 1 problems found (each printed as `file:line: error: ...`), 2 the tool
//! could not do its job (bad arguments, unreadable files, git missing).

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use fresnel_tools::{apply, kconfig, manifest, package_contents, pkgbuild, rfc};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "fresnel-tools",
    version,
    about = "Series manifest, strict apply, PKGBUILD and RFC tools for linux-fresnel-fourier"
)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(clap::Args, Clone)]
struct Paths {
    /// manifest.toml (default: found in the current directory or above)
    #[arg(long)]
    manifest: Option<PathBuf>,
    /// Directory the manifest's patch paths are relative to (default: patches/ beside the manifest)
    #[arg(long)]
    patches: Option<PathBuf>,
}

impl Paths {
    fn resolve(&self) -> Result<(PathBuf, PathBuf)> {
        // Absolute, so that they still name the files from inside a
        // worktree (apply and export run git there). Not canonical: a
        // symlinked manifest (the makepkg staging directory) keeps its
        // patches/ beside the link.
        let absolute = |p: &Path, what: &str| {
            std::path::absolute(p).with_context(|| format!("{what} {}", p.display()))
        };
        let m = match &self.manifest {
            Some(m) => absolute(m, "--manifest")?,
            None => find_manifest()?,
        };
        let root = m.parent().map(Path::to_path_buf).unwrap_or_default();
        let p = match &self.patches {
            Some(p) => absolute(p, "--patches")?,
            None => root.join("patches"),
        };
        Ok((m, p))
    }
}

fn find_manifest() -> Result<PathBuf> {
    let mut dir = std::env::current_dir().context("current directory")?;
    loop {
        let c = dir.join("manifest.toml");
        if c.is_file() {
            return Ok(c);
        }
        if !dir.pop() {
            anyhow::bail!("no manifest.toml in the current directory or above; pass --manifest");
        }
    }
}

#[derive(Subcommand)]
enum Cmd {
    /// Validate manifest.toml and the patch files it lists.
    Manifest {
        #[command(subcommand)]
        cmd: ManifestCmd,
    },
    /// Apply the included series strictly (no fuzz, offsets = needs rebase) onto a tree.
    Apply {
        /// Kernel tree: a clean git work tree (patches become commits) or a plain directory.
        #[arg(long)]
        tree: PathBuf,
        #[command(flatten)]
        paths: Paths,
        /// Keep a series whose patches needed offsets (still reported as "needs rebase").
        #[arg(long)]
        allow_offsets: bool,
    },
    /// Keep PKGBUILD's generated sources block in step with the manifest.
    Pkgbuild {
        #[command(subcommand)]
        cmd: PkgbuildCmd,
    },
    /// Kernel config checks.
    Kconfig {
        #[command(subcommand)]
        cmd: KconfigCmd,
    },
    /// Upstream RFC posting.
    Rfc {
        #[command(subcommand)]
        cmd: RfcCmd,
    },
}

#[derive(Subcommand)]
enum ManifestCmd {
    /// Report every schema, file, scope and mbox problem.
    Check {
        #[command(flatten)]
        paths: Paths,
    },
    /// Print one value, e.g. `manifest get ci_base version` (for scripts).
    Get {
        table: String,
        key: String,
        #[command(flatten)]
        paths: Paths,
    },
    /// Print every `key=value` of a table, e.g. `manifest table vm_userspace`.
    Table {
        table: String,
        #[command(flatten)]
        paths: Paths,
    },
    /// Print the included series, in order, relative to the patches directory.
    Series {
        #[command(flatten)]
        paths: Paths,
        /// Prefix each path with the sha256 of its file (`sha256sum` format).
        #[arg(long)]
        sha256: bool,
    },
    /// Print each `[[hardware_optin]]` as `driver module parameter Y|N`, the
    /// last word the default the package ships (for the guest's check).
    HardwareOptins {
        #[command(flatten)]
        paths: Paths,
    },
}

#[derive(Subcommand)]
enum PkgbuildCmd {
    /// PKGBUILD and manifest agree (series, order, checksums, pkgver/pkgrel).
    Check {
        #[command(flatten)]
        paths: Paths,
        /// PKGBUILD (default: beside the manifest)
        #[arg(long)]
        pkgbuild: Option<PathBuf>,
        /// Also check makepkg's view: output of `makepkg --printsrcinfo`.
        #[arg(long)]
        srcinfo: Option<PathBuf>,
    },
    /// Regenerate the sources block from the manifest and the files.
    Update {
        #[command(flatten)]
        paths: Paths,
        #[arg(long)]
        pkgbuild: Option<PathBuf>,
        /// Also bump pkgrel (manifest.toml and PKGBUILD) and record the
        /// digest of the series and config fragment it stands for.
        #[arg(long)]
        bump: bool,
    },
    /// Make DIR the directory to run makepkg in: the PKGBUILD, what it reads
    /// and its local sources, as symlinks into the checkout.
    Stage {
        #[command(flatten)]
        paths: Paths,
        #[arg(long)]
        dir: PathBuf,
    },
    /// The built packages (every *.pkg.tar.* in DIR) hold what the PKGBUILD
    /// promises: Image, the PineBook Pro dtb, the hardware and test-driver
    /// modules, headers with the Rust metadata, the fence probe; aarch64, at
    /// the manifest's pkgver-pkgrel.
    Contents {
        #[command(flatten)]
        paths: Paths,
        #[arg(long)]
        dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum KconfigCmd {
    /// Every symbol of the fragment has its value in the final .config.
    Check {
        #[arg(long)]
        fragment: PathBuf,
        #[arg(long)]
        config: PathBuf,
        /// The ARCH= of the build, named in the hint of each problem.
        #[arg(long)]
        arch: String,
        /// A fragment merged after this one: the symbols it sets are its
        /// own to check (repeatable).
        #[arg(long = "overridden-by")]
        overridden_by: Vec<PathBuf>,
    },
}

// Parsed once per run, so the size of its largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum RfcCmd {
    /// Print the flags checkpatch.pl judges the series with, one per line
    /// (scripts/checkpatch-series.sh passes them on).
    CheckpatchFlags,
    /// Apply the series on the CI base in a throw-away worktree and write the
    /// postings: OUT/fixes (sent first) and OUT/rfc, authored and signed off
    /// by the submitter; package-only patches are left out.
    Export {
        #[command(flatten)]
        paths: Paths,
        /// Output directory (new or empty).
        #[arg(long)]
        out: PathBuf,
        /// Reroll count (vN).
        #[arg(short = 'v', long = "reroll", default_value_t = 2)]
        version: u32,
        /// Git repository of the CI base kernel (default: $FRESNEL_CACHE/kernel/<ci_base.version>/src).
        #[arg(long)]
        src: Option<PathBuf>,
        #[arg(long, default_value = "ci-base")]
        base: String,
        /// Cover letter template (default: rfc/cover-letter.txt beside the manifest).
        #[arg(long)]
        template: Option<PathBuf>,
        /// Cover letter template of the fix series (default: rfc/fixes-cover-letter.txt).
        #[arg(long)]
        fixes_template: Option<PathBuf>,
        /// What fills {{tested}}: an on-target report (report.json of
        /// `fresnel-ontarget run`, rendered as its Tested-by blocks; a CI
        /// report of stand-ins is refused), or any text (the rig's summary).
        #[arg(long)]
        tested: Option<PathBuf>,
        /// The submitter, "Name <email>" (default: git config user.name/user.email).
        /// Placeholder and reserved-domain addresses are refused.
        #[arg(long, env = "FRESNEL_RFC_AUTHOR")]
        author: Option<String>,
        /// AGENT:MODEL [TOOLS] of the coding assistant that helped make the
        /// series, for an Assisted-by: trailer on every patch. This or
        /// --no-assistant is required: the export does not pick a default.
        #[arg(long, env = "FRESNEL_RFC_ASSISTED_BY")]
        assisted_by: Option<String>,
        /// State that no coding assistant helped make the series.
        #[arg(long, env = "FRESNEL_RFC_NO_ASSISTANT",
              value_parser = clap::builder::FalseyValueParser::new())]
        no_assistant: bool,
    },
}

fn print_diags(diags: &[fresnel_tools::diag::Diagnostic]) -> ExitCode {
    for d in diags {
        eprintln!("{d}");
    }
    if diags.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("{} problem(s)", diags.len());
        ExitCode::from(1)
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.cmd {
        Cmd::Manifest {
            cmd: ManifestCmd::Check { paths },
        } => {
            let (m, p) = paths.resolve()?;
            let (man, diags) = manifest::check(&m, &p)?;
            if diags.is_empty() {
                if let Some(man) = man {
                    println!(
                        "ok: {} is valid: {} patch(es), {} included, {}-{}",
                        m.display(),
                        man.patches.len(),
                        man.included().count(),
                        man.pkgver,
                        man.pkgrel
                    );
                }
            }
            Ok(print_diags(&diags))
        }
        Cmd::Manifest {
            cmd: ManifestCmd::Get { table, key, paths },
        } => {
            let value = manifest_table(&paths, &table)?
                .into_iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v)
                .with_context(|| format!("manifest.toml has no [{table}] {key}"))?;
            println!("{value}");
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Manifest {
            cmd: ManifestCmd::Table { table, paths },
        } => {
            for (k, v) in manifest_table(&paths, &table)? {
                println!("{k}={v}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Manifest {
            cmd: ManifestCmd::Series { paths, sha256 },
        } => {
            let man = read_manifest(&paths)?;
            for p in man.included() {
                if sha256 {
                    let sum = pkgbuild::sha256_file(&man.patch_file(p))?;
                    println!("{sum}  {}", p.path);
                } else {
                    println!("{}", p.path);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Manifest {
            cmd: ManifestCmd::HardwareOptins { paths },
        } => {
            let (m, p) = paths.resolve()?;
            let man = manifest::Manifest::load(&m, &p)?;
            for o in &man.hardware_optins {
                println!("{}", o.list_line());
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Apply {
            tree,
            paths,
            allow_offsets,
        } => {
            let (m, p) = paths.resolve()?;
            let man = manifest::Manifest::load(&m, &p)?;
            let report = apply::apply_series(&man, &tree, apply::Options { allow_offsets })?;
            print!("{report}");
            Ok(
                if report.success() || (report.tree_applied && allow_offsets) {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                },
            )
        }
        Cmd::Pkgbuild { cmd } => {
            let (paths, pkgbuild_arg) = match &cmd {
                PkgbuildCmd::Check {
                    paths, pkgbuild, ..
                }
                | PkgbuildCmd::Update {
                    paths, pkgbuild, ..
                } => (paths.clone(), pkgbuild.clone()),
                PkgbuildCmd::Stage { paths, .. } | PkgbuildCmd::Contents { paths, .. } => {
                    (paths.clone(), None)
                }
            };
            let (m, p) = paths.resolve()?;
            let root = manifest_dir(&m);
            let pb = pkgbuild_arg.unwrap_or_else(|| root.join("PKGBUILD"));
            let man = manifest::Manifest::load(&m, &p)?;
            match cmd {
                PkgbuildCmd::Update { bump: true, .. } => {
                    let pkgrel = pkgbuild::bump(&pb, &man, &root)?;
                    println!(
                        "updated {} and {}: pkgrel {pkgrel}",
                        pb.display(),
                        m.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                PkgbuildCmd::Update { .. } => {
                    let changed = pkgbuild::update(&pb, &man, &root)?;
                    println!(
                        "{} {}",
                        if changed { "updated" } else { "unchanged:" },
                        pb.display()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                PkgbuildCmd::Stage { dir, .. } => {
                    let n = pkgbuild::stage(&dir, &man, &root)?;
                    println!("staged {} ({n} links)", dir.display());
                    Ok(ExitCode::SUCCESS)
                }
                PkgbuildCmd::Contents { dir, .. } => {
                    let listings = package_contents::read_dir(&dir, &man.name)?;
                    let want = package_contents::Expected {
                        pkgbase: &man.name,
                        version: format!("{}-{}", man.pkgver, man.pkgrel),
                        arch: "aarch64",
                    };
                    let problems = package_contents::check(&listings, &want);
                    for p in &problems {
                        eprintln!("{}: error: {p}", dir.display());
                    }
                    if problems.is_empty() {
                        println!(
                            "ok: {} package(s) in {} hold what the PKGBUILD promises",
                            listings.len(),
                            dir.display()
                        );
                        Ok(ExitCode::SUCCESS)
                    } else {
                        Ok(ExitCode::from(1))
                    }
                }
                PkgbuildCmd::Check { srcinfo, .. } => {
                    let mut diags = pkgbuild::check(&pb, &man, &root)?;
                    diags.extend(pkgbuild::check_pkgrel_bump(&man, &root)?);
                    if let Some(si) = srcinfo {
                        let text = std::fs::read_to_string(&si)
                            .with_context(|| format!("reading {}", si.display()))?;
                        diags.extend(pkgbuild::check_srcinfo(&text, &man, &root, &si)?);
                    }
                    if diags.is_empty() {
                        println!(
                            "ok: {} matches {} ({} patch(es) in order, checksums match)",
                            pb.display(),
                            m.display(),
                            man.included().count()
                        );
                    }
                    Ok(print_diags(&diags))
                }
            }
        }
        Cmd::Kconfig {
            cmd:
                KconfigCmd::Check {
                    fragment,
                    config,
                    arch,
                    overridden_by,
                },
        } => {
            let mut overridden = std::collections::HashSet::new();
            for later in &overridden_by {
                let text = std::fs::read_to_string(later)
                    .with_context(|| format!("reading {}", later.display()))?;
                overridden.extend(kconfig::parse(&text).into_keys());
            }
            let f = std::fs::read_to_string(&fragment)
                .with_context(|| format!("reading {}", fragment.display()))?;
            let c = std::fs::read_to_string(&config)
                .with_context(|| format!("reading {}", config.display()))?;
            let diags = kconfig::check(&fragment, &f, &c, &arch, &overridden);
            if diags.is_empty() {
                let left = kconfig::parse(&f)
                    .keys()
                    .filter(|k| overridden.contains(*k))
                    .count();
                let later = if left == 0 {
                    String::new()
                } else {
                    format!(" ({left} left to a later fragment)")
                };
                println!(
                    "ok: every symbol of {} is in {}{later}",
                    fragment.display(),
                    config.display()
                );
            }
            Ok(print_diags(&diags))
        }
        Cmd::Rfc {
            cmd: RfcCmd::CheckpatchFlags,
        } => {
            for flag in rfc::CHECKPATCH_FLAGS {
                println!("{flag}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Cmd::Rfc {
            cmd:
                RfcCmd::Export {
                    paths,
                    out,
                    version,
                    src,
                    base,
                    template,
                    fixes_template,
                    tested,
                    author,
                    assisted_by,
                    no_assistant,
                },
        } => {
            let (m, p) = paths.resolve()?;
            let root = manifest_dir(&m);
            // Identity and disclosure first: either refusal stops the export
            // before any work.
            let chosen = rfc::resolve_submitter(author.as_deref(), &root).and_then(|s| {
                rfc::Assistance::choose(assisted_by.as_deref(), no_assistant).map(|a| (s, a))
            });
            let (submitter, assistance) = match chosen {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Ok(ExitCode::from(1));
                }
            };
            let man = manifest::Manifest::load(&m, &p)?;
            let src = match src {
                Some(s) => s,
                None => PathBuf::from(format!(
                    "{}/kernel/{}/src",
                    std::env::var("FRESNEL_CACHE").unwrap_or_else(|_| "/var/cache/fresnel".into()),
                    man.ci_base
                        .get("version")
                        .map(String::as_str)
                        .unwrap_or("?")
                )),
            };
            // Without --tested the placeholder stays empty: a posting must
            // not carry a note addressed to the tool's user.
            let tested = match tested {
                Some(t) => fresnel_tools::tested::text(&t)?,
                None => String::new(),
            };
            let args = rfc::ExportArgs {
                src,
                base,
                out,
                version,
                template: template.unwrap_or_else(|| root.join("rfc/cover-letter.txt")),
                fixes_template: fixes_template
                    .unwrap_or_else(|| root.join("rfc/fixes-cover-letter.txt")),
                tested,
                submitter,
                assistance,
            };
            let done = rfc::export(&man, &args)?;
            print!("{}", done.apply_report);
            for s in &done.series {
                println!("{}/: {}", s.name, s.subject);
                println!("  To: {}", s.to.join(", "));
                println!("  Cc: {}", s.cc.join(", "));
                for f in &s.files {
                    println!("  {}", f.display());
                }
            }
            for l in &done.round_trip {
                println!("{l}");
            }
            println!(
                "ok: {} posting(s) by {}, {} file(s), checkpatch --strict --max-line-length=80 clean, round trip checked",
                done.series.len(),
                args.submitter,
                done.series.iter().map(|s| s.files.len()).sum::<usize>()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The manifest as far as it can be read: a lookup must not fail because
/// an unrelated patch file has a problem (`manifest check` reports those).
fn read_manifest(paths: &Paths) -> Result<manifest::Manifest> {
    let (m, p) = paths.resolve()?;
    match manifest::check(&m, &p)? {
        (Some(man), _) => Ok(man),
        (None, diags) => {
            print_diags(&diags);
            anyhow::bail!("{} cannot be read", m.display())
        }
    }
}

/// The scalars of one table of the manifest.
fn manifest_table(paths: &Paths, table: &str) -> Result<Vec<(String, String)>> {
    read_manifest(paths)?
        .table(table)
        .with_context(|| format!("manifest.toml has no table [{table}]"))
}

/// The directory holding the manifest (PKGBUILD, rfc/ and patches/ sit
/// beside it); "." for a bare file name.
fn manifest_dir(manifest: &Path) -> PathBuf {
    match manifest.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Paths;
    use std::path::PathBuf;

    #[test]
    fn relative_paths_are_made_absolute() {
        let paths = Paths {
            manifest: Some(PathBuf::from("manifest.toml")),
            patches: Some(PathBuf::from("some/patches")),
        };
        let (m, p) = paths.resolve().unwrap();
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(m, cwd.join("manifest.toml"));
        assert_eq!(p, cwd.join("some/patches"));
        let default = Paths {
            manifest: Some(PathBuf::from("x/manifest.toml")),
            patches: None,
        };
        assert_eq!(default.resolve().unwrap().1, cwd.join("x/patches"));
    }
}
