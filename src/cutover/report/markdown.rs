//! The report as Markdown: readable as plain text in a terminal, rendered by any Markdown
//! viewer (tables, a text timeline, a post-mortem skeleton to fill in).

use std::fmt::Write;

use super::facts::{Report, clock, delta_text, ms, when};
use super::svg::timeline_rows;
use cutover_model::narrate;
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

/// Renders the report.
pub fn render(r: &Report) -> String {
    let s = &r.summary;
    let mut o = String::new();
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
        cell(&s.runbook),
        s.sha256.get(..16).unwrap_or(&s.sha256)
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

    preflight(&mut o, r);
    let _ = writeln!(o, "## Timeline\n");
    let _ = writeln!(
        o,
        "Planned (`·`; dashed in HTML) and actual (`█`; filled, coloured by state) per step, from the run's start.\n"
    );
    let _ = writeln!(o, "```text");
    for row in timeline_rows(r, 48) {
        let _ = writeln!(o, "{row}");
    }
    let _ = writeln!(o, "```\n");

    let _ = writeln!(o, "## Steps\n");
    let _ = writeln!(
        o,
        "| # | Step | State | Attempts | Actual | Planned | Delta | Detail | Output |\n|---|---|---|---|---|---|---|---|---|"
    );
    for st in &s.steps {
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
            cell(detail.trim()),
            st.output_file
                .as_deref()
                .map_or(String::new(), |f| format!("`{}`", code(f)))
        );
    }
    o.push('\n');

    if !s.decisions.is_empty() {
        let _ = writeln!(o, "## Decisions\n\n| Time | Who | What |\n|---|---|---|");
        for d in &s.decisions {
            if let Some(w) = d.words() {
                let _ = writeln!(o, "| {} | {} | {} |", clock(d.at), cell(&d.by), cell(&w));
            }
        }
        o.push('\n');
    }
    if !s.triggers.is_empty() {
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
                cell(&f.message),
                cell(&trigger_then(f))
            );
        }
        o.push('\n');
    }
    if let Some(rb) = &s.rollback {
        let _ = writeln!(
            o,
            "## Rollback\n\nStarted by {} · {}.\n\n| # | Step | Undo |\n|---|---|---|",
            cell(&rb.by),
            rollback_state(rb.completed)
        );
        for st in s.steps.iter().rev() {
            if let Some(u) = &st.undo {
                let _ = writeln!(
                    o,
                    "| {} | {} | {} |",
                    st.index + 1,
                    cell(&st.id),
                    cell(&undo_words(u))
                );
            }
        }
        let by_hand = s.undo_by_hand();
        if !by_hand.is_empty() {
            let _ = writeln!(o, "\n**Undo by hand:**\n");
            for (st, why) in by_hand {
                let _ = writeln!(o, "- {} {}: {}", st.index + 1, cell(&st.id), cell(&why));
            }
        }
        o.push('\n');
    }
    repairs(&mut o, r);
    lag(&mut o, r);
    reconcile(&mut o, r);
    postmortem(&mut o, r);
    o
}

/// What preflight found before step 1: its verdict, and every finding.
fn preflight(o: &mut String, r: &Report) {
    let found = &r.summary.preflight;
    if found.is_empty() {
        return;
    }
    let _ = writeln!(o, "## Preflight\n\n{}\n", cell(&narrate::preflight(found)));
    let _ = writeln!(o, "| | Checked | Found |\n|---|---|---|");
    for f in found {
        let _ = writeln!(
            o,
            "| {} | {} | {} |",
            f.glyph(),
            cell(&f.what),
            cell(&f.detail)
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
                format!("yes, {} changed", rep.changed)
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
            let _ = writeln!(o, "\n- {}", cell(n));
        }
    }
    let _ = writeln!(o);
}

fn lag(o: &mut String, r: &Report) {
    let l = &r.summary.lag;
    let Some(info) = &l.info else { return };
    let show = |v: f64| cutover_model::lag::show(v, info.unit);
    let _ = writeln!(o, "## Lag\n\n{}.\n", cell(&info.description));
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
            cell(&check_line(&c.latest))
        );
    }
    for c in checks.values() {
        let res = &c.latest;
        if res.mismatches.is_empty() && res.notes.is_empty() {
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
            let _ = writeln!(o, "- note: {}", cell(n));
        }
    }
    o.push('\n');
}

fn postmortem(o: &mut String, r: &Report) {
    let s = &r.summary;
    let _ = writeln!(o, "## Post-mortem (to complete)\n\n### What happened\n");
    let _ = writeln!(
        o,
        "The run {} ({}), {} against a plan of {}.",
        cutover_model::summary::text::outcome(s.outcome),
        r.exit_code.map_or(
            "no exit code: the record is incomplete".into(),
            |c| format!("exit {c}")
        ),
        ms(r.elapsed_ms),
        ms((r.planned_ms > 0).then_some(r.planned_ms))
    );
    for st in r.troubled() {
        let _ = writeln!(
            o,
            "- Step {} {} {}{}.",
            st.index + 1,
            st.id,
            st.ended.word(),
            st.message
                .as_deref()
                .map_or(String::new(), |m| format!(": {}", cell(m)))
        );
    }
    let _ = writeln!(o, "\n### Detection\n");
    if s.triggers.is_empty() && r.troubled().is_empty() {
        let _ = writeln!(o, "Nothing fired; no step failed.");
    }
    for f in &s.triggers {
        let _ = writeln!(
            o,
            "- {} trigger {}: {}.",
            clock(f.at),
            f.name,
            cell(&f.message)
        );
    }
    for c in s.reconcile.values().filter(|c| !c.latest.passed()) {
        let _ = writeln!(
            o,
            "- Reconcile {}: {}.",
            c.latest.name,
            cell(&check_line(&c.latest))
        );
    }
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
            st.id,
            ms(st.actual_ms),
            ms(st.expected_ms),
            delta_text(st)
        );
    }
    for (st, why) in s.undo_by_hand() {
        let _ = writeln!(o, "- {} is left to undo by hand: {}.", st.id, cell(&why));
    }
    let _ = writeln!(o, "\n### Action items\n");
    for st in r.troubled() {
        let _ = writeln!(o, "- [ ] {}", action_item(s, st));
    }
    for st in r.over_plan() {
        let _ = writeln!(
            o,
            "- [ ] Re-plan {} (`expected` {} → measured {}).",
            st.id,
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
                st.id,
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
