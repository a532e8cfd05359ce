//! A display consumer on vkms, through the `drm` crate: a CAPTURE buffer's
//! export PRIME-imported into a framebuffer, committed to the primary plane
//! with one atomic commit, and what vkms composed captured on its writeback
//! connector. KMS waits in `prepare_fb` for the WRITE fences on an imported
//! buffer's reservation, as a compositor's scanout does: this is the
//! consumer the series publishes for.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use drm::buffer::{DrmFourcc, DrmModifier, Handle as BufferHandle, PlanarBuffer};
use drm::control::atomic::AtomicModeReq;
use drm::control::dumbbuffer::DumbBuffer;
use drm::control::{
    connector, crtc, framebuffer, plane, property, AtomicCommitFlags, Device as ControlDevice,
    FbCmd2Flags, Mode,
};
use drm::{ClientCapability, Device as DrmDevice};
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::sys::KernelFdSlot;
use crate::verdict::absent;

/// What makes the card appear.
pub const VKMS_FIX: &str = "modprobe vkms (a kernel with CONFIG_DRM_VKMS)";

/// The DRM driver name vkms reports.
const VKMS: &str = "vkms";

/// An open DRM card.
pub struct Card(File);

impl AsFd for Card {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl DrmDevice for Card {}
impl ControlDevice for Card {}

/// The first /dev/dri/card* whose driver is vkms; absent (a SKIP where it
/// is a need) when there is none.
pub fn open_vkms() -> Result<Card> {
    let mut seen = Vec::new();
    for n in 0..16 {
        let path = format!("/dev/dri/card{n}");
        let file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            // Another GPU's card, not ours to open: look further.
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                seen.push(format!("{path} (not permitted)"));
                continue;
            }
            Err(e) => return Err(e).with_context(|| format!("open {path}")),
        };
        let card = Card(file);
        let driver = card
            .get_driver()
            .with_context(|| format!("DRM_IOCTL_VERSION on {path}"))?;
        let name = driver.name().to_string_lossy().into_owned();
        if name == VKMS {
            return Ok(card);
        }
        seen.push(format!("{path} ({name})"));
    }
    Err(absent(format!(
        "no vkms card under /dev/dri (found: {}): {VKMS_FIX}",
        if seen.is_empty() {
            "none".to_string()
        } else {
            seen.join(", ")
        }
    )))
}

/// A PRIME-imported single-plane buffer, as a framebuffer sees it.
struct Imported {
    handle: BufferHandle,
    size: (u32, u32),
    format: DrmFourcc,
    pitch: u32,
}

impl PlanarBuffer for Imported {
    fn size(&self) -> (u32, u32) {
        self.size
    }
    fn format(&self) -> DrmFourcc {
        self.format
    }
    fn modifier(&self) -> Option<DrmModifier> {
        None
    }
    fn pitches(&self) -> [u32; 4] {
        [self.pitch, 0, 0, 0]
    }
    fn handles(&self) -> [Option<BufferHandle>; 4] {
        [Some(self.handle), None, None, None]
    }
    fn offsets(&self) -> [u32; 4] {
        [0; 4]
    }
}

/// The property handles of one KMS object, by name.
struct Props(HashMap<String, property::Handle>);

impl Props {
    fn of<H: drm::control::ResourceHandle>(card: &Card, h: H, what: &str) -> Result<Self> {
        let set = card
            .get_properties(h)
            .with_context(|| format!("properties of the {what}"))?;
        let map = set
            .as_hashmap(card)
            .with_context(|| format!("property names of the {what}"))?;
        Ok(Props(
            map.into_iter().map(|(k, v)| (k, v.handle())).collect(),
        ))
    }

    fn get(&self, name: &str) -> Result<property::Handle> {
        self.0
            .get(name)
            .copied()
            .ok_or_else(|| anyhow!("the KMS object has no {name} property"))
    }

    /// Add `name` = `value` of the object `h` these are the properties of.
    fn set<H: drm::control::ResourceHandle>(
        &self,
        req: &mut AtomicModeReq,
        h: H,
        name: &str,
        value: property::Value,
    ) -> Result<()> {
        req.add_property(h, self.get(name)?, value);
        Ok(())
    }
}

/// One CRTC fed by the primary plane and read back by the writeback
/// connector.
pub struct Pipeline {
    crtc: crtc::Handle,
    plane: plane::Handle,
    writeback: connector::Handle,
    mode: Mode,
    crtc_props: Props,
    plane_props: Props,
    wb_props: Props,
}

/// The `type` property's value of a primary plane (DRM_PLANE_TYPE_PRIMARY).
const PLANE_TYPE_PRIMARY: u64 = 1;

impl Pipeline {
    /// Atomic modesetting with writeback connectors on `card`, and the
    /// first writeback connector's CRTC, its primary plane and the
    /// smallest mode it offers.
    pub fn discover(card: &Card) -> Result<Self> {
        for cap in [
            ClientCapability::UniversalPlanes,
            ClientCapability::Atomic,
            ClientCapability::WritebackConnectors,
        ] {
            card.set_client_capability(cap, true)
                .with_context(|| format!("DRM_IOCTL_SET_CLIENT_CAP {cap:?}"))?;
        }
        let res = card
            .resource_handles()
            .context("DRM_IOCTL_MODE_GETRESOURCES")?;
        let mut wb = None;
        for &c in res.connectors() {
            let info = card
                .get_connector(c, true)
                .context("DRM_IOCTL_MODE_GETCONNECTOR")?;
            if info.interface() == connector::Interface::Writeback {
                wb = Some(info);
                break;
            }
        }
        let wb = wb.ok_or_else(|| {
            anyhow!("vkms has no writeback connector: load it with enable_writeback=1")
        })?;
        let mode = *wb
            .modes()
            .iter()
            .min_by_key(|m| {
                let (w, h) = m.size();
                u32::from(w) * u32::from(h)
            })
            .ok_or_else(|| anyhow!("the writeback connector offers no mode"))?;
        let encoder = wb
            .encoders()
            .first()
            .ok_or_else(|| anyhow!("the writeback connector has no encoder"))?;
        let enc = card
            .get_encoder(*encoder)
            .context("DRM_IOCTL_MODE_GETENCODER")?;
        let crtc = *res
            .filter_crtcs(enc.possible_crtcs())
            .first()
            .ok_or_else(|| anyhow!("no CRTC can drive the writeback connector"))?;
        let mut primary = None;
        for p in card
            .plane_handles()
            .context("DRM_IOCTL_MODE_GETPLANERESOURCES")?
        {
            let info = card.get_plane(p).context("DRM_IOCTL_MODE_GETPLANE")?;
            if !res.filter_crtcs(info.possible_crtcs()).contains(&crtc) {
                continue;
            }
            let props = card.get_properties(p).context("properties of a plane")?;
            let kind = props.as_hashmap(card).context("plane property names")?;
            let type_prop = kind.get("type").map(|i| i.handle());
            let (ids, vals) = props.as_props_and_values();
            let is_primary = ids
                .iter()
                .zip(vals)
                .any(|(id, v)| Some(*id) == type_prop && *v == PLANE_TYPE_PRIMARY);
            if is_primary {
                primary = Some(p);
                break;
            }
        }
        let plane = primary.ok_or_else(|| anyhow!("no primary plane for the CRTC"))?;
        Ok(Pipeline {
            crtc,
            plane,
            writeback: wb.handle(),
            mode,
            crtc_props: Props::of(card, crtc, "CRTC")?,
            plane_props: Props::of(card, plane, "primary plane")?,
            wb_props: Props::of(card, wb.handle(), "writeback connector")?,
        })
    }

    /// The CRTC's size, which the writeback buffer has.
    pub fn size(&self) -> (u32, u32) {
        let (w, h) = self.mode.size();
        (u32::from(w), u32::from(h))
    }
}

/// A buffer vkms writes what it composed into, mapped for reading.
pub struct WritebackTarget {
    buffer: DumbBuffer,
    fb: framebuffer::Handle,
}

impl WritebackTarget {
    /// An XRGB8888 dumb buffer of the pipeline's size and its framebuffer.
    pub fn new(card: &Card, pipe: &Pipeline) -> Result<Self> {
        let buffer = card
            .create_dumb_buffer(pipe.size(), DrmFourcc::Xrgb8888, 32)
            .context("DRM_IOCTL_MODE_CREATE_DUMB for the writeback buffer")?;
        let fb = card
            .add_framebuffer(&buffer, 24, 32)
            .context("DRM_IOCTL_MODE_ADDFB for the writeback buffer")?;
        Ok(WritebackTarget { buffer, fb })
    }

    /// The top-left `w`x`h` pixels as RGB24 (R, G, B bytes), converted
    /// from XRGB8888 (little endian: B, G, R, X in memory).
    pub fn read_rgb24(&mut self, card: &Card, w: u32, h: u32) -> Result<Vec<u8>> {
        use drm::buffer::Buffer;
        let pitch = self.buffer.pitch() as usize;
        let map = card
            .map_dumb_buffer(&mut self.buffer)
            .context("DRM_IOCTL_MODE_MAP_DUMB for the writeback buffer")?;
        let mem: &[u8] = map.as_ref();
        let mut out = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h as usize {
            for x in 0..w as usize {
                let p = y * pitch + x * 4;
                let px = mem
                    .get(p..p + 4)
                    .ok_or_else(|| anyhow!("writeback buffer shorter than its pitch says"))?;
                out.extend([px[2], px[1], px[0]]);
            }
        }
        Ok(out)
    }
}

/// A CAPTURE buffer's export as a framebuffer vkms can scan out.
pub struct ImportedFrame {
    fb: framebuffer::Handle,
    size: (u32, u32),
}

impl ImportedFrame {
    /// PRIME-import `dmabuf` (one plane of `format`, `pitch` bytes a line)
    /// and wrap it in a framebuffer. The import shares the exporter's
    /// reservation, fences included.
    pub fn import(
        card: &Card,
        dmabuf: BorrowedFd<'_>,
        size: (u32, u32),
        format: DrmFourcc,
        pitch: u32,
    ) -> Result<Self> {
        let handle = card
            .prime_fd_to_buffer(dmabuf)
            .context("DRM_IOCTL_PRIME_FD_TO_HANDLE of the CAPTURE export")?;
        let buf = Imported {
            handle,
            size,
            format,
            pitch,
        };
        let fb = card
            .add_planar_framebuffer(&buf, FbCmd2Flags::empty())
            .with_context(|| format!("DRM_IOCTL_MODE_ADDFB2 {format:?} of the CAPTURE export"))?;
        Ok(ImportedFrame { fb, size })
    }
}

/// Show `frame` at the CRTC's top-left corner and capture the composed
/// result into `target`, in one non-blocking atomic commit (it returns
/// before KMS has waited for any fence). The returned sync_file signals
/// once the writeback is written.
pub fn commit_with_writeback(
    card: &Card,
    pipe: &Pipeline,
    frame: &ImportedFrame,
    target: &WritebackTarget,
) -> Result<OwnedFd> {
    use property::Value;
    let mode_blob = card
        .create_property_blob(&pipe.mode)
        .context("DRM_IOCTL_MODE_CREATEPROPBLOB for the mode")?;
    let (w, h) = frame.size;
    let mut out_fence = KernelFdSlot::new();
    let mut req = AtomicModeReq::new();
    let (c, p, wb) = (&pipe.crtc_props, &pipe.plane_props, &pipe.wb_props);
    c.set(&mut req, pipe.crtc, "MODE_ID", mode_blob)?;
    c.set(&mut req, pipe.crtc, "ACTIVE", Value::Boolean(true))?;
    p.set(
        &mut req,
        pipe.plane,
        "FB_ID",
        Value::Framebuffer(Some(frame.fb)),
    )?;
    p.set(
        &mut req,
        pipe.plane,
        "CRTC_ID",
        Value::CRTC(Some(pipe.crtc)),
    )?;
    for (name, v) in [
        ("SRC_X", 0),
        ("SRC_Y", 0),
        ("SRC_W", u64::from(w) << 16),
        ("SRC_H", u64::from(h) << 16),
        ("CRTC_W", u64::from(w)),
        ("CRTC_H", u64::from(h)),
    ] {
        p.set(&mut req, pipe.plane, name, Value::UnsignedRange(v))?;
    }
    for name in ["CRTC_X", "CRTC_Y"] {
        p.set(&mut req, pipe.plane, name, Value::SignedRange(0))?;
    }
    wb.set(
        &mut req,
        pipe.writeback,
        "CRTC_ID",
        Value::CRTC(Some(pipe.crtc)),
    )?;
    wb.set(
        &mut req,
        pipe.writeback,
        "WRITEBACK_FB_ID",
        Value::Framebuffer(Some(target.fb)),
    )?;
    wb.set(
        &mut req,
        pipe.writeback,
        "WRITEBACK_OUT_FENCE_PTR",
        Value::UnsignedRange(out_fence.address()),
    )?;
    card.atomic_commit(
        AtomicCommitFlags::NONBLOCK | AtomicCommitFlags::ALLOW_MODESET,
        req,
    )
    .context("DRM_IOCTL_MODE_ATOMIC: scan out the CAPTURE export with writeback")?;
    // Only a successful commit leaves an fd in the slot.
    out_fence
        .take()
        .ok_or_else(|| anyhow!("the atomic commit returned no writeback out-fence"))
}

/// Turn the pipeline off again, at once rather than when the card is
/// closed (which removes the framebuffers and so disables the planes).
pub fn disable(card: &Card, pipe: &Pipeline) -> Result<()> {
    use property::Value;
    let mut req = AtomicModeReq::new();
    let (c, p, wb) = (&pipe.crtc_props, &pipe.plane_props, &pipe.wb_props);
    c.set(&mut req, pipe.crtc, "MODE_ID", Value::Blob(0))?;
    c.set(&mut req, pipe.crtc, "ACTIVE", Value::Boolean(false))?;
    p.set(&mut req, pipe.plane, "FB_ID", Value::Framebuffer(None))?;
    p.set(&mut req, pipe.plane, "CRTC_ID", Value::CRTC(None))?;
    wb.set(&mut req, pipe.writeback, "CRTC_ID", Value::CRTC(None))?;
    card.atomic_commit(AtomicCommitFlags::ALLOW_MODESET, req)
        .context("DRM_IOCTL_MODE_ATOMIC: disable the pipeline")
}

/// Wait up to `timeout` for a sync_file to signal; false on timeout.
pub fn wait_signalled(fence: &OwnedFd, timeout: Duration) -> Result<bool> {
    let mut fds = [PollFd::new(fence.as_fd(), PollFlags::POLLIN)];
    let t = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    let n = nix::poll::poll(&mut fds, t).context("poll on the writeback out-fence")?;
    if n == 0 {
        return Ok(false);
    }
    let got = fds[0].revents().unwrap_or(PollFlags::empty());
    if got.contains(PollFlags::POLLIN) {
        Ok(true)
    } else {
        bail!("poll on the writeback out-fence: {got:?}")
    }
}
