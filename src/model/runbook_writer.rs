//! The runbook `cutover init` writes from an [`Inventory`]: connections (passwords as
//! `[secrets]` references), the `[lag]` that fits the replication found, reconcile checks that
//! cover every table and sequence (`coverage = "strict"`), the steps of the cutover with their
//! rollbacks, and triggers, each value with a comment that says why it was chosen.

use std::fmt::Write as _;

use crate::ident::quote_ident;
use crate::inventory::{Inventory, Key, LARGE_TABLE_BYTES, Risk, Table, bytes};

/// Rows per second a large table's comparison is paced at.
pub const PACED_ROWS_PER_SECOND: u64 = 50_000;

/// The lag the run waits under before it freezes writes, at least.
const MIN_WARN_BYTES: u64 = 8 << 20;
/// Seconds of the source's measured change volume the warn threshold allows.
const WARN_SECONDS_OF_CHANGES: u64 = 10;

/// What the writer needs besides the inventory.
#[derive(Debug, Clone)]
pub struct Written<'a> {
    /// The source's DSN as the runbook writes it (a password as `${secrets.…}`).
    pub source_dsn: &'a str,
    /// The target's DSN as the runbook writes it.
    pub target_dsn: &'a str,
    /// `[secrets]` entries: name and environment variable.
    pub secrets: &'a [(String, String)],
    /// The runbook's owner.
    pub owner: &'a str,
}

/// How the target follows the source, as found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replication {
    /// A subscription on the target (name, slot on the source).
    Logical {
        /// The subscription.
        subscription: String,
        /// Its slot on the source.
        slot: String,
    },
    /// The target is a standby of the source.
    Streaming,
    /// Nothing found.
    None,
}

/// The replication from source to target that the inventory shows.
pub fn replication(inv: &Inventory) -> Replication {
    if inv.target.in_recovery {
        return Replication::Streaming;
    }
    let slots = &inv.source.slots;
    let sub = inv.target.subscriptions.iter().find(|s| {
        s.slot
            .as_ref()
            .is_some_and(|slot| slots.iter().any(|(n, ty, _)| n == slot && ty == "logical"))
    });
    match sub.or_else(|| inv.target.subscriptions.first()) {
        Some(s) => Replication::Logical {
            subscription: s.name.clone(),
            slot: s.slot.clone().unwrap_or_else(|| s.name.clone()),
        },
        None => Replication::None,
    }
}

/// A TOML basic string: `"…"` with quotes, backslashes and control characters escaped.
pub fn toml_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\t' => o.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A TOML array of strings.
fn toml_list<S: AsRef<str>>(items: &[S]) -> String {
    let v: Vec<String> = items
        .iter()
        .map(|s| toml_str(&no_refs(s.as_ref())))
        .collect();
    format!("[{}]", v.join(", "))
}

/// A name read from a server, for a runbook key whose `${vars.…}` are filled in (a table, a
/// key, a slot, a subscription): `${` written `$${`, so a table named `log${x}` or
/// `${vars.slot}` is that name, not a reference.
fn no_refs(name: &str) -> String {
    name.replace("${", "$${")
}

/// `text` as comment lines (each prefixed `# `; control characters made plain).
fn comment(o: &mut String, text: &str) {
    for line in crate::text::plain(text).lines() {
        let _ = writeln!(o, "# {line}");
    }
}

/// The lag thresholds for the measured change volume (bytes per second): warn and critical,
/// in whole MB, with the reason.
fn thresholds(inv: &Inventory) -> (u64, u64, String) {
    let volume: f64 = inv
        .tables
        .iter()
        .filter_map(|t| {
            let rate = t.changes_per_second?;
            let row = t.bytes.checked_div(t.rows.max(1)).unwrap_or(0) as f64;
            Some(rate * row)
        })
        .sum();
    let busiest = inv
        .tables
        .iter()
        .filter(|t| t.changes_per_second.is_some())
        .max_by(|a, b| {
            a.changes_per_second
                .partial_cmp(&b.changes_per_second)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
    let mb = 1u64 << 20;
    let wanted = (volume as u64).saturating_mul(WARN_SECONDS_OF_CHANGES);
    let warn = wanted.max(MIN_WARN_BYTES).div_ceil(mb) * mb;
    let critical = warn * 6;
    let why = match busiest {
        Some(t) if inv.sampled_seconds > 0 => format!(
            "{} changes {:.0} rows/s (all tables ~{}/s over {}s): lag warn {} ({}s of changes, at least {}), critical 6x",
            t.shown(),
            t.changes_per_second.unwrap_or(0.0),
            bytes(volume as u64),
            inv.sampled_seconds,
            bytes(warn),
            WARN_SECONDS_OF_CHANGES,
            bytes(MIN_WARN_BYTES)
        ),
        _ => format!(
            "change rate not sampled (cutover init --sample 30s measures it): lag warn {}, critical 6x",
            bytes(warn)
        ),
    };
    (warn / mb, critical / mb, why)
}

/// The runbook text.
pub fn runbook(inv: &Inventory, w: &Written<'_>) -> String {
    let mut o = String::new();
    header(&mut o, inv);
    let repl = replication(inv);
    let _ = writeln!(o, "[runbook]");
    let db = inv
        .source
        .at
        .rsplit('/')
        .next()
        .filter(|d| !d.is_empty())
        .unwrap_or("database");
    let _ = writeln!(
        o,
        "name     = {}",
        toml_str(&format!("{db}: source -> target cutover"))
    );
    let _ = writeln!(o, "owner    = {}", toml_str(w.owner));
    comment(
        &mut o,
        "strict: a table or sequence of the source that no check covers stops the run at preflight.",
    );
    let _ = writeln!(o, "coverage = \"strict\"\n");
    if let Replication::Logical { subscription, slot } = &repl {
        let _ = writeln!(o, "[vars]");
        let _ = writeln!(o, "subscription = {}", toml_str(&no_refs(subscription)));
        let _ = writeln!(o, "slot         = {}\n", toml_str(&no_refs(slot)));
    }
    if !w.secrets.is_empty() {
        comment(
            &mut o,
            "Passwords are read from the environment when the run starts; none is written here.",
        );
        let _ = writeln!(o, "[secrets]");
        for (name, env) in w.secrets {
            let _ = writeln!(o, "{name} = {{ env = {} }}", toml_str(env));
        }
        o.push('\n');
    }
    let _ = writeln!(
        o,
        "[connections.source]\ndsn = {}\n",
        toml_str(w.source_dsn)
    );
    let _ = writeln!(
        o,
        "[connections.target]\ndsn = {}\n",
        toml_str(w.target_dsn)
    );
    let (warn, critical, why) = thresholds(inv);
    lag(&mut o, &repl, warn, critical, &why);
    checks(&mut o, inv, &repl);
    steps(&mut o, inv, &repl, warn);
    triggers(&mut o, &repl, critical, !inv.sequences.is_empty());
    o
}

/// The comment block at the top: what wrote it, and the inventory.
fn header(o: &mut String, inv: &Inventory) {
    comment(
        o,
        &format!(
            "Written by `cutover init` at {} from source {} and target {}.\n\
             Review every step before the night: `cutover check --connect` this file, then\n\
             rehearse it. The steps that need a person (freezing writes, switching the app)\n\
             are confirm steps that say what to do: cutover cannot know how your app writes.\n\
             Preflight runs before step 1 of every run: connections, replication, tables and\n\
             keys, coverage, window and room for the journal.\n",
            inv.taken_at, inv.source.at, inv.target.at
        ),
    );
    for line in inv.lines() {
        comment(o, &format!("  {line}"));
    }
    o.push('\n');
}

fn lag(o: &mut String, repl: &Replication, warn: u64, critical: u64, why: &str) {
    match repl {
        Replication::Logical { subscription, .. } => {
            comment(
                o,
                &format!(
                    "Logical replication: subscription {subscription} on the target reads its slot on the source.\n{why}."
                ),
            );
            let _ = writeln!(
                o,
                "[lag]\nmethod       = \"logical\"\non           = \"source\"\ntarget       = \"target\"\nslot         = \"${{vars.slot}}\"\nsubscription = \"${{vars.subscription}}\"\nwarn         = \"{warn}MB\"\ncritical     = \"{critical}MB\"\ninterval     = \"1s\"\n"
            );
        }
        Replication::Streaming => {
            comment(
                o,
                &format!("The target is a standby of the source: streaming replication.\n{why}."),
            );
            let _ = writeln!(
                o,
                "[lag]\nmethod   = \"streaming\"\non       = \"source\"\nwarn     = \"{warn}MB\"\ncritical = \"{critical}MB\"\ninterval = \"1s\"\n"
            );
        }
        Replication::None => comment(
            o,
            "No replication from source to target was found (no subscription on the target, and the\n\
             target is not a standby): there is no [lag]. Set replication up (or add your copy step\n\
             before the reconcile gate) and run `cutover init` again.\n",
        ),
    }
}

/// The tables a schema's glob check leaves to checks of their own (keyless, large), and the
/// ones on one side only.
fn apart(t: &Table) -> bool {
    matches!(t.key, Some(Key::None)) || t.bytes >= LARGE_TABLE_BYTES || one_side(t)
}

fn one_side(t: &Table) -> bool {
    t.risks
        .iter()
        .any(|r| matches!(r, Risk::SourceOnly | Risk::TargetOnly))
}

/// Exclusions that belong to no schema's own glob check, written into the first one written
/// (a check's exclusions count for every schema).
struct Elsewhere {
    /// The schemas `--schema` left out (`billing.*`): excluded on purpose, not forgotten
    /// (coverage counts every table of the source).
    left_out: Vec<String>,
    /// The tables on one side only of a schema that gets no glob check of its own (every
    /// table of it apart).
    homeless: Vec<String>,
}

impl Elsewhere {
    /// Moves every exclusion into `excluded`, each kind with a comment that says why.
    fn take_into(&mut self, o: &mut String, excluded: &mut Vec<String>) {
        for (names, why) in [
            (
                &mut self.left_out,
                "Left out by --schema, excluded on purpose",
            ),
            (
                &mut self.homeless,
                "On one side only, in a schema with no check of its own like this one, excluded on purpose",
            ),
        ] {
            if !names.is_empty() {
                comment(o, &format!("{why}: {}.", one_line(&names.join(", "))));
                excluded.append(names);
            }
        }
    }
}

/// The checks of one schema's `tables`: one glob check over those on both sides (unless
/// every table has a check of its own, or is on one side only), then a check of its own for
/// each keyless or large one.
fn schema_checks(o: &mut String, schema: &str, tables: &[&Table], elsewhere: &mut Elsewhere) {
    let mut excluded: Vec<String> = tables
        .iter()
        .filter(|t| apart(t))
        .map(|t| t.shown())
        .collect();
    comment(
        o,
        &format!(
            "Every table of {schema}, each with its primary key (or unique NOT NULL index) found at run time."
        ),
    );
    for t in tables.iter().filter(|t| one_side(t)) {
        let side = if t.risks.contains(&Risk::SourceOnly) {
            "source"
        } else {
            "target"
        };
        comment(
            o,
            &format!(
                "{} is on the {side} only: excluded so the gate can pass. Create it on the other side, or keep it excluded on purpose.",
                t.shown()
            ),
        );
    }
    if excluded.len() == tables.len() {
        // A glob over nothing but excluded tables would compare nothing: a check error.
        comment(
            o,
            &format!("Every table of {schema} has a check of its own (or is on one side only)."),
        );
    } else {
        elsewhere.take_into(o, &mut excluded);
        let _ = writeln!(
            o,
            "[[reconcile]]\nname   = {}\nkind   = \"checksum\"\ntables = {}",
            toml_str(&schema_check_name(schema)),
            toml_list(&[format!("{}.*", crate::ident::shown_ident(schema))])
        );
        if !excluded.is_empty() {
            let _ = writeln!(o, "exclude_tables = {}", toml_list(&excluded));
        }
        let _ = writeln!(o, "max_mismatch_rows = 0\n");
    }
    for t in tables.iter().filter(|t| apart(t) && !one_side(t)) {
        table_check(o, t, elsewhere);
    }
}

fn checks(o: &mut String, inv: &Inventory, repl: &Replication) {
    let _ = writeln!(
        o,
        "# --- reconcile: every table and sequence of {} ---\n",
        one_line(&inv.schemas.join(", "))
    );
    let of = |schema: &String| -> Vec<&Table> {
        inv.tables.iter().filter(|t| &t.schema == schema).collect()
    };
    let mut elsewhere = Elsewhere {
        left_out: inv
            .left_out
            .iter()
            .map(|s| format!("{}.*", crate::ident::shown_ident(s)))
            .collect(),
        homeless: inv
            .schemas
            .iter()
            .map(of)
            .filter(|tables| tables.iter().all(|t| apart(t)))
            .flat_map(|tables| tables.into_iter().filter(|t| one_side(t)).map(Table::shown))
            .collect(),
    };
    for schema in &inv.schemas {
        schema_checks(o, schema, &of(schema), &mut elsewhere);
    }
    if inv.sequences.is_empty() {
        comment(
            o,
            "No sequence in these schemas on the source: no sequences check and no sequence sync.",
        );
    } else {
        sequences_check(o, inv, repl);
    }
    schema_check(o, inv);
}

/// The schemas that hold the inventory's sequences (a sequence may live in a schema of its
/// own, with no table: `ids.global_id` feeding `public.t`).
fn sequence_schemas(inv: &Inventory) -> Vec<String> {
    let mut v: Vec<String> = inv.sequences.iter().map(|q| q.schema.clone()).collect();
    v.sort();
    v.dedup();
    v
}

/// `text` made plain on one line (a check's name, a comment's header).
fn one_line(text: &str) -> String {
    crate::text::plain(text).replace(['\n', '\r', '\t'], " ")
}

/// The name of the check over every table of `schema`: the schema's name, made plain (a
/// check's name is one line of printable text), or `NAME tables` where it would take the
/// name of another check (`schema`, `sequences`) or a reserved word (`all`).
fn schema_check_name(schema: &str) -> String {
    let plain = one_line(schema);
    if ["schema", "sequences", "all"].contains(&plain.as_str()) || plain.trim().is_empty() {
        format!("{plain} tables")
    } else {
        plain
    }
}

/// The `sequences` check.
fn sequences_check(o: &mut String, inv: &Inventory, repl: &Replication) {
    comment(
        o,
        if *repl == Replication::Streaming {
            "Sequences: a standby replays them with everything else; the check says whether the target is behind."
        } else {
            "Sequences: logical replication does not carry them; the sync-sequences step (before the gate) does."
        },
    );
    let _ = writeln!(
        o,
        "[[reconcile]]\nname    = \"sequences\"\nkind    = \"sequences\"\nschemas = {}\n",
        toml_list(&sequence_schemas(inv))
    );
}

/// The `schema` check: of the schemas, or of the tables on both sides when some are on one
/// side only.
fn schema_check(o: &mut String, inv: &Inventory) {
    let split: Vec<String> = inv
        .tables
        .iter()
        .filter(|t| one_side(t))
        .map(|t| t.shown())
        .collect();
    if split.is_empty() {
        comment(
            o,
            "Structure: columns, keys, constraints, indexes, triggers, the database's collation.",
        );
        let _ = writeln!(
            o,
            "[[reconcile]]\nname    = \"schema\"\nkind    = \"schema\"\nschemas = {}\n",
            toml_list(&inv.schemas)
        );
    } else {
        let common: Vec<String> = inv
            .tables
            .iter()
            .filter(|t| !one_side(t))
            .map(|t| t.shown())
            .collect();
        comment(
            o,
            &format!(
                "Structure of the tables on both sides ({} on one side only are left out).",
                split.len()
            ),
        );
        let _ = writeln!(
            o,
            "[[reconcile]]\nname   = \"schema\"\nkind   = \"schema\"\ntables = {}\n",
            toml_list(&common)
        );
    }
}

/// A check of its own for a keyless or large table. While exclusions wait for a check to
/// stand in (no glob check written yet: every table so far has a check of its own), this one
/// takes them: it names its table as a glob that matches it alone (`exclude_tables` goes with
/// `tables`), and its key is found at run time, as a glob check's is.
fn table_check(o: &mut String, t: &Table, elsewhere: &mut Elsewhere) {
    let name = t.shown();
    let keyless = matches!(t.key, Some(Key::None));
    if keyless {
        comment(
            o,
            &format!("{name} has no key: compared as a multiset (every row and its duplicates)."),
        );
    }
    let mut excluded = Vec::new();
    elsewhere.take_into(o, &mut excluded);
    let _ = writeln!(
        o,
        "[[reconcile]]\nname  = {}\nkind  = \"checksum\"",
        toml_str(&one_line(&name))
    );
    if excluded.is_empty() {
        let _ = writeln!(o, "table = {}", toml_str(&no_refs(&name)));
        if let Some(Key::Primary(cols) | Key::Unique(cols)) = &t.key {
            let _ = writeln!(o, "key   = {}", toml_list(cols));
        }
    } else {
        let _ = writeln!(o, "tables = {}", toml_list(std::slice::from_ref(&name)));
        let _ = writeln!(o, "exclude_tables = {}", toml_list(&excluded));
    }
    if t.bytes >= LARGE_TABLE_BYTES {
        comment(
            o,
            &format!(
                "{name} is {}: paced so the comparison does not compete with the cutover.",
                bytes(t.bytes)
            ),
        );
        let _ = writeln!(o, "max_rows_per_second = {PACED_ROWS_PER_SECOND}");
    }
    let _ = writeln!(o, "max_mismatch_rows = 0\n");
}

fn step(o: &mut String, fields: &[(&str, String)]) {
    let _ = writeln!(o, "[[step]]");
    let width = fields.iter().map(|(k, _)| k.len()).max().unwrap_or(0);
    for (k, v) in fields {
        let _ = writeln!(o, "{k:width$} = {v}");
    }
    o.push('\n');
}

fn steps(o: &mut String, inv: &Inventory, repl: &Replication, warn_mb: u64) {
    let lagged = *repl != Replication::None;
    let _ = writeln!(o, "# --- before the freeze ---\n");
    if lagged {
        wait_lag_step(o, warn_mb);
    }
    freeze_steps(o, inv, repl);
    if *repl != Replication::Streaming && !inv.sequences.is_empty() {
        sync_sequences_step(o, inv);
    }
    reconcile_step(o);
    switch_steps(o, inv, repl);
}

/// Replication keeps up before anything is frozen.
fn wait_lag_step(o: &mut String, warn_mb: u64) {
    step(
        o,
        &[
            ("id", toml_str("wait-lag")),
            (
                "title",
                toml_str("Replication keeps up under the app's load"),
            ),
            (
                "wait",
                format!("{{ lag_below = \"{warn_mb}MB\", for = \"10s\" }}"),
            ),
            ("expected", toml_str("15s")),
            ("timeout", toml_str("10m")),
        ],
    );
}

/// Freezing writes, and replication draining what was written before.
fn freeze_steps(o: &mut String, inv: &Inventory, repl: &Replication) {
    let lagged = *repl != Replication::None;
    let _ = writeln!(o, "# --- freeze and drain ---\n");
    step(
        o,
        &[
            ("id", toml_str("freeze-writes")),
            ("title", toml_str("Freeze writes to the source")),
            (
                "notes",
                toml_str(&format!(
                    "Stop everything that writes to the source ({}): put the app in maintenance mode, stop its workers and cron jobs, or revoke its login. cutover cannot know how your app writes. Type FROZEN once nothing writes. To undo: let the writers back.",
                    inv.source.at
                )),
            ),
            ("confirm", toml_str("FROZEN")),
        ],
    );
    if lagged {
        step(
            o,
            &[
                ("id", toml_str("drain")),
                ("title", toml_str("Replication has drained")),
                (
                    "wait",
                    "{ lag_below = \"64kB\", for = \"5s\", every = \"500ms\" }".into(),
                ),
                ("expected", toml_str("10s")),
                ("timeout", toml_str("10m")),
            ],
        );
    }
}

/// The target's sequences brought up to the source's (writes are frozen).
fn sync_sequences_step(o: &mut String, inv: &Inventory) {
    step(
        o,
        &[
            ("id", toml_str("sync-sequences")),
            (
                "title",
                toml_str("Bring the target's sequences up to the source's"),
            ),
            (
                "notes",
                toml_str(
                    "Writes are frozen, so the source's values are final; the target gets them plus 1000. Sequences never move backwards: nothing to roll back.",
                ),
            ),
            (
                "sync_sequences",
                format!(
                    "{{ from = \"source\", to = \"target\", schemas = {}, margin = 1000 }}",
                    toml_list(&sequence_schemas(inv))
                ),
            ),
            ("expected", toml_str("5s")),
            ("timeout", toml_str("2m")),
        ],
    );
}

/// Every reconcile check passes before the switch.
fn reconcile_step(o: &mut String) {
    step(
        o,
        &[
            ("id", toml_str("reconcile")),
            (
                "title",
                toml_str("Source and target hold the same data, sequences and structure"),
            ),
            ("wait", "{ reconcile = \"all\" }".into()),
            ("expected", toml_str("1m")),
            ("timeout", toml_str("2h")),
        ],
    );
}

/// Stopping replication, the switch and the check after it.
fn switch_steps(o: &mut String, inv: &Inventory, repl: &Replication) {
    let _ = writeln!(o, "# --- decide and switch ---\n");
    stop_replication_step(o, repl);
    switch_step(o, inv);
    let _ = writeln!(o, "# --- after the switch ---\n");
    writable_step(o);
}

/// Replication into the target stops: a subscription disabled, or a standby promoted.
fn stop_replication_step(o: &mut String, repl: &Replication) {
    match repl {
        // The subscription's name quoted here, not `${vars.subscription:ident}`: that form
        // splits at dots and reads double quotes as quoting (a schema-qualified name), so
        // `Sub.One` or `x"y` named another subscription, or none.
        Replication::Logical { subscription, .. } => step(
            o,
            &[
                ("id", toml_str("stop-replication")),
                ("title", toml_str("Stop replication into the target")),
                (
                    "sql",
                    toml_str(&no_refs(&format!(
                        "alter subscription {} disable",
                        quote_ident(subscription)
                    ))),
                ),
                ("on", toml_str("target")),
                ("expect", "{ rows = 0 }".into()),
                ("expected", toml_str("1s")),
                ("timeout", toml_str("30s")),
                (
                    "rollback_sql",
                    toml_str(&no_refs(&format!(
                        "alter subscription {} enable",
                        quote_ident(subscription)
                    ))),
                ),
            ],
        ),
        Replication::Streaming => step(
            o,
            &[
                ("id", toml_str("promote")),
                (
                    "title",
                    toml_str("Promote the target (it stops following the source)"),
                ),
                (
                    "sql",
                    toml_str("select pg_catalog.pg_promote(true, 60)::text"),
                ),
                ("on", toml_str("target")),
                ("expect", "{ value = \"true\" }".into()),
                ("expected", toml_str("5s")),
                ("timeout", toml_str("2m")),
                (
                    "point_of_no_return",
                    toml_str(
                        "A promoted standby cannot follow the source again: roll forward, or rebuild the standby.",
                    ),
                ),
            ],
        ),
        Replication::None => {}
    }
}

/// The app moves to the target: the point of no return.
fn switch_step(o: &mut String, inv: &Inventory) {
    step(
        o,
        &[
            ("id", toml_str("switch")),
            ("title", toml_str("Switch the app to the target")),
            (
                "notes",
                toml_str(&format!(
                    "Point the app at the target ({}): its connection settings, DNS or pooler. Type SWITCHED once it connects there. To undo before it writes: point it back at the source.",
                    inv.target.at
                )),
            ),
            ("confirm", toml_str("SWITCHED")),
            (
                "point_of_no_return",
                toml_str(
                    "Once the app writes to the target, those rows exist nowhere else: roll forward from here, do not roll back.",
                ),
            ),
        ],
    );
}

/// The target takes writes after the switch.
fn writable_step(o: &mut String) {
    step(
        o,
        &[
            ("id", toml_str("post-target-writable")),
            ("title", toml_str("The target accepts writes")),
            (
                "sql",
                toml_str(
                    "select (not pg_catalog.pg_is_in_recovery() and pg_catalog.current_setting('default_transaction_read_only') = 'off')::text",
                ),
            ),
            ("on", toml_str("target")),
            ("expect", "{ value = \"true\" }".into()),
            ("changes", "false".into()),
            ("expected", toml_str("1s")),
            ("timeout", toml_str("15s")),
        ],
    );
}

fn triggers(o: &mut String, repl: &Replication, critical_mb: u64, sequences: bool) {
    let _ = writeln!(
        o,
        "# --- rollback triggers: they alert and propose the plan; none rolls back by itself ---\n"
    );
    if *repl != Replication::None {
        let _ = writeln!(
            o,
            "[[rollback_trigger]]\nname = \"lag runaway\"\nwhen = {{ lag_above = \"{critical_mb}MB\", for = \"60s\" }}\n"
        );
    }
    let _ = writeln!(
        o,
        "[[rollback_trigger]]\nname = \"data drift\"\nwhen = {{ mismatch_rows_above = 0 }}\n"
    );
    if *repl != Replication::Streaming && sequences {
        let _ = writeln!(
            o,
            "[[rollback_trigger]]\nname = \"sequence sync failed\"\nwhen = {{ step_failed = \"sync-sequences\" }}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::template::Template;

    /// The statements that stop and restart replication name the subscription itself: a dot or
    /// a double quote in its name no longer makes another name (`"Sub"."One"`, `"xy"`), and
    /// `${` is written `$${` so that it is not a reference.
    #[test]
    fn the_stop_replication_step_names_the_subscription_itself() {
        for (name, sql) in [
            ("x\"y", "alter subscription \"x\"\"y\" disable"),
            ("Sub.One", "alter subscription \"Sub.One\" disable"),
            (
                "s${vars.slot}",
                "alter subscription \"s${vars.slot}\" disable",
            ),
        ] {
            let mut o = String::new();
            let repl = Replication::Logical {
                subscription: name.into(),
                slot: "slot".into(),
            };
            stop_replication_step(&mut o, &repl);
            let doc: toml::Table = o.parse().unwrap_or_else(|e| panic!("{e}\n{o}"));
            let written = doc["step"][0]["sql"].as_str().unwrap();
            let t = Template::parse_sql(written, &Default::default(), &[]).unwrap();
            assert_eq!(t.render(&Default::default()), sql, "{o}");
        }
    }
}
