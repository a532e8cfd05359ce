//! What every test is handed: the run's settings and the oracles probed
//! once per run.

use std::time::Duration;

use crate::oracle::Oracles;

/// Run-wide settings and oracles.
pub struct Env {
    pub oracles: Oracles,
    /// How long one vim2m job takes: the window in which a pending fence
    /// is observable.
    pub transtime_ms: u32,
}

/// The vim2m transaction time (and visl's processing time) for this run:
/// `FENCE_SUITE_TRANSTIME_MS`, default 1500 ms.
pub fn transtime_ms_from_env() -> u32 {
    std::env::var("FENCE_SUITE_TRANSTIME_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1500)
}

/// How long one job may take before a wait for it gives up.
pub fn job_timeout_for(transtime_ms: u32) -> Duration {
    Duration::from_millis(u64::from(transtime_ms) + 5000)
}

impl Env {
    /// The oracles probed now, the transaction time from the environment
    /// (`transtime_ms_from_env`).
    pub fn new() -> Self {
        Self::with_transtime(transtime_ms_from_env())
    }

    /// The oracles probed now, a transaction time of `transtime_ms`.
    pub fn with_transtime(transtime_ms: u32) -> Self {
        Self {
            oracles: Oracles::probe(),
            transtime_ms,
        }
    }

    pub fn job_timeout(&self) -> Duration {
        job_timeout_for(self.transtime_ms)
    }

    /// How long a vim2m job may take to start writing its frame after QBUF.
    pub fn start_timeout(&self) -> Duration {
        Duration::from_millis(u64::from(self.transtime_ms / 2).max(200))
    }
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}
