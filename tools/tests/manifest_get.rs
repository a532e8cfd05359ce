//! `fresnel-tools manifest get/table/series`: the scripts' one way to read
//! manifest.toml, on the real manifest.

use std::path::Path;
use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifest.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_fresnel-tools"))
        .args(["manifest"])
        .args(args)
        .arg("--manifest")
        .arg(&manifest)
        .output()
        .expect("fresnel-tools runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn get_prints_one_value() {
    let (ok, out) = run(&["get", "package", "name"]);
    assert!(ok, "{out}");
    assert_eq!(out, "linux-fresnel-fourier\n");
    let (ok, out) = run(&["get", "ci_base", "nonexistent"]);
    assert!(!ok);
    assert!(out.contains("has no [ci_base] nonexistent"), "{out}");
    let (ok, out) = run(&["get", "nonexistent", "x"]);
    assert!(!ok);
    assert!(out.contains("no table [nonexistent]"), "{out}");
}

#[test]
fn table_and_series_list_everything() {
    let (ok, out) = run(&["table", "vm_userspace"]);
    assert!(ok, "{out}");
    assert!(out.lines().any(|l| l.starts_with("v4l-utils=")), "{out}");
    assert!(out.lines().all(|l| l.contains('=')), "{out}");
    let (ok, out) = run(&["series", "--sha256"]);
    assert!(ok, "{out}");
    let first = out.lines().next().unwrap_or_default();
    let (sum, path) = first.split_once("  ").unwrap_or_default();
    assert_eq!(sum.len(), 64, "{out}");
    assert!(path.ends_with(".patch"), "{out}");
}

#[test]
fn hardware_optins_print_the_shipped_defaults() {
    let (ok, out) = run(&["hardware-optins"]);
    assert!(ok, "{out}");
    assert_eq!(
        out,
        "hantro hantro_vpu publish_fences N\nrga rockchip_rga publish_fences N\nrkvdec rockchip_vdec publish_fences N\n"
    );
}

#[test]
fn a_relative_manifest_path_works_from_its_directory() {
    // Absoluteness itself is unit-tested in main.rs (Paths::resolve).
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_fresnel-tools"))
        .current_dir(&root)
        .args([
            "manifest",
            "series",
            "--sha256",
            "--manifest",
            "manifest.toml",
        ])
        .output()
        .expect("fresnel-tools runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let missing = Command::new(env!("CARGO_BIN_EXE_fresnel-tools"))
        .current_dir(&root)
        .args(["manifest", "check", "--manifest", "no-such.toml"])
        .output()
        .expect("fresnel-tools runs");
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such.toml"));
}
