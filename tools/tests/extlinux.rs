//! package/extlinux-entry.sh on a copy of a typical PineBook Pro
//! extlinux.conf: `add` must keep the working DEFAULT entry untouched, and
//! `remove` must give back the original file byte for byte.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const CONF: &str = "DEFAULT arch\nMENU TITLE Boot Menu\nPROMPT 0\nTIMEOUT 50\n\nLABEL arch\n    LINUX /Image\n    INITRD /initramfs-linux.img\n    FDT /dtbs/rockchip/rk3399-pinebook-pro.dtb\n    APPEND initrd=/initramfs-linux.img console=tty1 rootwait root=UUID=1234-abcd rw\n";

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../package/extlinux-entry.sh")
}

fn run(dir: &Path, arg: &str) -> (bool, String) {
    let out = Command::new("bash")
        .arg(script())
        .arg(arg)
        .env("EXTLINUX_CONF", dir.join("extlinux.conf"))
        .env("FRESNEL_SHARE", dir)
        .env("EXTLINUX_BOOT_PREFIX", "")
        .output()
        .expect("bash runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

fn setup(conf: &str) -> tempfile::TempDir {
    let t = tempfile::tempdir().unwrap();
    fs::write(t.path().join("extlinux.conf"), conf).unwrap();
    fs::write(t.path().join("kernelrelease"), "7.0.0-1-fresnel-fourier\n").unwrap();
    t
}

#[test]
fn add_keeps_default_and_remove_restores() {
    let t = setup(CONF);
    let conf = t.path().join("extlinux.conf");
    let (ok, out) = run(t.path(), "add");
    assert!(ok, "{out}");
    let added = fs::read_to_string(&conf).unwrap();
    assert!(
        added.starts_with(CONF),
        "existing entries untouched:\n{added}"
    );
    assert!(added.contains("LABEL linux-fresnel-fourier\n"), "{added}");
    assert!(
        added.contains("    LINUX /Image-linux-fresnel-fourier\n"),
        "{added}"
    );
    assert!(
        added.contains(
            "    APPEND initrd=/initramfs-linux.img console=tty1 rootwait root=UUID=1234-abcd rw\n"
        ),
        "root= copied from the working entry:\n{added}"
    );
    assert!(
        added.contains("MENU LABEL Linux 7.0.0-1-fresnel-fourier"),
        "{added}"
    );
    // Re-adding (upgrade) replaces the block instead of stacking a second one.
    assert!(run(t.path(), "add").0);
    assert_eq!(fs::read_to_string(&conf).unwrap(), added);
    let (ok, out) = run(t.path(), "remove");
    assert!(ok, "{out}");
    assert_eq!(fs::read_to_string(&conf).unwrap(), CONF);
}

#[test]
fn default_and_undefault_round_trip() {
    let t = setup(CONF);
    let conf = t.path().join("extlinux.conf");
    assert!(run(t.path(), "add").0);
    let added = fs::read_to_string(&conf).unwrap();
    let (ok, out) = run(t.path(), "default");
    assert!(ok, "{out}");
    let d = fs::read_to_string(&conf).unwrap();
    assert!(
        d.contains("\nDEFAULT linux-fresnel-fourier\n")
            || d.starts_with(
                "# linux-fresnel-fourier previous DEFAULT: arch\nDEFAULT linux-fresnel-fourier\n"
            ),
        "{d}"
    );
    assert!(d.contains("LABEL arch\n"), "fallback entry kept:\n{d}");
    assert!(run(t.path(), "undefault").0);
    assert_eq!(fs::read_to_string(&conf).unwrap(), added);
    assert!(run(t.path(), "default").0);
    assert!(run(t.path(), "remove").0);
    assert_eq!(
        fs::read_to_string(&conf).unwrap(),
        CONF,
        "remove also restores DEFAULT"
    );
}

#[test]
fn refuses_without_a_root_to_copy() {
    let t = setup("DEFAULT x\nLABEL x\n    LINUX /Image\n");
    let (ok, out) = run(t.path(), "add");
    assert!(!ok);
    assert!(out.contains("no APPEND line"), "{out}");
    assert_eq!(
        fs::read_to_string(t.path().join("extlinux.conf")).unwrap(),
        "DEFAULT x\nLABEL x\n    LINUX /Image\n"
    );
}
