//! Tools that keep the linux-fresnel-fourier series, its manifest, the
//! Arch Linux ARM PKGBUILD and the upstream RFC posting consistent.
//!
//! Every check reports problems as [`diag::Diagnostic`]s (file, line,
//! message) so that a user gets one actionable line per problem instead of
//! the first error only.

pub mod apply;
pub mod diag;
pub mod diff;
pub mod hardware_optin;
pub mod kconfig;
pub mod manifest;
pub mod mbox;
pub mod package_contents;
pub mod pkgbuild;
pub mod rfc;
pub mod tested;
