//! `[[hardware_optin]]` in manifest.toml: the hardware drivers whose fence
//! opt-in the package ships switched off until it has run on the hardware
//! (design.md K10). Each entry names the package-only patch that puts the
//! opt-in behind a module parameter, and the Tested-by that lets its default
//! flip. The check holds the patch to the entry: the default the patch ships
//! is `true` exactly when `tested_by` is set, and the parameter is writable
//! at run time, so that the on-target run can switch it on for its own
//! duration and restore it.

use crate::manifest::{type_name, Ctx, Destination, PatchEntry, Status};
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use toml_edit::Item;

/// One `[[hardware_optin]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HardwareOptin {
    /// The driver as the series and its Tested-by name it (`hantro`).
    pub driver: String,
    /// The module whose parameter gates the opt-in, as sysfs names it
    /// (`/sys/module/<module>/parameters/<parameter>`).
    pub module: String,
    pub parameter: String,
    /// The package-only patch that adds the parameter (relative to patches/).
    pub patch: String,
    /// `Tested-by: ` value from a run on the hardware, or empty.
    pub tested_by: String,
    /// Line of the `[[hardware_optin]]` header in manifest.toml.
    pub line: usize,
}

impl HardwareOptin {
    /// The default the package must ship: on only with a Tested-by.
    pub fn default_on(&self) -> bool {
        !self.tested_by.is_empty()
    }

    /// Its line of `manifest hardware-optins`, the list the package
    /// installs and the guests and the on-target run read:
    /// `driver module parameter Y|N` (the default it ships).
    pub fn list_line(&self) -> String {
        let default = if self.default_on() { "Y" } else { "N" };
        format!(
            "{} {} {} {default}",
            self.driver, self.module, self.parameter
        )
    }
}

const KEYS: &[&str] = &["driver", "module", "parameter", "patch", "tested_by"];

/// The permission the parameter must have: writable by root, so that the
/// on-target run can switch the opt-in on and back.
const PERMISSION: &str = "0644";

fn is_c_identifier(v: &str) -> bool {
    v.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && v.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// What the patch's added lines say about `parameter`: its default, or why
/// the patch does not gate the opt-in the way the entry says. The patch
/// must declare the parameter once, register it writable, describe its
/// default, and read it into a queue's `publishes_fences`.
pub fn shipped_default(patch_text: &str, parameter: &str) -> Result<bool, String> {
    let added: Vec<&str> = patch_text
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .map(|l| l[1..].trim())
        .collect();
    // Kernel style leaves a false static uninitialised (checkpatch:
    // INITIALISED_STATIC), so `static bool p;` is the off default.
    let declared = format!("static bool {parameter}");
    let declarations: Vec<&str> = added
        .iter()
        .filter_map(|l| l.strip_prefix(declared.as_str()))
        .filter(|rest| rest.starts_with([';', ' ']))
        .collect();
    let default = match declarations[..] {
        [] => return Err(format!("adds no `static bool {parameter};`")),
        [one] => one,
        _ => {
            return Err(format!(
                "declares `{parameter}` {} times; one module, one parameter",
                declarations.len()
            ))
        }
    };
    let default = match default.trim_start() {
        ";" => false,
        "= true;" => true,
        other => {
            return Err(format!(
                "declares `{parameter}` as {other:?}; write `static bool {parameter};` (off) or `static bool {parameter} = true;`"
            ))
        }
    };
    let registered = format!("module_param({parameter}, bool, {PERMISSION});");
    if !added.iter().any(|l| *l == registered) {
        return Err(format!(
            "adds no `{registered}` (root must be able to switch it at run time)"
        ));
    }
    let described = if default {
        "(default: on)"
    } else {
        "(default: off)"
    };
    if !added.iter().any(|l| l.contains(described)) {
        return Err(format!(
            "ships `{parameter}` {} but its MODULE_PARM_DESC does not say {described:?}",
            if default { "on" } else { "off" }
        ));
    }
    let read = format!("READ_ONCE({parameter})");
    if !added
        .iter()
        .any(|l| l.contains("publishes_fences = ") && l.contains(&read))
    {
        return Err(format!(
            "adds no `...publishes_fences = {read}...`: the parameter gates nothing"
        ));
    }
    Ok(default)
}

/// Validates every `[[hardware_optin]]` against the series `patches`.
pub(crate) fn check(
    ctx: &mut Ctx,
    root: &toml_edit::Table,
    patches: &[PatchEntry],
    patches_dir: &Path,
) -> Vec<HardwareOptin> {
    let tables: Vec<&toml_edit::Table> = match root.get("hardware_optin") {
        None => return Vec::new(),
        Some(Item::ArrayOfTables(a)) => a.iter().collect(),
        Some(other) => {
            let line = ctx.key_line(root, "hardware_optin");
            ctx.err(
                line,
                format!(
                    "`hardware_optin` must be written as [[hardware_optin]] tables, not {}",
                    type_name(other)
                ),
            );
            return Vec::new();
        }
    };
    let mut out: Vec<HardwareOptin> = Vec::new();
    for (idx, t) in tables.into_iter().enumerate() {
        let line = ctx.line_of(t.span());
        let label = format!("[[hardware_optin]] #{}", idx + 1);
        let mut strs: BTreeMap<&str, String> = BTreeMap::new();
        for (k, item) in t.iter() {
            let kl = ctx.key_line(t, k);
            if !KEYS.contains(&k) {
                ctx.err(
                    kl,
                    format!("unknown key `{k}` in {label} (known: {})", KEYS.join(", ")),
                );
            } else if let Some(s) = item.as_str() {
                strs.insert(k, s.to_string());
            } else {
                ctx.err(
                    kl,
                    format!("{label} `{k}` must be a string, not {}", type_name(item)),
                );
            }
        }
        let missing: Vec<&str> = KEYS
            .iter()
            .copied()
            .filter(|k| !strs.contains_key(k))
            .collect();
        if !missing.is_empty() {
            ctx.err(
                line,
                format!("{label} is missing `{}`", missing.join("`, `")),
            );
            continue;
        }
        let entry = HardwareOptin {
            driver: strs["driver"].clone(),
            module: strs["module"].clone(),
            parameter: strs["parameter"].clone(),
            patch: strs["patch"].clone(),
            tested_by: strs["tested_by"].clone(),
            line,
        };
        let label = format!("{label} ({})", entry.driver);
        let before = ctx.diags.len();
        check_entry(ctx, &label, &entry, &out, patches, patches_dir);
        if ctx.diags.len() == before {
            out.push(entry);
        }
    }
    out
}

fn check_entry(
    ctx: &mut Ctx,
    label: &str,
    e: &HardwareOptin,
    earlier: &[HardwareOptin],
    patches: &[PatchEntry],
    patches_dir: &Path,
) {
    let line = e.line;
    if e.driver.is_empty() || e.driver.contains(char::is_whitespace) {
        ctx.err(
            line,
            format!("{label}: `driver` must be one word (the guest reads `driver module parameter Y|N` lines)"),
        );
    }
    for (key, v) in [("module", &e.module), ("parameter", &e.parameter)] {
        if !is_c_identifier(v) {
            ctx.err(
                line,
                format!("{label}: `{key}` {v:?} must be a lowercase C identifier, as /sys/module names it (underscores, not dashes)"),
            );
        }
    }
    if let Some(other) = earlier
        .iter()
        .find(|o| o.driver == e.driver || o.module == e.module)
    {
        ctx.err(
            line,
            format!(
                "{label}: driver or module already listed at line {}",
                other.line
            ),
        );
    }
    let identity = e.tested_by.contains(" <") && e.tested_by.ends_with('>');
    if !e.tested_by.is_empty() && !identity {
        ctx.err(
            line,
            format!(
                "{label}: `tested_by` {:?} must be empty or `Name <email>`, as in the Tested-by: line of the on-target report",
                e.tested_by
            ),
        );
    }
    let Some(p) = patches.iter().find(|p| p.path == e.patch) else {
        ctx.err(
            line,
            format!(
                "{label}: patch {:?} is not a [[patch]] of the series",
                e.patch
            ),
        );
        return;
    };
    if p.status != Status::Included || p.destination != Destination::PackageOnly {
        ctx.err(
            line,
            format!(
                "{label}: patch {:?} must be included with destination \"package-only\" (upstream keeps the opt-in as the RFC has it)",
                e.patch
            ),
        );
        return;
    }
    let file = patches_dir.join(&e.patch);
    let text = match fs::read_to_string(&file) {
        Ok(t) => t,
        Err(err) => {
            ctx.err(
                line,
                format!("{label}: cannot read {}: {err}", file.display()),
            );
            return;
        }
    };
    match shipped_default(&text, &e.parameter) {
        Err(why) => ctx.err(line, format!("{label}: {} {why}", e.patch)),
        Ok(default) if default != e.default_on() => ctx.err(
            line,
            if default {
                format!(
                    "{label}: {} ships `{}` on, but `tested_by` is empty: nothing untested on hardware ships switched on (design.md K10); default it to false, or record the Tested-by",
                    e.patch, e.parameter
                )
            } else {
                format!(
                    "{label}: `tested_by` is set but {} still ships `{}` off; flip its default to true",
                    e.patch, e.parameter
                )
            },
        ),
        Ok(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::shipped_default;

    fn patch(lines: &[&str]) -> String {
        let mut s = String::from("--- a/x.c\n+++ b/x.c\n@@ -1,1 +1,3 @@\n");
        for l in lines {
            s.push_str(l);
            s.push('\n');
        }
        s
    }

    const GATE: &str = "+\tq->publishes_fences = READ_ONCE(publish_fences);";

    #[test]
    fn reads_the_default() {
        let off = patch(&[
            "+static bool publish_fences_for_something_else;",
            "+static bool publish_fences;",
            "+module_param(publish_fences, bool, 0644);",
            "+\t\t \"publish fences (default: off)\");",
            GATE,
        ]);
        assert_eq!(shipped_default(&off, "publish_fences"), Ok(false));
        let on = off
            .replace("fences;", "fences = true;")
            .replace("default: off", "default: on");
        assert_eq!(shipped_default(&on, "publish_fences"), Ok(true));
    }

    #[test]
    fn refuses_what_does_not_gate() {
        let err = |lines: &[&str]| shipped_default(&patch(lines), "publish_fences").unwrap_err();
        let desc = "+ \"x (default: off)\");";
        let reg = "+module_param(publish_fences, bool, 0644);";
        let decl = "+static bool publish_fences;";
        assert!(err(&["-static bool publish_fences;", reg, desc, GATE])
            .contains("adds no `static bool"));
        assert!(err(&[decl, decl, reg, desc, GATE]).contains("2 times"));
        assert!(err(&[
            decl,
            "+module_param(publish_fences, bool, 0444);",
            desc,
            GATE
        ])
        .contains("run time"));
        assert!(err(&[
            "+static bool publish_fences = IS_ENABLED(CONFIG_X);",
            reg,
            desc,
            GATE
        ])
        .contains("IS_ENABLED"));
        assert!(err(&[decl, reg, "+ \"x (default: on)\");", GATE]).contains("MODULE_PARM_DESC"));
        assert!(err(&[decl, reg, desc, "+\tq->publishes_fences = true;"]).contains("gates nothing"));
    }
}
