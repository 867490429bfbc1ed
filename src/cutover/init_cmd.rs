//! `cutover init --source DSN --target DSN [-o FILE] [--sample 30s]`: inventories both servers
//! read-only and writes a runbook that covers every table (`coverage = "strict"`), passes
//! `cutover check`, and says why each value was chosen. Passwords are never written: a
//! password given in a DSN becomes a `[secrets]` reference. Exit 0 written, 2 not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cutover_engine::inventory::{self, Side, Waiting};
use cutover_model::ident::conninfo_value;
use cutover_model::inventory::{Inventory, Risk, Table};
use cutover_model::runbook::{Runbook, dsn};
use cutover_model::runbook_writer::{self, Written};
use cutover_pg::ConnSettings;

use crate::exit::{Exit, Failure, Outcome};
use crate::new_file::{refuse_existing, write_new};
use crate::say;

/// The command line of `cutover init`.
#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The source server (libpq conninfo or postgres:// URL).
    #[arg(long, value_name = "DSN")]
    pub source: String,
    /// The target server.
    #[arg(long, value_name = "DSN")]
    pub target: String,
    /// Where to write the runbook (`-`: stdout). Never overwrites a file.
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        default_value = "cutover.toml"
    )]
    pub output: PathBuf,
    /// Measure each table's change rate over this long (`30s`, `2m`).
    #[arg(long, value_name = "DURATION", value_parser = up_to_an_hour)]
    pub sample: Option<Duration>,
    /// How long the servers have to answer the inventory's reads, all told (besides
    /// `--sample`'s wait): a server that stops answering is named when it runs out.
    #[arg(long = "read-timeout", value_name = "DURATION", value_parser = up_to_an_hour, default_value = "2m")]
    pub read_within: Duration,
    /// Inventory only these schemas (repeatable; default: every schema with tables).
    #[arg(long = "schema", value_name = "NAME")]
    pub schemas: Vec<String>,
    /// Also write the inventory to FILE.md (Markdown) or FILE.json.
    #[arg(long, value_name = "FILE")]
    pub inventory: Option<PathBuf>,
}

/// A duration from 1s to 1h (`--sample`, `--read-timeout`).
fn up_to_an_hour(s: &str) -> Result<Duration, String> {
    let d = cutover_model::runbook::units::parse_duration(s).map_err(|e| e.to_string())?;
    if d.is_zero() || d > Duration::from_secs(3600) {
        return Err("between 1s and 1h".into());
    }
    Ok(d)
}

/// How long each server has to accept the connection.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);

/// Runs the command; returns the exit code.
pub fn main(args: InitArgs) -> Outcome {
    match run(&args) {
        Ok(()) => Ok(Exit::Ok),
        Err(why) => Err(Failure::new(
            Exit::Invalid,
            format!("cutover init: {}", cutover_model::text::plain(&why)),
        )),
    }
}

fn run(args: &InitArgs) -> Result<(), String> {
    refuse_paths(args)?;
    let (inv, text) = inventory_and_runbook(args)?;
    let report: Vec<String> = inv.lines();
    if args.output.as_os_str() == "-" {
        write_inventory(args, &inv)?;
        for line in &report {
            say::err(line);
        }
        if !say::out(text.trim_end()) {
            return Err("cannot write to stdout".into());
        }
        return Ok(());
    }
    write_new(&args.output, &text)?;
    if let Err(e) = write_inventory(args, &inv) {
        // Both files or neither: the runbook just written is taken back.
        let _ = std::fs::remove_file(&args.output);
        return Err(e);
    }
    for line in &report {
        say::out(line);
    }
    say::out(&format!(
        "wrote {}: {} checks cover every table and sequence of {} · next: cutover check --connect {}",
        args.output.display(),
        text.matches("[[reconcile]]").count(),
        inv.schemas.join(", "),
        args.output.display()
    ));
    Ok(())
}

/// Refuses an `-o` or `--inventory` that exists (or an `--inventory` of another kind) before
/// any server is asked anything.
fn refuse_paths(args: &InitArgs) -> Result<(), String> {
    if args.output.as_os_str() != "-" {
        refuse_existing(&args.output)?;
    } else if !say::stdout_kept() {
        return Err(
            "-o -: stdout is closed or /dev/null, the runbook would be lost (name a file with -o)"
                .into(),
        );
    }
    if let Some(p) = &args.inventory {
        refuse_existing(p)?;
        if !matches!(extension(p).as_deref(), Some("md" | "json")) {
            return Err(format!(
                "--inventory {}: name a .md or .json file",
                p.display()
            ));
        }
    }
    Ok(())
}

/// What is said when the reads took longer than `within`: which server did not answer, and
/// to what (`unanswered`, as [`Waiting::unanswered`] says it).
fn no_answer(within: Duration, unanswered: &[String]) -> String {
    let secs = within.as_secs();
    let who = if unanswered.is_empty() {
        format!("the servers did not answer within {secs}s")
    } else {
        format!(
            "no answer within {secs}s from {}",
            unanswered.join(", nor from ")
        )
    };
    format!(
        "{who}: a server that stopped answering, or a table locked by another session's DDL (see pg_locks); nothing was written"
    )
}

/// Reads both servers and writes the runbook's text, validated.
fn inventory_and_runbook(args: &InitArgs) -> Result<(Inventory, String), String> {
    let (source_dsn, mut secrets) = written_dsn("source", &args.source)?;
    let (target_dsn, more) = written_dsn("target", &args.target)?;
    secrets.extend(more);
    let settings = |side: &str, dsn: &str| {
        ConnSettings::parse(side, dsn)
            .map(|c| {
                c.with_connect_timeout(CONNECT_WITHIN)
                    .with_application_name("cutover init")
            })
            .map_err(|e| e.to_string())
    };
    let source = settings("source", &args.source)?;
    let target = settings("target", &args.target)?;
    let rt = crate::serve::runtime().map_err(|e| format!("cannot start the runtime: {e}"))?;
    // The reads are catalog queries that take a moment; a server that stops answering, or a
    // table locked by someone's DDL, must not hold `init` for ever.
    let within = args.read_within + args.sample.unwrap_or_default();
    let waiting = Waiting::default();
    let inv = rt
        .block_on(async {
            tokio::time::timeout(within, take_inventory(&source, &target, args, &waiting)).await
        })
        .map_err(|_| no_answer(within, &waiting.unanswered()))??;
    let owner = cutover_model::host::current_user_name().unwrap_or_else(|| "dba-oncall".into());
    let text = runbook_writer::runbook(
        &inv,
        &Written {
            source_dsn: &source_dsn,
            target_dsn: &target_dsn,
            secrets: &secrets,
            owner: &owner,
        },
    );
    let shown = if args.output.as_os_str() == "-" {
        "cutover.toml".to_string()
    } else {
        args.output.display().to_string()
    };
    if let Err(e) = Runbook::parse(&shown, &text, &BTreeMap::new()) {
        return Err(format!(
            "the runbook written for these servers does not validate (a bug in cutover init; nothing was written):\n{e}"
        ));
    }
    Ok((inv, text))
}

/// `--inventory FILE`: the inventory as Markdown or JSON, by the file's extension.
fn write_inventory(args: &InitArgs, inv: &Inventory) -> Result<(), String> {
    let Some(p) = &args.inventory else {
        return Ok(());
    };
    let body = if extension(p).as_deref() == Some("json") {
        serde_json::to_string_pretty(inv).map_err(|e| e.to_string())? + "\n"
    } else {
        inv.markdown()
    };
    write_new(p, &body)
}

fn extension(p: &Path) -> Option<String> {
    p.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// The DSN as the runbook writes it: a password replaced by a `${secrets.…}` reference (and
/// the `[secrets]` entry that reads it from the environment).
fn written_dsn(side: &str, given: &str) -> Result<(String, Vec<(String, String)>), String> {
    let params = dsn::params(given).map_err(|e| format!("--{side}: {e}"))?;
    let secret = format!("{}_PASSWORD", side.to_ascii_uppercase());
    let mut secrets = Vec::new();
    let mut parts = Vec::new();
    for (k, v) in params {
        if k == "password" {
            parts.push(format!("password=${{secrets.{secret}}}"));
            secrets.push((secret.clone(), format!("CUTOVER_{secret}")));
        } else {
            // `${` in a value (a database named `shop${x}`) is that text, not a reference.
            parts.push(format!("{k}={}", conninfo_value(&v).replace("${", "$${")));
        }
    }
    Ok((parts.join(" "), secrets))
}

/// Connects to both servers and reads everything `init` needs.
async fn take_inventory(
    source: &ConnSettings,
    target: &ConnSettings,
    args: &InitArgs,
    waiting: &Waiting,
) -> Result<Inventory, String> {
    let ((sc, s_at), (tc, t_at)) =
        tokio::try_join!(connect(source, "source"), connect(target, "target"))?;
    let s = Side {
        side: "source",
        at: &s_at,
        client: &sc,
        waiting,
    };
    let t = Side {
        side: "target",
        at: &t_at,
        client: &tc,
        waiting,
    };
    for side in [&s, &t] {
        inventory::bound_lock_waits(side)
            .await
            .map_err(|e| e.to_string())?;
    }
    let all_schemas = inventory::schemas(&s).await.map_err(|e| e.to_string())?;
    let schemas = chosen_schemas(args, &all_schemas, &s_at)?;
    let rates = match args.sample {
        Some(d) => Some(sample(&s, &schemas, d).await?),
        None => None,
    };
    inventory::begin_read_only(&s)
        .await
        .map_err(|e| e.to_string())?;
    inventory::begin_read_only(&t)
        .await
        .map_err(|e| e.to_string())?;
    let (source_server, target_server) =
        tokio::try_join!(inventory::server(&s), inventory::server(&t))
            .map_err(|e| e.to_string())?;
    let seq_schemas = sequence_schemas(&s, args, &schemas).await?;
    let (src_tables, tgt_tables, sequences) = tokio::try_join!(
        inventory::tables(&s, &schemas),
        inventory::tables(&t, &schemas),
        inventory::sequences(&s, &seq_schemas)
    )
    .map_err(|e| e.to_string())?;
    for schema in &schemas {
        if !src_tables.iter().any(|(x, _)| &x.schema == schema) {
            return Err(format!(
                "the source {s_at} has no table in schema {schema}: nothing to cut over there (leave out --schema {schema})"
            ));
        }
    }
    let left_out: Vec<String> = all_schemas
        .into_iter()
        .filter(|a| !schemas.contains(a))
        .collect();
    refuse_unreadable_tables((&src_tables, &s_at), (&tgt_tables, &t_at))?;
    let (s_seq, t_seq) = tokio::try_join!(
        inventory::unreadable_sequences(&s, &seq_schemas),
        inventory::unreadable_sequences(&t, &seq_schemas)
    )
    .map_err(|e| e.to_string())?;
    refuse_unreadable(on_sides((s_seq, &s_at), (t_seq, &t_at)), |_, names| {
        format!(
            "cannot read {names}: the sequences check reads each sequence's value (GRANT SELECT ON SEQUENCE … TO the user init connects as); nothing was written"
        )
    })?;
    let tables = merge(src_tables, tgt_tables, rates.as_ref());
    both_sides(&tables, &s_at, &t_at)?;
    Ok(Inventory {
        taken_at: chrono::Utc::now()
            .format("%Y-%m-%d %H:%M:%S UTC")
            .to_string(),
        schemas,
        sampled_seconds: args.sample.map_or(0, |d| d.as_secs()),
        source: source_server,
        target: target_server,
        tables,
        sequences,
        left_out,
    })
}

/// The schemas to inventory: those named by `--schema`, each once (`--schema billing
/// --schema billing`), else every schema with tables; none is an error.
fn chosen_schemas(args: &InitArgs, all: &[String], s_at: &str) -> Result<Vec<String>, String> {
    let schemas: Vec<String> = if args.schemas.is_empty() {
        all.to_vec()
    } else {
        let mut seen = std::collections::BTreeSet::new();
        args.schemas
            .iter()
            .filter(|s| seen.insert(s.as_str()))
            .cloned()
            .collect()
    };
    if schemas.is_empty() {
        return Err(format!(
            "the source {s_at} has no tables outside the system schemas: nothing to cut over"
        ));
    }
    Ok(schemas)
}

/// The schemas whose sequences are synced and checked: every schema when none was named
/// (one may live in a schema with no table, `ids.global_id` feeding `public.t`, and an
/// unsynced one hands out ids the source already gave), else the named ones.
async fn sequence_schemas(
    s: &Side<'_>,
    args: &InitArgs,
    schemas: &[String],
) -> Result<Vec<String>, String> {
    if !args.schemas.is_empty() {
        return Ok(schemas.to_vec());
    }
    let mut all = inventory::sequence_schemas(s)
        .await
        .map_err(|e| e.to_string())?;
    all.extend(schemas.iter().cloned());
    all.sort();
    all.dedup();
    Ok(all)
}

/// Refuses tables this user may not read on either side (each `(tables, where)`, a table with
/// whether it is readable), naming them and the privilege.
fn refuse_unreadable_tables(
    (src, s_at): (&[(Table, bool)], &str),
    (tgt, t_at): (&[(Table, bool)], &str),
) -> Result<(), String> {
    let unreadable = |tables: &[(Table, bool)]| -> Vec<String> {
        tables
            .iter()
            .filter(|(_, ok)| !ok)
            .map(|(x, _)| x.shown())
            .collect()
    };
    refuse_unreadable(
        on_sides((unreadable(src), s_at), (unreadable(tgt), t_at)),
        |n, names| {
            format!(
                "this user lacks the SELECT privilege on {n} table(s), which reconciliation must read: {names}"
            )
        },
    )
}

/// Refuses an inventory with no table on both sides: its runbook's checks would compare
/// nothing (every table excluded as on one side only), so its gate would prove nothing. An
/// empty target, or the wrong database, is the usual cause.
fn both_sides(tables: &[Table], s_at: &str, t_at: &str) -> Result<(), String> {
    let on = |risk: Risk| tables.iter().filter(|t| t.risks.contains(&risk)).count();
    let (source_only, target_only) = (on(Risk::SourceOnly), on(Risk::TargetOnly));
    if source_only + target_only < tables.len() {
        return Ok(());
    }
    Err(format!(
        "no table is on both the source {s_at} and the target {t_at} ({source_only} on the \
         source only, {target_only} on the target only): a runbook would compare nothing. Is \
         the target the right database? Create the tables on the target (pg_dump \
         --schema-only … | psql …) and run init again; nothing was written"
    ))
}

/// A client of `c` (the `side`) and where it is, within [`CONNECT_WITHIN`] (and a second).
async fn connect(
    c: &ConnSettings,
    side: &'static str,
) -> Result<(cutover_pg::Client, String), String> {
    let at = c.target();
    match tokio::time::timeout(CONNECT_WITHIN + Duration::from_secs(1), c.connect()).await {
        Ok(Ok(client)) => Ok((client, at)),
        Ok(Err(e)) => Err(format!("cannot connect to the {side} {at}: {e}")),
        Err(_) => Err(format!(
            "cannot connect to the {side} {at}: no answer within {}s",
            CONNECT_WITHIN.as_secs() + 1
        )),
    }
}

/// Each name of the source's and the target's, said with where it is
/// (`public.t on the source HOST:PORT/DB`).
fn on_sides(
    (source, s_at): (Vec<String>, &str),
    (target, t_at): (Vec<String>, &str),
) -> Vec<String> {
    let src = source
        .into_iter()
        .map(|n| format!("{n} on the source {s_at}"));
    let tgt = target
        .into_iter()
        .map(|n| format!("{n} on the target {t_at}"));
    src.chain(tgt).collect()
}

/// A table or sequence the user may not read on either side stops `init`: reconciliation
/// must read it. `message` says so from how many there are and the first ten.
fn refuse_unreadable(
    unreadable: Vec<String>,
    message: impl FnOnce(usize, &str) -> String,
) -> Result<(), String> {
    if unreadable.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = unreadable.iter().take(10).map(String::as_str).collect();
    Err(message(unreadable.len(), &names.join(", ")))
}

/// Rows changed per second per table, over `d`.
async fn sample(
    s: &Side<'_>,
    schemas: &[String],
    d: Duration,
) -> Result<BTreeMap<(String, String), f64>, String> {
    let before = inventory::changes(s, schemas)
        .await
        .map_err(|e| e.to_string())?;
    say::err(&format!(
        "sampling the source's change rate for {}s…",
        d.as_secs()
    ));
    tokio::time::sleep(d).await;
    let after = inventory::changes(s, schemas)
        .await
        .map_err(|e| e.to_string())?;
    let secs = d.as_secs_f64().max(1.0);
    Ok(after
        .into_iter()
        .map(|(k, n)| {
            let was = before.get(&k).copied().unwrap_or(n);
            let rate = (n - was).max(0) as f64 / secs;
            (k, rate)
        })
        .collect())
}

/// The source's tables (with their rates) and the target's that the source lacks, flagged.
fn merge(
    source: Vec<(Table, bool)>,
    target: Vec<(Table, bool)>,
    rates: Option<&BTreeMap<(String, String), f64>>,
) -> Vec<Table> {
    let on_target: std::collections::BTreeSet<(String, String)> = target
        .iter()
        .map(|(t, _)| (t.schema.clone(), t.name.clone()))
        .collect();
    let on_source: std::collections::BTreeSet<(String, String)> = source
        .iter()
        .map(|(t, _)| (t.schema.clone(), t.name.clone()))
        .collect();
    let mut out: Vec<Table> = Vec::new();
    for (mut t, _) in source {
        let k = (t.schema.clone(), t.name.clone());
        if !on_target.contains(&k) {
            t.risks.push(Risk::SourceOnly);
        }
        t.changes_per_second = rates.map(|r| r.get(&k).copied().unwrap_or(0.0));
        t.flag();
        out.push(t);
    }
    for (mut t, _) in target {
        if !on_source.contains(&(t.schema.clone(), t.name.clone())) {
            t.risks.push(Risk::TargetOnly);
            t.flag();
            out.push(t);
        }
    }
    out.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    out
}
