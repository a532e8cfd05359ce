//! fresnel-ontarget: the run on the PineBook Pro whose report is the
//! evidence a maintainer asks for. It finds the devices of devices.txt by
//! driver name, switches the hardware fence opt-ins on for its own
//! duration, runs the suite (the tests of each device row and those of the
//! kernel as a whole), reads the kernel log it caused, and writes
//! report.json and report.txt with a Tested-by block per device that
//! earned one. In CI it runs in the aarch64 package guest, where the
//! virtual drivers stand in for the hardware (`--expect stand-ins`), and
//! `check` holds the report it wrote to what the run must show.

mod check;
mod kmsg;
mod optins;
mod report;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use userspace_tests::cases;
use userspace_tests::devices;
use userspace_tests::env::Env;
use userspace_tests::runner::{Runner, Setup};

use landing_model::ontarget::{Board, KernelReport, Report};

/// Where the package installs the opt-in list (`fresnel-tools manifest
/// hardware-optins`).
const OPTINS: &str = "/usr/share/linux-fresnel-fourier/hardware-optins";

#[derive(Parser)]
#[command(
    about = "The on-target run: fence tests on this machine's devices, a report, and the Tested-by they earn",
    after_help = "Exit status of `run`: 0 when every test passed, the kernel logged no report, \
                  every opt-in was restored and every expected device was found; 1 otherwise; \
                  2 when the run could not start or was stopped by SIGINT, SIGTERM or SIGHUP (the \
                  error says which; a stop puts the opt-ins back and writes no report). `check`: 0 when every \
                  check passed, 1 otherwise."
)]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Expect {
    /// The hardware rows (the PineBook Pro): each must be found.
    Hardware,
    /// The virtual drivers standing in for it (CI): each must be found.
    StandIns,
}

#[derive(Subcommand)]
enum Mode {
    /// Run the suite on this machine and write the report.
    Run {
        /// The report's directory (created; refused if it holds files).
        #[arg(long)]
        out: PathBuf,
        /// `Name <email>` for the Tested-by lines.
        #[arg(long)]
        tester: Option<String>,
        /// The opt-in list (`driver module parameter default` lines).
        #[arg(long, default_value = OPTINS)]
        optins: PathBuf,
        /// Which rows must be present.
        #[arg(long, value_enum, default_value = "hardware")]
        expect: Expect,
    },
    /// Check a report `run --expect stand-ins` wrote (the rig's guest
    /// stages): on the patched kernel every stand-in passed and earned its
    /// block; with --refused (the unpatched kernel) none earned one.
    Check {
        /// The report's directory.
        dir: PathBuf,
        /// The kernel has no series: the stand-ins must fail and earn no
        /// Tested-by.
        #[arg(long)]
        refused: bool,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = match args.mode {
        Mode::Run {
            out,
            tester,
            optins,
            expect,
        } => run(&out, tester, &optins, expect),
        Mode::Check { dir, refused } => check(&dir, refused),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("fresnel-ontarget: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn say(line: &str) {
    println!("ontarget: {line}");
    let _ = std::io::stdout().flush();
}

fn valid_tester(t: &str) -> bool {
    let (name, rest) = t.split_once(" <").unwrap_or(("", ""));
    !name.trim().is_empty() && rest.ends_with('>') && rest.contains('@')
}

fn read_trimmed(p: &str) -> String {
    std::fs::read_to_string(p)
        .map(|s| s.trim_end_matches(['\0', '\n']).to_string())
        .unwrap_or_default()
}

fn board() -> Board {
    Board {
        model: read_trimmed("/proc/device-tree/model"),
        compatible: read_trimmed("/proc/device-tree/compatible")
            .split('\0')
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
    }
}

/// The running kernel's release (`uname -r`).
fn kernel_release() -> Result<String> {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .context("uname")
}

/// The report kinds of [`report::CHECKERS`] this kernel can produce (a
/// kernel without lockdep logs no lockdep report).
fn kernel_checkers() -> Vec<String> {
    report::CHECKERS
        .iter()
        .filter(|(_, path, reads)| match reads {
            None => Path::new(path).exists(),
            Some(want) => std::fs::read_to_string(path).is_ok_and(|s| s.trim() == *want),
        })
        .map(|(k, _, _)| k.to_string())
        .collect()
}

/// The installed package's version as pacman knows it.
fn package() -> String {
    match std::process::Command::new("pacman")
        .args(["-Q", "linux-fresnel-fourier"])
        .output()
    {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(_) => "linux-fresnel-fourier is not installed (pacman -Q)".into(),
        Err(_) => "unknown (no pacman on this system)".into(),
    }
}

fn prepare_out(out: &Path) -> Result<()> {
    if out.exists()
        && std::fs::read_dir(out)
            .with_context(|| format!("read {}", out.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} already holds files: give --out a new or empty directory",
            out.display()
        );
    }
    std::fs::create_dir_all(out).with_context(|| format!("create {}", out.display()))
}

fn run(out: &Path, tester: Option<String>, optins: &Path, expect: Expect) -> Result<bool> {
    let t0 = Instant::now();
    let table = devices::parse(devices::TABLE)?;
    if let Some(t) = &tester {
        if !valid_tester(t) {
            bail!("--tester `{t}` is not `Name <email>`");
        }
    }
    let list = std::fs::read_to_string(optins).with_context(|| {
        format!(
            "read the opt-in list {} (the package installs it; from a checkout: \
             scripts/tools.sh manifest hardware-optins > FILE, then --optins FILE)",
            optins.display()
        )
    })?;
    let list_file = optins;
    let optins = optins::parse_list(&list, optins)?;
    for d in &table {
        if let Some(o) = &d.optin {
            if !optins.iter().any(|x| &x.driver == o) {
                bail!(
                    "devices.txt row {} names the opt-in `{o}`, which {} does not list: \
                     the table and manifest.toml's [[hardware_optin]] disagree",
                    d.name,
                    list_file.display()
                );
            }
        }
    }
    prepare_out(out)?;
    let kernel_release = kernel_release()?;
    say(&format!(
        "kernel {kernel_release}; report in {}",
        out.display()
    ));

    let (nodes, unreadable) = devices::survey();
    let mut missing = Vec::new();
    for d in &table {
        let found: Vec<String> = nodes
            .iter()
            .filter(|n| d.matches(n))
            .map(|n| n.path.display().to_string())
            .collect();
        let wanted = match expect {
            Expect::Hardware => !d.is_stand_in(),
            Expect::StandIns => d.is_stand_in(),
        };
        if found.is_empty() {
            say(&format!("{}: no {} node found", d.name, d.driver));
            if wanted {
                missing.push(d.name.clone());
            }
        } else {
            say(&format!("{}: {}", d.name, found.join(", ")));
        }
    }
    for u in &unreadable {
        say(&format!("could not open {u}"));
    }

    // Ctrl-C, SIGTERM or SIGHUP from here on stop the run at the next
    // step, so that the opt-ins are put back (the guard's drop would not
    // run if the signal killed the process).
    userspace_tests::runner::interrupt::stop_on_signals()
        .context("install the SIGINT/SIGTERM/SIGHUP handlers")?;
    // Marked before anything is switched, so the log covers all the run did.
    let since = kmsg::mark()?;
    let mut guard = optins::Guard::switch_on(&optins, Path::new("/sys"));
    for (s, o) in guard.switched.iter().zip(&optins) {
        let loaded = Path::new("/sys/module").join(&o.module).exists();
        match &s.before {
            None if loaded => say(&format!(
                "opt-in {}: {} has no parameter {} (a kernel without the package's patches?)",
                s.driver, o.module, o.parameter
            )),
            None => say(&format!("opt-in {}: {} not loaded", s.driver, o.module)),
            Some(b) => say(&format!(
                "opt-in {}: {b} -> {}",
                s.driver,
                if s.on { "Y" } else { "could not switch on" }
            )),
        }
    }
    for c in guard.undo_commands() {
        say(&format!("if this run is killed, undo with: {c}"));
    }

    let tests: Vec<_> = cases::cases()
        .into_iter()
        .map(|c| c.into_test(false))
        .collect();
    let n_tests = tests.len();
    let setup = || Setup {
        context: Env::new(),
        notes: vec![],
    };
    let mut stdout = std::io::stdout();
    let (summary, ran) = Runner::default().run_all(tests, setup, &mut stdout);
    let not_restored = guard.restore();
    if let Some(sig) = summary.interrupted {
        for e in &not_restored {
            say(&format!("error: {e}"));
        }
        bail!(
            "stopped by signal {sig} at test {} of {}; {}; no report written \
             (a partial run earns no Tested-by): run it again to the end",
            ran.len(),
            n_tests,
            if not_restored.is_empty() {
                "the opt-ins it switched are back as they were"
            } else {
                "some opt-ins could not be put back (above): undo them by hand"
            }
        );
    }
    let (log, lost) = since.read()?;
    let mut kernel_reports: Vec<KernelReport> = landing_model::kernel_log::scan(&log)
        .into_iter()
        .map(|f| KernelReport {
            what: f.what.into(),
            excerpt: f.excerpt,
        })
        .collect();
    if lost {
        kernel_reports.push(KernelReport {
            what: "log-lost".into(),
            excerpt: "kernel log records were overwritten before the run read them: \
                      a report may be among them (a bigger log_buf_len helps)"
                .into(),
        });
    }

    let report = report::build(
        &table,
        &nodes,
        &ran,
        guard.switched.clone(),
        kernel_reports,
        report::Context {
            kernel_release,
            package: package(),
            board: board(),
            seconds: t0.elapsed().as_secs(),
            tester,
            unreadable_nodes: unreadable,
            kernel_checkers: kernel_checkers(),
            stand_ins: expect == Expect::StandIns,
        },
    );
    let json = serde_json::to_string_pretty(&report).context("serialise the report")?;
    std::fs::write(out.join("report.json"), json + "\n")
        .with_context(|| format!("write {}/report.json", out.display()))?;
    let text = report::text(&report);
    std::fs::write(out.join("report.txt"), &text)
        .with_context(|| format!("write {}/report.txt", out.display()))?;
    for l in text.lines() {
        say(l);
    }
    for e in &not_restored {
        say(&format!("error: {e}"));
    }
    if !missing.is_empty() {
        say(&format!("expected and not found: {}", missing.join(", ")));
    }
    // Last, the suite's count: the line the rig reads as the run's summary.
    println!("{summary}");
    Ok(report.passed() && missing.is_empty() && not_restored.is_empty())
}

/// A report `run --expect stand-ins` wrote, held to what its kernel must
/// show; one result line per check, in the suite's format.
fn check(dir: &Path, refused: bool) -> Result<bool> {
    let path = dir.join("report.json");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let report: Report =
        serde_json::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    let release = kernel_release()?;
    let results = if refused {
        check::refused(&report, &release)
    } else {
        check::earned(&report, &release, |p| optins::read_value(Path::new(p)))
    };
    let (mut passed, mut failed) = (0, 0);
    for (name, problem) in &results {
        match problem {
            None => {
                passed += 1;
                println!("PASS {name}");
            }
            Some(p) => {
                failed += 1;
                println!("FAIL {name}: {p}");
            }
        }
    }
    let summary = userspace_tests::runner::Summary {
        passed,
        failed,
        skipped: 0,
        interrupted: None,
    };
    println!("{summary}");
    Ok(failed == 0)
}

#[cfg(test)]
mod tests {
    use super::valid_tester;

    #[test]
    fn a_tester_is_a_name_and_an_address() {
        assert!(valid_tester("Jane Dev <jane@example.org>"));
        assert!(!valid_tester("jane@example.org"));
        assert!(!valid_tester(" <jane@example.org>"));
        assert!(!valid_tester("Jane <jane>"));
    }
}
