//! Print the landing map: for each device and path, which reservation got a
//! fence, with which usage, from which driver/timeline, how long it stayed
//! pending, and what went wrong.

use std::io::Write;

use anyhow::Result;
use clap::Parser;
use userspace_tests::paths::{self, Driver, Env, LandingRow};
use userspace_tests::{plans, vivid};

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
                if driver == Driver::Visl {
                    for (name, path) in plans::visl_fence_paths() {
                        rows.push(path(&env, name).0);
                    }
                }
            }
        }
    }
    match vivid::open_vivid_mplane() {
        Err(e) => rows.push(skipped_row("vivid", &e)),
        Ok(_) => {
            for (name, path) in plans::vivid_fence_paths() {
                rows.push(path(&env, name).0);
            }
        }
    }
    let text = if args.json {
        format!("{}\n", json(&rows))
    } else {
        table(&rows)
    };
    // A closed pipe (`landing-map | head`) is not an error worth a panic.
    let _ = std::io::stdout().write_all(text.as_bytes());
    Ok(())
}

fn opt_ms(v: Option<f64>, json: bool) -> String {
    match (v, json) {
        (Some(v), true) => format!("{v:.3}"),
        (Some(v), false) => format!("{v:.1}"),
        (None, true) => "null".into(),
        (None, false) => "-".into(),
    }
}

/// One array of paths, each with its landings (one per watched buffer).
fn json(rows: &[LandingRow]) -> String {
    let items: Vec<String> = rows
        .iter()
        .map(|r| {
            let landings: Vec<String> = r
                .landings
                .iter()
                .map(|l| {
                    format!(
                        "{{\"buffer\":{},\"reservation\":{},\"usage\":{},\"fence\":{},\"pending_to_signalled_ms\":{}}}",
                        json_str(&l.buffer),
                        json_str(&l.reservation),
                        json_str(&l.usage),
                        json_str(&l.fence),
                        opt_ms(l.pending_to_signalled_ms, true)
                    )
                })
                .collect();
            format!(
                "{{\"device\":{},\"path\":{},\"landings\":[{}],\"error\":{}}}",
                json_str(&r.device),
                json_str(&r.path),
                landings.join(","),
                json_str(&r.error)
            )
        })
        .collect();
    format!("[{}]", items.join(",\n "))
}

/// A line per landing; a path where nothing landed gets one line of "-".
fn table(rows: &[LandingRow]) -> String {
    let mut out = format!(
        "{:<8} {:<24} {:<28} {:<9} {:<6} {:<30} {:>9}  error\n",
        "device", "path", "buffer", "resv", "usage", "fence", "pend->sig"
    );
    for r in rows {
        let error = if r.error.is_empty() { "-" } else { &r.error };
        let none = [Default::default()];
        let landings: &[userspace_tests::paths::Landing] = if r.landings.is_empty() {
            &none
        } else {
            &r.landings
        };
        for (i, l) in landings.iter().enumerate() {
            let dash = |s: &str| {
                if s.is_empty() {
                    "-".to_string()
                } else {
                    s.to_string()
                }
            };
            out.push_str(&format!(
                "{:<8} {:<24} {:<28} {:<9} {:<6} {:<30} {:>9}  {}\n",
                r.device,
                r.path,
                dash(&l.buffer),
                dash(&l.reservation),
                dash(&l.usage),
                dash(&l.fence),
                opt_ms(l.pending_to_signalled_ms, false),
                if i == 0 { error } else { "\"" }
            ));
        }
    }
    out
}
