//! The suite's own test harness: PASS/FAIL/SKIP lines in the format the rig
//! parses (docs/interfaces.md), a name filter and `--list`.

use std::io::Write;
use std::process::ExitCode;

use crate::paths::{self, CapSource, Driver, Env, FencePlan, SyncPlan};
use crate::plans;

/// Result of one test.
pub enum Outcome {
    Pass,
    Skip(String),
    Fail(anyhow::Error),
}

type TestFn = Box<dyn Fn(&Env, &str) -> Outcome>;

pub struct Test {
    pub name: String,
    /// True for tests that must fail on the unpatched (control) kernel.
    pub fence: bool,
    run: TestFn,
}

fn from_result(r: anyhow::Result<()>) -> Outcome {
    match r {
        Ok(()) => Outcome::Pass,
        Err(e) => match e.downcast_ref::<NoDevice>() {
            Some(nd) => Outcome::Skip(nd.0.clone()),
            None => Outcome::Fail(e),
        },
    }
}

/// A missing device or kernel feature: a skip, never a pass or a failure.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct NoDevice(pub String);

fn need_vim2m() -> Result<(), Outcome> {
    need(Driver::Vim2m)
}

fn need(driver: Driver) -> Result<(), Outcome> {
    driver.open().map(drop).map_err(Outcome::Skip)
}

fn need_path(p: &str, what: &str) -> Result<(), Outcome> {
    if std::path::Path::new(p).exists() {
        Ok(())
    } else {
        Err(Outcome::Skip(format!("{p} absent ({what})")))
    }
}

fn need_vivid() -> Result<(), Outcome> {
    crate::v4l2::find_device("vivid", |d| d.is_capture() && !d.is_m2m() && !d.mplane)
        .map(drop)
        .map_err(|e| Outcome::Skip(format!("{e}; load vivid allocators=1")))
}

fn need_vivid_mplane() -> Result<(), Outcome> {
    crate::vivid::open_vivid_mplane()
        .map(drop)
        .map_err(Outcome::Skip)
}

/// A fence test whose path drives its device itself; `need` skips it when
/// the device is absent.
fn path_fence_test(
    device: &str,
    need: fn() -> Result<(), Outcome>,
    name: &str,
    f: plans::PathFn,
) -> Test {
    Test {
        name: format!("{device}/{name}"),
        fence: true,
        run: Box::new(move |env, n| {
            if let Err(o) = need() {
                return o;
            }
            from_result(f(env, n).1)
        }),
    }
}

fn fence_test(name: &str, plan: FencePlan) -> Test {
    let full = format!("vim2m/{name}");
    Test {
        name: full,
        fence: true,
        run: Box::new(move |env, n| {
            if let Err(o) = need_vim2m() {
                return o;
            }
            let pre = match plan.src {
                CapSource::Heap => need_path("/dev/dma_heap/system", "CONFIG_DMABUF_HEAPS_SYSTEM"),
                CapSource::Udmabuf => need_path("/dev/udmabuf", "CONFIG_UDMABUF"),
                CapSource::Vivid => need_vivid(),
                CapSource::Mmap => Ok(()),
            };
            if let Err(o) = pre {
                return o;
            }
            from_result(paths::fence_path(env, n, &plan).1)
        }),
    }
}

fn vivid_plain_test(name: &str, f: fn(&Env, &str) -> anyhow::Result<()>) -> Test {
    Test {
        name: format!("vivid/{name}"),
        fence: false,
        run: Box::new(move |env, n| {
            if let Err(o) = need_vivid_mplane() {
                return o;
            }
            from_result(f(env, n))
        }),
    }
}

fn plain_test(name: &str, f: fn(&Env, &str) -> anyhow::Result<()>) -> Test {
    plain_test_on(Driver::Vim2m, name, f)
}

fn plain_test_on(driver: Driver, name: &str, f: fn(&Env, &str) -> anyhow::Result<()>) -> Test {
    Test {
        name: format!("{}/{name}", driver.name()),
        fence: false,
        run: Box::new(move |env, n| {
            if let Err(o) = need(driver) {
                return o;
            }
            from_result(f(env, n))
        }),
    }
}

/// A fence test on a driver that completes its jobs inside an ioctl.
fn sync_fence_test(driver: Driver, name: &str, plan: SyncPlan) -> Test {
    Test {
        name: format!("{}/{name}", driver.name()),
        fence: true,
        run: Box::new(move |env, n| {
            if let Err(o) = need(driver) {
                return o;
            }
            from_result(paths::sync_fence_path(env, n, driver, &plan).1)
        }),
    }
}

/// The fence tests of a driver that completes its jobs inside an ioctl.
fn sync_fence_tests(driver: Driver) -> Vec<Test> {
    plans::sync_fence_plans(driver)
        .into_iter()
        .map(|(name, plan)| sync_fence_test(driver, name, plan))
        .collect()
}

fn skip_test(name: &str, reason: &'static str) -> Test {
    Test {
        name: name.to_string(),
        fence: false,
        run: Box::new(move |_, _| Outcome::Skip(reason.to_string())),
    }
}

fn device_absent_or(driver: &'static str, what: &'static str) -> TestFn {
    Box::new(
        move |_, _| match crate::v4l2::find_device(driver, |_| true) {
            Err(e) => Outcome::Skip(e),
            Ok(_) => Outcome::Skip(format!("{driver} present, but {what}")),
        },
    )
}

/// Every test, in run order.
pub fn all_tests() -> Vec<Test> {
    let mut t = vec![
        // Oracle availability: visible skips when one is missing.
        Test {
            name: "oracle/bufinfo".into(),
            fence: false,
            run: Box::new(|env, _| match &env.oracles.bufinfo {
                Ok(()) => Outcome::Pass,
                Err(e) => Outcome::Skip(e.clone()),
            }),
        },
        Test {
            name: "oracle/vb2_fence_probe".into(),
            fence: false,
            run: Box::new(|env, _| match &env.oracles.kmod {
                Ok(_) => Outcome::Pass,
                Err(e) => Outcome::Skip(e.clone()),
            }),
        },
        plain_test("mmap_without_export", |e, n| {
            paths::mmap_without_export(e, n, Driver::Vim2m)
        }),
    ];
    t.extend(
        plans::vim2m_fence_plans()
            .into_iter()
            .map(|(name, plan)| fence_test(name, plan)),
    );
    t.extend(vec![
        plain_test("no_fence_without_job", |e, n| {
            paths::no_fence_without_job(e, n, Driver::Vim2m)
        }),
        Test {
            name: "vim2m/sigkill_owner".into(),
            fence: true,
            run: Box::new(|env, n| {
                if let Err(o) = need_vim2m() {
                    return o;
                }
                from_result(paths::sigkill_path(env, n).1)
            }),
        },
        skip_test(
            "vim2m/error_completion",
            "vim2m completes every job it ran with DONE; its only ERROR path \
             (stop_streaming) returns buffers whose job never ran, which are never armed",
        ),
        plain_test("readback_rgb24", |e, n| paths::readback(e, n, b"RGB3")),
        plain_test("readback_yuyv", |e, n| paths::readback(e, n, b"YUYV")),
        // vicodec stateful encoder (YU12 640x480 -> FWHT): the job runs and
        // completes inside the QBUF that makes it runnable.
        plain_test_on(Driver::VicodecEnc, "mmap_without_export", |e, n| {
            paths::mmap_without_export(e, n, Driver::VicodecEnc)
        }),
    ]);
    t.extend(sync_fence_tests(Driver::VicodecEnc));
    t.extend(vec![
        plain_test_on(Driver::VicodecEnc, "no_fence_without_job", |e, n| {
            paths::no_fence_without_job(e, n, Driver::VicodecEnc)
        }),
        skip_test(
            "vicodec/expbuf_while_running",
            "vicodec runs and completes the job inside the QBUF ioctl that makes it \
             runnable: there is no window in which userspace can see a pending fence",
        ),
        plain_test_on(Driver::VicodecEnc, "readback_fwht", paths::readback_fwht),
        // Fails on an unpatched kernel only where /dev/vb2_fence_probe is
        // loaded (no fence at all on the reservation); but the kmod needs
        // the series and cannot load on the control kernel, where this test
        // therefore SKIPs. The rig requires every test in
        // control-expected-failures.txt to FAIL there, so it is not listed
        // (fence: false).
        plain_test_on(
            Driver::VicodecDec,
            "error_completion",
            paths::vicodec_error_completion,
        ),
        // visl (stateless, Request API, default coded format and controls):
        // the job runs inside MEDIA_REQUEST_IOC_QUEUE.
        plain_test_on(Driver::Visl, "mmap_without_export", |e, n| {
            paths::mmap_without_export(e, n, Driver::Visl)
        }),
    ]);
    t.extend(sync_fence_tests(Driver::Visl));
    t.extend(vec![plain_test_on(
        Driver::Visl,
        "no_fence_without_job",
        |e, n| paths::no_fence_without_job(e, n, Driver::Visl),
    )]);
    // The job sleeps visl_transtime_ms inside MEDIA_REQUEST_IOC_QUEUE,
    // queued from a second thread: the fences are seen pending.
    t.extend(
        plans::visl_fence_paths()
            .into_iter()
            .map(|(name, f)| path_fence_test("visl", || need(Driver::Visl), name, f)),
    );
    // vivid's multi-planar video capture (NV12M): one fence on several
    // reservations, and on one reservation once when planes share it.
    t.extend(
        plans::vivid_fence_paths()
            .into_iter()
            .map(|(name, f)| path_fence_test("vivid", need_vivid_mplane, name, f)),
    );
    t.extend(vec![
        // Not in control-expected-failures.txt for the reason given at
        // vicodec/error_completion: it needs the kmod.
        vivid_plain_test("error_completion", crate::vivid::error_completion),
        vivid_plain_test("readback_nv12m", crate::vivid::readback),
    ]);
    for (drv, what) in [
        ("rkvdec", "the suite does not drive rkvdec yet"),
        ("hantro-vpu", "the suite does not drive hantro yet"),
        ("rockchip-rga", "the suite does not drive rga yet"),
    ] {
        t.push(Test {
            name: format!("{drv}/fence_paths"),
            fence: false,
            run: device_absent_or(drv, what),
        });
    }
    t
}

/// Run the suite; `args` are the command-line arguments after argv[0].
pub fn run_main(args: &[String]) -> ExitCode {
    let mut list = false;
    let mut filters = Vec::new();
    for a in args {
        match a.as_str() {
            "--list" => list = true,
            // cargo test / libtest flags the rig or a human may pass.
            s if s.starts_with('-') => {}
            s => filters.push(s.to_string()),
        }
    }
    let tests: Vec<Test> = all_tests()
        .into_iter()
        .filter(|t| filters.is_empty() || filters.iter().any(|f| t.name.contains(f.as_str())))
        .collect();
    if list {
        for t in &tests {
            println!("{}", t.name);
        }
        return ExitCode::SUCCESS;
    }
    let env = Env::new();
    let (mut pass, mut fail, mut skip) = (0u32, 0u32, 0u32);
    let mut out = std::io::stdout();
    for t in &tests {
        let outcome = (t.run)(&env, &t.name);
        let line = match outcome {
            Outcome::Pass => {
                pass += 1;
                format!("PASS {}", t.name)
            }
            Outcome::Skip(r) => {
                skip += 1;
                format!("SKIP {}: {}", t.name, one_line(&r))
            }
            Outcome::Fail(e) => {
                fail += 1;
                format!("FAIL {}: {}", t.name, one_line(&format!("{e:#}")))
            }
        };
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
    let _ = writeln!(out, "{pass} passed, {fail} failed, {skip} skipped");
    if fail > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn one_line(s: &str) -> String {
    s.replace('\n', " | ")
}

#[cfg(test)]
mod tests {
    /// control-expected-failures.txt lists exactly the fence tests.
    #[test]
    fn control_list_matches_fence_tests() {
        let listed: Vec<&str> = include_str!("../control-expected-failures.txt")
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        let fence: Vec<String> = super::all_tests()
            .into_iter()
            .filter(|t| t.fence)
            .map(|t| t.name)
            .collect();
        assert_eq!(listed, fence);
    }
}
