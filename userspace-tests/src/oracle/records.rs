//! The rust-kmod's record ring: reading a snapshot of it, and matching the
//! records of one fence (its arms, its signal) against what a check
//! expects.

use anyhow::{Context, Result};

use super::KMOD_DEV;
use crate::parse::{parse_kmod_records, KmodEvent, KmodRecord, Usage};

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
    r.line()
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
    let of_event = |e: KmodEvent| -> Vec<&KmodRecord> {
        ours.iter()
            .copied()
            .filter(|r| matches!(r, KmodRecord::Event { event, .. } if *event == e))
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
    let arms = of_event(KmodEvent::Arm);
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
    let signals = of_event(KmodEvent::Signal);
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

#[cfg(test)]
mod tests {
    use super::*;

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
