//! Strict apply on a small synthetic kernel-like git repository with a
//! clean patch, a patch that only fits with an offset, and one that fails.

use fresnel_tools::apply::{apply_series, ApplyError, Options, Outcome};
use fresnel_tools::manifest::Manifest;
use std::fs;
use std::path::{Path, PathBuf};

mod common;
use common::git;

fn numbered(prefix: &str, n: usize) -> String {
    (1..=n).map(|i| format!("{prefix} {i}\n")).collect()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    repo: PathBuf,
    patches: PathBuf,
    base: String,
    root: PathBuf,
}

/// Repo at tag `base` with drivers/media/a.c and b.c, plus three patches:
/// good (a.c line 5), offset (b.c line 20, made against a b.c that lacked
/// its first 3 lines) and bad (changes a.c line 30 text the base lacks).
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let repo = root.join("src");
    fs::create_dir_all(repo.join("drivers/media")).unwrap();
    git(&repo, &["init", "-q"]);
    fs::write(repo.join("drivers/media/a.c"), numbered("a line", 40)).unwrap();
    fs::write(repo.join("drivers/media/b.c"), numbered("b line", 40)).unwrap();
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "base"]);
    git(&repo, &["tag", "base"]);
    let base = git(&repo, &["rev-parse", "HEAD"]);
    let patches = root.join("patches/subsystem/test");
    fs::create_dir_all(&patches).unwrap();
    let export = |name: &str| {
        let p = git(&repo, &["format-patch", "-1", "--stdout", "HEAD"]);
        fs::write(patches.join(name), p + "\n").unwrap();
    };
    let edit = |file: &str, from: &str, to: &str| {
        let path = repo.join(file);
        let t = fs::read_to_string(&path).unwrap().replace(from, to);
        fs::write(&path, t).unwrap();
    };

    // good
    edit("drivers/media/a.c", "a line 5\n", "a line 5 fenced\n");
    git(
        &repo,
        &["commit", "-q", "-s", "-am", "media: a: fence line 5"],
    );
    export("0001-good.patch");
    git(&repo, &["reset", "-q", "--hard", "base"]);

    // offset: generated on a b.c without its first 3 lines
    edit("drivers/media/b.c", "b line 1\nb line 2\nb line 3\n", "");
    git(&repo, &["commit", "-q", "-am", "older b.c"]);
    edit("drivers/media/b.c", "b line 20\n", "b line 20 fenced\n");
    git(
        &repo,
        &["commit", "-q", "-s", "-am", "media: b: fence line 20"],
    );
    export("0002-offset.patch");
    git(&repo, &["reset", "-q", "--hard", "base"]);

    // bad: its context is a line the base does not have
    edit("drivers/media/a.c", "a line 30\n", "a line 30 changed\n");
    git(&repo, &["commit", "-q", "-am", "private change"]);
    edit(
        "drivers/media/a.c",
        "a line 30 changed\n",
        "a line 30 changed twice\n",
    );
    git(
        &repo,
        &[
            "commit",
            "-q",
            "-s",
            "-am",
            "media: a: change line 30 again",
        ],
    );
    export("0003-bad.patch");
    git(&repo, &["reset", "-q", "--hard", "base"]);

    // another clean one, after the bad one
    edit("drivers/media/b.c", "b line 35\n", "b line 35 fenced\n");
    git(
        &repo,
        &["commit", "-q", "-s", "-am", "media: b: fence line 35"],
    );
    export("0004-good.patch");
    git(&repo, &["reset", "-q", "--hard", "base"]);
    Fixture {
        _tmp: tmp,
        repo,
        patches: root.join("patches"),
        base,
        root,
    }
}

/// Manifest listing the given patches (name, status) in order. Patches in
/// patches/ that are not named are moved aside so the manifest is valid.
fn manifest(fx: &Fixture, entries: &[(&str, &str)]) -> Manifest {
    let mut text = String::from(
        "[package]\nname = \"linux-fresnel-fourier\"\npkgver = \"7.0\"\npkgrel = 1\n\n[package_base]\nversion = \"7.0\"\n\n[ci_base]\npackage = \"p\"\nversion = \"1\"\ntarball = \"t\"\ndeb_sha256 = \"\"\nbindgen_cli = \"0.73.2\"\nv4l_utils = \"1\"\n",
    );
    let dir = fx.patches.join("subsystem/test");
    let aside = fx.root.join("aside");
    fs::create_dir_all(&aside).unwrap();
    for f in [
        "0001-good.patch",
        "0002-offset.patch",
        "0003-bad.patch",
        "0004-good.patch",
    ] {
        let listed = entries.iter().any(|(n, _)| *n == f);
        let (from, to) = if listed {
            (aside.join(f), dir.join(f))
        } else {
            (dir.join(f), aside.join(f))
        };
        if from.exists() {
            fs::rename(from, to).unwrap();
        }
    }
    for (name, status) in entries {
        text.push_str(&format!(
            "\n[[patch]]\npath = \"subsystem/test/{name}\"\nscope = \"subsystem/test\"\nstatus = \"{status}\"\nupstream = \"new\"\n"
        ));
        if *status == "disabled" {
            text.push_str("reason = \"test\"\n");
        }
    }
    let m = fx.root.join("manifest.toml");
    fs::write(&m, text).unwrap();
    Manifest::load(&m, &fx.patches).expect("test manifest valid")
}

fn head(fx: &Fixture) -> String {
    git(&fx.repo, &["rev-parse", "HEAD"])
}

fn clean(fx: &Fixture) -> bool {
    git(&fx.repo, &["status", "--porcelain"]).is_empty()
}

#[test]
fn clean_series_becomes_commits_with_authorship() {
    let fx = fixture();
    let m = manifest(
        &fx,
        &[
            ("0001-good.patch", "included"),
            ("0004-good.patch", "included"),
            ("0002-offset.patch", "disabled"),
        ],
    );
    let r = apply_series(&m, &fx.repo, Options::default()).unwrap();
    assert!(r.success(), "{r}");
    assert_eq!(r.patches[0].outcome, Outcome::Applied);
    assert_eq!(r.patches[1].outcome, Outcome::Applied);
    assert_eq!(r.patches[2].outcome, Outcome::Disabled("test".into()));
    assert_eq!(git(&fx.repo, &["rev-list", "--count", "base..HEAD"]), "2");
    assert_eq!(
        git(&fx.repo, &["log", "-1", "--format=%an <%ae>|%s"]),
        "Ada Example <ada@example.org>|media: b: fence line 35"
    );
    assert!(fs::read_to_string(fx.repo.join("drivers/media/a.c"))
        .unwrap()
        .contains("a line 5 fenced\n"));
    assert!(
        r.to_string()
            .contains("2 applied, 0 needs rebase, 0 failed, 1 disabled, 0 not tried"),
        "{r}"
    );
}

#[test]
fn offset_is_needs_rebase_and_strict_run_resets() {
    let fx = fixture();
    let m = manifest(
        &fx,
        &[
            ("0001-good.patch", "included"),
            ("0002-offset.patch", "included"),
        ],
    );
    let r = apply_series(&m, &fx.repo, Options::default()).unwrap();
    assert!(!r.success());
    match &r.patches[1].outcome {
        Outcome::NeedsRebase(d) => {
            assert_eq!(d.len(), 1, "{d:?}");
            assert!(d[0].contains("drivers/media/b.c: hunk #1"), "{}", d[0]);
            assert!(d[0].contains("(offset +3)"), "{}", d[0]);
        }
        o => panic!("expected needs rebase, got {o:?}"),
    }
    assert_eq!(
        head(&fx),
        fx.base,
        "strict run must leave the tree as it was"
    );
    assert!(clean(&fx));
    assert!(
        r.to_string()
            .contains("needs rebase  subsystem/test/0002-offset.patch"),
        "{r}"
    );
}

#[test]
fn offset_allowed_keeps_series_but_still_reports() {
    let fx = fixture();
    let m = manifest(&fx, &[("0002-offset.patch", "included")]);
    let r = apply_series(
        &m,
        &fx.repo,
        Options {
            allow_offsets: true,
        },
    )
    .unwrap();
    assert!(r.tree_applied);
    assert!(matches!(r.patches[0].outcome, Outcome::NeedsRebase(_)));
    assert_eq!(git(&fx.repo, &["rev-list", "--count", "base..HEAD"]), "1");
    assert!(fs::read_to_string(fx.repo.join("drivers/media/b.c"))
        .unwrap()
        .contains("b line 20 fenced\n"));
}

#[test]
fn failure_names_patch_file_hunk_and_resets() {
    let fx = fixture();
    let m = manifest(
        &fx,
        &[
            ("0001-good.patch", "included"),
            ("0003-bad.patch", "included"),
            ("0004-good.patch", "included"),
        ],
    );
    let r = apply_series(&m, &fx.repo, Options::default()).unwrap();
    assert!(!r.success() && !r.tree_applied);
    assert_eq!(r.patches[0].outcome, Outcome::Applied);
    match &r.patches[1].outcome {
        Outcome::Failed(why) => {
            assert!(why.contains("drivers/media/a.c: hunk #1"), "{why}");
            assert!(why.contains("What to do"), "{why}");
            assert!(why.contains("git am --3way"), "{why}");
        }
        o => panic!("expected failure, got {o:?}"),
    }
    assert_eq!(r.patches[2].outcome, Outcome::NotTried);
    assert_eq!(head(&fx), fx.base, "no half-applied tree");
    assert!(clean(&fx));
    assert!(
        !Path::new(&git(&fx.repo, &["rev-parse", "--absolute-git-dir"]))
            .join("rebase-apply")
            .exists()
    );
    let text = r.to_string();
    assert!(
        text.contains("failed        subsystem/test/0003-bad.patch"),
        "{text}"
    );
    assert!(text.contains("tree reset to"), "{text}");
}

#[test]
fn dirty_tree_is_refused() {
    let fx = fixture();
    let m = manifest(&fx, &[("0001-good.patch", "included")]);
    fs::write(fx.repo.join("drivers/media/a.c"), "local edit\n").unwrap();
    let e = apply_series(&m, &fx.repo, Options::default()).unwrap_err();
    assert!(matches!(e, ApplyError::Dirty { .. }), "{e}");
}

#[test]
fn empty_series_is_a_successful_no_op() {
    let fx = fixture();
    let m = manifest(&fx, &[]);
    let r = apply_series(&m, &fx.repo, Options::default()).unwrap();
    assert!(r.success());
    assert_eq!(head(&fx), fx.base);
}

/// A plain (non-git) tree nested inside another repository, like a makepkg
/// src/ directory inside a PKGBUILD checkout: git must not treat it as part
/// of the outer repository, and a failure must restore every file.
#[test]
fn plain_tree_applies_and_rolls_back() {
    let fx = fixture();
    let plain = fx.repo.join("nested-plain-tree");
    fs::create_dir_all(plain.join("drivers/media")).unwrap();
    for f in ["a.c", "b.c"] {
        fs::copy(
            fx.repo.join("drivers/media").join(f),
            plain.join("drivers/media").join(f),
        )
        .unwrap();
    }
    let before_a = fs::read_to_string(plain.join("drivers/media/a.c")).unwrap();

    let m = manifest(
        &fx,
        &[
            ("0001-good.patch", "included"),
            ("0003-bad.patch", "included"),
        ],
    );
    let r = apply_series(&m, &plain, Options::default()).unwrap();
    assert!(!r.success());
    assert!(matches!(r.patches[1].outcome, Outcome::Failed(_)));
    assert_eq!(
        fs::read_to_string(plain.join("drivers/media/a.c")).unwrap(),
        before_a,
        "rolled back"
    );
    assert!(r.tree_note.contains("reversed"), "{}", r.tree_note);

    let m = manifest(
        &fx,
        &[
            ("0001-good.patch", "included"),
            ("0004-good.patch", "included"),
        ],
    );
    let r = apply_series(&m, &plain, Options::default()).unwrap();
    assert!(r.success(), "{r}");
    assert!(fs::read_to_string(plain.join("drivers/media/a.c"))
        .unwrap()
        .contains("a line 5 fenced\n"));
    assert!(fs::read_to_string(plain.join("drivers/media/b.c"))
        .unwrap()
        .contains("b line 35 fenced\n"));
}
