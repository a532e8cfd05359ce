//! Print the landing map: for each device and path, which reservation got a
//! fence, with which usage, from which driver/timeline, how long it stayed
//! pending, and what went wrong.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use userspace_tests::cases::{self, Body};
use userspace_tests::env::Env;
use userspace_tests::landing::{self, LandingRow};
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
                let row = LandingRow::skipped(&device, &why);
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
        match landing::to_json(&rows) {
            Ok(json) => format!("{json}\n"),
            Err(e) => {
                eprintln!("landing-map: {e:#}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        landing::table(&rows)
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
