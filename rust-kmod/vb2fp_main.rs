// SPDX-License-Identifier: GPL-2.0

//! vb2_fence_probe: an independent witness of where videobuf2 publishes dma_fences.
//!
//! The module probes the `vb2_fence_arm`, `vb2_fence_skip` and `vb2_fence_signal` tracepoints
//! of the "opt-in dma_resv producer fences" series, and videobuf2's own `vb2_dqbuf` (so a reader
//! can tell whether a buffer reached userspace before its fence signalled), and keeps a bounded,
//! ordered ring of what they reported. It also answers, for a dma-buf fd handed to it, which fences sit on that buffer's
//! reservation object right now. Both are exposed through `/dev/vb2_fence_probe` (mode 0600);
//! README.md documents the interface. Records hold dma-buf inode numbers, fence contexts and
//! seqnos, never kernel pointers.
//!
//! Rust-for-Linux has no videobuf2/dma_fence/dma_resv bindings, so `vb2fp_shim.c` (linked into
//! the same module) registers the probes, copies the tracepoint arguments into [`Event`] and walks
//! reservation objects. Everything else lives here.

use core::{
    ffi::{c_int, c_ulong, c_void},
    fmt::{self, Write},
    mem::size_of,
};
use kernel::{
    bindings,
    error::to_result,
    fs::{File, Kiocb},
    ioctl::{_IO, _IOWR},
    iov::IovIterDest,
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    new_mutex,
    prelude::*,
    sync::{
        lock::{Backend, Lock},
        Arc, Mutex,
    },
    transmute::{AsBytes, FromBytes},
    types::Opaque,
    uaccess::{UserPtr, UserSlice},
};

module! {
    type: Vb2FenceProbe,
    name: "vb2_fence_probe",
    authors: ["linux-fresnel-fourier"],
    description: "Records vb2 dma_fence arm/skip/signal and DQBUF events and dma-buf reservations",
    license: "GPL",
    // dma_buf_get()/dma_buf_put(), called from the shim, are exported in this namespace.
    imports_ns: ["DMA_BUF"],
}

/// Records kept; older ones are overwritten (and counted) when the ring is full.
const RING_CAPACITY: usize = 4096;

/// Fences fetched on the first walk of a reservation; retried larger if there are more.
const QUERY_FIRST_ROOM: usize = 64;

/// Walks of a reservation before giving up on a fence count that keeps growing.
const QUERY_TRIES: u32 = 4;

const VB2FP_IOC_RESET: u32 = _IO('V' as u32, 0xF0);
const VB2FP_IOC_QUERY: u32 = _IOWR::<Query>('V' as u32, 0xF1);

const EV_ARM: u32 = 0;
const EV_SKIP: u32 = 1;
const EV_SIGNAL: u32 = 2;
const EV_DQBUF: u32 = 3;
const FIELD_NONE: u32 = u32::MAX;
const NAME_LEN: usize = 32;

/// One tracepoint hit as copied by the C probes (`struct vb2fp_event` in vb2fp_shim.h).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Event {
    ts_ns: u64,
    ino: u64,
    context: u64,
    seqno: u64,
    kind: u32,
    buf_type: u32,
    index: u32,
    plane: u32,
    usage: u32,
    error: i32,
    queue: [u8; NAME_LEN],
    reason: [u8; NAME_LEN],
}

impl Event {
    const EMPTY: Self = Self {
        ts_ns: 0,
        ino: 0,
        context: 0,
        seqno: 0,
        kind: 0,
        buf_type: 0,
        index: 0,
        plane: FIELD_NONE,
        usage: FIELD_NONE,
        error: 0,
        queue: [0; NAME_LEN],
        reason: [0; NAME_LEN],
    };
}

/// `struct vb2fp_fence` of the user ABI (vb2_fence_probe_uapi.h).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct FenceInfo {
    context: u64,
    seqno: u64,
    usage: u32,
    signaled: u32,
    error: i32,
    pad: u32,
    driver: [u8; NAME_LEN],
    timeline: [u8; NAME_LEN],
}

impl FenceInfo {
    const ZERO: Self = Self {
        context: 0,
        seqno: 0,
        usage: 0,
        signaled: 0,
        error: 0,
        pad: 0,
        driver: [0; NAME_LEN],
        timeline: [0; NAME_LEN],
    };
}

/// `struct vb2fp_query` of the user ABI (vb2_fence_probe_uapi.h).
#[repr(C)]
#[derive(Clone, Copy)]
struct Query {
    fd: i32,
    capacity: u32,
    count: u32,
    pad: u32,
    entries: u64,
}

// The C and Rust views of the shared structs must agree byte for byte.
const _: () = assert!(size_of::<Event>() == 120);
const _: () = assert!(size_of::<FenceInfo>() == 96);
const _: () = assert!(size_of::<Query>() == 24);

// SAFETY: `FenceInfo` is `repr(C)`, made of integers and byte arrays with no padding (asserted
// size 96 = 8+8+4+4+4+4+32+32), so every byte is initialised; it has no interior mutability.
unsafe impl AsBytes for FenceInfo {}
// SAFETY: `Query` is `repr(C)`, integers only, no padding (24 = 4+4+4+4+8).
unsafe impl AsBytes for Query {}
// SAFETY: any bit pattern is a valid `Query` (integers only).
unsafe impl FromBytes for Query {}

extern "C" {
    fn vb2fp_probes_register(data: *mut c_void) -> c_int;
    fn vb2fp_probes_unregister(data: *mut c_void);
    fn vb2fp_query_resv(fd: c_int, out: *mut FenceInfo, capacity: u32, count: *mut u32) -> c_int;
    fn vb2fp_spin_lock_irqsave(lock: *mut bindings::spinlock_t) -> c_ulong;
    fn vb2fp_spin_unlock_irqrestore(lock: *mut bindings::spinlock_t, flags: c_ulong);
    fn vb2fp_spin_trylock_irqsave(lock: *mut bindings::spinlock_t, flags: *mut c_ulong) -> c_int;
}

/// A `spinlock_t` taken with `spin_lock_irqsave()`.
///
/// The probes run in whatever context `vb2_buffer_done()` runs, including hard IRQ (hantro, rga),
/// so every other holder of the ring lock must keep interrupts off or it could deadlock against
/// a probe on its own CPU. 7.2's `SpinLock` has no irqsave flavour; the macros are wrapped in C.
pub struct IrqSaveSpinBackend;

// SAFETY: `lock`/`unlock` are `spin_lock_irqsave()`/`spin_unlock_irqrestore()` on the same
// initialised `spinlock_t`, which guarantee mutual exclusion; the saved flags travel in the guard
// state so they are restored by the matching unlock.
unsafe impl Backend for IrqSaveSpinBackend {
    type State = bindings::spinlock_t;
    type GuardState = c_ulong;

    unsafe fn init(
        ptr: *mut Self::State,
        name: *const kernel::ffi::c_char,
        key: *mut bindings::lock_class_key,
    ) {
        // SAFETY: the caller guarantees `ptr` is valid for writes and `name`/`key` live forever.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: the caller guarantees `ptr` points to an initialised spinlock.
        unsafe { vb2fp_spin_lock_irqsave(ptr) }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        let mut flags: c_ulong = 0;
        // SAFETY: `ptr` is an initialised spinlock (caller) and `flags` is a valid out-pointer.
        if unsafe { vb2fp_spin_trylock_irqsave(ptr, &mut flags) } != 0 {
            Some(flags)
        } else {
            None
        }
    }

    unsafe fn unlock(ptr: *mut Self::State, guard_state: &Self::GuardState) {
        // SAFETY: the caller holds the lock, taken by `lock`/`try_lock` which produced the flags.
        unsafe { vb2fp_spin_unlock_irqrestore(ptr, *guard_state) }
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: the caller guarantees `ptr` points to an initialised spinlock.
        unsafe { bindings::spin_assert_is_held(ptr) }
    }
}

#[derive(Clone, Copy)]
struct Record {
    seq: u64,
    ev: Event,
}

/// Fixed-size ring of records. All memory is allocated at load time: `push` runs in the probes,
/// possibly in hard IRQ context, and must not allocate.
struct Ring {
    slots: KVVec<Record>,
    /// Index of the oldest record.
    head: usize,
    len: usize,
    /// Sequence number of the next record; never reset, so gaps show what was lost.
    next_seq: u64,
    /// Records overwritten since load or the last reset.
    dropped: u64,
}

impl Ring {
    fn new() -> Result<Self> {
        let empty = Record {
            seq: 0,
            ev: Event::EMPTY,
        };
        Ok(Self {
            slots: KVVec::from_elem(empty, RING_CAPACITY, GFP_KERNEL)?,
            head: 0,
            len: 0,
            next_seq: 0,
            dropped: 0,
        })
    }

    /// Slot of the record `offset` places after the oldest. `checked_rem` rather than `%`: no
    /// division-by-zero panic path in code that runs in the probes.
    fn slot(&self, offset: usize) -> Option<usize> {
        self.head.checked_add(offset)?.checked_rem(self.slots.len())
    }

    fn push(&mut self, ev: &Event) {
        // Keep the newest records: a test resets the ring, runs, then reads, so what matters is
        // the end of the run; the loss is reported, never silent.
        if self.len == self.slots.len() {
            match self.slot(1) {
                Some(next) if self.len > 0 => {
                    self.head = next;
                    self.len -= 1;
                }
                // No slots at all: nothing can be kept.
                _ => {
                    self.dropped = self.dropped.saturating_add(1);
                    return;
                }
            }
            self.dropped = self.dropped.saturating_add(1);
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.wrapping_add(1);
        if let Some(idx) = self.slot(self.len) {
            if let Some(slot) = self.slots.get_mut(idx) {
                *slot = Record { seq, ev: *ev };
                self.len += 1;
            }
        }
    }

    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
        self.dropped = 0;
    }

    fn iter(&self) -> impl Iterator<Item = &Record> + '_ {
        (0..self.len).filter_map(move |i| self.slots.get(self.slot(i)?))
    }
}

/// State shared by the probes and every open file.
#[pin_data]
struct Shared {
    #[pin]
    ring: Lock<Ring, IrqSaveSpinBackend>,
}

impl Shared {
    fn new() -> Result<Arc<Self>> {
        let ring = Ring::new()?;
        Arc::pin_init(
            pin_init!(Shared {
                ring <- Lock::new(ring, c"vb2fp_ring", kernel::static_lock_class!()),
            }),
            GFP_KERNEL,
        )
    }
}

/// Called by the C probes for every tracepoint hit, in any context up to hard IRQ.
///
/// # Safety
///
/// `data` must be the pointer given to `vb2fp_probes_register()` (a live `Shared`) and `ev` must
/// point to a valid `Event` for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn vb2fp_rust_record(data: *mut c_void, ev: *const Event) {
    // SAFETY: per the contract above. The module holds the `Arc<Shared>` until
    // `vb2fp_probes_unregister()` has returned, and that waits for running probes.
    let shared = unsafe { &*data.cast::<Shared>() };
    // SAFETY: `ev` is the probe's stack copy, valid for this call.
    let ev = unsafe { &*ev };
    shared.ring.lock().push(ev);
}

/// The module: the misc device, its file operations and the probes.
///
/// The misc device is registered by hand rather than with `MiscDeviceRegistration::register`
/// for what the 7.2 abstraction cannot express: the node must be mode 0600 (the abstraction
/// leaves `miscdevice.mode` 0), the file operations need `.owner = THIS_MODULE` (the abstraction
/// leaves it NULL, Rust-for-Linux issue #1182), without which `rmmod` succeeds while
/// `/dev/vb2_fence_probe` is open and the next `read()` jumps into freed module text, and the
/// file must be seekable. The operations themselves are still the abstraction's vtable for
/// [`OpenFile`], copied once.
#[pin_data(PinnedDrop)]
struct Vb2FenceProbe {
    #[pin]
    misc: Opaque<bindings::miscdevice>,
    #[pin]
    fops: Opaque<bindings::file_operations>,
    shared: Arc<Shared>,
    probes_registered: bool,
    misc_registered: bool,
}

// SAFETY: after init the fields are only read; the miscdevice and fops are owned by the misc
// core while registered, and `misc_register`/`misc_deregister`/the probe (un)registration may be
// called from any thread.
unsafe impl Send for Vb2FenceProbe {}
// SAFETY: see `Send`; `&self` methods only read.
unsafe impl Sync for Vb2FenceProbe {}

impl Vb2FenceProbe {
    fn probe_data(&self) -> *mut c_void {
        Arc::as_ptr(&self.shared).cast_mut().cast()
    }

    /// Second init stage, once `self` is pinned: the registrations point into `self`.
    fn register(self: Pin<&mut Self>, module: &'static ThisModule) -> Result {
        let data = self.probe_data();
        // SAFETY: `data` points to the `Shared` owned by `self.shared`, which outlives the
        // probes: `PinnedDrop` unregisters them (and waits) before the Arc is dropped.
        to_result(unsafe { vb2fp_probes_register(data) }).inspect_err(|e| {
            pr_err!(
                "cannot attach to the vb2_fence_* and vb2_dqbuf tracepoints: {:?}\n",
                e
            );
        })?;
        let this = self.project();
        *this.probes_registered = true;

        let opts = MiscDeviceOptions {
            name: c"vb2_fence_probe",
        };
        let mut raw = opts.into_raw::<OpenFile>();
        // SAFETY: `into_raw` points `fops` at the abstraction's `'static` vtable for `OpenFile`.
        let mut fops = unsafe { core::ptr::read(raw.fops) };
        fops.owner = module.as_ptr();
        // The abstraction sets no `llseek`, which makes the file unseekable (ESPIPE); seeking
        // back to 0 is how a reader asks for a fresh snapshot (see `read_iter`).
        fops.llseek = Some(bindings::default_llseek);
        let fops_slot = this.fops.get();
        // SAFETY: `fops_slot` is valid, pinned memory owned by `self`; nothing uses it yet.
        unsafe { fops_slot.write(fops) };
        raw.fops = fops_slot;
        raw.mode = 0o600;
        let misc_slot = this.misc.get();
        // SAFETY: `misc_slot` is pinned memory owned by `self` and outlives the registration
        // (`PinnedDrop` deregisters it). The open callback of the copied vtable casts the
        // miscdevice pointer to `&MiscDeviceRegistration<OpenFile>`, a `repr(transparent)`
        // wrapper of `Opaque<miscdevice>`: that is exactly what `misc_slot` holds.
        unsafe { misc_slot.write(raw) };
        // SAFETY: `misc_slot` holds a fully initialised miscdevice (see above).
        to_result(unsafe { bindings::misc_register(misc_slot) })?;
        *this.misc_registered = true;
        pr_info!(
            "probing vb2_fence_{{arm,skip,signal}} and vb2_dqbuf; /dev/vb2_fence_probe ready\n"
        );
        Ok(())
    }
}

impl kernel::InPlaceModule for Vb2FenceProbe {
    fn init(module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            misc: Opaque::zeroed(),
            fops: Opaque::zeroed(),
            shared: Shared::new()?,
            probes_registered: false,
            misc_registered: false,
        })
        .pin_chain(move |this| this.register(module))
    }
}

#[pinned_drop]
impl PinnedDrop for Vb2FenceProbe {
    fn drop(self: Pin<&mut Self>) {
        // Device first: no new file can reach the ring. Open files cannot exist here, since
        // each holds a module reference through `fops.owner`, and they would keep their own
        // `Arc<Shared>` anyway.
        if self.misc_registered {
            // SAFETY: registered in `register` and not yet deregistered.
            unsafe { bindings::misc_deregister(self.misc.get()) };
        }
        if self.probes_registered {
            // SAFETY: same pointer as at registration; this also waits for running probes
            // (tracepoint_synchronize_unregister), so `shared` can be dropped after it.
            unsafe { vb2fp_probes_unregister(self.probe_data()) };
        }
    }
}

/// Per-open state: the rendered text of the last snapshot, so a `read()` loop sees one
/// consistent snapshot; reading from offset 0 takes a new one.
#[pin_data]
struct OpenFile {
    shared: Arc<Shared>,
    #[pin]
    text: Mutex<KVVec<u8>>,
}

#[vtable]
impl MiscDevice for OpenFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        let raw = misc.as_raw().cast::<Opaque<bindings::miscdevice>>();
        // SAFETY: the only miscdevice using this vtable is the `misc` field of the module's
        // `Vb2FenceProbe`, which is pinned and alive while the device is registered.
        let module = unsafe { &*kernel::container_of!(raw, Vb2FenceProbe, misc) };
        let shared = module.shared.clone();
        KBox::try_pin_init(
            try_pin_init!(OpenFile {
                shared,
                text <- new_mutex!(KVVec::new()),
            }),
            GFP_KERNEL,
        )
    }

    fn read_iter(mut kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterDest<'_>) -> Result<usize> {
        let me = kiocb.file();
        let mut text = me.text.lock();
        if *kiocb.ki_pos_mut() == 0 {
            me.render(&mut text)?;
        }
        iov.simple_read_from_buffer(kiocb.ki_pos_mut(), &text)
    }

    fn ioctl(me: Pin<&OpenFile>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            VB2FP_IOC_RESET => {
                me.shared.ring.lock().clear();
                Ok(0)
            }
            VB2FP_IOC_QUERY => me.query(UserPtr::from_addr(arg)),
            _ => Err(ENOTTY),
        }
    }
}

impl OpenFile {
    /// Copies the ring under its lock (no allocation there), then formats outside it.
    fn render(&self, text: &mut KVVec<u8>) -> Result {
        let mut snap = KVVec::<Record>::with_capacity(RING_CAPACITY, GFP_KERNEL)?;
        let dropped = {
            let ring = self.shared.ring.lock();
            for rec in ring.iter() {
                if snap.push_within_capacity(*rec).is_err() {
                    break;
                }
            }
            ring.dropped
        };

        text.clear();
        let mut out = TextSink(text);
        if dropped != 0 {
            writeln!(out, "overflow dropped={dropped}").map_err(|_| ENOMEM)?;
        }
        for rec in snap.iter() {
            write_record(&mut out, rec).map_err(|_| ENOMEM)?;
        }
        Ok(())
    }

    fn query(&self, arg: UserPtr) -> Result<isize> {
        let (mut reader, mut writer) = UserSlice::new(arg, size_of::<Query>()).reader_writer();
        let mut q: Query = reader.read()?;
        if q.pad != 0 {
            return Err(EINVAL);
        }
        let capacity = usize::try_from(q.capacity).map_err(|_| EINVAL)?;

        // The fences are copied into kernel memory under the reservation lock and to the user
        // after it is dropped. Start small; if the reservation holds more than fit and the user
        // has room for more, walk again with the size just seen.
        let mut room = capacity.min(QUERY_FIRST_ROOM);
        let mut tries = 0;
        let (fences, count) = loop {
            let mut buf = KVVec::from_elem(FenceInfo::ZERO, room, GFP_KERNEL)?;
            let mut count: u32 = 0;
            let room_u32 = u32::try_from(room).map_err(|_| EINVAL)?;
            // SAFETY: `buf` holds `room` initialised entries and `count` is a valid out-pointer;
            // the C side writes at most `room` entries.
            to_result(unsafe { vb2fp_query_resv(q.fd, buf.as_mut_ptr(), room_u32, &mut count) })?;
            let found = usize::try_from(count).map_err(|_| EINVAL)?;
            tries += 1;
            if found <= room || room == capacity || tries >= QUERY_TRIES {
                buf.truncate(found.min(room));
                break (buf, count);
            }
            room = found.min(capacity);
        };

        if !fences.is_empty() {
            let entries = usize::try_from(q.entries).map_err(|_| EFAULT)?;
            let len = fences.len() * size_of::<FenceInfo>();
            let mut out = UserSlice::new(UserPtr::from_addr(entries), len).writer();
            for fence in fences.iter() {
                out.write(fence)?;
            }
        }
        q.count = count;
        writer.write(&q)?;
        Ok(0)
    }
}

/// `fmt::Write` into a growable byte buffer (process context only).
struct TextSink<'a>(&'a mut KVVec<u8>);

impl Write for TextSink<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| fmt::Error)
    }
}

/// A NUL-terminated name from a fixed buffer, made safe for the `key=value` format: anything
/// but printable ASCII other than `=` becomes `_`, an empty name prints as `-`.
struct Name<'a>(&'a [u8; NAME_LEN]);

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
        if end == 0 {
            return f.write_char('-');
        }
        for &b in &self.0[..end] {
            let c = if b.is_ascii_graphic() && b != b'=' {
                char::from(b)
            } else {
                '_'
            };
            f.write_char(c)?;
        }
        Ok(())
    }
}

/// A field that only some events carry: the value, or `-`.
struct Opt<T>(Option<T>);

impl<T: fmt::Display> fmt::Display for Opt<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(v) => v.fmt(f),
            None => f.write_char('-'),
        }
    }
}

fn usage_name(usage: u32) -> &'static str {
    match usage {
        0 => "kernel",
        1 => "write",
        2 => "read",
        3 => "bookkeep",
        _ => "-",
    }
}

fn write_record(out: &mut impl Write, rec: &Record) -> fmt::Result {
    let ev = &rec.ev;
    let (event, has_plane, has_ino, has_fence, has_error) = match ev.kind {
        EV_ARM => ("arm", true, true, true, false),
        EV_SKIP => ("skip", true, false, false, false),
        EV_SIGNAL => ("signal", false, false, true, true),
        EV_DQBUF => ("dqbuf", false, false, false, false),
        _ => ("unknown", false, false, false, false),
    };
    let plane = (has_plane && ev.plane != FIELD_NONE).then_some(ev.plane);
    let reason = if ev.kind == EV_SKIP {
        Name(&ev.reason)
    } else {
        Name(&[0; NAME_LEN])
    };
    writeln!(
        out,
        "seq={} ts_ns={} event={} queue={} type={} index={} plane={} ino={} ctx={} seqno={} \
         usage={} reason={} error={}",
        rec.seq,
        ev.ts_ns,
        event,
        Name(&ev.queue),
        ev.buf_type,
        ev.index,
        Opt(plane),
        Opt(has_ino.then_some(ev.ino)),
        Opt(has_fence.then_some(ev.context)),
        Opt(has_fence.then_some(ev.seqno)),
        usage_name(ev.usage),
        reason,
        Opt(has_error.then_some(ev.error)),
    )
}
