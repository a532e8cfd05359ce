//! The case table as the READMEs show it (between `<!-- cases:begin -->`
//! and `<!-- cases:end -->`, in README.md's "How the rig works" and in
//! userspace-tests/README.md's "Tests"), and the test that keeps both equal
//! to userspace-tests/cases.txt.

use crate::cases::{Case, Expect};

/// What each word of the table asks of a kernel, as the judge enforces it.
fn meaning(expect: Expect) -> &'static str {
    match expect {
        Expect::Pass => "the test must PASS; a FAIL, a SKIP or its absence fails the run.",
        Expect::NoFence => {
            "the test must FAIL with category `no-fence`: its oracle found no vb2 fence where the \
             series puts one. A PASS proves nothing (it cannot tell the series from no series), and \
             a FAIL for another reason (`[error]`, `[wrong-fence]`, ...), a SKIP or its absence \
             fails the run."
        }
        Expect::NoWait => {
            "the test must FAIL with category `no-wait`: a job ran while a fence another user had \
             put on its buffer was pending (a kernel without the series never waits for one). A \
             PASS proves nothing, and a FAIL for another reason, a SKIP or its absence fails the \
             run."
        }
        Expect::Skip => {
            "the test must SKIP: what it needs cannot exist without the series (the vb2_fence_probe \
             module needs the series' tracepoints). A PASS means it loaded on a kernel without the \
             series and fails the run."
        }
        Expect::Hardware => {
            "(patched column) the test drives a device no rig has (an RK3399 block): both guests \
             must SKIP it, and a PASS or FAIL there fails the run. On the board, fresnel-ontarget \
             runs it and it must PASS; the control column then says what a board kernel without \
             the series does."
        }
    }
}

pub fn render(cases: &[Case]) -> String {
    let mut out = String::from(
        "What `fresnel-rig judge` requires of each suite test on each kernel, from\n\
         `userspace-tests/cases.txt` (`fresnel-rig cases --markdown userspace-tests/cases.txt`\n\
         prints this table; a rig unit test fails when the two differ). Every case must run\n\
         exactly once on each kernel, and a test the table does not list fails the run.\n\n\
         | test | what it shows | patched | control |\n\
         |---|---|---|---|\n",
    );
    for c in cases {
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            c.name, c.about, c.patched, c.control
        ));
    }
    out.push('\n');
    for e in Expect::ALL {
        out.push_str(&format!("- `{e}`: {}\n", meaning(e)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cases;
    use std::path::Path;

    const BEGIN: &str = "<!-- cases:begin -->";
    const END: &str = "<!-- cases:end -->";

    #[test]
    fn renders_rows_and_meanings() {
        let table = cases::parse(
            "vim2m/a pass pass shows a\nvim2m/b pass no-fence shows b\noracle/c pass skip shows c\n",
        )
            .expect("fixture");
        let md = render(&table);
        assert!(md.contains("| test | what it shows | patched | control |\n|---|---|---|---|\n| `vim2m/a` | shows a | pass | pass |\n| `vim2m/b` | shows b | pass | no-fence |\n| `oracle/c` | shows c | pass | skip |\n\n"), "{md}");
        for word in ["- `pass`: ", "- `no-fence`: ", "- `skip`: "] {
            assert!(md.contains(word), "{word} in {md}");
        }
    }

    #[test]
    fn the_readme_table_equals_cases_txt() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let read = |p: &str| {
            std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("reading {p}: {e}"))
        };
        let table = cases::parse(&read("userspace-tests/cases.txt"))
            .unwrap_or_else(|e| panic!("userspace-tests/cases.txt: {e}"));
        for path in ["README.md", "userspace-tests/README.md"] {
            let readme = read(path);
            let block = readme
                .split_once(BEGIN)
                .and_then(|(_, rest)| rest.split_once(END))
                .map(|(block, _)| block)
                .unwrap_or_else(|| panic!("{path} has no {BEGIN} ... {END} block"));
            assert!(
                block.trim_matches('\n') == render(&table).trim_matches('\n'),
                "{path}'s test table differs from userspace-tests/cases.txt: put the output of \
                 `fresnel-rig cases --markdown userspace-tests/cases.txt` between {BEGIN} and {END}"
            );
        }
    }
}
