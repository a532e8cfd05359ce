//! Parses what the guest wrote on its results port (see vm/init): stages
//! bracketed by `@@FRESNEL BEGIN <stage>` /
//! `@@FRESNEL END <stage> rc=<n> seconds=<s> [timeout=<limit>]`, then
//! `@@FRESNEL DONE`. A stage with a BEGIN and no END is where the guest hung
//! or died; `timeout=` marks a stage its guest timeout killed.

/// One stage's output and exit status (None: it never ended).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stage {
    pub name: String,
    pub output: String,
    pub rc: Option<i32>,
    /// How long the stage ran, by the guest's clock.
    pub seconds: Option<u64>,
    /// The limit (s) of the guest timeout that killed the stage.
    pub timeout: Option<u64>,
}

#[derive(Debug, Default, Clone)]
pub struct GuestRun {
    /// `@@FRESNEL KIND <kind> <uname -r>` as written by the guest.
    pub kind: Option<String>,
    pub stages: Vec<Stage>,
    pub done: bool,
}

impl GuestRun {
    pub fn parse(text: &str) -> Self {
        let mut run = GuestRun::default();
        let mut open: Option<Stage> = None;
        for raw in text.lines() {
            // The serial port turns "\n" into "\r\n".
            let line = raw.trim_end_matches('\r');
            let Some(marker) = line.strip_prefix("@@FRESNEL ") else {
                if let Some(stage) = open.as_mut() {
                    stage.output.push_str(line);
                    stage.output.push('\n');
                }
                continue;
            };
            let mut words = marker.split_whitespace();
            match words.next() {
                Some("KIND") => run.kind = Some(words.collect::<Vec<_>>().join(" ")),
                Some("BEGIN") => {
                    if let Some(unfinished) = open.take() {
                        run.stages.push(unfinished);
                    }
                    open = Some(Stage {
                        name: words.next().unwrap_or("?").to_string(),
                        ..Stage::default()
                    });
                }
                Some("END") => {
                    if let Some(mut stage) = open.take() {
                        // A mark without a readable rc= still ends the stage:
                        // rc -1 fails any rule that looks at it.
                        stage.rc = Some(-1);
                        for (key, value) in words.skip(1).filter_map(|w| w.split_once('=')) {
                            match key {
                                "rc" => stage.rc = Some(value.parse().unwrap_or(-1)),
                                "seconds" => stage.seconds = value.parse().ok(),
                                "timeout" => stage.timeout = value.parse().ok(),
                                _ => {}
                            }
                        }
                        run.stages.push(stage);
                    }
                }
                Some("DONE") => run.done = true,
                _ => {}
            }
        }
        if let Some(unfinished) = open.take() {
            run.stages.push(unfinished);
        }
        run
    }

    pub fn stage(&self, name: &str) -> Option<&Stage> {
        self.stages.iter().find(|s| s.name == name)
    }

    /// The stage that was running when the guest stopped talking.
    pub fn hung_stage(&self) -> Option<&Stage> {
        self.stages.iter().find(|s| s.rc.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_markers_and_rc() {
        let log = "boot noise\r\n@@FRESNEL KIND patched 7.2.13\r\n@@FRESNEL BEGIN a\r\nx\r\ny\r\n@@FRESNEL END a rc=0\r\n@@FRESNEL BEGIN b\r\n@@FRESNEL END b rc=3\r\n@@FRESNEL DONE\r\n";
        let run = GuestRun::parse(log);
        assert_eq!(run.kind.as_deref(), Some("patched 7.2.13"));
        assert!(run.done);
        assert_eq!(run.stages.len(), 2);
        assert_eq!(run.stage("a").map(|s| s.output.as_str()), Some("x\ny\n"));
        assert_eq!(run.stage("b").and_then(|s| s.rc), Some(3));
        assert!(run.hung_stage().is_none());
    }

    #[test]
    fn end_mark_fields() {
        let run = GuestRun::parse(
            "@@FRESNEL BEGIN suite\nPASS a\n@@FRESNEL END suite rc=143 seconds=901 timeout=900\n\
             @@FRESNEL BEGIN dmesg\n@@FRESNEL END dmesg rc=0 seconds=0\n\
             @@FRESNEL BEGIN odd\n@@FRESNEL END odd\n",
        );
        let suite = run.stage("suite").expect("suite");
        assert_eq!(
            (suite.rc, suite.seconds, suite.timeout),
            (Some(143), Some(901), Some(900))
        );
        let dmesg = run.stage("dmesg").expect("dmesg");
        assert_eq!(
            (dmesg.rc, dmesg.seconds, dmesg.timeout),
            (Some(0), Some(0), None)
        );
        assert_eq!(run.stage("odd").and_then(|s| s.rc), Some(-1));
    }

    #[test]
    fn a_stage_without_end_is_the_hang() {
        let run = GuestRun::parse(
            "@@FRESNEL BEGIN a\n@@FRESNEL END a rc=0\n@@FRESNEL BEGIN suite\npartial\n",
        );
        assert!(!run.done);
        assert_eq!(run.hung_stage().map(|s| s.name.as_str()), Some("suite"));
    }
}
