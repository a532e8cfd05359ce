//! The landing map as the suite fills and prints it: for each path, what
//! landed on every buffer it watched. The rows are `landing_model`'s, the
//! types fresnel-rig reads back from the JSON (docs/interfaces.md,
//! "Landing map JSON").

use anyhow::{Context, Result};

pub use landing_model::{Landing, LandingRow};

/// Run a path that fills in a fresh row; its error, if any, becomes the
/// row's.
pub fn record(
    device: &str,
    path: &str,
    f: impl FnOnce(&mut LandingRow) -> Result<()>,
) -> (LandingRow, Result<()>) {
    let mut row = LandingRow::new(device, path);
    let r = f(&mut row);
    if let Err(e) = &r {
        row.error = format!("{e:#}");
    }
    (row, r)
}

/// `landing-map --json`: one array, a row per line (so that a console
/// that interleaves other output still breaks it only between rows).
pub fn to_json(rows: &[LandingRow]) -> Result<String> {
    let items = rows
        .iter()
        .map(serde_json::to_string)
        .collect::<Result<Vec<_>, _>>()
        .context("landing map to JSON")?;
    Ok(format!("[{}]", items.join(",\n ")))
}

/// `landing-map`: a line per landing; a path where nothing landed gets one
/// line of "-".
pub fn table(rows: &[LandingRow]) -> String {
    let mut out = format!(
        "{:<8} {:<24} {:<28} {:<9} {:<6} {:<30} {:>9}  error\n",
        "device", "path", "buffer", "resv", "usage", "fence", "pend->sig"
    );
    let dash = |s: &str| if s.is_empty() { "-" } else { s }.to_string();
    for r in rows {
        let error = if r.error.is_empty() { "-" } else { &r.error };
        let none = [Landing::default()];
        let landings: &[Landing] = if r.landings.is_empty() {
            &none
        } else {
            &r.landings
        };
        for (i, l) in landings.iter().enumerate() {
            let ms = l
                .pending_to_signalled_ms
                .map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
            out.push_str(&format!(
                "{:<8} {:<24} {:<28} {:<9} {:<6} {:<30} {:>9}  {}\n",
                r.device,
                r.path,
                dash(&l.buffer),
                dash(&l.reservation),
                dash(&l.usage),
                dash(&l.fence),
                ms,
                if i == 0 { error } else { "\"" }
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A map with what a run can hold: timings, nothing seen, an error
    /// with characters JSON escapes, a skipped device.
    fn fixture() -> Vec<LandingRow> {
        let mut a = LandingRow::new("vim2m", "capture_write_usage");
        let i = a.land("CAPTURE export #0", "exporter", "write", "vb2/cap-1".into());
        a.set_pending_ms(i, 1532.21875);
        a.land("OUTPUT export", "exporter", "read", "vb2/out-1".into());
        let mut b = LandingRow::new("vicodec", "expbuf_before_qbuf");
        b.land_nothing("CAPTURE export #0");
        b.error = "CAPTURE export #0 after the job: bufinfo: \"quoted\" back\\slash\nnew \
                   line\ttab \u{1} é"
            .into();
        let c = LandingRow::skipped("visl", "no /dev/video* nodes");
        let mut d = LandingRow::new("vivid", "mmap_planes");
        let fence = "7:1 (signalled within the tick)";
        let i = d.land("plane 0 export", "exporter", "write", fence.into());
        d.set_pending_ms(i, 2.0);
        let i = d.land("plane 1 export", "exporter", "write", fence.into());
        d.set_pending_ms(i, 0.0004);
        vec![a, b, c, d]
    }

    /// The JSON the hand-written printer made for the fixture, with the
    /// differences serde brings and that mean the same: escapes of
    /// control characters (`\n` for `\u000a`) and the shortest number
    /// (`2.0` for `2.000`).
    const FIXTURE_JSON: &str = r#"[{"device":"vim2m","path":"capture_write_usage","landings":[{"buffer":"CAPTURE export #0","reservation":"exporter","usage":"write","fence":"vb2/cap-1","pending_to_signalled_ms":1532.219},{"buffer":"OUTPUT export","reservation":"exporter","usage":"read","fence":"vb2/out-1","pending_to_signalled_ms":null}],"error":""},
 {"device":"vicodec","path":"expbuf_before_qbuf","landings":[{"buffer":"CAPTURE export #0","reservation":"none","usage":"-","fence":"-","pending_to_signalled_ms":null}],"error":"CAPTURE export #0 after the job: bufinfo: \"quoted\" back\\slash\nnew line\ttab \u0001 é"},
 {"device":"visl","path":"*","landings":[],"error":"skipped: no /dev/video* nodes"},
 {"device":"vivid","path":"mmap_planes","landings":[{"buffer":"plane 0 export","reservation":"exporter","usage":"write","fence":"7:1 (signalled within the tick)","pending_to_signalled_ms":2.0},{"buffer":"plane 1 export","reservation":"exporter","usage":"write","fence":"7:1 (signalled within the tick)","pending_to_signalled_ms":0.0}],"error":""}]"#;

    #[test]
    fn json_as_documented() {
        let json = to_json(&fixture()).expect("serialises");
        assert_eq!(json, FIXTURE_JSON);
        // What the rig reads back is the map, timings to the microsecond.
        let back: Vec<LandingRow> = serde_json::from_str(&json).expect("parses");
        let mut want = fixture();
        want[0].landings[0].pending_to_signalled_ms = Some(1532.219);
        want[3].landings[1].pending_to_signalled_ms = Some(0.0);
        assert_eq!(back, want);
    }

    #[test]
    fn table_as_before() {
        let want = "\
device   path                     buffer                       resv      usage  fence                          pend->sig  error
vim2m    capture_write_usage      CAPTURE export #0            exporter  write  vb2/cap-1                         1532.2  -
vim2m    capture_write_usage      OUTPUT export                exporter  read   vb2/out-1                              -  \"
vicodec  expbuf_before_qbuf       CAPTURE export #0            none      -      -                                      -  CAPTURE export #0 after the job: bufinfo: \"quoted\" back\\slash
new line\ttab \u{1} é
visl     *                        -                            -         -      -                                      -  skipped: no /dev/video* nodes
vivid    mmap_planes              plane 0 export               exporter  write  7:1 (signalled within the tick)       2.0  -
vivid    mmap_planes              plane 1 export               exporter  write  7:1 (signalled within the tick)       0.0  \"
";
        assert_eq!(table(&fixture()), want);
    }
}
