//! The three oracles: debugfs bufinfo, poll()+sync_file, rust-kmod.
//! Each one alone can say "pending fence of usage U on this dma-buf"; the
//! checks below require them to agree. poll()+sync_file and bufinfo are
//! required; the rust-kmod is used where it is loaded (it loads only on the
//! patched kernel).
//!
//! A failed check says what it means (`verdict::FenceCheck`): `Missing`
//! when no vb2 fence is there where one must be (all an unpatched kernel
//! can show), `Wrong` when a fence is there but not the required one.
//! Everything else (an ioctl, a read) is a plain error.

use std::fs::File;
use std::io::ErrorKind;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use nix::poll::{PollFd, PollFlags, PollTimeout};

use crate::parse::{parse_bufinfo, BufinfoFence, BufinfoObject, KmodRecord, Usage};
use crate::sys;
use crate::verdict::{absent, missing, wrong};

mod records;

pub use records::{check_fence_records, kmod_records, ArmIno, FenceRecords, Signal};

pub const BUFINFO: &str = "/sys/kernel/debug/dma_buf/bufinfo";
pub const KMOD_DEV: &str = "/dev/vb2_fence_probe";
/// Driver name of fences published by the series (docs/interfaces.md).
pub const VB2_DRIVER: &str = "vb2";
/// What vb2_buffer_done() signals a fence with for VB2_BUF_STATE_ERROR.
pub const FENCE_EIO: i32 = -(nix::errno::Errno::EIO as i32);

/// Why an oracle cannot be used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unavailable {
    /// Not on this machine, or not for this user; says how to fix it.
    Absent(String),
    /// There, but broken (a bufinfo line the parser rejects, an I/O error).
    Broken(String),
}

impl Unavailable {
    /// As an error: `verdict::absent` for `Absent`, so that a test's
    /// prerequisite check can turn it into a SKIP.
    pub fn to_error(&self) -> anyhow::Error {
        match self {
            Unavailable::Absent(m) => absent(m.clone()),
            Unavailable::Broken(m) => anyhow!("{m}"),
        }
    }
}

/// Which oracles this run can use, with the reason when one cannot.
pub struct Oracles {
    pub bufinfo: std::result::Result<(), Unavailable>,
    pub kmod: std::result::Result<File, Unavailable>,
}

/// An open or read of `path` failed: absent (with `fix`) or broken.
fn classify_io(path: &str, e: &std::io::Error, fix: &str) -> Unavailable {
    match e.kind() {
        ErrorKind::NotFound => Unavailable::Absent(format!("{path} absent: {fix}")),
        ErrorKind::PermissionDenied => {
            Unavailable::Absent(format!("no permission on {path}: run as root"))
        }
        _ => Unavailable::Broken(format!("{path}: {e}")),
    }
}

impl Oracles {
    pub fn probe() -> Self {
        Self {
            bufinfo: probe_bufinfo(std::fs::read_to_string(BUFINFO).map_err(|e| {
                classify_io(
                    BUFINFO,
                    &e,
                    "mount debugfs (mount -t debugfs none /sys/kernel/debug; \
                         the kernel needs CONFIG_DEBUG_FS)",
                )
            })),
            kmod: std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(KMOD_DEV)
                .map_err(|e| {
                    classify_io(
                        KMOD_DEV,
                        &e,
                        "modprobe vb2_fence_probe (the suite's Rust module; it loads \
                         only on a kernel with the series)",
                    )
                }),
        }
    }

    /// bufinfo, which every test that observes a dma-buf requires.
    pub fn require_bufinfo(&self) -> Result<()> {
        self.bufinfo
            .as_ref()
            .map_err(|u| u.to_error().context("the bufinfo oracle is required"))
            .copied()
    }
}

/// bufinfo is usable when its text parses; a line the parser rejects is
/// broken, and the error quotes it.
pub fn probe_bufinfo(
    text: std::result::Result<String, Unavailable>,
) -> std::result::Result<(), Unavailable> {
    let text = text?;
    parse_bufinfo(&text)
        .map(drop)
        .map_err(|e| Unavailable::Broken(format!("{BUFINFO} does not parse: {e}")))
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

    /// Any unsignalled fence, whoever published it.
    pub fn pending_any(&self) -> bool {
        self.status == 0 && self.fences.iter().any(|f| f.status == 0)
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

/// Every dma-buf debugfs bufinfo lists now.
pub fn bufinfo_objects() -> Result<Vec<BufinfoObject>> {
    let text = std::fs::read_to_string(BUFINFO).with_context(|| format!("read {BUFINFO}"))?;
    Ok(parse_bufinfo(&text)?)
}

/// The bufinfo entry of the dma-buf `buf` (matched by inode).
pub fn bufinfo_entry(buf: BorrowedFd<'_>) -> Result<Option<BufinfoObject>> {
    let ino = sys::inode_of(buf).context("fstat(dma-buf)")?;
    Ok(bufinfo_objects()?.into_iter().find(|o| o.ino == ino))
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
    /// This buffer's bufinfo entry (None: bufinfo does not list it).
    pub bufinfo: Option<BufinfoObject>,
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

impl HeldSync {
    /// The sync_file that waits for a fence of `usage`: the writers' one
    /// for a WRITE fence, the one of all fences otherwise.
    pub fn for_usage(&self, usage: Usage) -> &OwnedFd {
        if usage == Usage::Write {
            &self.writers
        } else {
            &self.all
        }
    }
}

/// Look at `buf` through every oracle; bufinfo is required, the kmod is
/// asked where it is loaded.
pub fn observe(or: &Oracles, buf: BorrowedFd<'_>) -> Result<(Observation, HeldSync)> {
    or.require_bufinfo()?;
    let at_ns = sys::monotonic_ns();
    let ino = sys::inode_of(buf).context("fstat(dma-buf)")?;
    let (poll_in, poll_out) = poll_now(buf)?;
    let (w_fd, sync_writers) = sync_view(buf, sys::DMA_BUF_SYNC_READ as u32)?;
    let (a_fd, sync_all) = sync_view(buf, sys::DMA_BUF_SYNC_WRITE as u32)?;
    let bufinfo = bufinfo_entry(buf)?;
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

/// `missing(msg)` when `none_there` (no fence of any kind where one was
/// required), else `wrong(msg)` (fences, but not the required one).
fn missing_or_wrong(none_there: bool, msg: String) -> anyhow::Error {
    if none_there {
        missing(msg)
    } else {
        wrong(msg)
    }
}

impl Observation {
    fn bufinfo_pending(&self) -> Vec<&BufinfoFence> {
        self.bufinfo
            .as_ref()
            .map(|o| o.fences.iter().filter(|f| !f.signalled).collect())
            .unwrap_or_default()
    }

    /// The bufinfo entry, which every dma-buf has while it lives: its
    /// absence is an error of the observation, not a fence finding.
    fn bufinfo_obj(&self) -> Result<&BufinfoObject> {
        self.bufinfo.as_ref().ok_or_else(|| {
            anyhow!(
                "bufinfo has no entry for inode {}: {}",
                self.ino,
                self.summary()
            )
        })
    }

    /// The sync_file view that shows a fence of `usage`: the writers' for a
    /// WRITE fence, all fences otherwise.
    pub fn sync_view_for(&self, usage: Usage) -> &SyncView {
        if usage == Usage::Write {
            &self.sync_writers
        } else {
            &self.sync_all
        }
    }

    pub fn summary(&self) -> String {
        let bi = match &self.bufinfo {
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

    /// Every oracle sees an unsignalled vb2 fence of `usage` on this
    /// buffer, and bufinfo and the kmod (where loaded) agree on which
    /// fence it is. Returns its (context, seqno).
    ///
    /// The first check of each usage is the one an unpatched kernel fails:
    /// poll says nothing is pending (`Missing`).
    pub fn expect_pending(&self, usage: Usage) -> Result<(u64, u64)> {
        let ctx = || self.summary();
        // poll + sync_file oracle.
        match usage {
            Usage::Write => {
                if self.poll_in && self.poll_out {
                    return Err(missing(format!(
                        "poll says idle where a WRITE fence must be pending: {}",
                        ctx()
                    )));
                }
                if self.poll_in {
                    return Err(wrong(format!(
                        "POLLIN ready, POLLOUT busy: a READ fence where a WRITE fence was \
                         expected: {}",
                        ctx()
                    )));
                }
                if !self.sync_writers.pending_vb2() {
                    return Err(missing_or_wrong(
                        !self.sync_writers.pending_any(),
                        format!("EXPORT_SYNC_FILE(READ) has no pending vb2 fence: {}", ctx()),
                    ));
                }
            }
            Usage::Read => {
                if self.poll_out {
                    return Err(missing(format!(
                        "POLLOUT ready: no pending READ fence: {}",
                        ctx()
                    )));
                }
                if !self.poll_in {
                    return Err(wrong(format!(
                        "POLLIN busy: a WRITE fence where a READ fence was expected: {}",
                        ctx()
                    )));
                }
                if self.sync_writers.pending_vb2() {
                    return Err(wrong(format!(
                        "EXPORT_SYNC_FILE(READ) shows a pending writer: {}",
                        ctx()
                    )));
                }
                if !self.sync_all.pending_vb2() {
                    return Err(missing_or_wrong(
                        !self.sync_all.pending_any(),
                        format!(
                            "EXPORT_SYNC_FILE(WRITE) has no pending vb2 fence: {}",
                            ctx()
                        ),
                    ));
                }
            }
            _ => bail!("unexpected usage {usage:?} asked"),
        }
        // bufinfo oracle.
        self.bufinfo_obj()?;
        let pending = self.bufinfo_pending();
        let hit: Vec<_> = pending
            .iter()
            .filter(|f| f.usage == usage && f.driver == VB2_DRIVER)
            .collect();
        let [b] = hit.as_slice() else {
            return Err(missing_or_wrong(
                pending.is_empty(),
                format!(
                    "bufinfo: expected exactly one unsignalled {} vb2 fence, found {}: {}",
                    usage.name(),
                    hit.len(),
                    ctx()
                ),
            ));
        };
        let id = (b.context, b.seqno);
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
            let [f] = hit.as_slice() else {
                return Err(missing_or_wrong(
                    !k.iter().any(|f| !f.signaled),
                    format!(
                        "kmod: expected exactly one unsignalled {} vb2 fence, found {}: {}",
                        usage.name(),
                        hit.len(),
                        ctx()
                    ),
                ));
            };
            let kid = (f.context, f.seqno);
            if kid != id {
                return Err(wrong(format!(
                    "oracles disagree: bufinfo fence {id:?} vs kmod {kid:?}"
                )));
            }
            // Only the arm is asked for: the fence may signal any moment
            // after the QUERY above, so a signal record proves nothing.
            self.expect_kmod_records(kid, usage, Signal::Unchecked)?;
        }
        Ok(id)
    }

    /// Nothing pending on this buffer, by every oracle.
    pub fn expect_idle(&self) -> Result<()> {
        let ctx = || self.summary();
        if !(self.poll_in && self.poll_out) {
            return Err(wrong(format!("poll says busy: {}", ctx())));
        }
        if self.sync_all.status == 0 {
            return Err(wrong(format!(
                "EXPORT_SYNC_FILE(WRITE) is not signalled: {}",
                ctx()
            )));
        }
        self.bufinfo_obj()?;
        if !self.bufinfo_pending().is_empty() {
            return Err(wrong(format!(
                "bufinfo lists an unsignalled fence: {}",
                ctx()
            )));
        }
        if let Some(k) = &self.kmod {
            if k.iter().any(|f| !f.signaled) {
                return Err(wrong(format!("kmod lists an unsignalled fence: {}", ctx())));
            }
        }
        Ok(())
    }

    /// Nothing at all on the reservation, not even a signalled fence.
    pub fn expect_no_fences(&self) -> Result<()> {
        self.expect_idle()?;
        if !self.bufinfo_obj()?.fences.is_empty() {
            return Err(wrong(format!("bufinfo lists a fence: {}", self.summary())));
        }
        if let Some(k) = &self.kmod {
            if !k.is_empty() {
                return Err(wrong(format!("kmod lists a fence: {}", self.summary())));
            }
        }
        Ok(())
    }

    /// Nothing pending, and nothing on the reservation but one signalled
    /// fence of `usage` that vb2 never armed: another user's, such as a
    /// sw_sync fence the test imported. With the kmod loaded, it has no
    /// record of that fence (vb2 records every fence it arms or signals).
    pub fn expect_only_foreign_signalled(&self, usage: Usage) -> Result<()> {
        self.expect_idle()?;
        let obj = self.bufinfo_obj()?;
        let id = match obj.fences.as_slice() {
            [f] if f.usage == usage && f.signalled => (f.context, f.seqno),
            fences => {
                return Err(wrong(format!(
                    "bufinfo: expected only the foreign {} fence, signalled, found {}: {}",
                    usage.name(),
                    fences.len(),
                    self.summary()
                )))
            }
        };
        if self.kmod.is_some() {
            let armed = kmod_records()?.iter().any(|r| {
                matches!(r, KmodRecord::Event { ctx, seqno, .. }
                    if *ctx == Some(id.0) && *seqno == Some(id.1))
            });
            if armed {
                return Err(wrong(format!(
                    "{KMOD_DEV}: vb2 armed the fence {}:{} that should be another user's: {}",
                    id.0,
                    id.1,
                    self.summary()
                )));
            }
        }
        Ok(())
    }

    /// After a job that signalled before userspace could look (it ran
    /// inside an ioctl): poll and sync_file say idle, and every oracle
    /// that lists signalled fences shows exactly one fence on the
    /// reservation, of `usage`, signalled (kmod: without error), the same
    /// (context, seqno) for all of them.
    ///
    /// An unpatched kernel passes the idle checks and fails the bufinfo
    /// one: no fence at all on the reservation (`Missing`).
    pub fn expect_one_signalled(&self, usage: Usage) -> Result<(u64, u64)> {
        self.expect_one_signalled_with(usage, 0)
    }

    /// As `expect_one_signalled`, but the fence must carry `error` (0: none)
    /// where an oracle reports it (kmod). A signalled fence is invisible to
    /// poll and EXPORT_SYNC_FILE (the stub has status 1), so with an
    /// expected error only "not pending" is asked of them. Only the kmod
    /// reports the error of a signalled fence, so a non-zero `error`
    /// requires it, but only once bufinfo has shown the fence.
    pub fn expect_one_signalled_with(&self, usage: Usage, error: i32) -> Result<(u64, u64)> {
        self.expect_idle()?;
        if error == 0 && (self.sync_all.status != 1 || self.sync_writers.status != 1) {
            return Err(wrong(format!(
                "EXPORT_SYNC_FILE reports an error status: {}",
                self.summary()
            )));
        }
        let obj = self.bufinfo_obj()?;
        let id = match obj.fences.as_slice() {
            [f] if f.usage == usage && f.signalled => (f.context, f.seqno),
            fences => {
                return Err(missing_or_wrong(
                    fences.is_empty(),
                    format!(
                        "bufinfo: expected exactly one signalled {} fence, found {}: {}",
                        usage.name(),
                        fences.len(),
                        self.summary()
                    ),
                ))
            }
        };
        let Some(k) = &self.kmod else {
            if error != 0 {
                bail!(
                    "bufinfo shows fence {}:{}, but only {KMOD_DEV} (VB2FP_IOC_QUERY) reports \
                     the error of a signalled fence, and it is not loaded: \
                     modprobe vb2_fence_probe",
                    id.0,
                    id.1
                );
            }
            return Ok(id);
        };
        let [f] = k.as_slice() else {
            return Err(missing_or_wrong(
                k.is_empty(),
                format!(
                    "kmod: expected exactly one signalled {} fence, found {}: {}",
                    usage.name(),
                    k.len(),
                    self.summary()
                ),
            ));
        };
        if Usage::from_kmod(f.usage) != Some(usage) || !f.signaled {
            return Err(wrong(format!(
                "kmod: expected one signalled {} fence: {}",
                usage.name(),
                self.summary()
            )));
        }
        if f.error != error {
            return Err(wrong(format!(
                "kmod: fence signalled with error {}, expected {error}: {}",
                f.error,
                self.summary()
            )));
        }
        let kid = (f.context, f.seqno);
        if kid != id {
            return Err(wrong(format!(
                "oracles disagree: bufinfo fence {id:?} vs kmod {kid:?}"
            )));
        }
        self.expect_kmod_records(kid, usage, Signal::Error(error))?;
        Ok(id)
    }

    /// The fence `id` seen pending earlier is now signalled (bufinfo keeps
    /// signalled fences on the resv until replaced) with the expected error
    /// class, and nothing is pending.
    pub fn expect_signalled(&self, id: (u64, u64), want_error: bool) -> Result<()> {
        self.expect_idle()?;
        let (c, s) = id;
        let found = self
            .bufinfo_obj()?
            .fences
            .iter()
            .any(|f| f.context == c && f.seqno == s && f.signalled);
        if !found {
            return Err(wrong(format!(
                "bufinfo lost fence {c}:{s} instead of showing it signalled: {}",
                self.summary()
            )));
        }
        if let Some(k) = &self.kmod {
            match k.iter().find(|f| f.context == c && f.seqno == s) {
                None => {
                    return Err(wrong(format!(
                        "kmod lost fence {c}:{s}: {}",
                        self.summary()
                    )))
                }
                Some(f) if want_error && f.error == 0 => {
                    return Err(wrong(format!(
                        "kmod: fence {c}:{s} signalled without error, expected one"
                    )))
                }
                Some(f) if !want_error && f.error != 0 => {
                    return Err(wrong(format!(
                        "kmod: fence {c}:{s} signalled with error {}",
                        f.error
                    )))
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
    /// names a fence: skipped when the kmod is not loaded (this observation
    /// did not QUERY it). A mismatch is `Wrong`: the fence itself was
    /// already found. The tracepoints may write their record just
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
                    return Err(wrong(format!("{KMOD_DEV}: {e}")));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    }
}

/// How long a missing or incomplete record set is read again.
const RECORD_GRACE: Duration = Duration::from_millis(500);

/// A sync_file captured while its fence was pending: now it must be
/// signalled, after `t0_ns`, with (or without) an error. Each failure is
/// `Wrong`: the fence was there, it just did not end as required.
pub fn expect_sync_signalled(
    sf: BorrowedFd<'_>,
    t0_ns: u64,
    want_error: Option<bool>,
    timeout: Duration,
) -> Result<(i32, u64)> {
    if !poll_wait(sf, PollFlags::POLLIN, timeout)? {
        return Err(wrong(format!(
            "sync_file taken while the job ran did not signal within {} ms",
            timeout.as_millis()
        )));
    }
    let (status, fences) = sys::sync_file_info(sf).context("SYNC_IOC_FILE_INFO")?;
    let f = fences
        .first()
        .ok_or_else(|| wrong("signalled sync_file has no fence"))?;
    if f.timestamp_ns < t0_ns {
        return Err(wrong(format!(
            "fence timestamp {} precedes the job ({}): a stub, not the job's fence",
            f.timestamp_ns, t0_ns
        )));
    }
    match want_error {
        None if status != 0 => Ok((status, f.timestamp_ns)),
        Some(false) if status == 1 => Ok((status, f.timestamp_ns)),
        Some(true) if status < 0 => Ok((status, f.timestamp_ns)),
        _ => Err(wrong(format!(
            "sync_file status {status}, expected {want_error:?} (true: < 0, false: 1)"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Category;

    /// What the unpatched (control) kernel shows on any buffer, before or
    /// after a job: poll idle, EXPORT_SYNC_FILE the signalled stub, a
    /// bufinfo entry without fences, no kmod.
    fn control_view() -> Observation {
        let stub = SyncView {
            status: 1,
            fences: vec![sys::SyncFenceInfo {
                obj_name: "signaled-timeline".into(),
                driver_name: "detached-driver".into(),
                status: 1,
                timestamp_ns: 5,
            }],
        };
        Observation {
            ino: 42,
            poll_in: true,
            poll_out: true,
            sync_writers: stub.clone(),
            sync_all: stub,
            bufinfo: Some(BufinfoObject {
                size: 4096,
                exp_name: "videobuf2_vmalloc".into(),
                ino: 42,
                name: "fs:t:cap0".into(),
                fences: vec![],
                attached: vec![],
            }),
            kmod: None,
            at_ns: 10,
            arm_ino: ArmIno {
                held: vec![42],
                exported_after_arm: false,
                resvs: 1,
            },
        }
    }

    fn category(r: Result<impl std::fmt::Debug>) -> Category {
        crate::verdict::category_of(&r.expect_err("the check fails"))
    }

    /// Every check a fence test makes first fails there as `no-fence`;
    /// the checks that no fence be there pass.
    #[test]
    fn control_kernel_fails_as_no_fence() {
        let c = control_view();
        assert_eq!(category(c.expect_pending(Usage::Write)), Category::NoFence);
        assert_eq!(category(c.expect_pending(Usage::Read)), Category::NoFence);
        assert_eq!(
            category(c.expect_one_signalled(Usage::Write)),
            Category::NoFence
        );
        assert_eq!(
            category(c.expect_one_signalled_with(Usage::Write, -5)),
            Category::NoFence
        );
        c.expect_idle().expect("idle");
        c.expect_no_fences().expect("nothing");
    }

    fn vb2_fence(usage: Usage, signalled: bool) -> BufinfoFence {
        BufinfoFence {
            usage,
            context: 17,
            seqno: 1,
            timeline: if signalled { "" } else { "vim2m-cap" }.into(),
            driver: if signalled { "" } else { VB2_DRIVER }.into(),
            signalled,
        }
    }

    fn pending_view(usage: Usage) -> Observation {
        let mut o = control_view();
        let pending = SyncView {
            status: 0,
            fences: vec![sys::SyncFenceInfo {
                obj_name: "vim2m-cap".into(),
                driver_name: VB2_DRIVER.into(),
                status: 0,
                timestamp_ns: 0,
            }],
        };
        o.poll_out = false;
        o.poll_in = usage == Usage::Read;
        if usage == Usage::Write {
            o.sync_writers = pending.clone();
        }
        o.sync_all = pending;
        if let Some(b) = o.bufinfo.as_mut() {
            b.fences = vec![vb2_fence(usage, false)];
        }
        o
    }

    #[test]
    fn wrong_fences_are_wrong() {
        pending_view(Usage::Write)
            .expect_pending(Usage::Write)
            .expect("a pending write fence");
        assert_eq!(
            category(pending_view(Usage::Read).expect_pending(Usage::Write)),
            Category::WrongFence
        );
        assert_eq!(
            category(pending_view(Usage::Write).expect_pending(Usage::Read)),
            Category::WrongFence
        );
        assert_eq!(
            category(pending_view(Usage::Write).expect_no_fences()),
            Category::WrongFence
        );
        // Two pending write fences where one was expected.
        let mut two = pending_view(Usage::Write);
        if let Some(b) = two.bufinfo.as_mut() {
            b.fences.push(vb2_fence(Usage::Write, false));
        }
        assert_eq!(
            category(two.expect_pending(Usage::Write)),
            Category::WrongFence
        );
        // A signalled fence of the other usage after a synchronous job.
        let mut read = control_view();
        if let Some(b) = read.bufinfo.as_mut() {
            b.fences = vec![vb2_fence(Usage::Read, true)];
        }
        assert_eq!(
            category(read.expect_one_signalled(Usage::Write)),
            Category::WrongFence
        );
        assert_eq!(
            read.expect_one_signalled(Usage::Read).expect("read"),
            (17, 1)
        );
        // The error of a signalled fence needs the kmod: an error, once
        // bufinfo has shown the fence.
        assert_eq!(
            category(read.expect_one_signalled_with(Usage::Read, -5)),
            Category::Error
        );
        // No bufinfo entry for the buffer is an error of the observation.
        let mut gone = pending_view(Usage::Write);
        gone.bufinfo = None;
        assert_eq!(category(gone.expect_pending(Usage::Write)), Category::Error);
    }

    #[test]
    fn bufinfo_that_does_not_parse_is_broken() {
        let text = "\nDma-buf Objects:\nsize\tflags\tmode\tcount\texp_name\tino\tname\n\
                    4096\t0\t0\t1\tx\t42\tn\n\tsomething new\n";
        match probe_bufinfo(Ok(text.into())) {
            Err(Unavailable::Broken(m)) => {
                assert!(m.contains("something new") && m.contains("line 5"), "{m}")
            }
            other => panic!("expected Broken, got {other:?}"),
        }
        let absent = Unavailable::Absent("no permission: run as root".into());
        assert_eq!(probe_bufinfo(Err(absent.clone())), Err(absent.clone()));
        assert!(crate::verdict::is_absent(&absent.to_error()));
        assert!(!crate::verdict::is_absent(
            &Unavailable::Broken("x".into()).to_error()
        ));
    }
}
