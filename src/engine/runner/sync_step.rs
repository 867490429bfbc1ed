//! `sync_sequences = { from, to, schemas, margin }`: every sequence of the schemas on `to` set
//! to its value on `from` plus `margin` (logical replication does not carry sequences). Each
//! sequence is one output line; a sequence missing on `to`, or no sequence at all, fails the
//! step (an empty selection is never a pass).

use super::{Attempt, AttemptResult, Runner};
use cutover_model::narrate;
use cutover_model::protocol::{CheckResult, StepOutcome};

impl Runner<'_> {
    /// Copies the sequence values of `schemas` from `from` to `to`.
    pub(super) async fn sync_sequences_step(
        &mut self,
        index: usize,
        from: &str,
        to: &str,
        schemas: &[String],
        margin: i64,
    ) -> AttemptResult {
        let result = |passed: bool, detail: String| Attempt {
            outcome: if passed {
                StepOutcome::Passed
            } else {
                StepOutcome::Failed
            },
            exit_code: None,
            checks: vec![CheckResult {
                name: "sync_sequences".into(),
                passed,
                detail: detail.clone(),
            }],
            message: (!passed).then_some(detail),
            output_file: None,
        };
        let (src, dst) = match (
            self.sessions.client(from, self.conns).await,
            self.sessions.client(to, self.conns).await,
        ) {
            (Ok(a), Ok(b)) => (a, b),
            (Err(e), _) | (_, Err(e)) => {
                return Ok(Ok(result(false, self.masker.mask(&e).into_owned())));
            }
        };
        let schemas: Vec<String> = schemas.to_vec();
        let rows = match src
            .query(
                "SELECT schemaname::text, sequencename::text, last_value \
                 FROM pg_catalog.pg_sequences WHERE schemaname = ANY($1::text[]) ORDER BY 1, 2",
                &[&schemas],
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                let (_, detail) = cutover_pg::conn::classify(&e);
                return Ok(Ok(result(false, format!("{from}: {detail}"))));
            }
        };
        if rows.is_empty() {
            return Ok(Ok(result(
                false,
                format!(
                    "no sequence in {} on {from}: nothing to copy",
                    schemas.join(", ")
                ),
            )));
        }
        let mut lines = String::new();
        let (mut set, mut unused, mut failed) = (0u64, 0u64, Vec::new());
        for r in &rows {
            let (schema, name): (String, String) = (r.get(0), r.get(1));
            let qualified = format!("{schema}.{name}");
            let Some(value) = r.get::<_, Option<i64>>(2) else {
                lines.push_str(&format!(
                    "{qualified}: never used on {from}: left as it is\n"
                ));
                unused += 1;
                continue;
            };
            let new = value.saturating_add(margin);
            let set_it = dst
                .query_one(
                    "SELECT pg_catalog.setval(pg_catalog.format('%I.%I', $1::text, $2::text)::pg_catalog.regclass, $3::int8, true)",
                    &[&schema, &name, &new],
                )
                .await;
            match set_it {
                Ok(_) => {
                    lines.push_str(&format!("{qualified}: {value} on {from} → {new} on {to}\n"));
                    set += 1;
                }
                Err(e) => {
                    let (_, detail) = cutover_pg::conn::classify(&e);
                    lines.push_str(&format!("{qualified}: cannot set on {to}: {detail}\n"));
                    failed.push(qualified);
                }
            }
        }
        self.show_lines(index, lines).await?;
        let mut detail = format!(
            "{} set on {to} (source + {margin})",
            narrate::count(set, "sequence")
        );
        if unused > 0 {
            detail.push_str(&format!(
                ", {} never used",
                narrate::count(unused, "sequence")
            ));
        }
        if !failed.is_empty() {
            detail = format!(
                "{} not set on {to}: {}; {detail}",
                narrate::count(failed.len() as u64, "sequence"),
                failed.join(", ")
            );
        }
        Ok(Ok(result(failed.is_empty(), detail)))
    }
}
