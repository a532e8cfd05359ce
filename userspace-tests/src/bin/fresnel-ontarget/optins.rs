//! The hardware fence opt-ins: the package ships them off until a driver
//! carries a Tested-by (manifest.toml `[[hardware_optin]]`); the run
//! switches each one on for its own duration and puts the previous value
//! back when it ends, however it ends short of a kill.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use landing_model::ontarget::Switched;

/// One line of the list `fresnel-tools manifest hardware-optins` writes:
/// `driver module parameter Y|N` (the last word: the shipped default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Optin {
    pub driver: String,
    pub module: String,
    pub parameter: String,
}

impl Optin {
    pub fn sysfs(&self, root: &Path) -> PathBuf {
        root.join("module")
            .join(&self.module)
            .join("parameters")
            .join(&self.parameter)
    }
}

/// A sysfs parameter's value, trimmed (None: no such file).
pub fn read_value(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

pub fn parse_list(text: &str, file: &Path) -> Result<Vec<Optin>> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(
            |(i, l)| match l.split_whitespace().collect::<Vec<_>>()[..] {
                [driver, module, parameter, _default] => Ok(Optin {
                    driver: driver.into(),
                    module: module.into(),
                    parameter: parameter.into(),
                }),
                _ => bail!(
                    "{} line {}: expected `driver module parameter Y|N`, got `{l}`",
                    file.display(),
                    i + 1
                ),
            },
        )
        .collect()
}

/// Switches every loaded module's opt-in on; `Drop` restores them.
pub struct Guard {
    pub switched: Vec<Switched>,
}

impl Guard {
    pub fn switch_on(optins: &[Optin], sysfs_root: &Path) -> Self {
        let switched = optins
            .iter()
            .map(|o| {
                let p = o.sysfs(sysfs_root);
                let before = read_value(&p);
                let on = before.is_some()
                    && std::fs::write(&p, "Y").is_ok()
                    && read_value(&p).as_deref() == Some("Y");
                Switched {
                    driver: o.driver.clone(),
                    path: p.display().to_string(),
                    before,
                    on,
                    restored: false,
                }
            })
            .collect();
        Self { switched }
    }

    /// Writes every value found back; returns what could not be.
    pub fn restore(&mut self) -> Vec<String> {
        let mut failed = Vec::new();
        for s in &mut self.switched {
            // Only what this run switched on: a value it could not change
            // needs no restoring (and writing it may fail the same way).
            let Some(before) = s.before.as_ref().filter(|_| s.on) else {
                continue;
            };
            if s.restored {
                continue;
            }
            match std::fs::write(&s.path, before)
                .with_context(|| format!("write {before} to {}", s.path))
            {
                Ok(()) => s.restored = true,
                Err(e) => failed.push(format!("{e:#}")),
            }
        }
        failed
    }

    /// The commands that undo the switch by hand (printed before the run,
    /// for when it is killed).
    pub fn undo_commands(&self) -> Vec<String> {
        self.switched
            .iter()
            .filter(|s| s.on)
            .filter_map(|s| s.before.as_ref().map(|b| format!("echo {b} > {}", s.path)))
            .collect()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        for e in self.restore() {
            eprintln!("fresnel-ontarget: error: could not restore an opt-in: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_sysfs(tag: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("ontarget-optins-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let p = root.join("module/rockchip_rga/parameters");
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(p.join("publish_fences"), "N\n").unwrap();
        root
    }

    #[test]
    fn switches_loaded_modules_on_and_restores_them_when_dropped() {
        let root = fake_sysfs("restore");
        let list = parse_list(
            "rga rockchip_rga publish_fences N\nhantro hantro_vpu publish_fences N\n",
            Path::new("list"),
        )
        .unwrap();
        let param = root.join("module/rockchip_rga/parameters/publish_fences");
        {
            let g = Guard::switch_on(&list, &root);
            assert_eq!(std::fs::read_to_string(&param).unwrap(), "Y");
            assert!(g.switched[0].on && g.switched[0].before.as_deref() == Some("N"));
            assert!(
                !g.switched[1].on && g.switched[1].before.is_none(),
                "hantro_vpu is not loaded"
            );
            assert_eq!(
                g.undo_commands(),
                vec![format!("echo N > {}", param.display())]
            );
        }
        assert_eq!(std::fs::read_to_string(&param).unwrap(), "N");
        let _ = std::fs::remove_dir_all(root);
    }

    #[test]
    fn a_bad_list_line_is_named() {
        let e = parse_list("rga rockchip_rga\n", Path::new("/etc/x"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/etc/x line 1"), "{e}");
    }
}
