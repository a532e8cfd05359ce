//! What a test's result means: its outcome, the typed errors the checks
//! raise, and the category the suite prints for a failure
//! (docs/interfaces.md: `no-fence`, `wrong-fence`, `no-wait`, `error`,
//! `panic`, `timeout`).
//!
//! The checks wrap their errors in context as they travel up; the category
//! is found by looking through the whole anyhow chain, so context never
//! hides it.

use std::fmt;

/// Why a test failed, as the suite prints it in `FAIL <name> [<category>]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// An oracle found no vb2 fence where the test requires one.
    NoFence,
    /// A fence was found, but with the wrong usage, count, state, error or
    /// identity (or one was found where none may be).
    WrongFence,
    /// A job ran while a fence it must wait for (one another user put on
    /// its buffer) was pending.
    NoWait,
    /// Anything else: an ioctl, the setup, I/O.
    Error,
    /// The test panicked.
    Panic,
    /// The test exceeded its time limit.
    Timeout,
}

impl Category {
    /// Every category, in the order docs/interfaces.md lists them.
    pub const ALL: [Category; 6] = [
        Category::NoFence,
        Category::WrongFence,
        Category::NoWait,
        Category::Error,
        Category::Panic,
        Category::Timeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::NoFence => "no-fence",
            Category::WrongFence => "wrong-fence",
            Category::NoWait => "no-wait",
            Category::Error => "error",
            Category::Panic => "panic",
            Category::Timeout => "timeout",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The result of one test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    /// Something the test needs is absent; the reason names it and the
    /// command that fixes it.
    Skip(String),
    Fail(Category, String),
}

impl Outcome {
    /// The outcome of a test body: an error fails it, in the category its
    /// chain carries (`category_of`).
    pub fn of(result: anyhow::Result<()>) -> Self {
        match result {
            Ok(()) => Outcome::Pass,
            Err(e) => Outcome::Fail(category_of(&e), one_line(&e)),
        }
    }
}

/// The outcome of a fence check that failed.
#[derive(Debug, thiserror::Error)]
pub enum FenceCheck {
    /// No vb2 fence where one must be: poll says idle, EXPORT_SYNC_FILE
    /// gives the signalled stub or no vb2 fence, bufinfo or the kmod list
    /// none. This is all an unpatched kernel can show.
    #[error("{0}")]
    Missing(String),
    /// A fence is there, but not the one required (usage, count, state,
    /// error, identity), or one is there where none may be.
    #[error("{0}")]
    Wrong(String),
    /// A job ran (or completed) while a fence it must wait for was still
    /// pending: all an unpatched kernel can show, as it waits for none.
    #[error("{0}")]
    RanEarly(String),
}

/// An error saying that no vb2 fence was found where one must be.
pub fn missing(msg: impl Into<String>) -> anyhow::Error {
    FenceCheck::Missing(msg.into()).into()
}

/// An error saying that a fence was found, but not the right one.
pub fn wrong(msg: impl Into<String>) -> anyhow::Error {
    FenceCheck::Wrong(msg.into()).into()
}

/// An error saying that a job did not wait for a fence it must wait for.
pub fn ran_early(msg: impl Into<String>) -> anyhow::Error {
    FenceCheck::RanEarly(msg.into()).into()
}

/// Something a test needs is not on this machine, or not for this user: a
/// device, a node, a kernel feature, a permission. The message names it and
/// the command that fixes it. Only a test's prerequisites turn this into a
/// SKIP; raised by the test body it is an error like any other.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Absent(pub String);

/// An error that `is_absent` recognises.
pub fn absent(msg: impl Into<String>) -> anyhow::Error {
    Absent(msg.into()).into()
}

/// The first `T` in the error: anyhow's own downcast looks through every
/// context layer (outermost first) to the error at the bottom; the chain
/// walk then finds one that is the `source()` of a library error.
fn find<T: std::error::Error + Send + Sync + 'static>(e: &anyhow::Error) -> Option<&T> {
    e.downcast_ref::<T>()
        .or_else(|| e.chain().find_map(|c| c.downcast_ref::<T>()))
}

/// Whether the error (anywhere in its chain) says something is absent.
pub fn is_absent(e: &anyhow::Error) -> bool {
    find::<Absent>(e).is_some()
}

/// The category of a failed test body: the fence check in the chain
/// decides; without one it is an `error`.
pub fn category_of(e: &anyhow::Error) -> Category {
    match find::<FenceCheck>(e) {
        Some(FenceCheck::Missing(_)) => Category::NoFence,
        Some(FenceCheck::Wrong(_)) => Category::WrongFence,
        Some(FenceCheck::RanEarly(_)) => Category::NoWait,
        None => Category::Error,
    }
}

/// An error rendered on one line: the chain joined with ": ", newlines
/// replaced.
pub fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " | ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    fn nested(e: anyhow::Error) -> anyhow::Error {
        Err::<(), _>(e)
            .context("CAPTURE export #0 while the job runs")
            .context("outer step")
            .expect_err("an error")
    }

    #[test]
    fn category_found_through_context() {
        assert_eq!(
            category_of(&nested(missing("poll says idle"))),
            Category::NoFence
        );
        assert_eq!(
            category_of(&nested(wrong("two fences"))),
            Category::WrongFence
        );
        assert_eq!(
            category_of(&nested(anyhow::anyhow!("VIDIOC_QBUF: EINVAL"))),
            Category::Error
        );
        let line = one_line(&nested(missing("poll says idle")));
        assert_eq!(
            line,
            "outer step: CAPTURE export #0 while the job runs: poll says idle"
        );
    }

    /// A fence check that is the source of a library error (not anyhow
    /// context) is still found.
    #[test]
    fn category_found_as_a_source() {
        #[derive(Debug, thiserror::Error)]
        #[error("observing the export")]
        struct Wrapper(#[source] FenceCheck);
        let e = nested(Wrapper(FenceCheck::Wrong("usage read".into())).into());
        assert_eq!(category_of(&e), Category::WrongFence);
        // A check added as context, outside another: the outer one wins.
        let e = nested(missing("none")).context(FenceCheck::Wrong("x".into()));
        assert_eq!(category_of(&e), Category::WrongFence);
    }

    #[test]
    fn absent_found_through_context() {
        assert!(is_absent(&nested(absent("modprobe vim2m"))));
        assert!(!is_absent(&nested(missing("x"))));
    }

    #[test]
    fn category_names() {
        let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "no-fence",
                "wrong-fence",
                "no-wait",
                "error",
                "panic",
                "timeout"
            ]
        );
        assert_eq!(category_of(&nested(ran_early("ran"))), Category::NoWait);
    }
}
