//! Parses v4l2-compliance output: per device the totals line and the names
//! of the tests that failed, so that the patched kernel's result can be
//! compared with the control's test by test.

use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeviceResult {
    /// e.g. "vim2m device /dev/video0"
    pub device: String,
    pub total: u32,
    pub succeeded: u32,
    pub failed: u32,
    pub warnings: u32,
    pub failed_tests: BTreeSet<String>,
}

/// Parse one or more v4l2-compliance runs (one per device node).
pub fn parse(text: &str) -> Vec<DeviceResult> {
    let mut out = Vec::new();
    let mut failed_tests = BTreeSet::new();
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r').trim();
        if let Some(name) = line
            .strip_prefix("test ")
            .and_then(|r| r.strip_suffix(": FAIL"))
        {
            failed_tests.insert(name.to_string());
        } else if let Some(rest) = line.strip_prefix("Total for ") {
            // "Total for vim2m device /dev/video0: 60, Succeeded: 58, Failed: 2, Warnings: 0"
            let Some((device, counts)) = rest.split_once(": ") else {
                continue;
            };
            let mut r = DeviceResult {
                device: device.to_string(),
                failed_tests: std::mem::take(&mut failed_tests),
                ..Default::default()
            };
            for (i, part) in counts.split(", ").enumerate() {
                let value = part
                    .rsplit(' ')
                    .next()
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                match (i, part.split(':').next()) {
                    (0, _) => r.total = value,
                    (_, Some("Succeeded")) => r.succeeded = value,
                    (_, Some("Failed")) => r.failed = value,
                    (_, Some("Warnings")) => r.warnings = value,
                    _ => {}
                }
            }
            out.push(r);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_and_failed_tests() {
        let text = "\ttest VIDIOC_QUERYCAP: OK\n\ttest Requests: FAIL\n\ttest blocking wait: FAIL\nTotal for vim2m device /dev/video0: 60, Succeeded: 58, Failed: 2, Warnings: 0\n";
        let r = parse(text);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].device, "vim2m device /dev/video0");
        assert_eq!(
            (r[0].total, r[0].succeeded, r[0].failed, r[0].warnings),
            (60, 58, 2, 0)
        );
        assert_eq!(
            r[0].failed_tests
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
            vec!["Requests", "blocking wait"]
        );
    }
}
