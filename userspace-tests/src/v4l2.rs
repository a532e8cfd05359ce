//! A small V4L2 device handle on top of v4l2r's `ioctl` layer: discovery by
//! driver name, format, buffers, export, queueing and bounded waits.

use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout};
use thiserror::Error;
use v4l2r::ioctl::{
    self, Capabilities, Capability, ExpbufFlags, PlaneMapping, V4l2Buffer, V4l2PlanesWithBacking,
    V4l2PlanesWithBackingMut,
};
use v4l2r::memory::MemoryType;
use v4l2r::{Format, PixelFormat, QueueType};

use crate::access::permission_fix;
use crate::verdict::absent;

#[derive(Debug, Error)]
pub enum V4l2Error {
    #[error("open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("{what} on {path}: {source}")]
    Ioctl {
        what: &'static str,
        path: String,
        source: Errno,
    },
    #[error("{what} on {path}: {detail}")]
    Other {
        what: &'static str,
        path: String,
        detail: String,
    },
    #[error("timed out after {ms} ms waiting for {what} on {path}")]
    Timeout {
        what: String,
        path: String,
        ms: u128,
    },
}

/// Which memory backs a queue's buffers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mem {
    Mmap,
    DmaBuf,
    UserPtr,
}

impl Mem {
    fn v4l2(self) -> MemoryType {
        match self {
            Mem::Mmap => MemoryType::Mmap,
            Mem::DmaBuf => MemoryType::DmaBuf,
            Mem::UserPtr => MemoryType::UserPtr,
        }
    }
}

/// One plane of a DMABUF QBUF.
#[derive(Clone, Copy, Debug)]
pub struct DmaBufPlane<'a> {
    pub fd: BorrowedFd<'a>,
    pub length: u32,
    pub bytesused: u32,
}

/// include/uapi/linux/videodev2.h: the OUTPUT buffer is one slice of a
/// frame whose CAPTURE buffer the next slice (same timestamp) completes.
pub const V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF: u32 = 0x0000_0200;

/// A buffer returned by DQBUF.
#[derive(Clone, Copy, Debug)]
pub struct Dequeued {
    pub index: u32,
    pub error: bool,
    /// V4L2_BUF_FLAG_LAST: the last buffer before a drain or a source
    /// change stops the queue.
    pub last: bool,
    pub bytesused: u32,
    /// The frame's sequence number (a capture device counts dropped
    /// frames too).
    pub sequence: u32,
}

pub struct VideoDev {
    pub path: PathBuf,
    pub file: File,
    pub cap: Capability,
    pub mplane: bool,
}

/// Every /dev/videoN node, sorted by number.
pub fn video_nodes() -> Vec<PathBuf> {
    dev_nodes("video")
}

/// Every /dev/<prefix>N node, sorted by N.
fn dev_nodes(prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev")
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let n = name.strip_prefix(prefix)?.parse::<u32>().ok()?;
                    Some((n, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v.into_iter().map(|(_, p)| p).collect()
}

fn dev_caps(c: &Capability) -> Capabilities {
    c.device_caps.unwrap_or(c.capabilities)
}

impl VideoDev {
    pub fn open(path: &Path) -> Result<Self, V4l2Error> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| V4l2Error::Open {
                path: path.display().to_string(),
                source,
            })?;
        let cap: Capability = ioctl::querycap(&file).map_err(|e| V4l2Error::Other {
            what: "VIDIOC_QUERYCAP",
            path: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let caps = dev_caps(&cap);
        let mplane = caps.intersects(
            Capabilities::VIDEO_M2M_MPLANE
                | Capabilities::VIDEO_CAPTURE_MPLANE
                | Capabilities::VIDEO_OUTPUT_MPLANE,
        );
        Ok(Self {
            path: path.to_path_buf(),
            file,
            cap,
            mplane,
        })
    }

    /// Reopen the same node (a new file handle: a new m2m context).
    pub fn reopen(&self) -> Result<Self, V4l2Error> {
        Self::open(&self.path)
    }

    pub fn driver(&self) -> &str {
        &self.cap.driver
    }

    /// The video_device name (`/sys/class/video4linux/videoN/name`): the
    /// only thing telling apart the nodes of a driver that registers
    /// several with the same QUERYCAP (vicodec: "stateful-encoder", ...).
    pub fn node_name(&self) -> Option<String> {
        let base = self.path.file_name()?;
        let p = Path::new("/sys/class/video4linux").join(base).join("name");
        std::fs::read_to_string(p)
            .ok()
            .map(|s| s.trim().to_string())
    }

    pub fn caps(&self) -> Capabilities {
        dev_caps(&self.cap)
    }

    pub fn is_m2m(&self) -> bool {
        self.caps()
            .intersects(Capabilities::VIDEO_M2M | Capabilities::VIDEO_M2M_MPLANE)
    }

    pub fn is_capture(&self) -> bool {
        self.caps()
            .intersects(Capabilities::VIDEO_CAPTURE | Capabilities::VIDEO_CAPTURE_MPLANE)
    }

    fn p(&self) -> String {
        self.path.display().to_string()
    }

    fn ioerr(&self, what: &'static str) -> impl Fn(Errno) -> V4l2Error + '_ {
        move |source| V4l2Error::Ioctl {
            what,
            path: self.p(),
            source,
        }
    }

    pub fn out_q(&self) -> QueueType {
        if self.mplane {
            QueueType::VideoOutputMplane
        } else {
            QueueType::VideoOutput
        }
    }

    pub fn cap_q(&self) -> QueueType {
        if self.mplane {
            QueueType::VideoCaptureMplane
        } else {
            QueueType::VideoCapture
        }
    }

    /// The fourccs `q` offers (VIDIOC_ENUM_FMT), in the driver's order.
    pub fn formats(&self, q: QueueType) -> Vec<[u8; 4]> {
        v4l2r::ioctl::FormatIterator::new(&self.file, q)
            .map(|d| u32::from(d.pixelformat).to_le_bytes())
            .collect()
    }

    /// S_FMT with one plane of `fourcc` at `w`x`h`; returns what the driver
    /// chose (it may adjust).
    pub fn set_format(
        &mut self,
        q: QueueType,
        fourcc: &[u8; 4],
        w: u32,
        h: u32,
    ) -> Result<Format, V4l2Error> {
        let fmt = Format {
            width: w,
            height: h,
            pixelformat: PixelFormat::from(fourcc),
            plane_fmt: vec![],
        };
        let path = self.p();
        let got: Format =
            ioctl::s_fmt(&mut self.file, (q, &fmt)).map_err(|e| V4l2Error::Other {
                what: "VIDIOC_S_FMT",
                path,
                detail: e.to_string(),
            })?;
        if got.pixelformat != fmt.pixelformat {
            return Err(V4l2Error::Other {
                what: "VIDIOC_S_FMT",
                path: self.p(),
                detail: format!("asked {} got {}", fmt.pixelformat, got.pixelformat),
            });
        }
        Ok(got)
    }

    pub fn g_format(&self, q: QueueType) -> Result<Format, V4l2Error> {
        ioctl::g_fmt(&self.file, q).map_err(|e| V4l2Error::Other {
            what: "VIDIOC_G_FMT",
            path: self.p(),
            detail: e.to_string(),
        })
    }

    pub fn s_ctrl(&self, id: u32, value: i32) -> Result<i32, V4l2Error> {
        ioctl::s_ctrl(&self.file, id, value).map_err(|e| V4l2Error::Other {
            what: "VIDIOC_S_CTRL",
            path: self.p(),
            detail: e.to_string(),
        })
    }

    pub fn reqbufs(&self, q: QueueType, mem: Mem, count: u32) -> Result<u32, V4l2Error> {
        Ok(self.reqbufs_caps(q, mem, count)?.0)
    }

    /// REQBUFS; the buffer count granted and the queue's capabilities
    /// (`V4L2_BUF_CAP_*`).
    pub fn reqbufs_caps(
        &self,
        q: QueueType,
        mem: Mem,
        count: u32,
    ) -> Result<(u32, u32), V4l2Error> {
        let r: v4l2r::bindings::v4l2_requestbuffers = ioctl::reqbufs(
            &self.file,
            q,
            mem.v4l2(),
            count,
            ioctl::MemoryConsistency::empty(),
        )
        .map_err(|e| V4l2Error::Other {
            what: "VIDIOC_REQBUFS",
            path: self.p(),
            detail: e.to_string(),
        })?;
        Ok((r.count, r.capabilities))
    }

    /// CREATE_BUFS with a count of 0 for the queue's current format: it
    /// allocates nothing and reports the queue's capabilities
    /// (`V4L2_BUF_CAP_*`), as REQBUFS does.
    pub fn create_bufs_caps(&self, q: QueueType, mem: Mem) -> Result<u32, V4l2Error> {
        let fmt: v4l2r::bindings::v4l2_format =
            ioctl::g_fmt(&self.file, q).map_err(|e| V4l2Error::Other {
                what: "VIDIOC_G_FMT",
                path: self.p(),
                detail: e.to_string(),
            })?;
        let r: v4l2r::bindings::v4l2_create_buffers =
            ioctl::create_bufs(&self.file, 0, mem.v4l2(), fmt).map_err(|e| V4l2Error::Other {
                what: "VIDIOC_CREATE_BUFS",
                path: self.p(),
                detail: e.to_string(),
            })?;
        Ok(r.capabilities)
    }

    /// (mem_offset, length) of plane 0 of MMAP buffer `index`.
    pub fn query_mmap_plane(&self, q: QueueType, index: u32) -> Result<(u32, u32), V4l2Error> {
        self.query_mmap_planes(q, index)?
            .first()
            .copied()
            .ok_or_else(|| self.other("VIDIOC_QUERYBUF", "buffer has no plane"))
    }

    /// (mem_offset, length) of every plane of MMAP buffer `index`.
    pub fn query_mmap_planes(
        &self,
        q: QueueType,
        index: u32,
    ) -> Result<Vec<(u32, u32)>, V4l2Error> {
        let b: V4l2Buffer =
            ioctl::querybuf(&self.file, q, index as usize).map_err(|e| V4l2Error::Other {
                what: "VIDIOC_QUERYBUF",
                path: self.p(),
                detail: e.to_string(),
            })?;
        let r = match b.planes_with_backing_iter() {
            V4l2PlanesWithBacking::Mmap(it) => {
                Ok(it.map(|p| (p.mem_offset(), *p.length)).collect())
            }
            _ => Err(self.other("VIDIOC_QUERYBUF", "buffer is not MMAP")),
        };
        r
    }

    fn other(&self, what: &'static str, detail: &str) -> V4l2Error {
        V4l2Error::Other {
            what,
            path: self.p(),
            detail: detail.to_string(),
        }
    }

    pub fn mmap_plane(&self, q: QueueType, index: u32) -> Result<PlaneMapping, V4l2Error> {
        let (off, len) = self.query_mmap_plane(q, index)?;
        ioctl::mmap(&self.file, off, len).map_err(|e| V4l2Error::Other {
            what: "mmap",
            path: self.p(),
            detail: e.to_string(),
        })
    }

    /// mmap every plane of MMAP buffer `index`.
    pub fn mmap_planes(&self, q: QueueType, index: u32) -> Result<Vec<PlaneMapping>, V4l2Error> {
        self.query_mmap_planes(q, index)?
            .into_iter()
            .map(|(off, len)| {
                ioctl::mmap(&self.file, off, len).map_err(|e| V4l2Error::Other {
                    what: "mmap",
                    path: self.p(),
                    detail: e.to_string(),
                })
            })
            .collect()
    }

    pub fn expbuf(&self, q: QueueType, index: u32) -> Result<OwnedFd, V4l2Error> {
        self.expbuf_plane(q, index, 0)
    }

    /// VIDIOC_EXPBUF of one plane of a (multi-planar) MMAP buffer.
    pub fn expbuf_plane(&self, q: QueueType, index: u32, plane: u32) -> Result<OwnedFd, V4l2Error> {
        ioctl::expbuf::<OwnedFd>(
            &self.file,
            q,
            index as usize,
            plane as usize,
            ExpbufFlags::RDWR | ExpbufFlags::CLOEXEC,
        )
        .map_err(|e| self.ioerr("VIDIOC_EXPBUF")(e.into()))
    }

    pub fn qbuf_mmap(&self, q: QueueType, index: u32, bytesused: u32) -> Result<(), V4l2Error> {
        self.qbuf_mmap_n(q, index, 1, bytesused)
    }

    /// QBUF a CAPTURE MMAP buffer of a multi-planar queue with `planes`
    /// memory planes.
    pub fn qbuf_mmap_planes(
        &self,
        q: QueueType,
        index: u32,
        planes: usize,
    ) -> Result<(), V4l2Error> {
        self.qbuf_mmap_n(q, index, planes, 0)
    }

    /// QBUF an MMAP buffer of `planes` planes, plane 0 carrying `bytesused`.
    fn qbuf_mmap_n(
        &self,
        q: QueueType,
        index: u32,
        planes: usize,
        bytesused: u32,
    ) -> Result<(), V4l2Error> {
        let mut b = V4l2Buffer::new(q, index, MemoryType::Mmap);
        b.set_num_planes(planes)
            .map_err(|e| self.other("VIDIOC_QBUF", &e.to_string()))?;
        *b.get_first_plane_mut().bytesused = bytesused;
        self.queue_buffer("VIDIOC_QBUF", b)
    }

    /// QBUF an MMAP buffer into `request` (Request API, e.g. a stateless
    /// decoder's OUTPUT): nothing reaches the driver until the request is
    /// queued.
    pub fn qbuf_mmap_request(
        &self,
        q: QueueType,
        index: u32,
        bytesused: u32,
        request: &ioctl::Request,
    ) -> Result<(), V4l2Error> {
        use std::os::fd::AsRawFd;
        let mut b = ioctl::QBuffer::<v4l2r::memory::MmapHandle>::new(q, index)
            .set_request(request.as_raw_fd());
        b.planes.push(ioctl::QBufPlane::new(bytesused as usize));
        self.queue_buffer("VIDIOC_QBUF(request)", b)
    }

    /// QBUF an MMAP OUTPUT buffer holding one slice of a frame into
    /// `request`: timestamp `ts_us` names the frame (the CAPTURE buffer's),
    /// `hold` sets V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF (more slices of the
    /// same frame follow, so the job must not return the CAPTURE buffer).
    pub fn qbuf_slice_request(
        &self,
        q: QueueType,
        index: u32,
        bytesused: u32,
        request: &ioctl::Request,
        ts_us: i64,
        hold: bool,
    ) -> Result<(), V4l2Error> {
        use std::os::fd::AsRawFd;
        let mut b = ioctl::QBuffer::<v4l2r::memory::MmapHandle>::new(q, index)
            .set_request(request.as_raw_fd())
            .set_timestamp(ts_us / 1_000_000, ts_us % 1_000_000);
        if hold {
            b.flags |= ioctl::BufferFlags::from_bits_retain(V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF);
        }
        b.planes.push(ioctl::QBufPlane::new(bytesused as usize));
        self.queue_buffer("VIDIOC_QBUF(request, slice)", b)
    }

    pub fn qbuf_dmabuf(
        &self,
        q: QueueType,
        index: u32,
        fd: BorrowedFd<'_>,
        length: u32,
        bytesused: u32,
    ) -> Result<(), V4l2Error> {
        self.qbuf_dmabuf_planes(
            q,
            index,
            &[DmaBufPlane {
                fd,
                length,
                bytesused,
            }],
        )
    }

    /// QBUF a DMABUF buffer, one dma-buf fd per plane (the same fd may back
    /// several planes).
    pub fn qbuf_dmabuf_planes(
        &self,
        q: QueueType,
        index: u32,
        planes: &[DmaBufPlane<'_>],
    ) -> Result<(), V4l2Error> {
        use std::os::fd::AsRawFd;
        let mut b = V4l2Buffer::new(q, index, MemoryType::DmaBuf);
        b.set_num_planes(planes.len())
            .map_err(|e| self.other("VIDIOC_QBUF", &e.to_string()))?;
        if let V4l2PlanesWithBackingMut::DmaBuf(it) = b.planes_with_backing_iter_mut() {
            for (mut p, want) in it.zip(planes) {
                p.set_fd(want.fd.as_raw_fd());
                *p.length = want.length;
                *p.bytesused = want.bytesused;
            }
        }
        self.queue_buffer("VIDIOC_QBUF", b)
    }

    /// QBUF a single-plane USERPTR buffer: `length` bytes at `address`.
    pub fn qbuf_userptr(
        &self,
        q: QueueType,
        index: u32,
        address: u64,
        length: u32,
        bytesused: u32,
    ) -> Result<(), V4l2Error> {
        let mut b = V4l2Buffer::new(q, index, MemoryType::UserPtr);
        {
            let V4l2PlanesWithBackingMut::UserPtr(mut it) = b.planes_with_backing_iter_mut() else {
                return Err(self.other("VIDIOC_QBUF", "v4l2r built no USERPTR plane"));
            };
            let Some(mut p) = it.next() else {
                return Err(self.other("VIDIOC_QBUF", "v4l2r built no USERPTR plane"));
            };
            p.set_userptr(address as std::ffi::c_ulong);
            *p.length = length;
            *p.bytesused = bytesused;
        }
        self.queue_buffer("VIDIOC_QBUF", b)
    }

    /// VIDIOC_QBUF of a buffer the callers built; `what` names the call in
    /// an error.
    fn queue_buffer(
        &self,
        what: &'static str,
        b: impl Into<v4l2r::ioctl::UncheckedV4l2Buffer>,
    ) -> Result<(), V4l2Error> {
        ioctl::qbuf::<_, V4l2Buffer>(&self.file, b)
            .map(drop)
            .map_err(|e| self.other(what, &e.to_string()))
    }

    pub fn streamon(&self, q: QueueType) -> Result<(), V4l2Error> {
        ioctl::streamon(&self.file, q).map_err(|e| self.other("VIDIOC_STREAMON", &e.to_string()))
    }

    pub fn streamoff(&self, q: QueueType) -> Result<(), V4l2Error> {
        ioctl::streamoff(&self.file, q).map_err(|e| self.other("VIDIOC_STREAMOFF", &e.to_string()))
    }

    /// VIDIOC_SUBSCRIBE_EVENT for V4L2_EVENT_SOURCE_CHANGE (a decoder's
    /// "the stream's format changed, reallocate CAPTURE").
    pub fn subscribe_source_change(&self) -> Result<(), V4l2Error> {
        ioctl::subscribe_event(
            &self.file,
            ioctl::EventType::SourceChange(0),
            ioctl::SubscribeEventFlags::empty(),
        )
        .map_err(|e| self.ioerr("VIDIOC_SUBSCRIBE_EVENT (SOURCE_CHANGE)")(e.into()))
    }

    /// Wait (poll for POLLPRI, bounded) for a pending event, then
    /// VIDIOC_DQEVENT it.
    pub fn dqevent_wait(&self, timeout: Duration) -> Result<ioctl::Event, V4l2Error> {
        let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLPRI)];
        let t = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
        match nix::poll::poll(&mut fds, t) {
            Ok(0) => {
                return Err(V4l2Error::Timeout {
                    what: "an event (POLLPRI)".into(),
                    path: self.p(),
                    ms: timeout.as_millis(),
                })
            }
            Ok(_) => {}
            Err(e) => return Err(self.ioerr("poll")(e)),
        }
        ioctl::dqevent(&self.file).map_err(|e| self.other("VIDIOC_DQEVENT", &e.to_string()))
    }

    /// Wait (poll, bounded) until a buffer of `q` can be dequeued, then DQBUF.
    pub fn dqbuf_wait(&self, q: QueueType, timeout: Duration) -> Result<Dequeued, V4l2Error> {
        let want = if matches!(q, QueueType::VideoOutput | QueueType::VideoOutputMplane) {
            PollFlags::POLLOUT
        } else {
            PollFlags::POLLIN
        };
        let start = Instant::now();
        loop {
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Err(V4l2Error::Timeout {
                    what: format!("a {q:?} buffer to complete (DQBUF)"),
                    path: self.p(),
                    ms: timeout.as_millis(),
                });
            }
            let mut fds = [PollFd::new(self.file.as_fd(), want)];
            let t = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
            match nix::poll::poll(&mut fds, t) {
                Ok(0) | Err(Errno::EINTR) => continue,
                Ok(_) => {}
                Err(e) => return Err(self.ioerr("poll")(e)),
            }
            match ioctl::dqbuf::<V4l2Buffer>(&self.file, q) {
                Ok(b) => {
                    return Ok(Dequeued {
                        index: b.index(),
                        error: b.has_error(),
                        last: b.is_last(),
                        bytesused: *b.get_first_plane().bytesused,
                        sequence: b.sequence(),
                    })
                }
                // poll() on an m2m fd reports both queues; retry until ours.
                Err(ioctl::IoctlConvertError::IoctlError(ioctl::DqBufIoctlError::NotReady)) => {
                    // Avoid spinning if poll keeps reporting the other queue.
                    let mut none: [PollFd; 0] = [];
                    let _ = nix::poll::poll(&mut none, PollTimeout::from(5u8));
                }
                Err(e) => return Err(self.other("VIDIOC_DQBUF", &e.to_string())),
            }
        }
    }
}

/// First /dev/video* node whose QUERYCAP driver is `driver` and whose
/// capabilities satisfy `want`. When none is, the error is an absence
/// (`verdict::absent`, naming `load`, the command that provides the device)
/// if every node opened or was refused for permission; a node that failed
/// to open otherwise may have been the device, so that is an error.
pub fn find_device(
    driver: &str,
    load: &str,
    want: impl Fn(&VideoDev) -> bool,
) -> anyhow::Result<VideoDev> {
    let nodes = video_nodes();
    if nodes.is_empty() {
        return Err(absent(format!(
            "no /dev/video* nodes on this system: {load}"
        )));
    }
    let mut seen = Vec::new();
    let mut denied = Vec::new();
    let mut failed = Vec::new();
    for n in nodes {
        match VideoDev::open(&n) {
            Ok(d) if d.driver() == driver && want(&d) => return Ok(d),
            Ok(d) => seen.push(format!("{}={}", n.display(), d.driver())),
            Err(V4l2Error::Open { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                denied.push(n)
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "no {driver} device found, and nodes that may be it failed: {} (opened: {})",
            failed.join("; "),
            seen.join(", ")
        );
    }
    if let Some(first) = denied.first() {
        return Err(absent(format!(
            "no {driver} device among the /dev/video* nodes this user can open ({}); {}",
            seen.join(", "),
            permission_fix(first)
        )));
    }
    Err(absent(format!(
        "no {driver} device among /dev/video* ({}): {load}",
        seen.join(", ")
    )))
}

/// The first /dev/media* node whose MEDIA_IOC_DEVICE_INFO driver or model
/// is `driver` (a stateless decoder allocates its requests there); absences
/// and errors told apart as in `find_device`.
pub fn find_media(driver: &str, load: &str) -> anyhow::Result<File> {
    let mut seen = Vec::new();
    let mut denied = Vec::new();
    let mut failed = Vec::new();
    for p in dev_nodes("media") {
        let f = match OpenOptions::new().read(true).write(true).open(&p) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                denied.push(p);
                continue;
            }
            Err(e) => {
                failed.push(format!("{}: {e}", p.display()));
                continue;
            }
        };
        match crate::sys::media_device_info(f.as_fd()) {
            Ok(i) if i.driver == driver || i.model == driver => return Ok(f),
            Ok(i) => seen.push(format!("{}={}", p.display(), i.driver)),
            Err(e) => failed.push(format!("{}: MEDIA_IOC_DEVICE_INFO: {e}", p.display())),
        }
    }
    if !failed.is_empty() {
        anyhow::bail!(
            "no {driver} media device found, and nodes that may be it failed: {} (opened: {})",
            failed.join("; "),
            seen.join(", ")
        );
    }
    if let Some(first) = denied.first() {
        return Err(absent(format!(
            "no {driver} media device among the /dev/media* nodes this user can open; {}",
            permission_fix(first)
        )));
    }
    Err(absent(format!(
        "no {driver} media device among /dev/media* ({}): {load} (the kernel needs \
         CONFIG_MEDIA_CONTROLLER)",
        seen.join(", ")
    )))
}
