//! The device table (devices.txt, embedded): the hardware the series
//! opts in and the virtual drivers standing in for it in CI, and finding
//! each row's node by driver name, never by node number.

use std::path::PathBuf;

use crate::v4l2::{video_nodes, VideoDev};
use anyhow::{bail, Context, Result};

/// devices.txt, as built in.
pub const TABLE: &str = include_str!("../devices.txt");

/// Which of a driver's nodes a row means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// Its mem2mem node.
    M2m,
    /// The mem2mem node whose video device has this name.
    Named(String),
    /// The mem2mem node whose OUTPUT queue offers this format.
    OutputFormat([u8; 4]),
    /// The mem2mem node whose CAPTURE queue offers this format.
    CaptureFormat([u8; 4]),
}

/// One row of devices.txt.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub driver: String,
    pub node: Node,
    /// The suite's test prefix that drives it, if any does.
    pub cases: Option<String>,
    /// The hardware rows a virtual driver stands in for (empty: hardware).
    pub stands_in_for: Vec<String>,
    /// The `[[hardware_optin]]` driver gating its fences.
    pub optin: Option<String>,
}

impl Device {
    pub fn is_stand_in(&self) -> bool {
        !self.stands_in_for.is_empty()
    }
}

fn fourcc(s: &str) -> Result<[u8; 4]> {
    s.as_bytes()
        .try_into()
        .map_err(|_| anyhow::anyhow!("`{s}` is not a fourcc (four characters)"))
}

fn dash(s: &str) -> Option<String> {
    (s != "-").then(|| s.to_string())
}

/// Parses the table; an error names the line.
pub fn parse(text: &str) -> Result<Vec<Device>> {
    let mut rows: Vec<Device> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let at = || format!("devices.txt line {}", i + 1);
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, driver, node, cases, stands, optin] = f[..] else {
            bail!(
                "{}: {} columns, expected 6 (name driver node cases stands-in-for optin)",
                at(),
                f.len()
            );
        };
        let node = match node.split_once('=') {
            None if node == "m2m" => Node::M2m,
            Some(("name", n)) => Node::Named(n.to_string()),
            Some(("out", f)) => Node::OutputFormat(fourcc(f).with_context(at)?),
            Some(("cap", f)) => Node::CaptureFormat(fourcc(f).with_context(at)?),
            _ => bail!("{}: node `{node}` is none of m2m, name=, out=, cap=", at()),
        };
        if rows.iter().any(|r| r.name == name) {
            bail!("{}: a second row named {name}", at());
        }
        // A test counts for the one row its prefix names: two rows sharing
        // one would each earn a Tested-by from the other's tests.
        if cases != "-" && rows.iter().any(|r| r.cases.as_deref() == Some(cases)) {
            bail!("{}: a second row driven by the tests {cases}/", at());
        }
        rows.push(Device {
            name: name.to_string(),
            driver: driver.to_string(),
            node,
            cases: dash(cases),
            stands_in_for: dash(stands)
                .map(|s| s.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
            optin: dash(optin),
        });
    }
    for r in &rows {
        for h in &r.stands_in_for {
            if !rows.iter().any(|x| &x.name == h && !x.is_stand_in()) {
                bail!(
                    "devices.txt: {} stands in for `{h}`, which is no hardware row",
                    r.name
                );
            }
        }
    }
    Ok(rows)
}

/// What a node shows that a row's `node` column can ask about.
#[derive(Clone, Debug, Default)]
pub struct NodeFacts {
    pub path: PathBuf,
    pub driver: String,
    pub card: String,
    pub bus_info: String,
    pub m2m: bool,
    pub name: Option<String>,
    pub out_formats: Vec<[u8; 4]>,
    pub cap_formats: Vec<[u8; 4]>,
}

impl Device {
    pub fn matches(&self, n: &NodeFacts) -> bool {
        n.driver == self.driver
            && n.m2m
            && match &self.node {
                Node::M2m => true,
                Node::Named(want) => n.name.as_deref() == Some(want.as_str()),
                Node::OutputFormat(f) => n.out_formats.contains(f),
                Node::CaptureFormat(f) => n.cap_formats.contains(f),
            }
    }
}

/// Every /dev/video* node this process can open, with its facts; the ones
/// it cannot open are named in the second list.
pub fn survey() -> (Vec<NodeFacts>, Vec<String>) {
    let mut facts = Vec::new();
    let mut unreadable = Vec::new();
    for path in video_nodes() {
        match VideoDev::open(&path) {
            Ok(d) => {
                let (oq, cq) = (d.out_q(), d.cap_q());
                facts.push(NodeFacts {
                    driver: d.driver().to_string(),
                    card: d.cap.card.clone(),
                    bus_info: d.cap.bus_info.clone(),
                    m2m: d.is_m2m(),
                    name: d.node_name(),
                    out_formats: d.formats(oq),
                    cap_formats: d.formats(cq),
                    path,
                });
            }
            Err(e) => unreadable.push(format!("{}: {e}", path.display())),
        }
    }
    (facts, unreadable)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_table_parses_and_every_hardware_row_has_a_stand_in() {
        let rows = parse(TABLE).expect("devices.txt parses");
        for hw in rows.iter().filter(|r| !r.is_stand_in()) {
            assert!(
                rows.iter().any(|r| r.stands_in_for.contains(&hw.name)),
                "{} has no virtual driver standing in for it in CI",
                hw.name
            );
        }
        for r in rows.iter().filter(|r| r.is_stand_in()) {
            assert!(
                r.cases.is_some(),
                "{}: a stand-in that runs no test proves nothing",
                r.name
            );
        }
    }

    #[test]
    fn bad_rows_name_their_line() {
        let e = parse("a b m2m - - -\na b m2m\n").unwrap_err().to_string();
        assert!(e.contains("line 2") && e.contains("3 columns"), "{e}");
        let e = parse("a b out=VP8 - - -\n").unwrap_err();
        assert!(format!("{e:#}").contains("not a fourcc"), "{e:#}");
        let e = parse("a b m2m x - -\nc d m2m x - -\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains("tests x/"), "{e}");
        let e = parse("a b m2m x c -\n").unwrap_err().to_string();
        assert!(e.contains("stands in for `c`"), "{e}");
    }

    fn node(driver: &str, out: &[u8; 4], cap: &[u8; 4], name: &str) -> NodeFacts {
        NodeFacts {
            driver: driver.into(),
            m2m: true,
            name: Some(name.into()),
            out_formats: vec![*out],
            cap_formats: vec![*cap],
            ..NodeFacts::default()
        }
    }

    #[test]
    fn rows_pick_their_node_by_driver_and_formats() {
        let rows = parse(TABLE).unwrap();
        let row = |n: &str| rows.iter().find(|r| r.name == n).unwrap();
        let enc = node("hantro-vpu", b"YU12", b"JPEG", "rockchip,rk3399-vpu-enc");
        let dec = node("hantro-vpu", b"VP8F", b"NV12", "rockchip,rk3399-vpu-dec");
        assert!(row("hantro-jpeg-enc").matches(&enc) && !row("hantro-jpeg-enc").matches(&dec));
        assert!(row("hantro-decoder").matches(&dec) && !row("hantro-decoder").matches(&enc));
        let vdec = node("vicodec", b"FWHT", b"YU12", "stateful-decoder");
        let venc = node("vicodec", b"YU12", b"FWHT", "stateful-encoder");
        assert!(row("vicodec").matches(&venc) && !row("vicodec").matches(&vdec));
        let mut not_m2m = node("vim2m", b"RGB3", b"RGB3", "vim2m");
        assert!(row("vim2m").matches(&not_m2m));
        not_m2m.m2m = false;
        assert!(!row("vim2m").matches(&not_m2m));
    }
}
