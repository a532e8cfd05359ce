//! Busy CPU time of the whole machine, from /proc/stat: what a job costs
//! when its wall time is fixed by a timer (vim2m's transaction time).

use anyhow::{anyhow, Context, Result};

/// USER_HZ: the unit of /proc/stat (100 on every architecture Linux
/// exports to userspace with a fixed value).
const USER_HZ: u64 = 100;

/// Busy time (everything but idle and iowait) of the `cpu` line, in µs.
pub fn parse_busy_us(stat: &str) -> Option<u64> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(|w| w.parse().ok())
        .collect::<Option<_>>()?;
    let total: u64 = v.iter().take(8).sum();
    let idle = v.get(3)? + v.get(4)?;
    Some((total - idle) * 1_000_000 / USER_HZ)
}

pub fn busy_us() -> Result<u64> {
    let text = std::fs::read_to_string("/proc/stat").context("read /proc/stat")?;
    parse_busy_us(&text).ok_or_else(|| anyhow!("/proc/stat has no parsable `cpu ` line"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_is_total_minus_idle_and_iowait() {
        // user nice system idle iowait irq softirq steal guest guest_nice
        let stat = "cpu  100 0 50 1000 20 5 5 0 0 0\ncpu0 50 0 25 500 10 2 3 0 0 0\n";
        assert_eq!(parse_busy_us(stat), Some(160 * 10_000));
        assert_eq!(parse_busy_us("intr 1\n"), None);
    }
}
