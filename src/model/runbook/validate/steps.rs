//! `[[step]]`: the checklist, one action per step, with its expectations, timing and rollback.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::context::{Ctx, sql_connection};
use super::wait::wait;
use crate::runbook::spec::StepSpec;
use crate::runbook::{Action, Connection, Expect, LagConfig, ReconcileCheck, RollbackAction, Step};

/// The useful part of a regex error: what is wrong, without the pattern echo.
pub(super) fn regex_message(err: &regex::Error) -> String {
    let text = err.to_string();
    let what = text
        .lines()
        .last()
        .unwrap_or("")
        .trim()
        .trim_start_matches("error: ")
        .to_string();
    format!(
        "expect.stdout is not a valid regex: {what} (to match a literal `(`, `[`, `.` or `*`, escape it: `\\\\(` in a \"string\", `\\(` in a 'literal string')"
    )
}

pub(super) fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.')
}

pub(super) fn step(
    cx: &mut Ctx<'_>,
    sp: &Spanned<StepSpec>,
    conns: &BTreeMap<String, Connection>,
    lag: &Option<LagConfig>,
    reconcile: &[ReconcileCheck],
    ids: &mut BTreeMap<String, Range<usize>>,
) -> Option<Step> {
    let s = sp.get_ref();
    let id = s.id.get_ref().clone();
    if !valid_id(&id) {
        let suggestion: String = id
            .trim()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        let hint = if valid_id(&suggestion) {
            format!(", e.g. {suggestion:?}")
        } else {
            ", e.g. \"freeze-writes\"".to_string()
        };
        cx.err(
            s.id.span(),
            format!(
                "step id {id:?} must be 1-64 characters of letters, digits, `-`, `_` or `.` (it is typed on the command line and kept in the journal){hint}"
            ),
        );
    }
    if let Some(first) = ids.get(&id) {
        let first_line = cx.line_of(first.start);
        cx.err(
            s.id.span(),
            format!("duplicate step id `{id}` (first used on line {first_line})"),
        );
    } else {
        ids.insert(id.clone(), s.id.span());
    }
    let at = s.id.span();
    let given: Vec<&str> = [
        ("run", s.run.is_some()),
        ("sql", s.sql.is_some()),
        ("wait", s.wait.is_some()),
        ("confirm", s.confirm.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    match given.len() {
        0 => cx.err(
            at.clone(),
            format!("step `{id}` has no action: give exactly one of run, sql, wait or confirm"),
        ),
        1 => {}
        _ => {
            let second = match given[1] {
                "sql" => s.sql.as_ref().map(|x| cx.entry(x.span())),
                "wait" => s.wait.as_ref().map(|x| cx.entry(cx.head(x.span()))),
                "confirm" => s.confirm.as_ref().map(|x| cx.entry(x.span())),
                _ => None,
            };
            cx.err(
                second.unwrap_or(at.clone()),
                format!(
                    "step `{id}` has {} actions ({}): give exactly one of run, sql, wait or confirm",
                    given.len(),
                    given.join(", ")
                ),
            );
        }
    }
    let title = s
        .title
        .as_ref()
        .map_or_else(|| id.clone(), |t| cx.template(t).display());
    let step_what = format!("step `{id}`");
    let action = if let Some(r) = &s.run {
        if r.get_ref().trim().is_empty() {
            cx.err(
                r.span(),
                format!("step `{id}`: run is empty: give the shell command to run"),
            );
        }
        Action::Run(cx.template(r))
    } else if let Some(q) = &s.sql {
        let on = sql_connection(cx, s.on.as_ref(), conns, q.span(), &step_what);
        Action::Sql {
            sql: cx.template(q),
            on,
        }
    } else if let Some(w) = &s.wait {
        Action::Wait(wait(cx, w, s, conns, lag, reconcile, &id))
    } else if let Some(c) = &s.confirm {
        let word = c.get_ref().trim().to_string();
        if word.is_empty() || word.contains(char::is_whitespace) {
            cx.err(
                c.span(),
                "confirm must be a single word to type, e.g. \"GO\"",
            );
        }
        Action::Confirm(word)
    } else {
        Action::Confirm(String::new())
    };

    let mut expect = Expect::default();
    if let Some(e) = &s.expect {
        let es = e.get_ref();
        let span = cx.head(e.span());
        let is_run = matches!(action, Action::Run(_));
        let is_sql = matches!(action, Action::Sql { .. });
        let run_keys = [
            ("exit", es.exit.as_ref().map(|x| x.span())),
            ("stdout", es.stdout.as_ref().map(|x| x.span())),
            ("stderr_empty", es.stderr_empty.as_ref().map(|x| x.span())),
        ];
        let sql_keys = [
            ("rows", es.rows.as_ref().map(|x| x.span())),
            ("value", es.value.as_ref().map(|x| x.span())),
        ];
        if !is_run && !is_sql {
            cx.err(
                span.clone(),
                format!(
                    "step `{id}`: expect applies only to run and sql steps; a {} step has its own condition: remove expect",
                    action.kind()
                ),
            );
        }
        if is_sql && let Some((key, Some(at))) = run_keys.iter().find(|(_, at)| at.is_some()) {
            let entry = cx.entry(at.clone());
            cx.err(
                entry,
                format!(
                    "step `{id}`: expect.{key} applies to run steps; a sql step expects `rows = N` or `value = \"...\"`"
                ),
            );
        }
        if is_run && let Some((key, Some(at))) = sql_keys.iter().find(|(_, at)| at.is_some()) {
            let entry = cx.entry(at.clone());
            cx.err(
                entry,
                format!(
                    "step `{id}`: expect.{key} applies to sql steps; a run step expects `exit = N`, `stdout = \"regex\"` or `stderr_empty = true`"
                ),
            );
        }
        if let Some(re) = &es.stdout
            && let Err(err) = regex::Regex::new(re.get_ref())
        {
            cx.err(re.span(), regex_message(&err));
        }
        expect = Expect {
            exit: es.exit.as_ref().map(|x| *x.get_ref()),
            stdout: es.stdout.as_ref().map(|x| x.get_ref().clone()),
            stderr_empty: es.stderr_empty.as_ref().is_some_and(|x| *x.get_ref()),
            rows: es.rows.as_ref().map(|x| *x.get_ref()),
            value: es.value.as_ref().map(|x| x.get_ref().clone()),
        };
    }
    if let Some(t) = &s.timeout
        && t.get_ref().get().is_zero()
    {
        cx.err(
            t.span(),
            format!("step `{id}`: timeout must be more than 0s (leave it out for no limit)"),
        );
    }
    if let (Some(e), Some(t)) = (&s.expected, &s.timeout)
        && e.get_ref().get() > t.get_ref().get()
        && !t.get_ref().get().is_zero()
    {
        cx.err(
            e.span(),
            format!(
                "step `{id}`: expected ({}) is longer than timeout ({}): the step would be killed before its planned time; raise timeout or lower expected",
                cx.written(e.span()),
                cx.written(t.span())
            ),
        );
    }
    if s.on.is_some() && s.sql.is_none() && s.rollback_sql.is_none() && s.wait.is_none() {
        if let Some(on) = &s.on {
            let entry = cx.entry(on.span());
            cx.err(
                entry,
                format!(
                    "step `{id}`: `on` names the connection for sql, rollback_sql or a wait's sql, and this step has none: remove it"
                ),
            );
        }
    }
    let rollback = match (&s.rollback, &s.rollback_sql) {
        (Some(_), Some(rs)) => {
            let entry = cx.entry(rs.span());
            cx.err(
                entry,
                format!("step `{id}`: give rollback or rollback_sql, not both"),
            );
            None
        }
        (Some(r), None) => Some(RollbackAction::Run(cx.template(r))),
        (None, Some(rs)) => {
            let on = sql_connection(
                cx,
                s.on.as_ref(),
                conns,
                rs.span(),
                &format!("step `{id}` rollback_sql"),
            );
            Some(RollbackAction::Sql {
                sql: cx.template(rs),
                on,
            })
        }
        (None, None) => None,
    };
    let point_of_no_return = s.point_of_no_return.as_ref().map(|p| {
        if p.get_ref().trim().is_empty() {
            cx.err(
                p.span(),
                "point_of_no_return needs a text saying what to do instead of rolling back",
            );
        }
        p.get_ref().clone()
    });
    Some(Step {
        id,
        title,
        notes: s.notes.clone(),
        action,
        expect,
        expected: s.expected.as_ref().map(|d| d.get_ref().get()),
        timeout: s.timeout.as_ref().map(|d| d.get_ref().get()),
        rollback,
        point_of_no_return,
    })
}
