//! The crates depend on each other one way only (ARCHITECTURE.md), read from
//! `cargo metadata`: what each crate pulls in, directly or through others, when built for use
//! (dev-dependencies of tests do not count).

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use crate::support::run_ok;

/// Crate name → the crates it depends on to build (normal and build dependencies).
fn dependency_graph() -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // This machine's platform only: every package it needs is on disk already (offline).
    let rustc = Command::new("rustc")
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    let host = String::from_utf8_lossy(&rustc.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .expect("rustc -vV names the host");
    let out = run_ok(
        Command::new(cargo)
            .args(["metadata", "--format-version", "1", "--offline"])
            .args(["--filter-platform", &host, "--manifest-path"])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")),
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata JSON");
    let name_of: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id").to_string(),
                p["name"].as_str().expect("name").to_string(),
            )
        })
        .collect();
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for node in meta["resolve"]["nodes"].as_array().expect("resolve nodes") {
        let from = name_of[node["id"].as_str().expect("node id")].clone();
        let deps = graph.entry(from).or_default();
        for dep in node["deps"].as_array().expect("deps") {
            let used = dep["dep_kinds"]
                .as_array()
                .expect("dep_kinds")
                .iter()
                .any(|k| k["kind"].is_null() || k["kind"] == "build");
            if used {
                deps.insert(name_of[dep["pkg"].as_str().expect("pkg")].clone());
            }
        }
    }
    graph
}

/// "KRATE depends on X" for each X of `banned` that `krate` depends on, directly or not.
fn forbidden(
    graph: &BTreeMap<String, BTreeSet<String>>,
    krate: &str,
    banned: &[&str],
) -> Vec<String> {
    let deps = closure(graph, krate);
    banned
        .iter()
        .filter(|b| deps.contains(**b))
        .map(|b| format!("{krate} depends on {b}"))
        .collect()
}

/// Everything `krate` depends on, directly or not.
fn closure(graph: &BTreeMap<String, BTreeSet<String>>, krate: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![krate.to_string()];
    while let Some(k) = todo.pop() {
        for d in graph.get(&k).into_iter().flatten() {
            if seen.insert(d.clone()) {
                todo.push(d.clone());
            }
        }
    }
    seen
}

#[test]
fn dependencies_run_one_way() {
    let graph = dependency_graph();
    let terminal = ["ratatui", "crossterm", "tui-input", "cutover-cockpit"];
    let database = ["tokio-postgres", "postgres-protocol", "cutover-pg"];
    let mut offences = Vec::new();
    for krate in [
        "cutover-model",
        "cutover-pg",
        "cutover-shell",
        "cutover-probe",
        "cutover-reconcile",
        "cutover-engine",
        "cutover-socket",
        "cutover-drill",
        "cutover-report",
    ] {
        assert!(graph.contains_key(krate), "{krate} is not in the workspace");
        offences.extend(forbidden(&graph, krate, &terminal));
    }
    offences.extend(forbidden(&graph, "cutover-model", &database));
    // The reports render the model's fold of records already read: no database, no engine.
    offences.extend(forbidden(&graph, "cutover-report", &database));
    offences.extend(forbidden(&graph, "cutover-report", &["cutover-engine"]));
    // The cockpit knows the engine only through the model's protocol.
    offences.extend(forbidden(
        &graph,
        "cutover-cockpit",
        &[
            "cutover-engine",
            "cutover-socket",
            "cutover-pg",
            "cutover-probe",
            "cutover-reconcile",
            "tokio-postgres",
        ],
    ));
    // The engine does not know it is served over a socket.
    offences.extend(forbidden(&graph, "cutover-engine", &["cutover-socket"]));
    // The crates below the engine do not know it.
    for krate in [
        "cutover-pg",
        "cutover-shell",
        "cutover-probe",
        "cutover-reconcile",
    ] {
        offences.extend(forbidden(&graph, krate, &["cutover-engine"]));
    }
    assert!(
        offences.is_empty(),
        "forbidden edges:\n{}",
        offences.join("\n")
    );
    // The check sees real edges: the binary pulls in every crate.
    let binary = closure(&graph, "cutover");
    assert!(binary.contains("cutover-engine") && binary.contains("crossterm"));
}
