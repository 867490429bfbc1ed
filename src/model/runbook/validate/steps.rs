//! `[[step]]`: the checklist, one action per step, with its expectations, timing and rollback.

use std::collections::BTreeMap;
use std::ops::Range;

use toml::Spanned;

use super::Defined;
use super::context::{Ctx, span_of, value_of, written};
use super::wait::wait;
use crate::runbook::spec::{ExpectSpec, SStr, StepSpec};
use crate::runbook::{Action, Connection, Expect, RollbackAction, Step};

/// `[[step]]` in order, and every step id with the offset of its first use (triggers name
/// steps).
pub(super) fn steps(
    cx: &mut Ctx<'_>,
    specs: &[Spanned<StepSpec>],
    defined: Defined<'_>,
) -> (Vec<Step>, BTreeMap<String, usize>) {
    // A runbook of checks alone serves `cutover reconcile` and `preflight` (`run` refuses it).
    if specs.is_empty() && defined.reconcile.is_empty() {
        cx.err(
            0..0,
            "the runbook has no steps and no checks: add a [[step]] with an id and one of run, sql, wait, confirm, approve, sync_sequences or repair (or [[reconcile]] checks, for cutover reconcile)",
        );
    }
    let mut ids = BTreeMap::new();
    let steps = specs
        .iter()
        .map(|s| step(cx, s.get_ref(), defined, &mut ids))
        .collect();
    (steps, ids)
}

/// One step; `ids` are the step ids seen so far.
fn step(
    cx: &mut Ctx<'_>,
    s: &StepSpec,
    defined: Defined<'_>,
    ids: &mut BTreeMap<String, usize>,
) -> Step {
    let id = s.id.get_ref().clone();
    check_id(cx, &s.id, ids);
    one_action(cx, s, &id);
    let title = s
        .title
        .as_ref()
        .map_or_else(|| id.clone(), |t| cx.template(t).display());
    let action = action(cx, s, defined, &id);
    let expect = s
        .expect
        .as_ref()
        .map_or_else(Expect::default, |e| expect(cx, e, &action, &id));
    timing(cx, s, &id);
    stray_on(cx, s, &id);
    let rollback =
        rollback(cx, s, defined.connections, &id).or_else(|| match &action {
            Action::Repair { check, .. } => defined
                .reconcile
                .iter()
                .find(|c| &c.name == check)
                .map(|c| RollbackAction::RepairInverse {
                    on: c.target.clone(),
                }),
            _ => None,
        });
    let point_of_no_return = s
        .point_of_no_return
        .as_ref()
        .map(|p| point_of_no_return(cx, p));
    // `select`s are not told apart from writes by their text: a function called in one can
    // write (`select setval(…)`); the runbook says `changes = false` for a read-only step.
    let changes = s.changes.unwrap_or(matches!(
        action,
        Action::Run(_) | Action::Sql { .. } | Action::SyncSequences { .. } | Action::Repair { .. }
    ));
    let progress = s
        .progress
        .as_ref()
        .map(|p| super::progress::progress(cx, p, s.on.as_ref(), defined, &id, &action));
    Step {
        id,
        title,
        notes: s.notes.clone(),
        action,
        expect,
        expected: s.expected.as_ref().map(|d| d.get_ref().get()),
        timeout: s.timeout.as_ref().map(|d| d.get_ref().get()),
        rollback,
        point_of_no_return,
        changes,
        progress,
    }
}

/// Whether `c` may stand in a step id.
fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// 1-64 letters, digits, `-`, `_` or `.`, not starting with `.`.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.chars().all(id_char) && !id.starts_with('.')
}

/// Reports an id that is not [`valid_id`], or that an earlier step already has.
fn check_id(cx: &mut Ctx<'_>, id: &SStr, ids: &mut BTreeMap<String, usize>) {
    let text = id.get_ref();
    if !valid_id(text) {
        cx.err(
            id.span(),
            format!(
                "step id {text:?} must be 1-64 characters of letters, digits, `-`, `_` or `.` (it is typed on the command line and kept in the journal){}",
                id_hint(text)
            ),
        );
    }
    if let Some(first_line) = cx.used_before(ids, id) {
        cx.err(
            id.span(),
            format!("duplicate step id `{text}` (first used on line {first_line})"),
        );
    }
}

/// `, e.g. "..."` for an invalid id: the id with its other characters made `-` when that is
/// valid, else a made-up example.
fn id_hint(id: &str) -> String {
    let suggestion: String = id
        .trim()
        .chars()
        .map(|c| if id_char(c) { c } else { '-' })
        .collect();
    if valid_id(&suggestion) {
        format!(", e.g. {suggestion:?}")
    } else {
        ", e.g. \"freeze-writes\"".to_string()
    }
}

/// Reports a step with no action (at its id) or with more than one (at the second action's
/// `key = value`).
fn one_action(cx: &mut Ctx<'_>, s: &StepSpec, id: &str) {
    let given = written!(s; run, sql, wait, confirm, approve, sync_sequences, repair);
    match given.len() {
        0 => cx.err(
            s.id.span(),
            format!(
                "step `{id}` has no action: give exactly one of run, sql, wait, confirm, approve, sync_sequences or repair"
            ),
        ),
        1 => {}
        _ => {
            let second = match given[1] {
                "sql" => s.sql.as_ref().map(|x| cx.entry(x.span())),
                "wait" => s.wait.as_ref().map(|x| cx.entry(cx.head(x.span()))),
                "confirm" => s.confirm.as_ref().map(|x| cx.entry(x.span())),
                "approve" => s.approve.as_ref().map(|x| cx.entry(x.span())),
                "sync_sequences" => s.sync_sequences.as_ref().map(|x| cx.entry(cx.head(x.span()))),
                "repair" => s.repair.as_ref().map(|x| cx.entry(cx.head(x.span()))),
                _ => None,
            };
            cx.err(
                second.unwrap_or(s.id.span()),
                format!(
                    "step `{id}` has {} actions ({}): give exactly one of run, sql, wait, confirm, approve, sync_sequences or repair",
                    given.len(),
                    given.join(", ")
                ),
            );
        }
    }
}

/// The step's action: the first of run, sql, wait and confirm it has. A step with none (see
/// [`one_action`]) gets an empty confirm so that the rest of it is still checked.
fn action(cx: &mut Ctx<'_>, s: &StepSpec, defined: Defined<'_>, id: &str) -> Action {
    if let Some(r) = &s.run {
        run_action(cx, r, id)
    } else if let Some(q) = &s.sql {
        sql_action(cx, q, s.on.as_ref(), defined.connections, id)
    } else if let Some(w) = &s.wait {
        Action::Wait(wait(cx, w, s.on.as_ref(), defined, id))
    } else if let Some(c) = &s.confirm {
        confirm_action(cx, c)
    } else if let Some(a) = &s.approve {
        approve_action(cx, a, id)
    } else if let Some(sync) = &s.sync_sequences {
        sync_action(cx, sync, defined.connections, id)
    } else if let Some(r) = &s.repair {
        super::repair::repair_action(cx, r, defined.reconcile, id)
    } else {
        Action::Confirm(String::new())
    }
}

/// `run = "..."`: a shell command, not blank.
fn run_action(cx: &mut Ctx<'_>, r: &SStr, id: &str) -> Action {
    cx.not_blank(r, || {
        format!("step `{id}`: run is empty: give the shell command to run")
    });
    Action::Run(cx.shell_template(r))
}

/// `sql = "..."` on the step's `on` (or the only connection).
fn sql_action(
    cx: &mut Ctx<'_>,
    q: &SStr,
    on: Option<&SStr>,
    conns: &BTreeMap<String, Connection>,
    id: &str,
) -> Action {
    let on = cx.sql_connection(on, conns, q.span(), &format!("step `{id}`"));
    Action::Sql {
        sql: cx.sql_template(q),
        on,
    }
}

/// `confirm = "WORD"`: one word for the operator to type.
fn confirm_action(cx: &mut Ctx<'_>, c: &SStr) -> Action {
    let word = c.get_ref().trim().to_string();
    if word.is_empty() || word.contains(char::is_whitespace) {
        cx.err(
            c.span(),
            "confirm must be a single word to type, e.g. \"GO\"",
        );
    } else {
        cx.typable(c, "the confirm word", "the operator must type it");
    }
    Action::Confirm(word)
}

/// `approve = ["role", ...]`: at least one role, each a single word, none twice.
fn approve_action(cx: &mut Ctx<'_>, a: &Spanned<Vec<String>>, id: &str) -> Action {
    let roles: Vec<String> = a.get_ref().iter().map(|r| r.trim().to_string()).collect();
    if roles.is_empty() {
        cx.err(
            a.span(),
            format!("step `{id}`: approve names no role: give the roles that sign off, e.g. approve = [\"dba-lead\", \"orders-owner\"]"),
        );
    }
    for (i, r) in roles.iter().enumerate() {
        if r.is_empty() || r.contains(char::is_whitespace) {
            cx.err(
                a.span(),
                format!("step `{id}`: approve role {r:?} must be one word, e.g. \"dba-lead\""),
            );
        } else if roles[..i].contains(r) {
            cx.err(
                a.span(),
                format!("step `{id}`: approve names role `{r}` twice"),
            );
        }
    }
    Action::Approve(roles)
}

/// `sync_sequences = {...}`: two known, different connections and at least one schema.
fn sync_action(
    cx: &mut Ctx<'_>,
    spec: &Spanned<crate::runbook::spec::SyncSpec>,
    conns: &BTreeMap<String, Connection>,
    id: &str,
) -> Action {
    let s = spec.get_ref();
    let mut side = |v: &Option<SStr>, default: &str, what: &str| -> String {
        let name = v
            .as_ref()
            .map_or(default, |v| v.get_ref().as_str())
            .to_string();
        if !conns.contains_key(&name) {
            let at = v.as_ref().map_or(spec.span(), |v| v.span());
            let known: Vec<&str> = conns.keys().map(String::as_str).collect();
            cx.err(
                at,
                format!(
                    "step `{id}`: sync_sequences {what} names connection `{name}`, which [connections] does not define (known: {})",
                    if known.is_empty() { "none".to_string() } else { known.join(", ") }
                ),
            );
        }
        name
    };
    let from = side(&s.from, "source", "from");
    let to = side(&s.to, "target", "to");
    if from == to {
        cx.err(spec.span(), format!("step `{id}`: sync_sequences copies from one connection to another: `from` and `to` are both `{from}`"));
    }
    if s.schemas.get_ref().is_empty() {
        cx.err(
            s.schemas.span(),
            format!(
                "step `{id}`: sync_sequences needs at least one schema, e.g. schemas = [\"public\"]"
            ),
        );
    }
    let margin = s.margin.as_ref().map_or(0, |m| *m.get_ref());
    if margin < 0
        && let Some(m) = &s.margin
    {
        cx.err(
            m.span(),
            format!(
                "step `{id}`: sync_sequences margin must be at least 0 (it is added to each source value)"
            ),
        );
    }
    Action::SyncSequences {
        from,
        to,
        schemas: s.schemas.get_ref().clone(),
        margin,
    }
}

/// `expect = { ... }`: its keys must suit the action, and `stdout` must be a regex.
fn expect(cx: &mut Ctx<'_>, e: &Spanned<ExpectSpec>, action: &Action, id: &str) -> Expect {
    let es = e.get_ref();
    let head = cx.head(e.span());
    expect_fits_action(cx, es, head, action, id);
    if let Some(x) = &es.exit
        && !(0..=255).contains(x.get_ref())
    {
        cx.err(
            x.span(),
            format!(
                "step `{id}`: expect.exit {} can never happen: an exit code is 0 to 255 (a command killed by a signal has none, and fails the step)",
                x.get_ref()
            ),
        );
    }
    if let Some(re) = &es.stdout
        && let Err(err) = regex::Regex::new(re.get_ref())
    {
        cx.err(re.span(), regex_message(&err));
    }
    Expect {
        exit: value_of(&es.exit),
        stdout: value_of(&es.stdout),
        stderr_empty: es.stderr_empty.as_ref().is_some_and(|x| *x.get_ref()),
        rows: value_of(&es.rows),
        value: value_of(&es.value),
    }
}

/// Reports an expect on a step with its own condition (wait, confirm), and the first key a
/// run or sql step does not read; `head` is where the expect table starts.
fn expect_fits_action(
    cx: &mut Ctx<'_>,
    es: &ExpectSpec,
    head: Range<usize>,
    action: &Action,
    id: &str,
) {
    let run_keys = [
        ("exit", span_of(&es.exit)),
        ("stdout", span_of(&es.stdout)),
        ("stderr_empty", span_of(&es.stderr_empty)),
    ];
    let sql_keys = [("rows", span_of(&es.rows)), ("value", span_of(&es.value))];
    let first = |keys: &[(&'static str, Option<Range<usize>>)]| {
        keys.iter()
            .find_map(|(key, at)| at.clone().map(|at| (*key, at)))
    };
    match action {
        Action::Run(_) => {
            if let Some((key, at)) = first(&sql_keys) {
                cx.err_entry(
                    at,
                    format!(
                        "step `{id}`: expect.{key} applies to sql steps; a run step expects `exit = N`, `stdout = \"regex\"` or `stderr_empty = true`"
                    ),
                );
            }
        }
        Action::Sql { .. } => {
            if let Some((key, at)) = first(&run_keys) {
                cx.err_entry(
                    at,
                    format!(
                        "step `{id}`: expect.{key} applies to run steps; a sql step expects `rows = N` or `value = \"...\"`"
                    ),
                );
            }
        }
        Action::Wait(_)
        | Action::Confirm(_)
        | Action::Approve(_)
        | Action::SyncSequences { .. }
        | Action::Repair { .. } => cx.err(
            head,
            format!(
                "step `{id}`: expect applies only to run and sql steps; a {} step has its own condition: remove expect",
                action.kind()
            ),
        ),
    }
}

/// The useful part of a regex error: what is wrong, without the pattern echo.
fn regex_message(err: &regex::Error) -> String {
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

/// Reports a zero timeout, and a planned duration (`expected`) the timeout would cut short.
fn timing(cx: &mut Ctx<'_>, s: &StepSpec, id: &str) {
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
        let (expected, timeout) = (cx.written(e.span()), cx.written(t.span()));
        cx.err(
            e.span(),
            format!(
                "step `{id}`: expected ({expected}) is longer than timeout ({timeout}): the step would be killed before its planned time; raise timeout or lower expected"
            ),
        );
    }
}

/// Reports `on` on a step that runs nothing on a connection.
fn stray_on(cx: &mut Ctx<'_>, s: &StepSpec, id: &str) {
    let read = s.sql.is_some()
        || s.rollback_sql.is_some()
        || s.wait.is_some()
        || s.progress
            .as_ref()
            .is_some_and(|p| p.get_ref().on.is_none());
    cx.unread(span_of(&s.on), read, || {
        format!(
            "step `{id}`: `on` names the connection for sql, rollback_sql or a wait's sql, and this step has none: remove it"
        )
    });
}

/// How the step is undone: `rollback` (a command) or `rollback_sql` (on the step's `on`),
/// not both.
fn rollback(
    cx: &mut Ctx<'_>,
    s: &StepSpec,
    conns: &BTreeMap<String, Connection>,
    id: &str,
) -> Option<RollbackAction> {
    match (&s.rollback, &s.rollback_sql) {
        (Some(_), Some(rs)) => {
            cx.err_entry(
                rs.span(),
                format!("step `{id}`: give rollback or rollback_sql, not both"),
            );
            None
        }
        (Some(r), None) => Some(RollbackAction::Run(cx.shell_template(r))),
        (None, Some(rs)) => {
            let on = cx.sql_connection(
                s.on.as_ref(),
                conns,
                rs.span(),
                &format!("step `{id}` rollback_sql"),
            );
            Some(RollbackAction::Sql {
                sql: cx.sql_template(rs),
                on,
            })
        }
        (None, None) => None,
    }
}

/// `point_of_no_return = "..."`: the text must say something.
fn point_of_no_return(cx: &mut Ctx<'_>, p: &SStr) -> String {
    cx.not_blank(p, || {
        "point_of_no_return needs a text saying what to do instead of rolling back".to_string()
    });
    p.get_ref().clone()
}
