//! `fresnel-rig follow`: what the guest is doing while its VM runs, read from
//! the results log as it grows: each stage as it begins and as it ends (exit
//! status, how long it ran, and for stages that print test lines their
//! counts and the totals so far), and a long test stage's counts once a
//! minute, so that a run is never minutes of silence.

use crate::results_log::GuestRun;
use crate::suite_output::{self, Counts};
use anyhow::{Context, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// Seconds between two progress lines of a stage still running.
const RUNNING_EVERY: u64 = 60;
const POLL: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
pub struct Follower {
    /// Stages whose beginning / end was printed (indices below these).
    begun: usize,
    ended: usize,
    /// Test lines of the stages that ended.
    totals: Counts,
    /// The last line for the running stage: when, and the counts it showed.
    running: (u64, Counts),
    done: bool,
}

fn at(elapsed: u64) -> String {
    format!("    ... {elapsed:>4} s:")
}

impl Follower {
    pub fn done(&self) -> bool {
        self.done
    }

    /// The progress lines for what `log` holds beyond what the last call
    /// saw; `elapsed`: the host's seconds since the VM started.
    pub fn update(&mut self, log: &str, elapsed: u64) -> Vec<String> {
        // A line still being written is read on the next call.
        let complete = &log[..log.rfind('\n').map_or(0, |i| i + 1)];
        let run = GuestRun::parse(complete);
        let mut lines = Vec::new();
        for (i, stage) in run.stages.iter().enumerate() {
            let counts = Counts::of(&suite_output::parse(&stage.output));
            if i >= self.begun {
                lines.push(format!("{} guest stage {} begins", at(elapsed), stage.name));
                self.begun = i + 1;
                self.running = (elapsed, Counts::default());
            }
            let Some(rc) = stage.rc else {
                if counts != self.running.1 && elapsed >= self.running.0 + RUNNING_EVERY {
                    lines.push(format!(
                        "{} guest stage {} running: {counts} so far",
                        at(elapsed),
                        stage.name
                    ));
                    self.running = (elapsed, counts);
                }
                continue;
            };
            if i < self.ended {
                continue;
            }
            self.ended = i + 1;
            let took = stage
                .seconds
                .map_or_else(String::new, |s| format!(" after {s} s"));
            let mut line = match stage.timeout {
                Some(limit) => format!(
                    "{} guest stage {} KILLED by its {limit} s timeout (rc={rc})",
                    at(elapsed),
                    stage.name
                ),
                None => format!(
                    "{} guest stage {} ended: rc={rc}{took}",
                    at(elapsed),
                    stage.name
                ),
            };
            if counts != Counts::default() {
                self.totals = self.totals.plus(counts);
                line.push_str(&format!("; {counts} (all stages: {})", self.totals));
            }
            lines.push(line);
        }
        if run.done && !self.done {
            lines.push(format!("{} guest finished its stages", at(elapsed)));
            self.done = true;
        }
        lines
    }
}

/// Whether process `pid` is still running (a zombie has ended).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            let state = stat.rsplit_once(") ")?.1.chars().next()?;
            Some(!matches!(state, 'Z' | 'X'))
        })
        .unwrap_or(false)
}

fn read(path: &Path) -> Result<String> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(String::from_utf8_lossy(&bytes).into_owned()),
        // QEMU creates the file as it starts.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Print the guest's progress in `log`: once, or, with `pid`, until the
/// guest finishes or process `pid` (the VM) ends.
pub fn follow(log: &Path, pid: Option<u32>) -> Result<()> {
    let start = Instant::now();
    let mut follower = Follower::default();
    loop {
        // Looked at before the read, so that the last read sees all the VM wrote.
        let vm_running = pid.is_some_and(alive);
        for line in follower.update(&read(log)?, start.elapsed().as_secs()) {
            println!("{line}");
        }
        if follower.done() || !vm_running {
            break;
        }
        std::thread::sleep(POLL);
    }
    if pid.is_some() && !follower.done() {
        println!(
            "{} the VM ended before the guest finished its stages",
            at(start.elapsed().as_secs())
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn begins_ends_counts_and_totals_as_the_log_grows() {
        let mut f = Follower::default();
        let mut log =
            String::from("@@FRESNEL KIND patched 7.2\r\n@@FRESNEL BEGIN load-drivers\r\n");
        assert_eq!(
            f.update(&log, 5),
            ["    ...    5 s: guest stage load-drivers begins"]
        );
        assert!(f.update(&log, 7).is_empty(), "nothing new, nothing printed");
        log.push_str("@@FRESNEL END load-drivers rc=0 seconds=3\r\n@@FRESNEL BEGIN suite\r\nPASS a\r\nFAIL b [error]: x\r\n@@FRESNEL END su");
        assert_eq!(
            f.update(&log, 10),
            [
                "    ...   10 s: guest stage load-drivers ended: rc=0 after 3 s",
                "    ...   10 s: guest stage suite begins",
            ]
        );
        assert!(
            f.update(&log, 30).is_empty(),
            "a stage's counts once a minute"
        );
        assert_eq!(
            f.update(&log, 70),
            ["    ...   70 s: guest stage suite running: 1 passed, 1 failed, 0 skipped so far"]
        );
        log.push_str("ite rc=1 seconds=80\r\n@@FRESNEL BEGIN kmod-check\r\nPASS c\r\n1 passed, 0 failed, 0 skipped\r\n@@FRESNEL END kmod-check rc=143 seconds=121 timeout=120\r\n@@FRESNEL DONE\r\n");
        assert_eq!(
            f.update(&log, 95),
            [
                "    ...   95 s: guest stage suite ended: rc=1 after 80 s; 1 passed, 1 failed, 0 skipped (all stages: 1 passed, 1 failed, 0 skipped)",
                "    ...   95 s: guest stage kmod-check begins",
                "    ...   95 s: guest stage kmod-check KILLED by its 120 s timeout (rc=143); 1 passed, 0 failed, 0 skipped (all stages: 2 passed, 1 failed, 0 skipped)",
                "    ...   95 s: guest finished its stages",
            ]
        );
        assert!(f.done());
        assert!(f.update(&log, 99).is_empty());
    }

    #[test]
    fn this_process_is_alive_and_a_bogus_pid_is_not() {
        assert!(alive(std::process::id()));
        assert!(!alive(u32::MAX));
    }
}
