//! Every raw kernel interface the suite uses that v4l2r does not wrap.
//!
//! This is the only module with `unsafe` code (`lib.rs` denies it
//! elsewhere). Each wrapper takes borrowed fds and plain Rust values and
//! returns owned results, so test logic never sees an ioctl number or a raw
//! pointer.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

use nix::errno::Errno;
use nix::libc;

/// `struct dma_buf_sync` (include/uapi/linux/dma-buf.h).
#[repr(C)]
#[derive(Default)]
struct DmaBufSync {
    flags: u64,
}

pub const DMA_BUF_SYNC_READ: u64 = 1;
pub const DMA_BUF_SYNC_WRITE: u64 = 2;
pub const DMA_BUF_SYNC_START: u64 = 0;
pub const DMA_BUF_SYNC_END: u64 = 4;

/// `struct dma_buf_export_sync_file` and `struct dma_buf_import_sync_file`
/// (the same two fields).
#[repr(C)]
#[derive(Default)]
struct DmaBufSyncFile {
    flags: u32,
    fd: i32,
}

/// `struct v4l2_remove_buffers` (include/uapi/linux/videodev2.h, 6.10+).
#[repr(C)]
#[derive(Default)]
struct V4l2RemoveBuffers {
    index: u32,
    count: u32,
    type_: u32,
    reserved: [u32; 13],
}

/// `struct sync_fence_info` (include/uapi/linux/sync_file.h).
#[repr(C)]
#[derive(Clone, Copy)]
struct SyncFenceInfoRaw {
    obj_name: [u8; 32],
    driver_name: [u8; 32],
    status: i32,
    flags: u32,
    timestamp_ns: u64,
}

/// `struct sync_file_info`.
#[repr(C)]
struct SyncFileInfoRaw {
    name: [u8; 32],
    status: i32,
    flags: u32,
    num_fences: u32,
    pad: u32,
    sync_fence_info: u64,
}

/// `struct dma_heap_allocation_data` (include/uapi/linux/dma-heap.h).
#[repr(C)]
#[derive(Default)]
struct DmaHeapAllocationData {
    len: u64,
    fd: u32,
    fd_flags: u32,
    heap_flags: u64,
}

/// `struct udmabuf_create` (include/uapi/linux/udmabuf.h).
#[repr(C)]
#[derive(Default)]
struct UdmabufCreate {
    memfd: u32,
    flags: u32,
    offset: u64,
    size: u64,
}

/// `struct media_device_info` (include/uapi/linux/media.h).
#[repr(C)]
struct MediaDeviceInfoRaw {
    driver: [u8; 16],
    model: [u8; 32],
    serial: [u8; 40],
    bus_info: [u8; 32],
    media_version: u32,
    hw_revision: u32,
    driver_version: u32,
    reserved: [u32; 31],
}

/// `struct vb2fp_fence` (docs/interfaces.md, rust-kmod).
#[repr(C)]
#[derive(Clone, Copy)]
struct Vb2fpFenceRaw {
    context: u64,
    seqno: u64,
    usage: u32,
    signaled: u32,
    error: i32,
    pad: u32,
    driver: [u8; 32],
    timeline: [u8; 32],
}

/// `struct sw_sync_create_fence_data` (drivers/dma-buf/sw_sync.c, the
/// debugfs test interface IGT's sw_sync library uses).
#[repr(C)]
struct SwSyncCreateFence {
    value: u32,
    name: [u8; 32],
    fence: i32,
}

/// `struct vb2fp_query`.
#[repr(C)]
#[derive(Default)]
struct Vb2fpQueryRaw {
    fd: i32,
    capacity: u32,
    count: u32,
    pad: u32,
    entries: u64,
}

// The sizes the kernel's uAPI headers give (and, for the vb2fp structs,
// the sizes rust-kmod asserts on both sides of its FFI: vb2fp_shim.c,
// vb2fp_main.rs). The ioctl numbers encode them too, so a wrong mirror
// would fail every call with ENOTTY instead of at build time.
const _: () = assert!(size_of::<DmaBufSync>() == 8);
const _: () = assert!(size_of::<DmaBufSyncFile>() == 8);
const _: () = assert!(size_of::<V4l2RemoveBuffers>() == 64);
const _: () = assert!(size_of::<SyncFenceInfoRaw>() == 80);
const _: () = assert!(size_of::<SyncFileInfoRaw>() == 56);
const _: () = assert!(size_of::<DmaHeapAllocationData>() == 24);
const _: () = assert!(size_of::<UdmabufCreate>() == 24);
const _: () = assert!(size_of::<MediaDeviceInfoRaw>() == 256);
const _: () = assert!(size_of::<Vb2fpFenceRaw>() == 96);
const _: () = assert!(size_of::<Vb2fpQueryRaw>() == 24);
const _: () = assert!(size_of::<SwSyncCreateFence>() == 40);

mod nr {
    use super::*;
    nix::ioctl_write_ptr!(dma_buf_ioctl_sync, b'b', 0, DmaBufSync);
    // DMA_BUF_SET_NAME takes the string pointer itself as the argument; the
    // 64-bit number (DMA_BUF_SET_NAME_B) encodes a u64 size.
    nix::ioctl_write_ptr_bad!(
        dma_buf_set_name,
        nix::request_code_write!(b'b', 1, std::mem::size_of::<u64>()),
        libc::c_char
    );
    nix::ioctl_readwrite!(dma_buf_export_sync_file, b'b', 2, DmaBufSyncFile);
    nix::ioctl_readwrite!(vidioc_remove_bufs, b'V', 104, V4l2RemoveBuffers);
    nix::ioctl_write_ptr!(dma_buf_import_sync_file, b'b', 3, DmaBufSyncFile);
    nix::ioctl_readwrite!(sync_ioc_file_info, b'>', 4, SyncFileInfoRaw);
    nix::ioctl_readwrite!(dma_heap_ioctl_alloc, b'H', 0, DmaHeapAllocationData);
    nix::ioctl_write_ptr!(udmabuf_create, b'u', 0x42, UdmabufCreate);
    nix::ioctl_readwrite!(media_ioc_device_info, b'|', 0, MediaDeviceInfoRaw);
    nix::ioctl_readwrite!(vb2fp_ioc_query, b'V', 0xf1, Vb2fpQueryRaw);
    nix::ioctl_none!(vb2fp_ioc_reset, b'V', 0xf0);
    nix::ioctl_readwrite!(sw_sync_ioc_create_fence, b'W', 0, SwSyncCreateFence);
    nix::ioctl_write_ptr!(sw_sync_ioc_inc, b'W', 1, u32);
}

fn cstr_field(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

/// `DMA_BUF_IOCTL_SYNC`: bracket CPU access to an mmapped dma-buf.
pub fn dma_buf_sync(buf: BorrowedFd<'_>, flags: u64) -> Result<(), Errno> {
    let arg = DmaBufSync { flags };
    // SAFETY: `arg` is a valid, initialised dma_buf_sync that outlives the
    // call; the kernel only reads it.
    unsafe { nr::dma_buf_ioctl_sync(buf.as_raw_fd(), &arg) }.map(drop)
}

/// `DMA_BUF_SET_NAME`: label a dma-buf so debugfs bufinfo shows it.
pub fn dma_buf_set_name(buf: BorrowedFd<'_>, name: &str) -> Result<(), Errno> {
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    // SAFETY: `name` is a NUL-terminated string alive for the whole call; the
    // kernel copies at most DMA_BUF_NAME_LEN bytes from it.
    unsafe { nr::dma_buf_set_name(buf.as_raw_fd(), name.as_ptr()) }.map(drop)
}

/// `DMA_BUF_IOCTL_EXPORT_SYNC_FILE`: a sync_file for the fences a CPU access
/// with `flags` (DMA_BUF_SYNC_READ / _WRITE) would have to wait for.
pub fn dma_buf_export_sync_file(buf: BorrowedFd<'_>, flags: u32) -> Result<OwnedFd, Errno> {
    let mut arg = DmaBufSyncFile { flags, fd: -1 };
    // SAFETY: `arg` is a valid struct for this _IOWR ioctl and outlives it.
    unsafe { nr::dma_buf_export_sync_file(buf.as_raw_fd(), &mut arg) }?;
    // SAFETY: on success the kernel installed a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(arg.fd) })
}

/// `DMA_BUF_IOCTL_IMPORT_SYNC_FILE`: add the fences of `sync_file` to the
/// reservation object of `buf`, as write fences with DMA_BUF_SYNC_WRITE in
/// `flags`, as read fences otherwise.
pub fn dma_buf_import_sync_file(
    buf: BorrowedFd<'_>,
    flags: u32,
    sync_file: BorrowedFd<'_>,
) -> Result<(), Errno> {
    let arg = DmaBufSyncFile {
        flags,
        fd: sync_file.as_raw_fd(),
    };
    // SAFETY: `arg` is a valid `struct dma_buf_import_sync_file` (same
    // layout as the export struct) for this _IOW ioctl and outlives it;
    // the kernel only reads it and takes its own reference to the fence.
    unsafe { nr::dma_buf_import_sync_file(buf.as_raw_fd(), &arg) }.map(drop)
}

/// `SW_SYNC_IOC_CREATE_FENCE`: a sync_file whose fence signals when the
/// sw_sync `timeline` (an open /sys/kernel/debug/sync/sw_sync) reaches
/// `value`.
pub fn sw_sync_create_fence(
    timeline: BorrowedFd<'_>,
    value: u32,
    name: &str,
) -> Result<OwnedFd, Errno> {
    let mut arg = SwSyncCreateFence {
        value,
        name: [0; 32],
        fence: -1,
    };
    let n = name.len().min(arg.name.len() - 1);
    arg.name[..n].copy_from_slice(&name.as_bytes()[..n]);
    // SAFETY: `arg` is a valid, initialised sw_sync_create_fence_data for
    // this _IOWR ioctl and outlives it.
    unsafe { nr::sw_sync_ioc_create_fence(timeline.as_raw_fd(), &mut arg) }?;
    // SAFETY: on success the kernel installed a new fd that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(arg.fence) })
}

/// `SW_SYNC_IOC_INC`: advance the sw_sync `timeline` by `count`, signalling
/// the fences it reaches.
pub fn sw_sync_inc(timeline: BorrowedFd<'_>, count: u32) -> Result<(), Errno> {
    // SAFETY: `count` is a valid u32 that outlives this _IOW ioctl; the
    // kernel only reads it.
    unsafe { nr::sw_sync_ioc_inc(timeline.as_raw_fd(), &count) }.map(drop)
}

/// A media request's fd, borrowed for as long as the request: v4l2r's
/// `Request` owns it but offers only `AsRawFd`.
pub fn request_fd(req: &v4l2r::ioctl::Request) -> BorrowedFd<'_> {
    // SAFETY: the request owns the fd and keeps it open while `req` is
    // borrowed, which bounds the returned lifetime.
    unsafe { BorrowedFd::borrow_raw(req.as_raw_fd()) }
}

/// Where the kernel writes a new fd during an ioctl that is handed the
/// slot's address as a plain u64 (DRM's `WRITEBACK_OUT_FENCE_PTR` atomic
/// property): boxed, so the address stays put while the request that
/// carries it moves.
pub struct KernelFdSlot(Box<i32>);

impl KernelFdSlot {
    pub fn new() -> Self {
        KernelFdSlot(Box::new(-1))
    }

    /// The address to hand to the kernel; valid while the slot lives.
    pub fn address(&mut self) -> u64 {
        std::ptr::from_mut::<i32>(&mut self.0) as u64
    }

    /// The fd the kernel wrote, now the caller's. Call it only after the
    /// ioctl succeeded: a failed one may leave an fd number it took back.
    pub fn take(self) -> Option<OwnedFd> {
        // SAFETY: the box is a live, aligned i32; read volatile because the
        // kernel wrote it through an address the compiler does not track.
        let fd = unsafe { std::ptr::read_volatile(&*self.0) };
        // SAFETY: a non-negative value is an fd the successful ioctl
        // installed for this slot and handed to nobody else.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl Default for KernelFdSlot {
    fn default() -> Self {
        Self::new()
    }
}

/// `VIDIOC_REMOVE_BUFS`: free `count` buffers from `index` of the queue of
/// type `buf_type` (each must be dequeued; the queue may be streaming).
pub fn vidioc_remove_bufs(
    video: BorrowedFd<'_>,
    buf_type: u32,
    index: u32,
    count: u32,
) -> Result<(), Errno> {
    let mut arg = V4l2RemoveBuffers {
        index,
        count,
        type_: buf_type,
        ..Default::default()
    };
    // SAFETY: `arg` is a valid `struct v4l2_remove_buffers` (size asserted
    // above) for this _IOWR ioctl and outlives it.
    unsafe { nr::vidioc_remove_bufs(video.as_raw_fd(), &mut arg) }.map(drop)
}

/// One fence of a sync_file, as SYNC_IOC_FILE_INFO reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncFenceInfo {
    pub obj_name: String,
    pub driver_name: String,
    /// 0 active, 1 signalled, < 0 signalled with error.
    pub status: i32,
    pub timestamp_ns: u64,
}

/// `SYNC_IOC_FILE_INFO`: the fences inside a sync_file.
pub fn sync_file_info(sync_file: BorrowedFd<'_>) -> Result<(i32, Vec<SyncFenceInfo>), Errno> {
    let mut info = SyncFileInfoRaw {
        name: [0; 32],
        status: 0,
        flags: 0,
        num_fences: 0,
        pad: 0,
        sync_fence_info: 0,
    };
    // SAFETY: first pass with num_fences = 0: the kernel writes only `info`.
    unsafe { nr::sync_ioc_file_info(sync_file.as_raw_fd(), &mut info) }?;
    let n = info.num_fences as usize;
    if n == 0 {
        return Ok((info.status, Vec::new()));
    }
    let mut entries = vec![
        SyncFenceInfoRaw {
            obj_name: [0; 32],
            driver_name: [0; 32],
            status: 0,
            flags: 0,
            timestamp_ns: 0,
        };
        n
    ];
    info.num_fences = n as u32;
    info.sync_fence_info = entries.as_mut_ptr() as u64;
    // SAFETY: `entries` has room for `num_fences` structs and lives past the
    // call; the kernel fails with EINVAL instead of overflowing if the fence
    // count grew in between.
    unsafe { nr::sync_ioc_file_info(sync_file.as_raw_fd(), &mut info) }?;
    let count = (info.num_fences as usize).min(n);
    Ok((
        info.status,
        entries[..count]
            .iter()
            .map(|e| SyncFenceInfo {
                obj_name: cstr_field(&e.obj_name),
                driver_name: cstr_field(&e.driver_name),
                status: e.status,
                timestamp_ns: e.timestamp_ns,
            })
            .collect(),
    ))
}

/// `DMA_HEAP_IOCTL_ALLOC` on an open heap device.
pub fn dma_heap_alloc(heap: BorrowedFd<'_>, len: u64) -> Result<OwnedFd, Errno> {
    let mut arg = DmaHeapAllocationData {
        len,
        fd: 0,
        fd_flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
        heap_flags: 0,
    };
    // SAFETY: `arg` is a valid struct for this _IOWR ioctl and outlives it.
    unsafe { nr::dma_heap_ioctl_alloc(heap.as_raw_fd(), &mut arg) }?;
    // SAFETY: on success `fd` is a new dma-buf fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(arg.fd as RawFd) })
}

/// `UDMABUF_CREATE` on /dev/udmabuf: a dma-buf backed by a sealed memfd.
pub fn udmabuf_create(
    udmabuf_dev: BorrowedFd<'_>,
    memfd: BorrowedFd<'_>,
    size: u64,
) -> Result<OwnedFd, Errno> {
    let arg = UdmabufCreate {
        memfd: memfd.as_raw_fd() as u32,
        flags: 0x01, // UDMABUF_FLAGS_CLOEXEC
        offset: 0,
        size,
    };
    // SAFETY: `arg` is valid for the call; the ioctl returns the new fd.
    let fd = unsafe { nr::udmabuf_create(udmabuf_dev.as_raw_fd(), &arg) }?;
    // SAFETY: a non-negative return is a new dma-buf fd owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// What `MEDIA_IOC_DEVICE_INFO` says about a media controller device.
#[derive(Clone, Debug)]
pub struct MediaDeviceInfo {
    pub driver: String,
    pub model: String,
    pub bus_info: String,
}

/// `MEDIA_IOC_DEVICE_INFO`.
pub fn media_device_info(media: BorrowedFd<'_>) -> Result<MediaDeviceInfo, Errno> {
    let mut raw = MediaDeviceInfoRaw {
        driver: [0; 16],
        model: [0; 32],
        serial: [0; 40],
        bus_info: [0; 32],
        media_version: 0,
        hw_revision: 0,
        driver_version: 0,
        reserved: [0; 31],
    };
    // SAFETY: `raw` is a valid struct for this _IOWR ioctl and outlives it.
    unsafe { nr::media_ioc_device_info(media.as_raw_fd(), &mut raw) }?;
    Ok(MediaDeviceInfo {
        driver: cstr_field(&raw.driver),
        model: cstr_field(&raw.model),
        bus_info: cstr_field(&raw.bus_info),
    })
}

/// One fence on a dma-buf's reservation, as rust-kmod's VB2FP_IOC_QUERY
/// reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmodFence {
    pub context: u64,
    pub seqno: u64,
    /// 0 kernel, 1 write, 2 read, 3 bookkeep.
    pub usage: u32,
    pub signaled: bool,
    pub error: i32,
    pub driver: String,
    pub timeline: String,
}

/// `VB2FP_IOC_QUERY`: every fence on the reservation of dma-buf `buf`.
pub fn vb2fp_query(probe: BorrowedFd<'_>, buf: BorrowedFd<'_>) -> Result<Vec<KmodFence>, Errno> {
    const ROOM: usize = 32;
    let mut entries = vec![
        Vb2fpFenceRaw {
            context: 0,
            seqno: 0,
            usage: 0,
            signaled: 0,
            error: 0,
            pad: 0,
            driver: [0; 32],
            timeline: [0; 32],
        };
        ROOM
    ];
    let mut q = Vb2fpQueryRaw {
        fd: buf.as_raw_fd(),
        capacity: ROOM as u32,
        entries: entries.as_mut_ptr() as u64,
        ..Default::default()
    };
    // SAFETY: `entries` has room for `capacity` structs and outlives the
    // call; the module copies at most `capacity` of them.
    unsafe { nr::vb2fp_ioc_query(probe.as_raw_fd(), &mut q) }?;
    let n = (q.count as usize).min(ROOM);
    Ok(entries[..n]
        .iter()
        .map(|e| KmodFence {
            context: e.context,
            seqno: e.seqno,
            usage: e.usage,
            signaled: e.signaled != 0,
            error: e.error,
            driver: cstr_field(&e.driver),
            timeline: cstr_field(&e.timeline),
        })
        .collect())
}

/// `VB2FP_IOC_RESET`: clear rust-kmod's record ring.
pub fn vb2fp_reset(probe: BorrowedFd<'_>) -> Result<(), Errno> {
    // SAFETY: an argument-less ioctl on an fd we borrow.
    unsafe { nr::vb2fp_ioc_reset(probe.as_raw_fd()) }.map(drop)
}

/// A shared, read-write CPU mapping of a dma-buf (or any mappable fd).
pub struct Mapping {
    ptr: NonNull<libc::c_void>,
    len: usize,
}

impl Mapping {
    pub fn new(fd: BorrowedFd<'_>, len: usize) -> Result<Self, Errno> {
        let nz = std::num::NonZeroUsize::new(len).ok_or(Errno::EINVAL)?;
        // SAFETY: a fresh shared mapping at an address the kernel picks; it
        // aliases no Rust object. Its contents may change behind our back
        // (device DMA), which is why reads go through `read_volatile`.
        let ptr = unsafe {
            nix::sys::mman::mmap(
                None,
                nz,
                nix::sys::mman::ProtFlags::PROT_READ | nix::sys::mman::ProtFlags::PROT_WRITE,
                nix::sys::mman::MapFlags::MAP_SHARED,
                fd,
                0,
            )
        }?;
        Ok(Self { ptr, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The mapping's address, for a V4L2 USERPTR plane.
    pub fn address(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Copy `len` bytes out (volatile: a device may be writing).
    pub fn read(&self, len: usize) -> Vec<u8> {
        // SAFETY: ptr/len describe this live mapping; we read at most len.
        unsafe { volatile_copy(self.ptr.as_ptr() as *const u8, len.min(self.len)) }
    }

    /// Overwrite the start of the mapping with `data`.
    pub fn write(&mut self, data: &[u8]) {
        let n = data.len().min(self.len);
        // SAFETY: the mapping is `len` bytes long, writable, and `n <= len`.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.ptr.as_ptr() as *mut u8, n) };
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len come from a successful mmap and are unmapped once.
        let _ = unsafe { nix::sys::mman::munmap(self.ptr, self.len) };
    }
}

/// Volatile copy out of memory a device may write concurrently (an MMAP
/// plane mapping from v4l2r, or a `Mapping`).
///
/// # Safety
/// `src..src + len` must be readable for the whole call.
unsafe fn volatile_copy(src: *const u8, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    for i in 0..len {
        // SAFETY: the caller guarantees `src + i` (i < len) is readable.
        out.push(unsafe { std::ptr::read_volatile(src.add(i)) });
    }
    out
}

/// Volatile read of the first `len` bytes of an MMAP plane mapping.
pub fn plane_read(plane: &v4l2r::ioctl::PlaneMapping, len: usize) -> Vec<u8> {
    let s: &[u8] = plane.as_ref();
    // SAFETY: `s` is the live mapping of the plane; we read within it.
    unsafe { volatile_copy(s.as_ptr(), len.min(s.len())) }
}

/// Result of `fork_process` in the calling process.
pub enum Forked {
    Parent(nix::unistd::Pid),
    Child,
}

/// fork(2): the runner's child per test, and the sigkill path's queue
/// owner inside it.
pub fn fork_process() -> Result<Forked, Errno> {
    // SAFETY: the suite binaries are single-threaded when they fork (the
    // runner between tests; a test before it starts any thread), so the
    // child inherits no lock another thread holds. The runner's unit tests
    // fork from libtest's threaded process: there the children run small
    // closures that take no lock but malloc's, which glibc's fork() leaves
    // usable in the child. Every child ends with `_exit`.
    match unsafe { nix::unistd::fork() }? {
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child)),
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
    }
}

/// Give `signals` their default action again (a forked test child, which
/// must not inherit the runner's stop-request handlers: Ctrl-C ends it).
pub fn default_signal_actions(signals: &[i32]) -> Result<(), Errno> {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let dfl = SigAction::new(SigHandler::SigDfl, SaFlags::empty(), SigSet::empty());
    for &sig in signals {
        let sig = Signal::try_from(sig)?;
        // SAFETY: SIG_DFL installs no handler code of ours, so nothing can
        // run in signal context; the old action is dropped unused.
        unsafe { sigaction(sig, &dfl) }?;
    }
    Ok(())
}

/// `_exit(2)` for a forked child: no atexit handlers, no stdio flush of
/// buffers inherited from the parent.
pub fn child_exit(code: i32) -> ! {
    // SAFETY: _exit is always safe to call; it does not return.
    unsafe { libc::_exit(code) }
}

/// fstat(2) inode number: how debugfs bufinfo names a dma-buf.
pub fn inode_of(fd: impl AsFd) -> Result<u64, Errno> {
    Ok(nix::sys::stat::fstat(fd.as_fd().as_raw_fd())?.st_ino)
}

/// `pidfd_open(2)`: a pidfd for process `pid` (Linux >= 5.3).
pub fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: plain integer arguments; on success the kernel returns a new
    // fd that nobody else owns.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    let fd = RawFd::try_from(Errno::result(fd)?).map_err(|_| Errno::EBADF)?;
    // SAFETY: see above: a fresh fd, owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pidfd_getfd(2)`: a duplicate of fd `target_fd` of the process behind
/// `pidfd` (Linux >= 5.6; needs PTRACE_MODE_ATTACH over it: root, or the
/// same user without Yama restrictions).
pub fn pidfd_getfd(pidfd: BorrowedFd<'_>, target_fd: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: plain integer arguments; on success the kernel installs a new
    // fd that nobody else owns.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), target_fd, 0u32) };
    let fd = RawFd::try_from(Errno::result(fd)?).map_err(|_| Errno::EBADF)?;
    // SAFETY: see above: a fresh fd, owned from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// CLOCK_MONOTONIC in ns: the clock dma-fence timestamps use (ktime_get).
pub fn monotonic_ns() -> u64 {
    match nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC) {
        Ok(ts) => ts.tv_sec() as u64 * 1_000_000_000 + ts.tv_nsec() as u64,
        Err(_) => 0,
    }
}

/// Send one byte and, optionally, one fd over a UNIX socket (SCM_RIGHTS).
pub fn send_fd(sock: BorrowedFd<'_>, fd: Option<BorrowedFd<'_>>, tag: u8) -> Result<(), Errno> {
    use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, UnixAddr};
    let buf = [tag];
    let iov = [std::io::IoSlice::new(&buf)];
    let raw;
    let cmsgs: Vec<ControlMessage<'_>> = match fd {
        Some(f) => {
            raw = [f.as_raw_fd()];
            vec![ControlMessage::ScmRights(&raw)]
        }
        None => vec![],
    };
    sendmsg::<UnixAddr>(sock.as_raw_fd(), &iov, &cmsgs, MsgFlags::empty(), None).map(drop)
}

/// Receive one byte and the fd sent with it, if any. `Ok(None)` on EOF.
pub fn recv_fd(sock: BorrowedFd<'_>) -> Result<Option<(u8, Option<OwnedFd>)>, Errno> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, UnixAddr};
    let mut buf = [0u8; 1];
    let mut cmsg = nix::cmsg_space!([RawFd; 1]);
    let mut iov = [std::io::IoSliceMut::new(&mut buf)];
    let msg = recvmsg::<UnixAddr>(
        sock.as_raw_fd(),
        &mut iov,
        Some(&mut cmsg),
        MsgFlags::MSG_CMSG_CLOEXEC,
    )?;
    if msg.bytes == 0 {
        return Ok(None);
    }
    let mut got = None;
    for c in msg.cmsgs() {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for f in fds {
                // SAFETY: SCM_RIGHTS installed this fd in our table just now;
                // nothing else owns it. Extra fds (none expected) are closed
                // when their OwnedFd drops.
                let owned = unsafe { OwnedFd::from_raw_fd(f) };
                if got.is_none() {
                    got = Some(owned);
                }
            }
        }
    }
    Ok(Some((buf[0], got)))
}
