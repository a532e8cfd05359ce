//! Print the landing map: for each device and path, which reservation got a
//! fence, with which usage, from which driver/timeline, how long it stayed
//! pending, and what went wrong.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use userspace_tests::cases;
use userspace_tests::env::Env;
use userspace_tests::landing::{self, LandingRow};
use userspace_tests::verdict::{Category, Outcome};

#[derive(Parser)]
#[command(
    about = "Where videobuf2 producer fences land, per device and path",
    after_help = "Runs the suite's fence paths (cases.txt: the no-fence ones). A path whose \
                  device is absent is a skipped row. Exit status 1 when a path fails with an \
                  error (not when it merely finds no fence, as on an unpatched kernel), each \
                  named on stderr."
)]
struct Args {
    /// Print JSON (one array of rows; `watch`: one report object) instead
    /// of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    mode: Option<Mode>,
    /// Transaction time for vim2m jobs in ms (the observation window).
    #[arg(long, default_value_t = 1500)]
    transtime_ms: u32,
}

#[derive(Subcommand)]
enum Mode {
    /// Record what rust-kmod sees while COMMAND runs (or for --seconds),
    /// and report, per queue and buffer, where each job's fence landed.
    #[command(
        after_help = "Exit status: 0 when nothing anomalous was seen and the command, if \
                      any, exited 0 (also when nothing could be observed: the report then \
                      says which oracle was missing; --oracle kmod makes that a failure), 1 \
                      when an anomaly was found, 2 when the watch itself failed (the command \
                      and what it started are then killed), 3 when no anomaly was seen but \
                      the command exited non-zero or on a signal. The watch follows the \
                      command's descendants until the last one has exited, or --follow-ms \
                      after the command did (then it kills them and the report names them)."
    )]
    Watch(watch::WatchArgs),
}

mod watch;

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(Mode::Watch(w)) = &args.mode {
        return watch::main(w, args.json);
    }
    let env = Env::with_transtime(args.transtime_ms);
    let mut rows: Vec<LandingRow> = Vec::new();
    // (case, error) of every path that failed for another reason than
    // finding no fence or a wrong one.
    let mut errors: Vec<(String, String)> = Vec::new();
    // The suite's own table, run as the suite runs it (`Case::run`).
    for case in cases::cases().iter().filter(|c| c.is_fence_path()) {
        match case.run_with_row(&env) {
            // One skipped row per device and reason.
            (_, Outcome::Skip(why)) => {
                let row = LandingRow::skipped(case.device(), &why);
                if !rows
                    .iter()
                    .any(|r| r.device == row.device && r.error == row.error)
                {
                    rows.push(row);
                }
            }
            (row, outcome) => {
                let reason = match &outcome {
                    Outcome::Fail(_, why) => why.clone(),
                    _ => String::new(),
                };
                // No row: a need failed before the path started; the row
                // says why.
                let row = row.unwrap_or_else(|| LandingRow {
                    error: reason.clone(),
                    ..LandingRow::new(case.device(), case.short_name())
                });
                if let Outcome::Fail(Category::Error, _) = outcome {
                    errors.push((case.name.clone(), reason));
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
