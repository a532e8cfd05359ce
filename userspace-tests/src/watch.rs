//! `landing-map watch`: what rust-kmod recorded while a real client ran,
//! folded per queue and buffer, and the anomaly rules. Pure: the binary
//! reads the ring and `/proc`, this module only judges what was read
//! (unit-tested on recorded module output).

use std::collections::{BTreeMap, BTreeSet};

use landing_model::watch::{Anomaly, WatchBuffer, WatchQueue, WatchResv, SAMPLING_ORACLE};

use crate::parse::{KmodEvent, KmodRecord, Usage};

/// A dma-buf some process held during the watch (from `/proc/*/fd`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeldDmaBuf {
    /// `exp_name` from its fdinfo.
    pub exporter: String,
    /// `comm[pid]` of every process seen holding it.
    pub holders: BTreeSet<String>,
    /// Held by the watched client or a process it started (not only by
    /// others, e.g. a compositor it handed the buffer to).
    pub by_client: bool,
}

/// What the watch saw: the merged records (every snapshot, by `seq`), the
/// dma-bufs held, and when it ended (CLOCK_MONOTONIC ns, the records'
/// clock).
#[derive(Clone, Debug, Default)]
pub struct Observed {
    pub records: Vec<KmodRecord>,
    /// By inode.
    pub held: BTreeMap<u64, HeldDmaBuf>,
    pub end_ns: u64,
    /// A signalled fence that stayed pending longer than this is an
    /// anomaly.
    pub pending_bound_ns: u64,
}

/// One look at a dma-buf a watched process held, through `poll()` and a
/// sync_file exported from it (`DMA_BUF_IOCTL_EXPORT_SYNC_FILE` with
/// `DMA_BUF_SYNC_WRITE`: every fence a CPU writer would wait for): the
/// fallback oracle where rust-kmod cannot be loaded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Look {
    pub ino: u64,
    /// `poll(POLLOUT)` was not ready: some fence was pending.
    pub busy: bool,
    /// The sync_file's fences: (driver, timeline, status: 0 pending).
    pub fences: Vec<(String, String, i32)>,
}

/// What the sampling oracle saw over the whole watch.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Sampled {
    pub looks: usize,
    /// Every dma-buf looked at.
    pub inos: BTreeSet<u64>,
    /// (dma-buf inode, timeline) of each pending `vb2` fence seen.
    pub vb2: BTreeSet<(u64, String)>,
    /// Pending fences of other drivers, per driver: looks that saw one.
    pub others: BTreeMap<String, usize>,
    /// Looks poll() said were busy while the sync_file showed nothing
    /// pending (a fence that signalled in between).
    pub busy_only: usize,
    /// Looks that could not be made, per reason.
    pub failures: BTreeMap<String, usize>,
}

impl Sampled {
    /// Count one look; `vb2_driver` is the driver name the series' fences
    /// report (`oracle::VB2_DRIVER`).
    pub fn add(&mut self, look: Look, vb2_driver: &str) {
        self.looks += 1;
        self.inos.insert(look.ino);
        let mut pending = false;
        for (driver, timeline, _) in look.fences.iter().filter(|f| f.2 == 0) {
            pending = true;
            if driver == vb2_driver {
                self.vb2.insert((look.ino, timeline.clone()));
            } else {
                *self.others.entry(driver.clone()).or_default() += 1;
            }
        }
        if look.busy && !pending {
            self.busy_only += 1;
        }
    }

    pub fn fail(&mut self, why: String) {
        *self.failures.entry(why).or_default() += 1;
    }

    /// The report's oracle note after `why_not_kmod`.
    pub fn note(&self, why_not_kmod: &str) -> String {
        let mut t = format!(
            "{why_not_kmod}; fell back to poll()/sync_file sampling of the dma-bufs the watched \
             processes held (pidfd_getfd, every tick): {} dma-bufs, {} looks",
            self.inos.len(),
            self.looks
        );
        if self.inos.is_empty() {
            t.push_str(" (they held none: nothing to sample)");
        }
        if self.vb2.is_empty() {
            t.push_str(", no vb2 fence seen");
        } else {
            let seen: Vec<String> = self
                .vb2
                .iter()
                .map(|(ino, tl)| format!("ino {ino} on {tl}"))
                .collect();
            t.push_str(&format!(", vb2 fences seen pending: {}", seen.join(", ")));
        }
        if !self.others.is_empty() {
            t.push_str(&format!(
                ", other drivers' pending fences: {}",
                counted(self.others.iter().map(|(k, v)| (k.clone(), *v)).collect()).join(", ")
            ));
        }
        if self.busy_only > 0 {
            t.push_str(&format!(
                ", {} looks busy by poll() only (signalled before the sync_file was read)",
                self.busy_only
            ));
        }
        if !self.failures.is_empty() {
            t.push_str(&format!(
                ", looks that failed: {}",
                counted(self.failures.clone()).join(", ")
            ));
        }
        t
    }
}

/// The folded report: queues, anomalies, fences armed, records lost.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Analysis {
    pub queues: Vec<WatchQueue>,
    pub anomalies: Vec<Anomaly>,
    pub armed: usize,
    pub dropped: u64,
}

/// Merge a snapshot of the ring into `into`, keeping one record per `seq`
/// (a later snapshot repeats what an earlier one showed).
pub fn merge(into: &mut Vec<KmodRecord>, snapshot: Vec<KmodRecord>) {
    let have: BTreeSet<u64> = into.iter().filter_map(seq_of).collect();
    into.extend(
        snapshot
            .into_iter()
            .filter(|r| seq_of(r).is_some_and(|s| !have.contains(&s))),
    );
    into.sort_by_key(|r| seq_of(r).unwrap_or(0));
}

fn seq_of(r: &KmodRecord) -> Option<u64> {
    match r {
        KmodRecord::Event { seq, .. } => Some(*seq),
        KmodRecord::Overflow { .. } => None,
    }
}

/// The V4L2 buffer type's name (videodev2.h).
pub fn type_name(t: &str) -> String {
    let name = match t {
        "1" => "VIDEO_CAPTURE",
        "2" => "VIDEO_OUTPUT",
        "9" => "VIDEO_CAPTURE_MPLANE",
        "10" => "VIDEO_OUTPUT_MPLANE",
        "13" => "META_CAPTURE",
        "14" => "META_OUTPUT",
        _ => return t.to_string(),
    };
    format!("{t} {name}")
}

/// One event record's fields the analysis uses.
struct Ev<'a> {
    seq: u64,
    ts_ns: u64,
    event: KmodEvent,
    queue: &'a str,
    buf_type: &'a str,
    index: u32,
    plane: u32,
    ino: u64,
    fence: Option<(u64, u64)>,
    usage: Option<Usage>,
    reason: &'a str,
    error: Option<i32>,
    rec: &'a KmodRecord,
}

fn events(recs: &[KmodRecord]) -> Vec<Ev<'_>> {
    recs.iter()
        .filter_map(|rec| match rec {
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
                ..
            } => Some(Ev {
                seq: *seq,
                ts_ns: *ts_ns,
                event: *event,
                queue,
                buf_type,
                index: index.unwrap_or(u32::MAX),
                plane: plane.unwrap_or(0),
                ino: ino.unwrap_or(0),
                fence: ctx.zip(*seqno),
                usage: *usage,
                reason,
                error: *error,
                rec,
            }),
            KmodRecord::Overflow { .. } => None,
        })
        .collect()
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// The p50 (lower median) and max of `v`, in ms.
fn p50_max(mut v: Vec<u64>) -> (Option<f64>, Option<f64>) {
    v.sort_unstable();
    let p50 = (!v.is_empty()).then(|| ms(v[(v.len() - 1) / 2]));
    (p50, v.last().map(|&m| ms(m)))
}

/// What kind of reservation `ino` is, and its exporter if seen.
fn resv_kind(ino: u64, held: &BTreeMap<u64, HeldDmaBuf>) -> (String, String) {
    if ino == 0 {
        return ("never-exported".into(), String::new());
    }
    match held.get(&ino) {
        Some(h) if h.exporter.starts_with("videobuf2") => {
            ("v4l2-export".into(), h.exporter.clone())
        }
        Some(h) if !h.exporter.is_empty() => ("import".into(), h.exporter.clone()),
        _ => ("dma-buf".into(), String::new()),
    }
}

fn counted(m: BTreeMap<String, usize>) -> Vec<String> {
    m.into_iter().map(|(k, n)| format!("{k} x{n}")).collect()
}

/// Fold the records per queue and buffer and apply the anomaly rules.
pub fn analyse(obs: &Observed) -> Analysis {
    let evs = events(&obs.records);
    // Fences: id -> (first arm, signal).
    let mut arms: BTreeMap<(u64, u64), &Ev<'_>> = BTreeMap::new();
    let mut signals: BTreeMap<(u64, u64), &Ev<'_>> = BTreeMap::new();
    for e in &evs {
        match (e.event, e.fence) {
            (KmodEvent::Arm, Some(id)) => {
                arms.entry(id).or_insert(e);
            }
            (KmodEvent::Signal, Some(id)) => {
                signals.entry(id).or_insert(e);
            }
            _ => {}
        }
    }
    let mut anomalies = dequeued_before_signalled(&evs, &signals);

    // Per (queue, type) then index.
    type Key<'a> = (&'a str, &'a str);
    let mut per_buf: BTreeMap<Key<'_>, BTreeMap<u32, WatchBuffer>> = BTreeMap::new();
    let mut times: BTreeMap<(Key<'_>, u32), Vec<u64>> = BTreeMap::new();
    let mut errors: BTreeMap<(Key<'_>, u32), BTreeMap<String, usize>> = BTreeMap::new();
    let mut skips: BTreeMap<(Key<'_>, u32), BTreeMap<String, usize>> = BTreeMap::new();
    let mut armed_inos: BTreeSet<u64> = BTreeSet::new();
    // Skips that are not by design, per queue and reason: (count, first,
    // last).
    type Skips<'a, 'e> = BTreeMap<(Key<'a>, &'a str), (usize, &'e Ev<'a>, &'e Ev<'a>)>;
    let mut failed_skips: Skips<'_, '_> = BTreeMap::new();
    for e in &evs {
        let key = (e.queue, e.buf_type);
        if e.event == KmodEvent::Dqbuf {
            // Counted on the buffers a fence event made known: a queue that
            // publishes nothing is not listed for its DQBUFs alone.
            if let Some(b) = per_buf.get_mut(&key).and_then(|q| q.get_mut(&e.index)) {
                b.dequeued += 1;
            }
            continue;
        }
        let buf = per_buf
            .entry(key)
            .or_default()
            .entry(e.index)
            .or_insert_with(|| WatchBuffer {
                index: e.index,
                ..Default::default()
            });
        match e.event {
            KmodEvent::Arm => {
                armed_inos.insert(e.ino);
                let usage = e.usage.map_or("-", Usage::name).to_string();
                match buf
                    .reservations
                    .iter_mut()
                    .find(|r| r.plane == e.plane && r.ino == e.ino && r.usage == usage)
                {
                    Some(r) => r.jobs += 1,
                    None => {
                        let (kind, exporter) = resv_kind(e.ino, &obs.held);
                        let holders = obs
                            .held
                            .get(&e.ino)
                            .filter(|_| e.ino != 0)
                            .map(|h| h.holders.iter().cloned().collect())
                            .unwrap_or_default();
                        buf.reservations.push(WatchResv {
                            plane: e.plane,
                            ino: e.ino,
                            kind,
                            exporter,
                            usage,
                            jobs: 1,
                            holders,
                        });
                    }
                }
                // One job per fence, however many planes it was armed on.
                if e.fence.is_some_and(|id| std::ptr::eq(arms[&id], e)) {
                    buf.jobs += 1;
                }
            }
            KmodEvent::Signal => {
                if let Some(arm) = e.fence.and_then(|id| arms.get(&id)) {
                    let took = e.ts_ns.saturating_sub(arm.ts_ns);
                    times.entry((key, e.index)).or_default().push(took);
                    if took > obs.pending_bound_ns {
                        anomalies.push(Anomaly {
                            kind: "pending-too-long".into(),
                            evidence: format!(
                                "fence {} of {} index {} stayed pending {:.1} ms (bound {:.0} ms): \
                                 [{}] .. [{}]",
                                fence_name(e.fence),
                                e.queue,
                                e.index,
                                ms(took),
                                ms(obs.pending_bound_ns),
                                arm.rec.line(),
                                e.rec.line()
                            ),
                        });
                    }
                }
                if let Some(err) = e.error.filter(|&x| x != 0) {
                    *errors
                        .entry((key, e.index))
                        .or_default()
                        .entry(format!("error={err}"))
                        .or_default() += 1;
                }
            }
            KmodEvent::Skip => {
                *skips
                    .entry((key, e.index))
                    .or_default()
                    .entry(e.reason.to_string())
                    .or_default() += 1;
                if !SKIPPED_BY_DESIGN.contains(&e.reason) {
                    let s = failed_skips.entry((key, e.reason)).or_insert((0, e, e));
                    s.0 += 1;
                    s.2 = e;
                }
            }
            // Counted above.
            KmodEvent::Dqbuf => {}
        }
    }
    for ((key, reason), (n, first, last)) in &failed_skips {
        let evidence = if n == &1 {
            format!(
                "{} index {} plane {}: the arm was skipped ({reason}): [{}]",
                key.0,
                first.index,
                first.plane,
                first.rec.line()
            )
        } else {
            format!(
                "{}: {n} arms skipped ({reason}), the first and the last: [{}] .. [{}]",
                key.0,
                first.rec.line(),
                last.rec.line()
            )
        };
        anomalies.push(Anomaly {
            kind: "arm-skipped".into(),
            evidence,
        });
    }
    for (id, arm) in &arms {
        if !signals.contains_key(id) {
            anomalies.push(Anomaly {
                kind: "pending-at-end".into(),
                evidence: format!(
                    "fence {} of {} index {} still pending when the watch ended, {:.1} ms \
                     after its arm: [{}]",
                    fence_name(Some(*id)),
                    arm.queue,
                    arm.index,
                    ms(obs.end_ns.saturating_sub(arm.ts_ns)),
                    arm.rec.line()
                ),
            });
        }
    }
    // A dma-buf the client held that no arm carried, while a queue published
    // fences: an import the publishing queue should have fenced. Only
    // dma-bufs V4L2 can import are considered (videobuf2 exports, heaps,
    // udmabuf): a GPU's own buffers are not V4L2's business.
    if !arms.is_empty() {
        for (ino, h) in &obs.held {
            let importable = h.exporter.starts_with("videobuf2")
                || h.exporter == "udmabuf"
                || matches!(
                    h.exporter.as_str(),
                    "system" | "cma" | "linux,cma" | "reserved"
                );
            if importable && h.by_client && !armed_inos.contains(ino) {
                anomalies.push(Anomaly {
                    kind: "held-dma-buf-without-fence".into(),
                    evidence: format!(
                        "dma-buf ino {ino} (exporter {}) held by {} got no fence, while {} \
                         fences were armed",
                        h.exporter,
                        h.holders.iter().cloned().collect::<Vec<_>>().join(", "),
                        arms.len()
                    ),
                });
            }
        }
    }
    let queues = per_buf
        .into_iter()
        .map(|(key, bufs)| WatchQueue {
            queue: key.0.to_string(),
            buf_type: type_name(key.1),
            buffers: bufs
                .into_values()
                .map(|mut b| {
                    let k = (key, b.index);
                    (b.arm_to_signal_p50_ms, b.arm_to_signal_max_ms) =
                        p50_max(times.remove(&k).unwrap_or_default());
                    b.errors = counted(errors.remove(&k).unwrap_or_default());
                    b.skips = counted(skips.remove(&k).unwrap_or_default());
                    b
                })
                .collect(),
        })
        .collect();
    Analysis {
        queues,
        anomalies,
        armed: arms.len(),
        dropped: seq_gaps(&obs.records),
    }
}

/// A DQBUF of a buffer whose latest armed fence had not signalled yet: the
/// series signals before the buffer reaches the done list (K5), so userspace
/// must never get a buffer whose fence is pending. Records are numbered
/// under the ring's lock in the order the probes ran, and the signal
/// happens before the buffer can be dequeued, so "before" is by `seq`.
/// Each arm is checked at the first DQBUF after it only (a buffer dequeued
/// again without a new job has nothing new to wait for).
fn dequeued_before_signalled(
    evs: &[Ev<'_>],
    signals: &BTreeMap<(u64, u64), &Ev<'_>>,
) -> Vec<Anomaly> {
    let mut latest_arm: BTreeMap<(&str, &str, u32), &Ev<'_>> = BTreeMap::new();
    let mut out = Vec::new();
    for e in evs {
        let buf = (e.queue, e.buf_type, e.index);
        match e.event {
            KmodEvent::Arm => {
                latest_arm.insert(buf, e);
            }
            KmodEvent::Dqbuf => {
                let Some(arm) = latest_arm.remove(&buf) else {
                    continue;
                };
                let signal = arm.fence.and_then(|id| signals.get(&id));
                if signal.is_some_and(|s| s.seq < e.seq) {
                    continue;
                }
                let after = match signal {
                    Some(s) => format!(
                        "its signal came {:.1} ms later: [{}]",
                        ms(s.ts_ns.saturating_sub(e.ts_ns)),
                        s.rec.line()
                    ),
                    None => "no signal recorded".to_string(),
                };
                out.push(Anomaly {
                    kind: "dequeued-before-signalled".into(),
                    evidence: format!(
                        "{} index {} was dequeued while its fence {} was pending, {:.1} ms \
                         after the arm; {after}: [{}] .. [{}]",
                        e.queue,
                        e.index,
                        fence_name(arm.fence),
                        ms(e.ts_ns.saturating_sub(arm.ts_ns)),
                        arm.rec.line(),
                        e.rec.line()
                    ),
                });
            }
            _ => {}
        }
    }
    out
}

/// Skip reasons (as the module prints them) that are the series' design,
/// not a fence gone missing: USERPTR memory has no dma-buf to carry a
/// fence; a plane sharing an earlier plane's dma-buf or reservation object
/// gets the fence through that plane. They are listed per buffer, not as
/// anomalies.
pub const SKIPPED_BY_DESIGN: [&str; 3] = [
    "userptr_memory",
    "duplicated_dma-buf",
    "reservation_object_of_an_earlier_plane",
];

fn fence_name(id: Option<(u64, u64)>) -> String {
    id.map_or_else(|| "-".into(), |(c, s)| format!("{c}:{s}"))
}

/// Records lost: the gaps in `seq` between the first and the last record
/// kept (the ring drops its oldest when full).
fn seq_gaps(recs: &[KmodRecord]) -> u64 {
    let seqs: BTreeSet<u64> = recs.iter().filter_map(seq_of).collect();
    match (seqs.first(), seqs.last()) {
        (Some(a), Some(b)) => b - a + 1 - seqs.len() as u64,
        _ => 0,
    }
}

/// The report as text: one line per reservation of each buffer, then the
/// anomalies.
pub fn table(r: &landing_model::watch::WatchReport) -> String {
    let mut t = String::new();
    let what = if r.command.is_empty() {
        format!("{:.1} s", r.seconds)
    } else {
        format!(
            "`{}` ({:.1} s, exit {})",
            r.command.join(" "),
            r.seconds,
            r.command_status
                .map_or_else(|| "by signal".to_string(), |c| c.to_string())
        )
    };
    t.push_str(&format!("watched {what}; oracle: {}", r.oracle));
    if !r.oracle_note.is_empty() {
        t.push_str(&format!(" ({})", r.oracle_note));
    }
    if let Some(failed) = r.failed_runs_text() {
        t.push_str(&format!("; {failed}"));
    }
    t.push('\n');
    if !r.devices.is_empty() {
        t.push_str(&format!("V4L2 nodes held: {}\n", r.devices.join(", ")));
    }
    if r.armed == 0 && r.oracle == SAMPLING_ORACLE {
        t.push_str("nothing armed: no vb2 fence seen on the dma-bufs sampled\n");
    } else if r.oracle == SAMPLING_ORACLE {
        t.push_str(&format!(
            "{} vb2 fences seen pending by sampling\n",
            r.armed
        ));
    } else if r.armed == 0 {
        t.push_str("nothing armed\n");
    } else {
        t.push_str(&format!("{} fences armed", r.armed));
        if r.dropped > 0 {
            t.push_str(&format!(", {} records lost (ring full)", r.dropped));
        }
        t.push('\n');
    }
    for q in &r.queues {
        t.push_str(&format!("queue {} ({})\n", q.queue, q.buf_type));
        for b in &q.buffers {
            let f = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |m| format!("{m:.1}"));
            t.push_str(&format!(
                "  buffer {:>2}: {} jobs, {} dequeued, arm->signal p50 {} ms max {} ms{}{}\n",
                b.index,
                b.jobs,
                b.dequeued,
                f(b.arm_to_signal_p50_ms),
                f(b.arm_to_signal_max_ms),
                if b.errors.is_empty() {
                    String::new()
                } else {
                    format!(", errors: {}", b.errors.join(", "))
                },
                if b.skips.is_empty() {
                    String::new()
                } else {
                    format!(", skipped: {}", b.skips.join(", "))
                },
            ));
            for v in &b.reservations {
                let exporter = if v.exporter.is_empty() {
                    String::new()
                } else {
                    format!(" exporter {}", v.exporter)
                };
                let holders = if v.holders.is_empty() {
                    String::new()
                } else {
                    format!(", held by {}", v.holders.join(" "))
                };
                t.push_str(&format!(
                    "    plane {} ino {} {}{exporter}: {} x{}{holders}\n",
                    v.plane, v.ino, v.kind, v.usage, v.jobs
                ));
            }
        }
    }
    if r.anomalies.is_empty() {
        t.push_str("no anomaly\n");
    } else {
        t.push_str(&format!("{} anomalies:\n", r.anomalies.len()));
        for a in &r.anomalies {
            t.push_str(&format!("  {}: {}\n", a.kind, a.evidence));
        }
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_kmod_records;

    // In the module's format (docs/interfaces.md), shaped like what
    // `v4l2-ctl --stream-mmap --stream-out-mmap` on vim2m records: two jobs
    // on MMAP buffers never exported, one OUTPUT buffer a vivid export
    // (ino 31), and one CAPTURE job signalled with -EIO.
    const CLEAN: &str = "\
seq=100 ts_ns=1000000000 event=arm queue=out-00000000a1 type=2 index=0 plane=0 ino=0 ctx=7 seqno=1 usage=read reason=- error=-\n\
seq=101 ts_ns=1000000000 event=arm queue=cap-00000000b2 type=1 index=0 plane=0 ino=0 ctx=8 seqno=1 usage=write reason=- error=-\n\
seq=102 ts_ns=1020000000 event=signal queue=out-00000000a1 type=2 index=0 plane=- ino=- ctx=7 seqno=1 usage=- reason=- error=0\n\
seq=103 ts_ns=1020000000 event=signal queue=cap-00000000b2 type=1 index=0 plane=- ino=- ctx=8 seqno=1 usage=- reason=- error=0\n\
seq=104 ts_ns=1030000000 event=arm queue=out-00000000a1 type=2 index=1 plane=0 ino=31 ctx=7 seqno=2 usage=read reason=- error=-\n\
seq=105 ts_ns=1030000000 event=arm queue=cap-00000000b2 type=1 index=1 plane=0 ino=0 ctx=8 seqno=2 usage=write reason=- error=-\n\
seq=106 ts_ns=1070000000 event=signal queue=out-00000000a1 type=2 index=1 plane=- ino=- ctx=7 seqno=2 usage=- reason=- error=0\n\
seq=107 ts_ns=1070000000 event=signal queue=cap-00000000b2 type=1 index=1 plane=- ino=- ctx=8 seqno=2 usage=- reason=- error=-5\n";

    fn observe(text: &str, held: &[(u64, &str, &str)]) -> Analysis {
        let mut o = Observed {
            end_ns: 2_000_000_000,
            pending_bound_ns: 1_000_000_000,
            ..Default::default()
        };
        merge(&mut o.records, parse_kmod_records(text).expect("parses"));
        for (ino, exp, who) in held {
            let h = o.held.entry(*ino).or_default();
            h.by_client = true;
            h.exporter = exp.to_string();
            h.holders.insert(who.to_string());
        }
        analyse(&o)
    }

    fn kinds(a: &Analysis) -> Vec<&str> {
        a.anomalies.iter().map(|x| x.kind.as_str()).collect()
    }

    #[test]
    fn clean_run_folds_per_queue_and_buffer() {
        let a = observe(CLEAN, &[(31, "videobuf2_dma_contig", "v4l2-ctl[42]")]);
        assert!(a.anomalies.is_empty(), "{:?}", a.anomalies);
        assert_eq!(a.armed, 4);
        assert_eq!(a.dropped, 0);
        assert_eq!(a.queues.len(), 2);
        let cap = &a.queues[0];
        assert_eq!(cap.queue, "cap-00000000b2");
        assert_eq!(cap.buf_type, "1 VIDEO_CAPTURE");
        assert_eq!(cap.buffers[0].jobs, 1);
        assert_eq!(cap.buffers[0].reservations[0].kind, "never-exported");
        assert_eq!(cap.buffers[0].arm_to_signal_p50_ms, Some(20.0));
        assert_eq!(cap.buffers[1].errors, ["error=-5 x1"]);
        let out1 = &a.queues[1].buffers[1];
        assert_eq!(out1.reservations[0].kind, "v4l2-export");
        assert_eq!(out1.reservations[0].usage, "read");
        assert_eq!(out1.reservations[0].holders, ["v4l2-ctl[42]"]);
        assert_eq!(out1.arm_to_signal_max_ms, Some(40.0));
    }

    #[test]
    fn a_snapshot_merges_by_seq() {
        let mut recs = parse_kmod_records(CLEAN).expect("parses");
        let again = parse_kmod_records(CLEAN).expect("parses");
        merge(&mut recs, again);
        assert_eq!(recs.len(), 8);
        // A gap in seq is a lost record.
        let gap: String = CLEAN
            .lines()
            .filter(|l| !l.starts_with("seq=103 "))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(observe(&gap, &[]).dropped, 1);
    }

    #[test]
    fn pending_at_end() {
        // A client that never requeues: buffer 1's CAPTURE fence is never
        // signalled.
        let held: String = CLEAN
            .lines()
            .filter(|l| !l.starts_with("seq=107 "))
            .map(|l| format!("{l}\n"))
            .collect();
        let a = observe(&held, &[]);
        assert_eq!(kinds(&a), ["pending-at-end"]);
        let e = &a.anomalies[0].evidence;
        assert!(e.contains("fence 8:2 of cap-00000000b2 index 1"), "{e}");
        assert!(e.contains("970.0 ms after its arm"), "{e}");
        assert!(e.contains("seq=105 "), "{e}");
    }

    #[test]
    fn pending_too_long() {
        let slow = CLEAN.replace("seq=107 ts_ns=1070000000", "seq=107 ts_ns=2530000000");
        let a = observe(&slow, &[]);
        assert_eq!(kinds(&a), ["pending-too-long"]);
        let e = &a.anomalies[0].evidence;
        assert!(
            e.contains("stayed pending 1500.0 ms (bound 1000 ms)"),
            "{e}"
        );
        assert!(e.contains("seq=105 ") && e.contains("seq=107 "), "{e}");
    }

    // DQBUF records after each signal, as the series orders them (signal,
    // then the done list, then DQBUF); and a DQBUF on a queue that armed
    // nothing (vivid's capture), which is not listed.
    const DQBUFS: &str = "\
seq=108 ts_ns=1071000000 event=dqbuf queue=out-00000000a1 type=2 index=0 plane=- ino=- ctx=- seqno=- usage=- reason=- error=-\n\
seq=109 ts_ns=1071000000 event=dqbuf queue=cap-00000000b2 type=1 index=0 plane=- ino=- ctx=- seqno=- usage=- reason=- error=-\n\
seq=110 ts_ns=1072000000 event=dqbuf queue=out-00000000a1 type=2 index=1 plane=- ino=- ctx=- seqno=- usage=- reason=- error=-\n\
seq=111 ts_ns=1072000000 event=dqbuf queue=cap-00000000b2 type=1 index=1 plane=- ino=- ctx=- seqno=- usage=- reason=- error=-\n\
seq=112 ts_ns=1073000000 event=dqbuf queue=vivid-cap type=9 index=3 plane=- ino=- ctx=- seqno=- usage=- reason=- error=-\n\
seq=113 ts_ns=1074000000 event=dqbuf queue=cap-00000000b2 type=1 index=1 plane=- ino=- ctx=- seqno=- usage=- reason=- error=-\n";

    #[test]
    fn dequeued_after_signal_is_clean() {
        let a = observe(&format!("{CLEAN}{DQBUFS}"), &[]);
        assert!(a.anomalies.is_empty(), "{:?}", a.anomalies);
        assert_eq!(a.queues.len(), 2, "vivid-cap armed nothing: not listed");
        let cap = &a.queues[0];
        assert_eq!(cap.buffers[0].dequeued, 1);
        // Dequeued twice (requeued without a job between): one job to
        // check, once.
        assert_eq!(cap.buffers[1].dequeued, 2);
    }

    #[test]
    fn dequeued_before_signalled() {
        // CAPTURE buffer 0 reaches userspace 10 ms before its fence 8:1
        // signals; buffer 1's fence never signals.
        let ring = "\
seq=1 ts_ns=1000000000 event=arm queue=cap-00000000b2 type=1 index=0 plane=0 ino=0 ctx=8 seqno=1 usage=write reason=- error=-\n\
seq=2 ts_ns=1010000000 event=dqbuf queue=cap-00000000b2 type=1 index=0 plane=- ino=- ctx=- seqno=- usage=- reason=- error=-\n\
seq=3 ts_ns=1020000000 event=signal queue=cap-00000000b2 type=1 index=0 plane=- ino=- ctx=8 seqno=1 usage=- reason=- error=0\n\
seq=4 ts_ns=1030000000 event=arm queue=cap-00000000b2 type=1 index=1 plane=0 ino=0 ctx=8 seqno=2 usage=write reason=- error=-\n\
seq=5 ts_ns=1040000000 event=dqbuf queue=cap-00000000b2 type=1 index=1 plane=- ino=- ctx=- seqno=- usage=- reason=- error=-\n";
        let a = observe(ring, &[]);
        assert_eq!(
            kinds(&a),
            [
                "dequeued-before-signalled",
                "dequeued-before-signalled",
                "pending-at-end"
            ]
        );
        let e = &a.anomalies[0].evidence;
        assert!(
            e.contains(
                "cap-00000000b2 index 0 was dequeued while its fence 8:1 was pending, 10.0 ms \
                 after the arm; its signal came 10.0 ms later: [seq=3 "
            ),
            "{e}"
        );
        assert!(e.contains("[seq=1 ts_ns=1000000000 event=arm"), "{e}");
        assert!(e.contains("[seq=2 ts_ns=1010000000 event=dqbuf"), "{e}");
        let e = &a.anomalies[1].evidence;
        assert!(e.contains("fence 8:2 was pending"), "{e}");
        assert!(e.contains("no signal recorded"), "{e}");
        assert_eq!(a.queues[0].buffers[0].dequeued, 1);
        let t = table(&landing_model::watch::WatchReport {
            oracle: "kmod".into(),
            armed: a.armed,
            queues: a.queues.clone(),
            anomalies: a.anomalies.clone(),
            ..Default::default()
        });
        assert!(t.contains("buffer  0: 1 jobs, 1 dequeued,"), "{t}");
        assert!(
            t.contains("  dequeued-before-signalled: cap-00000000b2 index 0"),
            "{t}"
        );
    }

    #[test]
    fn arm_skipped() {
        // A driver that ran a job while the buffer's previous fence was
        // still pending: the series skips the arm.
        let skip = format!(
            "{CLEAN}seq=108 ts_ns=1100000000 event=skip queue=out-00000000a1 type=2 index=2 \
             plane=0 ino=- ctx=- seqno=- usage=- reason=fence_still_pending error=-\n"
        );
        let a = observe(&skip, &[]);
        assert_eq!(kinds(&a), ["arm-skipped"]);
        let e = &a.anomalies[0].evidence;
        assert!(
            e.contains("out-00000000a1 index 2 plane 0: the arm was skipped (fence_still_pending)"),
            "{e}"
        );
        assert_eq!(a.queues[1].buffers[2].skips, ["fence_still_pending x1"]);
        // Many: one anomaly per queue and reason, with the first and last.
        let more = format!(
            "{skip}seq=109 ts_ns=1200000000 event=skip queue=out-00000000a1 type=2 index=3 \
             plane=0 ino=- ctx=- seqno=- usage=- reason=fence_still_pending error=-\n"
        );
        let a = observe(&more, &[]);
        assert_eq!(kinds(&a), ["arm-skipped"]);
        let e = &a.anomalies[0].evidence;
        assert!(
            e.contains("out-00000000a1: 2 arms skipped (fence_still_pending)"),
            "{e}"
        );
        assert!(e.contains("[seq=108 ") && e.contains("[seq=109 "), "{e}");
    }

    #[test]
    fn skipped_by_design_is_listed_not_an_anomaly() {
        // v4l2-compliance's USERPTR streaming on vim2m, as the patched
        // guest recorded it; and a plane sharing its dma-buf.
        let skip = format!(
            "{CLEAN}seq=108 ts_ns=1100000000 event=skip queue=out-00000000a1 type=2 index=2 \
             plane=0 ino=- ctx=- seqno=- usage=- reason=userptr_memory error=-\n\
             seq=109 ts_ns=1100000000 event=skip queue=cap-00000000b2 type=1 index=2 \
             plane=1 ino=- ctx=- seqno=- usage=- reason=duplicated_dma-buf error=-\n"
        );
        let a = observe(&skip, &[]);
        assert!(a.anomalies.is_empty(), "{:?}", a.anomalies);
        assert_eq!(a.queues[1].buffers[2].skips, ["userptr_memory x1"]);
        assert_eq!(a.queues[0].buffers[2].skips, ["duplicated_dma-buf x1"]);
    }

    #[test]
    fn held_dma_buf_without_fence() {
        // The client imported heap buffer 77 into a publishing queue (it
        // holds it), but no arm carried it; a GPU buffer is not V4L2's.
        let a = observe(
            CLEAN,
            &[(77, "system", "mpv[9]"), (78, "panfrost", "mpv[9]")],
        );
        assert_eq!(kinds(&a), ["held-dma-buf-without-fence"]);
        assert!(a.anomalies[0]
            .evidence
            .contains("ino 77 (exporter system) held by mpv[9]"));
        // Nothing published: nothing expected.
        assert!(observe("", &[(77, "system", "mpv[9]")])
            .anomalies
            .is_empty());
    }

    #[test]
    fn sampling_sees_vb2_fences_only_as_vb2() {
        let look = |ino, busy, fences: &[(&str, &str, i32)]| Look {
            ino,
            busy,
            fences: fences
                .iter()
                .map(|(d, t, s)| (d.to_string(), t.to_string(), *s))
                .collect(),
        };
        let mut s = Sampled::default();
        // The control kernel: vivid's exports held by v4l2-ctl, idle.
        s.add(look(31, false, &[]), "vb2");
        s.add(look(32, false, &[("stub", "stub", 1)]), "vb2");
        let why = "/dev/vb2_fence_probe: No such file or directory (os error 2)";
        let n = s.note(why);
        assert!(n.starts_with(why), "{n}");
        assert!(
            n.contains(": 2 dma-bufs, 2 looks, no vb2 fence seen"),
            "{n}"
        );
        assert!(s.vb2.is_empty());
        // A patched kernel's pending fence, a GPU's, and a race.
        s.add(look(31, true, &[("vb2", "cap-00000000b2", 0)]), "vb2");
        s.add(
            look(31, true, &[("vb2", "cap-00000000b2", 0), ("vb2", "x", 1)]),
            "vb2",
        );
        s.add(look(33, true, &[("panfrost", "gpu", 0)]), "vb2");
        s.add(look(32, true, &[]), "vb2");
        s.fail("pidfd_getfd: EPERM".into());
        assert_eq!(s.vb2.len(), 1);
        let n = s.note(why);
        assert!(
            n.contains("vb2 fences seen pending: ino 31 on cap-00000000b2"),
            "{n}"
        );
        assert!(
            n.contains("other drivers' pending fences: panfrost x1"),
            "{n}"
        );
        assert!(n.contains("1 looks busy by poll() only"), "{n}");
        assert!(
            n.contains("looks that failed: pidfd_getfd: EPERM x1"),
            "{n}"
        );
        // Nothing held: said so.
        let n = Sampled::default().note(why);
        assert!(n.contains("0 dma-bufs, 0 looks (they held none"), "{n}");
        let t = table(&landing_model::watch::WatchReport {
            oracle: SAMPLING_ORACLE.into(),
            ..Default::default()
        });
        assert!(
            t.contains("nothing armed: no vb2 fence seen on the dma-bufs sampled\n"),
            "{t}"
        );
    }

    #[test]
    fn nothing_armed_reads_so() {
        let r = landing_model::watch::WatchReport {
            oracle: "none".into(),
            oracle_note: "/dev/vb2_fence_probe absent".into(),
            ..Default::default()
        };
        let t = table(&r);
        assert!(
            t.contains("oracle: none (/dev/vb2_fence_probe absent)"),
            "{t}"
        );
        assert!(t.contains("nothing armed\n"), "{t}");
        assert!(t.contains("no anomaly\n"), "{t}");
    }

    #[test]
    fn a_command_run_again_says_so() {
        let r = landing_model::watch::WatchReport {
            oracle: "kmod".into(),
            command: vec!["v4l2-compliance".into()],
            command_status: Some(0),
            failed_attempts: vec![Some(1), None],
            ..Default::default()
        };
        let t = table(&r);
        assert!(
            t.contains(
                "exit 0); oracle: kmod; after 2 failed run(s) (exited with 1, exited by a signal)\n"
            ),
            "{t}"
        );
    }
}
