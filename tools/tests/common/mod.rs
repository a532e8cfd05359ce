//! Helpers shared by the integration tests: a git runner with a fixed
//! identity and a manifest writer.
#![allow(dead_code)]

use std::fs;
use std::path::Path;
use std::process::Command;

pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Ada Example",
            "-c",
            "user.email=ada@example.org",
        ])
        .args([
            "-c",
            "commit.gpgsign=false",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

pub const MANIFEST_HEAD: &str = "[package]\nname = \"linux-fresnel-fourier\"\npkgver = \"7.0\"\npkgrel = 4\n\n[package_base]\nversion = \"7.0\"\n\n[ci_base]\npackage = \"linux-source-7.2\"\nversion = \"7.2.13-1\"\ntarball = \"t\"\ndeb_sha256 = \"\"\nbindgen_cli = \"0.73.2\"\nv4l_utils = \"1\"\n";

/// Writes `root/manifest.toml` listing `entries` = (path under patches/, status, upstream).
pub fn write_manifest(root: &Path, entries: &[(&str, &str, &str)]) {
    let mut text = MANIFEST_HEAD.to_string();
    for (path, status, upstream) in entries {
        let scope = path.rsplit_once('/').map(|(d, _)| d).unwrap_or("");
        text.push_str(&format!(
            "\n[[patch]]\npath = \"{path}\"\nscope = \"{scope}\"\nstatus = \"{status}\"\nupstream = \"{upstream}\"\n"
        ));
        if *status == "disabled" {
            text.push_str("reason = \"waiting for review of patch 1\"\n");
        }
    }
    fs::write(root.join("manifest.toml"), text).unwrap();
}
