//! Terminals of a detached run: `cutover attach` (the cockpit, in control), `cutover watch`
//! (read-only; `--json` streams the events) and `cutover ls`.
// `unsafe` here: poll through libc (a reader that went away); each block says why it is sound.
#![allow(unsafe_code)]

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use cutover_cockpit::app::Seat;
use cutover_cockpit::tui::theme::{Theme, no_color_env};
use cutover_cockpit::tui::{self, EngineLink, Leave};
use cutover_model::protocol::{Event, Incoming, Operator, RunOutcome};
use cutover_socket::client::{self, ClientError};
use cutover_socket::rundir::{self, RunMeta};
use cutover_socket::wire::Want;

use crate::say;
use crate::serve::Leaving;
use cutover_model::summary::{self, RunSummary};
use cutover_model::text::plain;

/// Usage errors (no such run, several runs, no terminal).
const EXIT_USAGE: u8 = 2;
/// Exit code of `watch --json` when the stream ends before the run did.
const EXIT_LOST: u8 = 4;

/// The socket of the live run `id` (or the only live run); lists the choices when it is not
/// clear which run is meant.
/// An ID with a `/` in it is the socket's path (root attaching to another user's run).
fn live_socket(id: Option<&str>) -> Result<(PathBuf, String, Leaving), u8> {
    if let Some(path) = id.filter(|i| i.contains('/')) {
        let path = PathBuf::from(path);
        let id = path.file_stem().map_or_else(
            || path.display().to_string(),
            |s| s.to_string_lossy().into_owned(),
        );
        let leaving = Leaving {
            farewell: Vec::new(),
            resumable: true,
        };
        return Ok((path, id, leaving));
    }
    let dir = rundir::runs_dir();
    let metas = rundir::read_metas(&dir);
    let live: Vec<&RunMeta> = rundir::matching(&metas, id)
        .into_iter()
        .filter(|m| rundir::engine_alive(m))
        .collect();
    match live.as_slice() {
        [one] => Ok((
            rundir::socket_path(&dir, &one.id),
            one.id.clone(),
            Leaving {
                farewell: Vec::new(),
                resumable: one.resumable,
            },
        )),
        [] => {
            match id {
                Some(id) => say::err(&format!("cutover: no live run {id} (see cutover ls)")),
                None => say::err("cutover: no live run of this user (see cutover ls)"),
            }
            Err(EXIT_USAGE)
        }
        several => {
            say::err("cutover: several live runs; name one:");
            for m in several {
                say::err(&format!(
                    "  {}  {}  (journal {})",
                    m.id, m.runbook, m.journal
                ));
            }
            Err(EXIT_USAGE)
        }
    }
}

fn theme(name: Option<&str>) -> Result<Theme, u8> {
    Theme::resolve(name, no_color_env()).map_err(|e| {
        say::err(&e.to_string());
        EXIT_USAGE
    })
}

fn needs_terminal(what: &str) -> Result<(), u8> {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return Ok(());
    }
    say::err(&format!(
        "cutover: {what} needs a terminal (cutover watch --json streams the events without one)"
    ));
    Err(EXIT_USAGE)
}

/// `cutover attach [ID]`.
pub fn attach(id: Option<String>, take_over: bool, theme_name: Option<String>) -> u8 {
    let (socket, id, leaving) = match live_socket(id.as_deref()) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let theme =
        match theme(theme_name.as_deref()).and_then(|t| needs_terminal("attach").map(|()| t)) {
            Ok(t) => t,
            Err(code) => return code,
        };
    cockpit(&socket, &id, take_over, theme, &leaving)
}

/// The cockpit in control of the run at `socket` (asking before taking the controls from
/// another terminal, unless `take_over`); prints how it ended and returns the exit code.
pub fn cockpit(
    socket: &std::path::Path,
    id: &str,
    take_over: bool,
    theme: Theme,
    leaving: &Leaving,
) -> u8 {
    let rt = match crate::serve::client_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let who = Operator::from_env();
    let joined = rt.block_on(async {
        match client::join(socket, Want::Control { take_over }, who.clone()).await {
            Err(ClientError::Refused {
                controller: Some(holder),
                ..
            }) => {
                if !ask_take_over(id, &holder) {
                    return Err(ClientError::Refused {
                        reason: format!(
                            "{} has the controls; watch with: cutover watch {id}",
                            cutover_model::narrate::operator_at(&holder)
                        ),
                        controller: None,
                    });
                }
                client::join(socket, Want::Control { take_over: true }, who).await
            }
            other => other,
        }
    });
    let joined = match joined {
        Ok(j) => j,
        Err(e) => {
            say::err(&format!("cutover: {e}"));
            return EXIT_USAGE;
        }
    };
    let seat = Seat {
        role: joined.role,
        terminal: joined.terminal,
    };
    // A crash of this cockpit is only a lost terminal: the terminal is restored as the panic
    // unwinds, and the run goes on.
    let left = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async move {
            let (commands, events) = joined.bridge();
            tui::run(EngineLink { commands, events }, theme, Some(seat)).await
        })
    }));
    // The engine lives on: do not wait for the runtime's tasks.
    rt.shutdown_background();
    let Ok(left) = left else {
        say::err(&format!(
            "cutover: the cockpit crashed; the run goes on without it · come back with: cutover attach {id}"
        ));
        return 101;
    };
    match left {
        Ok(l) if l.leave == Leave::Detach => {
            say::out(&format!(
                "cutover: detached; the run goes on without this terminal · come back with: cutover attach {id}"
            ));
            0
        }
        Ok(l) => {
            let code = ended(l.outcome, &l.journal, leaving.resumable);
            for line in &leaving.farewell {
                say::err(line);
            }
            code
        }
        Err(e) => {
            say::err(&format!(
                "cutover: the terminal failed ({e}); the run goes on: cutover attach {id}"
            ));
            4
        }
    }
}

/// What the cockpit says when the operator leaves an ended run (or an engine that went away):
/// the run's summary from its journal, the outcome, how to resume when that is possible; and
/// the exit code.
fn ended(outcome: Option<RunOutcome>, journal: &str, resumable: bool) -> u8 {
    let summary = read_summary(journal);
    if let Some(s) = &summary {
        for line in summary::text::lines(s) {
            say::out(&line);
        }
    }
    let what = match outcome {
        Some(RunOutcome::Completed) => "run completed",
        Some(RunOutcome::RolledBack) => "run rolled back",
        Some(RunOutcome::RolledBackPartly) => "run rolled back, with actions skipped",
        Some(RunOutcome::Aborted) => "run ended before completion",
        Some(RunOutcome::NotStarted) => "run not started: preflight failed",
        None => "the run's engine is gone",
    };
    say::out(&format!("cutover: {what} · journal {journal}"));
    let can_resume = resumable
        && match &summary {
            Some(s) => summary::text::resume_hint(s).is_some(),
            None => !matches!(
                outcome,
                Some(RunOutcome::Completed | RunOutcome::RolledBack | RunOutcome::RolledBackPartly)
            ),
        };
    if can_resume {
        say::out(&format!(
            "cutover: resume with: cutover run --resume {journal}"
        ));
    }
    outcome.map_or(4, |o| u8::try_from(o.exit_code()).unwrap_or(4))
}

/// The run in `journal`, summarised (none when it cannot be read).
pub fn read_summary(journal: &str) -> Option<RunSummary> {
    let read = cutover_engine::journal::read(std::path::Path::new(journal)).ok()?;
    Some(RunSummary::fold(
        read.records.iter().map(|r| (Some(r.ts), &r.event)),
    ))
}

/// Asks on the terminal whether to take the controls from `holder`.
fn ask_take_over(id: &str, holder: &Operator) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    let _ = write!(
        std::io::stderr(),
        "{} has the controls of run {id}. Take them over (that terminal will only watch)? [y/N] ",
        cutover_model::narrate::operator_at(holder)
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes")
}

/// `cutover watch [ID] [--json] [--owner USER]`.
pub fn watch(
    id: Option<String>,
    json: bool,
    owner: Option<String>,
    theme_name: Option<String>,
) -> u8 {
    let (socket, run) = match owner {
        Some(user) => {
            let Some(uid) = crate::serve::user_id(&user) else {
                say::err(&format!("cutover: no user {user}"));
                return EXIT_USAGE;
            };
            let Some(id) = id else {
                say::err("cutover: watching another user's run needs its ID");
                return EXIT_USAGE;
            };
            (rundir::socket_path(&rundir::shared_dir(uid), &id), id)
        }
        None => match live_socket(id.as_deref()) {
            Ok((socket, id, _)) => (socket, id),
            Err(code) => return code,
        },
    };
    if json {
        return watch_json(&socket);
    }
    let theme = match theme(theme_name.as_deref()).and_then(|t| needs_terminal("watch").map(|()| t))
    {
        Ok(t) => t,
        Err(code) => return code,
    };
    let rt = match crate::serve::client_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let left = rt.block_on(async {
        let joined = client::join(&socket, Want::Watch, Operator::from_env()).await?;
        let seat = Seat {
            role: joined.role,
            terminal: joined.terminal,
        };
        let (commands, events) = joined.bridge();
        Ok::<_, ClientError>(tui::run(EngineLink { commands, events }, theme, Some(seat)).await)
    });
    rt.shutdown_background();
    match left {
        Ok(Ok(l)) if l.leave == Leave::Detach => {
            say::out(&format!(
                "cutover: stopped watching; run {run} goes on · cutover watch {run}"
            ));
            0
        }
        Ok(Ok(l)) => {
            let _ = ended(l.outcome, &l.journal, true);
            0
        }
        Ok(Err(e)) => {
            say::err(&format!("cutover: the terminal failed: {e}"));
            4
        }
        Err(e) => {
            say::err(&format!("cutover: cannot watch run {run}: {e}"));
            EXIT_USAGE
        }
    }
}

/// `cutover watch --json`: the run so far and then its live events, one JSON object per line,
/// until the run ends.
fn watch_json(socket: &std::path::Path) -> u8 {
    let rt = match crate::serve::client_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let result = rt.block_on(async {
        let joined = client::join(socket, Want::Watch, Operator::from_env()).await?;
        let (_commands, mut events) = joined.bridge();
        let mut out = std::io::stdout().lock();
        // How the stream ends: the run's end was printed, or nobody reads any more (both
        // fine), or neither (the engine went away or sent something wrong).
        let (mut ended, mut unread) = (false, false);
        let mut print = |ev: &Event| -> bool {
            let Ok(line) = serde_json::to_string(ev) else {
                return true;
            };
            ended |= matches!(ev, Event::RunFinished { .. });
            unread |= writeln!(out, "{line}").and_then(|()| out.flush()).is_err();
            !unread && !ended
        };
        let mut gone = std::pin::pin!(stdout_reader_gone());
        let mut reader_gone = false;
        loop {
            let inc = tokio::select! {
                inc = events.recv() => inc,
                () = &mut gone => { reader_gone = true; break },
            };
            let Some(inc) = inc else { break };
            let go_on = match inc {
                Incoming::Snapshot(evs) => evs.iter().all(&mut print),
                Incoming::Event(ev) => print(&ev),
                Incoming::Note(what) => {
                    say::err(&format!("cutover watch: {}", plain(&what)));
                    true
                }
                Incoming::Role { .. } => true,
            };
            if !go_on {
                break;
            }
        }
        Ok::<_, ClientError>(ended || unread || reader_gone)
    });
    rt.shutdown_background();
    match result {
        Ok(true) => 0,
        Ok(false) => {
            say::err(
                "cutover watch: the stream ended before the run did (its engine went away, or sent something wrong)",
            );
            EXIT_LOST
        }
        Err(e) => {
            say::err(&format!("cutover: {e}"));
            EXIT_USAGE
        }
    }
}

/// Resolves when nobody reads stdout any more (a pipe whose reader has gone: `poll` says
/// `POLLERR`), checked twice a second, so `cutover watch --json | head -1` ends when `head`
/// does, not at the run's next event (which may be hours away while a step waits).
async fn stdout_reader_gone() {
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tick.tick().await;
        let mut p = libc::pollfd {
            fd: libc::STDOUT_FILENO,
            events: 0,
            revents: 0,
        };
        // SAFETY: one pollfd on the stack, a zero timeout: poll only reads and writes `p`.
        let n = unsafe { libc::poll(&mut p, 1, 0) };
        if n > 0 && p.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
            return;
        }
    }
}

/// `cutover ls`: live runs with where they stand; dead ones with how to resume them.
pub fn ls() -> u8 {
    let dir = rundir::runs_dir();
    let (metas, wrong) = rundir::read_metas_noting(&dir);
    for w in &wrong {
        say::err(&format!("cutover ls: {w}"));
    }
    if metas.is_empty() {
        if !say::out("no runs (a detached run is listed here while its engine lives)") {
            say::err("cutover ls: cannot write to stdout");
            return EXIT_USAGE;
        }
        return 0;
    }
    let rt = match crate::serve::client_runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    let who = Operator::from_env();
    if !say::out(&format!(
        "{:<40} {:<24} {:<44} {:>7} {:>8}  JOURNAL",
        "ID", "RUNBOOK", "STATE", "CLIENTS", "PID"
    )) {
        say::err("cutover ls: cannot write to stdout");
        return EXIT_USAGE;
    }
    for m in &metas {
        let socket = rundir::socket_path(&dir, &m.id);
        let row = |id: &str, runbook: &str, state: &str, clients: &str, pid: u32, journal: &str| {
            // Every field may come from a hostile runbook or engine: no escape reaches the
            // terminal.
            format!(
                "{:<40} {:<24} {:<44} {clients:>7} {pid:>8}  {}",
                plain(id),
                fit(&plain(runbook), 24),
                fit(&plain(state), 44),
                plain(journal)
            )
        };
        let line = match rt.block_on(client::status(&socket, who.clone())) {
            Ok(s) => row(
                &s.id,
                &s.runbook,
                &s.state,
                &s.clients.to_string(),
                s.pid,
                &s.journal,
            ),
            Err(_) if rundir::engine_alive(m) => {
                row(&m.id, &m.runbook, "not answering", "?", m.pid, &m.journal)
            }
            Err(_) if finished(&m.journal).is_some() => {
                // The engine went away after the run ended: nothing to resume.
                rundir::remove(&dir, &m.id);
                let state = format!(
                    "finished: {} (engine gone)",
                    finished(&m.journal).map_or("?", outcome_word)
                );
                row(&m.id, &m.runbook, &state, "-", m.pid, &m.journal)
            }
            Err(_) => {
                // The engine died: its socket is stale; its description stays to say how to
                // resume.
                let _ = std::fs::remove_file(&socket);
                format!(
                    "{}\n{:<40} resume with: cutover run --resume {}",
                    row(
                        &m.id,
                        &m.runbook,
                        "dead (its engine is gone)",
                        "-",
                        m.pid,
                        &m.journal
                    ),
                    "",
                    plain(&m.journal)
                )
            }
        };
        if !say::out(&line) {
            say::err("cutover ls: cannot write to stdout");
            rt.shutdown_background();
            return EXIT_USAGE;
        }
    }
    rt.shutdown_background();
    0
}

/// How the run in `journal` ended, if it did.
fn finished(journal: &str) -> Option<RunOutcome> {
    let j = cutover_engine::journal::read(std::path::Path::new(journal)).ok()?;
    j.records.iter().rev().find_map(|r| match &r.event {
        Event::RunFinished { outcome, .. } => Some(*outcome),
        _ => None,
    })
}

fn outcome_word(o: RunOutcome) -> &'static str {
    cutover_model::summary::text::outcome(Some(o))
}

/// `s` cut to `n` characters with an ellipsis.
fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
