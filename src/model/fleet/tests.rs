//! The fleet file: its shape, its defaults, and every refusal located.

use super::*;

const RUNBOOK: &str = r#"[runbook]
name = "shard move"

[vars]
region = "eu"

[secrets]
PW = { env = "DEFAULT_PW" }

[connections.source]
dsn = "host=${vars.source_host} dbname=app"

[[step]]
id = "hello"
title = "Say hello to ${vars.source_host} in ${vars.region}"
run = "echo ${vars.source_host}"
"#;

fn parse(text: &str) -> Result<Fleet, Diagnostics> {
    Fleet::parse("fleet.toml", text)
}

fn error(text: &str) -> String {
    parse(text).expect_err("refused").to_string()
}

#[test]
fn a_fleet_reads_with_its_rules_and_members() {
    let f = parse(
        r#"concurrency = 2
canary = ["shard-01"]
halt = "never"

[[member]]
name = "shard-01"
vars = { source_host = "src1" }
secrets = { PW = { env = "SHARD01_PW" } }

[[member]]
name = "shard-02"
vars = { source_host = "src2", region = "us" }
"#,
    )
    .expect("valid");
    assert_eq!(f.concurrency, 2);
    assert_eq!(f.canary, ["shard-01"]);
    assert_eq!(f.halt, Halt::Never);
    assert_eq!(f.members.len(), 2);
    assert_eq!(f.members[1].vars["region"], "us");
    assert_eq!(f.members[0].secrets["PW"], "SHARD01_PW");
    assert!(f.member("shard-02").is_some() && f.member("shard-03").is_none());
}

#[test]
fn the_defaults_are_the_careful_ones() {
    let f = parse("[[member]]\nname = \"a\"\n").expect("valid");
    assert_eq!(f.concurrency, 1, "one member at a time unless told");
    assert_eq!(
        f.halt,
        Halt::FirstFailure,
        "a failure stops new members unless told"
    );
    assert!(f.canary.is_empty());
}

#[test]
fn duplicate_names_are_located_at_the_second_with_the_first_line() {
    let e = error("[[member]]\nname = \"a\"\n\n[[member]]\nname = \"a\"\n");
    assert!(e.contains("fleet.toml:5:8"), "{e}");
    crate::has(&e, "member a is named twice (first on line 2)");
}

#[test]
fn concurrency_zero_or_negative_or_huge_is_refused_where_it_is_written() {
    for bad in ["0", "-3", "1000000"] {
        let e = error(&format!("concurrency = {bad}\n[[member]]\nname = \"a\"\n"));
        assert!(e.contains("fleet.toml:1:15"), "{bad}: {e}");
        assert!(
            e.contains("concurrency must be from 1 to 10000"),
            "{bad}: {e}"
        );
    }
}

#[test]
fn a_canary_not_in_the_fleet_is_named_with_the_members() {
    let e = error("canary = [\"shard-9\"]\n[[member]]\nname = \"shard-1\"\n");
    assert!(e.contains("fleet.toml:1:11"), "{e}");
    crate::has(
        &e,
        "canary \"shard-9\" is not a member of the fleet (members: shard-1)",
    );
    let twice = error("canary = [\"a\", \"a\"]\n[[member]]\nname = \"a\"\n");
    assert!(twice.contains("canary a is named twice"), "{twice}");
}

#[test]
fn hostile_names_and_values_are_refused_and_shown_plain() {
    for (name, why) in [
        ("", "may not be blank"),
        ("../etc", "use letters, digits"),
        ("-rf", "use letters, digits"),
        ("a b", "use letters, digits"),
        ("\u{1b}[31mred", "use letters, digits"),
    ] {
        let toml_name = name.replace('\u{1b}', "\\u001b");
        let e = error(&format!("[[member]]\nname = \"{toml_name}\"\n"));
        assert!(e.contains(why), "{name:?}: {e}");
        assert!(
            !e.contains('\u{1b}'),
            "no escape reaches the terminal: {e:?}"
        );
    }
    let long = "x".repeat(65);
    assert!(error(&format!("[[member]]\nname = \"{long}\"\n")).contains("at most 64"));
    let e = error("halt = \"\\u001b]0;owned\\u0007\"\n[[member]]\nname = \"a\"\n");
    assert!(e.contains("halt must be"), "{e}");
    assert!(!e.contains('\u{1b}') && !e.contains('\u{7}'), "{e:?}");
}

#[test]
fn unknown_keys_an_empty_fleet_and_broken_toml_are_located() {
    let e = error("concurency = 2\n[[member]]\nname = \"a\"\n");
    assert!(e.contains("fleet.toml:1:1"), "{e}");
    assert!(error("concurrency = 2\n").contains("at least one [[member]]"));
    let e = error("[[member]]\nname = \"a\"\nvars = { x = \n");
    assert!(e.contains("fleet.toml:3"), "{e}");
    let e = error("[[member]]\nname = \"a\"\ncolour = \"red\"\n");
    assert!(e.contains("fleet.toml:3:1"), "{e}");
}

/// The fleet `text`'s members' runbooks: [`RUNBOOK`] as each member runs it.
fn member_runbooks(text: &str) -> Result<Vec<(String, Runbook)>, LoadError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let rb = dir.path().join("rb.toml");
    std::fs::write(&rb, RUNBOOK).expect("write runbook");
    parse(text).expect("valid").runbooks(&rb, &BTreeMap::new())
}

/// Why the fleet `text`'s members' runbooks are refused.
fn members_refused(text: &str) -> String {
    member_runbooks(text).expect_err("refused").to_string()
}

#[test]
fn each_member_runs_the_runbook_with_its_own_vars_and_secrets() {
    let books = member_runbooks(
        "[[member]]\nname = \"a\"\nvars = { source_host = \"src1\" }\nsecrets = { PW = { env = \"A_PW\" } }\n\n[[member]]\nname = \"b\"\nvars = { source_host = \"src2\", region = \"us\" }\n",
    )
    .expect("both load");
    assert_eq!(books.len(), 2);
    assert_eq!(books[0].0, "a");
    assert_eq!(books[0].1.vars["source_host"], "src1");
    assert_eq!(books[0].1.vars["region"], "eu");
    assert_eq!(books[0].1.secrets["PW"], "A_PW");
    assert_eq!(books[1].1.vars["region"], "us");
    assert_eq!(books[1].1.secrets["PW"], "DEFAULT_PW");
}

#[test]
fn a_member_that_leaves_a_var_unresolved_is_named_at_the_reference() {
    let e = members_refused(
        "[[member]]\nname = \"good\"\nvars = { source_host = \"src1\" }\n\n[[member]]\nname = \"shard-07\"\nvars = { region = \"us\" }\n",
    );
    assert!(e.contains("rb.toml:11:13"), "located in the runbook: {e}");
    assert!(e.contains("no `source_host` in [vars]"), "{e}");
    assert!(e.contains("member shard-07:"), "names the member: {e}");
    assert!(!e.contains("member good"), "{e}");
}

#[test]
fn a_member_secret_the_runbook_does_not_declare_is_located_at_the_member() {
    let e = members_refused(
        "[[member]]\nname = \"a\"\nvars = { source_host = \"s\" }\nsecrets = { PASS = { env = \"A_PW\" } }\n",
    );
    assert!(e.contains("fleet.toml:2:8"), "{e}");
    crate::has(
        &e,
        "member a: secret PASS is not in the runbook's [secrets] (it has: PW)",
    );
}

#[test]
fn a_fleet_file_that_is_a_fifo_or_not_utf8_is_refused_without_hanging() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("fleet.toml");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let e = Fleet::load(&fifo).expect_err("refused").to_string();
    assert!(e.contains("not a regular file"), "{e}");
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, b"[[member]]\nname = \"\xff\"\n").expect("write");
    let e = Fleet::load(&bad).expect_err("refused").to_string();
    assert!(e.contains("not valid UTF-8"), "{e}");
}

/// Attack: a member's secret written as the secret itself (a string, an array, a "name" with
/// a space) is refused, and the error never shows it: not in its message, not on its quoted
/// line.
#[test]
fn a_member_secret_written_as_the_secret_itself_is_refused_unseen() {
    for secrets in [
        "{ PW = \"hunter2\" }",
        "{ PW = [\"hunter2\"] }",
        "{ PW = { env = \"hunter2 x\" } }",
    ] {
        let e = error(&format!("[[member]]\nname = \"s1\"\nsecrets = {secrets}\n"));
        assert!(e.contains("fleet.toml:3:"), "{secrets}: {e}");
        assert!(e.contains("it may be the secret itself"), "{secrets}: {e}");
        assert!(!e.contains("hunter2"), "{secrets}: {e}");
        assert!(e.contains("••••"), "{secrets}: {e}");
    }
    assert!(parse("[[member]]\nname = \"s1\"\nsecrets = { PW = { env = \"S1_PW\" } }\n").is_ok());
}
