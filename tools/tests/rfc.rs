//! `rfc export` end to end on a synthetic kernel repository whose
//! scripts/get_maintainer.pl and scripts/checkpatch.pl are small stand-ins
//! (the real ones need a whole kernel tree); the real-tree run is the
//! `rfc-export` host check of scripts/test-all.sh (docs/manifest.md).

mod common;

use common::git;
use fresnel_tools::manifest::Manifest;
use fresnel_tools::rfc::{
    check_identity, export, identity_problem, parse_identity, resolve_submitter, sign_message,
    Assistance, ExportArgs, Identity, RfcError,
};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

const GET_MAINTAINER: &str = r#"#!/usr/bin/perl
# Recipients by the files the patches touch, like the real script.
my %seen;
for my $f (grep { !/^--/ } @ARGV) {
    open(my $fh, '<', $f) or die "$f: $!";
    my $t = do { local $/; <$fh> };
    if ($t =~ m{drivers/media/hantro\.c}) { $seen{"Hantro Keeper <hk\@kernel.org> (maintainer:HANTRO VPU CODEC DRIVER)"} = 1; }
    if ($t =~ m{drivers/media/vb2\.c}) {
        $seen{"Maintainer One <m1\@kernel.org> (maintainer:MEDIA INPUT INFRASTRUCTURE)"} = 1;
        $seen{"Reviewer Two <r2\@kernel.org> (reviewer:VIDEOBUF2)"} = 1;
    }
}
print "$_\n" for sort keys %seen;
print "linux-media\@vger.kernel.org (open list:MEDIA INPUT INFRASTRUCTURE)\n";
"#;

// Counts like checkpatch: a patch containing BADSTYLE gets a warning.
const CHECKPATCH: &str = r#"#!/usr/bin/perl
my $bad = 0;
for my $f (grep { !/^--/ && !/^[A-Z_,]+$/ } @ARGV) {
    open(my $fh, '<', $f) or die "$f: $!";
    my $t = do { local $/; <$fh> };
    if ($t =~ /BADSTYLE/) { print "$f\nWARNING: BADSTYLE is not kernel style\ntotal: 0 errors, 1 warnings, 0 checks, 9 lines checked\n"; $bad = 1; }
    else { print "$f\ntotal: 0 errors, 0 warnings, 0 checks, 9 lines checked\n"; }
}
exit $bad;
"#;

const PROJECT: &str = "Fresnel Fourier Developers <devel@fresnel-fourier.invalid>";
const FIX: &str = "subsystem/media/verisilicon/0009-media-hantro-finish-once.patch";
const RFC: &str = "subsystem/media/videobuf2/0001-media-videobuf2-add-publishes_fences.patch";
const PKG: &str = "subsystem/media/videobuf2/0016-media-videobuf2-export-tracepoints.patch";

struct Fx {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    src: PathBuf,
}

fn lines(n: usize) -> String {
    (1..=n).map(|i| format!("line {i}\n")).collect()
}

/// Commits `file` with `from` -> `to` as the project identity, stores the
/// format-patch output as patches/`rel`, and resets the tree.
fn make_patch(fx: &Fx, file: &str, from: &str, to: &str, msg: &str, rel: &str) {
    let p = fx.src.join(file);
    let t = fs::read_to_string(&p).unwrap();
    assert!(t.contains(from));
    fs::write(&p, t.replacen(from, to, 1)).unwrap();
    let out = Command::new("git")
        .arg("-C")
        .arg(&fx.src)
        .args([
            "-c",
            "commit.gpgsign=false",
            "commit",
            "-q",
            "-a",
            "-m",
            msg,
        ])
        .env("GIT_AUTHOR_NAME", "Fresnel Fourier Developers")
        .env("GIT_AUTHOR_EMAIL", "devel@fresnel-fourier.invalid")
        .env("GIT_COMMITTER_NAME", "Fresnel Fourier Developers")
        .env("GIT_COMMITTER_EMAIL", "devel@fresnel-fourier.invalid")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let dest = fx.root.join("repo/patches").join(rel);
    fs::create_dir_all(dest.parent().unwrap()).unwrap();
    fs::write(
        &dest,
        git(&fx.src, &["format-patch", "-1", "--stdout"]) + "\n",
    )
    .unwrap();
}

fn manifest_text(entries: &[(&str, &str)], rfc_table: &str) -> String {
    let mut t = common::MANIFEST_HEAD.to_string();
    t.push_str(rfc_table);
    for (path, dest) in entries {
        let scope = path.rsplit_once('/').unwrap().0;
        t.push_str(&format!(
            "\n[[patch]]\npath = \"{path}\"\nscope = \"{scope}\"\nstatus = \"included\"\nupstream = \"new\"\ndestination = \"{dest}\"\n"
        ));
    }
    t
}

/// Lists FIX, RFC and PKG with these destinations under `[rfc]` `table`.
fn write_manifest(root: &Path, dests: [&str; 3], table: &str) {
    fs::write(
        root.join("repo/manifest.toml"),
        manifest_text(&[(FIX, dests[0]), (RFC, dests[1]), (PKG, dests[2])], table),
    )
    .unwrap();
}

const RFC_TABLE: &str =
    "\n[rfc]\nbase_tag = \"v7.2.13\"\ntarget_tree = \"git://linuxtv.org/media.git\"\nbase_commit = \"\"\n";

fn fixture(bad_style: bool) -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let src = root.join("kernel/src");
    fs::create_dir_all(src.join("scripts")).unwrap();
    fs::create_dir_all(src.join("drivers/media")).unwrap();
    git(&src, &["init", "-q"]);
    fs::write(src.join("scripts/get_maintainer.pl"), GET_MAINTAINER).unwrap();
    fs::write(src.join("scripts/checkpatch.pl"), CHECKPATCH).unwrap();
    fs::write(src.join("drivers/media/vb2.c"), lines(20)).unwrap();
    fs::write(src.join("drivers/media/hantro.c"), lines(10)).unwrap();
    git(&src, &["add", "."]);
    git(&src, &["commit", "-q", "-m", "base"]);
    git(&src, &["tag", "ci-base"]);
    let fx = Fx {
        _tmp: tmp,
        root,
        src,
    };
    make_patch(
        &fx,
        "drivers/media/hantro.c",
        "line 2\n",
        "line 2 finished once\n",
        &format!("media: hantro: finish a failed job once\n\nIt was finished twice.\n\nFixes: 727a400686a2 (\"media: verisilicon: Add Rockchip AV1 decoder\")\nCc: stable@vger.kernel.org\nSigned-off-by: {PROJECT}\n"),
        FIX,
    );
    make_patch(
        &fx,
        "drivers/media/vb2.c",
        "line 3\n",
        if bad_style {
            "line 3 BADSTYLE\n"
        } else {
            "line 3 fenced\n"
        },
        &format!("media: videobuf2: add publishes_fences\n\nImporters need a fence.\n\nSigned-off-by: {PROJECT}\n"),
        RFC,
    );
    make_patch(
        &fx,
        "drivers/media/vb2.c",
        "line 18\n",
        "line 18 exported\n",
        &format!("media: videobuf2: export the tracepoints\n\nFor the probe module.\n\nSigned-off-by: {PROJECT}\n"),
        PKG,
    );
    git(&fx.src, &["reset", "-q", "--hard", "ci-base"]);
    write_manifest(&fx.root, ["fixes", "rfc", "package-only"], RFC_TABLE);
    fs::create_dir_all(fx.root.join("repo/rfc")).unwrap();
    fs::write(
        fx.root.join("repo/rfc/cover-letter.txt"),
        "# note\nSubject: media: videobuf2: opt-in dma_resv producer fences\nSeries v{{version}}:\n{{series}}\nOn top of:\n{{fixes}}\nBase: {{base}}\nTree: {{target_tree}}\nPackage only:\n{{package_only}}\nDisabled:\n{{disabled}}\nTested:\n{{tested}}\n",
    )
    .unwrap();
    fs::write(
        fx.root.join("repo/rfc/fixes-cover-letter.txt"),
        "Subject: media: hantro: fixes\nFixes:\n{{series}}\nBase: {{base}}\n",
    )
    .unwrap();
    fx
}

fn submitter() -> Identity {
    parse_identity("Grace Hopper <grace@kernel.org>").unwrap()
}

fn args(fx: &Fx) -> ExportArgs {
    ExportArgs {
        src: fx.src.clone(),
        base: "ci-base".into(),
        out: fx.root.join("out"),
        version: 2,
        template: fx.root.join("repo/rfc/cover-letter.txt"),
        fixes_template: fx.root.join("repo/rfc/fixes-cover-letter.txt"),
        tested: "  rig: 42 passed, 0 failed".into(),
        submitter: submitter(),
        assistance: Assistance::AssistedBy("Claude:claude-test".into()),
    }
}

fn manifest(fx: &Fx) -> Manifest {
    Manifest::load(
        &fx.root.join("repo/manifest.toml"),
        &fx.root.join("repo/patches"),
    )
    .unwrap()
}

fn worktrees(src: &Path) -> usize {
    git(src, &["worktree", "list"]).lines().count()
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn export_writes_fixes_then_rfc_signed_by_the_submitter() {
    let fx = fixture(false);
    let done = export(&manifest(&fx), &args(&fx)).unwrap();
    assert!(
        done.apply_report.contains("3 applied, 0 needs rebase"),
        "{}",
        done.apply_report
    );
    assert_eq!(done.series.len(), 2);
    let (fixes, rfc) = (&done.series[0], &done.series[1]);
    assert_eq!(fixes.name, "fixes");
    assert_eq!(
        names(&fixes.files),
        vec![
            "0000-cover-letter.patch",
            "0001-media-hantro-finish-a-failed-job-once.patch"
        ]
    );
    assert_eq!(fixes.subject, "[PATCH 0/1] media: hantro: fixes");
    assert_eq!(fixes.to, vec!["Hantro Keeper <hk@kernel.org>"]);
    assert_eq!(fixes.cc, vec!["linux-media@vger.kernel.org"]);
    assert_eq!(rfc.name, "rfc");
    assert_eq!(
        names(&rfc.files),
        vec![
            "v2-0000-cover-letter.patch",
            "v2-0001-media-videobuf2-add-publishes_fences.patch"
        ]
    );
    assert_eq!(
        rfc.subject,
        "[RFC PATCH v2 0/1] media: videobuf2: opt-in dma_resv producer fences"
    );
    assert_eq!(
        rfc.to,
        vec![
            "Maintainer One <m1@kernel.org>",
            "Reviewer Two <r2@kernel.org>"
        ]
    );
    // The package-only patch is in neither posting.
    assert!(fx.root.join("out/fixes").is_dir() && fx.root.join("out/rfc").is_dir());
    for f in fixes.files.iter().chain(&rfc.files) {
        let t = fs::read_to_string(f).unwrap();
        assert!(!t.contains("export the tracepoints\n\nFor"), "{t}");
        assert!(!t.contains(".invalid"), "placeholder left in {f:?}:\n{t}");
        assert!(
            t.contains("\nFrom: Grace Hopper <grace@kernel.org>\n"),
            "{f:?}:\n{t}"
        );
    }
    let fix = fs::read_to_string(&fixes.files[1]).unwrap();
    assert!(
        fix.contains("Fixes: 727a400686a2 (\"media: verisilicon: Add Rockchip AV1 decoder\")\nCc: stable@vger.kernel.org\nAssisted-by: Claude:claude-test\nSigned-off-by: Grace Hopper <grace@kernel.org>\n---"),
        "{fix}"
    );
    let cover = fs::read_to_string(&rfc.files[0]).unwrap();
    for want in [
        "1. media: videobuf2: add publishes_fences\n      (new in this version)",
        "On top of:\n  - media: hantro: finish a failed job once",
        "Base: v7.2.13\n  (tested on linux-source-7.2 7.2.13-1, which is v7.2.13 with the\n  distribution's patches; no upstream commit id is known,\n  so there is no base-commit: line)",
        "Tree: git://linuxtv.org/media.git",
        "Package only:\n  - media: videobuf2: export the tracepoints",
        "rig: 42 passed, 0 failed",
    ] {
        assert!(cover.contains(want), "missing {want:?} in:\n{cover}");
    }
    assert!(
        !cover.contains("\nbase-commit: "),
        "no upstream base: {cover}"
    );
    assert!(!cover.contains("Debian"), "{cover}");
    assert!(
        !cover.contains("*** BLURB HERE ***") && !cover.contains("{{"),
        "{cover}"
    );
    assert_eq!(done.round_trip.len(), 2, "{:?}", done.round_trip);
    assert!(done.round_trip[0].starts_with("round trip: fixes/ (1 patch(es))"));
    assert_eq!(worktrees(&fx.src), 1, "throw-away worktrees removed");
    assert_eq!(
        git(&fx.src, &["rev-parse", "HEAD"]),
        git(&fx.src, &["rev-parse", "ci-base"])
    );
}

#[test]
fn exported_series_git_am_onto_the_base_like_the_strict_apply() {
    // The export checks this itself; check it once more from outside.
    let fx = fixture(false);
    let done = export(&manifest(&fx), &args(&fx)).unwrap();
    let am = fx.root.join("am");
    git(
        &fx.src,
        &[
            "worktree",
            "add",
            "-q",
            "--detach",
            am.to_str().unwrap(),
            "ci-base",
        ],
    );
    for s in &done.series {
        let mut args = vec!["am".to_string(), "-q".into()];
        args.extend(
            s.files[1..]
                .iter()
                .map(|f| f.to_string_lossy().into_owned()),
        );
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        git(&am, &a);
    }
    let got = fs::read_to_string(am.join("drivers/media/vb2.c")).unwrap();
    assert!(got.contains("line 3 fenced\n") && got.contains("line 18\n"));
    let got = fs::read_to_string(am.join("drivers/media/hantro.c")).unwrap();
    assert!(got.contains("line 2 finished once\n"));
    assert_eq!(
        git(&am, &["log", "--format=%an <%ae>|%cn", "ci-base..HEAD"]),
        "Grace Hopper <grace@kernel.org>|Ada Example\nGrace Hopper <grace@kernel.org>|Ada Example"
    );
}

#[test]
fn placeholder_identities_are_refused_with_what_to_set() {
    for bad in [
        PROJECT,
        "Seed <maintainers@users.noreply.b-seed.example>",
        "Ada <ada@example.com>",
        "Ada <ada@mail.example.org>",
        "Ada <ada@host.test>",
        "Ada <ada@localhost>",
        "Ada <ada@box.localhost>",
        "Ada <ada@nowhere>",
        "Your Name <you@your.domain>",
        "Your Name <real@kernel.org>",
        "Ada <ada@box.localdomain>",
    ] {
        let id = parse_identity(bad).unwrap();
        let e = check_identity(&id).unwrap_err().to_string();
        assert!(e.contains("refusing to export as"), "{bad}: {e}");
        assert!(
            e.contains("git config user.email") && e.contains("--author"),
            "{bad}: {e}"
        );
    }
    for good in [
        "Grace Hopper <grace@kernel.org>",
        "Ada <ada@fresnel-fourier.dev>",
        "Ada <ada@examples.com>",
    ] {
        assert_eq!(
            identity_problem(&parse_identity(good).unwrap()),
            None,
            "{good}"
        );
    }
    assert!(parse_identity("no address").is_err());
    assert!(parse_identity("<a@b.org>").is_err());
}

#[test]
fn export_with_a_placeholder_stops_before_any_work() {
    let fx = fixture(false);
    let mut a = args(&fx);
    a.submitter = parse_identity(PROJECT).unwrap();
    match export(&manifest(&fx), &a) {
        Err(RfcError::Identity(e)) => assert!(e.contains(".invalid"), "{e}"),
        other => panic!("expected an identity refusal, got {other:?}"),
    }
    assert!(!fx.root.join("out").exists());
    assert_eq!(worktrees(&fx.src), 1);
}

#[test]
fn submitter_comes_from_author_or_git_config() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    git(d, &["init", "-q"]);
    // No identity in this repository (and none from the environment).
    let resolve = |author: Option<&str>| {
        let home = tempfile::tempdir().unwrap();
        std::env::set_var("HOME", home.path());
        std::env::set_var("GIT_CONFIG_NOSYSTEM", "1");
        resolve_submitter(author, d)
    };
    git(d, &["config", "user.name", "Grace Hopper"]);
    git(d, &["config", "user.email", "grace@kernel.org"]);
    assert_eq!(resolve(None).unwrap(), submitter());
    git(
        d,
        &["config", "user.email", "grace@fresnel-fourier.invalid"],
    );
    let e = resolve(None).unwrap_err().to_string();
    assert!(
        e.contains(".invalid") && e.contains("git config user.email"),
        "{e}"
    );
    assert_eq!(
        resolve(Some("Ada Lovelace <ada@kernel.org>")).unwrap().name,
        "Ada Lovelace"
    );
    git(d, &["config", "--unset", "user.email"]);
    let e = resolve(None).unwrap_err().to_string();
    assert!(e.contains("no submitter"), "{e}");
}

#[test]
fn sign_message_keeps_trailers_drops_placeholder_signoffs() {
    let me = submitter();
    let msg = format!("subj\n\nbody: with a colon\n\nFixes: 123456789abc (\"x\")\nReviewed-by: R <r@kernel.org>\nSigned-off-by: Grace Hopper <grace@kernel.org>\nSigned-off-by: {PROJECT}\n");
    assert_eq!(
        sign_message(&msg, &me, None),
        "subj\n\nbody: with a colon\n\nFixes: 123456789abc (\"x\")\nReviewed-by: R <r@kernel.org>\nSigned-off-by: Grace Hopper <grace@kernel.org>\n"
    );
    assert_eq!(
        sign_message("subj\n\nbody\n", &me, Some("Claude:m")),
        "subj\n\nbody\n\nAssisted-by: Claude:m\nSigned-off-by: Grace Hopper <grace@kernel.org>\n"
    );
}

#[test]
fn a_known_upstream_base_gives_base_commit_and_prerequisites() {
    let fx = fixture(false);
    let base = "0123456789abcdef0123456789abcdef01234567";
    write_manifest(
        &fx.root,
        ["fixes", "rfc", "package-only"],
        &RFC_TABLE.replace("base_commit = \"\"", &format!("base_commit = \"{base}\"")),
    );
    let done = export(&manifest(&fx), &args(&fx)).unwrap();
    let fixes = fs::read_to_string(&done.series[0].files[0]).unwrap();
    assert!(
        fixes.contains(&format!("\nbase-commit: {base}\n")),
        "{fixes}"
    );
    assert!(!fixes.contains("prerequisite-patch-id"), "{fixes}");
    let rfc = fs::read_to_string(&done.series[1].files[0]).unwrap();
    assert!(
        rfc.contains(&format!("\nbase-commit: {base}\nprerequisite-patch-id: ")),
        "{rfc}"
    );
    assert!(
        rfc.contains(&format!("upstream commit\n  {base})")),
        "{rfc}"
    );
}

#[test]
fn checkpatch_warning_fails_the_export() {
    let fx = fixture(true);
    match export(&manifest(&fx), &args(&fx)) {
        Err(RfcError::Checkpatch(out)) => {
            assert!(out.contains("BADSTYLE is not kernel style"), "{out}")
        }
        other => panic!("expected checkpatch failure, got {other:?}"),
    }
    assert_eq!(worktrees(&fx.src), 1, "worktree removed on failure too");
}

#[test]
fn refuses_non_empty_output_and_empty_rfc() {
    let fx = fixture(false);
    fs::create_dir_all(fx.root.join("out")).unwrap();
    fs::write(fx.root.join("out/old.patch"), "x").unwrap();
    assert!(matches!(
        export(&manifest(&fx), &args(&fx)),
        Err(RfcError::OutNotEmpty(_))
    ));
    write_manifest(
        &fx.root,
        ["fixes", "package-only", "package-only"],
        RFC_TABLE,
    );
    let mut a = args(&fx);
    a.out = fx.root.join("out2");
    assert!(matches!(
        export(&manifest(&fx), &a),
        Err(RfcError::EmptySeries)
    ));
}

#[test]
fn series_that_does_not_apply_is_reported_and_cleaned_up() {
    let fx = fixture(false);
    // Move the base on so the patch's context is gone.
    let t = fs::read_to_string(fx.src.join("drivers/media/vb2.c"))
        .unwrap()
        .replace("line 3\n", "line three\n");
    fs::write(fx.src.join("drivers/media/vb2.c"), t).unwrap();
    git(&fx.src, &["commit", "-q", "-am", "moved on"]);
    git(&fx.src, &["tag", "-f", "ci-base"]);
    match export(&manifest(&fx), &args(&fx)) {
        Err(RfcError::Apply { report, .. }) => {
            assert!(report.contains("drivers/media/vb2.c: hunk #1"), "{report}")
        }
        other => panic!("expected apply failure, got {other:?}"),
    }
    assert_eq!(worktrees(&fx.src), 1);
}

#[test]
fn assistance_must_be_stated_one_way() {
    let refused = |a: Option<&str>, none: bool| match Assistance::choose(a, none) {
        Err(RfcError::Assistance(e)) => e,
        other => panic!("{a:?}/{none}: expected a refusal, got {other:?}"),
    };
    assert!(refused(None, false).contains("say whether a coding assistant was used"));
    assert!(refused(Some("  "), false).contains("--no-assistant"));
    assert!(refused(Some("Claude:m"), true).contains("both"));
    assert!(refused(Some("A:B\nSigned-off-by: X <x@y.org>"), false).contains("control character"));
    for bad in ["claude", ":model", "Claude:", "sparse Claude:m"] {
        assert!(refused(Some(bad), false).contains("AGENT:MODEL"), "{bad}");
    }
    assert_eq!(
        Assistance::choose(Some("Claude:claude-3-opus coccinelle"), false).unwrap(),
        Assistance::AssistedBy("Claude:claude-3-opus coccinelle".into())
    );
    assert_eq!(
        Assistance::choose(None, true).unwrap(),
        Assistance::NoAssistant
    );
}

#[test]
fn export_without_assistant_carries_no_trailer_and_says_so() {
    let fx = fixture(false);
    let mut a = args(&fx);
    a.assistance = Assistance::NoAssistant;
    let done = export(&manifest(&fx), &a).unwrap();
    for s in &done.series {
        for f in &s.files {
            let text = fs::read_to_string(f).unwrap();
            assert!(!text.contains("Assisted-by:"), "{}", f.display());
        }
    }
}

#[test]
fn an_empty_tested_summary_leaves_no_line_behind() {
    use fresnel_tools::manifest::Destination;
    use fresnel_tools::rfc::{parse_template, render, CoverInput};
    let fx = fixture(false);
    let t = parse_template(
        Path::new("t"),
        "Subject: s\n\nbefore\n{{tested}}\nafter {{tested}}end\n",
    )
    .unwrap();
    let m = manifest(&fx);
    let input = |tested: &str| CoverInput {
        version: 2,
        manifest: &m,
        destination: Destination::Rfc,
        tested: tested.to_string(),
        assistance: &Assistance::NoAssistant,
    };
    assert_eq!(render(&t, &input("")), "before\nafter end\n");
    assert_eq!(render(&t, &input("42")), "before\n42\nafter 42end\n");
}
