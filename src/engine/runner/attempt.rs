//! Executing one attempt of each kind of step: shell, confirm, wait.

use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use tokio::time::Instant;

use super::hold::{Held, Hold, Verdict};
use super::mailbox::cmd_name;
use super::progress_poll::ProgressPoll;
use super::shell_step::ShellRun;
use super::{Attempt, AttemptResult, EngineError, Runner, Stop, classify};
use crate::expect::OutputWatch;
use cutover_model::protocol::{CheckResult, Command, Event, Level, OperatorAction, StepOutcome};
use cutover_model::runbook::shell::process_env;
use cutover_model::runbook::units::format_duration;
use cutover_model::runbook::{Action, Expect, Template, WaitCond};
use cutover_shell::ShellSpec;

impl Runner<'_> {
    /// One attempt: Ok(passed) or Err(stop) when stopped by the operator.
    pub(super) async fn attempt(
        &mut self,
        index: usize,
        attempt: u32,
    ) -> Result<Result<bool, Stop>, EngineError> {
        let step = &self.rb.steps[index];
        let started = Instant::now();
        self.io
            .emit(Event::StepStarted {
                index,
                id: step.id.clone(),
                attempt,
                at: Utc::now(),
                command: self.masker.mask(&step.action.display()).into_owned(),
            })
            .await?;
        // Polled while the attempt runs, stopped when it ends (dropped).
        let _progress = ProgressPoll::start(
            step,
            index,
            self.conns,
            self.secrets,
            self.masker,
            self.io.sender(),
        );
        let (att, stop) = match self.run_action(index, attempt).await? {
            Ok(a) => (a, None),
            Err((a, stop)) => (a, Some(stop)),
        };
        let passed = att.outcome.is_ok();
        self.io
            .emit(Event::StepFinished {
                index,
                id: step.id.clone(),
                attempt,
                outcome: att.outcome,
                duration_ms: started.elapsed().as_millis() as u64,
                expected_ms: step.expected.map(|d| d.as_millis() as u64),
                exit_code: att.exit_code,
                checks: att.checks,
                message: att.message,
                output_file: att.output_file,
            })
            .await?;
        if !passed {
            self.on_step_failed(index).await?;
        }
        Ok(match stop {
            Some(s) => Err(s),
            None => Ok(passed),
        })
    }

    /// Runs the action of step `index` once (its attempt `attempt`).
    async fn run_action(&mut self, index: usize, attempt: u32) -> AttemptResult {
        let step = &self.rb.steps[index];
        match &step.action {
            Action::Run(t) => self.shell_step(index, attempt, t).await,
            Action::Confirm(word) => self.confirm_step(index, word).await,
            Action::Approve(roles) => self.approve_step(index, roles).await,
            Action::SyncSequences {
                from,
                to,
                schemas,
                margin,
            } => {
                self.sync_sequences_step(index, (from, to), schemas, *margin)
                    .await
            }
            Action::Repair {
                check,
                max_rows,
                fire_triggers,
            } => {
                self.repair_step(index, check, *max_rows, *fire_triggers)
                    .await
            }
            Action::Sql { sql, on } => {
                let expect = step.expect.clone();
                let file = self.output_path(index, &attempt.to_string());
                self.sql_attempt(index, sql, on, &expect, &file).await
            }
            Action::Wait(w) => match &w.cond {
                WaitCond::Run(t) => self.wait_run_step(index, attempt, t, w.every, w.hold).await,
                WaitCond::LagBelow(limit) => self.wait_lag_step(index, *limit, w.hold).await,
                WaitCond::Sql { sql, on } => {
                    self.wait_sql_step(index, sql, on, w.every, w.hold).await
                }
                WaitCond::Reconcile(which) => self.wait_reconcile_step(index, which, w.every).await,
            },
        }
    }

    /// The environment of a step's processes.
    pub(super) fn env(&self, step_id: &str) -> Vec<(String, String)> {
        let mut env = vec![("CUTOVER_STEP_ID".to_string(), step_id.to_string())];
        env.extend(process_env(self.rb, self.secrets));
        env
    }

    /// Runs a shell command as step `index` (forward or rollback) and checks `expect`.
    pub(super) async fn shell_attempt(
        &mut self,
        index: usize,
        t: &Template,
        expect: &Expect,
        file: PathBuf,
    ) -> AttemptResult {
        let step = &self.rb.steps[index];
        let spec = ShellSpec {
            command: t.render(self.secrets),
            env: self.env(&step.id),
            timeout: step.timeout,
            keep_whole: self.masker.values().to_vec(),
            stdin: None,
            untracked: false,
        };
        let mut watch = OutputWatch::new(expect);
        let run = self.exec(index, &spec, &mut watch, &file).await?;
        let output_file = Some(file.display().to_string());
        Ok(match run {
            ShellRun::Failed(e) => Ok(Attempt {
                output_file,
                ..Attempt::failed(format!("could not start sh: {e}"))
            }),
            ShellRun::Exited(exit, stop) => {
                let checks = watch.checks(expect, exit.code, exit.signal);
                let (outcome, message) = classify(&exit, &checks, step.timeout);
                let a = Attempt {
                    outcome,
                    exit_code: exit.code,
                    checks,
                    message,
                    output_file,
                };
                match stop {
                    Some(s) => Err((a, s)),
                    None => Ok(a),
                }
            }
        })
    }

    async fn shell_step(&mut self, index: usize, attempt: u32, t: &Template) -> AttemptResult {
        let file = self.output_path(index, &attempt.to_string());
        let expect = self.rb.steps[index].expect.clone();
        self.shell_attempt(index, t, &expect, file).await
    }

    /// Waits until the operator types `word` (Ok), or stops the wait (Err).
    pub(super) async fn typed_word(
        &mut self,
        index: usize,
        word: &str,
    ) -> Result<Result<(), Stop>, EngineError> {
        let id = self.rb.steps[index].id.clone();
        self.io
            .emit(Event::ConfirmRequested {
                index,
                word: word.to_string(),
            })
            .await?;
        loop {
            match self.command().await? {
                Command::Confirm { text } if text.trim() == word => {
                    self.operator_action(Some(&id), OperatorAction::Confirm)
                        .await?;
                    return Ok(Ok(()));
                }
                Command::Confirm { .. } => {
                    self.io.emit(Event::ConfirmRejected { index }).await?;
                }
                Command::Cancel => {
                    self.operator_action(Some(&id), OperatorAction::Cancel)
                        .await?;
                    return Ok(Err(Stop::Cancel));
                }
                Command::Abort { reason } => return Ok(Err(Stop::Abort(reason))),
                Command::Rollback { .. } => return Ok(Err(Stop::Rollback)),
                other => {
                    self.notice(
                        Level::Warn,
                        format!(
                            "{} does nothing now: step {id} waits for the word {word}",
                            cmd_name(&other)
                        ),
                    )
                    .await?;
                }
            }
        }
    }

    /// A point-of-no-return step runs only after its id is typed; `None` means go ahead.
    pub(super) async fn confirm_ponr(&mut self, index: usize) -> Result<Option<Stop>, EngineError> {
        let id = self.rb.steps[index].id.clone();
        Ok(self.typed_word(index, &id).await?.err())
    }

    async fn confirm_step(&mut self, index: usize, word: &str) -> AttemptResult {
        let attempt = |outcome, detail: String, passed| Attempt {
            outcome,
            exit_code: None,
            checks: vec![CheckResult {
                name: "confirm".into(),
                passed,
                detail,
            }],
            message: None,
            output_file: None,
        };
        Ok(match self.typed_word(index, word).await? {
            Ok(()) => Ok(attempt(StepOutcome::Passed, format!("typed {word}"), true)),
            Err(stop) => Err((
                attempt(StepOutcome::Cancelled, "not confirmed".into(), false),
                stop,
            )),
        })
    }

    /// Runs a `wait = { run = ... }` command once, within what is left before `deadline`.
    async fn poll_command(
        &mut self,
        index: usize,
        t: &Template,
        deadline: Option<Instant>,
        file: &std::path::Path,
    ) -> Result<ShellRun, EngineError> {
        let step = &self.rb.steps[index];
        let spec = ShellSpec {
            command: t.render(self.secrets),
            env: self.env(&step.id),
            timeout: deadline.map(|d| d.saturating_duration_since(Instant::now())),
            keep_whole: self.masker.values().to_vec(),
            stdin: None,
            untracked: false,
        };
        let mut watch = OutputWatch::new(&step.expect);
        self.exec(index, &spec, &mut watch, file).await
    }

    async fn wait_run_step(
        &mut self,
        index: usize,
        attempt: u32,
        t: &Template,
        every: Duration,
        hold: Duration,
    ) -> AttemptResult {
        let deadline = self.rb.steps[index].timeout.map(|d| Instant::now() + d);
        let file = self.output_path(index, &attempt.to_string());
        let output_file = Some(file.display().to_string());
        let (mut polls, mut hold, mut last_code) = (0u32, Hold::new(hold), None);
        let result = |outcome, code, detail: String| Attempt {
            exit_code: code,
            output_file: output_file.clone(),
            ..Attempt::waited(outcome, detail)
        };
        let stopped = |polls: u32, code, stop| {
            let detail = format!("stopped after {polls} polls");
            Ok(Err((result(StepOutcome::Cancelled, code, detail), stop)))
        };
        loop {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                let last = last_code.map_or("none".into(), |c: i32| c.to_string());
                let msg = format!("timed out after {polls} polls (last exit {last})");
                return Ok(Ok(result(StepOutcome::TimedOut, last_code, msg)));
            }
            let run = self.poll_command(index, t, deadline, &file).await?;
            polls += 1;
            let code = match run {
                ShellRun::Failed(e) => {
                    let msg = format!("could not start sh: {e}");
                    return Ok(Ok(result(StepOutcome::Failed, None, msg)));
                }
                ShellRun::Exited(exit, Some(stop)) => return stopped(polls, exit.code, stop),
                ShellRun::Exited(exit, None) => exit.code,
            };
            last_code = code;
            let now = Instant::now();
            let message = match run_verdict(&mut hold, code, polls, every, now) {
                Verdict::Passed(detail) => {
                    return Ok(Ok(result(StepOutcome::Passed, code, detail)));
                }
                Verdict::Waiting(message) => message,
            };
            // Sleep until the next poll, answering commands meanwhile.
            let wake = deadline.map_or(now + every, |d| d.min(now + every));
            if let Some(stop) = self
                .wait_round(index, polls, hold.holding(), message, Some(wake))
                .await?
            {
                return stopped(polls, code, stop);
            }
        }
    }
}

/// Poll `polls` of `wait = { run = ... }`, ended at `now` with exit `code`: only exit 0
/// holds; any other exit (or none: killed by a signal) breaks the hold.
fn run_verdict(
    hold: &mut Hold,
    code: Option<i32>,
    polls: u32,
    every: Duration,
    now: Instant,
) -> Verdict {
    let message = match hold.observe(Some(code == Some(0)), now) {
        Held::Met => return Verdict::Passed(format!("condition met after {polls} polls")),
        Held::Holding(held) => format!(
            "poll {polls}: exit 0, holding {} of {}",
            format_duration(held),
            format_duration(hold.need())
        ),
        Held::Broken => format!(
            "poll {polls}: exit {}; next poll in {}",
            code.map_or("none".into(), |c| c.to_string()),
            format_duration(every)
        ),
    };
    Verdict::Waiting(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::hold::tests::at;

    #[test]
    fn a_command_wait_counts_exit_0_only_and_any_other_exit_resets_it() {
        let t0 = Instant::now();
        let every = Duration::from_secs(2);
        let mut hold = Hold::new(Duration::from_secs(4));
        let mut poll = |code, polls, now| run_verdict(&mut hold, code, polls, every, now);
        // (the command's exit code, the poll's number, when in ms, what the wait says then)
        for (code, polls, ms, want) in [
            (Some(0), 1, 0, "poll 1: exit 0, holding 0s of 4s"),
            (Some(0), 2, 2_000, "poll 2: exit 0, holding 2s of 4s"),
            (Some(1), 3, 4_000, "poll 3: exit 1; next poll in 2s"),
            (Some(0), 4, 6_000, "poll 4: exit 0, holding 0s of 4s"),
            (None, 5, 8_000, "poll 5: exit none; next poll in 2s"),
            (Some(0), 6, 10_000, "poll 6: exit 0, holding 0s of 4s"),
        ] {
            let why = match code {
                None => "killed by a signal: no exit code, a break",
                Some(_) => "",
            };
            assert_eq!(
                poll(code, polls, at(t0, ms)),
                Verdict::Waiting(want.to_string()),
                "poll {polls}: {why}"
            );
        }
        assert_eq!(
            poll(Some(0), 7, at(t0, 14_000)),
            Verdict::Passed("condition met after 7 polls".into())
        );
    }
}
