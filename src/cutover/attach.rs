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

use crate::exit::{Exit, Failure, Outcome};
use crate::say;
use crate::serve::Leaving;
use cutover_model::summary::{self, RunSummary};
use cutover_model::text::plain;

/// The socket of the live run `id` (or the only live run); lists the choices when it is not
/// clear which run is meant.
/// An ID with a `/` in it is the socket's path (root attaching to another user's run).
/// Also whether the run is a fleet's (its socket serves the lanes).
fn live_run(id: Option<&str>) -> Result<(PathBuf, String, Leaving, bool), Failure> {
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
        return Ok((path, id, leaving, false));
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
            one.fleet,
        )),
        [] => Err(Failure::new(
            Exit::Invalid,
            match id {
                Some(id) => format!("cutover: no live run {id} (see cutover ls)"),
                None => "cutover: no live run of this user (see cutover ls)".to_string(),
            },
        )),
        several => {
            let mut message = "cutover: several live runs; name one:".to_string();
            for m in several {
                message.push_str(&format!(
                    "\n  {}  {}  (journal {})",
                    m.id, m.runbook, m.journal
                ));
            }
            Err(Failure::new(Exit::Invalid, message))
        }
    }
}

/// The theme named on the command line (or by `NO_COLOR`); an unknown one is said, and is a
/// usage error.
pub fn theme(name: Option<&str>) -> Result<Theme, Failure> {
    Theme::resolve(name, no_color_env()).map_err(|e| Failure::new(Exit::Invalid, e.to_string()))
}

/// Refused unless stdin and stdout are a terminal (`what`: the command that needs one).
fn needs_terminal(what: &str) -> Result<(), Failure> {
    if std::io::stdin().is_terminal() && std::io::stdout().is_terminal() {
        return Ok(());
    }
    Err(Failure::new(
        Exit::Invalid,
        format!(
            "cutover: {what} needs a terminal (cutover watch --json streams the events without one)"
        ),
    ))
}

/// `cutover attach [ID]`.
pub fn attach(id: Option<String>, take_over: bool, theme_name: Option<String>) -> Outcome {
    let (socket, id, leaving, fleet) = live_run(id.as_deref())?;
    let theme = theme(theme_name.as_deref())?;
    needs_terminal("attach")?;
    if fleet {
        let seat = crate::fleet_attach::Seat {
            control: true,
            take_over,
            drill: false,
        };
        return crate::fleet_attach::lanes(&socket, &id, seat, &theme);
    }
    cockpit(&socket, &id, take_over, theme, &leaving)
}

/// The cockpit on a run `joined` (in the role the run gave it; `in_fleet`: opened from the
/// fleet's lanes) until it is left; a deliberate leave's last word reaches the engine before
/// this returns (waiting a second at most), so before the runtime goes.
pub(crate) async fn joined_cockpit(
    joined: client::Joined,
    theme: Theme,
    in_fleet: bool,
) -> std::io::Result<tui::Left> {
    let seat = Seat {
        role: joined.role,
        terminal: joined.terminal,
        in_fleet,
    };
    let (commands, events, writer) = joined.bridge_flushed();
    let left = tui::run(EngineLink { commands, events }, theme, Some(seat)).await;
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), writer).await;
    left
}

/// The cockpit in control of the run at `socket` (asking before taking the controls from
/// another terminal, unless `take_over`); prints how it ended and returns the exit code.
pub fn cockpit(
    socket: &std::path::Path,
    id: &str,
    take_over: bool,
    theme: Theme,
    leaving: &Leaving,
) -> Outcome {
    let rt = crate::serve::client_runtime("cutover", Exit::Failed)?;
    let joined = match rt.block_on(join_controls(socket, id, take_over)) {
        Ok(j) => j,
        Err(e) => {
            return Err(Failure::new(Exit::Invalid, format!("cutover: {e}")));
        }
    };
    // A crash of this cockpit is only a lost terminal: the terminal is restored as the panic
    // unwinds, and the run goes on.
    let left = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(joined_cockpit(joined, theme, false))
    }));
    // The engine lives on: do not wait for the runtime's tasks.
    rt.shutdown_background();
    let Ok(left) = left else {
        return Err(Failure::new(
            Exit::Crashed,
            format!(
                "cutover: the cockpit crashed; the run goes on without it · come back with: cutover attach {id}"
            ),
        ));
    };
    match left {
        Ok(l) if l.leave == Leave::Detach => {
            say::out(&format!(
                "cutover: detached; the run goes on without this terminal · come back with: cutover attach {id}"
            ));
            Ok(Exit::Ok)
        }
        Ok(l) => {
            let code = ended(l.outcome, &l.journal, leaving.resumable);
            for line in &leaving.farewell {
                say::err(line);
            }
            Ok(code)
        }
        Err(e) => Err(Failure::new(
            Exit::Failed,
            format!("cutover: the terminal failed ({e}); the run goes on: cutover attach {id}"),
        )),
    }
}

/// What a cockpit keeps of each step's output, said to the engine so that a flood sends it
/// no line it would drop at once.
pub(crate) const COCKPIT_TAIL: Option<usize> = Some(cutover_cockpit::app::output::OUTPUT_CAP);

/// Joins the run at `socket` for the controls; when another terminal has them, asks (saying
/// who, from where and since when) before taking them over, unless `take_over`.
async fn join_controls(
    socket: &std::path::Path,
    id: &str,
    take_over: bool,
) -> Result<client::Joined, ClientError> {
    let who = Operator::from_env();
    match client::join(
        socket,
        Want::Control { take_over },
        who.clone(),
        COCKPIT_TAIL,
    )
    .await
    {
        Err(ClientError::Refused {
            controller: Some(holder),
            ..
        }) => {
            let since = client::status(socket, who.clone())
                .await
                .ok()
                .and_then(|s| s.controller_since);
            if !ask_take_over(id, &holder, since) {
                return Err(ClientError::Refused {
                    reason: format!(
                        "{} has the controls; watch with: cutover watch {id}",
                        cutover_model::narrate::operator_at(&holder)
                    ),
                    controller: None,
                });
            }
            client::join(socket, Want::Control { take_over: true }, who, COCKPIT_TAIL).await
        }
        other => other,
    }
}

/// What the cockpit says when the operator leaves an ended run (or an engine that went away):
/// the run's summary from its journal, the outcome, how to resume when that is possible; and
/// the exit code.
fn ended(outcome: Option<RunOutcome>, journal: &str, resumable: bool) -> Exit {
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
    outcome.map_or(Exit::Failed, Exit::of_run)
}

/// The run in `journal`, summarised (none when it cannot be read).
pub fn read_summary(journal: &str) -> Option<RunSummary> {
    let read = cutover_engine::journal::read(std::path::Path::new(journal)).ok()?;
    Some(RunSummary::fold(
        read.records.iter().map(|r| (Some(r.ts), &r.event)),
    ))
}

/// `alice (from 10.0.0.5) has had the controls of run j since 02:14:03 UTC (12m00 ago)`.
fn holding(
    id: &str,
    holder: &Operator,
    since: Option<chrono::DateTime<chrono::Utc>>,
    now: chrono::DateTime<chrono::Utc>,
) -> String {
    let who = cutover_model::narrate::operator_at(holder);
    match since {
        Some(t) => {
            let ago = u64::try_from((now - t).num_milliseconds()).unwrap_or(0);
            format!(
                "{who} has had the controls of run {id} since {} UTC ({} ago)",
                t.format("%H:%M:%S"),
                cutover_model::narrate::duration(ago)
            )
        }
        None => format!("{who} has the controls of run {id}"),
    }
}

/// Asks on the terminal whether to take the controls from `holder`, saying from where they
/// hold them and since when (`since`, from the engine's status).
fn ask_take_over(
    id: &str,
    holder: &Operator,
    since: Option<chrono::DateTime<chrono::Utc>>,
) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    let _ = write!(
        std::io::stderr(),
        "{}. Take them over (that terminal will only watch)? [y/N] ",
        plain(&holding(id, holder, since, chrono::Utc::now()))
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
) -> Outcome {
    let (socket, run, fleet) = watched(id, owner)?;
    match (json, fleet) {
        (true, true) => return crate::fleet_attach::watch_json(&socket),
        (true, false) => return watch_json(&socket),
        _ => {}
    }
    let theme = theme(theme_name.as_deref())?;
    needs_terminal("watch")?;
    if fleet {
        let seat = crate::fleet_attach::Seat {
            control: false,
            take_over: false,
            drill: false,
        };
        return crate::fleet_attach::lanes(&socket, &run, seat, &theme);
    }
    watch_cockpit(&socket, &run, theme)
}

/// The run `watch` means: its socket, its id, and whether it is a fleet's (another user's
/// run, shared with a group, is never a fleet).
fn watched(id: Option<String>, owner: Option<String>) -> Result<(PathBuf, String, bool), Failure> {
    Ok(match owner {
        Some(user) => {
            let Some(uid) = crate::serve::user_id(&user) else {
                return Err(Failure::new(
                    Exit::Invalid,
                    format!("cutover: no user {user}"),
                ));
            };
            let Some(id) = id else {
                return Err(Failure::new(
                    Exit::Invalid,
                    "cutover: watching another user's run needs its ID",
                ));
            };
            (
                rundir::socket_path(&rundir::shared_dir(uid), &id),
                id,
                false,
            )
        }
        None => {
            let (socket, id, _, fleet) = live_run(id.as_deref())?;
            (socket, id, fleet)
        }
    })
}

/// The cockpit on run `run` at `socket`, read-only; how it ended.
fn watch_cockpit(socket: &std::path::Path, run: &str, theme: Theme) -> Outcome {
    let rt = crate::serve::client_runtime("cutover", Exit::Failed)?;
    let left = rt.block_on(async {
        let joined = client::join(socket, Want::Watch, Operator::from_env(), COCKPIT_TAIL).await?;
        Ok::<_, ClientError>(joined_cockpit(joined, theme, false).await)
    });
    rt.shutdown_background();
    match left {
        Ok(Ok(l)) if l.leave == Leave::Detach => {
            say::out(&format!(
                "cutover: stopped watching; run {run} goes on · cutover watch {run}"
            ));
            Ok(Exit::Ok)
        }
        Ok(Ok(l)) => {
            let _ = ended(l.outcome, &l.journal, true);
            Ok(Exit::Ok)
        }
        Ok(Err(e)) => Err(Failure::new(
            Exit::Failed,
            format!("cutover: the terminal failed: {e}"),
        )),
        Err(e) => Err(Failure::new(
            Exit::Invalid,
            format!("cutover: cannot watch run {run}: {e}"),
        )),
    }
}

/// `cutover watch --json`: the run so far and then its live events, one JSON object per line,
/// until the run ends.
fn watch_json(socket: &std::path::Path) -> Outcome {
    let rt = crate::serve::client_runtime("cutover", Exit::Failed)?;
    let result = rt.block_on(async {
        let joined = client::join(socket, Want::Watch, Operator::from_env(), None).await?;
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
        Ok(true) => Ok(Exit::Ok),
        Ok(false) => Err(Failure::new(
            Exit::Failed,
            "cutover watch: the stream ended before the run did (its engine went away, or sent something wrong)",
        )),
        Err(e) => Err(Failure::new(Exit::Invalid, format!("cutover: {e}"))),
    }
}

/// Resolves when nobody reads stdout any more (a pipe whose reader has gone: `poll` says
/// `POLLERR`), checked twice a second, so `cutover watch --json | head -1` ends when `head`
/// does, not at the run's next event (which may be hours away while a step waits).
pub(crate) async fn stdout_reader_gone() {
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

/// `cutover ls`: live runs with where they stand, who has the controls (and since when) apart
/// from how many watch; dead ones with how to resume them. Columns are as wide as their
/// longest value (long ones cut), so they line up whatever the ids and states.
pub fn ls() -> Outcome {
    let dir = rundir::runs_dir();
    let (metas, wrong) = rundir::read_metas_noting(&dir);
    for w in &wrong {
        say::err(&format!("cutover ls: {w}"));
    }
    if metas.is_empty() {
        if !say::out("no runs (a detached run is listed here while its engine lives)") {
            return Err(Failure::new(
                Exit::Invalid,
                "cutover ls: cannot write to stdout",
            ));
        }
        return Ok(Exit::Ok);
    }
    let rt = crate::serve::client_runtime("cutover", Exit::Failed)?;
    let who = Operator::from_env();
    let rows: Vec<LsRow> = metas.iter().map(|m| ls_row(&rt, &dir, m, &who)).collect();
    rt.shutdown_background();
    for line in ls_table(&rows) {
        if !say::out(&line) {
            return Err(Failure::new(
                Exit::Invalid,
                "cutover ls: cannot write to stdout",
            ));
        }
    }
    Ok(Exit::Ok)
}

/// One run in `cutover ls`; every field is plain text (no terminal escape from a hostile
/// runbook or engine reaches the terminal).
struct LsRow {
    id: String,
    runbook: String,
    state: String,
    /// Who has the controls and since when, `-` nobody, `?` unknown.
    control: String,
    /// Terminals that watch (attached without the controls).
    watchers: String,
    pid: String,
    journal: String,
    /// A line under the row: how to resume a dead run.
    then: Option<String>,
}

/// Where run `m` stands, asking its engine.
fn ls_row(
    rt: &tokio::runtime::Runtime,
    dir: &std::path::Path,
    m: &RunMeta,
    who: &Operator,
) -> LsRow {
    let socket = rundir::socket_path(dir, &m.id);
    let row = |state: &str, control: &str, watchers: &str| LsRow {
        id: plain(&m.id).into_owned(),
        runbook: plain(&m.runbook).into_owned(),
        state: plain(state).into_owned(),
        control: control.to_string(),
        watchers: watchers.to_string(),
        pid: m.pid.to_string(),
        journal: plain(&m.journal).into_owned(),
        then: None,
    };
    if m.fleet
        && let Some((state, control)) = rt.block_on(crate::fleet_attach::ls_state(&socket))
    {
        return row(&state, &plain(&control), "-");
    }
    match rt.block_on(client::status(&socket, who.clone())) {
        Ok(s) => {
            let control = s.controller.as_ref().map_or("-".to_string(), |c| {
                let since = s
                    .controller_since
                    .map(|t| format!(" since {} UTC", t.format("%H:%M:%S")))
                    .unwrap_or_default();
                plain(&format!(
                    "{}{since}",
                    cutover_model::narrate::operator_at(c)
                ))
                .into_owned()
            });
            let watchers = s
                .clients
                .saturating_sub(usize::from(s.controller.is_some()));
            LsRow {
                id: plain(&s.id).into_owned(),
                runbook: plain(&s.runbook).into_owned(),
                journal: plain(&s.journal).into_owned(),
                pid: s.pid.to_string(),
                ..row(&s.state, &control, &watchers.to_string())
            }
        }
        Err(_) if rundir::engine_alive(m) => row("not answering", "?", "?"),
        Err(_) if finished(&m.journal).is_some() => {
            // The engine went away after the run ended: nothing to resume. Not while a new
            // engine holds the id (it is taking the place over).
            cutover_socket::claim::while_unheld(dir, &m.id, || rundir::remove(dir, &m.id));
            let state = format!(
                "finished: {} (engine gone)",
                finished(&m.journal).map_or("?", outcome_word)
            );
            row(&state, "-", "-")
        }
        Err(_) => {
            // The engine died: its socket is stale (unless a new engine holds the id and
            // has bound its own); its description stays to say how to resume.
            cutover_socket::claim::while_unheld(dir, &m.id, || {
                let _ = std::fs::remove_file(&socket);
            });
            LsRow {
                then: Some(resume_command(m)),
                ..row("dead (its engine is gone)", "-", "-")
            }
        }
    }
}

/// How to resume a run whose engine died: a fleet takes its runbook and fleet file again
/// (from its journal's start; a fleet journal is no run journal), a run its journal alone.
fn resume_command(m: &rundir::RunMeta) -> String {
    if m.fleet {
        format!(
            "resume with: {}",
            crate::fleet_attach::resume_command(&m.journal)
        )
    } else {
        format!("resume with: cutover run --resume {}", plain(&m.journal))
    }
}

/// The table: a header and one line per run, each column as wide as its longest value (at
/// most its cap), the journal last and whole.
fn ls_table(rows: &[LsRow]) -> Vec<String> {
    let width = |title: &str, cap: usize, f: fn(&LsRow) -> &str| {
        rows.iter()
            .map(|r| f(r).chars().count())
            .chain(std::iter::once(title.chars().count()))
            .max()
            .unwrap_or(0)
            .min(cap)
    };
    let w = [
        // An id is never cut: it is what `attach` and `watch` take.
        width("ID", usize::MAX, |r| &r.id),
        width("RUNBOOK", 24, |r| &r.runbook),
        width("STATE", 60, |r| &r.state),
        width("CONTROL", 44, |r| &r.control),
        width("WATCHERS", 8, |r| &r.watchers),
        width("PID", 8, |r| &r.pid),
    ];
    let line = |cells: [&str; 6], journal: &str| {
        format!(
            "{:<a$}  {:<b$}  {:<c$}  {:<d$}  {:>e$}  {:>f$}  {journal}",
            fit(cells[0], w[0]),
            fit(cells[1], w[1]),
            fit(cells[2], w[2]),
            fit(cells[3], w[3]),
            cells[4],
            cells[5],
            a = w[0],
            b = w[1],
            c = w[2],
            d = w[3],
            e = w[4],
            f = w[5],
        )
    };
    let mut out = vec![line(
        ["ID", "RUNBOOK", "STATE", "CONTROL", "WATCHERS", "PID"],
        "JOURNAL",
    )];
    for r in rows {
        out.push(line(
            [&r.id, &r.runbook, &r.state, &r.control, &r.watchers, &r.pid],
            &r.journal,
        ));
        if let Some(t) = &r.then {
            out.push(format!("{:w$}  {t}", "", w = w[0]));
        }
    }
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, state: &str, control: &str) -> LsRow {
        LsRow {
            id: id.into(),
            runbook: "orders".into(),
            state: state.into(),
            control: control.into(),
            watchers: "2".into(),
            pid: "4242".into(),
            journal: "/j/run.jsonl".into(),
            then: None,
        }
    }

    #[test]
    fn ls_columns_line_up_with_long_ids_and_states() {
        let rows = [
            row("j", "running 1 nap (0:03)", "-"),
            row(
                "a-much-longer-run-id-2026-12-05T02-00",
                "waiting for a decision: 3 copy failed · reconciling accounts 4/16 parts",
                "alice (from 10.0.0.5) since 02:14:03 UTC",
            ),
        ];
        let table = ls_table(&rows);
        let starts = |l: &str, word: &str| l.find(word).map(|b| l[..b].chars().count());
        let state_col = starts(&table[0], "STATE").unwrap();
        assert_eq!(starts(&table[1], "running"), Some(state_col), "{table:#?}");
        assert_eq!(starts(&table[2], "waiting"), Some(state_col), "{table:#?}");
        let control_col = starts(&table[0], "CONTROL").unwrap();
        assert_eq!(starts(&table[2], "alice"), Some(control_col), "{table:#?}");
        let journal_col = starts(&table[0], "JOURNAL").unwrap();
        assert_eq!(starts(&table[1], "/j/run"), Some(journal_col), "{table:#?}");
        assert_eq!(starts(&table[2], "/j/run"), Some(journal_col), "{table:#?}");
    }

    #[test]
    fn the_takeover_question_says_from_where_and_since_when() {
        let holder = Operator {
            user: "alice".into(),
            ssh_client: Some("10.0.0.5 5000 22".into()),
            host: "bastion".into(),
            peer: None,
        };
        let since = chrono::DateTime::parse_from_rfc3339("2026-12-05T02:14:03Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let now = since + chrono::Duration::minutes(12);
        assert_eq!(
            holding("j", &holder, Some(since), now),
            "alice@bastion (ssh from 10.0.0.5) has had the controls of run j since 02:14:03 UTC (12m00 ago)"
        );
        assert_eq!(
            holding("j", &holder, None, now),
            "alice@bastion (ssh from 10.0.0.5) has the controls of run j"
        );
    }
}
