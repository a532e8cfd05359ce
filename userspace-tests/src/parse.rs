//! Parsers for the text the oracles produce: debugfs dma_buf/bufinfo and
//! the rust-kmod record lines. Pure functions, unit-tested on real samples.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParseError {
    #[error("bufinfo line {line}: {what}: {text:?}")]
    Bufinfo {
        line: usize,
        what: &'static str,
        text: String,
    },
    #[error("kmod record {text:?}: {what}")]
    Record { what: &'static str, text: String },
}

/// Usage slot of a fence on a dma_resv (enum dma_resv_usage order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Usage {
    Kernel,
    Write,
    Read,
    Bookkeep,
}

impl Usage {
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "kernel" => Some(Self::Kernel),
            "write" => Some(Self::Write),
            "read" => Some(Self::Read),
            "bookkeep" => Some(Self::Bookkeep),
            _ => None,
        }
    }

    /// The numbering rust-kmod's `struct vb2fp_fence.usage` uses.
    pub fn from_kmod(v: u32) -> Option<Self> {
        match v {
            0 => Some(Self::Kernel),
            1 => Some(Self::Write),
            2 => Some(Self::Read),
            3 => Some(Self::Bookkeep),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Kernel => "kernel",
            Self::Write => "write",
            Self::Read => "read",
            Self::Bookkeep => "bookkeep",
        }
    }
}

/// One `\t<usage> fence:<ctx>:<seqno> ...` line (dma_resv_describe +
/// dma_fence_describe). Driver and timeline are printed only while the fence
/// is unsignalled; a signalled fence shows empty names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufinfoFence {
    pub usage: Usage,
    pub context: u64,
    pub seqno: u64,
    pub timeline: String,
    pub driver: String,
    pub signalled: bool,
}

/// One dma-buf object of bufinfo.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufinfoObject {
    pub size: u64,
    pub exp_name: String,
    pub ino: u64,
    pub name: String,
    pub fences: Vec<BufinfoFence>,
    pub attached: Vec<String>,
}

fn bi_err(line: usize, what: &'static str, text: &str) -> ParseError {
    ParseError::Bufinfo {
        line: line + 1,
        what,
        text: text.to_string(),
    }
}

fn parse_fence_line(idx: usize, line: &str) -> Result<Option<BufinfoFence>, ParseError> {
    let t = line.trim_start_matches('\t');
    let Some((usage, rest)) = t.split_once(" fence:") else {
        return Ok(None);
    };
    let usage = Usage::from_name(usage).ok_or_else(|| bi_err(idx, "unknown fence usage", line))?;
    let toks: Vec<&str> = rest.split_whitespace().collect();
    if toks.len() < 2 {
        return Err(bi_err(idx, "short fence line", line));
    }
    let (ctx, seq) = toks[0]
        .split_once(':')
        .ok_or_else(|| bi_err(idx, "fence without ctx:seqno", line))?;
    let context = ctx
        .parse()
        .map_err(|_| bi_err(idx, "bad fence context", line))?;
    let seqno = seq
        .parse()
        .map_err(|_| bi_err(idx, "bad fence seqno", line))?;
    let status = toks[toks.len() - 1];
    let signalled = match status {
        "signalled" => true,
        "unsignalled" => false,
        _ => {
            return Err(bi_err(
                idx,
                "fence status neither signalled nor unsignalled",
                line,
            ))
        }
    };
    let middle = &toks[1..toks.len() - 1];
    let (timeline, driver) = match middle.len() {
        0 => (String::new(), String::new()),
        1 => (middle[0].to_string(), String::new()),
        n => (middle[..n - 1].join(" "), middle[n - 1].to_string()),
    };
    Ok(Some(BufinfoFence {
        usage,
        context,
        seqno,
        timeline,
        driver,
        signalled,
    }))
}

/// Parse `/sys/kernel/debug/dma_buf/bufinfo` (drivers/dma-buf/dma-buf.c
/// dma_buf_debug_show).
pub fn parse_bufinfo(text: &str) -> Result<Vec<BufinfoObject>, ParseError> {
    let mut objs: Vec<BufinfoObject> = Vec::new();
    let mut in_attached = false;
    for (idx, line) in text.lines().enumerate() {
        if line.trim().is_empty()
            || line.starts_with("Dma-buf Objects:")
            || line.split('\t').next().map(str::trim) == Some("size")
            || line.starts_with("Total ")
        {
            in_attached = false;
            continue;
        }
        if !line.starts_with('\t') {
            // Object header: size flags mode count exp_name ino name.
            let f: Vec<&str> = line.splitn(7, '\t').collect();
            if f.len() != 7 {
                return Err(bi_err(
                    idx,
                    "object line without 7 tab-separated fields",
                    line,
                ));
            }
            let size = f[0]
                .trim()
                .parse()
                .map_err(|_| bi_err(idx, "bad size", line))?;
            let ino = f[5]
                .trim()
                .parse()
                .map_err(|_| bi_err(idx, "bad inode", line))?;
            objs.push(BufinfoObject {
                size,
                exp_name: f[4].to_string(),
                ino,
                name: f[6].to_string(),
                fences: Vec::new(),
                attached: Vec::new(),
            });
            in_attached = false;
            continue;
        }
        let cur = objs
            .last_mut()
            .ok_or_else(|| bi_err(idx, "indented line before any object", line))?;
        if line.trim() == "Attached Devices:" {
            in_attached = true;
        } else if let Some(f) = parse_fence_line(idx, line)? {
            cur.fences.push(f);
        } else if in_attached {
            cur.attached.push(line.trim().to_string());
        } else {
            return Err(bi_err(idx, "unrecognised indented line", line));
        }
    }
    Ok(objs)
}

/// What a record of /dev/vb2_fence_probe reports (its `event=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KmodEvent {
    /// A fence was added to a buffer's reservation.
    Arm,
    /// A buffer got no fence, with the reason.
    Skip,
    /// A fence signalled, with its error.
    Signal,
    /// A buffer was dequeued.
    Dqbuf,
}

impl KmodEvent {
    pub const ALL: [KmodEvent; 4] = [Self::Arm, Self::Skip, Self::Signal, Self::Dqbuf];

    /// The word the module prints.
    pub fn name(self) -> &'static str {
        match self {
            Self::Arm => "arm",
            Self::Skip => "skip",
            Self::Signal => "signal",
            Self::Dqbuf => "dqbuf",
        }
    }

    pub fn from_name(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.name() == word)
    }
}

impl std::fmt::Display for KmodEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One record line of /dev/vb2_fence_probe.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KmodRecord {
    Event {
        seq: u64,
        ts_ns: u64,
        event: KmodEvent,
        queue: String,
        buf_type: String,
        index: Option<u32>,
        plane: Option<u32>,
        ino: Option<u64>,
        ctx: Option<u64>,
        seqno: Option<u64>,
        usage: Option<Usage>,
        reason: String,
        error: Option<i32>,
    },
    Overflow {
        dropped: u64,
    },
}

impl KmodRecord {
    /// The record rendered back as the line the kmod printed (for
    /// messages and evidence).
    pub fn line(&self) -> String {
        fn o<T: std::fmt::Display>(v: &Option<T>) -> String {
            v.as_ref().map_or_else(|| "-".to_string(), T::to_string)
        }
        match self {
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
}

fn opt_num<T: std::str::FromStr>(v: Option<&String>) -> Option<T> {
    v.and_then(|s| if s == "-" { None } else { s.parse().ok() })
}

/// Parse one `key=value ...` record line (docs/interfaces.md).
pub fn parse_kmod_record(line: &str) -> Result<KmodRecord, ParseError> {
    let err = |what| ParseError::Record {
        what,
        text: line.to_string(),
    };
    let mut kv: Vec<(String, String)> = Vec::new();
    for tok in line.split_whitespace() {
        match tok.split_once('=') {
            Some((k, v)) => kv.push((k.to_string(), v.to_string())),
            // A value with spaces (a free-text reason) continues here.
            None => match kv.last_mut() {
                Some((_, v)) => {
                    v.push(' ');
                    v.push_str(tok);
                }
                None if tok == "overflow" => kv.push(("overflow".into(), String::new())),
                None => return Err(err("token before any key=value")),
            },
        }
    }
    let get = |k: &str| kv.iter().find(|(kk, _)| kk == k).map(|(_, v)| v);
    if kv.first().map(|(k, _)| k.as_str()) == Some("overflow") {
        let dropped = opt_num(get("dropped")).ok_or_else(|| err("overflow without dropped="))?;
        return Ok(KmodRecord::Overflow { dropped });
    }
    let seq = opt_num(get("seq")).ok_or_else(|| err("missing seq="))?;
    let ts_ns = opt_num(get("ts_ns")).ok_or_else(|| err("missing ts_ns="))?;
    let event = get("event").ok_or_else(|| err("missing event="))?;
    let event =
        KmodEvent::from_name(event).ok_or_else(|| err("event is not arm|skip|signal|dqbuf"))?;
    let usage = match get("usage").map(String::as_str) {
        None | Some("-") => None,
        Some(u) => Some(Usage::from_name(u).ok_or_else(|| err("bad usage"))?),
    };
    Ok(KmodRecord::Event {
        seq,
        ts_ns,
        event,
        queue: get("queue").cloned().unwrap_or_default(),
        buf_type: get("type").cloned().unwrap_or_default(),
        index: opt_num(get("index")),
        plane: opt_num(get("plane")),
        ino: opt_num(get("ino")),
        ctx: opt_num(get("ctx")),
        seqno: opt_num(get("seqno")),
        usage,
        reason: get("reason").cloned().unwrap_or_default(),
        error: opt_num(get("error")),
    })
}

/// Parse the whole text read from /dev/vb2_fence_probe.
pub fn parse_kmod_records(text: &str) -> Result<Vec<KmodRecord>, ParseError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_kmod_record)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Layout exactly as dma_buf_debug_show() prints it: a blank line, the
    // header, tab-separated object lines, dma_resv_describe() fence lines
    // (signalled fences print empty timeline/driver), attachments.
    const BUFINFO: &str = "\nDma-buf Objects:\n\
size    \tflags   \tmode    \tcount   \texp_name\tino     \tname\n\
00012288\t00000002\t00080007\t00000003\tvideobuf2_vmalloc\t00000042\tfsuite:vim2m/expbuf_before_qbuf:cap\n\
\twrite fence:17:1 vim2m-cap vb2 unsignalled\n\
\tread fence:3:9   signalled\n\
\tAttached Devices:\n\
Total 0 devices attached\n\
\n\
00004096\t00000002\t00080007\t00000001\tsystem\t00000051\t<none>\n\
\tAttached Devices:\n\
\tvim2m.0\n\
Total 1 devices attached\n\
\n\
\nTotal 2 objects, 16384 bytes\n";

    #[test]
    fn bufinfo_objects_and_fences() {
        let objs = parse_bufinfo(BUFINFO).expect("sample parses");
        assert_eq!(objs.len(), 2);
        let a = &objs[0];
        assert_eq!(a.size, 12288);
        assert_eq!(a.ino, 42);
        assert_eq!(a.exp_name, "videobuf2_vmalloc");
        assert_eq!(a.name, "fsuite:vim2m/expbuf_before_qbuf:cap");
        assert_eq!(
            a.fences[0],
            BufinfoFence {
                usage: Usage::Write,
                context: 17,
                seqno: 1,
                timeline: "vim2m-cap".into(),
                driver: "vb2".into(),
                signalled: false
            }
        );
        assert_eq!(a.fences[1].usage, Usage::Read);
        assert!(a.fences[1].signalled);
        assert_eq!(a.fences[1].driver, "");
        let b = &objs[1];
        assert_eq!(b.name, "<none>");
        assert!(b.fences.is_empty());
        assert_eq!(b.attached, vec!["vim2m.0".to_string()]);
    }

    #[test]
    fn bufinfo_rejects_garbage() {
        let bad = "00001000\t00000002\t00080007\n";
        assert!(parse_bufinfo(bad).is_err());
        let bad_fence = "00001000\t0\t0\t1\tx\t00000007\tn\n\tbogus fence:1:2 a b maybe\n";
        assert!(parse_bufinfo(bad_fence).is_err());
    }

    #[test]
    fn bufinfo_empty_list() {
        let t = "\nDma-buf Objects:\nsize    \tflags   \tmode    \tcount   \texp_name\tino     \tname\n\nTotal 0 objects, 0 bytes\n";
        assert_eq!(parse_bufinfo(t).expect("parses"), vec![]);
    }

    #[test]
    fn kmod_records() {
        let text = "seq=1 ts_ns=1000 event=arm queue=vim2m-cap type=9 index=0 plane=0 ino=42 ctx=17 seqno=1 usage=write reason=- error=0\n\
seq=2 ts_ns=2000 event=skip queue=vim2m-cap type=9 index=1 plane=0 ino=0 ctx=- seqno=- usage=- reason=mmap plane never exported error=-\n\
overflow dropped=5\n\
seq=9 ts_ns=3000 event=signal queue=vim2m-cap type=9 index=0 plane=- ino=- ctx=17 seqno=1 usage=- reason=- error=-125\n";
        let r = parse_kmod_records(text).expect("parses");
        assert_eq!(r.len(), 4);
        match &r[0] {
            KmodRecord::Event {
                event,
                ino,
                ctx,
                usage,
                index,
                ..
            } => {
                assert_eq!(*event, KmodEvent::Arm);
                assert_eq!(*ino, Some(42));
                assert_eq!(*ctx, Some(17));
                assert_eq!(*usage, Some(Usage::Write));
                assert_eq!(*index, Some(0));
            }
            o => panic!("unexpected {o:?}"),
        }
        match &r[1] {
            KmodRecord::Event { reason, ctx, .. } => {
                assert_eq!(reason, "mmap plane never exported");
                assert_eq!(*ctx, None);
            }
            o => panic!("unexpected {o:?}"),
        }
        assert_eq!(r[2], KmodRecord::Overflow { dropped: 5 });
        match &r[3] {
            KmodRecord::Event { error, .. } => assert_eq!(*error, Some(-125)),
            o => panic!("unexpected {o:?}"),
        }
    }

    #[test]
    fn kmod_dqbuf_record() {
        let line = "seq=15 ts_ns=4000 event=dqbuf queue=vim2m-cap type=9 index=0 plane=- ino=- \
                    ctx=- seqno=- usage=- reason=- error=-";
        let r = parse_kmod_record(line).expect("parses");
        match &r {
            KmodRecord::Event {
                event,
                index,
                ctx,
                plane,
                error,
                ..
            } => {
                assert_eq!(*event, KmodEvent::Dqbuf);
                assert_eq!(*index, Some(0));
                assert_eq!((*ctx, *plane, *error), (None, None, None));
            }
            o => panic!("unexpected {o:?}"),
        }
        assert_eq!(r.line(), line);
    }

    #[test]
    fn kmod_rejects_bad_lines() {
        assert!(parse_kmod_record("hello world").is_err());
        assert!(parse_kmod_record("seq=1 ts_ns=2 event=bogus").is_err());
        assert!(parse_kmod_record("seq=1 event=arm").is_err());
    }
}
