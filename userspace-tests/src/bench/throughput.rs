//! Throughput: the same vim2m workload with fences published and with
//! them switched off, alternating in one boot, so that drift and the
//! noise of a shared, emulated machine fall on both sides alike.

use anyhow::Result;
use landing_model::bench::{StreamRun, Throughput};

use super::cpu::busy_us;
use super::stream::{Stream, BUFFERS, H, W};
use crate::m2m::{vim2m_fences_switchable, vim2m_set_publish_fences};

/// vim2m's smallest transaction time: one timer tick per job.
pub const TRANSTIME_MS: u32 = 1;

fn one_run(fences: bool, switchable: bool, frames: u32) -> Result<StreamRun> {
    if switchable {
        vim2m_set_publish_fences(fences)?;
    }
    let s = Stream::open(TRANSTIME_MS)?;
    let cpu0 = busy_us()?;
    let wall = s.run(frames)?;
    let cpu = busy_us()?.saturating_sub(cpu0);
    drop(s);
    let seconds = wall.as_secs_f64();
    Ok(StreamRun {
        fences,
        frames,
        seconds,
        fps: f64::from(frames) / seconds,
        cpu_us_per_frame: cpu as f64 / f64::from(frames),
    })
}

/// `pairs` on/off pairs (order alternating per pair) of `frames` frames
/// each, after a short warm-up; where fences cannot be switched (the
/// control kernel) `pairs` runs without them.
pub fn measure(pairs: u32, frames: u32, progress: &dyn Fn(&str)) -> Result<Throughput> {
    let switchable = vim2m_fences_switchable();
    one_run(false, switchable, frames / 10)?;
    let mut runs = Vec::new();
    let (mut fps_ratios, mut cpu_extra_us) = (Vec::new(), Vec::new());
    for p in 0..pairs {
        if !switchable {
            runs.push(one_run(false, false, frames)?);
            progress(&format!(
                "run {}/{pairs}: {:.1} fps",
                p + 1,
                runs[runs.len() - 1].fps
            ));
            continue;
        }
        let order = if p % 2 == 0 {
            [true, false]
        } else {
            [false, true]
        };
        let mut pair = [None, None];
        for on in order {
            let r = one_run(on, true, frames)?;
            pair[usize::from(on)] = Some(r.clone());
            runs.push(r);
        }
        if let [Some(off), Some(on)] = pair {
            fps_ratios.push(on.fps / off.fps);
            cpu_extra_us.push(on.cpu_us_per_frame - off.cpu_us_per_frame);
            progress(&format!(
                "pair {}/{pairs}: {:.1} fps on, {:.1} fps off, cpu {:.0} vs {:.0} us/frame",
                p + 1,
                on.fps,
                off.fps,
                on.cpu_us_per_frame,
                off.cpu_us_per_frame
            ));
        }
    }
    if switchable {
        vim2m_set_publish_fences(true)?;
    }
    Ok(Throughput {
        workload: format!(
            "vim2m {W}x{H} RGB3, {BUFFERS} MMAP buffers per queue, transaction time \
             {TRANSTIME_MS} ms, every CAPTURE buffer exported, {frames} frames per run"
        ),
        runs,
        fps_ratios,
        cpu_extra_us,
    })
}
