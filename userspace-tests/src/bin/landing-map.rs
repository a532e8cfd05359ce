//! Print the landing map: for each device and path, which reservation got a
//! fence, with which usage, from which driver/timeline, how long it stayed
//! pending, and what went wrong.

use anyhow::Result;
use clap::Parser;
use userspace_tests::paths::{self, Driver, Env, LandingRow};
use userspace_tests::plans;

#[derive(Parser)]
#[command(about = "Where videobuf2 producer fences land, per device and path")]
struct Args {
    /// Print JSON (one array of rows) instead of a table.
    #[arg(long)]
    json: bool,
    /// Transaction time for vim2m jobs in ms (the observation window).
    #[arg(long, default_value_t = 1500)]
    transtime_ms: u32,
}

/// A row saying a device was not there, and why.
fn skipped_row(device: &str, why: &str) -> LandingRow {
    LandingRow {
        device: device.into(),
        path: "*".into(),
        reservation: "none".into(),
        usage: "-".into(),
        fence: "-".into(),
        error: format!("skipped: {why}"),
        ..Default::default()
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn main() -> Result<()> {
    let args = Args::parse();
    std::env::set_var("FENCE_SUITE_TRANSTIME_MS", args.transtime_ms.to_string());
    let env = Env::new();
    let mut rows: Vec<LandingRow> = Vec::new();
    match paths::open_vim2m() {
        Err(e) => rows.push(skipped_row("vim2m", &e)),
        Ok(_) => {
            for (name, plan) in plans::vim2m_fence_plans() {
                rows.push(paths::fence_path(&env, name, &plan).0);
            }
            rows.push(paths::sigkill_path(&env, "sigkill_owner").0);
        }
    }
    for driver in [Driver::VicodecEnc, Driver::Visl] {
        match driver.open() {
            Err(e) => rows.push(skipped_row(driver.name(), &e)),
            Ok(_) => {
                for (name, plan) in plans::sync_fence_plans(driver) {
                    rows.push(paths::sync_fence_path(&env, name, driver, &plan).0);
                }
            }
        }
    }
    if args.json {
        let items: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"device\":{},\"path\":{},\"reservation\":{},\"usage\":{},\"fence\":{},\"pending_to_signalled_ms\":{},\"error\":{}}}",
                    json_str(&r.device),
                    json_str(&r.path),
                    json_str(&r.reservation),
                    json_str(&r.usage),
                    json_str(&r.fence),
                    r.pending_to_signalled_ms
                        .map(|v| format!("{v:.3}"))
                        .unwrap_or_else(|| "null".into()),
                    json_str(&r.error)
                )
            })
            .collect();
        println!("[{}]", items.join(",\n "));
    } else {
        println!(
            "{:<8} {:<22} {:<10} {:<6} {:<28} {:>12}  error",
            "device", "path", "resv", "usage", "driver/timeline", "pend->sig ms"
        );
        for r in &rows {
            println!(
                "{:<8} {:<22} {:<10} {:<6} {:<28} {:>12}  {}",
                r.device,
                r.path,
                r.reservation,
                r.usage,
                r.fence,
                r.pending_to_signalled_ms
                    .map(|v| format!("{v:.1}"))
                    .unwrap_or_else(|| "-".into()),
                if r.error.is_empty() { "-" } else { &r.error }
            );
        }
    }
    Ok(())
}
