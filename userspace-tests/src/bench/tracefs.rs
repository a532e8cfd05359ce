//! tracefs, as the benchmark drives it: kprobe events on the fence paths,
//! the series' tracepoints and dma-fence's, one buffer read back after a
//! run. Everything it switches on is switched off again on drop.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

const ROOTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

pub struct Tracefs {
    root: PathBuf,
}

impl Tracefs {
    /// The mounted tracefs, reset: nothing enabled, no kprobe events, an
    /// empty buffer of `buffer_kb` per CPU, trace_clock `mono`.
    pub fn open(buffer_kb: u32) -> Result<Self> {
        let Some(root) = ROOTS
            .iter()
            .map(Path::new)
            .find(|r| r.join("trace").exists())
        else {
            bail!(
                "no tracefs at {} (mount -t tracefs tracefs /sys/kernel/tracing; \
                 the kernel needs CONFIG_EVENT_TRACING and CONFIG_KPROBE_EVENTS)",
                ROOTS.join(" or ")
            );
        };
        let t = Self {
            root: root.to_path_buf(),
        };
        t.reset()?;
        t.write("trace_clock", "mono")?;
        t.write("buffer_size_kb", &buffer_kb.to_string())?;
        Ok(t)
    }

    fn write(&self, file: &str, value: &str) -> Result<()> {
        let p = self.root.join(file);
        std::fs::write(&p, value).with_context(|| format!("write {value:?} to {}", p.display()))
    }

    fn reset(&self) -> Result<()> {
        self.write("tracing_on", "0")?;
        self.write("events/enable", "0")?;
        self.write("kprobe_events", "")?;
        self.write("trace", "")
    }

    /// Define kprobe events (`p:fresnel_bench/NAME SYMBOL`, `r:...`).
    pub fn add_kprobes(&self, defs: &[&str]) -> Result<()> {
        for d in defs {
            let p = self.root.join("kprobe_events");
            std::fs::OpenOptions::new()
                .append(true)
                .open(&p)
                .and_then(|mut f| std::io::Write::write_all(&mut f, format!("{d}\n").as_bytes()))
                .with_context(|| format!("define kprobe event {d:?} in {}", p.display()))?;
        }
        Ok(())
    }

    /// Enable events by `group/name` (or a whole `group`).
    pub fn enable(&self, events: &[&str]) -> Result<()> {
        for e in events {
            self.write(&format!("events/{e}/enable"), "1")?;
        }
        Ok(())
    }

    pub fn on(&self, on: bool) -> Result<()> {
        self.write("tracing_on", if on { "1" } else { "0" })
    }

    /// The buffer's text; an overrun (events overwritten) is an error.
    pub fn read(&self) -> Result<String> {
        let lost = self.overruns()?;
        if lost > 0 {
            bail!("the trace buffer overran ({lost} events lost): raise buffer_size_kb");
        }
        let p = self.root.join("trace");
        std::fs::read_to_string(&p).with_context(|| format!("read {}", p.display()))
    }

    fn overruns(&self) -> Result<u64> {
        let dir = self.root.join("per_cpu");
        let mut total = 0;
        for cpu in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let stats = cpu?.path().join("stats");
            let text = std::fs::read_to_string(&stats)
                .with_context(|| format!("read {}", stats.display()))?;
            total += text
                .lines()
                .find_map(|l| l.strip_prefix("overrun:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
        Ok(total)
    }
}

impl Drop for Tracefs {
    fn drop(&mut self) {
        // Best effort: a failure to tidy up must not hide the result.
        let _ = self.reset();
        let _ = self.write("buffer_size_kb", "1408");
    }
}
