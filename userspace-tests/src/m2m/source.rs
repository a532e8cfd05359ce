//! Where an m2m run's buffers come from: their own MMAP allocation, or a
//! dma-buf from another exporter (the system dma-heap, udmabuf, vivid) that
//! the queue imports.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};

use anyhow::{bail, Context, Result};

use crate::access;
use crate::sys;
use crate::v4l2::{find_device, Mem, VideoDev};

/// Where a queue's buffer comes from: its own MMAP allocation or an
/// import.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufSource {
    Mmap,
    Heap,
    Udmabuf,
    Vivid,
    /// USERPTR: the suite's own memory (a memfd mapping), no dma-buf.
    UserPtr,
}

impl BufSource {
    /// A dma-buf of another exporter, which the queue imports (DMABUF).
    pub fn is_import(self) -> bool {
        matches!(
            self,
            BufSource::Heap | BufSource::Udmabuf | BufSource::Vivid
        )
    }
}

/// The system dma-heap, and what provides it.
const DMA_HEAP: &str = "/dev/dma_heap/system";
const DMA_HEAP_FIX: &str = "the kernel needs CONFIG_DMABUF_HEAPS_SYSTEM";
/// udmabuf, and what provides it.
const UDMABUF: &str = "/dev/udmabuf";
const UDMABUF_FIX: &str = "the kernel needs CONFIG_UDMABUF";

/// The system dma-heap (an absence names the kernel option).
pub fn open_dma_heap() -> Result<File> {
    access::open_node(DMA_HEAP, false, DMA_HEAP_FIX)
}

/// /dev/udmabuf (an absence names the kernel option).
pub fn open_udmabuf() -> Result<File> {
    access::open_node(UDMABUF, false, UDMABUF_FIX)
}

fn page_round(n: u32) -> u32 {
    n.div_ceil(4096) * 4096
}

/// A sealable memfd of at least `size` bytes (whole pages), and its length:
/// udmabuf's backing, or USERPTR memory once mapped.
pub(super) fn memfd(size: u32) -> Result<(OwnedFd, u32)> {
    use nix::sys::memfd::{memfd_create, MemFdCreateFlag};
    let len = page_round(size);
    let name = CString::new("fence-suite").context("memfd name")?;
    let memfd = memfd_create(&name, MemFdCreateFlag::MFD_ALLOW_SEALING).context("memfd_create")?;
    nix::unistd::ftruncate(&memfd, i64::from(len)).context("ftruncate(memfd)")?;
    Ok((memfd, len))
}

/// How the suite needs vivid loaded: instance 0 single-planar with the
/// dma-contig allocator (a second V4L2 exporter), instance 1 multi-planar
/// (NV12M), capture nodes only. vm/stages/load-drivers.sh loads it so; a
/// unit test holds the two equal.
pub const VIVID_MODPROBE: &str = "modprobe vivid n_devs=2 allocators=1,0 multiplanar=1,2 \
                                  node_types=0x1,0x1 num_outputs=0,0";

/// vivid's single-planar video capture (dma-contig allocator), a second
/// V4L2 exporter for the DMABUF-import path.
pub fn open_vivid_capture() -> Result<VideoDev> {
    find_device(
        "vivid",
        &format!("{VIVID_MODPROBE} (instance 0: single-planar, dma-contig)"),
        |d| d.is_capture() && !d.is_m2m() && !d.mplane,
    )
}

/// A dma-buf of at least `size` bytes from `src` for a queue to import: the fd, its length, and the exporting device to keep open.
pub(super) fn import_source(src: BufSource, size: u32) -> Result<(OwnedFd, u32, Option<VideoDev>)> {
    match src {
        BufSource::Mmap | BufSource::UserPtr => bail!("not an import"),
        BufSource::Heap => {
            let heap = open_dma_heap()?;
            let len = page_round(size);
            let fd = sys::dma_heap_alloc(heap.as_fd(), u64::from(len))
                .context("DMA_HEAP_IOCTL_ALLOC")?;
            Ok((fd, len, None))
        }
        BufSource::Udmabuf => {
            use nix::fcntl::{fcntl, FcntlArg, SealFlag};
            let (memfd, len) = memfd(size)?;
            // udmabuf requires F_SEAL_SHRINK (and refuses F_SEAL_WRITE).
            fcntl(
                std::os::fd::AsRawFd::as_raw_fd(&memfd),
                FcntlArg::F_ADD_SEALS(SealFlag::F_SEAL_SHRINK),
            )
            .context("F_ADD_SEALS")?;
            let dev = open_udmabuf()?;
            let fd = sys::udmabuf_create(dev.as_fd(), memfd.as_fd(), u64::from(len))
                .context("UDMABUF_CREATE")?;
            Ok((fd, len, None))
        }
        BufSource::Vivid => {
            let v = open_vivid_capture()?;
            let q = v.cap_q();
            v.reqbufs(q, Mem::Mmap, 1).context("vivid REQBUFS(MMAP)")?;
            let (_, len) = v.query_mmap_plane(q, 0)?;
            if len < size {
                bail!("vivid buffer is {len} bytes, vim2m needs {size}");
            }
            let fd = v.expbuf(q, 0).context("vivid EXPBUF")?;
            Ok((fd, len, Some(v)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::VIVID_MODPROBE;

    /// The guest loads vivid as the suite says it needs it.
    #[test]
    fn load_drivers_loads_vivid_as_the_suite_needs_it() {
        let script = include_str!("../../../vm/stages/load-drivers.sh").replace("\\\n", " ");
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let want = words(VIVID_MODPROBE);
        assert!(
            script.lines().any(|l| words(l) == want),
            "vm/stages/load-drivers.sh has no line `{want}`"
        );
    }

    /// README.md's commands for the laptop load vivid so too.
    #[test]
    fn readme_loads_vivid_as_the_suite_needs_it() {
        let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        let want = format!("sudo {}", words(VIVID_MODPROBE));
        let lines: Vec<String> = include_str!("../../../README.md")
            .lines()
            .map(words)
            .filter(|l| l.starts_with("sudo modprobe vivid"))
            .collect();
        assert!(
            !lines.is_empty(),
            "README.md has no `sudo modprobe vivid` line"
        );
        for l in lines {
            assert_eq!(
                l, want,
                "README.md loads vivid otherwise than the suite needs"
            );
        }
    }
}
