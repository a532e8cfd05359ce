//! Userspace suite for linux-fresnel-fourier: where do videobuf2 producer
//! fences land, seen through three oracles.
//!
//! The modules, by floor, top down; each names only modules on lower
//! floors (the `layers` unit test checks it):
//!
//! 9. `cases`: the case table (every test, its needs, its body, what the
//!    control kernel must show) and the suite's `main`.
//! 8. `needs`: prerequisites, the only source of a SKIP. `runner`: runs
//!    the tests it is handed, each in a child under a watchdog; knows
//!    nothing of V4L2.
//! 7. `bench`: `fence-bench`'s measurements (throughput, per-job cost,
//!    wake latency, soak). `paths`: the test bodies (`pending`, `in_ioctl`, `idle`,
//!    `readback`, `visl`, `vivid`, `vicodec_error`,
//!    `source_change`, ...).
//! 6. `m2m`: the m2m fixture (`M2mRun`). `observe`: the one loop that
//!    looks at every watched buffer and records its landing.
//!    `readback_dev`: the readbacks' device halves.
//! 5. `env`: what every test is handed. `landing`: the landing map's rows.
//!    `devices`: the device table (devices.txt), nodes found by driver.
//!    `frames`, `readback_ref`: generated frames and references.
//! 4. `oracle`: the three oracles and their checks. `v4l2`: V4L2 through
//!    v4l2r.
//! 3. `access`: opening a node (absent, not permitted, broken).
//!    `sysfs_bind`: unbinding a node's device from its driver. `watch`:
//!    `landing-map watch`'s folding of the kmod records and its anomaly
//!    rules (pure). `kms`: a display consumer on vkms (the `drm` crate).
//! 2. `parse`: bufinfo and kmod text. `sys`: the raw kernel interfaces.
//! 1. `verdict`: a test's outcome and what a failure means.
//!
//! The binaries (`fence-suite`, `landing-map`, `fence-bench`,
//! `fresnel-ontarget`) and `tests/suite.rs` stand on top; the suite, the
//! landing map and the on-target run reach the table through `cases`, the
//! benchmark its measurements through `bench`. `sys` is the only module
//! with `unsafe` code; the crate denies it elsewhere.

#![deny(unsafe_code)]

pub mod access;
pub mod bench;
pub mod cases;
pub mod devices;
pub mod env;
pub mod frames;
pub mod kms;
pub mod landing;
pub mod m2m;
pub mod needs;
pub mod observe;
pub mod oracle;
pub mod parse;
pub mod paths;
pub mod readback_dev;
pub mod readback_ref;
pub mod runner;
#[allow(unsafe_code)]
pub mod sys;
pub mod sysfs_bind;
pub mod v4l2;
pub mod verdict;
pub mod watch;

#[cfg(test)]
mod layers;
