//! Parses vm/guests.list: one row per guest, what it boots and how (its
//! header says what each column means). The scripts ask
//! `fresnel-rig guest KIND --get COLUMN` instead of knowing the kinds.

use thiserror::Error;

use crate::stages_list::Guest;

/// The columns after the name, in order.
pub const COLUMNS: [&str; 6] = ["arch", "kernel", "config", "calls", "port", "limit"];

/// One guest's row: its column values, in `COLUMNS` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestRow {
    pub name: String,
    pub values: Vec<String>,
}

impl GuestRow {
    pub fn get(&self, column: &str) -> Option<&str> {
        let i = COLUMNS.iter().position(|c| *c == column)?;
        self.values.get(i).map(String::as_str)
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum GuestsError {
    #[error("line {line}: expected `name {}`, found {found:?}", COLUMNS.join(" "))]
    Columns { line: usize, found: String },
    #[error("line {line}: {name} is not a guest the stage table knows ({known})")]
    Unknown {
        line: usize,
        name: String,
        known: String,
    },
    #[error("line {line}: {name}: {column} {word:?} is not one of {allowed}")]
    Value {
        line: usize,
        name: String,
        column: &'static str,
        word: String,
        allowed: &'static str,
    },
    #[error("line {line}: {name} is listed twice")]
    Duplicate { line: usize, name: String },
    #[error("guest {0} has no row")]
    Missing(String),
}

pub fn parse(text: &str) -> Result<Vec<GuestRow>, GuestsError> {
    let mut rows: Vec<GuestRow> = Vec::new();
    for (line, content) in crate::table::rows(text) {
        let words: Vec<&str> = content.split_whitespace().collect();
        let [name, arch, kernel, config, calls, _port, limit] = words[..] else {
            return Err(GuestsError::Columns {
                line,
                found: content.to_string(),
            });
        };
        let bad = |column, word: &str, allowed| GuestsError::Value {
            line,
            name: name.to_string(),
            column,
            word: word.to_string(),
            allowed,
        };
        if Guest::from_word(name).is_none() {
            return Err(GuestsError::Unknown {
                line,
                name: name.to_string(),
                known: Guest::known(),
            });
        }
        if !matches!(arch, "x86_64" | "arm64") {
            return Err(bad("arch", arch, "x86_64, arm64"));
        }
        if !matches!(kernel, "ci-base" | "series" | "series+canary" | "pkgbuild") {
            return Err(bad(
                "kernel",
                kernel,
                "ci-base, series, series+canary, pkgbuild",
            ));
        }
        if !matches!(config, "debug" | "production" | "package") {
            return Err(bad("config", config, "debug, production, package"));
        }
        if !matches!(calls, "control" | "patched" | "canary") {
            return Err(bad("calls", calls, "control, patched, canary"));
        }
        if limit.parse::<u64>().ok().filter(|&l| l > 0).is_none() {
            return Err(bad("limit", limit, "a number of seconds above 0"));
        }
        if rows.iter().any(|r| r.name == name) {
            return Err(GuestsError::Duplicate {
                line,
                name: name.to_string(),
            });
        }
        rows.push(GuestRow {
            name: name.to_string(),
            values: words[1..].iter().map(|w| w.to_string()).collect(),
        });
    }
    Ok(rows)
}

/// `guest`'s row.
pub fn row(rows: &[GuestRow], guest: &str) -> Result<GuestRow, GuestsError> {
    rows.iter()
        .find(|r| r.name == guest)
        .cloned()
        .ok_or_else(|| GuestsError::Missing(guest.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_table_has_every_guest_of_the_stage_table() {
        let rows = parse(include_str!("../../vm/guests.list")).expect("vm/guests.list parses");
        for g in Guest::all() {
            let r = row(&rows, g.word()).expect("a row");
            assert!(r.get("arch").is_some() && r.get("limit").is_some());
        }
        let p = row(&rows, "package-arm64").expect("package");
        assert_eq!(
            (p.get("arch"), p.get("calls")),
            (Some("arm64"), Some("patched"))
        );
        assert_eq!(
            row(&rows, "control").expect("control").get("kernel"),
            Some("ci-base")
        );
        let prod = row(&rows, "production").expect("production");
        assert_eq!(
            (prod.get("kernel"), prod.get("config"), prod.get("calls")),
            (Some("series"), Some("production"), Some("patched"))
        );
    }

    #[test]
    fn bad_rows_name_their_line() {
        for (text, want) in [
            (
                "control x86_64 ci-base debug control /dev/ttyS1\n",
                "line 1: expected `name",
            ),
            (
                "host x86_64 ci-base debug control /dev/ttyS1 10\n",
                "host is not a guest",
            ),
            (
                "control riscv ci-base debug control /dev/ttyS1 10\n",
                "arch \"riscv\"",
            ),
            (
                "control x86_64 head debug control /dev/ttyS1 10\n",
                "kernel \"head\"",
            ),
            (
                "control x86_64 ci-base debug base /dev/ttyS1 10\n",
                "calls \"base\"",
            ),
            (
                "control x86_64 ci-base fast control /dev/ttyS1 10\n",
                "config \"fast\"",
            ),
            (
                "control x86_64 ci-base debug control /dev/ttyS1 0\n",
                "limit \"0\"",
            ),
            (
                "control x86_64 ci-base debug control /dev/ttyS1 10\n\
                 control x86_64 ci-base debug control /dev/ttyS1 10\n",
                "line 2: control is listed twice",
            ),
        ] {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
        let rows = parse("control x86_64 ci-base debug control /dev/ttyS1 10\n").expect("parses");
        assert!(row(&rows, "canary").is_err());
        assert_eq!(rows[0].get("port"), Some("/dev/ttyS1"));
        assert_eq!(rows[0].get("colour"), None);
    }
}
