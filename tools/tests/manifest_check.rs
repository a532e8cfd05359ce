//! `manifest check` on the real manifest and on fixtures broken one way each.

use fresnel_tools::manifest::{self, Status};
use std::path::{Path, PathBuf};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// (file name ending, line, message fragment) for every expected problem.
type Expect = &'static [(&'static str, usize, &'static str)];

fn assert_case(case: &str, patches: &str, expect: Expect) {
    let f = fixtures();
    let m = f.join("broken").join(format!("{case}.toml"));
    let (_, diags) = manifest::check(&m, &f.join(patches)).expect("fixture readable");
    let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert_eq!(
        diags.len(),
        expect.len(),
        "{case}: expected {} problem(s), got:\n{}",
        expect.len(),
        shown.join("\n")
    );
    for (file_end, line, fragment) in expect {
        assert!(
            diags
                .iter()
                .any(|d| d.file.to_string_lossy().ends_with(file_end)
                    && d.line == *line
                    && d.message.contains(fragment)),
            "{case}: no problem at {file_end}:{line} containing {fragment:?}; got:\n{}",
            shown.join("\n")
        );
    }
}

#[test]
fn real_manifest_is_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let (m, diags) = manifest::check(&root.join("manifest.toml"), &root.join("patches")).unwrap();
    let shown: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
    assert!(
        diags.is_empty(),
        "real manifest has problems:\n{}",
        shown.join("\n")
    );
    let m = m.expect("structure readable");
    assert_eq!(m.name, "linux-fresnel-fourier");
    assert_eq!(m.pkgver, m.base_version);
    assert!(m.pkgrel >= 1);
}

#[test]
fn good_fixture_loads() {
    let f = fixtures();
    let m =
        manifest::Manifest::load(&f.join("good/manifest.toml"), &f.join("good/patches")).unwrap();
    assert_eq!(m.pkgrel, 3);
    assert_eq!(m.patches.len(), 2);
    assert_eq!(m.included().count(), 1);
    assert_eq!(m.patches[1].status, Status::Disabled);
    assert_eq!(m.patches[0].line, 22);
    assert_eq!(
        m.vm_userspace.get("libstdc++6").map(String::as_str),
        Some("16.2.0-4")
    );
}

#[test]
fn unknown_keys_everywhere() {
    assert_case(
        "unknown_keys",
        "good/patches",
        &[
            ("unknown_keys.toml", 6, "unknown key `epoch` in [package]"),
            (
                "unknown_keys.toml",
                28,
                "unknown key `note` in [[patch]] #1",
            ),
            ("unknown_keys.toml", 37, "unknown top-level key `extras`"),
        ],
    );
}

#[test]
fn missing_file_and_its_unlisted_twin() {
    assert_case(
        "missing_file",
        "good/patches",
        &[
            ("missing_file.toml", 23, "0009-missing.patch cannot be read"),
            (
                "videobuf2/0001-media-videobuf2-add-opt-in.patch",
                0,
                "is not listed in",
            ),
        ],
    );
}

#[test]
fn duplicated_entry() {
    assert_case(
        "duplicate",
        "good/patches",
        &[
            (
                "duplicate.toml",
                29,
                "path is listed twice (first at line 23)",
            ),
            (
                "test-drivers/0001-media-vim2m-opt-in.patch",
                0,
                "is not listed in",
            ),
        ],
    );
}

#[test]
fn unlisted_patch() {
    assert_case(
        "unlisted",
        "good/patches",
        &[(
            "test-drivers/0001-media-vim2m-opt-in.patch",
            0,
            "is not listed in",
        )],
    );
}

#[test]
fn scope_must_match_directory() {
    assert_case(
        "scope_mismatch",
        "good/patches",
        &[(
            "scope_mismatch.toml",
            24,
            "scope \"subsystem/media/rockchip\" does not match the patch's directory \"subsystem/media/videobuf2\"",
        )],
    );
}

#[test]
fn disabled_needs_reason() {
    assert_case(
        "disabled_no_reason",
        "good/patches",
        &[(
            "disabled_no_reason.toml",
            28,
            "status = \"disabled\" needs a `reason`",
        )],
    );
}

#[test]
fn reason_only_for_disabled() {
    assert_case(
        "reason_on_included",
        "good/patches",
        &[(
            "reason_on_included.toml",
            26,
            "`reason` is only for disabled patches",
        )],
    );
}

#[test]
fn bad_status_and_upstream_values() {
    assert_case(
        "bad_values",
        "good/patches",
        &[
            ("bad_values.toml", 25, "status \"enabled\" is not one of"),
            ("bad_values.toml", 33, "upstream \"posted\" is not one of"),
        ],
    );
}

#[test]
fn toml_syntax_error_has_line() {
    assert_case(
        "syntax",
        "good/patches",
        &[("syntax.toml", 25, "TOML syntax error")],
    );
}

#[test]
fn wrong_types() {
    assert_case(
        "types",
        "good/patches",
        &[
            (
                "types.toml",
                4,
                "pkgver must be a non-empty version without '-'",
            ),
            ("types.toml", 5, "pkgrel must be an integer, not a string"),
        ],
    );
}

#[test]
fn pkgver_is_the_base_version() {
    assert_case(
        "pkgver_mismatch",
        "good/patches",
        &[(
            "pkgver_mismatch.toml",
            4,
            "pkgver \"7.1\" must equal [package_base] version \"7.0\"",
        )],
    );
}

#[test]
fn missing_table() {
    assert_case(
        "missing_table",
        "good/patches",
        &[("missing_table.toml", 1, "missing table [ci_base]")],
    );
}

#[test]
fn mbox_headers_and_signoff() {
    assert_case(
        "badmbox",
        "badmbox/patches",
        &[
            ("0001-no-signoff.patch", 1, "no Signed-off-by:"),
            ("0002-no-subject.patch", 1, "no Subject: header"),
            ("0003-no-from.patch", 1, "no From: header"),
        ],
    );
}

#[test]
fn path_problems() {
    assert_case(
        "path_problems",
        "good/patches",
        &[
            (
                "path_problems.toml",
                23,
                "path must not contain empty, '.' or '..' components",
            ),
            (
                "path_problems.toml",
                24,
                "does not match the patch's directory \"..\"",
            ),
            ("path_problems.toml", 36, "must live in a scope directory"),
            (
                "path_problems.toml",
                36,
                "0001-no-scope.patch cannot be read",
            ),
            (
                "videobuf2/0001-media-videobuf2-add-opt-in.patch",
                0,
                "is not listed in",
            ),
        ],
    );
}

#[test]
fn empty_series_without_patches_dir_is_valid() {
    let f = fixtures();
    let tmp = tempfile::tempdir().unwrap();
    let head: String = std::fs::read_to_string(f.join("good/manifest.toml"))
        .unwrap()
        .split("[[patch]]")
        .next()
        .unwrap()
        .to_string();
    let m = tmp.path().join("manifest.toml");
    std::fs::write(&m, head).unwrap();
    let man = manifest::Manifest::load(&m, &tmp.path().join("patches")).unwrap();
    assert!(man.patches.is_empty());
}

#[test]
fn destinations_in_order_and_rfc_base_commit() {
    assert_case(
        "destination",
        "good/patches",
        &[
            (
                "destination.toml",
                21,
                "[rfc] base_commit must be empty or a full 40-digit",
            ),
            (
                "destination.toml",
                35,
                "destination \"fixes\" comes after [[patch]] #1",
            ),
        ],
    );
    assert_case(
        "destination_value",
        "good/patches",
        &[(
            "destination_value.toml",
            23,
            "destination \"stable\" is not one of \"fixes\", \"rfc\", \"package-only\"",
        )],
    );
}

#[test]
fn hardware_optins_load_with_their_shipped_defaults() {
    let f = fixtures().join("hardware_optin");
    let m = manifest::Manifest::load(&f.join("manifest.toml"), &f.join("patches")).unwrap();
    let got: Vec<(&str, &str, bool)> = m
        .hardware_optins
        .iter()
        .map(|o| (o.driver.as_str(), o.module.as_str(), o.default_on()))
        .collect();
    assert_eq!(
        got,
        [
            ("rga", "rockchip_rga", false),
            ("rkvdec", "rockchip_vdec", true)
        ]
    );
}

#[test]
fn hardware_optin_must_match_its_patch() {
    assert_case(
        "hardware_optin",
        "hardware_optin/patches",
        &[
            (
                "hardware_optin.toml",
                59,
                "`module` \"rockchip-vdec\" must be a lowercase C identifier",
            ),
            (
                "hardware_optin.toml",
                59,
                "ships `publish_fences` on, but `tested_by` is empty",
            ),
            (
                "hardware_optin.toml",
                66,
                "`tested_by` \"nobody\" must be empty or `Name <email>`",
            ),
            (
                "hardware_optin.toml",
                66,
                "adds no `module_param(publish_fences, bool, 0644);`",
            ),
            ("hardware_optin.toml", 79, "unknown key `note`"),
            (
                "hardware_optin.toml",
                73,
                "must be included with destination \"package-only\"",
            ),
        ],
    );
}
