//! The result of a SQL step: the last result set of its statements, shown as a small table,
//! and the step's `expect` checks (`rows`, `value`) against it.

use tokio_postgres::SimpleQueryMessage;

use cutover_model::narrate;
use cutover_model::protocol::CheckResult;
use cutover_model::runbook::Expect;

/// Rows shown in the output pane for one result, at most.
const SHOWN_ROWS: usize = 50;
/// Widest column shown, in characters.
const CELL: usize = 40;

/// Whether a value PostgreSQL printed means true (`t`, `true`, `on`, `yes`, `1`, any case):
/// the one rule of SQL waits and SQL triggers.
pub(super) fn truthy(v: &str) -> bool {
    matches!(
        v.to_ascii_lowercase().as_str(),
        "t" | "true" | "on" | "yes" | "1"
    )
}

/// The last result set of a statement list.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(super) struct SqlResult {
    columns: Vec<String>,
    rows: Vec<Vec<Option<String>>>,
    /// Rows affected by the last command, when it returned no rows.
    affected: Option<u64>,
    /// The last statement's command (`CREATE TABLE`), when known.
    command: Option<String>,
}

impl SqlResult {
    pub(super) fn from_messages(msgs: Vec<SimpleQueryMessage>) -> SqlResult {
        let mut current = SqlResult::default();
        let mut last = SqlResult::default();
        for m in msgs {
            match m {
                SimpleQueryMessage::RowDescription(cols) => {
                    current.columns = cols.iter().map(|c| c.name().to_string()).collect();
                }
                SimpleQueryMessage::Row(row) => {
                    if current.columns.is_empty() {
                        current.columns =
                            row.columns().iter().map(|c| c.name().to_string()).collect();
                    }
                    current.rows.push(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_string))
                            .collect(),
                    );
                }
                SimpleQueryMessage::CommandComplete(n) => {
                    if current.columns.is_empty() {
                        current.affected = Some(n);
                    }
                    last = std::mem::take(&mut current);
                }
                _ => {}
            }
        }
        last
    }

    /// The result of running `sql`: its last statement names the command.
    pub(super) fn with_command(mut self, sql: &str) -> SqlResult {
        self.command = super::sql_words::last_command(sql);
        self
    }

    /// Rows returned, or rows affected by a command that returns none.
    pub(super) fn count(&self) -> u64 {
        if self.columns.is_empty() {
            self.affected.unwrap_or(0)
        } else {
            self.rows.len() as u64
        }
    }

    /// The single value of a one-row, one-column result.
    pub(super) fn scalar(&self) -> Option<Option<&str>> {
        (self.rows.len() == 1 && self.columns.len() == 1).then(|| self.rows[0][0].as_deref())
    }

    /// Whether the first value is true (`t`, `true`, `on`, `yes`, `1`).
    pub(super) fn is_true(&self) -> bool {
        self.rows
            .first()
            .and_then(|r| r.first())
            .and_then(|v| v.as_deref())
            .is_some_and(truthy)
    }

    /// The result as table lines.
    pub(super) fn table(&self) -> Vec<String> {
        if self.columns.is_empty() {
            // DDL and the like report no count: say what was done instead of "0 rows".
            return vec![match &self.command {
                Some(c) if !super::sql_words::counts_rows(c) => format!("({c} done)"),
                _ => format!(
                    "({} affected)",
                    narrate::count(self.affected.unwrap_or(0), "row")
                ),
            }];
        }
        let cell = |v: &Option<String>| -> String {
            let s = v.as_deref().unwrap_or("NULL");
            let s: String = s.replace(['\n', '\r', '\t'], " ");
            if s.chars().count() > CELL {
                format!("{}…", s.chars().take(CELL - 1).collect::<String>())
            } else {
                s
            }
        };
        let shown: Vec<Vec<String>> = self
            .rows
            .iter()
            .take(SHOWN_ROWS)
            .map(|r| r.iter().map(cell).collect())
            .collect();
        let mut widths: Vec<usize> = self
            .columns
            .iter()
            .map(|c| c.chars().count().min(CELL))
            .collect();
        for r in &shown {
            for (i, v) in r.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(v.chars().count());
                }
            }
        }
        let line = |vals: &[String]| -> String {
            vals.iter()
                .enumerate()
                .map(|(i, v)| format!("{v:<w$}", w = widths.get(i).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(" │ ")
                .trim_end()
                .to_string()
        };
        let mut out = vec![line(&self.columns)];
        out.push(
            widths
                .iter()
                .map(|w| "─".repeat(*w))
                .collect::<Vec<_>>()
                .join("─┼─"),
        );
        out.extend(shown.iter().map(|r| line(r)));
        let n = self.rows.len();
        if n > SHOWN_ROWS {
            out.push(format!(
                "… {}",
                narrate::count((n - SHOWN_ROWS) as u64, "more row")
            ));
        }
        out.push(format!("({n} row{})", if n == 1 { "" } else { "s" }));
        out
    }
}

/// The `expect` checks of a SQL result.
pub(super) fn sql_checks(res: &SqlResult, expect: &Expect) -> Vec<CheckResult> {
    let mut out = Vec::new();
    if let Some(want) = expect.rows {
        let got = res.count();
        out.push(CheckResult {
            name: "rows".into(),
            passed: got == want,
            detail: format!("{} (expected {want})", narrate::count(got, "row")),
        });
    }
    if let Some(want) = &expect.value {
        let (passed, detail) = match res.scalar() {
            Some(Some(v)) => (v == want, format!("value {v:?} (expected {want:?})")),
            Some(None) => (false, format!("value NULL (expected {want:?})")),
            None => (
                false,
                format!(
                    "expected one value {want:?}, got {} of {}",
                    narrate::count(res.rows.len() as u64, "row"),
                    narrate::count(res.columns.len() as u64, "column")
                ),
            ),
        };
        out.push(CheckResult {
            name: "value".into(),
            passed,
            detail,
        });
    }
    if out.is_empty() {
        out.push(CheckResult {
            name: "sql".into(),
            passed: true,
            detail: narrate::count(res.count(), "row"),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(cols: &[&str], rows: &[&[Option<&str>]]) -> SqlResult {
        SqlResult {
            columns: cols.iter().map(|c| c.to_string()).collect(),
            rows: rows
                .iter()
                .map(|r| r.iter().map(|v| v.map(str::to_string)).collect())
                .collect(),
            affected: None,
            command: None,
        }
    }

    #[test]
    fn a_command_without_a_count_says_what_it_did() {
        let ddl = SqlResult {
            affected: Some(0),
            ..SqlResult::default()
        }
        .with_command("create table t (a int)");
        assert_eq!(ddl.table(), ["(CREATE TABLE done)"]);
        let none = SqlResult {
            affected: Some(0),
            ..SqlResult::default()
        }
        .with_command("update t set a = 1 where false");
        assert_eq!(none.table(), ["(0 rows affected)"]);
    }

    #[test]
    fn table_and_checks() {
        let r = result(
            &["id", "name"],
            &[&[Some("1"), Some("a")], &[Some("22"), None]],
        );
        assert_eq!(
            r.table(),
            ["id │ name", "───┼─────", "1  │ a", "22 │ NULL", "(2 rows)"]
        );
        let e = Expect {
            rows: Some(2),
            ..Expect::default()
        };
        assert!(sql_checks(&r, &e)[0].passed);
        let e = Expect {
            value: Some("1".into()),
            ..Expect::default()
        };
        let c = sql_checks(&r, &e);
        assert!(!c[0].passed && c[0].detail.contains("got 2 rows"), "{c:?}");
        let one = result(&["v"], &[&[Some("t")]]);
        assert!(one.is_true());
        assert!(!result(&["v"], &[&[None]]).is_true());
    }
}
