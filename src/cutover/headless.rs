//! `--headless`: drives the engine with no operator, one line (or JSON object) per event.

use std::fmt::Write as _;
use std::io::Write;

use tokio::sync::mpsc;

use cutover_engine::{Engine, EngineError};
use cutover_model::protocol::*;
use cutover_model::runbook::units::format_duration;

/// How the headless driver answers the engine.
#[derive(Debug, Clone, Copy, Default)]
pub struct HeadlessOptions {
    /// One JSON object per event instead of human lines.
    pub json: bool,
    /// Answer confirm steps with their word (rehearsals only).
    pub assume_yes: bool,
    /// Re-run a step that a crashed session left interrupted.
    pub rerun_interrupted: bool,
}

/// Runs the engine to the end, printing every event to `out`.
pub async fn drive(
    engine: Engine,
    opts: HeadlessOptions,
    out: &mut (dyn Write + Send),
) -> Result<RunOutcome, EngineError> {
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let (ev_tx, mut ev_rx) = mpsc::channel(256);
    let engine_task = tokio::spawn(engine.run(cmd_rx, ev_tx));
    let mut printer = Printer::default();
    // A trigger's automatic rollback is on its way: a failed step must not abort the run first.
    let mut rollback_pending = false;
    while let Some(ev) = ev_rx.recv().await {
        if opts.json {
            if let Ok(line) = serde_json::to_string(&ev) {
                let _ = writeln!(out, "{line}");
            }
        } else {
            printer.print(&ev, out);
        }
        let reply = match &ev {
            Event::Ready { .. } => Some(Command::RunNext),
            Event::ConfirmRequested { index, word } => {
                if let Some(text) = printer.ponr(*index, word) {
                    say(&opts, out, &format!("point of no return: {text}"));
                }
                if opts.assume_yes {
                    say(
                        &opts,
                        out,
                        &format!("answering confirmation {word} (--assume-yes)"),
                    );
                    Some(Command::Confirm { text: word.clone() })
                } else {
                    let id = printer.id(*index);
                    say(
                        &opts,
                        out,
                        &format!(
                            "step {id} needs the operator to type {word}; a headless run answers confirmations only with --assume-yes"
                        ),
                    );
                    Some(Command::Abort {
                        reason: Some(format!("headless: confirmation {word} not given")),
                    })
                }
            }
            Event::TriggerFired {
                countdown_ms: Some(_),
                ..
            } => {
                rollback_pending = true;
                None
            }
            Event::TriggerFired {
                name,
                action: TriggerAction::Alert,
                ..
            } => {
                say(
                    &opts,
                    out,
                    &format!(
                        "trigger {name} fired and a headless run has no operator to review it: stopping"
                    ),
                );
                Some(Command::Abort {
                    reason: Some(format!("headless: trigger {name} fired")),
                })
            }
            Event::DecisionNeeded { kind, message, .. } => match kind {
                DecisionKind::Interrupted if opts.rerun_interrupted => {
                    say(
                        &opts,
                        out,
                        "re-running the interrupted step (--rerun-interrupted)",
                    );
                    Some(Command::Retry)
                }
                DecisionKind::Interrupted => {
                    say(
                        &opts,
                        out,
                        &format!(
                            "{message} A headless run stops here; pass --rerun-interrupted to re-run it, or resume in the cockpit to decide."
                        ),
                    );
                    Some(Command::Abort {
                        reason: Some("headless: interrupted step needs an operator".into()),
                    })
                }
                DecisionKind::Failed if rollback_pending => {
                    say(&opts, out, "waiting for the trigger's automatic rollback");
                    None
                }
                DecisionKind::Failed => Some(Command::Abort {
                    reason: Some("headless: a step failed and there is no operator".into()),
                }),
                DecisionKind::RollbackFailed => Some(Command::Abort {
                    reason: Some(
                        "headless: a rollback action failed and there is no operator".into(),
                    ),
                }),
            },
            _ => None,
        };
        if let Some(cmd) = reply {
            let _ = cmd_tx.send(cmd).await;
        }
        let _ = out.flush();
    }
    match engine_task.await {
        Ok(r) => r,
        Err(e) => Err(EngineError::Journal(
            cutover_engine::journal::JournalError::Io {
                path: "engine task".into(),
                source: std::io::Error::other(e.to_string()),
            },
        )),
    }
}

fn say(opts: &HeadlessOptions, out: &mut (dyn Write + Send), msg: &str) {
    if opts.json {
        let ev = Event::Notice {
            level: Level::Info,
            message: msg.to_string(),
        };
        if let Ok(line) = serde_json::to_string(&ev) {
            let _ = writeln!(out, "{line}");
        }
    } else {
        let _ = writeln!(out, "{}   {msg}", clock());
    }
}

fn clock() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

fn ms(v: u64) -> String {
    format_duration(std::time::Duration::from_millis(v))
}

/// Turns events into human lines.
#[derive(Default)]
struct Printer {
    steps: Vec<StepInfo>,
    passed: usize,
}

impl Printer {
    fn id(&self, i: usize) -> String {
        self.steps
            .get(i)
            .map_or_else(|| format!("#{}", i + 1), |s| s.id.clone())
    }

    /// The point-of-no-return text when `word` is the confirmation for crossing it.
    fn ponr(&self, i: usize, word: &str) -> Option<String> {
        let s = self.steps.get(i)?;
        (s.id == word)
            .then(|| s.point_of_no_return.clone())
            .flatten()
    }

    fn pos(&self, i: usize) -> String {
        format!("{}/{}", i + 1, self.steps.len())
    }

    fn print(&mut self, ev: &Event, out: &mut (dyn Write + Send)) {
        let t = clock();
        let line = match ev {
            Event::RunStarted { run } => {
                self.steps = run.steps.clone();
                format!(
                    "cutover {} · {} ({}, sha256 {:.12}) · journal {} · operator {}@{}",
                    run.version,
                    run.name,
                    run.runbook,
                    run.sha256,
                    run.journal,
                    run.operator.user,
                    run.operator.host
                )
            }
            Event::Resumed {
                done,
                interrupted,
                failed_before,
            } => {
                let mut s = format!("{t} ↻ resumed: {} step(s) already done", done.len());
                if !failed_before.is_empty() {
                    s.push_str(&format!(", failed last time: {}", failed_before.join(", ")));
                }
                if let Some(i) = interrupted {
                    s.push_str(&format!(", interrupted — outcome unknown: {i}"));
                }
                s
            }
            Event::StepStarted {
                index,
                attempt,
                command,
                ..
            } => {
                let s = &self.steps[*index];
                let exp = s
                    .expected_ms
                    .map_or(String::new(), |e| format!("  (expected {})", ms(e)));
                let again = if *attempt > 1 {
                    format!(" [attempt {attempt}]")
                } else {
                    String::new()
                };
                format!(
                    "{t} ▶ {} {}: {}{again}{exp}\n{t}   $ {command}",
                    self.pos(*index),
                    s.id,
                    s.title
                )
            }
            Event::Output { stream, text, .. } => {
                let mark = if *stream == Stream::Stderr {
                    '!'
                } else {
                    '│'
                };
                let mut block = String::with_capacity(text.len() * 2);
                for l in text.split_terminator('\n') {
                    let _ = writeln!(block, "{t}   {mark} {l}");
                }
                let _ = out.write_all(block.as_bytes());
                return;
            }
            Event::WaitProgress { index, message, .. } => {
                format!("{t} … {} {}: {message}", self.pos(*index), self.id(*index))
            }
            Event::ConfirmRejected { index } => {
                format!(
                    "{t} ✘ {} {}: that is not the confirmation word",
                    self.pos(*index),
                    self.id(*index)
                )
            }
            Event::StepFinished {
                index,
                outcome,
                duration_ms,
                expected_ms,
                checks,
                message,
                output_file,
                ..
            } => {
                let id = self.id(*index);
                let took = match expected_ms {
                    Some(e) => format!("{} / {}", ms(*duration_ms), ms(*e)),
                    None => ms(*duration_ms),
                };
                if outcome.is_ok() {
                    self.passed += 1;
                    format!("{t} ✔ {} {id} passed in {took}", self.pos(*index))
                } else {
                    let mut s = format!(
                        "{t} ✘ {} {id} {} after {took}: {}",
                        self.pos(*index),
                        match outcome {
                            StepOutcome::TimedOut => "timed out",
                            StepOutcome::Cancelled => "was cancelled",
                            _ => "failed",
                        },
                        message.as_deref().unwrap_or("")
                    );
                    for c in checks.iter().filter(|c| !c.passed) {
                        s.push_str(&format!("\n{t}   ✘ {}: {}", c.name, c.detail));
                    }
                    if let Some(f) = output_file {
                        s.push_str(&format!("\n{t}   full output: {f}"));
                    }
                    s
                }
            }
            Event::Operator {
                step, action, by, ..
            } => {
                let what = match action {
                    OperatorAction::Run | OperatorAction::Confirm | OperatorAction::Retry => return,
                    OperatorAction::Skip { reason } => format!("skipped: {reason}"),
                    OperatorAction::MarkDone { reason } => format!("marked done: {reason}"),
                    OperatorAction::Cancel => "cancelled".to_string(),
                    OperatorAction::Abort { reason } => {
                        format!(
                            "aborted{}",
                            reason.as_ref().map_or(String::new(), |r| format!(": {r}"))
                        )
                    }
                    OperatorAction::Rollback => "confirmed the ROLLBACK".to_string(),
                    OperatorAction::SkipRollback { reason } => {
                        format!("rollback action skipped: {reason}")
                    }
                    OperatorAction::CancelCountdown { trigger } => {
                        format!("cancelled the rollback countdown of {trigger}")
                    }
                    OperatorAction::AcceptChangedRunbook {
                        old_sha256,
                        new_sha256,
                    } => {
                        format!(
                            "accepted the changed runbook ({old_sha256:.12} → {new_sha256:.12})"
                        )
                    }
                };
                format!(
                    "{t} ● {}{what} (by {by})",
                    step.as_ref().map_or(String::new(), |s| format!("{s} "))
                )
            }
            Event::Notice { level, message } => {
                let mark = if *level == Level::Warn { "⚠" } else { "i" };
                format!("{t} {mark} {message}")
            }
            Event::RunFinished { outcome, .. } => {
                let what = match outcome {
                    RunOutcome::Completed => "completed",
                    RunOutcome::RolledBack => "rolled back",
                    RunOutcome::Aborted => "aborted",
                };
                format!(
                    "{t} ■ run {what} · {} step(s) passed this session · exit {}",
                    self.passed,
                    outcome.exit_code()
                )
            }
            Event::RollbackStarted { plan, by } => {
                let mut s = format!(
                    "{t} ↺ ROLLBACK started by {by}: {} step(s) in the plan",
                    plan.entries.len()
                );
                if let Some(p) = &plan.point_of_no_return {
                    s.push_str(&format!(
                        " (point of no return crossed at {}: steps up to it are not rolled back)",
                        p.id
                    ));
                }
                for e in &plan.entries {
                    let what = e.action.as_deref().unwrap_or("— no rollback action");
                    s.push_str(&format!("\n{t}   ↺ {} ({}): {what}", e.id, e.state));
                }
                s
            }
            Event::RollbackActionStarted {
                index,
                attempt,
                command,
                ..
            } => {
                let again = if *attempt > 1 {
                    format!(" [attempt {attempt}]")
                } else {
                    String::new()
                };
                format!(
                    "{t} ↺ rolling back {}{again}\n{t}   $ {command}",
                    self.id(*index)
                )
            }
            Event::RollbackActionFinished {
                index,
                outcome,
                duration_ms,
                message,
                ..
            } => {
                if outcome.is_ok() {
                    format!(
                        "{t} ✔ rolled back {} in {}",
                        self.id(*index),
                        ms(*duration_ms)
                    )
                } else {
                    format!(
                        "{t} ✘ rollback of {} did not pass after {}: {}",
                        self.id(*index),
                        ms(*duration_ms),
                        message.as_deref().unwrap_or("")
                    )
                }
            }
            Event::RollbackFinished { completed, .. } => {
                if *completed {
                    format!("{t} ↺ rollback completed")
                } else {
                    format!("{t} ✘ rollback NOT completed")
                }
            }
            Event::TriggerFired {
                name,
                message,
                countdown_ms,
                ..
            } => {
                let then = match countdown_ms {
                    Some(ms_left) => format!("automatic rollback in {}", ms(*ms_left)),
                    None => "review the rollback plan".to_string(),
                };
                format!("{t} ⚠ TRIGGER {name}: {message} — {then}")
            }
            Event::CountdownCancelled { name, by } => {
                format!("{t} ● rollback countdown of trigger {name} cancelled by {by}")
            }
            Event::LagSample { sample, keep } => {
                if !*keep {
                    return;
                }
                format!("{t} ≈ lag {}", sample.summary())
            }
            Event::ReconcileProgress { .. } => return,
            Event::ReconcileResult { result, restored } => {
                let mut s = format!(
                    "{t} ≡ reconcile {}{}",
                    cutover_model::reconcile::summary(result),
                    if *restored { " (from the journal)" } else { "" }
                );
                for m in result.mismatches.iter().take(10) {
                    s.push_str(&format!(
                        "\n{t}   {}",
                        cutover_model::reconcile::describe(m, &result.key_columns)
                    ));
                }
                if result.mismatches.len() > 10 {
                    s.push_str(&format!("\n{t}   … {} more", result.mismatches.len() - 10));
                }
                s
            }
            Event::StepRestored { index, state, .. } => {
                format!(
                    "{t}   {} {}: {}",
                    self.pos(*index),
                    self.id(*index),
                    state.as_str().replace('_', " ")
                )
            }
            Event::RunbookText { .. }
            | Event::RollbackPlan { .. }
            | Event::Ready { .. }
            | Event::Process { .. }
            | Event::ConfirmRequested { .. }
            | Event::DecisionNeeded { .. } => return,
        };
        let _ = writeln!(out, "{line}");
    }
}
