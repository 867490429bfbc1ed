//! The engine and probes know nothing of the terminal (DESIGN §6).

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn engine_and_probes_never_import_terminal_crates() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for sub in ["engine", "probe"] {
        rust_files(&root.join(sub), &mut files);
    }
    assert!(
        files.iter().any(|f| f.ends_with("journal.rs")),
        "the scan must see the engine sources"
    );
    let mut offenders = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if ["ratatui", "crossterm", "tui_input"]
                .iter()
                .any(|c| code.contains(c))
            {
                offenders.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "terminal code in the engine:\n{}",
        offenders.join("\n")
    );
}
