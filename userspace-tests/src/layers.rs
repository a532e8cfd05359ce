//! The floors of the module map in `lib.rs`, checked against the code: a
//! module names (`crate::...`) only modules on lower floors, so the
//! runner is reached only from the case table, and no path or fixture
//! knows who runs it.

use std::path::{Path, PathBuf};

/// Every module under `src/` and its floor, top (the case table) to bottom.
/// A file in a module's directory (`paths/vivid.rs`) belongs to it.
const FLOORS: &[(&str, u8)] = &[
    ("cases", 9),
    ("needs", 8),
    ("runner", 8),
    ("bench", 7),
    ("paths", 7),
    ("m2m", 6),
    ("observe", 6),
    ("readback_dev", 6),
    ("devices", 5),
    ("env", 5),
    ("frames", 5),
    ("landing", 5),
    ("readback_ref", 5),
    ("oracle", 4),
    ("v4l2", 4),
    ("access", 3),
    ("kms", 3),
    ("sysfs_bind", 3),
    ("watch", 3),
    ("parse", 2),
    ("sys", 2),
    ("verdict", 1),
];

fn floor(module: &str) -> Option<u8> {
    FLOORS.iter().find(|(m, _)| *m == module).map(|(_, f)| *f)
}

/// The `.rs` files below `dir`, with paths relative to `src/`.
fn sources(src: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src/")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            sources(src, &p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p.strip_prefix(src).expect("below src/").to_path_buf());
        }
    }
}

/// The module a file of `src/` belongs to (`None`: the crate root, the
/// binaries and this check, which may name anything).
fn module_of(file: &Path) -> Option<String> {
    let first = file.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "bin" | "layers.rs" => None,
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

/// The modules `text` names as `crate::<module>`.
fn named_modules(text: &str) -> Vec<String> {
    text.match_indices("crate::")
        .map(|(i, m)| {
            text[i + m.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .filter(|m| !m.is_empty())
        .collect()
}

/// Every `(file, named module)` that breaks the floors.
fn breaches(src: &Path) -> Vec<String> {
    let mut files = Vec::new();
    sources(src, src, &mut files);
    let mut bad = Vec::new();
    for file in files {
        let Some(own) = module_of(&file) else {
            continue;
        };
        let Some(own_floor) = floor(&own) else {
            bad.push(format!("{}: module {own} has no floor", file.display()));
            continue;
        };
        let text = std::fs::read_to_string(src.join(&file)).expect("read source");
        for named in named_modules(&text) {
            if named == own {
                continue;
            }
            match floor(&named) {
                Some(f) if f < own_floor => {}
                _ => bad.push(format!("{}: names crate::{named}", file.display())),
            }
        }
    }
    bad
}

#[test]
fn modules_point_only_down() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let bad = breaches(&src);
    assert!(
        bad.is_empty(),
        "imports against the floors:\n{}",
        bad.join("\n")
    );
}

/// The check sees an import that climbs, and one at the same floor.
#[test]
fn a_climb_is_a_breach() {
    let dir = std::env::temp_dir().join(format!("layers-test-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("paths")).expect("temp dir");
    std::fs::write(dir.join("oracle.rs"), "use crate::parse::Usage;\n").expect("write");
    std::fs::write(dir.join("paths/pending.rs"), "use crate::paths::x;\n").expect("write");
    assert!(breaches(&dir).is_empty());
    std::fs::write(dir.join("oracle.rs"), "use crate::paths::pending;\n").expect("write");
    std::fs::write(dir.join("needs.rs"), "use crate::runner::Outcome;\n").expect("write");
    let bad = breaches(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        bad,
        [
            "needs.rs: names crate::runner",
            "oracle.rs: names crate::paths"
        ]
    );
}
