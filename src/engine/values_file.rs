//! The whole values of reconcile differences too long to show or journal (a 1 MB value that
//! differs in one character): written to `<journal stem>.output/reconcile-<check>-<digest>.txt`
//! next to the journal, secrets masked. The name holds a digest of the contents, so a gate
//! that finds the same differences round after round writes the file once.

use std::path::Path;

use sha2::{Digest, Sha256};

use cutover_model::reconcile::{ColumnDiff, ReconcileResult};
use cutover_model::secrets::Masker;
use cutover_model::shown;

/// Writes the whole values `result`'s mismatches carry (if any) into `dir` and records the
/// file in [`ReconcileResult::values_file`]; the whole values are then dropped from the
/// result. A write that fails (disk full) is said in the result's notes; the check's verdict
/// does not change.
pub fn write(dir: &Path, masker: &Masker, result: &mut ReconcileResult) {
    if result.listed().iter().all(|(_, m, _)| m.full.is_empty()) {
        return;
    }
    let text = contents(masker, result);
    let digest = hex::encode(&Sha256::digest(text.as_bytes())[..6]);
    let path = dir.join(format!(
        "reconcile-{}-{digest}.txt",
        file_word(&result.name)
    ));
    match put(&path, &text) {
        Ok(()) => result.values_file = Some(path.display().to_string()),
        Err(e) => result.notes.push(format!(
            "the whole values of the long differences could not be written to {}: {e}",
            path.display()
        )),
    }
    for m in result.mismatches.iter_mut().chain(
        result
            .tables
            .iter_mut()
            .flat_map(|t| t.mismatches.iter_mut()),
    ) {
        m.full = Vec::new();
    }
}

/// The file's text: per mismatch and column, both values whole (masked), each after a header
/// line saying whose it is and how long.
fn contents(masker: &Masker, result: &ReconcileResult) -> String {
    let mut out = format!(
        "# cutover reconcile: whole values of the differences of check {:?} too long to show\n",
        result.name
    );
    for (table, m, keys) in result
        .listed()
        .into_iter()
        .filter(|(_, m, _)| !m.full.is_empty())
    {
        let table = table.map(|n| format!("table {n} · ")).unwrap_or_default();
        for ColumnDiff {
            column,
            source,
            target,
        } in &m.full
        {
            out.push_str(&format!(
                "\n## {table}key ({}) = ({}) · column {column} · {}\n",
                keys.join(", "),
                shown::key(&m.key),
                m.class.label()
            ));
            for (side, v) in [("source", source), ("target", target)] {
                match v {
                    None => out.push_str(&format!("--- {side}: no value (NULL or no row)\n")),
                    Some(v) => {
                        out.push_str(&format!("--- {side}: {} characters\n", v.chars().count()));
                        out.push_str(&masker.mask(v));
                        out.push('\n');
                    }
                }
            }
        }
    }
    out
}

/// A check name as a file-name word: letters, digits, `-` and `_`; anything else `_`.
fn file_word(name: &str) -> String {
    let w: String = name
        .chars()
        .take(60)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if w.is_empty() { "check".into() } else { w }
}

/// Writes `text` to `path` unless it exists (same digest, same contents), whole or not at all
/// ([`crate::files::write_replacing`], mode 0600).
fn put(path: &Path, text: &str) -> std::io::Result<()> {
    if path.exists() {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    crate::files::write_replacing(path, text, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::reconcile::{Mismatch, MismatchClass};
    use cutover_model::runbook::ReconcileKind;

    fn result_with_long_difference(secret: &str) -> ReconcileResult {
        let a = format!("{}{secret}", "x".repeat(10_000));
        let b = format!("{}Y{secret}", "x".repeat(9_999));
        let mut r = ReconcileResult::new("docs, big", ReconcileKind::Checksum);
        r.key_columns = vec!["id".into()];
        r.mismatches.push(Mismatch {
            key: vec!["7".into()],
            class: MismatchClass::Different,
            columns: vec![],
            detail: String::new(),
            transient: false,
            by_content: false,
            full: vec![ColumnDiff {
                column: "body".into(),
                source: Some(a),
                target: Some(b),
            }],
        });
        r
    }

    #[test]
    fn long_values_go_to_one_file_per_contents_with_secrets_masked() {
        let dir = tempfile::tempdir().unwrap();
        let masker = Masker::new(["hunter2-secret".to_string()]);
        let mut r = result_with_long_difference("hunter2-secret");
        write(dir.path(), &masker, &mut r);
        let path = r.values_file.clone().expect("a values file");
        assert!(path.contains("reconcile-docs__big-"), "{path}");
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            !text.contains("hunter2-secret"),
            "secret in the values file"
        );
        assert!(text.contains("column body · different"), "{text}");
        assert!(text.contains("--- source: 10014 characters"), "{text}");
        assert!(
            r.mismatches[0].full.is_empty(),
            "whole values kept in the result"
        );
        // The same differences again (the next gate round): the same file, not rewritten.
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        let mut again = result_with_long_difference("hunter2-secret");
        write(dir.path(), &masker, &mut again);
        assert_eq!(again.values_file.as_deref(), Some(path.as_str()));
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_write_is_a_note_not_a_verdict() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        std::fs::write(&blocker, "").unwrap();
        let mut r = result_with_long_difference("s");
        write(&blocker, &Masker::new(Vec::<String>::new()), &mut r);
        assert!(r.values_file.is_none());
        assert!(r.notes[0].contains("could not be written"), "{:?}", r.notes);
    }
}
