//! `--headless`: drives the engine with no operator, one line (or JSON object) per event.

use std::io::Write;

use cutover_model::text::plain;

use tokio::sync::mpsc;

use cutover_engine::{Engine, EngineError};
use cutover_model::protocol::*;
use cutover_model::{narrate, reconcile};

/// How the headless driver answers the engine.
#[derive(Debug, Clone, Default)]
pub struct HeadlessOptions {
    /// One JSON object per event instead of human lines.
    pub json: bool,
    /// Answer confirm steps with their word (rehearsals only).
    pub assume_yes: bool,
    /// Re-run a step (or rollback action) that a crashed session left interrupted.
    pub rerun_interrupted: bool,
    /// With `rerun_interrupted`: first stop the interrupted attempt's process group when it is
    /// still running.
    pub kill_interrupted: bool,
    /// Sign-offs given on the command line (`--approve ROLE=NAME`): `--assume-yes` never
    /// approves.
    pub approvals: Vec<(String, String)>,
    /// Start even though preflight fails, for this reason (`--skip-preflight "reason"`,
    /// journaled); `None`: a failing preflight ends the run before step 1 (exit 2).
    pub skip_preflight: Option<String>,
}

/// What a headless run answers when preflight stops the run: `--skip-preflight`'s reason, or
/// the end of the run before step 1.
fn preflight_answer(opts: &HeadlessOptions, out: &mut (dyn Write + Send)) -> Command {
    match &opts.skip_preflight {
        Some(reason) => {
            say(
                opts,
                out,
                "preflight failed: starting anyway (--skip-preflight, journaled)",
            );
            Command::OverridePreflight {
                reason: reason.clone(),
            }
        }
        None => {
            say(
                opts,
                out,
                "preflight failed: no step ran (fix what it found, or start anyway with --skip-preflight \"reason\")",
            );
            Command::Abort {
                reason: Some("headless: preflight failed".into()),
            }
        }
    }
}

/// What a headless run (no operator) answers at a decision point.
fn decide(
    opts: &HeadlessOptions,
    out: &mut (dyn Write + Send),
    kind: DecisionKind,
    message: &str,
    still_running: Option<u32>,
    rollback_pending: bool,
) -> Option<Command> {
    let abort = |why: &str| {
        Some(Command::Abort {
            reason: Some(format!("headless: {why}")),
        })
    };
    match kind {
        DecisionKind::Interrupted | DecisionKind::RollbackInterrupted if opts.rerun_interrupted => {
            match still_running {
                Some(pid) if opts.kill_interrupted => {
                    say(
                        opts,
                        out,
                        &format!(
                            "stopping process group {pid}, left running by the earlier session (--kill-interrupted)"
                        ),
                    );
                    Some(Command::StopInterrupted)
                }
                Some(pid) => {
                    say(
                        opts,
                        out,
                        &format!(
                            "{message} Its process group {pid} is still running: re-running it now would do its work twice. Wait for it to end, or pass --kill-interrupted to stop it first."
                        ),
                    );
                    abort("the interrupted attempt is still running")
                }
                None => {
                    let what = if kind == DecisionKind::Interrupted {
                        "step"
                    } else {
                        "rollback action"
                    };
                    say(
                        opts,
                        out,
                        &format!("re-running the interrupted {what} (--rerun-interrupted)"),
                    );
                    Some(Command::Retry)
                }
            }
        }
        DecisionKind::Interrupted | DecisionKind::RollbackInterrupted => {
            say(
                opts,
                out,
                &format!(
                    "{message} A headless run stops here; pass --rerun-interrupted to re-run it, or resume in the cockpit to decide."
                ),
            );
            abort("interrupted step needs an operator")
        }
        DecisionKind::Failed if rollback_pending => {
            say(opts, out, "waiting for the trigger's automatic rollback");
            None
        }
        DecisionKind::Failed => abort("a step failed and there is no operator"),
        DecisionKind::RollbackFailed => abort("a rollback action failed and there is no operator"),
    }
}

/// How a headless run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// The run's outcome.
    pub outcome: RunOutcome,
    /// The signal that ended it early, if one did.
    pub signal: Option<&'static str>,
}

/// The signals that end a headless run (the step is cancelled and journaled first), sent by
/// name on the returned channel.
pub fn stop_signals() -> std::io::Result<mpsc::Receiver<&'static str>> {
    use cutover_shell::signals::{HUP, INT, QUIT, TERM, forward};
    forward(&[INT, TERM, HUP, QUIT])
}

/// Runs the engine to the end, printing every event to `out`. A name arriving on `stop` (a
/// signal) ends the run as an abort: the running step's process group is killed and the
/// journal records it before this returns.
pub async fn drive(
    engine: Engine,
    opts: HeadlessOptions,
    out: &mut (dyn Write + Send),
    mut stop: mpsc::Receiver<&'static str>,
) -> Result<Ended, EngineError> {
    let failure = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    let mut checked = Checked {
        out,
        failed: failure.clone(),
    };
    let out: &mut (dyn Write + Send) = &mut checked;
    let (cmd_tx, cmd_rx) = mpsc::channel(16);
    let (ev_tx, mut ev_rx) = mpsc::channel(256);
    let engine_task = tokio::spawn(engine.run(cmd_rx, ev_tx));
    let mut printer = Printer::default();
    let mut replies = Replies::default();
    let mut signal: Option<&'static str> = None;
    let mut listening = true;
    loop {
        let ev = tokio::select! {
            ev = ev_rx.recv() => match ev {
                Some(ev) => ev,
                None => break,
            },
            name = stop.recv(), if listening => {
                match name {
                    Some(name) if signal.is_none() => {
                        signal = Some(name);
                        say(
                            &opts,
                            out,
                            &format!("{name}: ending the run (a running step is cancelled and journaled)"),
                        );
                        let _ = cmd_tx
                            .send(Command::Abort {
                                reason: Some(format!("cutover received {name}")),
                            })
                            .await;
                    }
                    Some(_) => {}
                    None => listening = false,
                }
                continue;
            }
        };
        show(&opts, &mut printer, &ev, out);
        let reply = if signal.is_some() {
            // Once a signal ended the run, nothing more is asked of the engine.
            None
        } else {
            replies.reply(&ev, &opts, &printer, out)
        };
        if let Some(cmd) = reply {
            let _ = cmd_tx.send(cmd).await;
        }
        let _ = out.flush();
        // A run nobody can follow (stdout full, closed, gone) does not go on blind: it ends
        // as an abort, said on stderr and journaled.
        let failed = failure.lock().ok().and_then(|f| f.clone());
        if let Some(e) = failed
            && signal.is_none()
        {
            signal = Some("a write error on stdout");
            stop_on_stdout_error(&e, &cmd_tx).await;
        }
    }
    match engine_task.await {
        Ok(r) => r.map(|outcome| Ended { outcome, signal }),
        Err(e) => Err(EngineError::Journal(
            cutover_engine::journal::JournalError::Io {
                path: "engine task".into(),
                source: std::io::Error::other(e.to_string()),
            },
        )),
    }
}

/// Prints one event: as a JSON line with `--json`, else in words.
fn show(opts: &HeadlessOptions, printer: &mut Printer, ev: &Event, out: &mut (dyn Write + Send)) {
    if opts.json {
        json_line(out, ev);
    } else {
        printer.print(ev, out);
    }
}

/// Writes `v` as one JSON line, in one write: stdout's line buffer then finds the line's end
/// at once (a line written in pieces is searched whole for a newline it does not hold, which
/// cost 2% of a flood printed with `--json`).
fn json_line<T: serde::Serialize>(out: &mut (dyn Write + Send), v: &T) {
    if let Ok(mut line) = serde_json::to_vec(v) {
        line.push(b'\n');
        let _ = out.write_all(&line);
    }
}

/// Stdout cannot be written (full, closed, gone): said on stderr, and the run aborted.
async fn stop_on_stdout_error(e: &str, cmd_tx: &mpsc::Sender<Command>) {
    crate::say::err(&format!(
        "cutover: cannot write to stdout ({e}): ending the run (a running step is cancelled and journaled)"
    ));
    let _ = cmd_tx
        .send(Command::Abort {
            reason: Some(format!("headless: cannot write to stdout: {e}")),
        })
        .await;
}

/// What a headless run remembers to answer the engine.
#[derive(Default)]
struct Replies {
    /// A trigger's automatic rollback is on its way: a failed step must not abort the run
    /// first.
    rollback_pending: bool,
    /// The sign-offs sent (step, role): asked again for one, the engine refused it, and
    /// sending it again would only loop.
    signed: Vec<(usize, String)>,
}

impl Replies {
    /// The command that answers `ev`, if it asks for one.
    fn reply(
        &mut self,
        ev: &Event,
        opts: &HeadlessOptions,
        printer: &Printer,
        out: &mut (dyn Write + Send),
    ) -> Option<Command> {
        match ev {
            Event::Ready { .. } => Some(Command::RunNext),
            Event::Preflight { blocks: true, .. } => Some(preflight_answer(opts, out)),
            Event::ConfirmRequested { index, word } => {
                Some(confirm_reply(opts, printer, out, *index, word))
            }
            Event::ApprovalRequested {
                index,
                roles,
                approved,
            } => Some(self.approval_reply(opts, printer, out, *index, roles, approved)),
            Event::TriggerFired {
                countdown_ms: Some(_),
                ..
            } => {
                self.rollback_pending = true;
                None
            }
            Event::TriggerFired {
                name,
                action: TriggerAction::Alert,
                ..
            } => {
                say(
                    opts,
                    out,
                    &format!(
                        "trigger {name} fired and a headless run has no operator to review it: stopping"
                    ),
                );
                Some(Command::Abort {
                    reason: Some(format!("headless: trigger {name} fired")),
                })
            }
            Event::DecisionNeeded {
                kind,
                message,
                still_running,
                ..
            } => decide(
                opts,
                out,
                *kind,
                message,
                *still_running,
                self.rollback_pending,
            ),
            _ => None,
        }
    }

    /// Signs off a step's next open role with its `--approve` name; stops the run when none
    /// was given, or when the engine refused the one sent.
    fn approval_reply(
        &mut self,
        opts: &HeadlessOptions,
        printer: &Printer,
        out: &mut (dyn Write + Send),
        index: usize,
        roles: &[String],
        approved: &[(String, String)],
    ) -> Command {
        let open = roles
            .iter()
            .find(|r| !approved.iter().any(|(a, _)| a == *r));
        let given = open.and_then(|r| opts.approvals.iter().find(|(a, _)| a == r));
        let again = open.is_some_and(|r| self.signed.iter().any(|(i, s)| *i == index && s == r));
        match (open, given) {
            (Some(role), Some(_)) if again => {
                let id = printer.id(index);
                say(
                    opts,
                    out,
                    &format!("step {id}: the sign-off as {role} (--approve) was refused: stopping"),
                );
                Command::Abort {
                    reason: Some(format!("headless: sign-off as {role} refused")),
                }
            }
            (Some(role), Some((_, name))) => {
                self.signed.push((index, role.clone()));
                say(
                    opts,
                    out,
                    &format!("signing off as {role}: {name} (--approve)"),
                );
                Command::Approve {
                    role: role.clone(),
                    name: name.clone(),
                    by: None,
                }
            }
            (open, _) => {
                let role = open.map_or("", String::as_str);
                let id = printer.id(index);
                say(
                    opts,
                    out,
                    &format!(
                        "step {id} needs a sign-off by {role}; a headless run signs off only with --approve {role}=NAME (--assume-yes never does)"
                    ),
                );
                Command::Abort {
                    reason: Some(format!("headless: no sign-off by {role}")),
                }
            }
        }
    }
}

/// Types a confirmation's word with `--assume-yes` (saying a point of no return first);
/// without it, stops the run.
fn confirm_reply(
    opts: &HeadlessOptions,
    printer: &Printer,
    out: &mut (dyn Write + Send),
    index: usize,
    word: &str,
) -> Command {
    if let Some(text) = printer.ponr(index, word) {
        say(opts, out, &format!("point of no return: {text}"));
    }
    if opts.assume_yes {
        say(
            opts,
            out,
            &format!("answering confirmation {word} (--assume-yes)"),
        );
        Command::Confirm {
            text: word.to_string(),
        }
    } else {
        let id = printer.id(index);
        say(
            opts,
            out,
            &format!(
                "step {id} needs the operator to type {word}; a headless run answers confirmations only with --assume-yes"
            ),
        );
        Command::Abort {
            reason: Some(format!("headless: confirmation {word} not given")),
        }
    }
}

fn say(opts: &HeadlessOptions, out: &mut (dyn Write + Send), msg: &str) {
    if opts.json {
        let ev = Event::Notice {
            level: Level::Info,
            message: msg.to_string(),
        };
        json_line(out, &ev);
    } else {
        let _ = writeln!(out, "{}   {}", clock(), plain(msg));
    }
}

/// `HH:MM:SS`, local time.
pub(crate) fn clock() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

/// Turns events into human lines: the words come from [`narrate`], the clock, glyphs and step
/// positions from here.
#[derive(Default)]
struct Printer {
    steps: Vec<StepInfo>,
    passed: usize,
    /// Each reconcile check's differences as last printed: a gate's rounds print them again
    /// only when they changed.
    shown_differences: std::collections::BTreeMap<String, Vec<String>>,
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

    /// Writes what `ev` says, if anything: one line (or a few) per event.
    fn print(&mut self, ev: &Event, out: &mut (dyn Write + Send)) {
        let t = clock();
        let text = match ev {
            Event::Output { stream, text, .. } => {
                let _ = out.write_all(output_block(&t, *stream, &plain(text)).as_bytes());
                return;
            }
            Event::RunStarted { .. }
            | Event::Resumed { .. }
            | Event::StepRestored { .. }
            | Event::RunFinished { .. } => self.run_line(ev, &t),
            Event::StepStarted { .. }
            | Event::WaitProgress { .. }
            | Event::StepProgress { .. }
            | Event::ConfirmRejected { .. }
            | Event::StepFinished { .. } => self.step_line(ev, &t),
            Event::Operator {
                step, action, by, ..
            } => narrate::operator(step.as_deref(), action, by).map(|s| format!("{t} ● {s}")),
            Event::Client {
                change,
                role,
                who,
                from,
                on_purpose,
                ..
            } => Some(format!(
                "{t} ● {}",
                narrate::client(*change, *role, who, from.as_ref(), *on_purpose)
            )),
            Event::Notice { level, message } => {
                let mark = if *level == Level::Warn { "⚠" } else { "i" };
                Some(format!("{t} {mark} {message}"))
            }
            Event::RollbackStarted { .. }
            | Event::RollbackActionStarted { .. }
            | Event::RollbackActionFinished { .. }
            | Event::RollbackFinished { .. }
            | Event::TriggerFired { .. }
            | Event::TriggerUpdated { .. }
            | Event::CountdownCancelled { .. } => self.rollback_line(ev, &t),
            Event::ReconcileResult { result, restored } => {
                let lines: Vec<String> = result
                    .listed()
                    .iter()
                    .map(|(table, m, keys)| {
                        format!("{}{}", table.unwrap_or(""), reconcile::describe(m, keys))
                    })
                    .collect();
                let same = self.shown_differences.get(&result.name) == Some(&lines);
                self.shown_differences.insert(result.name.clone(), lines);
                reconcile_line(result, *restored, same, &t)
            }
            Event::LagSample { .. } => probe_line(ev, &t),
            Event::Repair { repair, .. } => Some(format!("{t} ● {}", narrate::repair(repair))),
            Event::RepairUndone { inverse_file, .. } => Some(format!(
                "{t} ● inverse patch {inverse_file} committed: the repair is undone"
            )),
            Event::Preflight { findings, .. } => {
                let mut lines = vec![format!("{t} ● {}", narrate::preflight(findings))];
                lines.extend(findings.iter().map(|f| format!("{t}   {}", f.line())));
                Some(lines.join("\n"))
            }
            Event::RunbookText { .. }
            | Event::RollbackPlan { .. }
            | Event::Ready { .. }
            | Event::Process { .. }
            | Event::ConfirmRequested { .. }
            | Event::ApprovalRequested { .. }
            | Event::DecisionNeeded { .. }
            | Event::ReconcileProgress { .. } => None,
        };
        if let Some(text) = text {
            // Titles, commands, messages and reasons come from the runbook, the operator and
            // the servers: none of their bytes may reach the terminal as a control sequence.
            let _ = writeln!(out, "{}", plain(&text));
        }
    }

    /// The run as a whole: its start, a resume, restored steps, its end.
    fn run_line(&mut self, ev: &Event, t: &str) -> Option<String> {
        Some(match ev {
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
                let s = narrate::resumed(done.len(), interrupted.as_deref(), failed_before);
                format!("{t} ↻ {s}")
            }
            Event::StepRestored {
                index,
                state,
                rolled_back,
                ..
            } => format!(
                "{t}   {} {}: {}{}",
                self.pos(*index),
                self.id(*index),
                narrate::state_word(*state),
                if *rolled_back { ", rolled back" } else { "" }
            ),
            Event::RunFinished { outcome, .. } => format!(
                "{t} ■ {} · {} · exit {}",
                narrate::run_finished(*outcome),
                narrate::passed_this_session(self.passed),
                outcome.exit_code()
            ),
            _ => return None,
        })
    }

    /// One step's attempt: its start, a wait step's polls, a wrong confirmation, its end.
    fn step_line(&mut self, ev: &Event, t: &str) -> Option<String> {
        Some(match ev {
            Event::StepStarted {
                index,
                attempt,
                command,
                ..
            } => {
                let s = self.steps.get(*index)?;
                let exp = s.expected_ms.map_or(String::new(), |e| {
                    format!("  (expected {})", narrate::duration(e))
                });
                format!(
                    "{t} ▶ {} {}: {}{}{exp}\n{t}   $ {command}",
                    self.pos(*index),
                    s.id,
                    s.title,
                    again(*attempt)
                )
            }
            Event::WaitProgress { index, message, .. } => {
                format!("{t} … {} {}: {message}", self.pos(*index), self.id(*index))
            }
            Event::StepProgress {
                index,
                done,
                total,
                unit,
                error,
                ..
            } => {
                let words = match error {
                    Some(e) => format!("progress query failed: {e}"),
                    None => narrate::step_progress(*done, *total, unit, None),
                };
                format!("{t} … {} {}: {words}", self.pos(*index), self.id(*index))
            }
            Event::ConfirmRejected { index } => format!(
                "{t} ✘ {} {}",
                self.pos(*index),
                narrate::confirm_rejected(&self.id(*index))
            ),
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
                let said = narrate::step_finished(
                    &self.id(*index),
                    *outcome,
                    *duration_ms,
                    *expected_ms,
                    message.as_deref(),
                );
                if outcome.is_ok() {
                    self.passed += 1;
                    format!("{t} ✔ {} {said}", self.pos(*index))
                } else {
                    let s = format!("{t} ✘ {} {said}", self.pos(*index));
                    s + &failure_details(t, checks, output_file.as_deref())
                }
            }
            _ => return None,
        })
    }

    /// The rollback and the triggers that start it.
    fn rollback_line(&self, ev: &Event, t: &str) -> Option<String> {
        Some(match ev {
            Event::RollbackStarted { plan, by } => rollback_started_lines(t, plan, by),
            Event::RollbackActionStarted {
                index,
                attempt,
                command,
                ..
            } => format!(
                "{t} ↺ {}{}\n{t}   $ {command}",
                narrate::rollback_action_started(&self.id(*index)),
                again(*attempt)
            ),
            Event::RollbackActionFinished {
                index,
                outcome,
                duration_ms,
                message,
                ..
            } => {
                let mark = if outcome.is_ok() { '✔' } else { '✘' };
                let said = narrate::rollback_action_finished(
                    &self.id(*index),
                    *outcome,
                    *duration_ms,
                    message.as_deref(),
                );
                format!("{t} {mark} {said}")
            }
            Event::RollbackFinished { completed, .. } => {
                let mark = if *completed { '↺' } else { '✘' };
                format!("{t} {mark} {}", narrate::rollback_finished(*completed))
            }
            Event::TriggerFired {
                name,
                message,
                countdown_ms,
                ..
            } => format!(
                "{t} ⚠ {}",
                narrate::trigger_fired(name, message, *countdown_ms)
            ),
            Event::TriggerUpdated { name, message } => {
                format!("{t} ⚠ trigger {name} now: {message}")
            }
            Event::CountdownCancelled { name, by } => {
                format!("{t} ● {}", narrate::countdown_cancelled(name, by))
            }
            _ => return None,
        })
    }
}

/// ` [attempt 2]` after a retried step or rollback action; nothing for a first attempt.
fn again(attempt: u32) -> String {
    if attempt > 1 {
        format!(" [attempt {attempt}]")
    } else {
        String::new()
    }
}

/// Under a failed step: the checks that did not hold, and where the whole output is.
fn failure_details(t: &str, checks: &[CheckResult], output_file: Option<&str>) -> String {
    let mut s = String::new();
    for c in checks.iter().filter(|c| !c.passed) {
        s.push_str(&format!("\n{t}   ✘ {}: {}", c.name, c.detail));
    }
    if let Some(f) = output_file {
        s.push_str(&format!("\n{t}   {}", narrate::full_output(f)));
    }
    s
}

/// The rollback starts: who started it, where a point of no return stops it, and the plan.
fn rollback_started_lines(t: &str, plan: &RollbackPlan, by: &str) -> String {
    let mut s = format!("{t} ↺ {}", narrate::rollback_started(plan, by));
    if let Some(p) = &plan.point_of_no_return {
        s.push_str(&format!(" ({})", narrate::ponr_crossed(p)));
    }
    for e in &plan.entries {
        s.push_str(&format!("\n{t}   ↺ {}", narrate::rollback_entry(e)));
    }
    s
}

/// A step's output lines, each under the clock and marked by its stream.
fn output_block(t: &str, stream: Stream, text: &str) -> String {
    let mark = if stream == Stream::Stderr {
        "   ! "
    } else {
        "   │ "
    };
    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
    let mut block = String::with_capacity(text.len() + lines * (t.len() + mark.len() + 1));
    // Pushed, not formatted: a flood of a million lines costs a copy, not a million formats.
    for l in text.split_terminator('\n') {
        block.push_str(t);
        block.push_str(mark);
        block.push_str(l);
        block.push('\n');
    }
    block
}

/// What the lag probe found: a kept sample.
fn probe_line(ev: &Event, t: &str) -> Option<String> {
    match ev {
        Event::LagSample { sample, keep } => {
            keep.then(|| format!("{t} ≈ lag {}", sample.summary()))
        }
        _ => None,
    }
}

/// A reconcile result: its line, then its first differences — unless they are the same as the
/// last time this check was printed (a gate's rounds), which is said in a word.
pub(crate) fn reconcile_line(
    result: &cutover_model::reconcile::ReconcileResult,
    restored: bool,
    same: bool,
    t: &str,
) -> Option<String> {
    let mut s = format!(
        "{t} ≡ reconcile {}{}",
        reconcile::summary(result),
        if restored { " (from the journal)" } else { "" }
    );
    let listed = result.listed();
    if same && !listed.is_empty() {
        s.push_str(" · the same differences as before");
        return Some(s);
    }
    for (table, m, keys) in listed.iter().take(10) {
        let table = table
            .map(|n| format!("{}: ", cutover_model::shown::name(n)))
            .unwrap_or_default();
        s.push_str(&format!("\n{t}   {table}{}", reconcile::describe(m, keys)));
    }
    if listed.len() > 10 {
        s.push_str(&format!("\n{t}   … {} more", listed.len() - 10));
    }
    // A partitioned table: the partitions that differ (rows or listed differences).
    let parts = std::iter::once(result)
        .chain(result.tables.iter())
        .flat_map(|r| r.partitions.iter())
        .filter(|p| p.mismatches > 0 || p.source_rows != p.target_rows);
    for p in parts {
        s.push_str(&format!("\n{t}   partition {}", p.describe()));
    }
    if let Some(f) = &result.values_file {
        s.push_str(&format!(
            "\n{t}   whole values of the long differences: {f}"
        ));
    }
    // What was left out of the comparison is said, not only journaled: a column the target
    // gained is never compared, whatever it holds.
    for note in std::iter::once(result)
        .chain(result.tables.iter())
        .flat_map(|r| r.notes.iter())
        .filter(|n| n.starts_with(cutover_model::reconcile::NOT_COMPARED))
    {
        s.push_str(&format!("\n{t}   {note}"));
    }
    Some(s)
}

/// The front end's stdout, remembering its first write error (later writes are dropped).
struct Checked<'a> {
    out: &'a mut (dyn Write + Send),
    failed: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl Checked<'_> {
    /// Passes `r` on, remembering it if it is the first error.
    fn note<T>(&self, r: std::io::Result<T>) -> std::io::Result<T> {
        if let (Err(e), Ok(mut f)) = (&r, self.failed.lock())
            && f.is_none()
        {
            *f = Some(e.to_string());
        }
        r
    }

    fn broken(&self) -> bool {
        self.failed.lock().map_or(true, |f| f.is_some())
    }
}

impl Write for Checked<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.broken() {
            return Ok(buf.len());
        }
        let r = self.out.write(buf);
        self.note(r)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.broken() {
            return Ok(());
        }
        let r = self.out.flush();
        self.note(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each line gets the clock and its stream's mark; a missing last `\n` is added, an empty
    /// text prints nothing.
    #[test]
    fn an_output_block_marks_every_line() {
        assert_eq!(
            output_block("02:00:00", Stream::Stdout, "one\n\nthree"),
            "02:00:00   │ one\n02:00:00   │ \n02:00:00   │ three\n"
        );
        assert_eq!(output_block("t", Stream::Stderr, "oops\n"), "t   ! oops\n");
        assert_eq!(output_block("t", Stream::Stdout, ""), "");
    }
}
