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
pub fn withhold_secrets(patch: &mut Patch, masker: &Masker) {
    let mut kept = Vec::new();
    for st in std::mem::take(&mut patch.statements) {
        if masker.mask(&st.sql) != st.sql || masker.mask(&st.inverse) != st.inverse {
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
        let _ = writeln!(f, "-- note: {}", comment(n, masker));
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
