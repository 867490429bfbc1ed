//! The report as Markdown: readable as plain text in a terminal, rendered by any Markdown
//! viewer (tables, a text timeline, a post-mortem skeleton to fill in).

use std::fmt::Write;

use super::facts::{MarkKind, Report, clock, delta_text, ms, when};
use super::svg::timeline_rows;
use cutover_model::narrate;
use cutover_model::protocol::RunOutcome;
use cutover_model::reconcile::{describe, summary as check_line};
use cutover_model::summary::text::{rollback_state, trigger_then, undo_words};

/// Text from the run (a runbook's name, a title, a sign-off's name, a message) as Markdown
/// text: one line, no terminal escape sequence (the report is often read with `cat`), and
/// every character Markdown would take for syntax escaped — a name cannot become a link, an
/// image, HTML or a table column.
pub(super) fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in cutover_model::text::plain(s).chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' | '!' | '|' | '~' | '&' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Text from the run inside a code span (a path): one line, no terminal escape, no backtick
/// (it would end the span), pipes escaped for the table it stands in.
pub(super) fn code(s: &str) -> String {
    cutover_model::text::plain(s)
        .replace(['\n', '\r'], " ")
        .replace('`', "'")
        .replace('|', "\\|")
}

/// Where the Markdown goes: read as it is, or turned into the HTML page. The few sentences
/// about how something is drawn differ; every fact is the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// Read as Markdown (a terminal, a Markdown viewer): the timeline is text.
    Markdown,
    /// The source of the HTML page: the timeline is drawn as SVG in place of the text block.
    Html,
}

/// Text the tool wrote (a message, a finding, a description) as Markdown: where it quotes a
/// name or a value between backticks (`` `echo 3` ``) that part becomes a code span (by
/// [`code`]), the rest is escaped as by [`cell`]; a backtick left without its pair stays a
/// backtick. `in_table`: the text stands in a table cell (a pipe in a code span is escaped).
pub(super) fn prose(s: &str, in_table: bool) -> String {
    let parts: Vec<&str> = s.split('`').collect();
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        let closed = i + 1 < parts.len();
        if i % 2 == 0 {
            out.push_str(&cell(part));
        } else if closed && !part.trim().is_empty() {
            let quoted = code(part);
            let quoted = if in_table {
                quoted
            } else {
                quoted.replace("\\|", "|")
            };
            out.push('`');
            out.push_str(&quoted);
            out.push('`');
        } else {
            out.push_str("\\`");
            out.push_str(&cell(part));
            if closed {
                out.push_str("\\`");
            }
        }
    }
    out
}

/// Renders the report as Markdown.
pub fn render(r: &Report) -> String {
    document(r, Target::Markdown)
}

/// Renders the report as Markdown for `target`.
pub fn document(r: &Report, target: Target) -> String {
    let mut o = String::new();
    header(&mut o, r);
    preflight(&mut o, r);
    timeline(&mut o, r, target);
    steps(&mut o, r);
    decisions(&mut o, r);
    triggers(&mut o, r);
    rollback(&mut o, r);
    repairs(&mut o, r);
    lag(&mut o, r);
    reconcile(&mut o, r);
    postmortem(&mut o, r);
    o
}

/// The title, the incomplete-record warning, and the table of who, what, when.
fn header(o: &mut String, r: &Report) {
    let s = &r.summary;
    let _ = writeln!(o, "# {} — run report\n", cell(&s.name));
    if r.incomplete {
        let _ = writeln!(
            o,
            "> **Incomplete record**: the journal ends before the run did (a crash, a lost \
             engine or a cut-off file){}. Everything below is what it holds.\n",
            r.torn_bytes.map_or(String::new(), |b| format!(
                "; a torn last record of {b} bytes is left out"
            ))
        );
    }
    let _ = writeln!(o, "| | |\n|---|---|");
    let _ = writeln!(o, "| Outcome | **{}** |", cell(&r.outcome()));
    let _ = writeln!(
        o,
        "| Runbook | `{}` · sha256 `{}` |",
        code(&s.runbook),
        code(s.sha256.get(..16).unwrap_or(&s.sha256))
    );
    let _ = writeln!(o, "| Journal | `{}` |", code(&s.journal));
    for (who, at) in &s.sessions {
        let _ = writeln!(
            o,
            "| Session | {} · started {} |",
            cell(&narrate::operator_at(who)),
            when(*at)
        );
    }
    if let Some((start, minutes)) = s.window {
        let _ = writeln!(o, "| Window | {} for {minutes} min |", when(Some(start)));
    }
    let _ = writeln!(o, "| Started | {} |", when(s.started_at));
    let _ = writeln!(o, "| Ended | {} |", when(s.ended_at));
    let _ = writeln!(
        o,
        "| Took | {} against a plan of {} |\n",
        ms(r.elapsed_ms),
        ms((r.planned_ms > 0).then_some(r.planned_ms))
    );
}

/// The timeline: text rows (the HTML page draws it in their place).
fn timeline(o: &mut String, r: &Report, target: Target) {
    let _ = writeln!(o, "## Timeline\n");
    let _ = writeln!(o, "{}\n", timeline_legend(target));
    let _ = writeln!(o, "```text");
    for row in timeline_rows(r, 48) {
        let _ = writeln!(o, "{row}");
    }
    let _ = writeln!(o, "```\n");
}

/// One row per step: state, attempts, times against the plan, what went wrong, the output.
fn steps(o: &mut String, r: &Report) {
    let _ = writeln!(o, "## Steps\n");
    let _ = writeln!(
        o,
        "| # | Step | State | Attempts | Actual | Planned | Delta | Detail | Output |\n|---|---|---|---|---|---|---|---|---|"
    );
    for st in &r.summary.steps {
        let mut detail = st.message.clone().unwrap_or_default();
        if let Some(p) = &st.point_of_no_return {
            detail = if detail.is_empty() {
                format!("⚑ point of no return: {p}")
            } else {
                format!("⚑ point of no return: {p} · {detail}")
            };
        }
        let _ = writeln!(
            o,
            "| {} | {} | {} {} | {} | {} | {} | {} | {} | {} |",
            st.index + 1,
            cell(&st.id),
            st.ended.glyph(),
            st.ended.word(),
            st.attempts,
            ms(st.actual_ms),
            ms(st.expected_ms),
            delta_text(st),
            prose(detail.trim(), true),
            st.output_file
                .as_deref()
                .map_or(String::new(), |f| format!("`{}`", code(f)))
        );
    }
    o.push('\n');
}

/// The operators' decisions, with who and when, and the terminals that came, went (on purpose
/// or lost) and took the controls, with who and from where, in the order they happened.
fn decisions(o: &mut String, r: &Report) {
    let s = &r.summary;
    let mut rows: Vec<(Option<chrono::DateTime<chrono::Utc>>, String, String)> = s
        .decisions
        .iter()
        .filter_map(|d| Some((Some(d.at), d.by.clone(), d.words()?)))
        .collect();
    rows.extend(s.clients.iter().map(|c| {
        let who = narrate::operator_at(&c.who);
        // The words start with who; the table has them in their own column.
        let words = c.words();
        let what = words.strip_prefix(&who).unwrap_or(&words).trim_start();
        (c.at, who, what.to_string())
    }));
    if rows.is_empty() {
        return;
    }
    // Stable: a decision and a terminal's note of the same second keep the journal's order.
    rows.sort_by_key(|(at, ..)| *at);
    let _ = writeln!(o, "## Decisions\n\n| Time | Who | What |\n|---|---|---|");
    for (at, by, what) in &rows {
        let at = at.map_or("—".to_string(), clock);
        let _ = writeln!(o, "| {at} | {} | {} |", cell(by), cell(what));
    }
    o.push('\n');
}

/// The triggers that fired and what followed.
fn triggers(o: &mut String, r: &Report) {
    let s = &r.summary;
    if s.triggers.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "## Triggers\n\n| Time | Trigger | Condition | Then |\n|---|---|---|---|"
    );
    for f in &s.triggers {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            clock(f.at),
            cell(&f.name),
            prose(&f.message, true),
            prose(&trigger_then(f), true)
        );
    }
    o.push('\n');
}

/// The rollback: who started it and when, each action, and what is left to undo by hand.
fn rollback(o: &mut String, r: &Report) {
    let s = &r.summary;
    let Some(rb) = &s.rollback else { return };
    let _ = writeln!(
        o,
        "## Rollback\n\nStarted by {}{} · {}.\n\n| # | Step | Undo |\n|---|---|---|",
        cell(&rb.by),
        r.rollback_started_at
            .map_or(String::new(), |t| format!(" at {}", clock(t))),
        rollback_state(rb.completed)
    );
    for st in s.steps.iter().rev() {
        if let Some(u) = &st.undo {
            let _ = writeln!(
                o,
                "| {} | {} | {} |",
                st.index + 1,
                cell(&st.id),
                prose(&undo_words(u), true)
            );
        }
    }
    let by_hand = s.undo_by_hand();
    if !by_hand.is_empty() {
        let _ = writeln!(o, "\n**Undo by hand:**\n");
        for (st, why) in by_hand {
            let _ = writeln!(
                o,
                "- {} {}: {}",
                st.index + 1,
                cell(&st.id),
                prose(&why, false)
            );
        }
    }
    o.push('\n');
}

/// How to read the timeline, as it is drawn for `target`.
fn timeline_legend(target: Target) -> &'static str {
    match target {
        Target::Markdown => {
            "Planned (`·`) and actual (`█`) per step, from the run's start; the glyph after \
             each row is the step's state."
        }
        Target::Html => {
            "Planned (dashed outline) and actual (filled, coloured by the step's state) per \
             step, from the run's start; ⚑ marks the point of no return."
        }
    }
}

/// What preflight found before step 1: its verdict, and every finding.
fn preflight(o: &mut String, r: &Report) {
    let found = &r.summary.preflight;
    if found.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "## Preflight\n\n{}\n",
        prose(&narrate::preflight(found), false)
    );
    let _ = writeln!(o, "| | Checked | Found |\n|---|---|---|");
    for f in found {
        let _ = writeln!(
            o,
            "| {} | {} | {} |",
            f.glyph(),
            cell(&f.what),
            prose(&f.detail, true)
        );
    }
    let _ = writeln!(o);
}

/// The repair steps' patches: what each held, whether it applied, its stale rows, the files.
fn repairs(o: &mut String, r: &Report) {
    let all = &r.summary.repairs;
    if all.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Repairs\n");
    let _ = writeln!(
        o,
        "| Step | Check | Patch | Applied | Stale rows | Files |\n|---|---|---|---|---|---|"
    );
    for (id, rep) in all {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | `{}` (sha256 `{}`) · inverse `{}` |",
            cell(id),
            cell(&rep.check),
            cell(&rep.counts()),
            if rep.applied {
                format!(
                    "yes, {} changed{}",
                    rep.changed,
                    if rep.undone {
                        ", undone by the rollback"
                    } else {
                        ""
                    }
                )
            } else {
                "no".into()
            },
            if rep.stale.is_empty() {
                "none".to_string()
            } else {
                cell(&rep.stale.join("; "))
            },
            code(&rep.patch_file),
            code(&rep.sha256),
            code(&rep.inverse_file)
        );
    }
    for (_, rep) in all {
        for n in &rep.notes {
            let _ = writeln!(o, "\n- {}", prose(n, false));
        }
    }
    let _ = writeln!(o);
}

fn lag(o: &mut String, r: &Report) {
    let l = &r.summary.lag;
    let Some(info) = &l.info else { return };
    let show = |v: f64| cutover_model::lag::show(v, info.unit);
    let _ = writeln!(o, "## Lag\n\n{}.\n", prose(&info.description, false));
    match (l.peak(), l.points.last()) {
        (Some(peak), Some(last)) => {
            let _ = writeln!(
                o,
                "- {} readings kept; peak **{}** at {}; last {} at {}.",
                l.points.len(),
                show(peak.value),
                clock(peak.at),
                show(last.value),
                clock(last.at)
            );
        }
        _ => {
            let _ = writeln!(o, "- No reading was kept.");
        }
    }
    let thresholds: Vec<String> = [("warn", info.warn), ("critical", info.critical)]
        .iter()
        .filter_map(|(n, v)| v.map(|v| format!("{n} {}", show(v))))
        .collect();
    if !thresholds.is_empty() {
        let over = info
            .warn
            .map_or(0, |w| l.points.iter().filter(|p| p.value > w).count());
        let _ = writeln!(
            o,
            "- Thresholds: {}; {over} of the kept readings above warn.",
            thresholds.join(", ")
        );
    }
    for m in r.marks() {
        let what = match &m.kind {
            MarkKind::Trigger { name } => format!("Trigger {} fired", cell(name)),
            MarkKind::Rollback => "The rollback began".to_string(),
        };
        let _ = writeln!(o, "- {what} at {}.", clock(m.at));
    }
    for (from, to) in &l.stale {
        let _ = writeln!(
            o,
            "- Probe failing from {}{}.",
            clock(*from),
            to.map_or(" to the end of the record".to_string(), |t| format!(
                " to {}",
                clock(t)
            ))
        );
    }
    o.push('\n');
}

fn reconcile(o: &mut String, r: &Report) {
    let checks = &r.summary.reconcile;
    if checks.is_empty() {
        return;
    }
    let _ = writeln!(
        o,
        "## Reconciliation\n\n| Check | Rounds | Passed | Last result |\n|---|---|---|---|"
    );
    for (name, c) in checks {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} |",
            cell(name),
            c.rounds,
            c.passed,
            prose(&check_line(&c.latest), true)
        );
    }
    for c in checks.values() {
        let res = &c.latest;
        if res.mismatches.is_empty() && res.notes.is_empty() && res.hashing.is_empty() {
            continue;
        }
        let _ = writeln!(o, "\n### {}\n", cell(&res.name));
        if let Some(v) = &res.verdict {
            let _ = writeln!(
                o,
                "Mismatching rows {} (max {}{}): {}.\n",
                v.mismatch_rows,
                v.max_mismatch_rows,
                v.max_mismatch_pct
                    .map_or(String::new(), |p| format!(", or {p}%")),
                if v.within {
                    "within the threshold"
                } else {
                    "over the threshold"
                }
            );
        }
        for m in res.mismatches.iter().take(20) {
            let _ = writeln!(o, "- `{}`", describe(m, &res.key_columns).replace('`', "'"));
        }
        if res.mismatch_total > 20 {
            let _ = writeln!(o, "- … {} more", res.mismatch_total - 20);
        }
        for n in &res.notes {
            let _ = writeln!(o, "- note: {}", prose(n, false));
        }
        if let Some(h) = hashing_words(&res.hashing) {
            let _ = writeln!(o, "- hashing: {}", cell(&h));
        }
    }
    o.push('\n');
}

/// How a checksum's columns were hashed, in a line: `native: id, amount, at; by text: q
/// (types differ …)` (so a reviewer sees why two servers were compared the way they were).
fn hashing_words(h: &[cutover_model::reconcile::ColumnHashing]) -> Option<String> {
    use cutover_model::reconcile::HashMode;
    if h.is_empty() {
        return None;
    }
    let native: Vec<&str> = h
        .iter()
        .filter(|c| c.mode == HashMode::Native)
        .map(|c| c.column.as_str())
        .collect();
    let text: Vec<String> = h
        .iter()
        .filter(|c| c.mode == HashMode::Text)
        .map(|c| match &c.why {
            Some(w) => format!("{} ({w})", c.column),
            None => c.column.clone(),
        })
        .collect();
    let mut parts = Vec::new();
    if !native.is_empty() {
        parts.push(format!(
            "native (each type's own hash): {}",
            native.join(", ")
        ));
    }
    if !text.is_empty() {
        parts.push(format!("by text: {}", text.join("; ")));
    }
    Some(parts.join(" · "))
}

/// The post-mortem skeleton, filled with the facts: what happened, how it was detected, the
/// impact, the action items (and a blank one).
fn postmortem(o: &mut String, r: &Report) {
    let _ = writeln!(o, "## Post-mortem (to complete)\n");
    what_happened(o, r);
    detection(o, r);
    impact(o, r);
    action_items(o, r);
}

fn what_happened(o: &mut String, r: &Report) {
    let s = &r.summary;
    let _ = writeln!(o, "### What happened\n");
    let words = cutover_model::summary::text::outcome(s.outcome);
    let _ = writeln!(
        o,
        "{} ({}), {} against a plan of {}.",
        match s.outcome {
            // "The run rolled back", but "The run: not finished (the record ends here)".
            Some(RunOutcome::Completed | RunOutcome::RolledBack | RunOutcome::Aborted) => {
                format!("The run {words}")
            }
            _ => format!("The run: {words}"),
        },
        r.exit_code.map_or(
            "no exit code: the record is incomplete".into(),
            |c| format!("exit {c}")
        ),
        ms(r.elapsed_ms),
        ms((r.planned_ms > 0).then_some(r.planned_ms))
    );
    // A terminal lost mid-run is part of the story (the run went on without it).
    for c in r
        .summary
        .clients
        .iter()
        .filter(|c| c.on_purpose == Some(false))
    {
        let _ = writeln!(
            o,
            "- {}: {}.",
            c.at.map_or("—".to_string(), clock),
            cell(&c.words())
        );
    }
    for st in r.troubled() {
        let _ = writeln!(
            o,
            "- Step {} {} {}{}.",
            st.index + 1,
            cell(&st.id),
            st.ended.word(),
            st.message
                .as_deref()
                .map_or(String::new(), |m| format!(": {}", prose(m, false)))
        );
    }
}

fn detection(o: &mut String, r: &Report) {
    let s = &r.summary;
    let _ = writeln!(o, "\n### Detection\n");
    if s.triggers.is_empty() && r.troubled().is_empty() {
        let _ = writeln!(o, "Nothing fired; no step failed.");
    }
    for f in &s.triggers {
        let _ = writeln!(
            o,
            "- {} trigger {}: {}.",
            clock(f.at),
            cell(&f.name),
            prose(&f.message, false)
        );
    }
    for c in s.reconcile.values().filter(|c| !c.latest.passed()) {
        let _ = writeln!(
            o,
            "- Reconcile {}: {}.",
            cell(&c.latest.name),
            prose(&check_line(&c.latest), false)
        );
    }
}

fn impact(o: &mut String, r: &Report) {
    let s = &r.summary;
    let _ = writeln!(o, "\n### Impact\n");
    let over = match (r.elapsed_ms, r.planned_ms) {
        (Some(e), p) if p > 0 && e > p => Some(e - p),
        _ => None,
    };
    if let Some(d) = over {
        let _ = writeln!(o, "- {} over the plan.", narrate::duration(d));
    }
    if over.is_none() && r.over_plan().is_empty() && s.undo_by_hand().is_empty() {
        let _ = writeln!(
            o,
            "None recorded: within the plan, nothing left to undo by hand."
        );
    }
    for st in r.over_plan() {
        let _ = writeln!(
            o,
            "- {} took {} against {} planned ({}).",
            cell(&st.id),
            ms(st.actual_ms),
            ms(st.expected_ms),
            delta_text(st)
        );
    }
    for (st, why) in s.undo_by_hand() {
        let _ = writeln!(
            o,
            "- {} is left to undo by hand: {}.",
            cell(&st.id),
            prose(&why, false)
        );
    }
}

fn action_items(o: &mut String, r: &Report) {
    let _ = writeln!(o, "\n### Action items\n");
    for st in r.troubled() {
        let _ = writeln!(o, "- [ ] {}", action_item(&r.summary, st));
    }
    for st in r.over_plan() {
        let _ = writeln!(
            o,
            "- [ ] Re-plan {} (`expected` {} → measured {}).",
            cell(&st.id),
            ms(st.expected_ms),
            ms(st.actual_ms)
        );
    }
    let _ = writeln!(o, "- [ ] ");
}

/// The action item a troubled step calls for, from what happened to it: a step the operator
/// stopped (a cancel, or the `ROLLBACK` typed while it ran) has nothing of its own to find out;
/// a skipped one leaves its work to check; only a failure calls for finding out why.
fn action_item(
    s: &cutover_model::summary::RunSummary,
    st: &cutover_model::summary::StepSummary,
) -> String {
    use cutover_model::summary::Ended;
    let why = st
        .message
        .as_deref()
        .map(|m| format!(" ({})", cell(m)))
        .unwrap_or_default();
    match st.ended {
        Ended::Cancelled => match &s.rollback {
            Some(rb) => format!(
                "Review the decision to roll back while {} ran ({}): the step was stopped for it, not broken; the reason is under Decisions.",
                cell(&st.id),
                cell(&rb.by)
            ),
            None => format!(
                "{} was stopped by the operator{why}: review that decision (its reason is under Decisions); nothing in the step failed.",
                st.id
            ),
        },
        Ended::Skipped => format!(
            "{} was skipped{why}: make sure what it does was done another way, or plan it again.",
            st.id
        ),
        Ended::Interrupted => format!(
            "Find out what interrupted {} (no end was journaled: a crash, a kill or a lost host) and what it left behind.",
            st.id
        ),
        _ => format!(
            "Find out why {} {} and fix it before the next rehearsal.",
            st.id,
            st.ended.word()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::fixture;

    #[test]
    fn a_check_says_how_each_column_was_hashed() {
        use cutover_model::reconcile::{ColumnHashing, HashMode};
        let h = |c: &str, mode, why: Option<&str>| ColumnHashing {
            column: c.into(),
            mode,
            why: why.map(str::to_string),
        };
        assert_eq!(hashing_words(&[]), None);
        assert_eq!(
            hashing_words(&[
                h("id", HashMode::Native, None),
                h("at", HashMode::Native, None),
                h(
                    "q",
                    HashMode::Text,
                    Some("types differ (integer on the source, bigint on the target)")
                ),
            ])
            .as_deref(),
            Some(
                "native (each type's own hash): id, at · by text: q (types differ (integer on the source, bigint on the target))"
            )
        );
    }

    #[test]
    fn action_items_follow_from_what_happened_to_each_step() {
        use cutover_model::summary::Ended;
        let mut r = fixture::report();
        // switch failed: find out why.
        assert!(
            render(&r).contains("- [ ] Find out why switch failed and fix it"),
            "{}",
            render(&r)
        );
        // Stopped by the operator's ROLLBACK: a decision to review, nothing to find out.
        r.summary.steps[2].ended = Ended::Cancelled;
        r.summary.steps[2].message = Some("stopped by the operator".into());
        let md = render(&r);
        assert!(
            md.contains(
                "- [ ] Review the decision to roll back while switch ran (trigger lag runaway)"
            ),
            "{md}"
        );
        assert!(!md.contains("Find out why switch"), "{md}");
        // Skipped with a reason: check its work was done another way.
        r.summary.steps[2].ended = Ended::Skipped;
        r.summary.steps[2].message = Some("done by hand, OPS-7".into());
        let md = render(&r);
        crate::has(
            &md,
            "- [ ] switch was skipped (done by hand, OPS-7): make sure what it does was done another way",
        );
        // A lost terminal is in What happened and in Decisions.
        r.summary.clients.push(cutover_model::summary::ClientNote {
            at: Some(r.summary.started_at.unwrap() + chrono::Duration::seconds(5)),
            change: cutover_model::protocol::ClientChange::Detached,
            role: cutover_model::protocol::ClientRole::Control,
            who: cutover_model::protocol::Operator {
                user: "alice".into(),
                ssh_client: Some("10.0.0.5 5000 22".into()),
                host: "bastion".into(),
                peer: None,
            },
            from: None,
            on_purpose: Some(false),
        });
        let md = render(&r);
        crate::has(
            &md,
            "| alice@bastion (ssh from 10.0.0.5) | lost the terminal (in control before): the run goes on without it |",
        );
        assert!(md.contains("lost the terminal (in control before)"), "{md}");
        // And on the timeline, marked apart.
        let svg = crate::svg::timeline(&r);
        crate::has(
            &svg,
            r#"class="terminal lost"><title>02:00:05 alice@bastion (ssh from 10.0.0.5) lost the terminal"#,
        );
    }

    #[test]
    fn each_format_says_how_its_own_timeline_reads_and_nothing_about_the_other() {
        let r = fixture::report();
        let md = render(&r);
        crate::has(&md, "Planned (`·`) and actual (`█`) per step");
        let for_html = document(&r, Target::Html);
        assert!(for_html.contains("Planned (dashed outline)"), "{for_html}");
        for (text, other) in [(&md, "HTML"), (&for_html, "Markdown")] {
            assert!(!text.contains(other), "{other} in:\n{text}");
        }
        // The same facts either way: only the legend differs.
        let differ: Vec<(&str, &str)> = md
            .lines()
            .zip(for_html.lines())
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(differ.len(), 1, "{differ:?}");
    }

    #[test]
    fn what_the_tool_quotes_between_backticks_is_code_the_rest_is_text() {
        assert_eq!(prose("command `echo 3`", false), "command `echo 3`");
        assert_eq!(prose("no `a|b` here *", true), "no `a\\|b` here \\*");
        assert_eq!(prose("no `a|b` here", false), "no `a|b` here");
        assert_eq!(prose("a lone ` tick_", false), "a lone \\` tick\\_");
        assert_eq!(prose("empty `` pair", false), "empty \\`\\` pair");
    }

    #[test]
    fn the_rollback_and_the_lag_say_when_the_trigger_fired_and_the_rollback_began() {
        let md = render(&fixture::report());
        crate::has(
            &md,
            "Started by trigger lag runaway at 02:00:25 · completed.",
        );
        crate::has(&md, "- Trigger lag runaway fired at 02:00:20.\n");
        assert!(md.contains("- The rollback began at 02:00:25.\n"), "{md}");
        assert!(md.contains("The run rolled back (exit 3)"), "{md}");
    }
}
