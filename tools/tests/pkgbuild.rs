//! `pkgbuild update/check` on a copy of the good fixture plus helper files.

mod common;

use fresnel_tools::manifest::Manifest;
use fresnel_tools::pkgbuild;
use std::fs;
use std::path::{Path, PathBuf};

const PKGBUILD: &str = "pkgbase=linux-fresnel-fourier\npkgver=7.0\npkgrel=4\n\n# BEGIN fresnel-tools generated sources\n# END fresnel-tools generated sources\n\nsource=(\"${_fresnel_sources[@]}\")\n";

/// The two-patch series the fixtures use (path under patches/, status, upstream).
const VIM2M: (&str, &str, &str) = (
    "subsystem/media/test-drivers/0001-media-vim2m-opt-in.patch",
    "included",
    "new",
);
const VB2: (&str, &str, &str) = (
    "subsystem/media/videobuf2/0001-media-videobuf2-add-opt-in.patch",
    "included",
    "rfc-v1-posted",
);

fn setup() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let fx =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/good/patches/subsystem/media");
    for (dir, f) in [
        ("videobuf2", "0001-media-videobuf2-add-opt-in.patch"),
        ("test-drivers", "0001-media-vim2m-opt-in.patch"),
    ] {
        let d = root.join("patches/subsystem/media").join(dir);
        fs::create_dir_all(&d).unwrap();
        fs::copy(fx.join(dir).join(f), d.join(f)).unwrap();
    }
    fs::create_dir_all(root.join("package")).unwrap();
    fs::create_dir_all(root.join("rust-kmod")).unwrap();
    for f in pkgbuild::pkgrel_files() {
        fs::write(root.join(f), format!("file {f}\n")).unwrap();
    }
    common::write_manifest(&root, &[VIM2M, VB2]);
    fs::write(root.join("PKGBUILD"), PKGBUILD).unwrap();
    (tmp, root)
}

fn load(root: &Path) -> Manifest {
    Manifest::load(&root.join("manifest.toml"), &root.join("patches")).unwrap()
}

fn messages(diags: Vec<fresnel_tools::diag::Diagnostic>) -> Vec<String> {
    diags.iter().map(|d| d.to_string()).collect()
}

fn problems(root: &Path) -> Vec<String> {
    messages(pkgbuild::check(&root.join("PKGBUILD"), &load(root), root).unwrap())
}

#[test]
fn update_then_check_is_clean_and_idempotent() {
    let (_t, root) = setup();
    assert!(!problems(&root).is_empty(), "empty block must not pass");
    assert!(pkgbuild::update(&root.join("PKGBUILD"), &load(&root), &root).unwrap());
    assert_eq!(problems(&root), Vec::<String>::new());
    assert!(!pkgbuild::update(&root.join("PKGBUILD"), &load(&root), &root).unwrap());
    let text = fs::read_to_string(root.join("PKGBUILD")).unwrap();
    // Bare names, which `pkgbuild stage` links into makepkg's directory: no
    // file:// URL, whose cached copy would go stale.
    assert!(
        text.contains("\n  \"0001-media-vim2m-opt-in.patch\"\n"),
        "{text}"
    );
    assert!(text.contains("\n  \"config.fragment\"\n"), "{text}");
    assert!(!text.contains("file://"), "{text}");
}

#[test]
fn reordered_series_is_reported() {
    let (_t, root) = setup();
    pkgbuild::update(&root.join("PKGBUILD"), &load(&root), &root).unwrap();
    // Manifest order changes, PKGBUILD not regenerated.
    common::write_manifest(&root, &[VB2, VIM2M]);
    let p = problems(&root);
    assert!(
        p.iter().any(|m| m.contains("series entry #1 is subsystem/media/test-drivers/0001-media-vim2m-opt-in.patch but manifest.toml has subsystem/media/videobuf2/0001-media-videobuf2-add-opt-in.patch there")),
        "{p:#?}"
    );
}

#[test]
fn new_patch_is_one_message_per_problem() {
    let (_t, root) = setup();
    let aside = root.join("aside");
    fs::rename(root.join("patches/subsystem/media/test-drivers"), &aside).unwrap();
    common::write_manifest(&root, &[VB2]);
    pkgbuild::update(&root.join("PKGBUILD"), &load(&root), &root).unwrap();
    fs::rename(&aside, root.join("patches/subsystem/media/test-drivers")).unwrap();
    common::write_manifest(&root, &[VIM2M, VB2]);
    let p = problems(&root);
    // Series entry #1 differs and #2 is missing; the new patch's source is
    // missing. The moved patch keeps its source name, and the
    // four helper files are not reported.
    assert_eq!(p.len(), 3, "{p:#?}");
    assert!(p.iter().any(|m| m.contains("included patch subsystem/media/videobuf2/0001-media-videobuf2-add-opt-in.patch (#2) is missing")), "{p:#?}");
    assert!(
        p.iter()
            .any(|m| m.contains("source \"0001-media-vim2m-opt-in.patch\" is missing")),
        "{p:#?}"
    );
    assert!(!p.iter().any(|m| m.contains("config.fragment")), "{p:#?}");
}

#[test]
fn disabled_patch_leaves_the_series() {
    let (_t, root) = setup();
    pkgbuild::update(&root.join("PKGBUILD"), &load(&root), &root).unwrap();
    common::write_manifest(
        &root,
        &[
            (
                "subsystem/media/test-drivers/0001-media-vim2m-opt-in.patch",
                "disabled",
                "new",
            ),
            (
                "subsystem/media/videobuf2/0001-media-videobuf2-add-opt-in.patch",
                "included",
                "rfc-v1-posted",
            ),
        ],
    );
    let p = problems(&root);
    assert!(p.iter().any(|m| m.contains("series entry #2 subsystem/media/videobuf2/0001-media-videobuf2-add-opt-in.patch is not an included patch")), "{p:#?}");
}

#[test]
fn edited_patch_or_helper_breaks_the_checksum() {
    let (_t, root) = setup();
    pkgbuild::update(&root.join("PKGBUILD"), &load(&root), &root).unwrap();
    let f = root.join("patches/subsystem/media/videobuf2/0001-media-videobuf2-add-opt-in.patch");
    let mut t = fs::read_to_string(&f).unwrap();
    t.push('\n');
    fs::write(&f, t).unwrap();
    fs::write(root.join("package/config.fragment"), "CONFIG_X=y\n").unwrap();
    let p = problems(&root);
    assert_eq!(p.len(), 2, "{p:#?}");
    assert!(
        p[0].contains("sha256 of") && p[0].contains("0001-media-videobuf2-add-opt-in.patch is"),
        "{p:#?}"
    );
    assert!(
        p[1].contains("config.fragment is") && p[1].contains("but the file has"),
        "{p:#?}"
    );
    // Line numbers point into the generated block.
    assert!(p[0].starts_with(&format!("{}:", root.join("PKGBUILD").display())));
}

#[test]
fn pkgrel_must_follow_the_manifest() {
    let (_t, root) = setup();
    pkgbuild::update(&root.join("PKGBUILD"), &load(&root), &root).unwrap();
    let pb = root.join("PKGBUILD");
    let t = fs::read_to_string(&pb)
        .unwrap()
        .replace("pkgrel=4", "pkgrel=3");
    fs::write(&pb, t).unwrap();
    let p = problems(&root);
    assert_eq!(
        p,
        vec![format!(
            "{}:3: error: pkgrel=3 but manifest.toml says \"4\"",
            pb.display()
        )]
    );
}

#[test]
fn srcinfo_view_is_checked() {
    let (_t, root) = setup();
    let m = load(&root);
    let src = pkgbuild::expected_sources(&m, &root).unwrap();
    let mut si =
        String::from("pkgbase = linux-fresnel-fourier\n\tsource = https://x/linux-7.0.tar.xz\n");
    for (e, _, _) in &src {
        si.push_str(&format!(
            "\tsource = {}\n",
            e.replace("${startdir}", "/build")
        ));
    }
    si.push_str("\tsha256sums = abc\n");
    for (_, s, _) in &src {
        si.push_str(&format!("\tsha256sums = {s}\n"));
    }
    let label = Path::new(".SRCINFO");
    assert!(pkgbuild::check_srcinfo(&si, &m, &root, label)
        .unwrap()
        .is_empty());
    let bad = si.replacen(&src[0].1, &"0".repeat(64), 1);
    let d = pkgbuild::check_srcinfo(&bad, &m, &root, label).unwrap();
    assert_eq!(d.len(), 1, "{d:?}");
    assert!(d[0].message.contains("makepkg has sha256"), "{}", d[0]);
}

fn bump_problems(root: &Path) -> Vec<String> {
    messages(pkgbuild::check_pkgrel_bump(&load(root), root).unwrap())
}

#[test]
fn series_or_fragment_change_needs_a_pkgrel_bump() {
    let (_t, root) = setup();
    let pb = root.join("PKGBUILD");
    // Nothing recorded yet: check asks for a bump.
    let p = bump_problems(&root);
    assert!(p[0].contains("has no series_sha256"), "{p:#?}");
    assert_eq!(pkgbuild::bump(&pb, &load(&root), &root).unwrap(), 5);
    assert_eq!(bump_problems(&root), Vec::<String>::new());
    assert_eq!(problems(&root), Vec::<String>::new(), "PKGBUILD follows");
    assert!(fs::read_to_string(&pb).unwrap().contains("\npkgrel=5\n"));
    let man = fs::read_to_string(root.join("manifest.toml")).unwrap();
    assert!(man.contains("pkgrel = 5\nseries_sha256 = \""), "{man}");

    // Editing the fragment and regenerating the sums is not enough.
    fs::write(root.join("package/config.fragment"), "CONFIG_X=y\n").unwrap();
    pkgbuild::update(&pb, &load(&root), &root).unwrap();
    assert_eq!(problems(&root), Vec::<String>::new());
    let p = bump_problems(&root);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].contains("changed since pkgrel 5")
            && p[0].contains("package/config.fragment")
            && p[0].contains("--bump"),
        "{p:#?}"
    );
    assert_eq!(pkgbuild::bump(&pb, &load(&root), &root).unwrap(), 6);
    assert_eq!(bump_problems(&root), Vec::<String>::new());

    // So is a change of the base config the fragment is merged onto.
    fs::write(root.join("package/config.alarm"), "CONFIG_Z=y\n").unwrap();
    pkgbuild::update(&pb, &load(&root), &root).unwrap();
    let p = bump_problems(&root);
    assert!(
        p.len() == 1 && p[0].contains("changed since pkgrel 6"),
        "{p:#?}"
    );
    assert_eq!(pkgbuild::bump(&pb, &load(&root), &root).unwrap(), 7);
}

/// Packaging review P5: a changed install script, helper, probe source or
/// PKGBUILD step changes the packages, so it needs a bump; regenerating the
/// sums or the bump's own pkgrel line does not.
#[test]
fn every_file_the_packages_are_made_from_needs_a_pkgrel_bump() {
    let (_t, root) = setup();
    let pb = root.join("PKGBUILD");
    pkgbuild::bump(&pb, &load(&root), &root).unwrap();
    assert_eq!(bump_problems(&root), Vec::<String>::new());
    let edits = [
        (
            "package/linux-fresnel-fourier.install",
            "post_upgrade() { :; }\n",
        ),
        ("package/extlinux-entry.sh", "# edited\n"),
        ("rust-kmod/vb2fp_main.rs", "// edited\n"),
        ("PKGBUILD", "options=('!strip')\n"),
    ];
    for (i, (file, added)) in edits.iter().enumerate() {
        let path = root.join(file);
        let text = fs::read_to_string(&path).unwrap();
        fs::write(&path, format!("{text}{added}")).unwrap();
        pkgbuild::update(&pb, &load(&root), &root).unwrap();
        let p = bump_problems(&root);
        assert!(
            p.len() == 1 && p[0].contains("changed since pkgrel"),
            "{file}: {p:#?}"
        );
        let before = load(&root).pkgrel;
        assert_eq!(
            pkgbuild::bump(&pb, &load(&root), &root).unwrap(),
            before + 1,
            "{i}"
        );
        assert_eq!(bump_problems(&root), Vec::<String>::new(), "{file}");
    }
}

/// The opt-in list the package installs comes from the manifest: a
/// changed entry changes the digest.
#[test]
fn a_changed_hardware_optin_changes_the_digest() {
    let (_t, root) = setup();
    let mut m = load(&root);
    let optin = fresnel_tools::hardware_optin::HardwareOptin {
        driver: "rga".into(),
        module: "rockchip_rga".into(),
        parameter: "publish_fences".into(),
        patch: String::new(),
        tested_by: String::new(),
        line: 1,
    };
    m.hardware_optins = vec![optin.clone()];
    let a = pkgbuild::series_digest(&m, &root).unwrap();
    m.hardware_optins[0].driver = "rga2".into();
    assert_ne!(a, pkgbuild::series_digest(&m, &root).unwrap());
    m.hardware_optins[0] = fresnel_tools::hardware_optin::HardwareOptin {
        tested_by: "Jane Dev <jane@example.org>".into(),
        ..optin
    };
    assert_ne!(
        a,
        pkgbuild::series_digest(&m, &root).unwrap(),
        "the default flips"
    );
}

/// The probe's sources are listed by hand (a build in place leaves
/// products beside them): the list must be what rust-kmod holds.
#[test]
fn the_probe_source_list_is_rust_kmods_sources() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../rust-kmod");
    let mut found: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| {
            let source =
                [".rs", ".c", ".h"].iter().any(|x| n.ends_with(x)) && !n.ends_with(".mod.c");
            source || n == "Kbuild" || n == "Makefile"
        })
        .map(|n| format!("rust-kmod/{n}"))
        .collect();
    found.sort();
    let mut listed: Vec<String> = pkgbuild::PROBE_SOURCES
        .iter()
        .map(|s| s.to_string())
        .collect();
    listed.sort();
    assert_eq!(found, listed);
}

#[test]
fn reordering_the_series_changes_the_digest() {
    let (_t, root) = setup();
    let a = pkgbuild::series_digest(&load(&root), &root).unwrap();
    common::write_manifest(&root, &[VB2, VIM2M]);
    let b = pkgbuild::series_digest(&load(&root), &root).unwrap();
    assert_ne!(a, b);
}

#[test]
fn stage_links_the_sources_by_bare_name() {
    let (t, root) = setup();
    pkgbuild::update(&root.join("PKGBUILD"), &load(&root), &root).unwrap();
    let dir = t.path().join("stage");
    fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(root.join("PKGBUILD"), dir.join("stale.patch")).unwrap();
    fs::write(dir.join("linux-7.0.tar.xz"), "download").unwrap();
    pkgbuild::stage(&dir, &load(&root), &root).unwrap();
    assert!(!dir.join("stale.patch").exists(), "old links go");
    assert!(dir.join("linux-7.0.tar.xz").exists(), "downloads stay");
    let link = fs::read_link(dir.join("0001-media-vim2m-opt-in.patch")).unwrap();
    assert!(link.ends_with("patches/subsystem/media/test-drivers/0001-media-vim2m-opt-in.patch"));
    // The file as it is now, not a copy.
    fs::write(root.join("package/config.fragment"), "CONFIG_Y=m\n").unwrap();
    assert_eq!(
        fs::read_to_string(dir.join("config.fragment")).unwrap(),
        "CONFIG_Y=m\n"
    );
    assert!(dir.join("PKGBUILD").exists() && dir.join("manifest.toml").exists());
}
