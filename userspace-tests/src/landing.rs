//! The landing map's model: for each path, what landed on every buffer it
//! watched (docs/interfaces.md, "Landing map JSON").

use anyhow::Result;

use crate::parse::Usage;

/// What landed on one watched buffer of a path.
#[derive(Clone, Debug, Default)]
pub struct Landing {
    /// Which view of which buffer: "CAPTURE export #0", "OUTPUT export",
    /// "plane 1 export", ...
    pub buffer: String,
    /// Whose reservation: exporter (the V4L2 allocation's) or importer
    /// (the imported dma-buf's).
    pub reservation: String,
    pub usage: String,
    /// driver/timeline while pending, or the fence's context:seqno where
    /// it is only ever seen signalled.
    pub fence: String,
    pub pending_to_signalled_ms: Option<f64>,
}

/// One path of the landing map: a landing per watched buffer.
#[derive(Clone, Debug, Default)]
pub struct LandingRow {
    pub device: String,
    pub path: String,
    pub landings: Vec<Landing>,
    pub error: String,
}

impl LandingRow {
    pub fn new(device: &str, path: &str) -> Self {
        Self {
            device: device.into(),
            path: path.into(),
            ..Default::default()
        }
    }

    /// Run a path that fills in a fresh row; its error, if any, becomes the
    /// row's.
    pub fn record(
        device: &str,
        path: &str,
        f: impl FnOnce(&mut LandingRow) -> Result<()>,
    ) -> (Self, Result<()>) {
        let mut row = Self::new(device, path);
        let r = f(&mut row);
        if let Err(e) = &r {
            row.error = format!("{e:#}");
        }
        (row, r)
    }

    /// Record a landing; returns its index (to fill in the timing later).
    pub fn land(&mut self, buffer: &str, reservation: &str, usage: Usage, fence: String) -> usize {
        self.landings.push(Landing {
            buffer: buffer.into(),
            reservation: reservation.into(),
            usage: usage.name().into(),
            fence,
            pending_to_signalled_ms: None,
        });
        self.landings.len() - 1
    }

    /// Record that nothing was seen on a watched buffer (the oracles'
    /// complaint is the path's error).
    pub fn land_nothing(&mut self, buffer: &str) -> usize {
        self.landings.push(Landing {
            buffer: buffer.into(),
            reservation: "none".into(),
            usage: "-".into(),
            fence: "-".into(),
            pending_to_signalled_ms: None,
        });
        self.landings.len() - 1
    }

    pub fn set_pending_ms(&mut self, i: usize, ms: f64) {
        if let Some(l) = self.landings.get_mut(i) {
            l.pending_to_signalled_ms = Some(ms);
        }
    }
}
