//! Userspace suite for linux-fresnel-fourier: where do videobuf2 producer
//! fences land, seen through three oracles.
//!
//! Layers, each using only the ones below it:
//! * `cases`, the table of tests (what each needs: `needs`), run by
//!   `runner`, which forks a child per test and knows nothing of V4L2;
//! * the paths that drive devices: `plans`, `paths`, `visl_pending`,
//!   `vivid`, `vicodec_error`, and the readback references;
//! * `oracle`, `v4l2`, `access`; then `parse`, `sys`;
//! * `verdict` (what a failure means), used by all of them.
//!
//! `sys` is the only module with `unsafe` code; the crate denies it elsewhere.

#![deny(unsafe_code)]

pub mod access;
pub mod cases;
pub mod env;
pub mod frames;
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
pub mod v4l2;
pub mod verdict;
