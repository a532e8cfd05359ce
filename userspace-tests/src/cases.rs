//! The case table: every test the suite generates, in run order, with what
//! it needs, its body, and what the unpatched (control) kernel must show.
//! `cases.txt`, which the rig's judge reads, is this table written out; a
//! unit test keeps the two equal. `landing-map` runs the table's fence
//! paths.

mod plans;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::devices;
use crate::env::{job_timeout_for, transtime_ms_from_env, Env};
use crate::landing::LandingRow;
use crate::m2m::{BufSource, Driver};
use crate::needs::{self, Need};
use crate::paths::{
    capability, commit, exports, foreign, hold, idle, in_ioctl, module_unload, pending, readback,
    request_cancel, request_commit, scanout, source_change, vicodec_error, visl, vivid,
};
use crate::runner::{self, Runner, Setup, Test, DEFAULT_LIMIT};
use crate::verdict::Outcome;
use plans::{in_ioctl_plans, vim2m_fence_plans};

/// What a test must do on the unpatched kernel (the `control` column of
/// cases.txt). On the patched kernel every test must pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    Pass,
    /// FAIL [no-fence]: the control kernel publishes no vb2 fence.
    NoFence,
    /// FAIL [no-wait]: the control kernel starts a job whatever fences
    /// others put on its buffers.
    NoWait,
    /// SKIP: the thing tested cannot exist there (the Rust module).
    Skip,
}

impl Control {
    pub fn as_str(self) -> &'static str {
        match self {
            Control::Pass => "pass",
            Control::NoFence => "no-fence",
            Control::NoWait => "no-wait",
            Control::Skip => "skip",
        }
    }
}

/// A fence path: drives its device and reports what landed where (the
/// landing map prints the row).
pub type PathFn = Box<dyn Fn(&Env, &str) -> (LandingRow, Result<()>)>;
/// Any other test body.
pub type CheckFn = Box<dyn Fn(&Env, &str) -> Result<()>>;

pub enum Body {
    Path(PathFn),
    Check(CheckFn),
}

pub struct Case {
    /// `<device>/<test>`.
    pub name: String,
    pub needs: Vec<Need>,
    pub body: Body,
    pub control: Control,
    pub limit: Duration,
    /// What the test shows, in one line (cases.txt's last column; the
    /// READMEs' test tables are rendered from it).
    pub about: &'static str,
}

impl Case {
    fn about(mut self, about: &'static str) -> Case {
        self.about = about;
        self
    }

    /// The part before the `/`: the device.
    pub fn device(&self) -> &str {
        self.name.split_once('/').map_or(&self.name, |(d, _)| d)
    }

    /// The part after `<device>/`: what the body labels its buffers and
    /// landing row with.
    pub fn short_name(&self) -> &str {
        self.name.split_once('/').map_or(&self.name, |(_, s)| s)
    }

    /// Whether it drives hardware no rig has (cases.txt's patched column
    /// says `hardware`: the rig's guests must SKIP it, the board's
    /// on-target run must pass it).
    pub fn is_hardware(&self) -> bool {
        self.needs
            .iter()
            .any(|n| matches!(n, Need::Device(d) if d.is_hardware()))
    }

    /// cases.txt's patched column.
    pub fn patched_word(&self) -> &'static str {
        if self.is_hardware() {
            "hardware"
        } else {
            "pass"
        }
    }

    /// Whether the body is a fence path (it fills a landing row).
    pub fn is_fence_path(&self) -> bool {
        matches!(self.body, Body::Path(_))
    }

    /// Needs first (the only source of a SKIP), then the body, whose
    /// error fails the test in the category its chain carries.
    pub fn run(&self, env: &Env) -> Outcome {
        self.run_with_row(env).1
    }

    /// As `run`, with the landing row a fence path filled (`None` for
    /// other bodies, and where a need was unmet and nothing ran).
    pub fn run_with_row(&self, env: &Env) -> (Option<LandingRow>, Outcome) {
        if let Some(o) = needs::unmet(&self.needs, env) {
            return (None, o);
        }
        let short = self.short_name();
        match &self.body {
            Body::Path(f) => {
                let (row, result) = f(env, short);
                (Some(row), Outcome::of(result))
            }
            Body::Check(f) => (None, Outcome::of(f(env, short))),
        }
    }

    pub fn into_test(self, ignored: bool) -> Test<Env> {
        let limit = self.limit;
        Test::new(self.name.clone(), move |env: &Env| self.run(env))
            .limit(limit)
            .ignored(ignored)
    }
}

/// A fence path: on the control kernel it fails at its first oracle check
/// (no fence).
fn path(
    name: impl Into<String>,
    needs: Vec<Need>,
    f: impl Fn(&Env, &str) -> (LandingRow, Result<()>) + 'static,
) -> Case {
    Case {
        name: name.into(),
        needs,
        body: Body::Path(Box::new(f)),
        control: Control::NoFence,
        limit: DEFAULT_LIMIT,
        about: "",
    }
}

fn check(
    name: impl Into<String>,
    needs: Vec<Need>,
    control: Control,
    f: impl Fn(&Env, &str) -> Result<()> + 'static,
) -> Case {
    Case {
        name: name.into(),
        needs,
        body: Body::Check(Box::new(f)),
        control,
        limit: DEFAULT_LIMIT,
        about: "",
    }
}

/// Tests that wait on vim2m's transaction time (or visl's processing
/// time) get a limit that grows with it: at most a handful of waits of one
/// job timeout each.
fn scaled_limit() -> Duration {
    let job = job_timeout_for(transtime_ms_from_env());
    DEFAULT_LIMIT.max(job * 10)
}

fn with_limit(mut c: Case, limit: Duration) -> Case {
    c.limit = limit;
    c
}

/// Every test, in run order.
pub fn cases() -> Vec<Case> {
    use Control::{NoFence, NoWait, Pass, Skip};
    use Need::{
        Bufinfo, Device, DmaHeap, Kmod, SwSync, Udmabuf, Vim2mReloadable, VislTranstime,
        VividCapture, VividMplane, Vkms,
    };
    let vim2m = || vec![Device(Driver::Vim2m), Bufinfo];
    let slow = scaled_limit();
    let mut t = vec![
        // The oracles themselves: bufinfo must read and parse; the Rust
        // module loads only on a kernel with the series.
        check("oracle/bufinfo", vec![Bufinfo], Pass, |_, _| Ok(()))
            .about("debugfs dma_buf/bufinfo reads and parses: the oracle the other tests use"),
        check("oracle/vb2_fence_probe", vec![Kmod], Skip, |_, _| Ok(())).about(
            "the vb2_fence_probe module loads and answers: it needs the series' tracepoints",
        ),
        with_limit(
            check("vim2m/mmap_without_export", vim2m(), Pass, |e, n| {
                idle::mmap_without_export(e, n, Driver::Vim2m)
            })
            .about("a job on MMAP buffers never exported runs and completes normally"),
            slow,
        ),
    ];
    // vim2m: a job lasts the transaction time, so pending fences are seen.
    for (name, about, plan) in vim2m_fence_plans() {
        let mut needs = vim2m();
        for src in [plan.src, plan.out] {
            let need = match src {
                BufSource::Heap => Some(DmaHeap),
                BufSource::Udmabuf => Some(Udmabuf),
                BufSource::Vivid => Some(VividCapture),
                BufSource::Mmap | BufSource::UserPtr => None,
            };
            if let Some(n) = need.filter(|n| !needs.contains(n)) {
                needs.push(n);
            }
        }
        t.push(with_limit(
            path(format!("vim2m/{name}"), needs, move |e, n| {
                pending::fence_path(e, n, &plan)
            })
            .about(about),
            slow,
        ));
    }
    t.extend([
        with_limit(
            check("vim2m/no_fence_without_job", vim2m(), Pass, |e, n| {
                idle::no_fence_without_job(e, n, Driver::Vim2m)
            }).about(
"an exported buffer that no job uses carries no fence"),
            slow,
        ),
        with_limit(
            path("vim2m/sigkill_owner", vim2m(), pending::sigkill_path).about(
"SIGKILL of the process that owns the queues mid-job, while another holds the export, signals the job's fences"),
            slow,
        ),
        // A job queued behind a busy device has its fences at QBUF.
        with_limit(
            path("vim2m/fences_at_commit", vim2m(), commit::fences_at_commit).about(
"a job queued behind a busy device has its WRITE and READ fences when the QBUF that made it runnable returns, before it starts"),
            slow,
        ),
    ]);
    // Fences others put on a job's buffers hold it (sw_sync, as IGT).
    t.extend(foreign_paths(Driver::Vim2m, vim2m(), slow));
    // A display handed the CAPTURE buffer of a job that has not started.
    t.push(with_limit(
        check(
            "vim2m/vkms_scanout_waits_for_job",
            vec![Device(Driver::Vim2m), Vkms],
            NoFence,
            |e, _| scanout::vkms_scanout_waits_for_job(e),
        ).about(
"vkms scans out a CAPTURE buffer committed before its job started only once the job has written it"),
        slow,
    ));
    // A fence held while its driver goes away.
    t.push(with_limit(
        check(
            "vim2m/sync_file_outlives_module",
            vec![Device(Driver::Vim2m), Bufinfo, Vim2mReloadable],
            NoFence,
            |e, _| module_unload::sync_file_outlives_module(e),
        ).about(
"a sync_file and an export held while vim2m is closed and unloaded stay readable, and the buffer is freed after the driver"),
        slow,
    ));
    // A queued request closed with its file (vim2m takes requests too).
    t.push(with_limit(
        check("vim2m/request_cancel_close", vim2m(), Pass, |e, _| {
            request_cancel::request_cancel(e, Driver::Vim2m, request_cancel::CancelBy::Close)
        })
        .about("closing the file with a request queued completes the request and leaves no fence"),
        slow,
    ));
    t.extend([
        check("vim2m/capability_flag", vim2m(), NoFence, |_, _| {
            capability::vim2m_capability_flag()
        }).about(
"V4L2_BUF_CAP_PUBLISHES_FENCES is reported by REQBUFS and CREATE_BUFS on both queues for MMAP and DMABUF buffers, not for USERPTR ones, and cleared with publish_fences off"),
        check("vim2m/unfenced_exports_separate", vim2m(), Pass, |_, _| {
            exports::vim2m_unfenced_exports_separate()
        }).about(
"with publish_fences off, each export of a buffer keeps its own reservation object, as before the series"),
        with_limit(
            check(
                "vim2m/readback_rgb24",
                vec![Device(Driver::Vim2m)],
                Pass,
                |e, n| readback::vim2m(e, n, b"RGB3"),
            ).about(
"an RGB24 frame read back through a CAPTURE export equals the software reference"),
            slow,
        ),
        with_limit(
            check(
                "vim2m/readback_yuyv",
                vec![Device(Driver::Vim2m)],
                Pass,
                |e, n| readback::vim2m(e, n, b"YUYV"),
            ).about(
"a YUYV frame read back through a CAPTURE export equals the software reference"),
            slow,
        ),
    ]);
    // vicodec's stateful encoder: the job runs inside the QBUF that makes
    // it runnable; the signalled fence it leaves is checked.
    let vicodec = || vec![Device(Driver::VicodecEnc), Bufinfo];
    t.push(
        check("vicodec/mmap_without_export", vicodec(), Pass, |e, n| {
            idle::mmap_without_export(e, n, Driver::VicodecEnc)
        })
        .about("a job on MMAP buffers never exported runs and completes normally"),
    );
    t.extend(in_ioctl_paths(Driver::VicodecEnc, vicodec()));
    // Its jobs are committed with their fences: a foreign fence holds one,
    // which shows them pending.
    t.extend(foreign_paths(Driver::VicodecEnc, vicodec(), slow));
    t.extend([
        check("vicodec/no_fence_without_job", vicodec(), Pass, |e, n| {
            idle::no_fence_without_job(e, n, Driver::VicodecEnc)
        }).about(
"an exported buffer that no job uses carries no fence"),
        check(
            "vicodec/capability_at_commit_only",
            vec![
                Device(Driver::VicodecEnc),
                Device(Driver::VicodecDec),
                VividCapture,
                Bufinfo,
            ],
            NoFence,
            |_, _| capability::flag_only_where_published_at_commit(),
        ).about(
"V4L2_BUF_CAP_PUBLISHES_FENCES is reported by vicodec's encoder, whose jobs publish at commit, and not by its stateful decoder or vivid's capture, which add their fences when a job starts"),
        // Encoded, then decoded again by vicodec's decoder.
        check(
            "vicodec/readback_fwht",
            vec![Device(Driver::VicodecEnc), Device(Driver::VicodecDec)],
            Pass,
            readback::vicodec_fwht,
        ).about(
"a frame encoded by vicodec reads back the same through MMAP and its export, and decodes to the source within the codec's bound"),
        check(
            "vicodec/error_completion",
            vec![Device(Driver::VicodecDec), Bufinfo],
            NoFence,
            vicodec_error::vicodec_error_completion,
        ).about(
"a decode job that fails signals its CAPTURE fence with -EIO"),
        check(
            "vicodec/output_spans_jobs",
            vec![Device(Driver::VicodecDec), Bufinfo],
            NoFence,
            vicodec_error::vicodec_output_spans_jobs,
        ).about(
"an OUTPUT buffer that spans two jobs has the first job's READ fence signalled when that job ends, while the buffer stays queued"),
        check(
            "vicodec/source_change",
            vec![Device(Driver::VicodecDec), Bufinfo],
            NoFence,
            source_change::vicodec_source_change,
        ).about(
"a SOURCE_CHANGE in the middle of an OUTPUT buffer: its fence is signalled while userspace handles the event, and the CAPTURE buffer the event returned carries none"),
    ]);
    // visl: the job runs inside MEDIA_REQUEST_IOC_QUEUE.
    let visl = || vec![Device(Driver::Visl), Bufinfo];
    t.push(
        check("visl/mmap_without_export", visl(), Pass, |e, n| {
            idle::mmap_without_export(e, n, Driver::Visl)
        })
        .about("a request job on MMAP buffers never exported runs and completes normally"),
    );
    t.extend(in_ioctl_paths(Driver::Visl, visl()));
    t.push(
        check("visl/no_fence_without_job", visl(), Pass, |e, n| {
            idle::no_fence_without_job(e, n, Driver::Visl)
        })
        .about("an exported buffer that no request uses carries no fence"),
    );
    // With visl_transtime_ms set and the request queued from a second
    // thread, visl's fences are seen pending.
    let mut needs = visl();
    needs.push(VislTranstime);
    t.push(with_limit(
        path(
            "visl/expbuf_while_running",
            needs,
            visl::expbuf_while_running,
        ).about(
"with visl's processing time set, the CAPTURE export of a queued request carries the pending fence"),
        slow,
    ));
    // A request queued behind a job that waits for a foreign fence.
    let mut needs = visl();
    needs.push(Need::SwSync);
    t.push(with_limit(
        path(
            "visl/fences_at_request_queue",
            needs,
            request_commit::fences_at_request_queue,
        ).about(
"a request queued behind a job that waits has its WRITE and READ fences when MEDIA_REQUEST_IOC_QUEUE returns, before it starts"),
        slow,
    ));
    t.extend(foreign_paths(Driver::Visl, visl(), slow));
    // A frame in two slices publishes no fence but waits for its OUTPUT
    // buffer's writer; another file handle's job meanwhile is published at
    // commit and waits for a foreign fence.
    t.push(with_limit(
        check(
            "visl/hold_capture_slices",
            [visl(), vec![Need::SwSync]].concat(),
            Control::NoWait,
            hold::hold_capture_slices,
        )
        .about(
            "a frame in two slices with the CAPTURE buffer held publishes no fence (which CAPTURE buffer a held job writes is not known at commit), and its last slice waits for a sw_sync writer on its OUTPUT buffer; meanwhile another file handle's job is published at commit and waits for a sw_sync reader; the next frame is published at commit again and waits for a sw_sync reader",
        ),
        slow,
    ));
    // A queued request cancelled: it completes and leaves no fence.
    for (name, about, by) in [
        (
            "visl/request_cancel_streamoff",
            "STREAMOFF with a request queued completes the request and leaves no fence",
            request_cancel::CancelBy::StreamOff,
        ),
        (
            "visl/request_cancel_close",
            "closing the file with a request queued completes the request and leaves no fence",
            request_cancel::CancelBy::Close,
        ),
    ] {
        t.push(
            check(name, visl(), Pass, move |e, _| {
                request_cancel::request_cancel(e, Driver::Visl, by)
            })
            .about(about),
        );
    }
    // vivid's multi-planar capture (NV12M): one fence on several
    // reservations, and on one reservation once when planes share it.
    t.extend([
        path(
            "vivid/mmap_planes",
            vec![VividMplane, Bufinfo],
            vivid::mmap_planes_path,
        ).about(
"a multi-planar (NV12M) capture buffer carries one fence on each plane's reservation"),
        path(
            "vivid/planes_share_one_dmabuf",
            vec![VividMplane, Bufinfo, DmaHeap],
            vivid::shared_dmabuf_path,
        ).about(
"planes that import one dma-buf get the fence once, on the reservation they share"),
        path(
            "vivid/planes_own_dmabufs",
            vec![VividMplane, Bufinfo, DmaHeap],
            vivid::own_dmabufs_path,
        ).about(
"planes that each import a dma-buf of their own get the frame's one fence on both reservations"),
        check(
            "vivid/error_completion",
            vec![VividMplane, Bufinfo],
            NoFence,
            vivid::error_completion,
        ).about(
"a frame vivid completes with V4L2_BUF_FLAG_ERROR has its fence signalled with -EIO on both planes"),
        path(
            "vivid/remove_bufs_after_frame",
            vec![VividMplane, Bufinfo],
            vivid::remove_bufs_after_frame,
        ).about(
"VIDIOC_REMOVE_BUFS of a dequeued buffer leaves its signalled fence as it was, without error, on the exports that keep its memory"),
        path(
            "vivid/start_streaming_error",
            vec![VividMplane, Bufinfo],
            vivid::start_streaming_error,
        ).about(
"a failing start_streaming() leaves no fence on the buffer it returns; the next STREAMON captures it with one fence per plane"),
        // The importer that reads vivid's export back is vim2m.
        with_limit(
            check(
                "vivid/readback_nv12m",
                vec![VividMplane, Device(Driver::Vim2m)],
                Pass,
                vivid::readback,
            ).about(
"an NV12M frame reads back through its export and through vim2m importing it as the reference pattern, byte for byte"),
            slow,
        ),
    ]);
    // A reader's fence on the buffer holds vivid's capture thread.
    for (name, about, end) in [
        (
            "vivid/foreign_reader_holds_frame",
            "a sw_sync reader fence on a capture buffer keeps vivid from writing it until it signals; STREAMON returns at once",
            foreign::WaitEnd::Signal,
        ),
        (
            "vivid/streamoff_while_waiting",
            "STREAMOFF while a capture buffer waits for a sw_sync reader fence leaves it unwritten, and the next STREAMON captures it",
            foreign::WaitEnd::StreamOff,
        ),
    ] {
        t.push(with_limit(
            check(name, vec![VividMplane, SwSync], NoWait, move |_, _| {
                vivid::foreign_reader_holds_frame(end)
            })
            .about(about),
            slow,
        ));
    }
    // Hardware, on the board only (fresnel-ontarget): the RGA runs the
    // sw_sync family vim2m runs in the rig, the same code.
    t.extend(foreign_paths(
        Driver::Rga,
        vec![Device(Driver::Rga), Bufinfo],
        slow,
    ));
    t
}

/// The fence paths of a driver that completes its jobs inside an ioctl.
fn in_ioctl_paths(driver: Driver, needs: Vec<Need>) -> Vec<Case> {
    in_ioctl_plans(driver)
        .into_iter()
        .map(|(name, about, plan)| {
            path(
                format!("{}/{name}", driver.name()),
                needs.clone(),
                move |e, n| in_ioctl::fence_path(e, n, driver, &plan),
            )
            .about(about)
        })
        .collect()
}

/// A foreign sw_sync fence on a buffer holds the job (control kernel:
/// `no-wait`): the writer's on OUTPUT and the reader's on CAPTURE, each
/// released by its signal, and STREAMOFF while the job waits.
fn foreign_paths(driver: Driver, needs: Vec<Need>, limit: Duration) -> Vec<Case> {
    use foreign::{Foreign, WaitEnd};
    [
        (
            "foreign_writer_holds_job",
            "a sw_sync writer fence on the OUTPUT buffer holds the job, whose own fences are published; its signal runs the job",
            Foreign::WriterOnOutput,
            WaitEnd::Signal,
        ),
        (
            "foreign_reader_holds_job",
            "a sw_sync reader fence on the CAPTURE buffer holds the job until it signals",
            Foreign::ReaderOnCapture,
            WaitEnd::Signal,
        ),
        (
            "streamoff_while_waiting",
            "STREAMOFF while a job waits for a foreign fence signals its fences with an error and leaves the buffer unwritten",
            Foreign::WriterOnOutput,
            WaitEnd::StreamOff,
        ),
    ]
    .into_iter()
    .map(|(name, about, foreign, end)| {
        let mut needs = needs.clone();
        needs.push(Need::SwSync);
        with_limit(
            check(
                format!("{}/{name}", driver.name()),
                needs,
                Control::NoWait,
                move |e, _| foreign::foreign_fence_holds_job(e, driver, foreign, end),
            )
            .about(about),
            limit,
        )
    })
    .collect()
}

/// The table as cases.txt writes it: `name patched control about` per
/// line.
pub fn table_lines() -> Vec<String> {
    cases()
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {}",
                c.name,
                c.patched_word(),
                c.control.as_str(),
                c.about
            )
        })
        .collect()
}

/// Hardware the series opts in that no suite test drives yet (devices.txt
/// rows with no cases): named when present, so that nobody takes their
/// absence from the results for a pass.
fn hardware_notes() -> Vec<String> {
    let Ok(table) = devices::parse(devices::TABLE) else {
        return vec!["devices.txt does not parse: run the suite's unit tests".into()];
    };
    let (nodes, _) = devices::survey();
    table
        .iter()
        .filter(|d| !d.is_stand_in() && d.cases.is_none())
        .filter_map(|d| {
            let n = nodes.iter().find(|n| d.matches(n))?;
            Some(format!(
                "{} present ({}), not driven by this suite: its fence paths are not tested here",
                d.name,
                n.path.display()
            ))
        })
        .collect()
}

/// Who runs the suite.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// `fence-suite`, the binary the VM runs: every test runs.
    Suite,
    /// `cargo test`: the device tests are ignored (libtest's `#[ignore]`)
    /// unless FRESNEL_DEVICE_TESTS=1 or `--ignored` / `--include-ignored`
    /// asks for them, so that a developer's `cargo test` on a machine with
    /// vim2m loaded does not judge that machine's kernel.
    CargoTest,
}

pub const DEVICE_TESTS_ENV: &str = "FRESNEL_DEVICE_TESTS";

/// The suite's `main`: parse the command line (libtest's), then list or
/// run the table.
pub fn main(mode: Mode) -> ExitCode {
    let args = match runner::parse_args(std::env::args_os()) {
        Ok(a) => a,
        Err(e) => e.exit(),
    };
    let opted_in = mode == Mode::Suite || std::env::var(DEVICE_TESTS_ENV).is_ok_and(|v| v == "1");
    // As a normal user every fence test would SKIP (bufinfo is root-only)
    // and cargo would report success: say so and fail instead.
    let device_tests = opted_in || args.ignored || args.include_ignored;
    if mode == Mode::CargoTest && device_tests && !args.list && !nix::unistd::geteuid().is_root() {
        eprintln!(
            "error: the device tests need root (the bufinfo oracle, sw_sync and the probe \
             module are root-only): build as yourself (`./build.sh`), then run the same \
             table as root with `sudo target/debug/fence-suite`"
        );
        return ExitCode::from(2);
    }
    let tests: Vec<Test<Env>> = cases()
        .into_iter()
        .map(|c| c.into_test(!opted_in))
        .collect();
    let runner = Runner {
        ignored_hint: format!(
            "the device tests run with {DEVICE_TESTS_ENV}=1 or `cargo test -- \
             --include-ignored` (they need the V4L2 test drivers: see README.md)"
        ),
        ..Runner::default()
    };
    let setup = || Setup {
        context: Env::new(),
        notes: hardware_notes(),
    };
    runner
        .main(&args, tests, setup, &mut std::io::stdout())
        .exit_code()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A devices.txt row's cases column names a device of this table.
    #[test]
    fn each_device_rows_cases_prefix_is_a_suite_device() {
        let suite: Vec<String> = cases().iter().map(|c| c.device().to_string()).collect();
        for r in devices::parse(devices::TABLE).expect("devices.txt parses") {
            if let Some(p) = &r.cases {
                assert!(
                    suite.contains(p),
                    "{}: no suite test starts with {p}/",
                    r.name
                );
            }
        }
    }

    /// A row's Tested-by needs every one of its tests to pass: at least one
    /// of them must fail without the series, or an unpatched kernel could
    /// earn the tag.
    #[test]
    fn each_driven_row_has_a_test_the_control_kernel_fails() {
        let all = cases();
        for r in devices::parse(devices::TABLE).expect("devices.txt parses") {
            let Some(p) = &r.cases else { continue };
            assert!(
                all.iter()
                    .any(|c| c.device() == p
                        && matches!(c.control, Control::NoFence | Control::NoWait)),
                "{}: every {p}/ test passes on the control kernel",
                r.name
            );
        }
    }

    /// cases.txt (which the rig reads) is this table, name by name, in
    /// run order, with the same control column.
    #[test]
    fn cases_txt_is_the_table() {
        let listed: Vec<String> = include_str!("../cases.txt")
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim())
            .filter(|l| !l.is_empty())
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        let table = table_lines();
        assert!(
            listed == table,
            "cases.txt differs from the case table; the table says:\n{}",
            table.join("\n")
        );
    }

    #[test]
    fn every_case_says_what_it_shows() {
        for c in cases() {
            assert!(
                !c.about.is_empty() && !c.about.contains(['#', '|', '\n']),
                "{}: its about line is empty or has #, | or a newline",
                c.name
            );
        }
    }

    #[test]
    fn names_are_unique_and_prefixed() {
        let names: Vec<String> = cases().into_iter().map(|c| c.name).collect();
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len(), "duplicate test names");
        assert!(names.iter().all(|n| n.split_once('/').is_some()));
    }

    /// A fence path gives the landing map the row it filled and the suite
    /// the same outcome; an unmet need runs nothing and gives no row.
    #[test]
    fn a_fence_path_gives_its_row() {
        use crate::oracle::{Oracles, Unavailable};
        use crate::verdict::{missing, Category};
        let env = Env {
            oracles: Oracles {
                bufinfo: Ok(()),
                kmod: Err(Unavailable::Absent("modprobe vb2_fence_probe".into())),
            },
            transtime_ms: 1,
        };
        let body = |_: &Env, n: &str| {
            crate::landing::record("dev", n, |row| {
                row.land_nothing("CAPTURE export #0");
                Err(missing("poll says idle"))
            })
        };
        let c = path("dev/p", vec![], body);
        assert!(c.is_fence_path());
        assert_eq!((c.device(), c.short_name()), ("dev", "p"));
        let (row, outcome) = c.run_with_row(&env);
        let row = row.expect("a fence path fills a row");
        assert_eq!(
            (row.path.as_str(), row.error.as_str()),
            ("p", "poll says idle")
        );
        assert_eq!(row.landings.len(), 1);
        let fail = Outcome::Fail(Category::NoFence, "poll says idle".into());
        assert_eq!(outcome, fail);
        assert_eq!(c.run(&env), fail);

        let c = path("dev/p", vec![Need::Kmod], body);
        let skip = Outcome::Skip("modprobe vb2_fence_probe".into());
        assert_eq!(c.run_with_row(&env), (None, skip));
        let c = check("dev/c", vec![], Control::Pass, |_, _| Ok(()));
        assert!(!c.is_fence_path());
        assert_eq!(c.run_with_row(&env), (None, Outcome::Pass));
    }

    /// Every fence path fails as no-fence on the control kernel, and every
    /// test that observes a dma-buf requires bufinfo, or a display whose
    /// scanout shows whether it waited.
    #[test]
    fn fence_paths_need_bufinfo_and_expect_no_fence() {
        for c in cases() {
            if c.is_fence_path() {
                assert_eq!(c.control, Control::NoFence, "{}", c.name);
            }
            if c.control == Control::NoFence {
                assert!(
                    c.needs.contains(&Need::Bufinfo) || c.needs.contains(&Need::Vkms),
                    "{}",
                    c.name
                );
            }
        }
    }
}
