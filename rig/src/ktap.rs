//! Parses KTAP, the format KUnit reports in (Documentation/dev-tools/ktap.rst):
//! the result lines `ok <n> <name>` / `not ok <n> <name>`, an optional
//! `# SKIP <reason>` directive, indented by four spaces per level of
//! nesting (a suite's cases one level below the suite), and the plan line
//! `1..<count>` of each level.

/// One result line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KtapResult {
    /// Nesting level: 0 for a suite run from a module or debugfs, 1 for its
    /// cases, 2 for the parameters of a parameterised case.
    pub depth: usize,
    pub number: usize,
    pub name: String,
    pub ok: bool,
    /// The reason of a `# SKIP` directive (empty when it gives none).
    pub skip: Option<String>,
}

/// A plan line `1..<count>`, at its nesting level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KtapPlan {
    pub depth: usize,
    pub count: usize,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Ktap {
    pub results: Vec<KtapResult>,
    pub plans: Vec<KtapPlan>,
}

fn depth_of(line: &str) -> (usize, &str) {
    let body = line.trim_start_matches(' ');
    ((line.len() - body.len()) / 4, body.trim_end())
}

fn parse_result(depth: usize, body: &str) -> Option<KtapResult> {
    let (ok, rest) = if let Some(r) = body.strip_prefix("not ok ") {
        (false, r)
    } else {
        (true, body.strip_prefix("ok ")?)
    };
    let (number, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let number = number.parse().ok()?;
    let (name, directive) = match rest.split_once('#') {
        Some((n, d)) => (n.trim(), Some(d.trim())),
        None => (rest.trim(), None),
    };
    let skip = directive
        .and_then(|d| d.strip_prefix("SKIP"))
        .map(|r| r.trim().to_string());
    Some(KtapResult {
        depth,
        number,
        name: name.to_string(),
        ok,
        skip,
    })
}

/// Every result and plan line of `text`, in order; other lines (headers,
/// diagnostics, kernel messages between them) are ignored.
pub fn parse(text: &str) -> Ktap {
    let mut k = Ktap::default();
    for line in text.lines() {
        let (depth, body) = depth_of(line);
        if let Some(count) = body.strip_prefix("1..").and_then(|c| c.parse().ok()) {
            k.plans.push(KtapPlan { depth, count });
        } else if let Some(r) = parse_result(depth, body) {
            k.results.push(r);
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What /sys/kernel/debug/kunit/<suite>/results holds after a module's
    /// suite ran (KTAP of KUnit in 6.x/7.x).
    const RESULTS: &str = "KTAP version 1
1..1
    KTAP version 1
    # Subtest: videobuf2-fence
    # module: videobuf2_fence_test
    1..3
    ok 1 vb2_fence_test_publish_and_backoff
    not ok 2 vb2_fence_test_reserve_fails
    ok 3 vb2_fence_test_shared_dmabuf # SKIP no dma-buf
# videobuf2-fence: pass:1 fail:1 skip:1 total:3
# Totals: pass:1 fail:1 skip:1 total:3
not ok 1 videobuf2-fence
";

    #[test]
    fn results_and_plans_with_their_depth() {
        let k = parse(RESULTS);
        assert_eq!(
            k.plans,
            vec![
                KtapPlan { depth: 0, count: 1 },
                KtapPlan { depth: 1, count: 3 }
            ]
        );
        let names: Vec<(usize, &str, bool)> = k
            .results
            .iter()
            .map(|r| (r.depth, r.name.as_str(), r.ok))
            .collect();
        assert_eq!(
            names,
            vec![
                (1, "vb2_fence_test_publish_and_backoff", true),
                (1, "vb2_fence_test_reserve_fails", false),
                (1, "vb2_fence_test_shared_dmabuf", true),
                (0, "videobuf2-fence", false),
            ]
        );
        assert_eq!(k.results[2].skip.as_deref(), Some("no dma-buf"));
        assert_eq!(k.results[0].skip, None);
        assert_eq!(k.results[2].number, 3);
    }

    #[test]
    fn other_lines_are_ignored() {
        let k = parse("okay\n# ok 1 not a result\n[   1.0] vim2m: probe\nok x name\n");
        assert_eq!(k, Ktap::default());
    }
}
