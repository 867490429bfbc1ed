//! One wording for what happened: the phrases every front end uses to tell the operator about
//! [`Event`](crate::protocol::Event)s, so the cockpit's status line and `--headless`'s lines
//! say the same thing the same way.
//!
//! Each function phrases one event, or one part of an event, as plain text: no clock, no
//! glyph, no step position and no colour — those belong to the front end's layout (the
//! headless `HH:MM:SS ✔ 1/3 ` prefix, the cockpit's status bar). Counts agree with their noun ([`count`]).
//!
//! ```
//! use cutover_model::narrate;
//! use cutover_model::protocol::StepOutcome;
//! assert_eq!(
//!     narrate::step_finished("copy", StepOutcome::TimedOut, 1_000, None, Some("killed")),
//!     "copy timed out after 1s: killed"
//! );
//! ```

use std::time::Duration;

use crate::protocol::{
    OperatorAction, PonrCrossed, RollbackEntry, RollbackPlan, RunOutcome, StepOutcome, StepState,
};
use crate::runbook::units::format_duration;

/// A duration given in milliseconds, as precise as it is worth: `0ms`, `4ms`, `1.5s`, `12s`,
/// `1m05`, `1h02m` (never `0s` next to `4ms`).
pub fn duration(ms: u64) -> String {
    match ms {
        0..1_000 => format!("{ms}ms"),
        1_000..10_000 => {
            let tenths = (ms + 50) / 100;
            if tenths.is_multiple_of(10) {
                format!("{}s", tenths / 10)
            } else {
                format!("{}.{}s", tenths / 10, tenths % 10)
            }
        }
        _ => format_duration(Duration::from_millis(ms)),
    }
}

/// How long a step took, against its plan when it has one: `28s / 30s`, or `28s`.
pub fn took(duration_ms: u64, expected_ms: Option<u64>) -> String {
    match expected_ms {
        Some(e) => format!("{} / {}", duration(duration_ms), duration(e)),
        None => duration(duration_ms),
    }
}

/// A resumed session: `resumed: 2 step(s) already done; failed last time: a, b; copy was
/// interrupted — outcome unknown` (the last two parts only when they apply).
pub fn resumed(done: usize, interrupted: Option<&str>, failed_before: &[String]) -> String {
    let mut s = format!("resumed: {} already done", count(done as u64, "step"));
    if !failed_before.is_empty() {
        s.push_str(&format!("; failed last time: {}", failed_before.join(", ")));
    }
    if let Some(i) = interrupted {
        s.push_str(&format!("; {i} was interrupted — outcome unknown"));
    }
    s
}

/// A restored step state in words: `passed`, `skipped`, `marked done`, `failed`,
/// `interrupted` (the journal's `marked_done` without its underscore).
pub fn state_word(state: StepState) -> &'static str {
    match state {
        StepState::MarkedDone => "marked done",
        other => other.as_str(),
    }
}

/// The typed text was not the confirm step's word: `go-no-go: that is not the confirmation
/// word`.
pub fn confirm_rejected(id: &str) -> String {
    format!("{id}: that is not the confirmation word")
}

/// How a step attempt ended, as the verb of a sentence about the step: `passed`, `failed`,
/// `timed out`, `was cancelled`.
pub fn outcome_word(outcome: StepOutcome) -> &'static str {
    match outcome {
        StepOutcome::Passed => "passed",
        StepOutcome::Failed => "failed",
        StepOutcome::TimedOut => "timed out",
        StepOutcome::Cancelled => "was cancelled",
    }
}

/// A finished step attempt: `copy passed in 28s / 30s`, or `copy timed out after 1s: why`
/// (the message as the engine gave it; empty when it gave none).
pub fn step_finished(
    id: &str,
    outcome: StepOutcome,
    duration_ms: u64,
    expected_ms: Option<u64>,
    message: Option<&str>,
) -> String {
    let took = took(duration_ms, expected_ms);
    if outcome.is_ok() {
        format!("{id} passed in {took}")
    } else {
        let word = outcome_word(outcome);
        format!("{id} {word} after {took}: {}", message.unwrap_or(""))
    }
}

/// Where a step's whole output was written: `full output: /j/run.out/02-copy.1.log`.
pub fn full_output(path: &str) -> String {
    format!("full output: {path}")
}

/// Why a step that was running when the operator ended the run shows as cancelled: it did
/// not fail, the run was ended under it (`reason`: what the operator gave, e.g. quitting).
/// What was stopped (a process group, a query, a wait) is the step's own end message.
pub fn ended_under_step(reason: Option<&str>) -> String {
    match reason {
        Some(r) => format!("the operator ended the run ({r}) while it ran"),
        None => "the operator ended the run while it ran".to_string(),
    }
}

/// What the operator did, without who or to which step: `skipped: copied by hand`,
/// `confirmed the ROLLBACK`... `None` for the actions that need no words of their own (run,
/// retry, confirm: the step's own events tell what follows).
pub fn operator_action(action: &OperatorAction) -> Option<String> {
    Some(match action {
        OperatorAction::Run | OperatorAction::Confirm | OperatorAction::Retry => return None,
        OperatorAction::Skip { reason } => format!("skipped: {reason}"),
        OperatorAction::MarkDone { reason } => format!("marked done: {reason}"),
        OperatorAction::Cancel => "cancelled — its process group is being killed".to_string(),
        OperatorAction::Abort { reason } => match reason {
            Some(r) => format!("aborted: {r}"),
            None => "aborted".to_string(),
        },
        OperatorAction::Rollback => "confirmed the ROLLBACK".to_string(),
        OperatorAction::OverridePreflight { reason } => {
            format!("started although preflight failed: {reason}")
        }
        OperatorAction::Approve {
            role,
            name,
            from,
            claimed,
        } => match claimed {
            Some(c) => {
                format!("signed off as {role}: {name} (from {from}; claimed, unverified: {c})")
            }
            None => format!("signed off as {role}: {name} (from {from})"),
        },
        OperatorAction::SkipRollback { reason } => format!("rollback action skipped: {reason}"),
        OperatorAction::CancelCountdown { trigger } => {
            format!("cancelled the rollback countdown of {trigger}")
        }
        OperatorAction::StopInterrupted { pid } => {
            format!("stopped process group {pid}, left running by the earlier session")
        }
        OperatorAction::AcceptChangedRunbook {
            old_sha256,
            new_sha256,
        } => format!("accepted the changed runbook ({old_sha256:.12} → {new_sha256:.12})"),
        OperatorAction::AcceptChangedVars { changes } => {
            format!("accepted changed vars: {}", changes.join("; "))
        }
    })
}

/// An operator action in full: `copy skipped: copied by hand (by dba)`; without a step,
/// `aborted (by dba)`. `None` where [`operator_action`] has no words.
pub fn operator(step: Option<&str>, action: &OperatorAction, by: &str) -> Option<String> {
    let what = operator_action(action)?;
    Some(match step {
        Some(s) => format!("{s} {what} (by {by})"),
        None => format!("{what} (by {by})"),
    })
}

/// The rollback plan starts running: `ROLLBACK started by dba: 3 step(s) in the plan`.
pub fn rollback_started(plan: &RollbackPlan, by: &str) -> String {
    format!(
        "ROLLBACK started by {by}: {} in the plan",
        count(plan.entries.len() as u64, "step")
    )
}

/// Why a rollback plan stops early: `point of no return crossed at switch: steps up to it are
/// not rolled back`.
pub fn ponr_crossed(ponr: &PonrCrossed) -> String {
    format!(
        "point of no return crossed at {}: steps up to it are not rolled back",
        ponr.id
    )
}

/// One entry of a rollback plan: `copy (passed): psql -c 'drop table x'`, or `copy (passed):
/// — no rollback action`.
pub fn rollback_entry(entry: &RollbackEntry) -> String {
    let what = entry.action.as_deref().unwrap_or("— no rollback action");
    format!("{} ({}): {what}", entry.id, entry.state)
}

/// A rollback action starts: `rolling back copy`.
pub fn rollback_action_started(id: &str) -> String {
    format!("rolling back {id}")
}

/// A rollback action ended: `rolled back copy in 2s`, or `rollback of copy did not pass after
/// 2s: why`.
pub fn rollback_action_finished(
    id: &str,
    outcome: StepOutcome,
    duration_ms: u64,
    message: Option<&str>,
) -> String {
    let took = duration(duration_ms);
    if outcome.is_ok() {
        format!("rolled back {id} in {took}")
    } else {
        format!(
            "rollback of {id} did not pass after {took}: {}",
            message.unwrap_or("")
        )
    }
}

/// The rollback ended: `rollback completed`, or `rollback NOT completed: see the journal`.
pub fn rollback_finished(completed: bool) -> &'static str {
    if completed {
        "rollback completed"
    } else {
        "rollback NOT completed: see the journal"
    }
}

/// A trigger's condition was met, what it saw: `TRIGGER lag runaway: 300 MB for 61s`.
pub fn trigger(name: &str, message: &str) -> String {
    format!("TRIGGER {name}: {message}")
}

/// A trigger fired, and what happens now: `TRIGGER lag runaway: 300 MB for 61s — automatic
/// rollback in 30s`, or `… — review the rollback plan` for a trigger that only alerts.
pub fn trigger_fired(name: &str, message: &str, countdown_ms: Option<u64>) -> String {
    let then = match countdown_ms {
        Some(ms) => format!("automatic rollback in {}", duration(ms)),
        None => "review the rollback plan".to_string(),
    };
    format!("{} — {then}", trigger(name, message))
}

/// A trigger's automatic rollback will not happen: `automatic rollback of trigger lag runaway
/// cancelled by dba`.
pub fn countdown_cancelled(name: &str, by: &str) -> String {
    format!("automatic rollback of trigger {name} cancelled by {by}")
}

/// How the run ended: `run completed`, `run rolled back`, `run aborted`.
pub fn run_finished(outcome: RunOutcome) -> &'static str {
    match outcome {
        RunOutcome::Completed => "run completed",
        RunOutcome::RolledBack => "run rolled back",
        RunOutcome::RolledBackPartly => {
            "run rolled back, with rollback actions skipped: undo them by hand"
        }
        RunOutcome::Aborted => "run aborted",
        RunOutcome::NotStarted => "run not started: preflight failed",
    }
}

/// Preflight's verdict in one line: `preflight: 12 checks passed`, `preflight: 12 checks, 1
/// warning`, `preflight: 2 of 12 checks stop the run before step 1`.
pub fn preflight(findings: &[crate::preflight::Finding]) -> String {
    use crate::preflight::Verdict;
    let of = |v: Verdict| findings.iter().filter(|f| f.verdict == v).count() as u64;
    let (failed, warned) = (of(Verdict::Fail), of(Verdict::Warn));
    let total = count(findings.len() as u64, "check");
    match (failed, warned) {
        (0, 0) => format!("preflight: {total} passed"),
        (0, w) => format!("preflight: {total}, {}", count(w, "warning")),
        (f, _) => format!(
            "preflight: {f} of {total} stop the run before step 1 — start anyway only with a reason"
        ),
    }
}

/// The steps that passed in this session: `3 step(s) passed this session`.
pub fn passed_this_session(passed: usize) -> String {
    format!("{} passed this session", count(passed as u64, "step"))
}

/// Bytes in the unit that reads best: `512 B`, `8.0 kB`, `12.5 MB`, `3.2 GB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `n` and the noun, singular or plural: `1 row`, `2 rows`, `0 steps`.
pub fn count(n: impl Into<u64>, noun: &str) -> String {
    let n = n.into();
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// How to pick an ended run up again: `resume with cutover run --resume run.jsonl`.
pub fn resume_hint(journal: &str) -> String {
    format!("resume with cutover run --resume {journal}")
}

/// A terminal of a detached run came, went, or took control: `alice@db-admin (ssh from
/// 10.0.0.5) attached, in control`.
pub fn client(
    change: crate::protocol::ClientChange,
    role: crate::protocol::ClientRole,
    who: &crate::protocol::Operator,
    from: Option<&crate::protocol::Operator>,
    on_purpose: Option<bool>,
) -> String {
    use crate::protocol::{ClientChange, ClientRole};
    let role = match role {
        ClientRole::Control => "in control",
        ClientRole::Watch => "watching",
    };
    match change {
        ClientChange::Attached => format!("{} attached, {role}", operator_at(who)),
        ClientChange::Detached => match on_purpose {
            Some(true) => format!("{} detached on purpose ({role} before)", operator_at(who)),
            Some(false) => format!(
                "{} lost the terminal ({role} before): the run goes on without it",
                operator_at(who)
            ),
            None => format!("{} detached ({role} before)", operator_at(who)),
        },
        ClientChange::TookOver => match from {
            Some(f) => format!("{} took control from {}", operator_at(who), operator_at(f)),
            None => format!("{} took control", operator_at(who)),
        },
    }
}

/// Who and from where, in a line: `alice@db-admin (ssh from 10.0.0.5)`. For a terminal on
/// the engine's socket the user is the kernel's word, the origin is its login's (utmp) when
/// known, and an address it only claims says so: `alice (from 10.0.0.5)`,
/// `alice (claims ssh from 10.9.9.9)`, `alice on pts/3`. [`origin`] and [`claimed`] give the
/// whole record.
pub fn operator_at(o: &crate::protocol::Operator) -> String {
    if let Some(p) = &o.peer {
        let said = o
            .ssh_client
            .as_deref()
            .and_then(|s| s.split_whitespace().next());
        return match (&p.login_from, said) {
            (Some(from), Some(a)) if a != from => {
                format!("{} (from {from}; claims ssh from {a})", o.user)
            }
            (Some(from), _) => format!("{} (from {from})", o.user),
            (None, Some(a)) => format!("{} (claims ssh from {a})", o.user),
            (None, None) => match &p.tty {
                Some(t) => format!("{} on {t}", o.user),
                None => format!("{} (pid {})", o.user, p.pid.unwrap_or_default()),
            },
        };
    }
    match o
        .ssh_client
        .as_deref()
        .and_then(|s| s.split_whitespace().next())
    {
        Some(addr) => format!("{}@{} (ssh from {addr})", o.user, o.host),
        None => format!("{}@{}", o.user, o.host),
    }
}

/// Where an operator was, as far as it is a fact: the kernel's word on a socket peer (uid,
/// pid, terminal, the origin of that terminal's login), else this process's `SSH_CLIENT`
/// address, else the host.
pub fn origin(o: &crate::protocol::Operator) -> String {
    let Some(p) = &o.peer else {
        return o.ssh_client.clone().unwrap_or_else(|| o.host.clone());
    };
    let mut parts = vec![format!("uid {}", p.uid)];
    if let Some(pid) = p.pid {
        parts.push(format!("pid {pid}"));
    }
    match (&p.tty, &p.login_from) {
        (Some(t), Some(f)) => parts.push(format!("{t}, login from {f}")),
        (Some(t), None) => parts.push(format!("{t}, a local login")),
        (None, _) => parts.push("no terminal".into()),
    }
    parts.join(", ")
}

/// What a socket peer said about itself (its `SSH_CLIENT` address and host), which nothing
/// vouches for; `None` for the run's own process.
pub fn claimed(o: &crate::protocol::Operator) -> Option<String> {
    o.peer.as_ref()?;
    let addr = o
        .ssh_client
        .as_deref()
        .and_then(|s| s.split_whitespace().next());
    Some(match addr {
        Some(a) => format!("ssh from {a}, host {}", o.host),
        None => format!("host {}", o.host),
    })
}

/// A repair step's patch in one line: saved and waiting, or applied with its stale rows.
pub fn repair(r: &crate::protocol::RepairRecord) -> String {
    if !r.applied {
        return format!(
            "repair patch {} (sha256 {}): {} for check {}; its inverse, the step's rollback: {}. Review it, then type REPAIR to apply it",
            r.patch_file,
            r.sha256,
            r.counts(),
            r.check,
            r.inverse_file
        );
    }
    let stale = if r.stale.is_empty() {
        String::new()
    } else {
        format!(" ({})", r.stale.join("; "))
    };
    format!(
        "repair applied: {} statement(s) changed their row, {} stale{stale}; inverse {}",
        r.changed,
        r.stale.len(),
        r.inverse_file
    )
}

/// Whether `at` falls outside the maintenance window (`start`, `minutes` long), in words:
/// `the window 02:00–03:30 UTC (2026-12-05) ended 1h10m before`, `… opens 20m00 after`; `None`
/// inside it.
pub fn outside_window(
    start: chrono::DateTime<chrono::Utc>,
    minutes: u32,
    at: chrono::DateTime<chrono::Utc>,
) -> Option<String> {
    let end = start + chrono::Duration::minutes(i64::from(minutes));
    let window = format!(
        "the window {}–{} UTC ({})",
        start.format("%H:%M"),
        end.format("%H:%M"),
        start.format("%Y-%m-%d")
    );
    let gap = |a: chrono::DateTime<chrono::Utc>, b: chrono::DateTime<chrono::Utc>| {
        duration(u64::try_from((b - a).num_milliseconds()).unwrap_or(0))
    };
    if at >= end {
        Some(format!("{window} ended {} before", gap(end, at)))
    } else if at < start {
        Some(format!("{window} opens {} after", gap(at, start)))
    } else {
        None
    }
}

/// A long step's progress: `412000 / 1000000 rows · 41% · 12k rows/s · ETA 48s`; without a
/// total, `412000 rows · 12k rows/s`. `per_sec`: the rate measured so far, if any.
pub fn step_progress(done: u64, total: Option<u64>, unit: &str, per_sec: Option<f64>) -> String {
    let mut s = match total {
        Some(t) if t > 0 => format!(
            "{done} / {t} {unit} · {}%",
            (u128::from(done) * 100 / u128::from(t)).min(999)
        ),
        _ => format!("{done} {unit}"),
    };
    if let Some(r) = per_sec.filter(|r| *r > 0.0) {
        s.push_str(&format!(" · {} {unit}/s", si(r)));
        if let Some(t) = total.filter(|t| *t > done) {
            let eta_ms = ((t - done) as f64 / r * 1000.0) as u64;
            s.push_str(&format!(" · ETA {}", duration(eta_ms)));
        }
    }
    s
}

/// The rate from the first reading of a step's progress (`first`: when, how much was done) to
/// the latest (`at`, `done`), per second; none before a second has passed (it would be noise).
pub fn progress_rate(
    first: (chrono::DateTime<chrono::Utc>, u64),
    at: chrono::DateTime<chrono::Utc>,
    done: u64,
) -> Option<f64> {
    let secs = (at - first.0).num_milliseconds() as f64 / 1000.0;
    (secs >= 1.0).then(|| done.saturating_sub(first.1) as f64 / secs)
}

/// A rate as it reads best: `950`, `12k`, `1.2M`.
pub fn si(v: f64) -> String {
    match v {
        v if v >= 10_000_000.0 => format!("{:.0}M", v / 1_000_000.0),
        v if v >= 1_000_000.0 => format!("{:.1}M", v / 1_000_000.0),
        v if v >= 10_000.0 => format!("{:.0}k", v / 1000.0),
        v if v >= 1000.0 => format!("{:.1}k", v / 1000.0),
        v => format!("{v:.0}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_s_progress_says_the_share_the_rate_and_the_eta_when_it_can() {
        assert_eq!(
            step_progress(412_000, Some(1_000_000), "rows", None),
            "412000 / 1000000 rows · 41%"
        );
        assert_eq!(
            step_progress(412_000, Some(1_000_000), "rows", Some(12_250.0)),
            "412000 / 1000000 rows · 41% · 12k rows/s · ETA 48s"
        );
        assert_eq!(
            step_progress(7, None, "tables", Some(0.5)),
            "7 tables · 0 tables/s"
        );
        assert_eq!(step_progress(5, Some(0), "MB", None), "5 MB");
        // Past the total (an estimate that was low): no ETA, the share says so.
        assert_eq!(
            step_progress(1_200, Some(1_000), "rows", Some(10.0)),
            "1200 / 1000 rows · 120% · 10 rows/s"
        );
    }

    #[test]
    fn a_time_outside_the_window_says_how_far_and_inside_nothing() {
        let start = chrono::DateTime::parse_from_rfc3339("2026-12-05T02:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let at = |m: i64| start + chrono::Duration::minutes(m);
        assert_eq!(outside_window(start, 90, at(0)), None);
        assert_eq!(outside_window(start, 90, at(89)), None);
        assert_eq!(
            outside_window(start, 90, at(160)).as_deref(),
            Some("the window 02:00–03:30 UTC (2026-12-05) ended 1h10m before")
        );
        assert_eq!(
            outside_window(start, 90, at(-20)).as_deref(),
            Some("the window 02:00–03:30 UTC (2026-12-05) opens 20m00 after")
        );
    }

    /// `user` on `host`, from `ssh_client` (what `SSH_CLIENT` says), with no socket peer.
    fn someone(user: &str, ssh_client: Option<&str>, host: &str) -> crate::protocol::Operator {
        crate::protocol::Operator {
            user: user.into(),
            ssh_client: ssh_client.map(str::to_string),
            host: host.into(),
            peer: None,
        }
    }

    #[test]
    fn a_socket_peer_is_named_by_what_the_kernel_says_and_its_claims_are_labelled() {
        let mut o = crate::protocol::Operator {
            peer: Some(crate::protocol::PeerFacts {
                uid: 1000,
                pid: Some(4242),
                tty: Some("pts/3".into()),
                login_from: Some("10.0.0.5".into()),
            }),
            ..someone("alice", Some("10.9.9.9 5000 22"), "laptop")
        };
        assert_eq!(
            operator_at(&o),
            "alice (from 10.0.0.5; claims ssh from 10.9.9.9)"
        );
        assert_eq!(origin(&o), "uid 1000, pid 4242, pts/3, login from 10.0.0.5");
        assert_eq!(
            claimed(&o).as_deref(),
            Some("ssh from 10.9.9.9, host laptop")
        );
        if let Some(p) = o.peer.as_mut() {
            p.login_from = None;
        }
        assert_eq!(operator_at(&o), "alice (claims ssh from 10.9.9.9)");
        o.ssh_client = None;
        assert_eq!(operator_at(&o), "alice on pts/3");
        o.peer = None;
        assert_eq!(operator_at(&o), "alice@laptop");
        assert_eq!(claimed(&o), None);
    }
    use chrono::{TimeZone, Utc};

    fn entry(id: &str, state: StepState, action: Option<&str>) -> RollbackEntry {
        RollbackEntry {
            index: 0,
            id: id.into(),
            title: format!("the {id} step"),
            state,
            action: action.map(str::to_string),
        }
    }

    fn plan(entries: Vec<RollbackEntry>) -> RollbackPlan {
        RollbackPlan {
            entries,
            point_of_no_return: None,
        }
    }

    #[test]
    fn durations_are_written_like_the_runbook_writes_them() {
        assert_eq!(
            [850, 0, 4_000, 62_000].map(duration),
            ["850ms", "0ms", "4s", "1m02"]
        );
        assert_eq!(took(28_000, Some(30_000)), "28s / 30s");
        assert_eq!(took(28_000, None), "28s");
    }

    #[test]
    fn resumed_says_what_applies() {
        assert_eq!(resumed(0, None, &[]), "resumed: 0 steps already done");
        assert_eq!(resumed(1, None, &[]), "resumed: 1 step already done");
        assert_eq!(
            resumed(2, Some("copy"), &[]),
            "resumed: 2 steps already done; copy was interrupted — outcome unknown"
        );
        assert_eq!(
            resumed(2, Some("copy"), &["a".into(), "b".into()]),
            "resumed: 2 steps already done; failed last time: a, b; \
             copy was interrupted — outcome unknown"
        );
        assert_eq!(
            resumed(3, None, &["a".into()]),
            "resumed: 3 steps already done; failed last time: a"
        );
    }

    #[test]
    fn states_in_words() {
        use StepState::*;
        assert_eq!(
            [Passed, Skipped, MarkedDone, Failed, Interrupted].map(state_word),
            ["passed", "skipped", "marked done", "failed", "interrupted"]
        );
    }

    #[test]
    fn confirm_rejected_names_the_step() {
        assert_eq!(
            confirm_rejected("go-no-go"),
            "go-no-go: that is not the confirmation word"
        );
    }

    #[test]
    fn outcomes_as_verbs() {
        use StepOutcome::*;
        assert_eq!(
            [Passed, Failed, TimedOut, Cancelled].map(outcome_word),
            ["passed", "failed", "timed out", "was cancelled"]
        );
    }

    #[test]
    fn finished_steps() {
        use StepOutcome::*;
        assert_eq!(
            [
                step_finished("copy", Passed, 28_000, Some(30_000), None),
                step_finished("copy", Passed, 850, None, Some("ignored")),
                step_finished("bad", Failed, 1_000, None, Some("exit 1")),
                step_finished("nap", TimedOut, 1_000, Some(2_000), None),
                step_finished("nap", Cancelled, 3_000, None, Some("stopped")),
            ],
            [
                "copy passed in 28s / 30s",
                "copy passed in 850ms",
                "bad failed after 1s: exit 1",
                "nap timed out after 1s / 2s: ",
                "nap was cancelled after 3s: stopped",
            ]
        );
        assert_eq!(
            full_output("/j/run.out/02-copy.1.log"),
            "full output: /j/run.out/02-copy.1.log"
        );
    }

    #[test]
    fn operator_actions() {
        let words = |a: OperatorAction| operator_action(&a);
        assert_eq!(words(OperatorAction::Run), None);
        assert_eq!(words(OperatorAction::Retry), None);
        assert_eq!(words(OperatorAction::Confirm), None);
        assert_eq!(
            words(OperatorAction::Skip {
                reason: "copied by hand".into()
            })
            .as_deref(),
            Some("skipped: copied by hand")
        );
        assert_eq!(
            words(OperatorAction::MarkDone {
                reason: "it ran".into()
            })
            .as_deref(),
            Some("marked done: it ran")
        );
        assert_eq!(
            words(OperatorAction::Cancel).as_deref(),
            Some("cancelled — its process group is being killed")
        );
        assert_eq!(
            words(OperatorAction::Abort { reason: None }).as_deref(),
            Some("aborted")
        );
        assert_eq!(
            words(OperatorAction::Abort {
                reason: Some("window closed".into())
            })
            .as_deref(),
            Some("aborted: window closed")
        );
        assert_eq!(
            words(OperatorAction::Rollback).as_deref(),
            Some("confirmed the ROLLBACK")
        );
        assert_eq!(
            words(OperatorAction::SkipRollback {
                reason: "undone by hand".into()
            })
            .as_deref(),
            Some("rollback action skipped: undone by hand")
        );
        assert_eq!(
            words(OperatorAction::CancelCountdown {
                trigger: "lag runaway".into()
            })
            .as_deref(),
            Some("cancelled the rollback countdown of lag runaway")
        );
        assert_eq!(
            words(OperatorAction::AcceptChangedRunbook {
                old_sha256: "0123456789abcdef".into(),
                new_sha256: "fedcba9876543210".into(),
            })
            .as_deref(),
            Some("accepted the changed runbook (0123456789ab → fedcba987654)")
        );
    }

    #[test]
    fn operator_lines_say_who() {
        let skip = OperatorAction::Skip {
            reason: "copied by hand".into(),
        };
        assert_eq!(
            operator(Some("copy"), &skip, "dba").as_deref(),
            Some("copy skipped: copied by hand (by dba)")
        );
        assert_eq!(
            operator(None, &OperatorAction::Abort { reason: None }, "dba").as_deref(),
            Some("aborted (by dba)")
        );
        assert_eq!(operator(Some("copy"), &OperatorAction::Run, "dba"), None);
    }

    #[test]
    fn rollback_phrases() {
        let p = plan(vec![
            entry("copy", StepState::Passed, Some("echo undo")),
            entry("preflight", StepState::MarkedDone, None),
        ]);
        assert_eq!(
            rollback_started(&p, "dba"),
            "ROLLBACK started by dba: 2 steps in the plan"
        );
        assert_eq!(
            rollback_started(&plan(vec![]), "trigger lag runaway"),
            "ROLLBACK started by trigger lag runaway: 0 steps in the plan"
        );
        assert_eq!(rollback_entry(&p.entries[0]), "copy (passed): echo undo");
        assert_eq!(
            rollback_entry(&p.entries[1]),
            "preflight (marked_done): — no rollback action"
        );
        let ponr = PonrCrossed {
            index: 3,
            id: "switch".into(),
            text: "roll forward".into(),
            at: Utc
                .with_ymd_and_hms(2025, 1, 1, 2, 0, 0)
                .single()
                .expect("a time"),
        };
        assert_eq!(
            ponr_crossed(&ponr),
            "point of no return crossed at switch: steps up to it are not rolled back"
        );
        assert_eq!(rollback_action_started("copy"), "rolling back copy");
        assert_eq!(
            rollback_action_finished("copy", StepOutcome::Passed, 2_000, Some("ignored")),
            "rolled back copy in 2s"
        );
        assert_eq!(
            rollback_action_finished("copy", StepOutcome::Failed, 2_000, Some("exit 1")),
            "rollback of copy did not pass after 2s: exit 1"
        );
        assert_eq!(
            rollback_action_finished("copy", StepOutcome::TimedOut, 2_000, None),
            "rollback of copy did not pass after 2s: "
        );
        assert_eq!(rollback_finished(true), "rollback completed");
        assert_eq!(
            rollback_finished(false),
            "rollback NOT completed: see the journal"
        );
    }

    #[test]
    fn trigger_phrases() {
        assert_eq!(
            trigger("lag runaway", "300 MB for 61s"),
            "TRIGGER lag runaway: 300 MB for 61s"
        );
        assert_eq!(
            trigger_fired("migration failed", "step migrate failed", Some(1_000)),
            "TRIGGER migration failed: step migrate failed — automatic rollback in 1s"
        );
        assert_eq!(
            trigger_fired("window closing", "the window has closed", None),
            "TRIGGER window closing: the window has closed — review the rollback plan"
        );
        assert_eq!(
            countdown_cancelled("lag runaway", "dba"),
            "automatic rollback of trigger lag runaway cancelled by dba"
        );
    }

    #[test]
    fn run_end_phrases() {
        use RunOutcome::*;
        assert_eq!(
            [Completed, RolledBack, Aborted].map(run_finished),
            ["run completed", "run rolled back", "run aborted"]
        );
        assert_eq!(passed_this_session(0), "0 steps passed this session");
        assert_eq!(passed_this_session(1), "1 step passed this session");
        assert_eq!(
            resume_hint("run.jsonl"),
            "resume with cutover run --resume run.jsonl"
        );
    }

    #[test]
    fn terminals_are_named_with_where_they_come_from() {
        use crate::protocol::{ClientChange, ClientRole};
        let alice = someone("alice", Some("10.0.0.5 51000 22"), "db-admin");
        let bob = someone("bob", None, "db-admin");
        use ClientChange::*;
        use ClientRole::*;
        assert_eq!(
            [
                client(Attached, Control, &alice, None, None),
                client(Detached, Watch, &bob, None, None),
                client(Detached, Control, &bob, None, Some(true)),
                client(Detached, Control, &bob, None, Some(false)),
                client(TookOver, Control, &bob, Some(&alice), None),
            ],
            [
                "alice@db-admin (ssh from 10.0.0.5) attached, in control",
                "bob@db-admin detached (watching before)",
                "bob@db-admin detached on purpose (in control before)",
                "bob@db-admin lost the terminal (in control before): the run goes on without it",
                "bob@db-admin took control from alice@db-admin (ssh from 10.0.0.5)",
            ]
        );
    }

    #[test]
    fn durations_are_as_precise_as_they_are_worth() {
        assert_eq!(duration(0), "0ms");
        assert_eq!(duration(4), "4ms");
        assert_eq!(duration(999), "999ms");
        assert_eq!(duration(1_000), "1s");
        assert_eq!(duration(1_500), "1.5s");
        assert_eq!(duration(9_960), "10s");
        assert_eq!(duration(12_400), "12s");
        assert_eq!(duration(65_000), "1m05");
        assert_eq!(count(1u64, "row"), "1 row");
        assert_eq!(count(0u64, "row"), "0 rows");
    }
}
