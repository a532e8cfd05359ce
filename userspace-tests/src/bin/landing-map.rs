//! Print the landing map: for each device and path, which reservation got a
//! fence, with which usage, from which driver/timeline, how long it stayed
//! pending, and what went wrong.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use userspace_tests::cases::{self, Body};
use userspace_tests::env::Env;
use userspace_tests::landing::{Landing, LandingRow};
use userspace_tests::needs;
use userspace_tests::verdict::{category_of, one_line, Category, Outcome};

#[derive(Parser)]
#[command(
    about = "Where videobuf2 producer fences land, per device and path",
    after_help = "Runs the suite's fence paths (cases.txt: the no-fence ones). A path whose \
                  device is absent is a skipped row. Exit status 1 when a path fails with an \
                  error (not when it merely finds no fence, as on an unpatched kernel), each \
                  named on stderr."
)]
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

fn main() -> ExitCode {
    let args = Args::parse();
    std::env::set_var("FENCE_SUITE_TRANSTIME_MS", args.transtime_ms.to_string());
    let env = Env::new();
    let mut rows: Vec<LandingRow> = Vec::new();
    // (case, error) of every path that failed for another reason than
    // finding no fence or a wrong one.
    let mut errors: Vec<(String, String)> = Vec::new();
    for case in cases::cases() {
        let Body::Path(path) = &case.body else {
            continue;
        };
        let device = case.name.split('/').next().unwrap_or_default().to_string();
        match needs::unmet(&case.needs, &env) {
            // One skipped row per device and reason.
            Some(Outcome::Skip(why)) => {
                let row = skipped_row(&device, &why);
                if !rows
                    .iter()
                    .any(|r| r.device == row.device && r.error == row.error)
                {
                    rows.push(row);
                }
            }
            Some(other) => {
                let why = match other {
                    Outcome::Fail(_, why) => why,
                    _ => "unmet prerequisite".into(),
                };
                let mut row = LandingRow::new(&device, case.short_name());
                row.error = why.clone();
                rows.push(row);
                errors.push((case.name.clone(), why));
            }
            None => {
                let (row, result) = path(&env, case.short_name());
                if let Err(e) = &result {
                    if category_of(e) == Category::Error {
                        errors.push((case.name.clone(), one_line(e)));
                    }
                }
                rows.push(row);
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
    for (name, e) in &errors {
        eprintln!("landing-map: {name}: {e}");
    }
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
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
        let landings: &[Landing] = if r.landings.is_empty() {
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
