//! `--fault`: breaking the drill on purpose, mid-run, to rehearse the rollback.
//!
//! The injector follows the run through its journal (it never touches the engine) and strikes
//! when a given step has passed:
//! - `lag`: after `watch-lag`, disables the subscription on the target and writes a burst of
//!   WAL on the source (64 MB of `pg_logical_emit_message`, as a batch job would), so the slot
//!   lag climbs past the `lag runaway` trigger while the drain step waits in vain;
//! - `mismatch`: after `app-gone` (writes frozen), corrupts the target: an account row that
//!   does not exist on the source, a changed balance, a missing order; the reconcile gate blocks;
//! - `step-fail`: nothing at run time; the drill sets `break_step = "sync-sequences"`, which
//!   that step reads, so it fails.

use std::path::PathBuf;
use std::time::Duration;

use tokio_postgres::NoTls;

/// A fault `cutover drill --fault` injects mid-drill, to rehearse the rollback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Disable the subscription (and flood the WAL) after the first lag gate: the lag trigger
    /// fires.
    Lag,
    /// Corrupt rows on the target once writes are frozen: the reconcile gate blocks.
    Mismatch,
    /// Make the sequence-sync step fail.
    StepFail,
}

/// The var the runbook reads for `--fault step-fail`, and the step it breaks.
pub const BREAK_STEP_VAR: (&str, &str) = ("break_step", "sync-sequences");

/// Where the injector acts.
#[derive(Debug, Clone)]
pub struct FaultTarget {
    /// Superuser DSN of the source database.
    pub source_dsn: String,
    /// Superuser DSN of the target database.
    pub target_dsn: String,
    /// The subscription on the target.
    pub subscription: String,
    /// The run's journal.
    pub journal: PathBuf,
    /// The drill's log (what the injector did, or why it could not).
    pub log: PathBuf,
}

/// The step after which `fault` strikes, and the SQL it runs there (`(on_target, sql)` pairs).
pub fn plan(fault: Fault, subscription: &str) -> Option<(&'static str, Vec<(bool, String)>)> {
    match fault {
        Fault::Lag => Some((
            "watch-lag",
            vec![
                (true, format!("alter subscription {} disable", cutover_model::ident::quote_ident(subscription))),
                (
                    false,
                    "select count(pg_logical_emit_message(false, 'cutover-drill-fault', repeat('x', 1048576))) from generate_series(1, 64)".into(),
                ),
            ],
        )),
        Fault::Mismatch => Some((
            "app-gone",
            vec![(
                true,
                "insert into public.pgbench_accounts (aid, bid, abalance, filler) values (0, 1, 0, 'drill fault: extra on target');
                 update public.pgbench_accounts set abalance = abalance + 1 where aid = (select max(aid) from public.pgbench_accounts);
                 delete from public.drill_orders where id = (select min(id) from public.drill_orders);"
                    .into(),
            )],
        )),
        Fault::StepFail => None,
    }
}

/// Whether the journal text records step `id` as passed.
pub fn passed_in(journal_text: &str, id: &str) -> bool {
    journal_text.lines().any(|l| {
        serde_json::from_str::<serde_json::Value>(l).is_ok_and(|r| {
            r["type"] == "step_finished" && r["id"] == id && r["outcome"] == "passed"
        })
    })
}

/// Starts the injector for `fault` (a no-op task for faults that need none).
pub fn spawn(fault: Fault, t: FaultTarget) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let Some((after, statements)) = plan(fault, &t.subscription) else {
            return;
        };
        loop {
            let text = tokio::fs::read_to_string(&t.journal)
                .await
                .unwrap_or_default();
            if passed_in(&text, after) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for (on_target, sql) in statements {
            let dsn = if on_target {
                &t.target_dsn
            } else {
                &t.source_dsn
            };
            let side = if on_target { "target" } else { "source" };
            let disables = sql.starts_with("alter subscription") && sql.ends_with(" disable");
            let r = async {
                let (client, conn) = tokio_postgres::connect(dsn, NoTls).await?;
                tokio::spawn(async move {
                    let _ = conn.await;
                });
                client.batch_execute(&sql).await?;
                // Disabling only asks the apply worker to stop: until it has, it would still
                // confirm what the source writes next, and the lag would never grow.
                if disables {
                    for _ in 0..100 {
                        let running: i64 = client
                            .query_one(
                                "select count(*) from pg_catalog.pg_stat_subscription where subname = $1 and pid is not null",
                                &[&t.subscription],
                            )
                            .await?
                            .get(0);
                        if running == 0 {
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                }
                Ok::<(), tokio_postgres::Error>(())
            }
            .await;
            let msg = match r {
                Ok(()) => format!("fault injected after {after} on the {side}: {sql}"),
                Err(e) => format!("fault injection on the {side} failed: {e}: {sql}"),
            };
            super::load::note(&t.log, &msg);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_passed_step_only() {
        let j = r#"{"ts":"x","type":"step_started","id":"watch-lag"}
{"ts":"x","type":"step_finished","id":"watch-lag","outcome":"failed"}
"#;
        assert!(!passed_in(j, "watch-lag"));
        let j = format!(
            "{j}{}\n",
            r#"{"ts":"x","type":"step_finished","id":"watch-lag","outcome":"passed"}"#
        );
        assert!(passed_in(&j, "watch-lag"));
        assert!(!passed_in(&j, "drain"));
    }

    #[test]
    fn every_fault_names_a_step_of_the_drill_runbook() {
        let rb = cutover_model::runbook::Runbook::parse(
            "drill.toml",
            super::super::RUNBOOK,
            &Default::default(),
        )
        .unwrap();
        for f in [Fault::Lag, Fault::Mismatch] {
            let (after, _) = plan(f, "s").unwrap();
            assert!(rb.step_index(after).is_some(), "{after}");
        }
        assert!(rb.step_index(BREAK_STEP_VAR.1).is_some());
        assert!(rb.vars.contains_key(BREAK_STEP_VAR.0));
    }
}
