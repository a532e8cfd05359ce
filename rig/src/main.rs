//! fresnel-rig: the host side of the VM test rig. The shell scripts build and
//! boot; every decision about what the guest's output means is made here.
//! (Config fragment checks live in fresnel-tools, shared with the PKGBUILD.)

mod bench;
mod cases;
mod cases_markdown;
mod compliance;
mod control_reports;
mod follow;
mod guests;
mod judge;
mod ktap;
mod landing;
mod must_run;
mod results_log;
mod stages_list;
mod suite_output;
mod table;
mod watch;

/// The kernel-report scanner, shared with the suite's on-target run.
use landing_model::kernel_log;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use judge::{KernelRun, Outcome, Rules};
use results_log::GuestRun;
use stages_list::{Guest, Kernel};
use std::fs;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(about = "Host side of the linux-fresnel-fourier VM rig")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

/// What `fresnel-rig judge` reads.
#[derive(Args)]
struct JudgeArgs {
    /// A guest's run: KIND=DIR, DIR holding its results.log and
    /// console.log; KIND a guest of vm/guests.list (repeatable, each guest
    /// once). control and patched are judged against each other; the
    /// canary must end in a lockdep report through dma_fence_map;
    /// package-arm64 and production are judged as patched kernels against
    /// their own rows of the stage table, their checks under their own
    /// prefix (arm64-package/..., production/...).
    #[arg(long = "run", value_parser = parse_run)]
    runs: Vec<(Guest, PathBuf)>,
    /// The case table: what each kernel must report for each suite test
    /// (userspace-tests/cases.txt).
    #[arg(long)]
    cases: PathBuf,
    /// The stage table the guests ran (vm/stages.list, or $FRESNEL_STAGES).
    #[arg(long)]
    stages: PathBuf,
    /// Host-side check results, in the suite's PASS/FAIL/SKIP line format.
    #[arg(long)]
    host_checks: Option<PathBuf>,
    /// The reports the control kernel is excused for, each with the fix
    /// that removes it (vm/control-reports.list).
    #[arg(long)]
    control_reports: Option<PathBuf>,
    /// The results the KUnit stages and kmod-check must report
    /// (vm/must-run.list).
    #[arg(long)]
    must_run: Option<PathBuf>,
}

/// `KIND=DIR` of `judge --run`.
fn parse_run(arg: &str) -> Result<(Guest, PathBuf), String> {
    let (kind, dir) = arg
        .split_once('=')
        .ok_or_else(|| format!("{arg:?}: expected KIND=DIR"))?;
    let guest = Guest::from_word(kind)
        .ok_or_else(|| format!("{kind:?} is not a guest: one of {}", Guest::known()))?;
    if dir.is_empty() {
        return Err(format!("{arg:?}: no directory after ="));
    }
    Ok((guest, PathBuf::from(dir)))
}

#[derive(Subcommand)]
enum Cmd {
    /// Judge the VM runs; prints one line per check and the summary line.
    Judge(JudgeArgs),
    /// Print the landing maps the guests printed (JSON), side by side.
    LandingMap {
        #[arg(long)]
        control: Option<PathBuf>,
        #[arg(long)]
        patched: Option<PathBuf>,
    },
    /// Print the guest's stages as they begin and end, from a results.log.
    Follow {
        results_log: PathBuf,
        /// Keep reading until the guest finishes or this process (the VM) ends.
        #[arg(long)]
        while_pid: Option<u32>,
    },
    /// Print the stages one guest runs, `name timeout command...` per line
    /// (what its initramfs packs for vm/init); or, with --without-control,
    /// the table's rows that mean something without a control kernel's
    /// run (what `vm-test.sh --patched-only` runs).
    Stages {
        /// The stage table (vm/stages.list).
        table: PathBuf,
        #[arg(long, value_enum, required_unless_present = "without_control")]
        guest: Option<stages_list::Guest>,
        /// The rows without the stages judged against the control kernel
        /// (the compliance verdict, test-media's sequence), as a table.
        #[arg(long, conflicts_with = "guest")]
        without_control: bool,
    },
    /// Print one column of a guest's row of the guest table
    /// (vm/guests.list): what the scripts need to know of a guest.
    Guest {
        /// The guest's kind, a guest of the table.
        kind: String,
        /// The column: arch, kernel, config, calls, port or limit.
        #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(guests::COLUMNS))]
        get: String,
        /// The guest table.
        #[arg(long)]
        table: PathBuf,
    },
    /// Check a case table; with --markdown print it as the README shows it.
    Cases {
        cases: PathBuf,
        #[arg(long)]
        markdown: bool,
    },
}

fn read(path: &Path) -> Result<String> {
    let bytes = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn load_cases(path: &Path) -> Result<Vec<cases::Case>> {
    cases::parse(&read(path)?).with_context(|| format!("{}", path.display()))
}

fn load_run(kernel: Kernel, dir: &Path) -> Result<KernelRun> {
    Ok(KernelRun {
        kernel,
        guest: GuestRun::parse(&read(&dir.join("results.log"))?),
        console: read(&dir.join("console.log"))?,
    })
}

fn judge_cmd(a: &JudgeArgs) -> Result<bool> {
    let (cases_path, stages_path) = (a.cases.as_path(), a.stages.as_path());
    let host_checks = a.host_checks.as_deref();
    if a.runs.is_empty() {
        bail!("nothing to judge: give --run KIND=DIR for each guest that ran");
    }
    for (i, (g, _)) in a.runs.iter().enumerate() {
        if a.runs[..i].iter().any(|(h, _)| h == g) {
            bail!("--run {}: given twice", g.word());
        }
    }
    let dir_of = |g: Guest| {
        a.runs
            .iter()
            .find(|(h, _)| *h == g)
            .map(|(_, d)| d.as_path())
    };
    let cases = load_cases(cases_path)?;
    let stages = stages_list::parse(&read(stages_path)?)
        .with_context(|| format!("{}", stages_path.display()))?;
    let control_reports = match &a.control_reports {
        Some(p) => control_reports::parse(&read(p)?).with_context(|| format!("{}", p.display()))?,
        None => Vec::new(),
    };
    let control = dir_of(Guest::Control)
        .map(|d| load_run(Kernel::Control, d))
        .transpose()?;
    let patched = dir_of(Guest::Patched)
        .map(|d| load_run(Kernel::Patched, d))
        .transpose()?;
    for run in [&control, &patched].into_iter().flatten() {
        if let Some(summary) = judge::test_media::summary(&run.guest, &stages) {
            println!("info: {} test-media: {summary}", run.kernel);
            for failure in &summary.failures {
                println!("info: {} test-media: {failure}", run.kernel);
            }
        }
        for line in judge::compliance_summary(&run.guest, &stages) {
            println!("info: {} compliance: {line}", run.kernel);
        }
        for line in watch::summary(&run.guest, &stages) {
            println!("info: {} watch: {line}", run.kernel);
        }
    }
    for line in judge::bench_summary(
        control.as_ref().map(|r| &r.guest),
        patched.as_ref().map(|r| &r.guest),
        &stages,
    ) {
        println!("info: bench: {line}");
    }
    let mut checks = match host_checks {
        Some(path) => judge::host_checks(&read(path)?),
        None => Vec::new(),
    };
    let must_run = match &a.must_run {
        Some(p) => must_run::parse(&read(p)?).with_context(|| format!("{}", p.display()))?,
        None => must_run::MustRun::default(),
    };
    let rules = Rules {
        cases: &cases,
        stages: &stages,
        control_reports: &control_reports,
        must_run: &must_run,
        cases_required: true,
    };
    if let Some(run) = &control {
        for line in judge::excused_reports(run, &rules) {
            println!("info: control kernel: {line}");
        }
    }
    if control.is_some() || patched.is_some() {
        checks.extend(judge::judge(control.as_ref(), patched.as_ref(), &rules));
    }
    if let Some(dir) = dir_of(Guest::Canary) {
        // The canary is the patched series plus the breach: judged alone.
        let run = load_run(Kernel::Patched, dir)?;
        for line in judge::canary_evidence(&run) {
            println!("info: canary: {line}");
        }
        checks.push(judge::canary(&run));
    }
    for (guest, prefix) in [
        (Guest::PackageArm64, "arm64-package"),
        (Guest::Production, "production"),
    ] {
        let Some(dir) = dir_of(guest) else {
            continue;
        };
        // A kernel with the series, judged as the patched kernel is, by its
        // own list of stages.
        let stages = stages_list::for_guest(&stages, guest);
        let run = load_run(Kernel::Patched, dir)?;
        // Empty unless the guest's rows run a bench (the production one).
        for line in judge::bench_summary(None, Some(&run.guest), &stages) {
            println!("info: {prefix} bench: {line}");
        }
        let rules = Rules {
            cases: &cases,
            stages: &stages,
            control_reports: &[],
            must_run: &must_run,
            cases_required: guest.runs_the_suite(),
        };
        checks.extend(
            judge::judge(None, Some(&run), &rules)
                .into_iter()
                .map(|c| judge::Check {
                    name: format!("{prefix}/{}", c.name),
                    outcome: c.outcome,
                }),
        );
    }
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

fn cases_cmd(path: &Path, markdown: bool) -> Result<()> {
    let cases = load_cases(path)?;
    if markdown {
        print!("{}", cases_markdown::render(&cases));
    } else {
        let in_rig = |c: &&cases::Case| c.patched != cases::Expect::Hardware;
        let control = |e: cases::Expect| {
            cases
                .iter()
                .filter(in_rig)
                .filter(|c| c.control == e)
                .count()
        };
        println!(
            "{}: {} cases; on the control kernel {} must pass, {} must fail with no-fence, {} with no-wait, {} must skip; {} drive hardware (skip in the rig)",
            path.display(),
            cases.len(),
            control(cases::Expect::Pass),
            control(cases::Expect::NoFence),
            control(cases::Expect::NoWait),
            control(cases::Expect::Skip),
            cases.len() - cases.iter().filter(in_rig).count()
        );
    }
    Ok(())
}

fn landing_map(control: Option<&Path>, patched: Option<&Path>) -> Result<()> {
    let mut maps: Vec<Option<Vec<landing_model::LandingRow>>> = Vec::new();
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
        Cmd::Judge(args) => {
            if judge_cmd(&args)? {
                Ok(())
            } else {
                std::process::exit(1)
            }
        }
        Cmd::LandingMap { control, patched } => landing_map(control.as_deref(), patched.as_deref()),
        Cmd::Follow {
            results_log,
            while_pid,
        } => follow::follow(&results_log, while_pid),
        Cmd::Cases { cases, markdown } => cases_cmd(&cases, markdown),
        Cmd::Guest { kind, get, table } => {
            let rows =
                guests::parse(&read(&table)?).with_context(|| format!("{}", table.display()))?;
            let row = guests::row(&rows, &kind).with_context(|| format!("{}", table.display()))?;
            let value = row
                .get(&get)
                .with_context(|| format!("guest {kind}: no column {get}"))?;
            println!("{value}");
            Ok(())
        }
        Cmd::Stages {
            table,
            guest,
            without_control,
        } => {
            let specs = stages_list::parse(&read(&table)?)
                .with_context(|| format!("{}", table.display()))?;
            match guest {
                Some(guest) => print!("{}", stages_list::guest_lines(&specs, guest)),
                None if without_control => {
                    for s in specs.iter().filter(|s| !judge::needs_control(s)) {
                        println!("{}", s.line);
                    }
                }
                None => bail!("give --guest KIND or --without-control"),
            }
            Ok(())
        }
    }
}
