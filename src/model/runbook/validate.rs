//! Turns the parsed [`FileSpec`] into a [`Runbook`], collecting every located error.

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::diag::{Diagnostic, Diagnostics};
use super::spec::*;
use super::template::Template;
use super::units::Threshold;
use super::*;

/// Collects diagnostics against one source text.
struct Ctx<'a> {
    file: &'a str,
    source: &'a str,
    errors: Vec<Diagnostic>,
    vars: BTreeMap<String, String>,
    secrets: Vec<String>,
}

impl Ctx<'_> {
    fn err(&mut self, span: Range<usize>, msg: impl Into<String>) {
        self.errors
            .push(Diagnostic::at(self.file, self.source, span, msg));
    }

    /// Span of a table given as `Spanned`, narrowed to its first line (the header or `{`).
    fn head(&self, span: Range<usize>) -> Range<usize> {
        let end = self.source[span.start.min(self.source.len())..]
            .find('\n')
            .map_or(span.end, |i| (span.start + i).min(span.end));
        span.start..end
    }

    /// 1-based line of a byte offset.
    fn line_of(&self, offset: usize) -> usize {
        self.source[..offset.min(self.source.len())]
            .matches('\n')
            .count()
            + 1
    }

    /// A scalar value as written in the file, without quotes.
    fn written(&self, span: Range<usize>) -> &str {
        self.source
            .get(span)
            .unwrap_or("")
            .trim_matches(|c| c == '"' || c == '\'')
    }

    /// `key = value` from the key to the end of the value (the value alone when no key is found
    /// before it on the same line): for errors where the key itself is the mistake.
    fn entry(&self, value: Range<usize>) -> Range<usize> {
        let start = value.start.min(self.source.len());
        let before = &self.source[..start];
        let Some(eq) = before.trim_end_matches([' ', '\t']).strip_suffix('=') else {
            return value;
        };
        let key_end = eq.trim_end_matches([' ', '\t']).len();
        let key_start = before[..key_end]
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '"')))
            .map_or(0, |i| i + 1);
        if key_start == key_end {
            return value;
        }
        key_start..value.end
    }

    /// Parses a template, reporting an unresolved reference at its exact place.
    fn template(&mut self, s: &SStr) -> Template {
        match Template::parse(s.get_ref(), &self.vars, &self.secrets) {
            Ok(t) => t,
            Err(e) => {
                let span = s.span();
                // Offsets inside the string map onto the file when the string is written
                // without escapes on one line (the usual case); otherwise point at the string.
                let raw = &self.source[span.clone()];
                let quote = raw
                    .chars()
                    .next()
                    .map_or(0, |c| usize::from(c == '"' || c == '\''));
                let inner = &raw[quote.min(raw.len())..];
                let sub = if inner.get(e.offset..e.offset + e.len)
                    == s.get_ref().get(e.offset..e.offset + e.len)
                {
                    let start = span.start + quote + e.offset;
                    start..start + e.len
                } else {
                    span
                };
                self.err(sub, e.message);
                Template::default()
            }
        }
    }

    fn opt_template(&mut self, s: &Option<SStr>) -> Option<Template> {
        s.as_ref().map(|s| self.template(s))
    }

    fn connection(&mut self, name: &SStr, conns: &BTreeMap<String, Connection>, what: &str) {
        if !conns.contains_key(name.get_ref()) {
            let known = if conns.is_empty() {
                "no [connections.NAME] section is defined".to_string()
            } else {
                format!(
                    "known: {}",
                    conns.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            self.err(
                name.span(),
                format!(
                    "{what} names unknown connection `{}` ({known})",
                    name.get_ref()
                ),
            );
        }
    }
}

/// Parses and validates.
pub(super) fn parse(
    file: &str,
    source: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<Runbook, Diagnostics> {
    // Parse as plain TOML first so that syntax errors are told apart from format errors.
    let toml_error = |e: toml::de::Error, syntax: bool| {
        let span = e.span().unwrap_or(0..0);
        let text = source.get(span.clone()).unwrap_or("");
        let msg = diag::toml_message(e.message(), text, syntax);
        Diagnostics(vec![Diagnostic::at(file, source, span, msg)])
    };
    if let Err(e) = source.parse::<toml::Table>() {
        return Err(toml_error(e, true));
    }
    let spec: FileSpec = toml::from_str(source).map_err(|e| toml_error(e, false))?;
    let mut vars: BTreeMap<String, String> = spec
        .vars
        .iter()
        .map(|(k, v)| (k.clone(), v.get_ref().0.clone()))
        .collect();
    vars.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
    let mut cx = Ctx {
        file,
        source,
        errors: Vec::new(),
        vars,
        secrets: spec.secrets.keys().cloned().collect(),
    };

    let window = spec.runbook.window.as_ref().and_then(|w| {
        let ws = w.get_ref();
        if *ws.minutes.get_ref() == 0 {
            cx.err(
                ws.minutes.span(),
                "window minutes must be at least 1: give the length of the maintenance window, e.g. minutes = 90",
            );
        }
        match DateTime::parse_from_rfc3339(ws.start.get_ref()) {
            Ok(t) => Some(Window {
                start: t.with_timezone(&Utc),
                minutes: *ws.minutes.get_ref(),
            }),
            Err(_) => {
                cx.err(
                    ws.start.span(),
                    format!(
                        "window start {:?} is not a date and time with a time zone (RFC 3339); write e.g. \"2026-12-05T02:00:00Z\" (UTC) or \"2026-12-05T03:00:00+01:00\"",
                        ws.start.get_ref()
                    ),
                );
                None
            }
        }
    });

    let mut secrets = BTreeMap::new();
    for (name, s) in &spec.secrets {
        let env_spec = &s.get_ref().env;
        let env = env_spec.get_ref().trim();
        if env.is_empty() {
            cx.err(
                env_spec.span(),
                format!(
                    "secret `{name}` needs the name of the environment variable that holds it, e.g. env = \"CUTOVER_{name}\""
                ),
            );
        }
        secrets.insert(name.clone(), env.to_string());
    }

    let mut connections = BTreeMap::new();
    for (name, c) in &spec.connections {
        let dsn = &c.get_ref().dsn;
        if dsn.get_ref().trim().is_empty() {
            cx.err(
                dsn.span(),
                format!(
                    "connection `{name}` has an empty dsn: write a libpq conninfo (\"host=db-new dbname=orders user=migrator\") or a URL (\"postgres://migrator@db-new/orders\")"
                ),
            );
        }
        let dsn = cx.template(dsn);
        connections.insert(name.clone(), Connection { dsn });
    }

    let lag = spec
        .lag
        .as_ref()
        .map(|l| lag_config(&mut cx, l, &connections));
    let reconcile = reconcile_checks(&mut cx, &spec.reconcile, &connections);

    if spec.step.is_empty() {
        cx.err(
            0..0,
            "the runbook has no steps: add at least one [[step]] with id and one of run, sql, wait or confirm",
        );
    }
    let mut ids: BTreeMap<String, Range<usize>> = BTreeMap::new();
    let mut steps = Vec::new();
    for s in &spec.step {
        if let Some(step) = step(&mut cx, s, &connections, &lag, &reconcile, &mut ids) {
            steps.push(step);
        }
    }
    let triggers = triggers(&mut cx, &spec.rollback_trigger, &connections, &lag, &ids);

    if !cx.errors.is_empty() {
        cx.errors.sort_by_key(|d| (d.line, d.col));
        return Err(Diagnostics(cx.errors));
    }
    Ok(Runbook {
        path: file.to_string(),
        source: source.to_string(),
        sha256: sha256_hex(source),
        name: spec.runbook.name,
        owner: spec.runbook.owner,
        description: spec.runbook.description,
        window,
        vars: cx.vars,
        secrets,
        connections,
        lag,
        reconcile,
        steps,
        triggers,
    })
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

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !id.starts_with('.')
}

fn lag_config(
    cx: &mut Ctx<'_>,
    l: &Spanned<LagSpec>,
    conns: &BTreeMap<String, Connection>,
) -> LagConfig {
    let s = l.get_ref();
    let method = *s.method.get_ref();
    let head = cx.head(l.span());
    for c in [&s.on, &s.target].into_iter().flatten() {
        cx.connection(c, conns, "[lag]");
    }
    let need = |cx: &mut Ctx<'_>, v: &Option<SStr>, key: &str, what: &str| {
        if v.is_none() {
            cx.err(
                s.method.span(),
                format!(
                    "lag method \"{}\" needs `{key}`: {what}",
                    format!("{method:?}").to_lowercase()
                ),
            );
        }
    };
    match method {
        LagMethod::Logical => need(
            cx,
            &s.slot,
            "slot",
            "the replication slot on the source, e.g. slot = \"orders_sub\"",
        ),
        LagMethod::Heartbeat => need(
            cx,
            &s.target,
            "target",
            "the connection that reads the heartbeat, e.g. target = \"target\"",
        ),
        LagMethod::Sql => need(
            cx,
            &s.sql,
            "sql",
            "a query returning the lag as one number, e.g. sql = \"select ...\"",
        ),
        LagMethod::Command => need(
            cx,
            &s.command,
            "command",
            "a command printing the lag as one number, e.g. command = \"./lag.sh\"",
        ),
        LagMethod::Streaming => {}
    }
    let needs_conn = !matches!(method, LagMethod::Command);
    if needs_conn && s.on.is_none() && !conns.contains_key("source") {
        cx.err(
            head.clone(),
            "[lag] needs `on = \"CONNECTION\"` (there is no connection named `source` to default to)",
        );
    }
    let sql = cx.opt_template(&s.sql);
    let command = cx.opt_template(&s.command);
    for t in [&s.warn, &s.critical].into_iter().flatten() {
        if let Some(msg) = threshold_fits(method, t.get_ref()) {
            cx.err(t.span(), msg);
        }
    }
    if let (Some(w), Some(c)) = (&s.warn, &s.critical) {
        match (w.get_ref(), c.get_ref()) {
            (a, b) if !a.same_kind(b) => cx.err(
                c.span(),
                format!(
                    "critical is {} but warn is {}: use the same unit for both",
                    b.kind_name(),
                    a.kind_name()
                ),
            ),
            (a, b) if threshold_value(a) >= threshold_value(b) => {
                let msg = format!(
                    "critical ({}) must be above warn ({}): swap them or raise critical",
                    cx.written(c.span()),
                    cx.written(w.span())
                );
                cx.err(c.span(), msg);
            }
            _ => {}
        }
    }
    let interval = s.interval.as_ref().map_or(Duration::from_secs(1), |i| {
        let d = i.get_ref().get();
        if d < Duration::from_millis(100) {
            cx.err(
                i.span(),
                "lag interval must be at least 100ms (probing faster only loads the server)",
            );
        }
        d
    });
    LagConfig {
        method,
        on: s
            .on
            .as_ref()
            .map(|x| x.get_ref().clone())
            .or_else(|| needs_conn.then(|| "source".to_string())),
        target: s.target.as_ref().map(|x| x.get_ref().clone()),
        slot: s.slot.as_ref().map(|x| x.get_ref().clone()),
        subscription: s.subscription.as_ref().map(|x| x.get_ref().clone()),
        application_name: s.application_name.as_ref().map(|x| x.get_ref().clone()),
        table: s.table.as_ref().map(|x| x.get_ref().clone()),
        sql,
        command,
        warn: s.warn.as_ref().map(|t| *t.get_ref()),
        critical: s.critical.as_ref().map(|t| *t.get_ref()),
        interval,
    }
}

fn threshold_value(t: &Threshold) -> f64 {
    match t {
        Threshold::Bytes(b) => *b as f64,
        Threshold::Time(d) => d.get().as_secs_f64(),
        Threshold::Number(n) => *n,
    }
}

/// Whether a threshold's unit suits the lag method; `Some(message)` when it does not.
fn threshold_fits(method: LagMethod, t: &Threshold) -> Option<String> {
    let ok = match method {
        LagMethod::Streaming | LagMethod::Logical => !matches!(t, Threshold::Number(_)),
        LagMethod::Heartbeat => matches!(t, Threshold::Time(_)),
        LagMethod::Sql | LagMethod::Command => true,
    };
    (!ok).then(|| {
        let want = match method {
            LagMethod::Heartbeat => "measures time: write a time such as \"5s\"",
            _ => {
                "measures bytes or time: write a size such as \"16MB\" or a time such as \"5s\" (plain numbers are for sql and command lag)"
            }
        };
        format!(
            "{} does not fit lag method \"{}\", which {want}",
            t.kind_name(),
            format!("{method:?}").to_lowercase()
        )
    })
}

fn reconcile_checks(
    cx: &mut Ctx<'_>,
    specs: &[Spanned<ReconcileSpec>],
    conns: &BTreeMap<String, Connection>,
) -> Vec<ReconcileCheck> {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for r in specs {
        let s = r.get_ref();
        let head = cx.head(r.span());
        let name = s.name.get_ref().clone();
        if name == "all" {
            cx.err(
                s.name.span(),
                "`all` is reserved (wait = { reconcile = \"all\" }); pick another name",
            );
        } else if let Some(first) = names.get(&name) {
            let msg = format!(
                "duplicate reconcile name `{name}` (first used on line {}): names must be unique because waits and reports refer to them",
                cx.line_of(*first)
            );
            cx.err(s.name.span(), msg);
        } else {
            names.insert(name.clone(), s.name.span().start);
        }
        let source = s
            .source
            .as_ref()
            .map_or("source".to_string(), |c| c.get_ref().clone());
        let target = s
            .target
            .as_ref()
            .map_or("target".to_string(), |c| c.get_ref().clone());
        for (given, default, what) in [
            (&s.source, &source, "source"),
            (&s.target, &target, "target"),
        ] {
            match given {
                Some(c) => cx.connection(c, conns, &format!("reconcile `{name}` {what}")),
                None if !conns.contains_key(default) => cx.err(
                    head.clone(),
                    format!(
                        "reconcile `{name}` needs a {what} connection: define [connections.{default}] or set `{what} = \"NAME\"`"
                    ),
                ),
                None => {}
            }
        }
        let kind_name = format!("{:?}", s.kind).to_lowercase();
        match s.kind {
            ReconcileKind::Count | ReconcileKind::Checksum => {
                if s.table.is_none() {
                    cx.err(
                        head.clone(),
                        format!("reconcile `{name}` (kind = \"{kind_name}\") needs `table`"),
                    );
                }
                if s.key.is_none() {
                    cx.err(
                        head.clone(),
                        format!(
                            "reconcile `{name}` (kind = \"{kind_name}\") needs `key`: the primary key column(s), e.g. key = \"id\" or key = [\"tenant_id\", \"id\"]"
                        ),
                    );
                }
            }
            ReconcileKind::Query => {
                if s.sql.is_none() {
                    cx.err(
                        head.clone(),
                        format!("reconcile `{name}` (kind = \"query\") needs `sql`"),
                    );
                }
            }
            ReconcileKind::Sequences => {
                if s.schemas.is_none() && s.sequences.is_none() {
                    cx.err(head.clone(), format!("reconcile `{name}` (kind = \"sequences\") needs `schemas` or `sequences`"));
                }
            }
            ReconcileKind::Schema => {
                if s.schemas.is_none() && s.tables.is_none() {
                    cx.err(
                        head.clone(),
                        format!(
                            "reconcile `{name}` (kind = \"schema\") needs `tables` or `schemas`"
                        ),
                    );
                }
            }
        }
        // Keys that only make sense for other kinds are mistakes, not silently ignored.
        let table_kind = matches!(s.kind, ReconcileKind::Count | ReconcileKind::Checksum);
        let unused: [(&str, Option<Range<usize>>, bool); 11] = [
            ("table", s.table.as_ref().map(|x| x.span()), table_kind),
            (
                "target_table",
                s.target_table.as_ref().map(|x| x.span()),
                table_kind,
            ),
            ("key", s.key.as_ref().map(|x| x.span()), table_kind),
            (
                "columns",
                s.columns.as_ref().map(|x| x.span()),
                s.kind == ReconcileKind::Checksum,
            ),
            (
                "exclude",
                s.exclude.as_ref().map(|x| x.span()),
                s.kind == ReconcileKind::Checksum,
            ),
            (
                "partitions",
                s.partitions.as_ref().map(|x| x.span()),
                table_kind,
            ),
            (
                "sql",
                s.sql.as_ref().map(|x| x.span()),
                s.kind == ReconcileKind::Query,
            ),
            (
                "target_sql",
                s.target_sql.as_ref().map(|x| x.span()),
                s.kind == ReconcileKind::Query,
            ),
            (
                "schemas",
                s.schemas.as_ref().map(|x| x.span()),
                matches!(s.kind, ReconcileKind::Sequences | ReconcileKind::Schema),
            ),
            (
                "sequences",
                s.sequences.as_ref().map(|x| x.span()),
                s.kind == ReconcileKind::Sequences,
            ),
            (
                "tables",
                s.tables.as_ref().map(|x| x.span()),
                s.kind == ReconcileKind::Schema,
            ),
        ];
        for (key, span, applies) in unused {
            if let Some(span) = span
                && !applies
            {
                let entry = cx.entry(span);
                cx.err(
                    entry,
                    format!(
                        "reconcile `{name}`: `{key}` does not apply to kind = \"{kind_name}\" ({}); remove it or change kind",
                        kind_keys(s.kind)
                    ),
                );
            }
        }
        if let (Some(_), Some(ex)) = (&s.columns, &s.exclude) {
            let entry = cx.entry(ex.span());
            cx.err(
                entry,
                "use either `columns` (compare only these) or `exclude` (compare all but these), not both",
            );
        }
        if let Some(p) = &s.max_mismatch_pct
            && !(0.0..=100.0).contains(p.get_ref())
        {
            cx.err(
                p.span(),
                format!(
                    "max_mismatch_pct is a percentage of rows: it must be between 0 and 100, not {}",
                    p.get_ref()
                ),
            );
        }
        let recheck_after_lag = match s.recheck.as_ref().map(|r| r.get_ref().as_str()) {
            None | Some("after_lag_drains") => true,
            Some("never") => false,
            Some(other) => {
                let span = s.recheck.as_ref().map_or(head.clone(), |r| r.span());
                cx.err(
                    span,
                    format!("recheck must be \"after_lag_drains\" or \"never\", not {other:?}"),
                );
                true
            }
        };
        if let Some(p) = &s.partitions
            && *p.get_ref() == 0
        {
            cx.err(p.span(), "partitions must be at least 1");
        }
        let sql = cx.opt_template(&s.sql);
        let target_sql = cx.opt_template(&s.target_sql);
        out.push(ReconcileCheck {
            name,
            kind: s.kind,
            source,
            target,
            table: s.table.as_ref().map(|t| t.get_ref().clone()),
            target_table: s.target_table.as_ref().map(|t| t.get_ref().clone()),
            key: s
                .key
                .as_ref()
                .map_or_else(Vec::new, |k| k.get_ref().0.clone()),
            columns: s.columns.as_ref().map(|c| c.get_ref().clone()),
            exclude: s
                .exclude
                .as_ref()
                .map_or_else(Vec::new, |c| c.get_ref().clone()),
            max_mismatch_rows: s.max_mismatch_rows.as_ref().map_or(0, |n| *n.get_ref()),
            max_mismatch_pct: s.max_mismatch_pct.as_ref().map(|p| *p.get_ref()),
            recheck_after_lag,
            sql,
            target_sql,
            schemas: list(&s.schemas),
            sequences: list(&s.sequences),
            tables: list(&s.tables),
            partitions: s.partitions.as_ref().map(|p| *p.get_ref()),
        });
    }
    out
}

/// The keys a reconcile kind reads, for error messages.
fn kind_keys(kind: ReconcileKind) -> &'static str {
    match kind {
        ReconcileKind::Count => "it uses table, target_table, key and partitions",
        ReconcileKind::Checksum => {
            "it uses table, target_table, key, columns or exclude, and partitions"
        }
        ReconcileKind::Query => "it uses sql and target_sql",
        ReconcileKind::Sequences => "it uses schemas and sequences",
        ReconcileKind::Schema => "it uses schemas and tables",
    }
}

fn list(v: &Option<Spanned<Vec<String>>>) -> Vec<String> {
    v.as_ref().map_or_else(Vec::new, |x| x.get_ref().clone())
}

/// Resolves the connection of a SQL action: explicit `on`, else the only connection.
fn sql_connection(
    cx: &mut Ctx<'_>,
    on: Option<&SStr>,
    conns: &BTreeMap<String, Connection>,
    at: Range<usize>,
    what: &str,
) -> String {
    match on {
        Some(c) => {
            cx.connection(c, conns, what);
            c.get_ref().clone()
        }
        None if conns.len() == 1 => conns.keys().next().cloned().unwrap_or_default(),
        None => {
            let why = if conns.is_empty() {
                "no [connections.NAME] is defined".to_string()
            } else {
                format!(
                    "there are {} connections: {}",
                    conns.len(),
                    conns.keys().cloned().collect::<Vec<_>>().join(", ")
                )
            };
            cx.err(at, format!("{what} needs `on = \"CONNECTION\"` ({why})"));
            String::new()
        }
    }
}

fn step(
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

fn wait(
    cx: &mut Ctx<'_>,
    w: &Spanned<WaitSpec>,
    step: &StepSpec,
    conns: &BTreeMap<String, Connection>,
    lag: &Option<LagConfig>,
    reconcile: &[ReconcileCheck],
    id: &str,
) -> Wait {
    let s = w.get_ref();
    let head = cx.head(w.span());
    let given: Vec<&str> = [
        ("lag_below", s.lag_below.is_some()),
        ("reconcile", s.reconcile.is_some()),
        ("sql", s.sql.is_some()),
        ("run", s.run.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, on)| on.then_some(k))
    .collect();
    if given.is_empty() {
        cx.err(
            head.clone(),
            format!(
                "step `{id}`: wait has no condition: give one of lag_below = \"1MB\", reconcile = \"all\", sql = \"select ...\" or run = \"cmd\""
            ),
        );
    } else if given.len() > 1 {
        cx.err(
            head.clone(),
            format!(
                "step `{id}`: wait has {} conditions ({}): give exactly one (use two wait steps to wait for both)",
                given.len(),
                given.join(", ")
            ),
        );
    }
    if let Some(on) = &s.on
        && s.sql.is_none()
    {
        let entry = cx.entry(on.span());
        cx.err(
            entry,
            format!(
                "step `{id}`: `on` in a wait names the connection for its sql; this wait has no sql: remove it"
            ),
        );
    }
    let cond = if let Some(t) = &s.lag_below {
        match lag {
            None => cx.err(
                t.span(),
                "wait lag_below needs a [lag] section saying how lag is measured (method, on, thresholds)",
            ),
            Some(l) => {
                if let Some(msg) = threshold_fits(l.method, t.get_ref()) {
                    cx.err(t.span(), msg);
                }
                let reference = l.warn.or(l.critical);
                if let Some(r) = reference
                    && !r.same_kind(t.get_ref())
                {
                    let example = match r {
                        Threshold::Bytes(_) => "\"1MB\"",
                        Threshold::Time(_) => "\"5s\"",
                        Threshold::Number(_) => "100",
                    };
                    cx.err(
                        t.span(),
                        format!(
                            "lag_below is {} but [lag] warn/critical are {}: write it the same way, e.g. lag_below = {example}",
                            t.get_ref().kind_name(),
                            r.kind_name()
                        ),
                    );
                }
            }
        }
        WaitCond::LagBelow(*t.get_ref())
    } else if let Some(r) = &s.reconcile {
        let name = r.get_ref();
        if name == "all" {
            if reconcile.is_empty() {
                cx.err(
                    r.span(),
                    "wait reconcile = \"all\" but the runbook has no [[reconcile]] checks",
                );
            }
        } else if !reconcile.iter().any(|c| &c.name == name) {
            let known: Vec<&str> = reconcile.iter().map(|c| c.name.as_str()).collect();
            cx.err(
                r.span(),
                format!(
                    "wait names unknown reconcile check `{name}` (known: {})",
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
        WaitCond::Reconcile(name.clone())
    } else if let Some(q) = &s.sql {
        let on_spec = s.on.as_ref().or(step.on.as_ref());
        let on = sql_connection(
            cx,
            on_spec,
            conns,
            q.span(),
            &format!("step `{id}` wait sql"),
        );
        WaitCond::Sql {
            sql: cx.template(q),
            on,
        }
    } else if let Some(r) = &s.run {
        WaitCond::Run(cx.template(r))
    } else {
        WaitCond::Run(Template::default())
    };
    let every = s
        .every
        .as_ref()
        .map_or(Duration::from_secs(2), |d| d.get_ref().get());
    if let Some(e) = &s.every
        && every < Duration::from_millis(100)
    {
        cx.err(
            e.span(),
            format!(
                "step `{id}`: wait every must be at least 100ms (polling faster only loads the server)"
            ),
        );
    }
    Wait {
        cond,
        every,
        hold: s.hold.map_or(Duration::ZERO, |d| d.get()),
    }
}

fn triggers(
    cx: &mut Ctx<'_>,
    specs: &[Spanned<TriggerSpec>],
    conns: &BTreeMap<String, Connection>,
    lag: &Option<LagConfig>,
    ids: &BTreeMap<String, Range<usize>>,
) -> Vec<Trigger> {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for t in specs {
        let s = t.get_ref();
        let name = s.name.get_ref().clone();
        if let Some(first) = names.get(&name) {
            let msg = format!(
                "duplicate rollback_trigger name `{name}` (first used on line {}): names must be unique because the banner and the journal show them",
                cx.line_of(*first)
            );
            cx.err(s.name.span(), msg);
        } else {
            names.insert(name.clone(), s.name.span().start);
        }
        let w = s.when.get_ref();
        let head = cx.head(s.when.span());
        let given: Vec<&str> = [
            ("lag_above", w.lag_above.is_some()),
            ("mismatch_rows_above", w.mismatch_rows_above.is_some()),
            ("step_failed", w.step_failed.is_some()),
            ("window_left_below", w.window_left_below.is_some()),
            ("sql", w.sql.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        if given.len() != 1 {
            cx.err(
                head.clone(),
                format!(
                    "trigger `{name}`: when needs exactly one of lag_above, mismatch_rows_above, step_failed, window_left_below or sql (found {}); use one [[rollback_trigger]] per condition",
                    if given.is_empty() { "none".to_string() } else { given.join(", ") }
                ),
            );
        }
        if let Some(on) = &w.on
            && w.sql.is_none()
        {
            let entry = cx.entry(on.span());
            cx.err(
                entry,
                format!("trigger `{name}`: `on` names the connection for its sql; this trigger has no sql: remove it"),
            );
        }
        let cond = if let Some(th) = &w.lag_above {
            match lag {
                None => cx.err(
                    th.span(),
                    "lag_above needs a [lag] section saying how lag is measured (method, on, thresholds)",
                ),
                Some(l) => {
                    if let Some(msg) = threshold_fits(l.method, th.get_ref()) {
                        cx.err(th.span(), msg);
                    }
                }
            }
            TriggerCond::LagAbove(*th.get_ref())
        } else if let Some(n) = w.mismatch_rows_above {
            TriggerCond::MismatchRowsAbove(n)
        } else if let Some(step) = &w.step_failed {
            if !ids.contains_key(step.get_ref()) {
                let known: Vec<&str> = ids.keys().map(String::as_str).collect();
                cx.err(
                    step.span(),
                    format!(
                        "step_failed names unknown step `{}`{}; known steps: {}",
                        step.get_ref(),
                        super::diag::did_you_mean(step.get_ref(), &known),
                        known.join(", ")
                    ),
                );
            }
            TriggerCond::StepFailed(step.get_ref().clone())
        } else if let Some(d) = &w.window_left_below {
            TriggerCond::WindowLeftBelow(d.get_ref().get())
        } else if let Some(q) = &w.sql {
            let on = sql_connection(
                cx,
                w.on.as_ref(),
                conns,
                q.span(),
                &format!("trigger `{name}` sql"),
            );
            TriggerCond::Sql {
                sql: cx.template(q),
                on,
            }
        } else {
            TriggerCond::MismatchRowsAbove(u64::MAX)
        };
        let action = s.action.unwrap_or_default();
        if let Some(c) = &s.countdown
            && action != TriggerAction::Rollback
        {
            cx.err(
                c.span(),
                format!(
                    "trigger `{name}`: countdown applies only to action = \"rollback\" (the default action only alerts): add action = \"rollback\" or remove countdown"
                ),
            );
        }
        out.push(Trigger {
            name,
            when: cond,
            hold: w.hold.map_or(Duration::ZERO, |d| d.get()),
            action,
            countdown: s.countdown.as_ref().map(|c| c.get_ref().get()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    fn ctx(source: &str) -> Ctx<'_> {
        Ctx {
            file: "f.toml",
            source,
            errors: Vec::new(),
            vars: BTreeMap::new(),
            secrets: Vec::new(),
        }
    }

    #[test_case("on = \"x\"", "\"x\"", "on = \"x\""; "plain key")]
    #[test_case("{ a = 1, on  =  \"x\" }", "\"x\"", "on  =  \"x\""; "inside an inline table")]
    #[test_case("[\"x\"]", "\"x\"", "\"x\""; "no key before the value")]
    fn entry_spans_key_and_value(source: &str, value: &str, want: &str) {
        let start = source.rfind(value).unwrap();
        let span = ctx(source).entry(start..start + value.len());
        assert_eq!(&source[span], want);
    }

    #[test_case("[runbook]\nname='x'\n[[step]]\nid='a'\nrun='true'\nexpected='1m'\ntimeout='30s'\n",
        "expected (1m) is longer than timeout (30s)"; "expected over timeout")]
    #[test_case("[runbook]\nname='x'\n[[step]]\nid='a'\nwait={run='true', on='db'}\n",
        "this wait has no sql"; "wait on without sql")]
    #[test_case("[runbook]\nname='x'\n[[step]]\nid='a'\nrun='true'\n[[rollback_trigger]]\nname='t'\nwhen={step_failed='a', on='db'}\n",
        "this trigger has no sql"; "trigger on without sql")]
    #[test_case("[runbook]\nname='x'\n[connections.source]\ndsn='a'\n[connections.target]\ndsn='b'\n[[reconcile]]\nname='s'\nkind='sequences'\nschemas=['public']\nkey='id'\n[[step]]\nid='a'\nrun='true'\n",
        "`key` does not apply to kind = \"sequences\""; "reconcile key for sequences")]
    fn semantic_mistakes_are_caught(source: &str, want: &str) {
        let err = parse("f.toml", source, &BTreeMap::new()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains(want), "{text}");
    }
}
