//! The landing maps of the control and the patched kernel, side by side:
//! the guests print `landing-map --json` (userspace-tests), one line per
//! watched buffer of each path here, with what each kernel put on it. The
//! rows are read into the types the suite wrote them from
//! (`landing_model`).

use anyhow::{Context, Result};
use landing_model::{Landing, LandingRow};

/// Parse the landing-map stage's output: the JSON array, ignoring anything
/// the guest printed around it (stderr shares the port).
pub fn parse(output: &str) -> Result<Vec<LandingRow>> {
    let start = output
        .find("\n[")
        .map(|i| i + 1)
        .or_else(|| output.starts_with('[').then_some(0))
        .context("no JSON array (a line starting with '[') in the landing-map output")?;
    let end = output
        .rfind(']')
        .filter(|&e| e > start)
        .context("the landing-map JSON array is not closed")?;
    serde_json::from_str(&output[start..=end]).context("landing-map JSON does not parse")
}

/// What is wrong with a landing map on the patched kernel (suite review
/// V5): every path of a device that was there must have found a fence on
/// every buffer it watched, and ended without an error. The control
/// kernel's map is shown, not judged here (the cases stage judges what it
/// must fail).
pub fn patched_problems(rows: &[LandingRow]) -> Vec<String> {
    rows.iter()
        .filter(|r| !r.is_skipped())
        .filter_map(|r| {
            let nothing: Vec<&str> = r
                .landings
                .iter()
                .filter(|l| l.is_nothing())
                .map(|l| l.buffer.as_str())
                .collect();
            let what = if !r.error.is_empty() {
                format!("error: {}", r.error)
            } else if r.landings.is_empty() {
                "watched no buffer".to_string()
            } else if !nothing.is_empty() {
                format!("no fence on {}", nothing.join(", "))
            } else {
                return None;
            };
            Some(format!("{}/{}: {what}", r.device, r.path))
        })
        .collect()
}

/// The cell of one kernel for one buffer.
fn cell(l: &Landing) -> String {
    if l.is_nothing() {
        return "nothing".into();
    }
    let ms = l
        .pending_to_signalled_ms
        .map(|v| format!(" {v:.0} ms"))
        .unwrap_or_default();
    format!("{} {} {}{ms}", l.reservation, l.usage, l.fence)
}

/// (device, path, buffer) → cell, in first-seen order.
fn cells(rows: &[LandingRow]) -> Vec<((String, String, String), String)> {
    let mut out = Vec::new();
    for r in rows {
        if r.landings.is_empty() {
            let what = if r.error.is_empty() {
                "nothing watched".to_string()
            } else {
                r.error.chars().take(40).collect()
            };
            out.push(((r.device.clone(), r.path.clone(), "*".into()), what));
        }
        for l in &r.landings {
            out.push((
                (r.device.clone(), r.path.clone(), l.buffer.clone()),
                cell(l),
            ));
        }
    }
    out
}

/// The two maps as one table (keys in the patched map's order, then any
/// only the control has), then each kernel's path errors.
pub fn side_by_side(control: Option<&[LandingRow]>, patched: Option<&[LandingRow]>) -> String {
    let c = cells(control.unwrap_or_default());
    let p = cells(patched.unwrap_or_default());
    let mut keys: Vec<&(String, String, String)> = p.iter().map(|(k, _)| k).collect();
    for (k, _) in &c {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    let look = |v: &[((String, String, String), String)], k: &(String, String, String)| {
        v.iter()
            .find(|(key, _)| key == k)
            .map_or_else(|| "-".to_string(), |(_, cell)| cell.clone())
    };
    let mut out = format!(
        "{:<8} {:<24} {:<30} {:<20} {}\n",
        "device", "path", "buffer", "control", "patched"
    );
    for k in keys {
        out.push_str(&format!(
            "{:<8} {:<24} {:<30} {:<20} {}\n",
            k.0,
            k.1,
            k.2,
            look(&c, k),
            look(&p, k)
        ));
    }
    for (kind, rows) in [("control", control), ("patched", patched)] {
        let errors: Vec<String> = rows
            .unwrap_or_default()
            .iter()
            // Skipped devices already say so in the table.
            .filter(|r| !r.error.is_empty() && !r.is_skipped())
            .map(|r| {
                let e: String = r.error.chars().take(140).collect();
                format!("  {}/{}: {e}", r.device, r.path)
            })
            .collect();
        if !errors.is_empty() {
            out.push_str(&format!("path errors, {kind} kernel:\n"));
            for e in errors {
                out.push_str(&e);
                out.push('\n');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATCHED: &str = "stderr noise\n[{\"device\":\"vim2m\",\"path\":\"capture_write_usage\",\"landings\":[\
{\"buffer\":\"CAPTURE export #0\",\"reservation\":\"exporter\",\"usage\":\"write\",\"fence\":\"vb2/cap-1\",\"pending_to_signalled_ms\":1532.2},\
{\"buffer\":\"OUTPUT export\",\"reservation\":\"exporter\",\"usage\":\"read\",\"fence\":\"vb2/out-1\",\"pending_to_signalled_ms\":null}],\"error\":\"\"},\n \
{\"device\":\"rga\",\"path\":\"*\",\"landings\":[],\"error\":\"skipped: no rga\"}]\n";

    const CONTROL: &str = "[{\"device\":\"vim2m\",\"path\":\"capture_write_usage\",\"landings\":[\
{\"buffer\":\"CAPTURE export #0\",\"reservation\":\"none\",\"usage\":\"-\",\"fence\":\"-\",\"pending_to_signalled_ms\":null}],\
\"error\":\"CAPTURE export #0 while the job runs: poll says idle\"}]";

    #[test]
    fn patched_map_needs_a_fence_on_every_buffer() {
        let p = parse(PATCHED).expect("patched");
        assert!(
            patched_problems(&p).is_empty(),
            "{:?}",
            patched_problems(&p)
        );
        let c = parse(CONTROL).expect("control");
        assert_eq!(
            patched_problems(&c),
            ["vim2m/capture_write_usage: error: CAPTURE export #0 while the job runs: poll says idle"]
        );
        let mut quiet = c.clone();
        quiet[0].error.clear();
        assert_eq!(
            patched_problems(&quiet),
            ["vim2m/capture_write_usage: no fence on CAPTURE export #0"]
        );
        quiet[0].landings.clear();
        assert_eq!(
            patched_problems(&quiet),
            ["vim2m/capture_write_usage: watched no buffer"]
        );
    }

    #[test]
    fn parses_around_noise() {
        let p = parse(PATCHED).expect("parses");
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].landings[1].usage, "read");
        assert_eq!(p[0].landings[0].pending_to_signalled_ms, Some(1532.2));
        assert!(parse("no map here\n").is_err());
        assert!(parse("[{\"device\":1}]").is_err());
    }

    #[test]
    fn joins_by_buffer() {
        let p = parse(PATCHED).expect("patched");
        let c = parse(CONTROL).expect("control");
        let t = side_by_side(Some(&c), Some(&p));
        let lines: Vec<&str> = t.lines().collect();
        let cap = lines
            .iter()
            .find(|l| l.contains("CAPTURE export #0"))
            .expect("capture line");
        assert!(cap.contains("nothing") && cap.contains("exporter write vb2/cap-1 1532 ms"));
        let out = lines
            .iter()
            .find(|l| l.contains("OUTPUT export"))
            .expect("output line");
        // The control watched no OUTPUT buffer: "-" in its column.
        assert!(out.contains(" - ") && out.contains("exporter read vb2/out-1"));
        assert!(t.contains("skipped: no rga"));
        assert!(t.contains("path errors, control kernel:\n  vim2m/capture_write_usage: CAPTURE"));
        assert!(!t.contains("path errors, patched"));
    }
}
