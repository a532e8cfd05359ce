//! fresnel-rig: the host side of the VM test rig. The shell scripts build and
//! boot; every decision about what the guest's output means is made here.
//! (Config fragment checks live in fresnel-tools, shared with the PKGBUILD.)

mod compliance;
mod judge;
mod kernel_log;
mod landing;
mod results_log;
mod suite_output;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use judge::{KernelRun, Outcome};
use results_log::GuestRun;
use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(about = "Host side of the linux-fresnel-fourier VM rig")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Judge the VM runs; prints one line per check and the summary line.
    Judge {
        /// Directory of the control kernel's run (results.log, console.log).
        #[arg(long)]
        control: Option<PathBuf>,
        /// Directory of the patched kernel's run.
        #[arg(long)]
        patched: Option<PathBuf>,
        #[arg(long)]
        expected_failures: PathBuf,
        /// Host-side check results, in the suite's PASS/FAIL/SKIP line format.
        #[arg(long)]
        host_checks: Option<PathBuf>,
    },
    /// Print the landing maps the guests printed (JSON), side by side.
    LandingMap {
        #[arg(long)]
        control: Option<PathBuf>,
        #[arg(long)]
        patched: Option<PathBuf>,
    },
}

fn read(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn load_run(kind: &'static str, dir: &Path) -> Result<KernelRun> {
    Ok(KernelRun {
        kind,
        guest: GuestRun::parse(&read(&dir.join("results.log"))?),
        console: read(&dir.join("console.log"))?,
    })
}

fn judge_cmd(
    control: Option<&Path>,
    patched: Option<&Path>,
    expected: &Path,
    host_checks: Option<&Path>,
) -> Result<bool> {
    let expected: BTreeSet<String> = suite_output::parse_name_list(&read(expected)?)
        .into_iter()
        .collect();
    let control = control.map(|d| load_run("control", d)).transpose()?;
    let patched = patched.map(|d| load_run("patched", d)).transpose()?;
    if control.is_none() && patched.is_none() {
        bail!("nothing to judge: give --control and/or --patched");
    }
    for run in [&control, &patched].into_iter().flatten() {
        for line in judge::compliance_summary(&run.guest) {
            println!("info: {} compliance: {line}", run.kind);
        }
    }
    let mut checks = match host_checks {
        Some(path) => judge::host_checks(&read(path)?),
        None => Vec::new(),
    };
    checks.extend(judge::judge(control.as_ref(), patched.as_ref(), &expected));
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for c in &checks {
        match &c.outcome {
            Outcome::Pass => {
                passed += 1;
                println!("PASS {}", c.name);
            }
            Outcome::Skip(why) => {
                skipped += 1;
                println!("SKIP {}: {why}", c.name);
            }
            Outcome::Fail(why) => {
                failed += 1;
                println!("FAIL {}: {why}", c.name);
            }
        }
    }
    println!("{passed} passed, {failed} failed, {skipped} skipped");
    Ok(failed == 0)
}

fn landing_map(control: Option<&Path>, patched: Option<&Path>) -> Result<()> {
    let mut maps: Vec<Option<Vec<landing::PathRow>>> = Vec::new();
    for (kind, dir) in [("control", control), ("patched", patched)] {
        let Some(dir) = dir else {
            maps.push(None);
            continue;
        };
        let run = GuestRun::parse(&read(&dir.join("results.log"))?);
        let kernel = run.kind.as_deref().unwrap_or("?");
        match run.stage("landing-map").map(|s| landing::parse(&s.output)) {
            Some(Ok(rows)) => {
                println!("=== landing map, {kind} kernel: {kernel}");
                maps.push(Some(rows));
            }
            Some(Err(e)) => {
                println!("=== landing map, {kind} kernel ({kernel}): {e:#}; as printed:");
                if let Some(s) = run.stage("landing-map") {
                    print!("{}", s.output);
                }
                maps.push(None);
            }
            None => {
                println!("=== landing map, {kind} kernel ({kernel}): the guest printed none");
                maps.push(None);
            }
        }
    }
    if maps.iter().any(Option::is_some) {
        print!(
            "{}",
            landing::side_by_side(maps[0].as_deref(), maps[1].as_deref())
        );
    }
    Ok(())
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Judge {
            control,
            patched,
            expected_failures,
            host_checks,
        } => {
            if judge_cmd(
                control.as_deref(),
                patched.as_deref(),
                &expected_failures,
                host_checks.as_deref(),
            )? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        Cmd::LandingMap { control, patched } => landing_map(control.as_deref(), patched.as_deref()),
    }
}
