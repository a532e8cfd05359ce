//! Finds kernel reports that fail a run however the tests went: WARN, BUG,
//! Oops, panic, lockdep and kmemleak reports, hung tasks, RCU stalls and
//! hard lockups. Each finding carries the excerpt a developer needs to start
//! reading.

#[derive(Debug, PartialEq, Eq)]
pub struct Finding {
    pub what: &'static str,
    pub excerpt: String,
}

/// Line patterns and what they mean. Lockdep's reports all start with a
/// banner of `=` lines followed by one of these titles.
const PATTERNS: &[(&str, &str)] = &[
    ("WARNING: CPU:", "WARN"),
    ("BUG:", "BUG"),
    ("kernel BUG at", "BUG"),
    ("Oops:", "Oops"),
    ("Kernel panic", "panic"),
    ("WARNING: possible circular locking dependency", "lockdep"),
    ("WARNING: possible recursive locking", "lockdep"),
    ("WARNING: inconsistent lock state", "lockdep"),
    ("WARNING: suspicious RCU usage", "lockdep"),
    ("WARNING: bad unlock balance", "lockdep"),
    ("WARNING: lock held when returning to user space", "lockdep"),
    ("WARNING: held lock freed", "lockdep"),
    ("still has locks held", "lockdep"),
    ("WARNING: Nested lock was not taken", "lockdep"),
    ("WARNING: bad contention detected", "lockdep"),
    ("WARNING: chain_key collision", "lockdep"),
    ("WARNING: possible irq lock inversion", "lockdep"),
    ("-unsafe lock order detected", "lockdep"),
    ("INFO: trying to register non-static key", "lockdep"),
    ("*** DEADLOCK ***", "lockdep"),
    ("unreferenced object 0x", "kmemleak"),
    ("blocked for more than", "hung-task"),
    // kernel/rcu/tree_stall.h, tree_exp.h and tasks.h: a CPU or task that stayed in
    // an RCU read-side section (or with interrupts off) past
    // rcu_cpu_stall_timeout, e.g. a fence callback that spins.
    ("detected stall", "rcu-stall"),
    ("detected expedited stalls", "rcu-stall"),
    // kernel/watchdog.c, where a hard-lockup detector is configured (soft
    // lockups are "BUG: soft lockup").
    ("Watchdog detected hard LOCKUP", "hard-lockup"),
    // With a stack dump, from kernel/workqueue.c.
    ("Flushing system-wide workqueues", "WARN"),
    ("UBSAN:", "UBSAN"),
];

/// Since 6.18 __warn() prints "WARNING: [<file>:<line> ]at <symbol>,
/// CPU#<n>: <comm>/<pid>" instead of "WARNING: CPU: ..."; plain messages
/// that start with "WARNING: " (boot-time mitigation notes, firmware bugs)
/// have neither part.
fn is_warn_report(line: &str) -> bool {
    line.find("WARNING: ").is_some_and(|i| {
        let rest = &line[i..];
        rest.contains("at ") && rest.contains(", CPU#")
    })
}

/// Every kind of report `scan` gives.
pub const KINDS: &[&str] = &[
    "WARN",
    "BUG",
    "Oops",
    "panic",
    "lockdep",
    "kmemleak",
    "hung-task",
    "rcu-stall",
    "hard-lockup",
    "UBSAN",
];

const EXCERPT_LINES: usize = 30;

/// Scan kernel log text; one finding per report (its first matching line).
pub fn scan(text: &str) -> Vec<Finding> {
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    let mut findings = Vec::new();
    let mut skip_until = 0;
    for (i, line) in lines.iter().enumerate() {
        if i < skip_until {
            continue;
        }
        // Every lockdep report opens with a banner of '=' and a
        // "WARNING: <title>" line, whatever the title says.
        let after_banner = i > 0 && lines[i - 1].trim_start().starts_with("=====");
        let what = PATTERNS
            .iter()
            .find(|(p, _)| line.contains(p))
            .map(|(_, w)| *w)
            .or_else(|| (after_banner && line.contains("WARNING: ")).then_some("lockdep"))
            .or_else(|| is_warn_report(line).then_some("WARN"));
        if let Some(what) = what {
            let end = (i + EXCERPT_LINES).min(lines.len());
            findings.push(Finding {
                what,
                excerpt: lines[i..end].join("\n"),
            });
            skip_until = end;
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_log_has_no_findings() {
        assert!(scan("[    0.0] Linux version 7.2\n[    1.0] vim2m: loaded\n").is_empty());
    }

    #[test]
    fn lockdep_and_kmemleak_are_found_with_excerpts() {
        let log = "ok\n======================================================\nWARNING: possible circular locking dependency detected\n7.2.13 #1 Not tainted\nmore\nunreferenced object 0xffff888003 (size 64):\n  comm \"insmod\"\n";
        let f = scan(log);
        assert_eq!(
            f.len(),
            1,
            "the kmemleak line falls inside the lockdep excerpt"
        );
        assert_eq!(f[0].what, "lockdep");
        assert!(f[0].excerpt.contains("Not tainted"));
        let f = scan("unreferenced object 0xffff888003 (size 64):\n");
        assert_eq!(f[0].what, "kmemleak");
    }

    #[test]
    fn warn_is_found() {
        let f = scan("[ 3.1] WARNING: CPU: 0 PID: 1 at drivers/media/common/videobuf2/videobuf2-core.c:1 x\n");
        assert_eq!(f[0].what, "WARN");
    }

    /// The format of this kernel (7.2), seen when visl's release freed its
    /// control handler before its queues.
    #[test]
    fn warn_of_this_kernel_is_found() {
        let f = scan(
            "DEBUG_LOCKS_WARN_ON(lock->magic != lock)\nWARNING: ../src/kernel/locking/mutex.c:625 at __mutex_lock+0x2ec/0xd80, CPU#0: fence-suite/131\n",
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].what, "WARN");
        let f = scan("======\nWARNING: possible recursive locking detected\n");
        assert_eq!(f[0].what, "lockdep");
        // Every title lockdep.c prints (7.2), under its banner.
        for title in [
            "WARNING: possible circular locking dependency detected",
            "WARNING: HARDIRQ-safe -> HARDIRQ-unsafe lock order detected",
            "WARNING: possible recursive locking detected",
            "WARNING: chain_key collision",
            "WARNING: inconsistent lock state",
            "WARNING: possible irq lock inversion dependency detected",
            "WARNING: Nested lock was not taken",
            "WARNING: bad unlock balance detected!",
            "WARNING: bad contention detected!",
            "WARNING: held lock freed!",
            "WARNING: kworker/0:1/12 still has locks held!",
            "WARNING: lock held when returning to user space!",
            "WARNING: suspicious RCU usage",
            "WARNING: a title lockdep may add one day",
        ] {
            let f = scan(&format!("=============================\n{title}\n"));
            assert_eq!(f.len(), 1, "{title}");
            assert_eq!(f[0].what, "lockdep", "{title}");
        }
        // Not reports: boot-time notes that share the prefix.
        assert!(scan("Speculative Return Stack Overflow: WARNING: kernel not compiled with MITIGATION_SRSO.\n").is_empty());
        assert!(scan("mtrr: WARNING: BIOS bug: VAR MTRR 0 contains strange UC entry\n").is_empty());
    }

    /// The lines kernel/rcu/tree_stall.h, tree_exp.h, tasks.h and
    /// kernel/watchdog.c print (7.2); the stall timeout note at boot is not
    /// a report.
    #[test]
    fn rcu_stalls_and_hard_lockups_are_found() {
        for (line, what) in [
            (
                "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:",
                "rcu-stall",
            ),
            (
                "rcu: INFO: rcu_preempt self-detected stall on CPU",
                "rcu-stall",
            ),
            (
                "rcu: INFO: rcu_preempt detected expedited stalls on CPUs/tasks: {",
                "rcu-stall",
            ),
            (
                "rcu: INFO: rcu_preempt detected stall, but suppressed full report due to a stuck CSD-lock.",
                "rcu-stall",
            ),
            ("INFO: rcu_tasks detected stalls on tasks:", "rcu-stall"),
            (
                "CPU1: Watchdog detected hard LOCKUP on cpu 0",
                "hard-lockup",
            ),
            (
                "watchdog: BUG: soft lockup - CPU#0 stuck for 22s! [fence-suite:131]",
                "BUG",
            ),
        ] {
            let f = scan(&format!("[ 9.1] {line}\n"));
            assert_eq!(f.len(), 1, "{line}");
            assert_eq!(f[0].what, what, "{line}");
            assert!(KINDS.contains(&what), "{what} is not in KINDS");
        }
        assert!(
            scan("rcu: \tRCU CPU stall warnings timeout set to 60 (rcu_cpu_stall_timeout).\n")
                .is_empty()
        );
    }
}
