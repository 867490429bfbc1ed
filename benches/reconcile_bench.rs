//! Benchmark helper for `benches/reconcile.sh` (not part of the product CLI).
//!
//! * `reconcile_bench pair DIR [KEY=VALUE...]`: creates a source and a target cluster with
//!   the test harness under DIR (extra `postgresql.conf` settings allowed), leaves them
//!   running and prints shell assignments `SOURCE_PORT=… SOURCE_ROOT=… TARGET_PORT=…
//!   TARGET_ROOT=…` (stop them with `pg_ctl -D ROOT/data stop`).
//! * `reconcile_bench run SOURCE_DSN TARGET_DSN TABLE KEY[,KEY…] [KIND] [PARTITIONS]`: runs
//!   one reconcile check (kind `checksum` by default) and prints the verdict and every
//!   mismatching key; with `RECONCILE_JSON=1` the whole result as JSON.
//! * `reconcile_bench repair SOURCE_DSN TARGET_DSN TABLE KEY`: runs the checksum check, then
//!   builds the repair patch of its differences and applies it on the target, and prints the
//!   time of each (`check`, `build`, `apply`) and the check's verdict afterwards.

use std::process::ExitCode;

use cutover_drill::harness::{Cluster, ClusterOptions, PgBin};
use cutover_model::reconcile::{self as model, Status};
use cutover_model::runbook::{ReconcileCheck, ReconcileKind};
use cutover_pg::ConnSettings;
use cutover_reconcile::{self as reconcile, Options};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    // `cargo bench` passes `--bench`; the subcommands are ours.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let r = match args.first().map(String::as_str) {
        Some("pair") if args.len() >= 2 => pair(&args[1], &args[2..]).await,
        Some("run") if args.len() >= 5 => run(&args[1..]).await,
        Some("repair") if args.len() >= 5 => repair(&args[1..]).await,
        _ => Err("usage: reconcile_bench pair DIR [K=V...] | run SRC_DSN TGT_DSN TABLE KEY [KIND] [PARTITIONS]".into()),
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            eprintln!("reconcile_bench: {e}");
            ExitCode::from(2)
        }
    }
}

async fn pair(dir: &str, settings: &[String]) -> Result<ExitCode, String> {
    let bin = PgBin::find(None).map_err(|e| e.to_string())?;
    let opts = |name: &str| {
        let mut o = ClusterOptions::named(name);
        o.parent_dir = Some(dir.into());
        for kv in settings {
            if let Some((k, v)) = kv.split_once('=') {
                o = o.setting(k, v);
            }
        }
        o
    };
    let (s, t) = tokio::join!(
        Cluster::create(&bin, opts("bench-source")),
        Cluster::create(&bin, opts("bench-target"))
    );
    let (s, t) = (s.map_err(|e| e.to_string())?, t.map_err(|e| e.to_string())?);
    let (sp, tp) = (s.port(), t.port());
    let (sr, tr) = (s.keep(), t.keep());
    println!(
        "SOURCE_PORT={sp} SOURCE_ROOT={} TARGET_PORT={tp} TARGET_ROOT={}",
        sr.display(),
        tr.display()
    );
    Ok(ExitCode::SUCCESS)
}

async fn run(a: &[String]) -> Result<ExitCode, String> {
    let kind = match a.get(4).map(String::as_str) {
        None | Some("checksum") => ReconcileKind::Checksum,
        Some("count") => ReconcileKind::Count,
        Some(k) => return Err(format!("unknown kind {k}")),
    };
    let key: Vec<String> = a[3].split(',').map(str::to_string).collect();
    let mut check = ReconcileCheck::on_table("bench", kind, &a[2], &key);
    check.recheck_after_lag = false;
    check.partitions = a.get(5).and_then(|p| p.parse().ok());
    // `RECONCILE_HASH=text`: the row-text sha256 path, for the side-by-side figures.
    check.hash_text = std::env::var("RECONCILE_HASH").is_ok_and(|h| h == "text");
    let s = ConnSettings::parse("source", &a[0]).map_err(|e| e.to_string())?;
    let t = ConnSettings::parse("target", &a[1]).map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    // Milliseconds at which each phase was first seen.
    let phases = std::sync::Mutex::new(Vec::<(model::Phase, u64)>::new());
    let progress = |p: &model::Progress| {
        if let Ok(mut v) = phases.lock()
            && v.last().is_none_or(|(ph, _)| *ph != p.phase)
        {
            v.push((p.phase, p.elapsed_ms));
        }
    };
    let mut opts = Options::default();
    if let Some(n) = std::env::var("RECONCILE_DRILL_MAX_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        opts.drill_max_rows = n;
    }
    let r = reconcile::run_check_with(&check, &s, &t, &opts, &progress).await;
    let phases = phases.into_inner().unwrap_or_default();
    let wall = started.elapsed();
    if std::env::var_os("RECONCILE_JSON").is_some() {
        println!(
            "{}",
            serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?
        );
    } else {
        println!(
            "cutover: {:?}: {} rows compared, {}/{} partitions, {} mismatching rows, check {} ms, with connect {} ms",
            r.status,
            r.rows_compared,
            r.partitions_done,
            r.partitions_total,
            r.mismatch_total,
            r.elapsed_ms,
            wall.as_millis()
        );
        let shown: Vec<String> = phases
            .iter()
            .map(|(p, ms)| format!("{p:?} from {ms} ms"))
            .collect();
        println!("  phases: {}", shown.join(", "));
        if let Some(e) = &r.error {
            println!("  error: {e}");
        }
        for m in &r.mismatches {
            println!(
                "  {} = {}: {}",
                r.key_columns.join(","),
                m.key.join(","),
                m.detail
            );
        }
    }
    Ok(match r.status {
        Status::Pass => ExitCode::SUCCESS,
        Status::Fail => ExitCode::from(1),
        Status::Error => ExitCode::from(3),
    })
}

async fn repair(a: &[String]) -> Result<ExitCode, String> {
    let key: Vec<String> = a[3].split(',').map(str::to_string).collect();
    let mut check = ReconcileCheck::on_table("bench", ReconcileKind::Checksum, &a[2], &key);
    check.recheck_after_lag = false;
    let s = ConnSettings::parse("source", &a[0]).map_err(|e| e.to_string())?;
    let t = ConnSettings::parse("target", &a[1]).map_err(|e| e.to_string())?;
    let (sc, tc) = reconcile::connect_pair(&s, &t)
        .await
        .map_err(|e| e.to_string())?;
    let opts = Options {
        max_listed: 100_000,
        ..Options::default()
    };
    let clock = std::time::Instant::now();
    let r = reconcile::run_check(&check, &sc, &tc, &opts, &reconcile::no_progress).await;
    let checked = clock.elapsed();
    let clock = std::time::Instant::now();
    let patch = reconcile::repair::build(
        &sc,
        &tc,
        &check,
        &r,
        reconcile::repair::Limits { max_rows: 100_000 },
        ("source", "target"),
    )
    .await
    .map_err(|e| e.to_string())?;
    let built = clock.elapsed();
    let clock = std::time::Instant::now();
    let done = reconcile::repair::apply(&tc, &patch, false, true)
        .await
        .map_err(|e| e.to_string())?;
    let applied = clock.elapsed();
    let after = reconcile::run_check(&check, &sc, &tc, &opts, &reconcile::no_progress).await;
    println!(
        "repair: {} differing rows of {} · check {} ms · build {} ms ({}) · apply {} ms ({} applied, {} stale) · afterwards {:?}",
        r.mismatch_total,
        r.rows_compared,
        checked.as_millis(),
        built.as_millis(),
        patch.describe(),
        applied.as_millis(),
        done.applied,
        done.stale.len(),
        after.status
    );
    Ok(ExitCode::SUCCESS)
}
