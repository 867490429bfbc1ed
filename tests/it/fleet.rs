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
        // The same runbook error for many members is said once, naming them (it was said
        // once per member: 50,002 lines for 10,000 members).
        (
            &format!(
                "{}[[member]]\nname = \"s0\"\nvars = {{ host = \"a\" }}\n",
                (1..=7)
                    .map(|i| format!("[[member]]\nname = \"m{i}\"\n"))
                    .collect::<String>()
            ),
            "rb.toml:5:13",
            "members m1, m2, m3, m4, m5 … (7 in all): `${vars.host}` does not resolve",
        ),
    ] {
        let out = check(d.path(), fleet);
        let (stdout, stderr) = exited(&out, 2);
        assert!(stdout.is_empty(), "nothing is called valid: {stdout}");
        assert!(
            stderr.starts_with(at) && stderr.contains(want),
            "wanted {at}: {want}\n{stderr}"
        );
        // Each place is said once, however many members it fails for.
        assert_eq!(stderr.matches(at).count(), 1, "{stderr}");
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
        let (_, stderr) = cutover_exits(d.path(), &["check", "rb.toml", "--fleet", path], 2);
        assert!(stderr.contains(path) && stderr.contains(want), "{stderr}");
    }
}

/// A shell-only runbook: step `two` fails where `${vars.fail}` is not 0, and naps `nap`
/// seconds first (the window for a SIGKILL).
const SHARDS: &str = "[runbook]\nname = \"shards\"\n\n[vars]\nfail = \"0\"\nnap = \"0.1\"\n\n[[step]]\nid = \"one\"\ntitle = \"first\"\nrun = \"echo one ${vars.host}\"\n\n[[step]]\nid = \"two\"\ntitle = \"second\"\nrun = \"sleep ${vars.nap}; test ${vars.fail} = 0\"\n";

/// A directory with the shell-only runbook (`rb.toml`) and the fleet file `fleet`.
fn shards(fleet: &str) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    runbook(d.path(), "rb.toml", SHARDS);
    runbook(d.path(), "fleet.toml", fleet);
    d
}

/// A fleet file: `head`, then each member (name, the inside of its `vars = { ... }`), a blank
/// line between members.
fn fleet_text(head: &str, members: &[(&str, &str)]) -> String {
    let members: Vec<String> = members
        .iter()
        .map(|(name, vars)| format!("[[member]]\nname = \"{name}\"\nvars = {{ {vars} }}\n"))
        .collect();
    format!("{head}{}", members.join("\n"))
}

/// `cutover run rb.toml --fleet fleet.toml --headless EXTRA...` in `dir`.
fn run_fleet(dir: &std::path::Path, extra: &[&str]) -> std::process::Output {
    run_fleet_env(dir, extra, &[])
}

/// [`run_fleet`] with `env` added to its environment.
fn run_fleet_env(
    dir: &std::path::Path,
    extra: &[&str],
    env: &[(&str, &str)],
) -> std::process::Output {
    let mut args = vec!["run", "rb.toml", "--fleet", "fleet.toml", "--headless"];
    args.extend_from_slice(extra);
    cutover(dir, &args, env)
}

/// `cutover run rb.toml --fleet fleet.toml --headless --journal fj.jsonl` in `dir`, stderr
/// dropped, stdout to `stdout`.
fn spawn_fleet(dir: &std::path::Path, stdout: std::process::Stdio) -> std::process::Child {
    spawn_headless_fleet(dir, &["--journal", "fj.jsonl"], stdout)
}

/// `cutover run rb.toml --fleet fleet.toml --headless ARGS...` started in `dir`, stderr
/// dropped, stdout to `stdout`.
fn spawn_headless_fleet(
    dir: &std::path::Path,
    args: &[&str],
    stdout: std::process::Stdio,
) -> std::process::Child {
    std::process::Command::new(bin())
        .current_dir(dir)
        .args(["run", "rb.toml", "--fleet", "fleet.toml", "--headless"])
        .args(args)
        .stdout(stdout)
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn the fleet")
}

fn lines_of(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

fn types(recs: &[serde_json::Value]) -> Vec<String> {
    recs.iter()
        .map(|r| {
            let t = r["type"].as_str().unwrap_or("?");
            match r["member"].as_str() {
                Some(m) => format!("{t} {m}"),
                None => t.to_string(),
            }
        })
        .collect()
}

/// The outcome a member's own journal ends with.
fn member_outcome(d: &std::path::Path, name: &str) -> Option<String> {
    lines_of(&d.join(format!("fj.members/{name}.jsonl")))
        .iter()
        .rev()
        .find(|r| r["type"] == "run_finished")
        .and_then(|r| r["outcome"].as_str().map(str::to_string))
}

/// A fleet of `members` (name, `vars`) with the canary `s1`, run with `--assume-yes` and the
/// journal `fj.jsonl`, which must exit 4 (halted): the directory, stdout and stderr.
fn halted_behind_canary_s1(members: &[(&str, &str)]) -> (tempfile::TempDir, String, String) {
    let d = shards(&fleet_text("canary = [\"s1\"]\n\n", members));
    let out = run_fleet(d.path(), &["--assume-yes", "--journal", "fj.jsonl"]);
    let (stdout, stderr) = exited(&out, 4);
    (d, stdout, stderr)
}

#[test]
fn the_canary_runs_first_and_a_failure_keeps_the_unstarted_member_from_starting() {
    let (d, stdout, stderr) = halted_behind_canary_s1(&[
        ("s2", r#"host = "b", fail = "1""#),
        ("s1", r#"host = "a""#),
        ("s3", r#"host = "c""#),
    ]);
    // The canary ran first (although listed second), alone; every line names its member.
    let first = stdout.lines().next().unwrap_or_default();
    assert!(first.starts_with("[s1] cutover "), "{stdout}");
    every_line_tagged(&stdout, &["[s1] ", "[s2] "]);
    assert!(
        stdout.contains("[s1] ") && stdout.contains("│ one a"),
        "{stdout}"
    );
    assert!(!stdout.contains("[s3]"), "s3 never started: {stdout}");
    has(
        &stderr,
        "fleet halted: member s2 did not complete; not started: s3",
    );
    // The fleet journal says it in order, and each member's own journal agrees.
    let recs = lines_of(&d.path().join("fj.jsonl"));
    assert_eq!(
        types(&recs),
        [
            "fleet_started",
            "member_started s1",
            "member_finished s1",
            "canary_go",
            "member_started s2",
            "member_finished s2",
            "halted",
            "fleet_finished",
        ]
    );
    assert_eq!(recs[2]["outcome"], "completed");
    assert_eq!(recs[5]["outcome"], "aborted");
    assert_eq!(recs[5]["exit"], 4);
    assert_eq!(recs[6]["not_started"], serde_json::json!(["s3"]));
    assert_eq!(recs[7]["exit"], 4);
    assert_eq!(member_outcome(d.path(), "s1").as_deref(), Some("completed"));
    assert_eq!(member_outcome(d.path(), "s2").as_deref(), Some("aborted"));
    assert!(!d.path().join("fj.members/s3.jsonl").exists());
    assert_eq!(recs[1]["journal"], "fj.members/s1.jsonl");
    // The fleet report: one row per member from its own journal, the halt, each member's
    // full report; and the rehearsal comparison reads members side by side.
    let report = cutover(d.path(), &["report", "fj.jsonl"], &[]);
    let (md, _) = exited(&report, 0);
    assert!(
        md.starts_with("# Fleet report — 1 of 3 members completed"),
        "{md}"
    );
    assert!(md.contains("| s2 | ended before completion | "), "{md}");
    has(&md, "| two failed | `cutover report fj.members/s2.jsonl` |");
    has(&md, "| s3 | never started | — | — | — | — |");
    has(&md, "- member s2 did not complete — not started: s3");
    let json = cutover(d.path(), &["report", "fj.jsonl", "--json"], &[]);
    let (json, _) = exited(&json, 0);
    let v: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(v["members"][1]["name"], "s1");
    assert_eq!(v["members"][1]["outcome"], "completed");
    let page = cutover(d.path(), &["report", "fj.jsonl", "-o", "fleet.html"], &[]);
    exited(&page, 0);
    let html = std::fs::read_to_string(d.path().join("fleet.html")).expect("page");
    has(&html, "<a href=\"fleet.pages/s2.html\">s2</a>");
    assert!(
        !html.contains("fleet.pages/s3.html"),
        "s3 never ran: no page"
    );
    let s2 = std::fs::read_to_string(d.path().join("fleet.pages/s2.html")).expect("s2's page");
    assert!(s2.contains("two"), "s2's own report");
    let (cmp, _) = cutover_exits(
        d.path(),
        &["report", "fj.members/s1.jsonl", "fj.members/s2.jsonl"],
        0,
    );
    assert!(
        cmp.contains("fj.members/s1.jsonl") && cmp.contains("fj.members/s2.jsonl"),
        "{cmp}"
    );
}

/// A canary that fails halts the fleet, and the halt names every member it kept from
/// starting (it said "not started: none": only the other canaries were counted).
#[test]
fn a_failed_canary_names_every_member_it_kept_from_starting() {
    let (d, _, stderr) = halted_behind_canary_s1(&[
        ("s1", r#"host = "a", fail = "1""#),
        ("s2", r#"host = "b""#),
        ("s3", r#"host = "c""#),
    ]);
    has(
        &stderr,
        "fleet halted: member s1 did not complete; not started: s2, s3",
    );
    let recs = lines_of(&d.path().join("fj.jsonl"));
    let halt = recs.iter().find(|r| r["type"] == "halted").expect("a halt");
    assert_eq!(halt["not_started"], serde_json::json!(["s2", "s3"]));
}

/// A member rolled back, and the fleet journal lost its end (a SIGKILL or a full disk between
/// the member's last record and the fleet's): resuming reads the end from the member's own
/// journal. It stays rolled back (exit 3), the fleet journal catches up (its torn last line
/// cut first), and the rest start; before, every resume said "cannot start" and halted the
/// rest, and appended to the torn line.
#[test]
fn a_rolled_back_member_whose_end_the_fleet_lost_stays_rolled_back() {
    let d = tempfile::tempdir().unwrap();
    runbook(
        d.path(),
        "rb.toml",
        "[runbook]\nname = \"rb\"\n[vars]\nfail = \"0\"\n\n[[step]]\nid = \"one\"\nrun = \"true\"\nrollback = \"true\"\n\n\
         [[step]]\nid = \"boom\"\nrun = \"exit ${vars.fail}\"\n\n[[rollback_trigger]]\nname = \"boom failed\"\n\
         when = { step_failed = \"boom\" }\naction = \"rollback\"\ncountdown = \"1s\"\n",
    );
    runbook(
        d.path(),
        "fleet.toml",
        "[[member]]\nname = \"s1\"\nvars = { fail = \"3\" }\n\n[[member]]\nname = \"s2\"\n",
    );
    // s1 rolls back and the halt keeps s2 from starting (a failure: exit 4).
    let first = run_fleet(d.path(), &["--journal", "fj.jsonl"]);
    let (stdout, _) = exited(&first, 4);
    assert!(
        !stdout.contains("[s2]"),
        "the halt kept s2 from starting: {stdout}"
    );
    // The fleet journal loses s1's end.
    let path = d.path().join("fj.jsonl");
    let kept: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("\"member_finished\""))
        .map(|l| format!("{l}\n"))
        .collect();
    // ... and ends torn, mid-line (what a full disk leaves).
    std::fs::write(&path, kept.concat() + "{\"type\":\"member_sta").unwrap();
    let resumed = run_fleet(d.path(), &["--resume", "fj.jsonl"]);
    let (stdout, stderr) = exited(&resumed, 3);
    assert!(!stdout.contains("cannot start"), "{stdout}{stderr}");
    assert!(stdout.contains("[s2] "), "s2 starts: {stdout}");
    assert_eq!(member_outcome(d.path(), "s2").as_deref(), Some("completed"));
    let recs = lines_of(&path);
    let s1_end = recs
        .iter()
        .find(|r| r["type"] == "member_finished" && r["member"] == "s1")
        .expect("the fleet journal caught up");
    assert_eq!(s1_end["outcome"], "rolled_back");
    assert_eq!(s1_end["exit"], 3);
    // The torn line was cut, and kept beside the journal: every line is a record again.
    let torn: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("fj.jsonl.torn-"))
        .collect();
    assert_eq!(torn.len(), 1, "{torn:?}");
    assert_eq!(
        std::fs::read_to_string(d.path().join(&torn[0])).unwrap(),
        "{\"type\":\"member_sta"
    );
    let text = std::fs::read_to_string(&path).unwrap();
    for line in text.lines() {
        assert!(
            serde_json::from_str::<serde_json::Value>(line).is_ok(),
            "{line}"
        );
    }
}

#[test]
fn without_a_go_the_rest_wait_after_the_canary_and_json_records_name_their_member() {
    let d = shards(&fleet_text(
        "canary = [\"s1\"]\n\n",
        &[("s1", r#"host = "a""#), ("s2", r#"host = "b""#)],
    ));
    let out = run_fleet(d.path(), &["--json", "--journal", "fj.jsonl"]);
    let (stdout, stderr) = exited(&out, 4);
    has(&stderr, "the rest wait for the operator's go");
    for line in stdout.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("a JSON line");
        assert_eq!(v["member"], "s1", "{line}");
    }
    assert!(stdout.contains("\"type\":\"run_finished\""), "{stdout}");
    let recs = lines_of(&d.path().join("fj.jsonl"));
    assert!(!types(&recs).contains(&"canary_go".to_string()));
    assert!(!d.path().join("fj.members/s2.jsonl").exists());
}

/// Two members, s1 and s2, one at a time; s1's second step sleeps `nap` seconds.
fn s1_napping(nap: &str) -> tempfile::TempDir {
    let s1 = format!(r#"host = "a", nap = "{nap}""#);
    shards(&fleet_text("", &[("s1", &s1), ("s2", r#"host = "b""#)]))
}

/// Starts the fleet in `dir` (journal `fj.jsonl`) and waits until `member`'s step runs.
fn mid_step(dir: &std::path::Path, member: &str) -> std::process::Child {
    let child = spawn_fleet(dir, std::process::Stdio::null());
    let own = dir.join(format!("fj.members/{member}.jsonl"));
    wait_for(
        "the member's step",
        std::time::Duration::from_secs(30),
        || std::fs::read_to_string(&own).is_ok_and(|t| t.contains("\"type\":\"process\"")),
    );
    child
}

/// Starts the fleet in `dir` (journal `fj.jsonl`), SIGKILLs it once `member`'s long step runs,
/// and stops that step, as a crashed single run's would be stopped.
fn killed_mid_step(dir: &std::path::Path, member: &str) {
    let mut child = mid_step(dir, member);
    let own = dir.join(format!("fj.members/{member}.jsonl"));
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let pid = lines_of(&own)
        .iter()
        .rev()
        .find(|r| r["type"] == "process")
        .and_then(|r| r["pid"].as_i64())
        .expect("pid") as i32;
    // SAFETY: killpg on the process group the killed fleet's step ran in (our own child's).
    unsafe { libc::killpg(pid, libc::SIGKILL) };
}

#[test]
fn sigkill_of_the_fleet_mid_way_then_resume_continues_every_member() {
    let d = shards(&fleet_text(
        "concurrency = 1\n\n",
        &[
            ("s1", r#"host = "a""#),
            ("s2", r#"host = "b", nap = "30""#),
            ("s3", r#"host = "c""#),
        ],
    ));
    killed_mid_step(d.path(), "s2");
    // The operator shortens s2's nap before resuming: a changed var is refused unless accepted.
    let fleet = std::fs::read_to_string(d.path().join("fleet.toml")).expect("fleet");
    runbook(
        d.path(),
        "fleet.toml",
        &fleet.replace("nap = \"30\"", "nap = \"0.1\""),
    );
    let resume = ["--resume", "fj.jsonl", "--rerun-interrupted"];
    let refused = run_fleet(d.path(), &resume);
    let (stdout, _) = exited(&refused, 4);
    has(&stdout, "[s2] cannot start: the vars differ");
    assert!(stdout.contains("nap: \"30\" → \"0.1\""), "{stdout}");
    let mut accepted = resume.to_vec();
    accepted.push("--accept-changed-vars");
    let out = run_fleet(d.path(), &accepted);
    let (stdout, _) = exited(&out, 0);
    assert!(
        !stdout.contains("[s1]"),
        "s1 completed and stays completed: {stdout}"
    );
    assert!(
        stdout.contains("[s2] ") && stdout.contains("[s3] "),
        "{stdout}"
    );
    for m in ["s1", "s2", "s3"] {
        assert_eq!(
            member_outcome(d.path(), m).as_deref(),
            Some("completed"),
            "{m}"
        );
    }
    // s1 ran once; s2 went on from its own journal (one journal, two sessions).
    let starts = |m: &str| {
        lines_of(&d.path().join(format!("fj.members/{m}.jsonl")))
            .iter()
            .filter(|r| r["type"] == "run_started")
            .count()
    };
    assert_eq!((starts("s1"), starts("s2"), starts("s3")), (1, 2, 1));
    let recs = lines_of(&d.path().join("fj.jsonl"));
    let t = types(&recs);
    assert_eq!(t.last().map(String::as_str), Some("fleet_finished"));
    assert!(t.contains(&"member_started s2".to_string()));
    let resumed = recs
        .iter()
        .find(|r| r["type"] == "member_started" && r["member"] == "s2" && r["resumed"] == true);
    assert!(resumed.is_some(), "{t:?}");
}

/// A member whose secret's variable is not set never starts: said as a JSON record of its own
/// under `--json` (it was a bare text line), and counted as nothing done (exit 2, as for one
/// run), not as a failure.
#[test]
fn a_member_without_its_secret_is_said_in_json_and_exits_2() {
    let d = tempfile::tempdir().unwrap();
    runbook(
        d.path(),
        "rb.toml",
        "[runbook]\nname = \"rb\"\n[secrets]\nPW = { env = \"FLEET_PW_UNSET_DEFAULT\" }\n\n[[step]]\nid = \"one\"\nrun = \"true\"\n",
    );
    runbook(
        d.path(),
        "fleet.toml",
        "halt = \"never\"\n[[member]]\nname = \"s1\"\nsecrets = { PW = { env = \"FLEET_PW_SET\" } }\n\n\
         [[member]]\nname = \"s2\"\nsecrets = { PW = { env = \"FLEET_PW_UNSET\" } }\n",
    );
    let out = run_fleet_env(
        d.path(),
        &["--json", "--journal", "fj.jsonl"],
        &[("FLEET_PW_SET", "set-secret")],
    );
    let (stdout, _) = exited(&out, 2);
    for line in stdout.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        assert!(v["member"] == "s1" || v["member"] == "s2", "{line}");
    }
    assert!(
        stdout.lines().any(|l| l.contains("\"type\":\"note\"")
            && l.contains("cannot start: secret")
            && l.contains("\"member\":\"s2\"")),
        "{stdout}"
    );
    assert_eq!(member_outcome(d.path(), "s1").as_deref(), Some("completed"));
    // `check --connect` names the member too, as its other lines do.
    let check = cutover(
        d.path(),
        &["check", "rb.toml", "--fleet", "fleet.toml", "--connect"],
        &[("FLEET_PW_SET", "set-secret")],
    );
    let (_, stderr) = exited(&check, 2);
    has(&stderr, "[s2] cutover preflight: secret `PW`");
}

/// A fleet journal has one writer: a `--resume` while the fleet still runs is refused (two
/// would start members twice). And a new fleet never takes another fleet journal's members:
/// `fj.other` shares `fj.jsonl`'s `fj.members/`, whose journals it would have resumed as its
/// own and called completed; a journal named like its own members' directory is refused too.
#[test]
fn a_fleet_journal_has_one_writer_and_its_members_belong_to_one_fleet() {
    let d = s1_napping("3");
    let mut child = mid_step(d.path(), "s1");
    let twice = run_fleet(d.path(), &["--resume", "fj.jsonl", "--assume-yes"]);
    let (_, stderr) = exited(&twice, 2);
    has(&stderr, "fj.jsonl is in use by another cutover process");
    assert!(child.wait().expect("the fleet ends").success());
    let other = run_fleet(d.path(), &["--journal", "fj.other", "--assume-yes"]);
    let (stdout, stderr) = exited(&other, 2);
    has(&stderr, "fj.members is there already");
    assert!(!stdout.contains("resumed"), "{stdout}");
    assert!(!d.path().join("fj.other").exists());
    let own = run_fleet(d.path(), &["--journal", "x.members", "--assume-yes"]);
    let (_, stderr) = exited(&own, 2);
    has(&stderr, "would be its own members' directory");
    // Flags a fleet does not take are refused, not dropped.
    for flag in ["--metrics-file", "--share-group", "--log"] {
        let out = run_fleet(d.path(), &["--journal", "fj.third", flag, "x"]);
        let (_, stderr) = exited(&out, 2);
        has(&stderr, &format!("run --fleet does not take {flag}"));
    }
    assert!(!d.path().join("fj.third").exists());
    let both = run_fleet(
        d.path(),
        &["--journal", "fj.fourth", "--resume", "fj.jsonl"],
    );
    let (_, stderr) = exited(&both, 2);
    has(
        &stderr,
        "'--journal <PATH>' cannot be used with '--resume <JOURNAL>'",
    );
    // The members' directory of the journal resumed is a link: never written through.
    std::fs::rename(d.path().join("fj.members"), d.path().join("elsewhere")).unwrap();
    std::os::unix::fs::symlink("elsewhere", d.path().join("fj.members")).unwrap();
    let linked = run_fleet(d.path(), &["--resume", "fj.jsonl", "--assume-yes"]);
    let (_, stderr) = exited(&linked, 2);
    has(&stderr, "fj.members is not a directory");
}

/// Resuming with a fleet file that leaves out a member killed mid-step is refused, naming it
/// and the fleet file it ran with: it would stay interrupted, its outcome unknown, and the
/// fleet said it finished (exit 0).
#[test]
fn resuming_without_a_member_that_did_not_end_is_refused() {
    let d = s1_napping("30");
    killed_mid_step(d.path(), "s1");
    runbook(
        d.path(),
        "other.toml",
        "[[member]]\nname = \"s2\"\nvars = { host = \"b\" }\n",
    );
    let (_, stderr) = cutover_exits(
        d.path(),
        &[
            "run",
            "rb.toml",
            "--fleet",
            "other.toml",
            "--headless",
            "--resume",
            "fj.jsonl",
        ],
        2,
    );
    has(&stderr, "s1 started in fj.jsonl and did not end");
    has(
        &stderr,
        "resume with the fleet file it ran with (fleet.toml)",
    );
}

#[test]
fn a_fleet_journal_that_is_a_fifo_a_link_or_not_a_fleet_is_refused_without_hanging() {
    let d = shards(&fleet_text("", &[("s1", r#"host = "a""#)]));
    let fifo = d.path().join("fifo.jsonl");
    mkfifo(&fifo);
    std::os::unix::fs::symlink(
        d.path().join("elsewhere.jsonl"),
        d.path().join("link.jsonl"),
    )
    .expect("symlink");
    runbook(d.path(), "single.jsonl", "{\"type\":\"run_started\"}\n");
    for (flag, path, want) in [
        ("--resume", "fifo.jsonl", "not a regular file"),
        (
            "--resume",
            "link.jsonl",
            "is a symbolic link (not followed)",
        ),
        (
            "--journal",
            "link.jsonl",
            "is there and is not a regular file",
        ),
        ("--resume", "single.jsonl", "is not a fleet journal"),
    ] {
        let out = run_fleet(d.path(), &[flag, path]);
        let (stdout, stderr) = exited(&out, 2);
        assert!(stdout.is_empty(), "{flag} {path}: {stdout}");
        assert!(stderr.contains(want), "{flag} {path}: {stderr}");
    }
    assert!(
        !d.path().join("elsewhere.jsonl").exists(),
        "nothing written through the link"
    );
}

/// Members side by side in one process: each its own preflight, journal and output; every
/// one completes (their preflights once raced on one write-test file name).
#[test]
fn members_run_side_by_side_at_the_fleets_concurrency() {
    let d = tempfile::tempdir().expect("tempdir");
    runbook(d.path(), "rb.toml", SHARDS);
    let mut fleet = String::from("concurrency = 6\n");
    for i in 1..=12 {
        fleet.push_str(&format!(
            "\n[[member]]\nname = \"s{i}\"\nvars = {{ host = \"h{i}\", nap = \"0.3\" }}\n"
        ));
    }
    runbook(d.path(), "fleet.toml", &fleet);
    let out = run_fleet(d.path(), &["--journal", "fj.jsonl"]);
    let (stdout, stderr) = exited(&out, 0);
    for i in 1..=12 {
        assert_eq!(
            member_outcome(d.path(), &format!("s{i}")).as_deref(),
            Some("completed"),
            "{stdout}{stderr}"
        );
        assert!(stdout.contains(&format!("[s{i}] ")), "{stdout}");
    }
    // Six in flight at most, and six at once while there were enough to start.
    let recs = lines_of(&d.path().join("fj.jsonl"));
    let mut in_flight = 0i32;
    let mut most = 0;
    for r in &recs {
        match r["type"].as_str() {
            Some("member_started") => in_flight += 1,
            Some("member_finished") => in_flight -= 1,
            _ => {}
        }
        most = most.max(in_flight);
    }
    assert_eq!(most, 6, "{recs:?}");
}

/// `cutover run rb.toml --fleet fleet.toml --headless --assume-yes FLAG fj.jsonl` in `dir`, off
/// the test's runtime threads.
async fn fleet_off_thread(dir: &std::path::Path, flag: &'static str) -> std::process::Output {
    let dir = dir.to_path_buf();
    off_thread(move || run_fleet(&dir, &["--assume-yes", flag, "fj.jsonl"])).await
}

/// A runbook a member runs on its own databases: a change on the target (with its undo), a
/// pause (`vars.pause` seconds), the reconcile gate, a step after it; a drifted table fires
/// the trigger that rolls back.
fn gated() -> String {
    let gate = gate_step("60s");
    format!(
        r#"[runbook]
name = "fleet gate"

[vars]
pause = "0"

[connections.source]
dsn = "${{vars.src}}"

[connections.target]
dsn = "${{vars.tgt}}"

{ITEMS_CHECK}
[[step]]
id = "mark"
title = "mark the target"
sql = "insert into marks values (1)"
on = "target"
rollback_sql = "delete from marks"

[[step]]
id = "pause"
run = "sleep ${{vars.pause}}"

{gate}
[[step]]
id = "after"
run = "echo past the gate"

[[rollback_trigger]]
name = "data drift"
when = {{ mismatch_rows_above = 0 }}
action = "rollback"
countdown = "1s"
"#
    )
}

/// Issue 29 on real clusters: three members, each on its own databases of one pair; the
/// second's target has drifted. The canary ran first and completed; the drifted member's
/// gate held, its trigger rolled it back (its change undone in its own database); the halt
/// kept the third from starting; a resume started the third, and a SIGKILL of the fleet
/// while it paused after its change, then a second resume, ran it to completion without
/// making its change twice, keeping the others as they ended; the fleet journal and the
/// members' journals agree throughout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_failing_its_gate_rolls_back_by_its_trigger_and_the_halt_holds() {
    use cutover_drill::harness::{Cluster, ClusterOptions};
    let pg = crate::support::pg_bin();
    let (s, t) = tokio::join!(
        Cluster::create(&pg, ClusterOptions::named("fleetsrc")),
        Cluster::create(&pg, ClusterOptions::named("fleettgt")),
    );
    let (s, t) = (s.expect("source"), t.expect("target"));
    let mut fleet = String::from("canary = [\"m1\"]\n");
    for m in ["m1", "m2", "m3"] {
        for c in [&s, &t] {
            c.execute(&format!("create database {m}"))
                .await
                .expect("db");
            c.connect_db(m)
                .await
                .expect("connect")
                .batch_execute(
                    "create table items (id int primary key, v text);
                     insert into items select g, 'v' || g from generate_series(1, 300) g;
                     create table marks (n int);",
                )
                .await
                .expect("schema");
        }
        fleet.push_str(&format!(
            "\n[[member]]\nname = \"{m}\"\nvars = {{ src = \"{}\", tgt = \"{}\" }}\n",
            s.dsn_db(m),
            t.dsn_db(m)
        ));
    }
    t.connect_db("m2")
        .await
        .expect("connect")
        .batch_execute("update items set v = 'drifted' where id = 7")
        .await
        .expect("drift");
    let d = tempfile::tempdir().expect("tempdir");
    runbook(d.path(), "rb.toml", &gated());
    // A member pointed at a server that is not there is not ready, named.
    let broken = fleet
        .clone()
        .replace(&t.dsn_db("m3"), "host=127.0.0.1 port=1 dbname=m3");
    runbook(d.path(), "fleet.toml", &broken);
    let (stdout, _) = cutover_exits_off_thread(
        d.path(),
        &["check", "rb.toml", "--fleet", "fleet.toml", "--connect"],
        2,
    )
    .await;
    assert!(
        stdout.contains("[m1] ready") && stdout.contains("[m2] ready"),
        "{stdout}"
    );
    assert!(stdout.contains("[m3] NOT READY"), "{stdout}");
    runbook(d.path(), "fleet.toml", &fleet);
    let first = fleet_off_thread(d.path(), "--journal").await;
    let (stdout, stderr) = exited(&first, 4);
    assert!(
        stdout.contains("[m2] ") && stdout.contains("TRIGGER data drift"),
        "{stdout}"
    );
    assert!(stderr.contains("not started: m3"), "{stderr}");
    let recs = lines_of(&d.path().join("fj.jsonl"));
    assert_eq!(
        types(&recs),
        [
            "fleet_started",
            "member_started m1",
            "member_finished m1",
            "canary_go",
            "member_started m2",
            "member_finished m2",
            "halted",
            "fleet_finished",
        ]
    );
    assert_eq!(recs[5]["outcome"], "rolled_back");
    assert_eq!(recs[5]["exit"], 3);
    assert_eq!(member_outcome(d.path(), "m1").as_deref(), Some("completed"));
    assert_eq!(
        member_outcome(d.path(), "m2").as_deref(),
        Some("rolled_back")
    );
    assert!(!d.path().join("fj.members/m3.jsonl").exists());
    let marks = |m: &'static str| {
        let t = &t;
        async move {
            let c = t.connect_db(m).await.expect("connect");
            let n: i64 = c
                .query_one("select count(*) from marks", &[])
                .await
                .expect("count")
                .get(0);
            n
        }
    };
    assert_eq!(marks("m1").await, 1, "the canary's change stays");
    assert_eq!(
        marks("m2").await,
        0,
        "the drifted member's change was undone"
    );
    assert_eq!(marks("m3").await, 0, "the halted member never ran");
    // Resumed, the third runs, and the fleet is SIGKILLed while it pauses after its change.
    runbook(
        d.path(),
        "fleet.toml",
        &fleet.replace(
            "name = \"m3\"\nvars = {",
            "name = \"m3\"\nvars = { pause = \"60\",",
        ),
    );
    sigkill_when_m3_pauses(d.path()).await;
    assert_eq!(marks("m3").await, 1, "m3's change was made before the kill");
    // Resumed again (the pause shortened, so its vars changed), m3 goes on from its own
    // journal: its change is not made twice; the rolled-back member stays rolled back, the
    // canary completed.
    runbook(d.path(), "fleet.toml", &fleet);
    let dir = d.path().to_path_buf();
    let second = off_thread(move || {
        run_fleet(
            &dir,
            &[
                "--assume-yes",
                "--resume",
                "fj.jsonl",
                "--accept-changed-vars",
                "--rerun-interrupted",
                "--kill-interrupted",
            ],
        )
    })
    .await;
    let (stdout, _) = exited(&second, 3);
    assert!(
        !stdout.contains("[m1]") && !stdout.contains("[m2]"),
        "{stdout}"
    );
    assert_eq!(member_outcome(d.path(), "m3").as_deref(), Some("completed"));
    assert_eq!(marks("m3").await, 1);
    let recs = lines_of(&d.path().join("fj.jsonl"));
    assert_eq!(recs.last().expect("end")["exit"], 3);
}

/// Resumes the fleet in `dir` and SIGKILLs it once member m3's `pause` step has started.
async fn sigkill_when_m3_pauses(dir: &std::path::Path) {
    let mut child = spawn_headless_fleet(
        dir,
        &["--assume-yes", "--resume", "fj.jsonl"],
        std::process::Stdio::null(),
    );
    let m3 = dir.join("fj.members/m3.jsonl");
    let started = std::time::Instant::now();
    while !lines_of(&m3)
        .iter()
        .any(|r| r["type"] == "step_started" && r["id"] == "pause")
    {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "m3 never paused: {:?}",
            lines_of(&m3)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reaped");
}

/// SIGTERM to a fleet ends every member in flight as an abort, each journaled, their steps'
/// process groups stopped; a fleet whose stdout is gone does not go on blind.
#[test]
fn a_signal_or_a_lost_stdout_ends_every_member_in_flight_journaled() {
    let d = shards(&fleet_text(
        "concurrency = 2\n\n",
        &[
            ("s1", r#"host = "a", nap = "60""#),
            ("s2", r#"host = "b", nap = "60""#),
        ],
    ));
    let child = spawn_fleet(d.path(), std::process::Stdio::null());
    let pid_of = |m: &str| {
        lines_of(&d.path().join(format!("fj.members/{m}.jsonl")))
            .iter()
            .rev()
            .find(|r| r["type"] == "process")
            .and_then(|r| r["pid"].as_i64())
    };
    wait_for(
        "both members' long steps",
        std::time::Duration::from_secs(30),
        || pid_of("s1").is_some() && pid_of("s2").is_some(),
    );
    // SAFETY: SIGTERM to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(4));
    for m in ["s1", "s2"] {
        assert_eq!(
            member_outcome(d.path(), m).as_deref(),
            Some("aborted"),
            "{m}"
        );
        let pgid = pid_of(m).expect("pid") as i32;
        wait_for(
            "the step's group to go",
            std::time::Duration::from_secs(10),
            || !alive(pgid),
        );
    }
    let recs = lines_of(&d.path().join("fj.jsonl"));
    assert_eq!(recs.last().expect("end")["type"], "fleet_finished");

    // Nobody reads the output any more: every member ends as an abort, journaled.
    let e = shards(&fleet_text(
        "concurrency = 2\n\n",
        &[
            ("s1", r#"host = "a", nap = "2""#),
            ("s2", r#"host = "b", nap = "2""#),
        ],
    ));
    let mut child = spawn_fleet(e.path(), std::process::Stdio::piped());
    drop(child.stdout.take());
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(4));
    for m in ["s1", "s2"] {
        let recs = lines_of(&e.path().join(format!("fj.members/{m}.jsonl")));
        let end = recs.iter().rev().find(|r| r["type"] == "run_finished");
        assert_eq!(
            end.and_then(|r| r["outcome"].as_str()),
            Some("aborted"),
            "{m}: {recs:?}"
        );
    }
}

/// All members run in one process, so each member's steps inherit every member's secret
/// variables: each member masks them all (and the runbook's own declaration, which the fleet
/// file overrides), on its lines and in its output files.
#[test]
fn a_member_never_shows_another_member_s_secret() {
    let d = tempfile::tempdir().unwrap();
    runbook(
        d.path(),
        "rb.toml",
        "[runbook]\nname = \"masked\"\n[secrets]\nPW = { env = \"FLEET_DEFAULT_PW\" }\n\n\
         [[step]]\nid = \"leak\"\nrun = \"env | grep FLEET_\"\n",
    );
    runbook(
        d.path(),
        "fleet.toml",
        "concurrency = 2\n[[member]]\nname = \"s1\"\nsecrets = { PW = { env = \"FLEET_S1_PW\" } }\n\
         [[member]]\nname = \"s2\"\nsecrets = { PW = { env = \"FLEET_S2_PW\" } }\n",
    );
    let secrets = [
        ("FLEET_S1_PW", "first-member-secret"),
        ("FLEET_S2_PW", "second-member-secret"),
        ("FLEET_DEFAULT_PW", "default-secret-value"),
    ];
    let out = run_fleet_env(d.path(), &["--journal", "fj.jsonl"], &secrets);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    // The steps did print the variables, masked.
    assert!(stdout.contains("FLEET_S2_PW=••••"), "{stdout}");
    let mut everything = stdout + &stderr;
    for member in ["s1", "s2"] {
        let outputs = d.path().join(format!("fj.members/{member}.output"));
        for f in std::fs::read_dir(&outputs).unwrap() {
            everything.push_str(&std::fs::read_to_string(f.unwrap().path()).unwrap());
        }
        let j = d.path().join(format!("fj.members/{member}.jsonl"));
        everything.push_str(&std::fs::read_to_string(j).unwrap());
    }
    for (_, secret) in secrets {
        assert!(
            !everything.contains(secret),
            "{secret} shown:\n{everything}"
        );
    }
}

/// The new flags under attack: `check --fleet` and `run --fleet` given a blank value, a device,
/// a FIFO or a link; `drill --fleet` a count out of range; `run --fleet`'s cockpit without a
/// terminal.
/// Each is refused at once (exit 2), naming the fleet file, never hanging.
#[test]
fn hostile_fleet_flags_are_refused_naming_the_fleet_file() {
    let d = shards(&fleet_text("", &[("s1", r#"host = "a""#)]));
    let fifo = d.path().join("fifo.toml");
    mkfifo(&fifo);
    let fifo = fifo.display().to_string();
    for (args, want) in [
        (
            vec!["check", "rb.toml", "--fleet", ""],
            "a value is required",
        ),
        (
            vec!["check", "rb.toml", "--fleet", "/dev/null"],
            "/dev/null: cannot read the fleet file: not a regular file (a fleet file is read",
        ),
        (
            vec!["run", "rb.toml", "--fleet", &fifo, "--headless"],
            "cannot read the fleet file: not a regular file",
        ),
        (
            vec!["run", "rb.toml", "--fleet", "fleet.toml"],
            "the cockpit needs a terminal",
        ),
        (
            vec!["drill", "--fleet", "0", "--headless"],
            "0 is not in 1..=8",
        ),
        (
            vec!["drill", "--fleet", "99999999999", "--headless"],
            "is not in 1..=8",
        ),
        (vec!["drill", "--fleet", "2"], "--headless"),
    ] {
        let (stdout, stderr) = cutover_exits(d.path(), &args, 2);
        assert!(stdout.is_empty(), "{args:?}: {stdout}");
        assert!(stderr.contains(want), "{args:?}: {stderr}");
    }
    // A fleet file reached through a link is read (as a runbook is); its journal is not.
    std::os::unix::fs::symlink(d.path().join("fleet.toml"), d.path().join("link.toml"))
        .expect("symlink");
    cutover_exits(d.path(), &["check", "rb.toml", "--fleet", "link.toml"], 0);
}
