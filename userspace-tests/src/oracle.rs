//! The three oracles: debugfs bufinfo, poll()+sync_file, rust-kmod.
//! Each one alone can say "pending fence of usage U on this dma-buf"; the
//! checks below require every available oracle to agree.

use std::fs::File;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::parse::{
    parse_bufinfo, parse_kmod_records, BufinfoFence, BufinfoObject, KmodRecord, Usage,
};
use crate::sys;

pub const BUFINFO: &str = "/sys/kernel/debug/dma_buf/bufinfo";
pub const KMOD_DEV: &str = "/dev/vb2_fence_probe";
/// Driver name of fences published by the series (docs/interfaces.md).
pub const VB2_DRIVER: &str = "vb2";

/// Which oracles this run can use, with the reason when one cannot.
pub struct Oracles {
    pub bufinfo: std::result::Result<(), String>,
    pub kmod: std::result::Result<File, String>,
}

impl Oracles {
    pub fn probe() -> Self {
        let bufinfo = match std::fs::read_to_string(BUFINFO) {
            Ok(t) => parse_bufinfo(&t)
                .map(drop)
                .map_err(|e| format!("{BUFINFO} does not parse: {e}")),
            Err(e) => Err(format!(
                "{BUFINFO} unreadable ({e}); mount debugfs at /sys/kernel/debug as root"
            )),
        };
        let kmod = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(KMOD_DEV)
            .map_err(|e| format!("{KMOD_DEV} unavailable ({e}); load rust-kmod to enable it"));
        Self { bufinfo, kmod }
    }

    /// Whether an oracle that lists signalled fences still on a
    /// reservation is available (poll and sync_file only see pending ones).
    pub fn lists_signalled(&self) -> bool {
        self.bufinfo.is_ok() || self.kmod.is_ok()
    }
}

/// What a sync_file exported from the dma-buf says.
#[derive(Clone, Debug)]
pub struct SyncView {
    pub status: i32,
    pub fences: Vec<sys::SyncFenceInfo>,
}

impl SyncView {
    pub fn pending_vb2(&self) -> bool {
        self.status == 0
            && self
                .fences
                .iter()
                .any(|f| f.status == 0 && f.driver_name == VB2_DRIVER)
    }

    pub fn describe(&self) -> String {
        let f: Vec<String> = self
            .fences
            .iter()
            .map(|f| {
                format!(
                    "{}/{} status={} ts={}",
                    f.driver_name, f.obj_name, f.status, f.timestamp_ns
                )
            })
            .collect();
        format!("status={} [{}]", self.status, f.join(", "))
    }
}

/// Export a sync_file with `flags` (DMA_BUF_SYNC_READ: the write fences;
/// DMA_BUF_SYNC_WRITE: all fences) and read it back.
pub fn sync_view(buf: BorrowedFd<'_>, flags: u32) -> Result<(OwnedFd, SyncView)> {
    let sf = sys::dma_buf_export_sync_file(buf, flags)
        .context("DMA_BUF_IOCTL_EXPORT_SYNC_FILE (kernel needs CONFIG_SYNC_FILE, >= 6.0)")?;
    let (status, fences) = sys::sync_file_info(sf.as_fd()).context("SYNC_IOC_FILE_INFO")?;
    Ok((sf, SyncView { status, fences }))
}

/// poll() with a zero timeout: (POLLIN ready, POLLOUT ready).
/// dma_buf_poll: POLLIN waits for WRITE fences, POLLOUT for all fences.
pub fn poll_now(buf: BorrowedFd<'_>) -> Result<(bool, bool)> {
    let mut fds = [PollFd::new(buf, PollFlags::POLLIN | PollFlags::POLLOUT)];
    nix::poll::poll(&mut fds, PollTimeout::ZERO).context("poll(dma-buf)")?;
    let r = fds[0].revents().unwrap_or(PollFlags::empty());
    Ok((
        r.contains(PollFlags::POLLIN),
        r.contains(PollFlags::POLLOUT),
    ))
}

/// Wait until `fd` reports `ev` (bounded).
pub fn poll_wait(fd: BorrowedFd<'_>, ev: PollFlags, timeout: Duration) -> Result<bool> {
    let start = std::time::Instant::now();
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        let mut fds = [PollFd::new(fd, ev)];
        let t = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
        match nix::poll::poll(&mut fds, t) {
            Ok(0) => return Ok(false),
            Ok(_) => {
                let r = fds[0].revents().unwrap_or(PollFlags::empty());
                if r.intersects(ev) {
                    return Ok(true);
                }
                if r.intersects(PollFlags::POLLERR | PollFlags::POLLNVAL) {
                    bail!("poll reported {r:?}");
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e).context("poll"),
        }
        if start.elapsed() >= timeout {
            return Ok(false);
        }
    }
}

/// The bufinfo entry of the dma-buf `buf` (matched by inode).
pub fn bufinfo_entry(buf: BorrowedFd<'_>) -> Result<Option<BufinfoObject>> {
    let ino = sys::inode_of(buf).context("fstat(dma-buf)")?;
    let text = std::fs::read_to_string(BUFINFO).with_context(|| format!("read {BUFINFO}"))?;
    let objs = parse_bufinfo(&text)?;
    Ok(objs.into_iter().find(|o| o.ino == ino))
}

/// One look at a dma-buf through every available oracle.
#[derive(Clone, Debug)]
pub struct Observation {
    pub ino: u64,
    pub poll_in: bool,
    pub poll_out: bool,
    /// Write fences (export with SYNC_READ).
    pub sync_writers: SyncView,
    /// All fences (export with SYNC_WRITE).
    pub sync_all: SyncView,
    pub bufinfo: Option<BufinfoObject>,
    pub bufinfo_used: bool,
    pub kmod: Option<Vec<sys::KmodFence>>,
    pub at_ns: u64,
    /// Inodes an `event=arm` record of this buffer's fence may carry
    /// (default: the observed fd's own; see `Observation::holding`).
    pub arm_ino: ArmIno,
}

/// Sync files kept from an observation so their fences can be followed to
/// signalled later.
pub struct HeldSync {
    pub writers: OwnedFd,
    pub all: OwnedFd,
}

pub fn observe(or: &Oracles, buf: BorrowedFd<'_>) -> Result<(Observation, HeldSync)> {
    let at_ns = sys::monotonic_ns();
    let ino = sys::inode_of(buf).context("fstat(dma-buf)")?;
    let (poll_in, poll_out) = poll_now(buf)?;
    let (w_fd, sync_writers) = sync_view(buf, sys::DMA_BUF_SYNC_READ as u32)?;
    let (a_fd, sync_all) = sync_view(buf, sys::DMA_BUF_SYNC_WRITE as u32)?;
    let (bufinfo, bufinfo_used) = match &or.bufinfo {
        Ok(()) => (bufinfo_entry(buf)?, true),
        Err(_) => (None, false),
    };
    let kmod = match &or.kmod {
        Ok(f) => Some(sys::vb2fp_query(f.as_fd(), buf).context("VB2FP_IOC_QUERY")?),
        Err(_) => None,
    };
    Ok((
        Observation {
            ino,
            poll_in,
            poll_out,
            sync_writers,
            sync_all,
            bufinfo,
            bufinfo_used,
            kmod,
            at_ns,
            arm_ino: ArmIno {
                held: vec![ino],
                exported_after_arm: false,
                resvs: 1,
            },
        },
        HeldSync {
            writers: w_fd,
            all: a_fd,
        },
    ))
}

impl Observation {
    fn bufinfo_pending(&self) -> Vec<&BufinfoFence> {
        self.bufinfo
            .as_ref()
            .map(|o| o.fences.iter().filter(|f| !f.signalled).collect())
            .unwrap_or_default()
    }

    pub fn summary(&self) -> String {
        let bi = if !self.bufinfo_used {
            "bufinfo=n/a".to_string()
        } else {
            match &self.bufinfo {
                None => "bufinfo=no entry".into(),
                Some(o) => format!(
                    "bufinfo=[{}]",
                    o.fences
                        .iter()
                        .map(|f| format!(
                            "{} {}:{} {}/{} {}",
                            f.usage.name(),
                            f.context,
                            f.seqno,
                            f.driver,
                            f.timeline,
                            if f.signalled {
                                "signalled"
                            } else {
                                "unsignalled"
                            }
                        ))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        };
        let km = match &self.kmod {
            None => "kmod=n/a".into(),
            Some(v) => format!(
                "kmod=[{}]",
                v.iter()
                    .map(|f| format!(
                        "u{} {}:{} {} sig={} err={}",
                        f.usage, f.context, f.seqno, f.driver, f.signaled, f.error
                    ))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        format!(
            "ino={} poll(in={},out={}) sync_writers {} sync_all {} {} {}",
            self.ino,
            self.poll_in,
            self.poll_out,
            self.sync_writers.describe(),
            self.sync_all.describe(),
            bi,
            km
        )
    }

    /// Every available oracle sees an unsignalled vb2 fence of `usage` on
    /// this buffer, and they agree on which fence it is. Returns the
    /// (context, seqno) when an oracle that knows it is available.
    pub fn expect_pending(&self, usage: Usage) -> Result<Option<(u64, u64)>> {
        let ctx = || self.summary();
        // poll + sync_file oracle.
        match usage {
            Usage::Write => {
                if self.poll_in || self.poll_out {
                    bail!("poll says idle for a pending WRITE fence: {}", ctx());
                }
                if !self.sync_writers.pending_vb2() {
                    bail!("EXPORT_SYNC_FILE(READ) has no pending vb2 fence: {}", ctx());
                }
            }
            Usage::Read => {
                if !self.poll_in {
                    bail!(
                        "POLLIN busy: a WRITE fence where a READ fence was expected: {}",
                        ctx()
                    );
                }
                if self.poll_out {
                    bail!("POLLOUT ready: no pending READ fence: {}", ctx());
                }
                if self.sync_writers.pending_vb2() {
                    bail!("EXPORT_SYNC_FILE(READ) shows a pending writer: {}", ctx());
                }
                if !self.sync_all.pending_vb2() {
                    bail!(
                        "EXPORT_SYNC_FILE(WRITE) has no pending vb2 fence: {}",
                        ctx()
                    );
                }
            }
            _ => bail!("unexpected usage {usage:?} asked"),
        }
        let mut id = None;
        // bufinfo oracle.
        if self.bufinfo_used {
            let Some(obj) = &self.bufinfo else {
                bail!("bufinfo has no entry for inode {}: {}", self.ino, ctx());
            };
            let hit: Vec<_> = obj
                .fences
                .iter()
                .filter(|f| !f.signalled && f.usage == usage && f.driver == VB2_DRIVER)
                .collect();
            if hit.len() != 1 {
                bail!(
                    "bufinfo: expected exactly one unsignalled {} vb2 fence, found {}: {}",
                    usage.name(),
                    hit.len(),
                    ctx()
                );
            }
            id = Some((hit[0].context, hit[0].seqno));
        }
        // rust-kmod oracle.
        if let Some(k) = &self.kmod {
            let hit: Vec<_> = k
                .iter()
                .filter(|f| {
                    !f.signaled
                        && Usage::from_kmod(f.usage) == Some(usage)
                        && f.driver == VB2_DRIVER
                })
                .collect();
            if hit.len() != 1 {
                bail!(
                    "kmod: expected exactly one unsignalled {} vb2 fence, found {}: {}",
                    usage.name(),
                    hit.len(),
                    ctx()
                );
            }
            let kid = (hit[0].context, hit[0].seqno);
            if let Some(bid) = id {
                if bid != kid {
                    bail!("oracles disagree: bufinfo fence {bid:?} vs kmod {kid:?}");
                }
            }
            // Only the arm is asked for: the fence may signal any moment
            // after the QUERY above, so a signal record proves nothing.
            self.expect_kmod_records(kid, usage, Signal::Unchecked)?;
            id = Some(kid);
        }
        Ok(id)
    }

    /// Nothing pending on this buffer, by every available oracle.
    pub fn expect_idle(&self) -> Result<()> {
        let ctx = || self.summary();
        if !(self.poll_in && self.poll_out) {
            bail!("poll says busy: {}", ctx());
        }
        if self.sync_all.status == 0 {
            bail!("EXPORT_SYNC_FILE(WRITE) is not signalled: {}", ctx());
        }
        if !self.bufinfo_pending().is_empty() {
            bail!("bufinfo lists an unsignalled fence: {}", ctx());
        }
        if let Some(k) = &self.kmod {
            if k.iter().any(|f| !f.signaled) {
                bail!("kmod lists an unsignalled fence: {}", ctx());
            }
        }
        Ok(())
    }

    /// Nothing at all on the reservation, not even a signalled fence.
    pub fn expect_no_fences(&self) -> Result<()> {
        self.expect_idle()?;
        if self.bufinfo_used {
            match &self.bufinfo {
                None => bail!(
                    "bufinfo has no entry for inode {}: {}",
                    self.ino,
                    self.summary()
                ),
                Some(o) if !o.fences.is_empty() => {
                    bail!("bufinfo lists a fence: {}", self.summary())
                }
                Some(_) => {}
            }
        }
        if let Some(k) = &self.kmod {
            if !k.is_empty() {
                bail!("kmod lists a fence: {}", self.summary());
            }
        }
        Ok(())
    }

    /// After a job that signalled before userspace could look (it ran
    /// inside an ioctl): poll and sync_file say idle, and every oracle
    /// that lists signalled fences shows exactly one fence on the
    /// reservation, of `usage`, signalled (kmod: without error), the same
    /// (context, seqno) for all of them. The caller makes sure one such
    /// oracle is available (`Oracles::lists_signalled`).
    pub fn expect_one_signalled(&self, usage: Usage) -> Result<(u64, u64)> {
        self.expect_one_signalled_with(usage, 0)
    }

    /// As `expect_one_signalled`, but the fence must carry `error` (0: none)
    /// where an oracle reports it (kmod). A signalled fence is invisible to
    /// poll and EXPORT_SYNC_FILE (the stub has status 1), so with an
    /// expected error only "not pending" is asked of them.
    pub fn expect_one_signalled_with(&self, usage: Usage, error: i32) -> Result<(u64, u64)> {
        self.expect_idle()?;
        if error == 0 && (self.sync_all.status != 1 || self.sync_writers.status != 1) {
            bail!(
                "EXPORT_SYNC_FILE reports an error status: {}",
                self.summary()
            );
        }
        let mut id = None;
        if self.bufinfo_used {
            let Some(obj) = &self.bufinfo else {
                bail!(
                    "bufinfo has no entry for inode {}: {}",
                    self.ino,
                    self.summary()
                );
            };
            match obj.fences.as_slice() {
                [f] if f.usage == usage && f.signalled => id = Some((f.context, f.seqno)),
                _ => bail!(
                    "bufinfo: expected exactly one signalled {} fence, found {}: {}",
                    usage.name(),
                    obj.fences.len(),
                    self.summary()
                ),
            }
        }
        if let Some(k) = &self.kmod {
            match k.as_slice() {
                [f] if Usage::from_kmod(f.usage) == Some(usage) && f.signaled => {
                    if f.error != error {
                        bail!(
                            "kmod: fence signalled with error {}, expected {error}: {}",
                            f.error,
                            self.summary()
                        );
                    }
                    let kid = (f.context, f.seqno);
                    if let Some(bid) = id {
                        if bid != kid {
                            bail!("oracles disagree: bufinfo fence {bid:?} vs kmod {kid:?}");
                        }
                    }
                    self.expect_kmod_records(kid, usage, Signal::Error(error))?;
                    id = Some(kid);
                }
                _ => bail!(
                    "kmod: expected exactly one signalled {} fence, found {}: {}",
                    usage.name(),
                    k.len(),
                    self.summary()
                ),
            }
        }
        id.ok_or_else(|| anyhow!("no oracle lists signalled fences (bufinfo, vb2_fence_probe)"))
    }

    /// The fence `id` seen pending earlier is now signalled (bufinfo keeps
    /// signalled fences on the resv until replaced) with the expected error
    /// class, and nothing is pending.
    pub fn expect_signalled(&self, id: Option<(u64, u64)>, want_error: bool) -> Result<()> {
        self.expect_idle()?;
        let Some((c, s)) = id else { return Ok(()) };
        if self.bufinfo_used {
            let found = self
                .bufinfo
                .as_ref()
                .map(|o| {
                    o.fences
                        .iter()
                        .any(|f| f.context == c && f.seqno == s && f.signalled)
                })
                .unwrap_or(false);
            if !found {
                bail!(
                    "bufinfo lost fence {c}:{s} instead of showing it signalled: {}",
                    self.summary()
                );
            }
        }
        if let Some(k) = &self.kmod {
            match k.iter().find(|f| f.context == c && f.seqno == s) {
                None => bail!("kmod lost fence {c}:{s}: {}", self.summary()),
                Some(f) if want_error && f.error == 0 => {
                    bail!("kmod: fence {c}:{s} signalled without error, expected one")
                }
                Some(f) if !want_error && f.error != 0 => {
                    bail!("kmod: fence {c}:{s} signalled with error {}", f.error)
                }
                Some(f) => {
                    let usage = Usage::from_kmod(f.usage).ok_or_else(|| {
                        anyhow!("kmod: fence {c}:{s} has unknown usage {}", f.usage)
                    })?;
                    let signal = if want_error {
                        Signal::SomeError
                    } else {
                        Signal::Error(0)
                    };
                    self.expect_kmod_records((c, s), usage, signal)?;
                }
            }
        }
        Ok(())
    }

    /// Declare every fd the test holds for this buffer (the arm of an
    /// exported MMAP plane carries the inode of the most recent export,
    /// not necessarily the observed one), and whether the test's first
    /// export of it came after the fence was armed (then the arm carries
    /// ino=0, docs/interfaces.md).
    pub fn holding(mut self, inos: Vec<u64>, exported_after_arm: bool) -> Self {
        self.arm_ino = ArmIno {
            held: inos,
            exported_after_arm,
            resvs: self.arm_ino.resvs,
        };
        self
    }

    /// The job's fence was added to `n` reservation objects (one per
    /// memory plane of its own: a multi-planar MMAP buffer), so it has
    /// `n` arm records, one of which names this buffer's inode.
    pub fn on_resvs(mut self, n: usize) -> Self {
        self.arm_ino.resvs = n;
        self
    }

    /// The rust-kmod record check shared by every assertion above that
    /// names a fence: skipped when the kmod is absent (this observation
    /// did not QUERY it). The tracepoints may write their record just
    /// after the state the other oracles saw changed, so a miss is read
    /// again for a short while before it counts.
    fn expect_kmod_records(&self, id: (u64, u64), usage: Usage, signal: Signal) -> Result<()> {
        if self.kmod.is_none() {
            return Ok(());
        }
        let want = FenceRecords {
            id,
            usage,
            signal,
            arm_ino: &self.arm_ino,
        };
        let deadline = Instant::now() + RECORD_GRACE;
        loop {
            let recs = kmod_records()?;
            match check_fence_records(&recs, &want) {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(anyhow!("{KMOD_DEV}: {e}"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

/// How long a missing or incomplete record set is read again.
const RECORD_GRACE: Duration = Duration::from_millis(500);

/// Which inodes an `event=arm` record of a buffer's fence may carry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArmIno {
    /// fstat().st_ino of every fd the test holds for the buffer.
    pub held: Vec<u64>,
    /// The test exported this MMAP buffer only after the arm: the arm
    /// carries ino=0 (never exported at that time), so 0 is accepted too.
    pub exported_after_arm: bool,
    /// How many reservation objects the fence was added to: one arm
    /// record each (1 unless the buffer has several memory planes).
    pub resvs: usize,
}

/// What the `event=signal` records of a fence must show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// Not asked (the fence may still be pending).
    Unchecked,
    /// Exactly one, with this error (0: normal completion).
    Error(i32),
    /// Exactly one, with some negative error.
    SomeError,
}

/// What the rust-kmod record ring must show about one fence.
#[derive(Clone, Debug)]
pub struct FenceRecords<'a> {
    pub id: (u64, u64),
    pub usage: Usage,
    pub signal: Signal,
    pub arm_ino: &'a ArmIno,
}

/// A record rendered back as the line the kmod printed (for messages).
fn record_line(r: &KmodRecord) -> String {
    fn o<T: std::fmt::Display>(v: &Option<T>) -> String {
        v.as_ref().map_or_else(|| "-".to_string(), T::to_string)
    }
    match r {
        KmodRecord::Overflow { dropped } => format!("overflow dropped={dropped}"),
        KmodRecord::Event {
            seq,
            ts_ns,
            event,
            queue,
            buf_type,
            index,
            plane,
            ino,
            ctx,
            seqno,
            usage,
            reason,
            error,
        } => format!(
            "seq={seq} ts_ns={ts_ns} event={event} queue={queue} type={buf_type} index={} \
             plane={} ino={} ctx={} seqno={} usage={} reason={reason} error={}",
            o(index),
            o(plane),
            o(ino),
            o(ctx),
            o(seqno),
            usage.map_or("-", Usage::name),
            o(error)
        ),
    }
}

/// Match the records of fence `want.id` (context and seqno are unique, so
/// records of earlier tests in this process do not interfere): exactly one
/// `event=arm` of `want.usage` on an allowed inode, and (if asked) exactly
/// one `event=signal` with the expected error. The error names what was
/// expected and quotes every record of that fence.
pub fn check_fence_records(
    recs: &[KmodRecord],
    want: &FenceRecords<'_>,
) -> std::result::Result<(), String> {
    let (c, s) = want.id;
    let ours: Vec<&KmodRecord> = recs
        .iter()
        .filter(|r| {
            matches!(r, KmodRecord::Event { ctx, seqno, .. }
                if *ctx == Some(c) && *seqno == Some(s))
        })
        .collect();
    let shown = || {
        let lines: Vec<String> = ours.iter().map(|r| record_line(r)).collect();
        let mut t = if lines.is_empty() {
            "no record of it".to_string()
        } else {
            format!("its records: [{}]", lines.join(" | "))
        };
        // A lost arm may be the ring's overflow, not the kernel's fault.
        if let Some(o) = recs
            .iter()
            .find(|r| matches!(r, KmodRecord::Overflow { .. }))
        {
            t.push_str(&format!(" (ring: {})", record_line(o)));
        }
        t
    };
    let of_event = |e: &str| -> Vec<&KmodRecord> {
        ours.iter()
            .copied()
            .filter(|r| matches!(r, KmodRecord::Event { event, .. } if event == e))
            .collect()
    };
    let inos = &want.arm_ino;
    let ino_ok = |i: Option<u64>| match i {
        Some(0) => inos.exported_after_arm,
        Some(i) => inos.held.contains(&i),
        None => false,
    };
    let want_ino = if inos.exported_after_arm {
        format!("0 (exported after the arm) or one of {:?}", inos.held)
    } else {
        format!("one of {:?}", inos.held)
    };
    let arms = of_event("arm");
    let usage_ok = arms
        .iter()
        .all(|r| matches!(r, KmodRecord::Event { usage, .. } if *usage == Some(want.usage)));
    let ours_ino = arms
        .iter()
        .filter(|r| matches!(r, KmodRecord::Event { ino, .. } if ino_ok(*ino)))
        .count();
    if arms.len() != inos.resvs || !usage_ok || ours_ino == 0 {
        let count = match inos.resvs {
            1 => "exactly one event=arm".to_string(),
            n => format!("exactly {n} event=arm records (one per reservation object)"),
        };
        return Err(format!(
            "expected {count} of fence {c}:{s} with usage={}, one with ino={want_ino}, {}",
            want.usage.name(),
            shown()
        ));
    }
    let expected_error = match want.signal {
        Signal::Unchecked => return Ok(()),
        Signal::Error(e) => format!("error={e}"),
        Signal::SomeError => "a negative error".to_string(),
    };
    let signals = of_event("signal");
    let error_ok = |e: Option<i32>| match want.signal {
        Signal::Error(x) => e == Some(x),
        Signal::SomeError => e.is_some_and(|v| v < 0),
        Signal::Unchecked => true,
    };
    match signals.as_slice() {
        [KmodRecord::Event { error, .. }] if error_ok(*error) => Ok(()),
        _ => Err(format!(
            "expected exactly one event=signal of fence {c}:{s} with {expected_error}, {}",
            shown()
        )),
    }
}

/// A fresh snapshot of the rust-kmod record ring (reading from offset 0
/// of a new open renders one; see docs/interfaces.md).
pub fn kmod_records() -> Result<Vec<KmodRecord>> {
    let text = std::fs::read_to_string(KMOD_DEV).with_context(|| format!("read {KMOD_DEV}"))?;
    Ok(parse_kmod_records(&text)?)
}

/// A sync_file captured while its fence was pending: now it must be
/// signalled, after `t0_ns`, with (or without) an error.
pub fn expect_sync_signalled(
    sf: BorrowedFd<'_>,
    t0_ns: u64,
    want_error: Option<bool>,
    timeout: Duration,
) -> Result<(i32, u64)> {
    if !poll_wait(sf, PollFlags::POLLIN, timeout)? {
        bail!(
            "sync_file taken while the job ran did not signal within {} ms",
            timeout.as_millis()
        );
    }
    let (status, fences) = sys::sync_file_info(sf).context("SYNC_IOC_FILE_INFO")?;
    let f = fences
        .first()
        .ok_or_else(|| anyhow!("signalled sync_file has no fence"))?;
    if f.timestamp_ns < t0_ns {
        bail!(
            "fence timestamp {} precedes the job ({}): a stub, not the job's fence",
            f.timestamp_ns,
            t0_ns
        );
    }
    match want_error {
        None if status != 0 => Ok((status, f.timestamp_ns)),
        Some(false) if status == 1 => Ok((status, f.timestamp_ns)),
        Some(true) if status < 0 => Ok((status, f.timestamp_ns)),
        _ => bail!("sync_file status {status}, expected {want_error:?} (true: < 0, false: 1)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_kmod_records;

    // Two fences of one test (CAPTURE 17:1 armed on export ino 42, OUTPUT
    // 18:1 read), an earlier test's fence 17:0, an MMAP plane armed before
    // its first export (ino=0), and a skip.
    const RING: &str = "overflow dropped=3\n\
seq=4 ts_ns=900 event=arm queue=vim2m-cap type=9 index=0 plane=0 ino=40 ctx=17 seqno=0 usage=write reason=- error=-\n\
seq=5 ts_ns=950 event=signal queue=vim2m-cap type=9 index=0 plane=- ino=- ctx=17 seqno=0 usage=- reason=- error=0\n\
seq=6 ts_ns=1000 event=arm queue=vim2m-cap type=9 index=0 plane=0 ino=42 ctx=17 seqno=1 usage=write reason=- error=-\n\
seq=7 ts_ns=1001 event=arm queue=vim2m-out type=10 index=0 plane=0 ino=43 ctx=18 seqno=1 usage=read reason=- error=-\n\
seq=8 ts_ns=1002 event=skip queue=vim2m-out type=10 index=1 plane=0 ino=- ctx=- seqno=- usage=- reason=userptr_memory error=-\n\
seq=9 ts_ns=1003 event=arm queue=vim2m-cap type=9 index=0 plane=0 ino=0 ctx=17 seqno=2 usage=write reason=- error=-\n\
seq=10 ts_ns=2000 event=signal queue=vim2m-cap type=9 index=0 plane=- ino=- ctx=17 seqno=1 usage=- reason=- error=0\n\
seq=11 ts_ns=2001 event=signal queue=vim2m-out type=10 index=0 plane=- ino=- ctx=18 seqno=1 usage=- reason=- error=-5\n";

    fn check(id: (u64, u64), usage: Usage, signal: Signal, ino: &ArmIno) -> Result<(), String> {
        let recs = parse_kmod_records(RING).expect("sample parses");
        check_fence_records(
            &recs,
            &FenceRecords {
                id,
                usage,
                signal,
                arm_ino: ino,
            },
        )
    }

    fn held(inos: &[u64]) -> ArmIno {
        ArmIno {
            held: inos.to_vec(),
            exported_after_arm: false,
            resvs: 1,
        }
    }

    #[test]
    fn fence_records_match() {
        let cap = held(&[41, 42]);
        check((17, 1), Usage::Write, Signal::Unchecked, &cap).expect("pending arm");
        check((17, 1), Usage::Write, Signal::Error(0), &cap).expect("signalled");
        check((18, 1), Usage::Read, Signal::Error(-5), &held(&[43])).expect("error");
        check((18, 1), Usage::Read, Signal::SomeError, &held(&[43])).expect("some error");
        let after = ArmIno {
            held: vec![44],
            exported_after_arm: true,
            resvs: 1,
        };
        check((17, 2), Usage::Write, Signal::Unchecked, &after).expect("ino 0");
    }

    #[test]
    fn fence_records_mismatch() {
        let cap = held(&[42]);
        // Wrong usage, wrong inode, ino=0 without a later export.
        let e = check((17, 1), Usage::Read, Signal::Unchecked, &cap).expect_err("usage");
        assert!(e.contains("usage=read"), "{e}");
        assert!(e.contains("seq=6 ts_ns=1000 event=arm"), "{e}");
        assert!(e.contains("overflow dropped=3"), "{e}");
        check((17, 1), Usage::Write, Signal::Unchecked, &held(&[7])).expect_err("ino");
        check((17, 2), Usage::Write, Signal::Unchecked, &held(&[44])).expect_err("ino 0");
        // The exported-after rule adds 0; a held inode stays valid.
        let after = ArmIno {
            held: vec![42],
            exported_after_arm: true,
            resvs: 1,
        };
        check((17, 1), Usage::Write, Signal::Unchecked, &after).expect("held ino");
        // Signal: missing, wrong error, error where none was expected.
        let later = ArmIno {
            held: vec![44],
            exported_after_arm: true,
            resvs: 1,
        };
        let e = check((17, 2), Usage::Write, Signal::Error(0), &later).expect_err("no signal");
        assert!(e.contains("exactly one event=signal"), "{e}");
        let e = check((18, 1), Usage::Read, Signal::Error(0), &held(&[43])).expect_err("-5");
        assert!(e.contains("error=-5"), "{e}");
        check((17, 1), Usage::Write, Signal::SomeError, &cap).expect_err("error 0");
        // A fence nobody armed.
        let e = check((99, 1), Usage::Write, Signal::Unchecked, &cap).expect_err("absent");
        assert!(e.contains("no record of it"), "{e}");
    }

    #[test]
    fn multi_plane_arms() {
        // One fence of a two-plane MMAP buffer: an arm per plane's resv.
        let ring = format!(
            "{RING}seq=12 ts_ns=3000 event=arm queue=vivid-cap type=9 index=0 plane=0 ino=50 \
             ctx=20 seqno=1 usage=write reason=- error=-\n\
             seq=13 ts_ns=3000 event=arm queue=vivid-cap type=9 index=0 plane=1 ino=51 \
             ctx=20 seqno=1 usage=write reason=- error=-\n"
        );
        let recs = parse_kmod_records(&ring).expect("parses");
        let check2 = |held: &[u64], resvs: usize| {
            let ino = ArmIno {
                held: held.to_vec(),
                exported_after_arm: false,
                resvs,
            };
            check_fence_records(
                &recs,
                &FenceRecords {
                    id: (20, 1),
                    usage: Usage::Write,
                    signal: Signal::Unchecked,
                    arm_ino: &ino,
                },
            )
        };
        check2(&[51], 2).expect("plane 1 of two");
        check2(&[50], 2).expect("plane 0 of two");
        let e = check2(&[50], 1).expect_err("two arms where one was expected");
        assert!(e.contains("exactly one event=arm"), "{e}");
        let e = check2(&[52], 2).expect_err("no arm on the held inode");
        assert!(e.contains("exactly 2 event=arm"), "{e}");
        check2(&[50], 3).expect_err("a third plane's arm is missing");
    }

    #[test]
    fn duplicate_records_fail() {
        let twice = format!(
            "{RING}seq=12 ts_ns=3000 event=signal queue=vim2m-cap type=9 index=0 plane=- \
             ino=- ctx=17 seqno=1 usage=- reason=- error=0\n"
        );
        let recs = parse_kmod_records(&twice).expect("parses");
        let ino = held(&[42]);
        let want = FenceRecords {
            id: (17, 1),
            usage: Usage::Write,
            signal: Signal::Error(0),
            arm_ino: &ino,
        };
        let e = check_fence_records(&recs, &want).expect_err("two signals");
        assert!(e.contains("seq=10") && e.contains("seq=12"), "{e}");
    }
}
