//! Looking at the buffers a path watches: each one through every oracle, a
//! landing recorded for each, and the first failed check kept until all
//! were looked at, so that the landing map shows every buffer even where
//! the first one already fails (as on the control kernel).

use std::os::fd::{AsFd, OwnedFd};

use anyhow::{Context, Result};

use crate::env::Env;
use crate::landing::LandingRow;
use crate::oracle::{self, HeldSync, Observation};
use crate::parse::Usage;
use crate::sys;
use crate::verdict::wrong;

/// A fence as the oracles name it: (context, seqno).
pub type FenceId = (u64, u64);

/// One buffer a path watches, through one fd of it.
pub struct Watch {
    /// What the landing map calls it: "CAPTURE export #0", "OUTPUT
    /// export", "plane 1 export", ...
    pub label: String,
    pub fd: OwnedFd,
    /// The usage its fence must have (CAPTURE: write, OUTPUT: read).
    pub usage: Usage,
    /// Whose reservation the fd reaches: "exporter" (the V4L2
    /// allocation's) or "importer" (an imported dma-buf's).
    pub reservation: &'static str,
    /// The fd's inode (how bufinfo and the kmod name the dma-buf).
    pub ino: u64,
    /// What the kmod's arm record of the fence may carry
    /// (`Observation::holding`, `Observation::on_resvs`): the inodes of
    /// every fd the test holds for this buffer, whether its first export
    /// came after the arm, and on how many reservations the fence is.
    pub held_inos: Vec<u64>,
    pub exported_after_arm: bool,
    pub resvs: usize,
}

impl Watch {
    /// Watch `fd` as `label`: the only fd held for its buffer, exported
    /// before the arm, its fence on one reservation, until said otherwise.
    pub fn new(
        label: impl Into<String>,
        fd: OwnedFd,
        usage: Usage,
        reservation: &'static str,
    ) -> Result<Self> {
        let ino = sys::inode_of(fd.as_fd()).context("fstat(watched fd)")?;
        Ok(Self {
            label: label.into(),
            fd,
            usage,
            reservation,
            ino,
            held_inos: vec![ino],
            exported_after_arm: false,
            resvs: 1,
        })
    }

    /// Whether the test's first export of this buffer came after the arm
    /// (then the arm record carries ino=0).
    pub fn exported_after_arm(mut self, after: bool) -> Self {
        self.exported_after_arm = after;
        self
    }

    /// The job's fence is on `n` reservations (a multi-planar buffer).
    pub fn on_resvs(mut self, n: usize) -> Self {
        self.resvs = n;
        self
    }

    /// One look through every oracle, with what the kmod's records may say
    /// of this buffer.
    pub fn observe(&self, env: &Env) -> Result<(Observation, HeldSync)> {
        let (obs, held) = oracle::observe(&env.oracles, self.fd.as_fd())?;
        let obs = obs
            .holding(self.held_inos.clone(), self.exported_after_arm)
            .on_resvs(self.resvs);
        Ok((obs, held))
    }
}

/// The watches of one usage are views of one buffer (an m2m path watches
/// one CAPTURE buffer, which the job writes, and one OUTPUT buffer, which
/// it reads): each holds the inodes of all the views of its buffer.
pub fn views_by_usage(watched: &mut [Watch]) {
    let inos: Vec<(Usage, u64)> = watched.iter().map(|w| (w.usage, w.ino)).collect();
    for w in watched {
        w.held_inos = inos
            .iter()
            .filter(|(u, _)| *u == w.usage)
            .map(|(_, i)| *i)
            .collect();
    }
}

/// What a path requires of every buffer it watches.
#[derive(Clone, Copy, Debug)]
pub enum Expect {
    /// A pending vb2 fence of the buffer's usage
    /// (`Observation::expect_pending`); the landing names its
    /// driver/timeline.
    Pending,
    /// One fence of the buffer's usage, signalled with `error` (0: none)
    /// by a job that completed within `within` ("the ioctl", "the tick"),
    /// before userspace could look (`Observation::expect_one_signalled_with`);
    /// the landing names its context:seqno.
    Signalled { error: i32, within: &'static str },
}

/// One look at a watched buffer, its landing recorded.
pub struct Look {
    /// The fence the check found, or why the check failed.
    pub found: Result<FenceId>,
    /// The sync_files taken (to follow a pending fence to signalled).
    pub held: HeldSync,
    /// The landing's index in the row.
    pub landing: usize,
}

/// Look at `w`, check it as `expect` says, and record in `row` what landed
/// on it (or that nothing did). An observation that cannot be made at all
/// (an ioctl fails) is the error; a failed check is in `Look::found`.
pub fn look(env: &Env, row: &mut LandingRow, w: &Watch, expect: Expect) -> Result<Look> {
    let (obs, held) = w.observe(env)?;
    let (found, fence) = match expect {
        Expect::Pending => {
            let fence = obs.sync_view_for(w.usage).fences.first().map_or_else(
                || "-".to_string(),
                |f| format!("{}/{}", f.driver_name, f.obj_name),
            );
            (obs.expect_pending(w.usage), fence)
        }
        Expect::Signalled { error, within } => {
            let found = obs.expect_one_signalled_with(w.usage, error);
            let fence = match &found {
                Ok((c, s)) => format!("{c}:{s} (signalled within {within})"),
                Err(_) => String::new(),
            };
            (found, fence)
        }
    };
    let landing = match &found {
        Ok(_) => row.land(&w.label, w.reservation, w.usage.name(), fence),
        Err(_) => row.land_nothing(&w.label),
    };
    Ok(Look {
        found,
        held,
        landing,
    })
}

/// A watched buffer after `observe_each`: its fence, the sync_files taken,
/// its landing.
pub struct Seen {
    pub id: FenceId,
    pub held: HeldSync,
    pub landing: usize,
}

/// Look at every watched buffer (`look`), and only then fail with the
/// first failed check, in the context "<label> <when>", so that the map
/// shows them all. Returns one `Seen` per watch, in order.
pub fn observe_each(
    env: &Env,
    row: &mut LandingRow,
    watched: &[Watch],
    expect: Expect,
    when: &str,
) -> Result<Vec<Seen>> {
    let mut seen = Vec::with_capacity(watched.len());
    let mut first_err = None;
    for w in watched {
        let l = look(env, row, w, expect)?;
        match l.found {
            Ok(id) => seen.push(Seen {
                id,
                held: l.held,
                landing: l.landing,
            }),
            Err(e) => {
                first_err.get_or_insert(e.context(format!("{} {when}", w.label)));
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(seen),
    }
}

/// The fences seen on the watches of `usage`, in order.
pub fn ids_of(watched: &[Watch], seen: &[Seen], usage: Usage) -> Vec<FenceId> {
    watched
        .iter()
        .zip(seen)
        .filter(|(w, _)| w.usage == usage)
        .map(|(_, s)| s.id)
        .collect()
}

/// `views` (of one buffer, or of one frame) show one fence.
pub fn one_fence(views: &str, ids: &[FenceId]) -> Result<()> {
    if ids.windows(2).any(|p| p[0] != p[1]) {
        return Err(wrong(format!("{views} show different fences: {ids:?}")));
    }
    Ok(())
}

/// The CAPTURE (write) and the OUTPUT (read) buffer do not show one fence.
pub fn usages_separate(watched: &[Watch], seen: &[Seen]) -> Result<()> {
    let first = |u| ids_of(watched, seen, u).first().copied();
    if let (Some(c), Some(o)) = (first(Usage::Write), first(Usage::Read)) {
        if c == o {
            return Err(wrong(format!(
                "OUTPUT and CAPTURE share fence {c:?}: usages are not separate"
            )));
        }
    }
    Ok(())
}

/// After the job: on every watched buffer, the sync_file taken while its
/// fence was pending signals after `t0_ns` (with an error when
/// `want_error` is `Some(true)`, without one when `Some(false)`, either
/// when `None`), which gives the landing its pending-to-signalled time;
/// then every oracle shows that fence signalled. Fails at the first
/// buffer that does not, in the context "<label> <when>".
pub fn expect_each_signalled(
    env: &Env,
    row: &mut LandingRow,
    watched: &[Watch],
    seen: &[Seen],
    t0_ns: u64,
    want_error: Option<bool>,
    when: &str,
) -> Result<()> {
    for (w, s) in watched.iter().zip(seen) {
        let sync_file = s.held.for_usage(w.usage);
        let (_, ts) =
            oracle::expect_sync_signalled(sync_file.as_fd(), t0_ns, want_error, env.job_timeout())
                .with_context(|| format!("{} {when}", w.label))?;
        row.set_pending_ms(s.landing, ts.saturating_sub(t0_ns) as f64 / 1e6);
        let (obs, _) = w.observe(env)?;
        obs.expect_signalled(s.id, want_error == Some(true))
            .with_context(|| format!("{} {when}", w.label))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{category_of, Category};

    fn watch(usage: Usage, ino: u64) -> Watch {
        let fd = std::fs::File::open("/dev/null").expect("/dev/null").into();
        Watch {
            label: format!("{usage:?} {ino}"),
            fd,
            usage,
            reservation: "exporter",
            ino,
            held_inos: vec![ino],
            exported_after_arm: false,
            resvs: 1,
        }
    }

    fn seen(id: FenceId) -> Seen {
        let fd = || std::fs::File::open("/dev/null").expect("/dev/null").into();
        Seen {
            id,
            held: HeldSync {
                writers: fd(),
                all: fd(),
            },
            landing: 0,
        }
    }

    /// Each watch holds the inodes of every watch of its usage, and only
    /// those.
    #[test]
    fn views_grouped_by_usage() {
        let mut w = vec![
            watch(Usage::Write, 10),
            watch(Usage::Write, 11),
            watch(Usage::Read, 20),
        ];
        views_by_usage(&mut w);
        assert_eq!(w[0].held_inos, [10, 11]);
        assert_eq!(w[1].held_inos, [10, 11]);
        assert_eq!(w[2].held_inos, [20]);
    }

    /// Two views of one buffer with different fences, or CAPTURE and
    /// OUTPUT with one fence, are wrong fences.
    #[test]
    fn fence_identity_checks() {
        let w = vec![
            watch(Usage::Write, 10),
            watch(Usage::Write, 11),
            watch(Usage::Read, 20),
        ];
        let ok = [seen((1, 1)), seen((1, 1)), seen((2, 1))];
        assert_eq!(ids_of(&w, &ok, Usage::Write), [(1, 1), (1, 1)]);
        assert!(one_fence("exports", &ids_of(&w, &ok, Usage::Write)).is_ok());
        assert!(usages_separate(&w, &ok).is_ok());

        let split = [seen((1, 1)), seen((1, 2)), seen((2, 1))];
        let e = one_fence(
            "exports of one CAPTURE buffer",
            &ids_of(&w, &split, Usage::Write),
        )
        .expect_err("two fences on one buffer");
        assert_eq!(category_of(&e), Category::WrongFence);
        assert_eq!(
            e.to_string(),
            "exports of one CAPTURE buffer show different fences: [(1, 1), (1, 2)]"
        );

        let shared = [seen((1, 1)), seen((1, 1)), seen((1, 1))];
        let e = usages_separate(&w, &shared).expect_err("one fence for both usages");
        assert_eq!(category_of(&e), Category::WrongFence);
        // Only CAPTURE watched: nothing to compare.
        assert!(usages_separate(&w[..2], &shared[..2]).is_ok());
    }
}
