//! The on-target run's report (`fresnel-ontarget run --out DIR`:
//! DIR/report.json): written by the run, read back by `fresnel-ontarget
//! check` and by `fresnel-tools rfc export --tested`, so the three cannot
//! drift apart. docs/interfaces.md ("On-target report") says where it
//! comes from; the fields say what they mean here.

use serde::{Deserialize, Serialize};

/// Bumped when a field changes meaning; `check` refuses other formats.
pub const FORMAT: u32 = 1;

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    /// `pass`, `fail` or `skip`.
    pub status: String,
    pub reason: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct DeviceResult {
    pub name: String,
    pub driver: String,
    /// Empty for hardware.
    pub stands_in_for: Vec<String>,
    /// `path (card, bus_info)` of each node that matched.
    pub nodes: Vec<String>,
    pub checks: Vec<Check>,
    pub verdict: Verdict,
}

/// What the run made of one device.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// No node of its driver matched.
    #[default]
    Absent,
    /// Found, but no suite test drives it yet.
    NotDriven,
    /// Every one of its tests passed.
    Passed,
    /// At least one of its tests failed.
    Failed,
    /// None failed, but not all ran.
    Skipped,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Absent => "absent",
            Verdict::NotDriven => "not-driven",
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Skipped => "skipped",
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct KernelReport {
    pub what: String,
    pub excerpt: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TestedBy {
    pub device: String,
    /// The hardware rows a stand-in's block proves the code for: such a
    /// block is evidence for CI, never for posting.
    pub stands_in_for: Vec<String>,
    /// What the tester ran, one line, for the mail that carries the tag.
    pub summary: String,
    /// `Tested-by: Name <email>`; empty when no --tester was given.
    pub line: String,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Board {
    /// /proc/device-tree/model, or empty.
    pub model: String,
    /// /proc/device-tree/compatible, most specific first.
    pub compatible: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Report {
    pub format: u32,
    pub kernel_release: String,
    pub package: String,
    pub board: Board,
    pub seconds: u64,
    pub devices: Vec<DeviceResult>,
    /// Tests of no table row (vivid, the oracles): the kernel as a whole.
    pub kernel_wide: Vec<Check>,
    pub optins: Vec<Switched>,
    /// The report kinds of `kernel_log` this kernel can produce beyond
    /// those every kernel can: fresnel-ontarget's `CHECKERS` whose file
    /// shows the checker runs (`lockdep`, `kmemleak`, `rcu-stall`,
    /// `hard-lockup`). A clean log says nothing of the others.
    pub kernel_checkers: Vec<String>,
    /// What the kernel logged during the run that fails it; `log-lost`
    /// when records were overwritten before they were read.
    pub kernel_reports: Vec<KernelReport>,
    pub unreadable_nodes: Vec<String>,
    pub tested_by: Vec<TestedBy>,
}

/// What the run did with one opt-in.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Switched {
    pub driver: String,
    pub path: String,
    /// The value found (None: no such parameter: the module is not loaded,
    /// or it lacks the package-only patch; nothing to switch).
    pub before: Option<String>,
    /// Whether it read back `Y` after the switch.
    pub on: bool,
    /// Whether the value found was written back (set when the run ends;
    /// only a switched opt-in is written back).
    pub restored: bool,
}

/// How many of `checks` have `status`.
pub fn count(checks: &[Check], status: &str) -> usize {
    checks.iter().filter(|c| c.status == status).count()
}

impl Report {
    /// The run passed: some device test passed, none failed, no kernel-wide
    /// test failed, the kernel logged no report, every switched opt-in was
    /// put back.
    pub fn passed(&self) -> bool {
        let tested = self.devices.iter().any(|d| count(&d.checks, "pass") > 0);
        tested
            && self.devices.iter().all(|d| d.verdict != Verdict::Failed)
            && count(&self.kernel_wide, "fail") == 0
            && self.kernel_reports.is_empty()
            && self.optins.iter().all(|s| !s.on || s.restored)
    }
}
