//! The landing map's model: one row per path the suite drives, one landing
//! per buffer the path watched. `landing-map --json` (userspace-tests)
//! serialises these types and `fresnel-rig landing-map` deserialises the
//! same ones, so the two sides cannot drift apart; docs/interfaces.md
//! ("Landing map JSON") says what each field means. `kernel_log` is the
//! other text both read: the kernel reports (WARN, BUG, lockdep, ...) that
//! fail a run, found by the rig in a guest's log and by the on-target run
//! in the laptop's.

use serde::{Deserialize, Serialize, Serializer};

pub mod bench;
pub mod kernel_log;
pub mod ontarget;

/// The `reservation` of a watched buffer on which nothing was seen.
pub const NOTHING: &str = "none";
/// How the `error` of a device's skipped row starts.
pub const SKIPPED: &str = "skipped:";

/// One path of the landing map.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LandingRow {
    pub device: String,
    /// The test name after `<device>/`; `*` in a skipped device's row.
    pub path: String,
    /// One per buffer the path watched, in the order it looked at them.
    pub landings: Vec<Landing>,
    /// Empty when the path's checks passed.
    pub error: String,
}

/// What landed on one watched buffer.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Landing {
    /// Which view of which buffer: "CAPTURE export #0", "OUTPUT export",
    /// "plane 1 export", ...
    pub buffer: String,
    /// Whose reservation: `exporter` (the V4L2 allocation's), `importer`
    /// (an imported dma-buf's), or `none` when nothing was seen.
    pub reservation: String,
    /// `write`, `read`, ...; `-` when nothing was seen.
    pub usage: String,
    /// The pending fence's driver/timeline, or `context:seqno (signalled
    /// within ...)` where it is only ever seen signalled; `-` when nothing
    /// was seen.
    pub fence: String,
    /// Written to the microsecond.
    #[serde(serialize_with = "to_microseconds")]
    pub pending_to_signalled_ms: Option<f64>,
}

fn to_microseconds<S: Serializer>(ms: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    match ms {
        Some(v) => s.serialize_some(&((v * 1000.0).round() / 1000.0)),
        None => s.serialize_none(),
    }
}

impl Landing {
    /// Whether nothing was seen on the buffer.
    pub fn is_nothing(&self) -> bool {
        self.reservation == NOTHING
    }
}

impl LandingRow {
    pub fn new(device: &str, path: &str) -> Self {
        Self {
            device: device.into(),
            path: path.into(),
            ..Default::default()
        }
    }

    /// The row of a device whose paths did not run, and why.
    pub fn skipped(device: &str, why: &str) -> Self {
        Self {
            error: format!("{SKIPPED} {why}"),
            ..Self::new(device, "*")
        }
    }

    pub fn is_skipped(&self) -> bool {
        self.error.starts_with(SKIPPED)
    }

    /// Record a landing; returns its index (to add the timing later).
    pub fn land(&mut self, buffer: &str, reservation: &str, usage: &str, fence: String) -> usize {
        self.landings.push(Landing {
            buffer: buffer.into(),
            reservation: reservation.into(),
            usage: usage.into(),
            fence,
            pending_to_signalled_ms: None,
        });
        self.landings.len() - 1
    }

    /// Record that nothing was seen on a watched buffer (the path's error
    /// says what the oracles found instead).
    pub fn land_nothing(&mut self, buffer: &str) -> usize {
        self.land(buffer, NOTHING, "-", "-".into())
    }

    pub fn set_pending_ms(&mut self, i: usize, ms: f64) {
        if let Some(l) = self.landings.get_mut(i) {
            l.pending_to_signalled_ms = Some(ms);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_and_skipped() {
        let mut r = LandingRow::new("vim2m", "capture_write_usage");
        let i = r.land_nothing("CAPTURE export #0");
        assert!(r.landings[i].is_nothing());
        let i = r.land("OUTPUT export", "exporter", "read", "vb2/out-1".into());
        assert!(!r.landings[i].is_nothing());
        r.set_pending_ms(i, 2.5);
        assert_eq!(r.landings[i].pending_to_signalled_ms, Some(2.5));
        assert!(!r.is_skipped());
        let s = LandingRow::skipped("visl", "modprobe visl");
        assert_eq!(
            (s.path.as_str(), s.error.as_str()),
            ("*", "skipped: modprobe visl")
        );
        assert!(s.is_skipped() && s.landings.is_empty());
    }
}

/// `landing-map watch --json`: what landed on a real client's buffers
/// while it ran (docs/interfaces.md, "Watch report JSON").
pub mod watch {
    use serde::{Deserialize, Serialize};

    /// The oracle name of the fallback where rust-kmod is absent: poll()
    /// and sync_file looks at the dma-bufs the watched processes hold.
    pub const SAMPLING_ORACLE: &str = "poll+sync_file";

    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct WatchReport {
        /// `kmod` (rust-kmod's record ring) or `poll+sync_file` (the
        /// fallback: sampling the dma-bufs the watched processes hold).
        pub oracle: String,
        /// Why the kmod could not be used, and what was done instead.
        pub oracle_note: String,
        /// The sampling oracle was asked for (`--oracle sampling`), not
        /// fallen back to.
        #[serde(default)]
        pub forced_oracle: bool,
        /// The watched command (empty for `--seconds`).
        pub command: Vec<String>,
        /// Its exit status (`None`: no command, or killed by a signal).
        pub command_status: Option<i32>,
        /// The exit statuses of the earlier runs of the command that
        /// failed (`--attempts`), oldest first; this report is the last
        /// run's.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        pub failed_attempts: Vec<Option<i32>>,
        pub seconds: f64,
        /// The V4L2 nodes the watched processes held (`/dev/videoN name`).
        pub devices: Vec<String>,
        /// Fences armed (jobs) during the watch; 0 means "nothing armed".
        /// With the sampling oracle: the vb2 fences seen pending (per
        /// dma-buf and timeline), a lower bound.
        pub armed: usize,
        /// Records the ring dropped (oldest first).
        pub dropped: u64,
        pub queues: Vec<WatchQueue>,
        pub anomalies: Vec<Anomaly>,
    }

    /// How a run of the command ended, as the reports say it.
    pub fn exit_text(status: Option<i32>) -> String {
        status.map_or_else(|| "by a signal".to_string(), |c| format!("with {c}"))
    }

    impl WatchReport {
        /// `after N failed run(s) (exited with 1, ...)`, when the command
        /// was run again (`--attempts`).
        pub fn failed_runs_text(&self) -> Option<String> {
            (!self.failed_attempts.is_empty()).then(|| {
                let how: Vec<String> = self
                    .failed_attempts
                    .iter()
                    .map(|s| format!("exited {}", exit_text(*s)))
                    .collect();
                format!(
                    "after {} failed run(s) ({})",
                    self.failed_attempts.len(),
                    how.join(", ")
                )
            })
        }
    }

    /// One vb2 queue (its name is `cap-<ptr>`/`out-<ptr>` unless the
    /// driver names it).
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct WatchQueue {
        pub queue: String,
        /// The numeric V4L2 buffer type and its name.
        pub buf_type: String,
        pub buffers: Vec<WatchBuffer>,
    }

    /// One buffer (index) of a queue and its jobs.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct WatchBuffer {
        pub index: u32,
        /// Fences armed for it (one per job).
        pub jobs: usize,
        /// DQBUFs of it seen (rust-kmod's `dqbuf` records).
        #[serde(default)]
        pub dequeued: usize,
        pub reservations: Vec<WatchResv>,
        pub arm_to_signal_p50_ms: Option<f64>,
        pub arm_to_signal_max_ms: Option<f64>,
        /// Jobs signalled with a non-zero error, as `error=N xCOUNT`.
        pub errors: Vec<String>,
        /// Skip reasons, as `reason xCOUNT`.
        pub skips: Vec<String>,
    }

    /// One reservation a buffer's fences were added to.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct WatchResv {
        pub plane: u32,
        /// The dma-buf inode (0: an MMAP plane never exported).
        pub ino: u64,
        /// `never-exported`, `v4l2-export` (a videobuf2 allocation's
        /// dma-buf), `import` (a dma-buf another exporter made), or
        /// `dma-buf` (not seen in bufinfo or any process's fds).
        pub kind: String,
        /// The dma-buf's exporter (bufinfo / fdinfo `exp_name`), if seen.
        pub exporter: String,
        pub usage: String,
        pub jobs: usize,
        /// `comm[pid]` of the processes seen holding it.
        pub holders: Vec<String>,
    }

    /// Something that must not happen, with its evidence.
    #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
    pub struct Anomaly {
        /// `pending-at-end`, `pending-too-long`, `dequeued-before-signalled`,
        /// `arm-skipped`, `held-dma-buf-without-fence`.
        pub kind: String,
        pub evidence: String,
    }
}
