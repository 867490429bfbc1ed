//! Issue 29, the fleet file: `cutover check RUNBOOK --fleet FLEET.toml` through the real
//! binary — the fleet's own mistakes and a member whose vars leave the runbook unresolved are
//! located (file, line, column, member), and nothing else is printed as valid.

use crate::support::*;

const RUNBOOK: &str = "[runbook]\nname = \"shards\"\n\n[connections.source]\ndsn = \"host=${vars.host} dbname=app\"\n\n[[step]]\nid = \"hello\"\ntitle = \"hello\"\nrun = \"echo ${vars.host}\"\n";

fn check(d: &std::path::Path, fleet: &str) -> std::process::Output {
    runbook(d, "rb.toml", RUNBOOK);
    runbook(d, "fleet.toml", fleet);
    cutover(d, &["check", "rb.toml", "--fleet", "fleet.toml"], &[])
}

#[test]
fn a_good_fleet_checks_each_member_and_says_what_it_will_do() {
    let d = tempfile::tempdir().expect("tempdir");
    let out = check(
        d.path(),
        "concurrency = 2\ncanary = [\"s1\"]\n\n[[member]]\nname = \"s1\"\nvars = { host = \"a\" }\n\n[[member]]\nname = \"s2\"\nvars = { host = \"b\" }\n",
    );
    let (stdout, _) = exited(&out, 0);
    assert_eq!(
        stdout.trim(),
        "rb.toml: ok for every member of fleet.toml (2 members, 1 step each; canary s1; 2 at a time; a failure stops new members)"
    );
}

#[test]
fn every_bad_input_the_issue_names_is_located() {
    let d = tempfile::tempdir().expect("tempdir");
    for (fleet, at, want) in [
        (
            "[[member]]\nname = \"s1\"\nvars = { host = \"a\" }\n\n[[member]]\nname = \"s1\"\nvars = { host = \"b\" }\n",
            "fleet.toml:6:8",
            "member s1 is named twice (first on line 2)",
        ),
        (
            "concurrency = 0\n[[member]]\nname = \"s1\"\nvars = { host = \"a\" }\n",
            "fleet.toml:1:15",
            "concurrency must be from 1",
        ),
        (
            "canary = [\"s9\"]\n[[member]]\nname = \"s1\"\nvars = { host = \"a\" }\n",
            "fleet.toml:1:11",
            "canary \"s9\" is not a member of the fleet (members: s1)",
        ),
        (
            "[[member]]\nname = \"s1\"\nvars = { host = \"a\" }\n\n[[member]]\nname = \"s2\"\nvars = { hots = \"b\" }\n",
            "rb.toml:5:13",
            "member s2: `${vars.host}` does not resolve",
        ),
    ] {
        let out = check(d.path(), fleet);
        let (stdout, stderr) = exited(&out, 2);
        assert!(stdout.is_empty(), "nothing is called valid: {stdout}");
        assert!(
            stderr.starts_with(at) && stderr.contains(want),
            "wanted {at}: {want}\n{stderr}"
        );
    }
}

#[test]
fn a_fleet_path_that_is_a_directory_or_missing_is_refused_plainly() {
    let d = tempfile::tempdir().expect("tempdir");
    runbook(d.path(), "rb.toml", RUNBOOK);
    std::fs::create_dir(d.path().join("dir.toml")).expect("mkdir");
    for (path, want) in [
        ("dir.toml", "not a regular file"),
        ("missing.toml", "No such file"),
    ] {
        let out = cutover(d.path(), &["check", "rb.toml", "--fleet", path], &[]);
        let (_, stderr) = exited(&out, 2);
        assert!(stderr.contains(path) && stderr.contains(want), "{stderr}");
    }
}
