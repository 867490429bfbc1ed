//! `method = "command"`: a shell command whose last non-empty line of stdout is the lag.
//!
//! It runs like a shell step (`sh -c`, own process group, stdin null; see
//! [`cutover_shell`]) with the interval as its timeout. A non-zero exit, a
//! timeout or output that is not a number is an error (the sample goes stale).

use tokio::sync::{mpsc, watch};

use crate::number::parse_number;
use crate::poller::Budget;
use cutover_model::lag::{LagUnit, Reading};
use cutover_model::protocol::Stream;
use cutover_shell::{self as shell, ShellSpec};

/// The command probe.
#[derive(Debug)]
pub struct CommandProbe {
    command: String,
    env: Vec<(String, String)>,
    unit: LagUnit,
}

impl CommandProbe {
    /// Runs `command` (secrets filled in) with extra `env`; the value is read in `unit`.
    pub fn new(command: String, env: Vec<(String, String)>, unit: LagUnit) -> Self {
        CommandProbe { command, env, unit }
    }

    /// One reading.
    pub async fn read(&mut self, b: Budget) -> Result<Reading, String> {
        let spec = ShellSpec {
            command: self.command.clone(),
            env: self.env.clone(),
            timeout: Some(b.query),
            keep_whole: vec![],
            stdin: None,
            untracked: true,
        };
        let (tx, mut rx) = mpsc::channel::<(Stream, String)>(64);
        let (_cancel_tx, cancel_rx) = watch::channel(false);
        let collect = async {
            let mut last_out = None;
            let mut last_err = None;
            while let Some((stream, line)) = rx.recv().await {
                if line.trim().is_empty() {
                    continue;
                }
                match stream {
                    Stream::Stdout => last_out = Some(line),
                    _ => last_err = Some(line),
                }
            }
            (last_out, last_err)
        };
        let (exit, (out, err)) = tokio::join!(shell::run(&spec, tx, None, cancel_rx), collect);
        let exit = exit.map_err(|e| format!("cannot run the lag command: {e}"))?;
        let tail = err.map(|e| format!(": {e}")).unwrap_or_default();
        if exit.timed_out {
            return Err(format!(
                "the lag command did not finish within {:.1}s",
                b.query.as_secs_f64()
            ));
        }
        match exit.code {
            Some(0) => {}
            Some(c) => return Err(format!("the lag command exited with {c}{tail}")),
            None => {
                return Err(format!(
                    "the lag command was killed by signal {}{tail}",
                    exit.signal.unwrap_or(0)
                ));
            }
        }
        let out = out.ok_or("the lag command printed nothing")?;
        let n = parse_number(&out).map_err(|e| format!("the lag command printed {e}"))?;
        Ok(Reading::of(self.unit, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn budget() -> Budget {
        Budget::for_interval(Duration::from_secs(2))
    }

    #[tokio::test]
    async fn last_stdout_line_is_the_value() {
        let mut p = CommandProbe::new(
            "echo noise >&2; echo 1; printf '%s\\n' \"$LAG\" ''".into(),
            vec![("LAG".into(), "12.5".into())],
            LagUnit::Seconds,
        );
        let r = p.read(budget()).await.unwrap();
        assert_eq!(r.seconds, Some(12.5));
    }

    #[tokio::test]
    async fn failures_say_what_went_wrong() {
        let cases = [
            ("echo oops >&2; exit 3", "exited with 3: oops"),
            ("echo twelve", "printed \"twelve\", which is not a number"),
            ("true", "printed nothing"),
            ("sleep 10", "did not finish within 1.5s"),
        ];
        for (cmd, want) in cases {
            let mut p = CommandProbe::new(cmd.into(), Vec::new(), LagUnit::Number);
            let e = p.read(budget()).await.unwrap_err();
            assert!(e.contains(want), "{cmd}: {e}");
        }
    }
}
