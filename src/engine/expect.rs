//! Checking a shell step's outcome against its `expect`.

use regex::Regex;

use cutover_model::protocol::{CheckResult, Stream};
use cutover_model::runbook::Expect;

/// Stdout kept for multi-line regex matching; past this, lines are matched one by one.
pub const STDOUT_KEEP: usize = 1024 * 1024;

/// Watches a shell step's output as it streams, for the `expect` checks.
#[derive(Debug)]
pub struct OutputWatch {
    regex: Option<Regex>,
    matched_line: bool,
    stdout: String,
    stdout_overflow: bool,
    stderr_bytes: u64,
    stderr_first: Option<String>,
}

impl OutputWatch {
    /// Watches for `expect`.
    pub fn new(expect: &Expect) -> Self {
        OutputWatch {
            regex: expect.stdout.as_deref().and_then(|r| Regex::new(r).ok()),
            matched_line: false,
            stdout: String::new(),
            stdout_overflow: false,
            stderr_bytes: 0,
            stderr_first: None,
        }
    }

    /// Lines of one stream, each followed by `\n` (the same as calling [`OutputWatch::stdout`]
    /// or [`OutputWatch::stderr`] on each line, only cheaper).
    pub fn lines(&mut self, stream: Stream, joined: &str) {
        match stream {
            Stream::Stdout => {
                if self.regex.is_some() {
                    joined.split_terminator('\n').for_each(|l| self.stdout(l));
                }
            }
            Stream::Stderr => {
                self.stderr_bytes += joined.len() as u64;
                if self.stderr_first.is_none()
                    && let Some(first) = joined.split_terminator('\n').next()
                {
                    self.stderr(first);
                    self.stderr_bytes -= first.len() as u64 + 1;
                }
            }
        }
    }

    /// A stdout line.
    pub fn stdout(&mut self, line: &str) {
        let Some(re) = &self.regex else { return };
        if !self.matched_line && re.is_match(line) {
            self.matched_line = true;
        }
        if !self.stdout_overflow {
            if self.stdout.len() + line.len() + 1 > STDOUT_KEEP {
                self.stdout_overflow = true;
                self.stdout = String::new();
            } else {
                self.stdout.push_str(line);
                self.stdout.push('\n');
            }
        }
    }

    /// A stderr line.
    pub fn stderr(&mut self, line: &str) {
        self.stderr_bytes += line.len() as u64 + 1;
        if self.stderr_first.is_none() {
            self.stderr_first = Some(line.chars().take(120).collect());
        }
    }

    /// The checks for an exit code.
    pub fn checks(
        &self,
        expect: &Expect,
        code: Option<i32>,
        signal: Option<i32>,
    ) -> Vec<CheckResult> {
        let want = expect.exit.unwrap_or(0);
        let seen = match (code, signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("killed by signal {s}"),
            (None, None) => "no exit status".to_string(),
        };
        let mut out = vec![CheckResult {
            name: "exit".into(),
            passed: code == Some(want),
            detail: format!("{seen} (expected {want})"),
        }];
        if let (Some(pattern), Some(re)) = (&expect.stdout, &self.regex) {
            let passed = self.matched_line || (!self.stdout_overflow && re.is_match(&self.stdout));
            out.push(CheckResult {
                name: "stdout".into(),
                passed,
                detail: if passed {
                    format!("stdout matches /{pattern}/")
                } else {
                    format!("stdout does not match /{pattern}/")
                },
            });
        }
        if expect.stderr_empty {
            out.push(CheckResult {
                name: "stderr_empty".into(),
                passed: self.stderr_bytes == 0,
                detail: match &self.stderr_first {
                    None => "stderr empty".into(),
                    Some(first) => format!("stderr has {} bytes: {first}", self.stderr_bytes),
                },
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_line_regex_matches_collected_stdout() {
        let e = Expect {
            stdout: Some("(?m)^a\nb$".into()),
            ..Expect::default()
        };
        let mut w = OutputWatch::new(&e);
        w.stdout("a");
        w.stdout("b");
        let c = w.checks(&e, Some(0), None);
        assert!(c.iter().all(|c| c.passed), "{c:?}");
    }

    #[test]
    fn stderr_and_exit_failures_are_reported() {
        let e = Expect {
            exit: Some(0),
            stderr_empty: true,
            ..Expect::default()
        };
        let mut w = OutputWatch::new(&e);
        w.stderr("oops");
        let c = w.checks(&e, Some(1), None);
        assert_eq!(c.len(), 2);
        assert!(!c[0].passed && c[0].detail == "exit 1 (expected 0)");
        assert!(!c[1].passed && c[1].detail.contains("oops"));
    }

    #[test]
    fn lines_is_the_same_as_line_by_line() {
        let e = Expect {
            stdout: Some("^b$".into()),
            stderr_empty: true,
            ..Expect::default()
        };
        let (mut one, mut all) = (OutputWatch::new(&e), OutputWatch::new(&e));
        for l in ["a", "b", ""] {
            one.stdout(l);
        }
        for l in ["oops", "", "again"] {
            one.stderr(l);
        }
        all.lines(Stream::Stdout, "a\nb\n\n");
        all.lines(Stream::Stderr, "oops\n\n");
        all.lines(Stream::Stderr, "again\n");
        assert_eq!(format!("{one:?}"), format!("{all:?}"));
        assert_eq!(one.checks(&e, Some(0), None), all.checks(&e, Some(0), None));
        assert!(all.checks(&e, Some(0), None)[1].passed);
        assert!(!all.checks(&e, Some(0), None)[2].passed);
    }
}
