//! What a stand-in run's report must show (the rig's `ontarget-check` and
//! `ontarget-refused` stages): each check is a test name `ontarget/...`
//! and its problem, if any.

use landing_model::ontarget::{DeviceResult, Report, Verdict, FORMAT};

pub type Checked = Vec<(String, Option<String>)>;

fn common(r: &Report, release: &str, out: &mut Checked) {
    out.push((
        "ontarget/format".into(),
        (r.format != FORMAT).then(|| format!("format {}, expected {FORMAT}", r.format)),
    ));
    out.push((
        "ontarget/kernel-release".into(),
        (r.kernel_release != release)
            .then(|| format!("{} in the report, {release} running", r.kernel_release)),
    ));
}

fn stand_ins(r: &Report) -> impl Iterator<Item = &DeviceResult> {
    r.devices.iter().filter(|d| !d.stands_in_for.is_empty())
}

/// The patched kernel: every stand-in found and passed, each with its
/// block naming the hardware it stands in for, a clean kernel log, every
/// listed opt-in switched on and back to its value (`param` reads a sysfs
/// file now; None: its module was unloaded since, and the run's own record
/// of the restore is all there is).
pub fn earned(r: &Report, release: &str, param: impl Fn(&str) -> Option<String>) -> Checked {
    let mut out = Vec::new();
    common(r, release, &mut out);
    for d in stand_ins(r) {
        out.push((
            format!("ontarget/stand-in/{}", d.name),
            (d.verdict != Verdict::Passed).then(|| {
                format!(
                    "{} ({} nodes, {} tests)",
                    d.verdict.as_str(),
                    d.nodes.len(),
                    d.checks.len()
                )
            }),
        ));
        let block = r.tested_by.iter().find(|b| b.device == d.name);
        out.push((
            format!("ontarget/tested-by/{}", d.name),
            match block {
                None => Some("no Tested-by block".into()),
                Some(b) if !b.line.starts_with("Tested-by: ") => {
                    Some("the block has no Tested-by line".into())
                }
                Some(b) if b.stands_in_for != d.stands_in_for => {
                    Some("the block does not name the hardware it stands in for".into())
                }
                Some(_) => None,
            },
        ));
    }
    out.push((
        "ontarget/kernel-log".into(),
        (!r.kernel_reports.is_empty()).then(|| {
            r.kernel_reports
                .iter()
                .map(|k| format!("{}: {}", k.what, k.excerpt.lines().next().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(" | ")
        }),
    ));
    let unswitched: Vec<&str> = r
        .optins
        .iter()
        .filter(|s| !s.on)
        .map(|s| s.path.as_str())
        .collect();
    let switched = if r.optins.is_empty() {
        Some("the report lists no opt-in".into())
    } else if !unswitched.is_empty() {
        Some(format!(
            "not switched on (the guest loads every opt-in module first): {}",
            unswitched.join(", ")
        ))
    } else {
        None
    };
    out.push(("ontarget/optins-switched".into(), switched));
    let unrestored: Vec<String> = r
        .optins
        .iter()
        .filter(|s| {
            s.on && s
                .before
                .as_ref()
                .is_some_and(|b| !s.restored || param(&s.path).is_some_and(|now| &now != b))
        })
        .map(|s| s.path.clone())
        .collect();
    out.push((
        "ontarget/optins-restored".into(),
        (!unrestored.is_empty())
            .then(|| format!("not back to their value: {}", unrestored.join(", "))),
    ));
    out
}

/// The unpatched kernel: the stand-ins were found and failed, and nobody
/// earned a Tested-by. (Its kernel log is the rig's to judge: the control
/// kernel's known reports are listed in vm/control-reports.list.)
pub fn refused(r: &Report, release: &str) -> Checked {
    let mut out = Vec::new();
    common(r, release, &mut out);
    for d in stand_ins(r) {
        out.push((
            format!("ontarget/stand-in-failed/{}", d.name),
            (d.verdict != Verdict::Failed).then(|| {
                format!(
                    "{}, where the fence tests must fail without the series",
                    d.verdict.as_str()
                )
            }),
        ));
    }
    out.push((
        "ontarget/no-tested-by".into(),
        (!r.tested_by.is_empty()).then(|| {
            let who: Vec<&str> = r.tested_by.iter().map(|b| b.device.as_str()).collect();
            format!(
                "blocks earned on a kernel without the series: {}",
                who.join(", ")
            )
        }),
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use landing_model::ontarget::{Switched, TestedBy};

    fn report(verdict: Verdict, block: bool) -> Report {
        Report {
            format: FORMAT,
            kernel_release: "7.2.13+".into(),
            devices: vec![DeviceResult {
                name: "vim2m".into(),
                stands_in_for: vec!["rga".into()],
                verdict,
                ..DeviceResult::default()
            }],
            optins: vec![Switched {
                driver: "rga".into(),
                path: "/sys/module/rockchip_rga/parameters/publish_fences".into(),
                before: Some("N".into()),
                on: block,
                restored: block,
            }],
            tested_by: if block {
                vec![TestedBy {
                    device: "vim2m".into(),
                    stands_in_for: vec!["rga".into()],
                    summary: "vim2m ... (CI only, not for posting)".into(),
                    line: "Tested-by: Rig Check <r@x.dev>".into(),
                }]
            } else {
                vec![]
            },
            ..Report::default()
        }
    }

    fn failures(c: &Checked) -> Vec<&str> {
        c.iter()
            .filter(|(_, p)| p.is_some())
            .map(|(n, _)| n.as_str())
            .collect()
    }

    #[test]
    fn a_patched_run_passes_earned_and_fails_refused() {
        let r = report(Verdict::Passed, true);
        assert!(failures(&earned(&r, "7.2.13+", |_| Some("N".into()))).is_empty());
        let still_on = earned(&r, "7.2.13+", |_| Some("Y".into()));
        assert_eq!(failures(&still_on), ["ontarget/optins-restored"]);
        let unloaded = earned(&r, "7.2.13+", |_| None);
        assert!(failures(&unloaded).is_empty(), "the run's record stands");
        assert_eq!(
            failures(&refused(&r, "7.2.13+")),
            ["ontarget/stand-in-failed/vim2m", "ontarget/no-tested-by"]
        );
    }

    #[test]
    fn a_control_run_passes_refused_and_fails_earned() {
        let r = report(Verdict::Failed, false);
        assert!(failures(&refused(&r, "7.2.13+")).is_empty());
        assert_eq!(
            failures(&earned(&r, "7.2.13+", |_| Some("N".into()))),
            [
                "ontarget/stand-in/vim2m",
                "ontarget/tested-by/vim2m",
                "ontarget/optins-switched"
            ]
        );
        assert_eq!(failures(&refused(&r, "6.1")), ["ontarget/kernel-release"]);
    }
}
