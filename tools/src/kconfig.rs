//! Verifies that a config fragment survived `make olddefconfig`: Kconfig
//! silently drops or changes a symbol whose dependencies are not met, so a
//! merged fragment proves nothing until the resulting .config is compared.

use crate::diag::Diagnostic;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// `Some(value)` for `CONFIG_X=value`, `None` for `# CONFIG_X is not set`
/// and for `CONFIG_X=n`: Kconfig writes the latter as the former, so both
/// mean "off".
fn parse_line(line: &str) -> Option<(String, Option<String>)> {
    let line = line.trim();
    if let Some(rest) = line.strip_prefix("# ") {
        let sym = rest.strip_suffix(" is not set")?;
        return sym.starts_with("CONFIG_").then(|| (sym.to_string(), None));
    }
    let (k, v) = line.split_once('=')?;
    let v = (v != "n").then(|| v.to_string());
    k.starts_with("CONFIG_").then(|| (k.to_string(), v))
}

pub fn parse(text: &str) -> HashMap<String, Option<String>> {
    text.lines().filter_map(parse_line).collect()
}

/// One diagnostic (at the fragment's line) per symbol whose value differs,
/// but for the symbols in `overridden`: a fragment merged after this one
/// sets them (the production kernel switches the debug options off).
/// A symbol the final .config does not mention at all is off: that is how
/// Kconfig leaves a symbol whose dependencies are not met, which is what a
/// fragment's `=n` asks for. `arch` is the `ARCH=` the build uses, for the
/// message.
pub fn check(
    fragment: &Path,
    fragment_text: &str,
    config_text: &str,
    arch: &str,
    overridden: &HashSet<String>,
) -> Vec<Diagnostic> {
    let config = parse(config_text);
    let mut out = Vec::new();
    for (i, line) in fragment_text.lines().enumerate() {
        let Some((sym, want)) = parse_line(line) else {
            continue;
        };
        if overridden.contains(&sym) {
            continue;
        }
        let got = config.get(&sym).cloned().flatten();
        if got == want {
            continue;
        }
        let show = |v: &Option<String>| match v {
            Some(v) => format!("{sym}={v}"),
            None => format!("{sym} unset"),
        };
        out.push(Diagnostic::new(
            fragment,
            i + 1,
            format!(
                "wanted {} but the final .config has {}: a dependency is missing or the symbol \
                 was renamed; look it up with `make ARCH={arch} menuconfig` (/ to search) and add \
                 what it depends on to the fragment",
                show(&want),
                show(&got)
            ),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_dropped_and_changed_symbols() {
        let frag = "CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_D=\"x\"\n# comment\n";
        let cfg = "CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=y\n";
        let d = check(Path::new("f"), frag, cfg, "arm64", &HashSet::new());
        let lines: Vec<_> = d.iter().map(|d| d.line).collect();
        assert_eq!(lines, vec![2, 3, 4]);
        assert!(d[0]
            .message
            .contains("wanted CONFIG_B=m but the final .config has CONFIG_B=y"));
    }

    #[test]
    fn clean_when_all_kept() {
        let frag = "CONFIG_A=y\n# CONFIG_C is not set\n";
        let cfg = "CONFIG_A=y\n# CONFIG_C is not set\n";
        assert!(check(Path::new("f"), frag, cfg, "arm64", &HashSet::new()).is_empty());
    }

    /// `=n` is what `# ... is not set` means, and what an absent symbol is.
    #[test]
    fn n_is_not_set_or_absent() {
        let frag = "CONFIG_DEBUG_KMEMLEAK_AUTO_SCAN=n\nCONFIG_GONE=n\n";
        let cfg = "# CONFIG_DEBUG_KMEMLEAK_AUTO_SCAN is not set\n";
        assert!(check(Path::new("f"), frag, cfg, "x86_64", &HashSet::new()).is_empty());
        let d = check(
            Path::new("f"),
            frag,
            "CONFIG_GONE=y\n",
            "x86_64",
            &HashSet::new(),
        );
        assert_eq!(d.len(), 1);
        assert!(d[0]
            .message
            .contains("wanted CONFIG_GONE unset but the final .config has CONFIG_GONE=y"));
    }

    /// A symbol a later fragment sets is that fragment's to check.
    #[test]
    fn skips_what_a_later_fragment_overrides() {
        let frag = "CONFIG_PROVE_LOCKING=y\nCONFIG_A=y\n";
        let later: HashSet<String> = parse("# CONFIG_PROVE_LOCKING is not set\n")
            .into_keys()
            .collect();
        let cfg = "CONFIG_A=y\n";
        assert!(check(Path::new("f"), frag, cfg, "x86_64", &later).is_empty());
        let d = check(Path::new("f"), frag, cfg, "x86_64", &HashSet::new());
        assert_eq!(d.len(), 1);
    }

    /// The hint names the architecture being built, not always arm64.
    #[test]
    fn message_names_the_build_arch() {
        let d = check(
            Path::new("f"),
            "CONFIG_A=y\n",
            "",
            "x86_64",
            &HashSet::new(),
        );
        assert!(
            d[0].message.contains("make ARCH=x86_64 menuconfig"),
            "{}",
            d[0].message
        );
    }
}
