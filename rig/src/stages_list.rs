//! Parses vm/stages.list, every guest's stages in run order:
//! `name timeout guests verdict command...` (its header says what each
//! column and each verdict word means). `fresnel-rig stages --guest KIND`
//! gives the initramfs builder the stages of one guest; the judge reads
//! the verdict column.

use std::collections::BTreeMap;
use std::fmt;
use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kernel {
    Control,
    Patched,
}

impl Kernel {
    pub fn word(self) -> &'static str {
        match self {
            Kernel::Control => "control",
            Kernel::Patched => "patched",
        }
    }
}

impl fmt::Display for Kernel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// The rig's guests (the guests column).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Guest {
    /// The CI base.
    Control,
    /// The series on it.
    Patched,
    /// The series plus a fence-contract breach (vm/canary/).
    Canary,
    /// The Arch Linux ARM package's kernel, under qemu-system-aarch64.
    PackageArm64,
    /// The series without the debug options (lockdep, kmemleak): what a
    /// fence costs on a production kernel, run by
    /// scripts/bench-production.sh, not by CI.
    Production,
}

impl Guest {
    const ALL: [Guest; 5] = [
        Guest::Control,
        Guest::Patched,
        Guest::Canary,
        Guest::PackageArm64,
        Guest::Production,
    ];

    /// Every guest, in the table's order.
    pub fn all() -> impl Iterator<Item = Guest> {
        Self::ALL.into_iter()
    }

    /// The guest's name in the tables.
    pub fn word(self) -> &'static str {
        match self {
            Guest::Control => "control",
            Guest::Patched => "patched",
            Guest::Canary => "canary",
            Guest::PackageArm64 => "package-arm64",
            Guest::Production => "production",
        }
    }

    /// Every guest's name, for messages.
    pub fn known() -> String {
        Self::all().map(Guest::word).collect::<Vec<_>>().join(", ")
    }

    /// Whether the guest runs the suite, so that its judge checks
    /// cases.txt: all but the production guest, which only measures.
    pub fn runs_the_suite(self) -> bool {
        self != Guest::Production
    }

    pub fn from_word(word: &str) -> Option<Self> {
        Self::all().find(|g| g.word() == word)
    }

    /// The kernel a guest's stages are judged as: everything but the
    /// control carries the series.
    pub fn kernel(self) -> Kernel {
        match self {
            Guest::Control => Kernel::Control,
            Guest::Patched | Guest::Canary | Guest::PackageArm64 | Guest::Production => {
                Kernel::Patched
            }
        }
    }
}

/// What a stage means to the verdict (the verdict column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// `rc`: exit status 0.
    Rc,
    /// `tests`: PASS/FAIL/SKIP lines ending in the summary line, whose
    /// counts match them; exit 0 when nothing failed, else 1.
    Tests,
    /// `cases`: `tests`, and the lines are judged against cases.txt.
    Cases,
    /// `compliance`: v4l2-compliance, compared between the two kernels.
    Compliance,
    /// `log`: kernel log text scanned for reports; exit status 0.
    Log,
    /// `bufinfo`: the dma-buf bufinfo, with no unsignalled fence; exit 0.
    Bufinfo,
    /// `landing-map`: the landing map's JSON; exit 0 (a path that errors
    /// makes it exit non-zero).
    LandingMap,
    /// `watch`: landing-map watch's JSON reports; exit 0; the patched
    /// kernel's show fences armed and no anomaly, the control's nothing.
    Watch,
    /// `bench`: fence-bench's JSON report; exit 0 (1 is a leak); fences
    /// timed on the patched kernel, absent on the control one.
    Bench,
    /// `kunit`: KUnit's KTAP results, complete, every case `ok`; exit 0.
    Kunit,
}

impl Verdict {
    const WORDS: [(&'static str, Verdict); 10] = [
        ("rc", Verdict::Rc),
        ("tests", Verdict::Tests),
        ("cases", Verdict::Cases),
        ("compliance", Verdict::Compliance),
        ("log", Verdict::Log),
        ("bufinfo", Verdict::Bufinfo),
        ("landing-map", Verdict::LandingMap),
        ("watch", Verdict::Watch),
        ("bench", Verdict::Bench),
        ("kunit", Verdict::Kunit),
    ];

    fn from_word(word: &str) -> Option<Self> {
        Self::WORDS
            .iter()
            .find(|(w, _)| *w == word)
            .map(|(_, v)| *v)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageSpec {
    pub name: String,
    /// The guest timeout, in seconds (of the x86_64 guests; see `guests`).
    pub limit: u64,
    /// The kernels of the x86_64 guests that run it, control and patched
    /// (what the judge of those two reads).
    pub kernels: Vec<Kernel>,
    /// Every guest that runs it, with its timeout there.
    pub guests: Vec<(Guest, u64)>,
    pub verdict: Verdict,
    /// The command, its words joined by single spaces.
    pub command: String,
    /// The table's line, as written.
    pub line: String,
}

impl StageSpec {
    pub fn runs_on(&self, kernel: Kernel) -> bool {
        self.kernels.contains(&kernel)
    }
}

/// The stages `guest` runs, in order, each with that guest's timeout and
/// as judged on its kernel: the table of a guest judged on its own (the
/// arm64 package).
pub fn for_guest(specs: &[StageSpec], guest: Guest) -> Vec<StageSpec> {
    specs
        .iter()
        .filter_map(|s| {
            let &(_, limit) = s.guests.iter().find(|(g, _)| *g == guest)?;
            Some(StageSpec {
                limit,
                kernels: vec![guest.kernel()],
                ..s.clone()
            })
        })
        .collect()
}

/// What the initramfs of `guest` packs: `name timeout command...` per
/// stage (vm/init's /etc/fresnel/stages).
pub fn guest_lines(specs: &[StageSpec], guest: Guest) -> String {
    for_guest(specs, guest)
        .iter()
        .map(|s| format!("{} {} {}\n", s.name, s.limit, s.command))
        .collect()
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum StagesError {
    #[error("line {line}: expected `name timeout kernels verdict command...`, found {found:?}")]
    Columns { line: usize, found: String },
    #[error("line {line}: {name}: timeout {word:?} is not a number of seconds above 0")]
    Limit {
        line: usize,
        name: String,
        word: String,
    },
    #[error("line {line}: {name}: guest {word:?} is not one of both, {known} (each optionally =SECONDS)")]
    Guests {
        line: usize,
        name: String,
        word: String,
        known: String,
    },
    #[error("line {line}: {name}: verdict {word:?} is not one of rc, tests, cases, compliance, log, bufinfo, landing-map, watch, bench, kunit")]
    Verdict {
        line: usize,
        name: String,
        word: String,
    },
    #[error("line {line}: {name}: a compliance stage is compared between the kernels, so it must run on both")]
    ComplianceOnOneKernel { line: usize, name: String },
    #[error("line {line}: {name} is already listed on line {first}")]
    Duplicate {
        line: usize,
        name: String,
        first: usize,
    },
}

pub fn parse(text: &str) -> Result<Vec<StageSpec>, StagesError> {
    let mut specs = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for (line, content) in crate::table::rows(text) {
        let words: Vec<&str> = content.split_whitespace().collect();
        let [name, limit, guests_word, verdict, _command, ..] = words[..] else {
            return Err(StagesError::Columns {
                line,
                found: content.to_string(),
            });
        };
        let limit =
            limit
                .parse()
                .ok()
                .filter(|&l: &u64| l > 0)
                .ok_or_else(|| StagesError::Limit {
                    line,
                    name: name.to_string(),
                    word: limit.to_string(),
                })?;
        let guests = parse_guests(guests_word, limit).ok_or_else(|| StagesError::Guests {
            line,
            name: name.to_string(),
            word: guests_word.to_string(),
            known: Guest::known(),
        })?;
        let kernels: Vec<Kernel> = [Guest::Control, Guest::Patched]
            .into_iter()
            .filter(|g| guests.iter().any(|(h, _)| h == g))
            .map(Guest::kernel)
            .collect();
        let verdict = Verdict::from_word(verdict).ok_or_else(|| StagesError::Verdict {
            line,
            name: name.to_string(),
            word: verdict.to_string(),
        })?;
        if verdict == Verdict::Compliance && kernels.len() != 2 {
            return Err(StagesError::ComplianceOnOneKernel {
                line,
                name: name.to_string(),
            });
        }
        if let Some(&first) = seen.get(name) {
            return Err(StagesError::Duplicate {
                line,
                name: name.to_string(),
                first,
            });
        }
        seen.insert(name.to_string(), line);
        specs.push(StageSpec {
            name: name.to_string(),
            limit,
            kernels,
            guests,
            verdict,
            command: words[4..].join(" "),
            line: content.to_string(),
        });
    }
    Ok(specs)
}

/// The guests column: `both`, a guest's word or `WORD=SECONDS`,
/// comma-separated, each guest once; `None` if a part is none of these.
fn parse_guests(word: &str, limit: u64) -> Option<Vec<(Guest, u64)>> {
    let mut guests: Vec<(Guest, u64)> = Vec::new();
    for part in word.split(',') {
        let (g, own) = match part.split_once('=') {
            Some((g, secs)) => (g, Some(secs.parse().ok().filter(|&l: &u64| l > 0)?)),
            None => (part, None),
        };
        let named = match g {
            "both" => vec![Guest::Control, Guest::Patched],
            g => vec![Guest::from_word(g)?],
        };
        for g in named {
            if guests.iter().any(|(h, _)| *h == g) {
                return None;
            }
            guests.push((g, own.unwrap_or(limit)));
        }
    }
    Some(guests)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_projects_list_parses() {
        let text = include_str!("../../vm/stages.list");
        let specs = parse(text).expect("vm/stages.list parses");
        let suite = specs
            .iter()
            .find(|s| s.name == "suite")
            .expect("a suite stage");
        assert_eq!(suite.verdict, Verdict::Cases);
        assert!(suite.runs_on(Kernel::Control) && suite.runs_on(Kernel::Patched));
        assert!(specs.iter().all(|s| !s.guests.is_empty()));
        // What the two guests judged on their own run.
        let canary: Vec<String> = for_guest(&specs, Guest::Canary)
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(canary, ["load-drivers", "compliance-vivid", "dmesg"]);
        // The production guest loads the drivers and measures, nothing else.
        let production: Vec<String> = for_guest(&specs, Guest::Production)
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(production, ["load-drivers", "fence-bench"]);
        let package = for_guest(&specs, Guest::PackageArm64);
        assert!(package.iter().all(|s| s.kernels == [Kernel::Patched]));
        let landing = package.iter().find(|s| s.name == "landing-map");
        assert_eq!(landing.map(|s| s.limit), Some(300));
    }

    #[test]
    fn guests_and_their_timeouts() {
        let specs = parse(
            "a 120 both,canary rc /a.sh x  y\n\
             b 900 patched,package-arm64=600 cases /b\n\
             c 30 canary log dmesg\n",
        )
        .expect("parses");
        assert_eq!(specs[0].kernels, [Kernel::Control, Kernel::Patched]);
        assert_eq!(specs[0].command, "/a.sh x y");
        assert_eq!(
            specs[1].guests,
            [(Guest::Patched, 900), (Guest::PackageArm64, 600)]
        );
        assert!(specs[2].kernels.is_empty());
        assert_eq!(
            guest_lines(&specs, Guest::Canary),
            "a 120 /a.sh x y\nc 30 dmesg\n"
        );
        assert_eq!(guest_lines(&specs, Guest::PackageArm64), "b 600 /b\n");
        assert_eq!(guest_lines(&specs, Guest::Control), "a 120 /a.sh x y\n");
    }

    #[test]
    fn columns_and_words() {
        let specs = parse("# header\nload 120 both rc /x.sh arg\nkmod-check 60 patched tests /y\n")
            .expect("parses");
        assert_eq!(specs.len(), 2);
        assert_eq!(specs[0].limit, 120);
        assert_eq!(specs[1].kernels, vec![Kernel::Patched]);
        assert_eq!(specs[1].verdict, Verdict::Tests);
    }

    #[test]
    fn bad_lines_name_their_line() {
        let cases = [
            ("a 10 both rc\n", "expected `name"),
            ("a ten both rc /x\n", "timeout \"ten\""),
            ("a 0 both rc /x\n", "timeout \"0\""),
            ("a 10 all rc /x\n", "guest \"all\""),
            ("a 10 both,patched rc /x\n", "guest \"both,patched\""),
            ("a 10 canary=0 rc /x\n", "guest \"canary=0\""),
            ("a 10 both exit0 /x\n", "verdict \"exit0\""),
            ("a 10 patched compliance /x\n", "must run on both"),
            (
                "a 10 both rc /x\nb 10 both rc /y\na 5 both rc /z\n",
                "line 3: a is already listed on line 1",
            ),
        ];
        for (text, want) in cases {
            let e = parse(text).expect_err(text).to_string();
            assert!(e.contains(want), "{text:?}: {e}");
        }
    }
}
