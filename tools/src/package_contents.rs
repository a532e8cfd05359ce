//! What the three built packages must hold (`pkgbuild contents`): the boot
//! files, the PineBook Pro's dtb, the hardware and the virtual test-driver
//! modules, the headers with the Rust metadata an out-of-tree Rust module
//! links against, and the fence probe; each package for aarch64, at the
//! manifest's version. The package files are read with bsdtar (pacman's
//! own archive tool); the judging is [`check`], on plain listings.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum ContentsError {
    #[error("cannot list {dir}: {source}")]
    ReadDir {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("running bsdtar on {path}: {detail}")]
    Bsdtar { path: PathBuf, detail: String },
}

/// One package file, as bsdtar lists it.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub file: String,
    /// `.PKGINFO` text.
    pub pkginfo: String,
    /// Member paths, without a leading `./` or trailing `/`.
    pub paths: Vec<String>,
    /// Content of `usr/share/<pkgbase>/kernelrelease`, if the package has it.
    pub kernelrelease: Option<String>,
}

/// What the packages are expected to be.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    pub pkgbase: &'a str,
    /// `pkgver-pkgrel`.
    pub version: String,
    pub arch: &'a str,
}

/// A problem, naming the package it is in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub package: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.package, self.message)
    }
}

fn pkginfo_values<'t>(pkginfo: &'t str, key: &str) -> Vec<&'t str> {
    pkginfo
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .filter(|(k, _)| *k == key)
        .map(|(_, v)| v.trim())
        .collect()
}

/// Modules may be compressed (MODULE_COMPRESS_*): `x.ko` is also `x.ko.zst`.
fn has(paths: &[String], want: &str) -> bool {
    paths.iter().any(|p| {
        p == want
            || (want.ends_with(".ko")
                && [".zst", ".xz", ".gz"]
                    .iter()
                    .any(|z| p.strip_suffix(z) == Some(want)))
    })
}

const KERNEL_MODULES: &[(&str, &str)] = &[
    (
        "kernel/drivers/media/platform/verisilicon/hantro-vpu.ko",
        "hantro (RK3399 VPU)",
    ),
    (
        "kernel/drivers/media/platform/rockchip/rga/rockchip-rga.ko",
        "rga",
    ),
    (
        "kernel/drivers/media/platform/rockchip/rkvdec/rockchip-vdec.ko",
        "rkvdec",
    ),
    ("kernel/drivers/media/test-drivers/vim2m.ko", "vim2m"),
    ("kernel/drivers/media/test-drivers/visl/visl.ko", "visl"),
    (
        "kernel/drivers/media/test-drivers/vicodec/vicodec.ko",
        "vicodec",
    ),
    ("kernel/drivers/media/test-drivers/vivid/vivid.ko", "vivid"),
    (
        "kernel/drivers/media/common/videobuf2/videobuf2-common.ko",
        "videobuf2",
    ),
];

/// Every way the packages differ from what the PKGBUILD promises.
pub fn check(listings: &[Listing], want: &Expected) -> Vec<Problem> {
    let mut problems = Vec::new();
    let b = want.pkgbase;
    let names = [
        b.to_string(),
        format!("{b}-headers"),
        format!("{b}-vb2-fence-probe"),
    ];
    let find = |name: &str| {
        listings
            .iter()
            .find(|l| pkginfo_values(&l.pkginfo, "pkgname") == [name])
    };
    let mut problem = |package: &str, message: String| {
        problems.push(Problem {
            package: package.to_string(),
            message,
        })
    };
    for l in listings {
        let name = pkginfo_values(&l.pkginfo, "pkgname");
        if !name.iter().any(|n| names.iter().any(|w| w == n)) {
            problem(&l.file, format!("unexpected package {name:?}"));
        }
        for (key, value) in [("arch", want.arch), ("pkgver", want.version.as_str())] {
            let got = pkginfo_values(&l.pkginfo, key);
            if got != [value] {
                problem(&l.file, format!("{key} is {got:?}, not {value:?}"));
            }
        }
    }
    let Some(kernel) = find(&names[0]) else {
        problem(
            &names[0],
            "missing (no package file has this pkgname)".into(),
        );
        return problems;
    };
    let Some(kver) = kernel.kernelrelease.as_deref().map(str::trim) else {
        problem(
            &kernel.file,
            format!("has no usr/share/{b}/kernelrelease: the kernel release is unknown"),
        );
        return problems;
    };
    let modules = format!("usr/lib/modules/{kver}");
    let mut required = vec![
        (format!("boot/Image-{b}"), "the kernel Image".to_string()),
        (
            format!("boot/dtbs-{b}/rockchip/rk3399-pinebook-pro.dtb"),
            "the PineBook Pro's device tree".to_string(),
        ),
        (format!("{modules}/pkgbase"), "the module tree".to_string()),
        (
            format!("etc/mkinitcpio.d/{b}.preset"),
            "the mkinitcpio preset".to_string(),
        ),
        (
            format!("usr/share/libalpm/hooks/91-{b}-extlinux.hook"),
            "the extlinux hook".to_string(),
        ),
        (
            format!("usr/share/{b}/hardware-optins"),
            "the opt-in list the on-target run reads".to_string(),
        ),
    ];
    for (m, what) in KERNEL_MODULES {
        required.push((format!("{modules}/{m}"), format!("the {what} module")));
    }
    // Only Rockchip's device trees (packaging review P2): /boot is a small
    // FAT partition shared with the distribution's kernel.
    let dtbs = format!("boot/dtbs-{b}/");
    let foreign: Vec<&str> = kernel
        .paths
        .iter()
        .filter_map(|p| p.strip_prefix(&dtbs))
        .filter_map(|rest| rest.split('/').next())
        .filter(|dir| *dir != "rockchip")
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    if !foreign.is_empty() {
        problem(
            &kernel.file,
            format!(
                "{dtbs} holds more than rockchip/ ({}): the PKGBUILD should install only Rockchip's device trees",
                foreign.join(", ")
            ),
        );
    }

    let mut require = |l: &Listing, wanted: &[(String, String)]| {
        for (path, what) in wanted {
            if !has(&l.paths, path) {
                problem(&l.file, format!("{what} is missing: no {path}"));
            }
        }
    };
    require(kernel, &required);

    let build = format!("{modules}/build");
    match find(&names[1]) {
        None => problem(
            &names[1],
            "missing (no package file has this pkgname)".into(),
        ),
        Some(headers) => {
            let wanted: Vec<(String, String)> = [
                (".config", "the kernel config"),
                ("Module.symvers", "the symbol versions"),
                ("Makefile", "the top Makefile"),
                ("arch/arm64/Makefile", "the arm64 Makefile"),
                ("scripts/mod/modpost", "modpost"),
                ("include/generated/rustc_cfg", "the rustc cfg"),
                ("rust/libkernel.rmeta", "the kernel crate's Rust metadata"),
                (
                    "rust/libmacros.so",
                    "the macros crate (a proc-macro library)",
                ),
            ]
            .iter()
            .map(|(p, what)| (format!("{build}/{p}"), what.to_string()))
            .collect();
            require(headers, &wanted);
        }
    }
    match find(&names[2]) {
        None => problem(
            &names[2],
            "missing (no package file has this pkgname)".into(),
        ),
        Some(probe) => {
            let ok = ["extra", "updates"]
                .iter()
                .any(|d| has(&probe.paths, &format!("{modules}/{d}/vb2_fence_probe.ko")));
            if !ok {
                problem(
                    &probe.file,
                    format!("vb2_fence_probe.ko is missing: not in {modules}/extra/ or updates/"),
                );
            }
        }
    }
    problems
}

/// Lists every `*.pkg.tar.*` in `dir`.
pub fn read_dir(dir: &Path, pkgbase: &str) -> Result<Vec<Listing>, ContentsError> {
    let io = |source| ContentsError::ReadDir {
        dir: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .map(|e| e.map(|e| e.path()).map_err(io))
        .collect::<Result<_, _>>()?;
    files.retain(|p| p.to_string_lossy().contains(".pkg.tar"));
    files.sort();
    let mut out = Vec::new();
    for path in files {
        let paths: Vec<String> = bsdtar(&path, &["-tf"])?
            .lines()
            .map(|l| l.trim_start_matches("./").trim_end_matches('/').to_string())
            .collect();
        let pkginfo = bsdtar(&path, &["-xOf", ".PKGINFO"])?;
        let release = format!("usr/share/{pkgbase}/kernelrelease");
        let kernelrelease = if paths.contains(&release) {
            Some(bsdtar(&path, &["-xOf", &release])?)
        } else {
            None
        };
        out.push(Listing {
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            pkginfo,
            paths,
            kernelrelease,
        });
    }
    Ok(out)
}

/// `bsdtar -tf FILE` or `bsdtar -xOf FILE MEMBER`: the archive goes after
/// the first argument.
fn bsdtar(path: &Path, args: &[&str]) -> Result<String, ContentsError> {
    let failed = |detail: String| ContentsError::Bsdtar {
        path: path.to_path_buf(),
        detail,
    };
    let out = Command::new("bsdtar")
        .arg(args[0])
        .arg(path)
        .args(&args[1..])
        .output()
        .map_err(|e| failed(e.to_string()))?;
    if !out.status.success() {
        return Err(failed(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KVER: &str = "7.2.13-1-fresnel-fourier";

    fn pkginfo(name: &str) -> String {
        format!("pkgname = {name}\npkgbase = linux-fresnel-fourier\npkgver = 7.2.13-1\narch = aarch64\n")
    }

    fn good() -> Vec<Listing> {
        let m = format!("usr/lib/modules/{KVER}");
        let mut kernel: Vec<String> = vec![
            "boot/Image-linux-fresnel-fourier".into(),
            "boot/dtbs-linux-fresnel-fourier/rockchip/rk3399-pinebook-pro.dtb".into(),
            format!("{m}/pkgbase"),
            "etc/mkinitcpio.d/linux-fresnel-fourier.preset".into(),
            "usr/share/libalpm/hooks/91-linux-fresnel-fourier-extlinux.hook".into(),
            "usr/share/linux-fresnel-fourier/kernelrelease".into(),
            "usr/share/linux-fresnel-fourier/hardware-optins".into(),
        ];
        kernel.extend(KERNEL_MODULES.iter().map(|(p, _)| format!("{m}/{p}")));
        let headers = [
            ".config",
            "Module.symvers",
            "Makefile",
            "arch/arm64/Makefile",
            "scripts/mod/modpost",
            "include/generated/rustc_cfg",
            "rust/libkernel.rmeta",
            "rust/libmacros.so",
        ]
        .iter()
        .map(|p| format!("{m}/build/{p}"))
        .collect();
        vec![
            Listing {
                file: "k.pkg.tar.zst".into(),
                pkginfo: pkginfo("linux-fresnel-fourier"),
                paths: kernel,
                kernelrelease: Some(format!("{KVER}\n")),
            },
            Listing {
                file: "h.pkg.tar.zst".into(),
                pkginfo: pkginfo("linux-fresnel-fourier-headers"),
                paths: headers,
                kernelrelease: None,
            },
            Listing {
                file: "p.pkg.tar.zst".into(),
                pkginfo: pkginfo("linux-fresnel-fourier-vb2-fence-probe"),
                paths: vec![format!("{m}/extra/vb2_fence_probe.ko.zst")],
                kernelrelease: None,
            },
        ]
    }

    fn want() -> Expected<'static> {
        Expected {
            pkgbase: "linux-fresnel-fourier",
            version: "7.2.13-1".into(),
            arch: "aarch64",
        }
    }

    #[test]
    fn complete_packages_pass() {
        assert_eq!(check(&good(), &want()), vec![]);
    }

    #[test]
    fn each_missing_piece_is_named() {
        let mut l = good();
        l[0].paths
            .retain(|p| !p.ends_with("rk3399-pinebook-pro.dtb") && !p.ends_with("/vivid.ko"));
        l[1].paths.retain(|p| !p.ends_with(".rmeta"));
        l[2].paths.clear();
        let p: Vec<String> = check(&l, &want()).iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 4, "{p:#?}");
        assert!(
            p[0].contains("device tree") && p[0].starts_with("k.pkg"),
            "{p:#?}"
        );
        assert!(p[1].contains("vivid module"), "{p:#?}");
        assert!(
            p[2].contains("Rust metadata") && p[2].starts_with("h.pkg"),
            "{p:#?}"
        );
        assert!(p[3].contains("vb2_fence_probe.ko is missing"), "{p:#?}");
    }

    #[test]
    fn other_vendors_device_trees_are_refused() {
        let mut l = good();
        l[0].paths.extend([
            "boot/dtbs-linux-fresnel-fourier/rockchip/rk3399-rockpro64.dtb".to_string(),
            "boot/dtbs-linux-fresnel-fourier/allwinner/sun50i-a64-pine64.dtb".to_string(),
            "boot/dtbs-linux-fresnel-fourier/amlogic".to_string(),
        ]);
        let p: Vec<String> = check(&l, &want()).iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 1, "{p:#?}");
        assert!(p[0].contains("(allwinner, amlogic)"), "{p:#?}");
    }

    #[test]
    fn wrong_arch_version_and_missing_package() {
        let mut l = good();
        l[0].pkginfo = l[0].pkginfo.replace("aarch64", "x86_64");
        l[1].pkginfo = l[1].pkginfo.replace("7.2.13-1", "7.2.13-2");
        l.pop();
        let p: Vec<String> = check(&l, &want()).iter().map(|p| p.to_string()).collect();
        assert_eq!(p.len(), 3, "{p:#?}");
        assert!(p[0].contains("arch is [\"x86_64\"]"), "{p:#?}");
        assert!(p[1].contains("pkgver is [\"7.2.13-2\"]"), "{p:#?}");
        assert!(
            p[2].starts_with("linux-fresnel-fourier-vb2-fence-probe: missing"),
            "{p:#?}"
        );
    }
}
