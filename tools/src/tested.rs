//! `rfc export --tested FILE`: the text of the cover letter's `{{tested}}`.
//! A report of the on-target run (`report.json`, whose types
//! `landing_model::ontarget` shares with the run that writes it) becomes
//! one block per device that earned a Tested-by on the hardware; any
//! other file is taken as it is (the rig's summary).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use landing_model::ontarget::{Report, FORMAT};

#[derive(Debug, thiserror::Error)]
pub enum TestedError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} looks like an on-target report but does not parse: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path} is an on-target report of format {got}; this fresnel-tools reads format {FORMAT}: run the export from the checkout that ran it")]
    Format { path: PathBuf, got: u32 },
    #[error("{path} is a CI report: {what} stand(s) in for the hardware there, and a stand-in's Tested-by is not for posting; give the report of a run on the PineBook Pro")]
    StandIn { path: PathBuf, what: String },
    #[error("{path}: no device earned a Tested-by in that run (its report.txt says why), so there is nothing to post")]
    NoneEarned { path: PathBuf },
    #[error("{path}: the run had no --tester, so its blocks carry no Tested-by line; rerun `fresnel-ontarget run --tester 'Name <email>'`")]
    NoTester { path: PathBuf },
}

/// The `{{tested}}` text from FILE.
pub fn text(path: &Path) -> Result<String, TestedError> {
    let raw = std::fs::read_to_string(path).map_err(|source| TestedError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !raw.trim_start().starts_with('{') {
        return Ok(raw);
    }
    let report: Report = serde_json::from_str(&raw).map_err(|source| TestedError::Parse {
        path: path.to_path_buf(),
        source,
    })?;
    from_report(&report, path)
}

fn from_report(r: &Report, path: &Path) -> Result<String, TestedError> {
    let path = path.to_path_buf();
    if r.format != FORMAT {
        return Err(TestedError::Format {
            path,
            got: r.format,
        });
    }
    let stand_ins: Vec<String> = r
        .tested_by
        .iter()
        .filter(|b| !b.stands_in_for.is_empty())
        .map(|b| format!("{} for {}", b.device, b.stands_in_for.join(", ")))
        .collect();
    if !stand_ins.is_empty() {
        return Err(TestedError::StandIn {
            path,
            what: stand_ins.join("; "),
        });
    }
    if r.tested_by.is_empty() {
        return Err(TestedError::NoneEarned { path });
    }
    if r.tested_by.iter().any(|b| b.line.is_empty()) {
        return Err(TestedError::NoTester { path });
    }
    let mut t = format!(
        "Tested on {} ({}) with {}, {}:\n",
        r.board.model,
        r.board.compatible.first().map_or("", String::as_str),
        r.kernel_release,
        r.package
    );
    for b in &r.tested_by {
        let _ = writeln!(t, "  {}\n  {}", b.summary, b.line);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report fresnel-ontarget wrote in an x86_64 guest of the rig,
    /// where vim2m, vicodec and visl stand in for the hardware.
    const GUEST: &str = include_str!("../tests/fixtures/ontarget/guest-report.json");

    fn guest() -> Report {
        serde_json::from_str(GUEST).expect("the guest's report parses")
    }

    #[test]
    fn a_guest_report_is_refused_as_a_stand_in() {
        let e = from_report(&guest(), Path::new("r.json"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("vim2m for rga") && e.contains("not for posting"),
            "{e}"
        );
    }

    /// The same report as the PineBook Pro would write it: the rows are
    /// hardware, the board has a device tree.
    #[test]
    fn a_hardware_report_becomes_the_tested_block() {
        let mut r = guest();
        r.board.model = "Pine64 Pinebook Pro".into();
        r.board.compatible = vec!["pine64,pinebook-pro".into(), "rockchip,rk3399".into()];
        r.tested_by.retain(|b| b.device == "vim2m");
        r.tested_by[0].device = "rga".into();
        r.tested_by[0].stands_in_for.clear();
        r.tested_by[0].summary = "rga (rockchip-rga): 28 of 28 fence tests passed".into();
        let t = from_report(&r, Path::new("r.json")).unwrap();
        assert!(
            t.starts_with("Tested on Pine64 Pinebook Pro (pine64,pinebook-pro) with 7.2.13+"),
            "{t}"
        );
        assert!(
            t.contains("  Tested-by: Rig Check <rig-check@fresnel-fourier.dev>\n"),
            "{t}"
        );
        r.tested_by[0].line.clear();
        assert!(matches!(
            from_report(&r, Path::new("r")),
            Err(TestedError::NoTester { .. })
        ));
        r.tested_by.clear();
        assert!(matches!(
            from_report(&r, Path::new("r")),
            Err(TestedError::NoneEarned { .. })
        ));
        r.format = 9;
        assert!(matches!(
            from_report(&r, Path::new("r")),
            Err(TestedError::Format { got: 9, .. })
        ));
    }

    #[test]
    fn other_files_are_taken_as_text() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("summary.txt");
        std::fs::write(&p, "rig: 387 checks passed\n").unwrap();
        assert_eq!(text(&p).unwrap(), "rig: 387 checks passed\n");
    }
}
