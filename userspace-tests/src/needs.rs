//! What a test needs before its body runs: a device, an oracle, a dma-buf
//! exporter, a writable module parameter. A need that is absent (or not
//! permitted for this user) is the only source of a SKIP, and its reason
//! names the command that fixes it; a need that fails otherwise (a node
//! that exists but does not open, bufinfo that does not parse) is a FAIL.

use anyhow::Result;

use crate::access;
use crate::env::Env;
use crate::kms;
use crate::m2m::{open_dma_heap, open_udmabuf, open_vivid_capture, Driver};
use crate::oracle::Unavailable;
use crate::paths::foreign::{SW_SYNC, SW_SYNC_FIX};
use crate::paths::visl::TRANSTIME_PARAM;
use crate::verdict::{is_absent, one_line, Category, Outcome};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Need {
    /// The device node of an m2m driver (visl: and its media device).
    Device(Driver),
    /// vivid's single-planar capture instance (an exporter for vim2m).
    VividCapture,
    /// vivid's multi-planar capture instance (NV12M).
    VividMplane,
    /// debugfs dma_buf/bufinfo, readable and parsing.
    Bufinfo,
    /// The Rust module's /dev/vb2_fence_probe.
    Kmod,
    /// /dev/dma_heap/system.
    DmaHeap,
    /// /dev/udmabuf.
    Udmabuf,
    /// visl's visl_transtime_ms parameter, writable.
    VislTranstime,
    /// sw_sync's debugfs file, to make fences of a foreign timeline.
    SwSync,
    /// A vkms card, the display consumer.
    Vkms,
    /// vim2m as a loaded module that may be unloaded (root).
    Vim2mReloadable,
}

impl Need {
    pub fn check(self, env: &Env) -> Result<()> {
        match self {
            Need::Device(d) => d.open().map(drop),
            Need::VividCapture => open_vivid_capture().map(drop),
            Need::VividMplane => crate::paths::vivid::open_vivid_mplane().map(drop),
            Need::Bufinfo => env.oracles.require_bufinfo(),
            Need::Kmod => env
                .oracles
                .kmod
                .as_ref()
                .map(drop)
                .map_err(Unavailable::to_error),
            Need::DmaHeap => open_dma_heap().map(drop),
            Need::Udmabuf => open_udmabuf().map(drop),
            Need::VislTranstime => access::writable(
                TRANSTIME_PARAM,
                "modprobe visl (a module parameter of visl)",
            ),
            Need::SwSync => access::open_node(SW_SYNC, false, SW_SYNC_FIX).map(drop),
            Need::Vkms => kms::open_vkms().map(drop),
            Need::Vim2mReloadable => crate::paths::module_unload::require_reloadable(),
        }
    }
}

/// The needs, in order: the first absence is a SKIP, the first other
/// failure a FAIL [error]; `None` when all are met.
pub fn unmet(needs: &[Need], env: &Env) -> Option<Outcome> {
    needs.iter().find_map(|n| match n.check(env) {
        Ok(()) => None,
        Err(e) if is_absent(&e) => Some(Outcome::Skip(one_line(&e))),
        Err(e) => Some(Outcome::Fail(Category::Error, one_line(&e))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oracle::Oracles;

    fn env(bufinfo: Result<(), Unavailable>, kmod: Unavailable) -> Env {
        Env {
            oracles: Oracles {
                bufinfo,
                kmod: Err(kmod),
            },
            transtime_ms: 1500,
        }
    }

    /// An absent need is a SKIP with its fix, a broken one a FAIL
    /// [error]; the first unmet need decides.
    #[test]
    fn absent_skips_broken_fails() {
        let root = Unavailable::Absent("no permission on bufinfo: run as root".into());
        let broken = Unavailable::Broken("bufinfo line 5: \"\\tnew\"".into());
        let no_kmod = Unavailable::Absent("modprobe vb2_fence_probe".into());
        let e = env(Err(root), no_kmod.clone());
        assert_eq!(
            unmet(&[Need::Bufinfo, Need::Kmod], &e),
            Some(Outcome::Skip(
                "the bufinfo oracle is required: no permission on bufinfo: run as root".into()
            ))
        );
        let e = env(Ok(()), no_kmod);
        assert_eq!(unmet(&[Need::Bufinfo], &e), None);
        assert_eq!(
            unmet(&[Need::Bufinfo, Need::Kmod], &e),
            Some(Outcome::Skip("modprobe vb2_fence_probe".into()))
        );
        let e = env(Err(broken), Unavailable::Broken("EIO".into()));
        match unmet(&[Need::Bufinfo], &e) {
            Some(Outcome::Fail(Category::Error, why)) => assert!(why.contains("line 5"), "{why}"),
            other => panic!("expected FAIL [error], got {other:?}"),
        }
        assert!(matches!(
            unmet(&[Need::Kmod], &e),
            Some(Outcome::Fail(Category::Error, _))
        ));
    }
}
