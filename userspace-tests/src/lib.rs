//! Userspace suite for linux-fresnel-fourier: where do videobuf2 producer
//! fences land, seen through three independent oracles.

pub mod harness;
pub mod oracle;
pub mod parse;
pub mod paths;
pub mod plans;
pub mod sys;
pub mod v4l2;
pub mod visl_pending;
pub mod vivid;
