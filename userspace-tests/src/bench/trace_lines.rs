//! The tracefs text the benchmark reads back (trace_clock `mono`, so the
//! timestamps are CLOCK_MONOTONIC, the clock userspace reads), and what it
//! derives from it. Pure: the unit tests feed it lines as the kernel
//! prints them.

use std::collections::{HashMap, HashSet};

use thiserror::Error;

/// The kprobe events the benchmark defines (group `fresnel_bench`).
pub const ARM_ENTER: &str = "arm_enter";
pub const ARM_EXIT: &str = "arm_exit";
pub const DONE_ENTER: &str = "done_enter";
/// The series' tracepoints and dma-fence's.
pub const FENCE_ARM: &str = "vb2_fence_arm";
pub const FENCE_SIGNAL: &str = "vb2_fence_signal";
pub const FENCE_INIT: &str = "dma_fence_init";
pub const FENCE_DESTROY: &str = "dma_fence_destroy";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TraceError {
    #[error("the trace lost events (\"{0}\"): raise buffer_size_kb")]
    Lost(String),
    #[error("unrecognised trace line: {0}")]
    Line(String),
}

/// One event line: `task-PID [CPU] FLAGS SECONDS.MICROS: EVENT: FIELDS`.
#[derive(Clone, Debug, PartialEq)]
pub struct TraceEvent {
    pub pid: u32,
    pub ts_ns: u64,
    pub name: String,
    pub fields: String,
}

impl TraceEvent {
    /// The value of `key=` in the fields.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.fields
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }
}

fn parse_line(line: &str) -> Option<TraceEvent> {
    let (task, rest) = line.split_once(" [")?;
    let pid = task.trim().rsplit_once('-')?.1.parse().ok()?;
    // Flags and timestamp are padded with a varying number of spaces.
    let (_, rest) = rest.split_once("] ")?;
    let rest = rest.trim_start();
    let (_flags, rest) = rest.split_once(' ')?;
    let rest = rest.trim_start();
    let (ts, rest) = rest.split_once(' ')?;
    let ts = ts.strip_suffix(':')?;
    let (name, fields) = rest.trim_start().split_once(':')?;
    let (sec, usec) = ts.split_once('.')?;
    let ts_ns = sec.parse::<u64>().ok()? * 1_000_000_000 + usec.parse::<u64>().ok()? * 1_000;
    Some(TraceEvent {
        pid,
        ts_ns,
        name: name.to_string(),
        fields: fields.trim().to_string(),
    })
}

/// Every event of a `trace` file's text; lost events are an error, since
/// every figure below counts or pairs events.
pub fn parse_trace(text: &str) -> Result<Vec<TraceEvent>, TraceError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        if t.contains("LOST") && t.contains("EVENTS") {
            return Err(TraceError::Lost(t.to_string()));
        }
        out.push(parse_line(line).ok_or_else(|| TraceError::Line(line.to_string()))?);
    }
    Ok(out)
}

fn us(from: u64, to: u64) -> f64 {
    to.saturating_sub(from) as f64 / 1000.0
}

/// Per-job timings, paired per task (a job's arm and its completion each
/// run in one task): vb2_arm_fences() entry to its first published fence
/// and to its return; vb2_buffer_done() entry to the signal it makes.
#[derive(Debug, Default, PartialEq)]
pub struct JobTimes {
    pub arm_to_publish_us: Vec<f64>,
    pub arm_call_us: Vec<f64>,
    pub done_to_signal_us: Vec<f64>,
}

pub fn job_times(events: &[TraceEvent]) -> JobTimes {
    let mut t = JobTimes::default();
    // Per pid: the open vb2_arm_fences() call (entry, published yet?) and
    // the open vb2_buffer_done() call.
    let mut arm: HashMap<u32, (u64, bool)> = HashMap::new();
    let mut done: HashMap<u32, u64> = HashMap::new();
    for e in events {
        match e.name.as_str() {
            ARM_ENTER => {
                arm.insert(e.pid, (e.ts_ns, false));
            }
            FENCE_ARM => {
                if let Some((t0, published)) = arm.get_mut(&e.pid) {
                    if !*published {
                        *published = true;
                        t.arm_to_publish_us.push(us(*t0, e.ts_ns));
                    }
                }
            }
            ARM_EXIT => {
                // Calls that published nothing (a queue not opted in) are
                // not fence work; they are counted by the throughput runs.
                if let Some((t0, true)) = arm.remove(&e.pid) {
                    t.arm_call_us.push(us(t0, e.ts_ns));
                }
            }
            DONE_ENTER => {
                done.insert(e.pid, e.ts_ns);
            }
            FENCE_SIGNAL => {
                if let Some(t0) = done.remove(&e.pid) {
                    t.done_to_signal_us.push(us(t0, e.ts_ns));
                }
            }
            _ => {}
        }
    }
    t
}

/// V4L2_BUF_TYPE_VIDEO_CAPTURE and _CAPTURE_MPLANE.
fn is_capture_type(v: Option<&str>) -> bool {
    matches!(v, Some("1") | Some("9"))
}

/// The times of the CAPTURE fences' signals, in order.
pub fn capture_signals(events: &[TraceEvent]) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e.name == FENCE_SIGNAL && is_capture_type(e.field("type")))
        .map(|e| e.ts_ns)
        .collect()
}

/// vb2 fences initialised and, of those, destroyed (matched by
/// context:seqno: a signalled fence's driver name is gone by then).
#[derive(Debug, Default, PartialEq)]
pub struct FenceBalance {
    pub allocated: u64,
    pub released: u64,
    pub unreleased: Vec<String>,
}

pub fn fence_balance(events: &[TraceEvent], driver: &str) -> FenceBalance {
    let id = |e: &TraceEvent| Some(format!("{}:{}", e.field("context")?, e.field("seqno")?));
    let mut live: Vec<String> = Vec::new();
    let mut live_set: HashSet<String> = HashSet::new();
    let mut b = FenceBalance::default();
    for e in events {
        match e.name.as_str() {
            FENCE_INIT if e.field("driver") == Some(driver) => {
                if let Some(i) = id(e) {
                    b.allocated += 1;
                    live_set.insert(i.clone());
                    live.push(i);
                }
            }
            FENCE_DESTROY => {
                if let Some(i) = id(e) {
                    if live_set.remove(&i) {
                        b.released += 1;
                    }
                }
            }
            _ => {}
        }
    }
    b.unreleased = live
        .into_iter()
        .filter(|i| live_set.contains(i))
        .take(8)
        .collect();
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    // As tracefs prints them with trace_clock=mono (kprobe events, the
    // series' tracepoints, dma-fence's).
    const TRACE: &str = "# tracer: nop\n\
#\n\
#           TASK-PID     CPU#  |||||  TIMESTAMP  FUNCTION\n\
      fence-bench-88      [001] ..... 1001.000100: arm_enter: (vb2_arm_fences+0x0/0x5d0)\n\
      fence-bench-88      [001] ...1. 1001.000130: vb2_fence_arm: queue=vim2m-out type=2 index=0 plane=0 ino=0 ctx=9 seqno=1 usage=read\n\
      fence-bench-88      [001] ...1. 1001.000140: vb2_fence_arm: queue=vim2m-cap type=1 index=0 plane=0 ino=31 ctx=10 seqno=1 usage=write\n\
      fence-bench-88      [001] ..... 1001.000160: arm_exit: (device_run+0x9c/0x1a0 <- vb2_arm_fences)\n\
     kworker/1:2-40      [000] ..... 1001.004000: done_enter: (vb2_buffer_done+0x0/0x390)\n\
     kworker/1:2-40      [000] ...1. 1001.004012: vb2_fence_signal: queue=vim2m-out type=2 index=0 ctx=9 seqno=1 error=0\n\
     kworker/1:2-40      [000] ..... 1001.004020: done_enter: (vb2_buffer_done+0x0/0x390)\n\
     kworker/1:2-40      [000] ...1. 1001.004025: vb2_fence_signal: queue=vim2m-cap type=1 index=0 ctx=10 seqno=1 error=0\n";

    #[test]
    fn lines_parse() {
        let ev = parse_trace(TRACE).expect("parses");
        assert_eq!(ev.len(), 8);
        assert_eq!(ev[0].pid, 88);
        assert_eq!(ev[0].ts_ns, 1_001_000_100_000);
        assert_eq!(ev[4].name, DONE_ENTER);
        assert_eq!(ev[7].field("ctx"), Some("10"));
        assert_eq!(ev[7].field("type"), Some("1"));
        // As the guest printed it: flags with a BH/need-resched mark,
        // padding before the timestamp, a module symbol.
        let guest = "     fence-bench-177     [000] ..Zff   232.908050: arm_enter: \
(vb2_arm_fences+0x4/0xb30 [videobuf2_common])\n";
        let ev = parse_trace(guest).expect("parses");
        assert_eq!((ev[0].pid, ev[0].ts_ns), (177, 232_908_050_000));
        assert_eq!(ev[0].name, ARM_ENTER);
    }

    #[test]
    fn jobs_pair_per_task() {
        let ev = parse_trace(TRACE).expect("parses");
        let t = job_times(&ev);
        assert_eq!(t.arm_to_publish_us, [30.0]);
        assert_eq!(t.arm_call_us, [60.0]);
        assert_eq!(t.done_to_signal_us, [12.0, 5.0]);
        assert_eq!(capture_signals(&ev), [1_001_004_025_000]);
    }

    #[test]
    fn an_arm_that_published_nothing_is_not_a_sample() {
        let text = "  b-7 [000] ..... 5.000001: arm_enter: (vb2_arm_fences+0x0/0x5d0)\n\
  b-7 [000] ..... 5.000003: arm_exit: (device_run+0x9c/0x1a0 <- vb2_arm_fences)\n";
        let t = job_times(&parse_trace(text).expect("parses"));
        assert!(t.arm_call_us.is_empty() && t.arm_to_publish_us.is_empty());
    }

    #[test]
    fn fences_balance_by_context_and_seqno() {
        let text = "  b-7 [000] ...1. 5.000001: dma_fence_init: driver=vb2 timeline=vim2m-cap:0 context=10 seqno=1\n\
  b-7 [000] ...1. 5.000002: dma_fence_init: driver=vb2 timeline=vim2m-cap:1 context=11 seqno=1\n\
  b-7 [000] ...1. 5.000003: dma_fence_init: driver=other timeline=t context=3 seqno=8\n\
  b-7 [000] ...1. 5.000004: dma_fence_destroy: driver=detached-driver timeline=signaled-timeline context=10 seqno=1\n\
  b-7 [000] ...1. 5.000005: dma_fence_destroy: driver=other timeline=t context=3 seqno=8\n";
        let b = fence_balance(&parse_trace(text).expect("parses"), "vb2");
        assert_eq!(
            b,
            FenceBalance {
                allocated: 2,
                released: 1,
                unreleased: vec!["11:1".into()]
            }
        );
    }

    #[test]
    fn lost_events_and_garbage_are_errors() {
        let lost = "CPU:1 [LOST 120 EVENTS]\n";
        assert!(matches!(parse_trace(lost), Err(TraceError::Lost(_))));
        assert!(matches!(
            parse_trace("what is this\n"),
            Err(TraceError::Line(_))
        ));
    }
}
