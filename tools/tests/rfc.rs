//! `rfc export` end to end on a synthetic kernel repository whose
//! scripts/get_maintainer.pl and scripts/checkpatch.pl are small stand-ins
//! (the real ones need a whole kernel tree); the real-tree run is in
//! docs/manifest.md.

mod common;

use common::git;
use fresnel_tools::manifest::Manifest;
use fresnel_tools::rfc::{export, ExportArgs, RfcError};
use std::fs;
use std::path::{Path, PathBuf};

const GET_MAINTAINER: &str = r#"#!/usr/bin/perl
print "Maintainer One <m1\@example.org> (maintainer:MEDIA INPUT INFRASTRUCTURE)\n";
print "Reviewer Two <r2\@example.org> (reviewer:VIDEOBUF2)\n";
print "linux-media\@vger.kernel.org (open list:MEDIA INPUT INFRASTRUCTURE)\n";
"#;

// Counts like checkpatch: a patch containing BADSTYLE gets a warning.
const CHECKPATCH: &str = r#"#!/usr/bin/perl
my $bad = 0;
for my $f (grep { !/^--/ } @ARGV) {
    open(my $fh, '<', $f) or die "$f: $!";
    my $t = do { local $/; <$fh> };
    if ($t =~ /BADSTYLE/) { print "$f\nWARNING: BADSTYLE is not kernel style\ntotal: 0 errors, 1 warnings, 0 checks, 9 lines checked\n"; $bad = 1; }
    else { print "$f\ntotal: 0 errors, 0 warnings, 0 checks, 9 lines checked\n"; }
}
exit $bad;
"#;

struct Fx {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    src: PathBuf,
}

fn fixture(bad_style: bool) -> Fx {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let src = root.join("kernel/src");
    fs::create_dir_all(src.join("scripts")).unwrap();
    fs::create_dir_all(src.join("drivers/media")).unwrap();
    git(&src, &["init", "-q"]);
    fs::write(src.join("scripts/get_maintainer.pl"), GET_MAINTAINER).unwrap();
    fs::write(src.join("scripts/checkpatch.pl"), CHECKPATCH).unwrap();
    let body: String = (1..=20).map(|i| format!("line {i}\n")).collect();
    fs::write(src.join("drivers/media/vb2.c"), &body).unwrap();
    git(&src, &["add", "."]);
    git(&src, &["commit", "-q", "-m", "base"]);
    git(&src, &["tag", "ci-base"]);

    let pdir = root.join("repo/patches/subsystem/media/videobuf2");
    fs::create_dir_all(&pdir).unwrap();
    let new = body.replace(
        "line 3\n",
        if bad_style {
            "line 3 BADSTYLE\n"
        } else {
            "line 3 fenced\n"
        },
    );
    fs::write(src.join("drivers/media/vb2.c"), new).unwrap();
    git(
        &src,
        &[
            "commit",
            "-q",
            "-s",
            "-am",
            "media: videobuf2: add publishes_fences",
        ],
    );
    fs::write(
        pdir.join("0001-media-videobuf2-add-publishes_fences.patch"),
        git(&src, &["format-patch", "-1", "--stdout"]) + "\n",
    )
    .unwrap();
    git(&src, &["reset", "-q", "--hard", "ci-base"]);
    common::write_manifest(
        &root.join("repo"),
        &[(
            "subsystem/media/videobuf2/0001-media-videobuf2-add-publishes_fences.patch",
            "included",
            "rfc-v1-posted",
        )],
    );
    fs::create_dir_all(root.join("repo/rfc")).unwrap();
    fs::write(
        root.join("repo/rfc/cover-letter.txt"),
        "# note\nSubject: media: videobuf2: opt-in dma_resv producer fences\nSeries v{{version}}:\n{{series}}\nBase: {{ci_base}}\nDisabled:\n{{disabled}}\nTested:\n{{tested}}\n",
    )
    .unwrap();
    Fx {
        _tmp: tmp,
        root,
        src,
    }
}

fn args(fx: &Fx) -> ExportArgs {
    ExportArgs {
        src: fx.src.clone(),
        base: "ci-base".into(),
        out: fx.root.join("out"),
        version: 2,
        template: fx.root.join("repo/rfc/cover-letter.txt"),
        tested: "  rig: 42 passed, 0 failed".into(),
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

#[test]
fn export_writes_rfc_series_with_cover_letter_and_recipients() {
    let fx = fixture(false);
    let done = export(&manifest(&fx), &args(&fx)).unwrap();
    assert!(
        done.apply_report.contains("1 applied, 0 needs rebase"),
        "{}",
        done.apply_report
    );
    assert_eq!(done.to.len(), 2);
    let files = done.files;
    let names: Vec<String> = files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        vec![
            "v2-0000-cover-letter.patch",
            "v2-0001-media-videobuf2-add-publishes_fences.patch"
        ]
    );
    let cover = fs::read_to_string(&files[0]).unwrap();
    assert!(
        cover.contains(
            "Subject: [RFC PATCH v2 0/1] media: videobuf2: opt-in dma_resv producer fences"
        ),
        "{cover}"
    );
    assert!(
        cover.contains("To: Maintainer One <m1@example.org>"),
        "{cover}"
    );
    assert!(cover.contains("Reviewer Two <r2@example.org>"), "{cover}");
    assert!(cover.contains("Cc: linux-media@vger.kernel.org"), "{cover}");
    assert!(
        cover.contains("1. media: videobuf2: add publishes_fences\n      (was rfc-v1-posted)"),
        "{cover}"
    );
    assert!(
        cover.contains("\nFrom: Ada Example <ada@example.org>\n"),
        "cover letter from the series author:\n{cover}"
    );
    assert!(
        cover.contains("Base: Debian linux-source-7.2 7.2.13-1 (tag ci-base, commit"),
        "{cover}"
    );
    assert!(cover.contains("rig: 42 passed, 0 failed"), "{cover}");
    assert!(cover.contains("base-commit: "), "{cover}");
    assert!(
        !cover.contains("*** BLURB HERE ***") && !cover.contains("{{"),
        "{cover}"
    );
    let p1 = fs::read_to_string(&files[1]).unwrap();
    assert!(
        p1.contains("Subject: [RFC PATCH v2 1/1] media: videobuf2: add publishes_fences"),
        "{p1}"
    );
    assert_eq!(worktrees(&fx.src), 1, "throw-away worktree removed");
    assert_eq!(
        git(&fx.src, &["rev-parse", "HEAD"]),
        git(&fx.src, &["rev-parse", "ci-base"])
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
fn refuses_non_empty_output_and_empty_series() {
    let fx = fixture(false);
    fs::create_dir_all(fx.root.join("out")).unwrap();
    fs::write(fx.root.join("out/old.patch"), "x").unwrap();
    assert!(matches!(
        export(&manifest(&fx), &args(&fx)),
        Err(RfcError::OutNotEmpty(_))
    ));
    common::write_manifest(
        &fx.root.join("repo"),
        &[(
            "subsystem/media/videobuf2/0001-media-videobuf2-add-publishes_fences.patch",
            "disabled",
            "new",
        )],
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
