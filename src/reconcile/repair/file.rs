//! The patch as a reviewable SQL file (`psql -f` applies it): a header that says what it is
//! and how to apply it, the settings its guards need, and one commented block per row.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::build::shown;
use super::{Change, Patch};
use cutover_model::secrets::Masker;

/// A value shown in a comment at most this long (the statement holds it whole).
const SHOWN_CHARS: usize = 120;

/// `x.sql` → `x.inverse.sql` (any other name: `.inverse.sql` appended).
pub fn inverse_path(p: &Path) -> PathBuf {
    let s = p.to_string_lossy();
    match s.strip_suffix(".sql") {
        Some(stem) => PathBuf::from(format!("{stem}.inverse.sql")),
        None => PathBuf::from(format!("{s}.inverse.sql")),
    }
}

/// Takes out of `patch` every statement that would write a secret of the runbook into a
/// file (its value cannot be masked without breaking the statement), with a note for each.
/// A secret is looked for in the values the statement writes or compares, as they are, and
/// in its SQL, where a value is a literal (`'` doubled): the masker knows a secret in that
/// form too.
pub fn withhold_secrets(patch: &mut Patch, masker: &Masker) {
    let changes = |t: &str| masker.mask(t) != t;
    let mut kept = Vec::new();
    for st in std::mem::take(&mut patch.statements) {
        let in_values = st.values.iter().any(|(_, s, t)| {
            s.as_deref().is_some_and(changes) || t.as_deref().is_some_and(changes)
        }) || st.key.iter().any(|(_, v)| changes(v));
        if in_values || changes(&st.sql) || changes(&st.inverse) {
            patch.notes.push(format!(
                "{} ({}): a value holds a secret of the runbook: left out, patch it by hand",
                st.table,
                masker.mask(&shown(&st.key))
            ));
        } else {
            kept.push(st);
        }
    }
    patch.statements = kept;
}

/// A value for a comment line: masked, control characters escaped, long ones cut.
fn comment_value(v: Option<&str>, masker: &Masker) -> String {
    let Some(v) = v else {
        return "NULL".into();
    };
    let masked = masker.mask(v);
    let mut out = String::new();
    for (n, c) in masked.chars().enumerate() {
        if n == SHOWN_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// One comment line's text, safe in `-- …`.
fn comment(text: &str, masker: &Masker) -> String {
    comment_value(Some(text), masker)
}

/// A note of the patch, whole (a note cut short would lose what to do), safe in comment
/// lines: masked, control characters escaped, wrapped at about 96 characters.
fn note_lines(text: &str, masker: &Masker) -> Vec<String> {
    let mut safe = String::new();
    for c in masker.mask(text).chars() {
        if c.is_control() {
            safe.extend(c.escape_default());
        } else {
            safe.push(c);
        }
    }
    let mut lines = vec![String::new()];
    for word in safe.split(' ') {
        let last = lines.last_mut().expect("one line at least");
        if !last.is_empty() && last.chars().count() + word.chars().count() > 96 {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}

/// The patch (or, `inverse`, the patch that undoes it) as a SQL file written at `at`.
pub fn render(patch: &Patch, inverse: bool, at: &str, masker: &Masker) -> String {
    let mut f = String::new();
    let what = if inverse {
        "INVERSE repair patch (undoes the repair patch of the same name without `.inverse`)"
    } else {
        "repair patch"
    };
    let _ = writeln!(f, "-- cutover {what}");
    for l in [
        format!("check {} · written {at}", patch.check),
        format!("source {} · target {}", patch.source, patch.target),
        format!("{} (forward)", patch.describe()),
    ] {
        let _ = writeln!(f, "-- {}", comment(&l, masker));
    }
    let _ = writeln!(
        f,
        "--\n-- Review every block, then apply it on the TARGET in one transaction:\n\
         --   psql -X -v ON_ERROR_STOP=1 -d 'target connection' -f this-file.sql\n\
         -- Each statement changes its row only while the row is still what the repair read\n\
         -- (the md5 of its text for updates and deletes, the key's absence for inserts): for a\n\
         -- row that changed since, psql prints UPDATE 0, DELETE 0 or INSERT 0 0 and nothing\n\
         -- changes there. Triggers fire; to skip them add\n\
         --   SET LOCAL session_replication_role = 'replica';\n\
         -- after BEGIN."
    );
    for n in &patch.notes {
        for (i, l) in note_lines(n, masker).iter().enumerate() {
            let _ = writeln!(f, "-- {} {l}", if i == 0 { "note:" } else { "     " });
        }
    }
    let _ = writeln!(f, "\nBEGIN;");
    for s in &patch.settings {
        let _ = writeln!(f, "{s}");
    }
    for st in &patch.statements {
        let change = match (st.change, inverse) {
            (c, false) => c.word(),
            (Change::Insert, true) => "delete (undoes an insert)",
            (Change::Update, true) => "update (undoes an update)",
            (Change::Delete, true) => "insert (undoes a delete)",
        };
        let _ = writeln!(
            f,
            "\n-- {} ({}): {change}",
            comment(&st.table, masker),
            comment(&shown(&st.key), masker)
        );
        for (c, s, t) in &st.values {
            let _ = writeln!(
                f,
                "--   {}: source {} · target {}",
                comment(c, masker),
                if st.change == Change::Delete {
                    "(no row)".into()
                } else {
                    comment_value(s.as_deref(), masker)
                },
                if st.change == Change::Insert {
                    "(no row)".into()
                } else {
                    comment_value(t.as_deref(), masker)
                },
            );
        }
        let _ = writeln!(f, "{};", if inverse { &st.inverse } else { &st.sql });
    }
    let _ = writeln!(f, "\nCOMMIT;");
    f
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repair::{Statement, literal};

    /// An update of `v` from `from` to `to` in `public.sec`, its SQL built with [`literal`].
    fn update(from: &str, to: &str, values: bool) -> Statement {
        let text = "\"pg_catalog\".\"text\"";
        Statement {
            table: "public.sec".into(),
            key: vec![("id".into(), "1".into())],
            change: Change::Update,
            values: if values {
                vec![("v".into(), Some(to.into()), Some(from.into()))]
            } else {
                Vec::new()
            },
            sql: format!(
                "UPDATE \"public\".\"sec\" AS t SET \"v\" = {} WHERE t.id = 1",
                literal(Some(to), text)
            ),
            inverse: format!(
                "UPDATE \"public\".\"sec\" AS t SET \"v\" = {} WHERE t.id = 1",
                literal(Some(from), text)
            ),
        }
    }

    #[test]
    fn a_statement_holding_a_secret_with_a_quote_is_withheld() {
        let masker = Masker::new(["k3y'Secret", "S3cretPW!x"]);
        let mut patch = Patch {
            check: "sec".into(),
            statements: vec![
                // The secret only in the SQL, where `literal` doubled its quote.
                update("other", "k3y'Secret", false),
                // The secret among the values (and so in the inverse's literal).
                update("k3y'Secret", "other", true),
                update("S3cretPW!x", "x", true),
                update("plain", "it's fine", true),
            ],
            ..Patch::default()
        };
        assert!(patch.statements[0].sql.contains("'k3y''Secret'"));
        withhold_secrets(&mut patch, &masker);
        assert_eq!(patch.statements.len(), 1, "{:?}", patch.statements);
        assert!(patch.statements[0].sql.contains("'it''s fine'"));
        assert_eq!(patch.notes.len(), 3, "{:?}", patch.notes);
        for n in &patch.notes {
            assert!(n.contains("public.sec (id = 1)"), "{n}");
            assert!(n.contains("holds a secret of the runbook"), "{n}");
        }
        for inverse in [false, true] {
            let file = render(&patch, inverse, "now", &masker);
            assert!(!file.contains("k3y") && !file.contains("S3cret"), "{file}");
        }
    }
}
