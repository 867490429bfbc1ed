//! Issue 23: what `cutover check` passed and the run then refused, values that became shell
//! syntax, and a count check refused for a key it does not need unique. Each attack is
//! performed for real: the real binary on real files, and real PostgreSQL for the count.

use crate::support::*;

const HEAD: &str = "[runbook]\nname = \"attack\"\n\n";

/// A runbook with `lines` before one harmless step.
fn with_step(lines: &str) -> String {
    format!("{HEAD}{lines}\n[[step]]\nid = \"s\"\nrun = \"echo step ran\"\n")
}

/// `cutover check` refuses `rb.toml` at `at` (`line:col`) saying `want`; `cutover run
/// --headless` refuses it the same way (exit 2) before anything runs.
fn refused_at(d: &std::path::Path, text: &str, at: &str, want: &str) {
    let rb = runbook(d, "rb.toml", text);
    let stderr = refused_by_check(d, &rb);
    assert!(
        stderr.starts_with(&format!("{}:{at}: ", rb.display())) && stderr.contains(want),
        "wanted {at}: {want}\n{stderr}"
    );
    let (stdout, stderr) = cutover_exits(
        d,
        &[
            "run",
            "rb.toml",
            "--headless",
            "--assume-yes",
            "--journal",
            "j.jsonl",
        ],
        2,
    );
    assert!(stderr.contains(want), "run: {stderr}");
    assert!(!stdout.contains("step ran"), "a step ran: {stdout}");
    assert!(!d.join("j.jsonl").exists(), "a run started");
}

/// Each of these passed `cutover check` and then failed the run (at connect, at the step,
/// or never, a threshold that can never be crossed): now each is a located error.
#[test]
fn check_refuses_what_the_run_would_refuse() {
    let conn = |dsn: &str| format!("[connections.source]\ndsn = \"{dsn}\"\n");
    // A lag read by a command, then `rest`.
    let lag = |rest: &str| format!("[lag]\nmethod = \"command\"\ncommand = \"echo 0\"\n{rest}");
    // Two connections and a count check `name` of `table`.
    let count_check = |name: &str, table: &str| {
        format!(
            "[connections.source]\ndsn = \"host=db\"\n[connections.target]\ndsn = \"host=db2\"\n\
             [[reconcile]]\nname = \"{name}\"\nkind = \"count\"\ntable = \"{table}\"\n"
        )
    };
    let cases: Vec<(String, &str, &str)> = vec![
        // Before: check ok; the run "cannot start: invalid value for option `port`" (exit 4).
        (
            conn("postgres://u@db:notaport/x"),
            "5:7",
            "connection `source`: invalid value for option `port`",
        ),
        // Before: check ok; the run "unknown option `PASSWORD`" (exit 4).
        (
            conn("host=db PASSWORD="),
            "5:7",
            "unknown option `PASSWORD` (options are lower case: `password`)",
        ),
        (
            conn("host=db sslmode=verify_full"),
            "5:7",
            "invalid value for option `sslmode`",
        ),
        // Before: check ok; every step "could not start sh: nul byte found" (exit 4).
        (
            "[vars]\nx = \"a\\u0000b\"\n".into(),
            "5:5",
            "var `x` holds a NUL byte",
        ),
        // Before: a word no one can type at the confirm prompt.
        (
            "[[step]]\nid = \"go\"\nconfirm = \"G\\u0007O\"\n".into(),
            "6:11",
            "the confirm word holds the character U+0007",
        ),
        // Before: "exit 0 (expected -1)": a step that can never pass.
        (
            "[[step]]\nid = \"e\"\nrun = \"true\"\nexpect = { exit = -1 }\n".into(),
            "7:19",
            "expect.exit -1 can never happen",
        ),
        // Before: a warn level that is never crossed, a gate that can never be met.
        (lag("warn = nan\n"), "7:8", "invalid threshold NaN"),
        (lag("critical = inf\n"), "7:12", "invalid threshold inf"),
        (lag("warn = -5\n"), "7:8", "invalid threshold -5"),
        (
            lag("[[step]]\nid = \"w\"\nwait = { lag_below = nan }\n"),
            "9:22",
            "invalid threshold NaN",
        ),
        // Before: a check no one can name on the command line, shown across two lines.
        (
            count_check("orders\\ntotal", "t"),
            "9:8",
            "the reconcile name holds the character U+000A",
        ),
        // Before: the step ran `a-${vars.b}` as written (`sh: Bad substitution`).
        (
            "[vars]\na = \"x-${vars.a}\"\n".into(),
            "5:8",
            "`${vars.a}` makes a cycle: a → a",
        ),
        // Before: reconcile looked for a table literally named `${vars.t}`.
        (
            count_check("t", "${vars.t}"),
            "11:10",
            "`${vars.t}` does not resolve",
        ),
    ];
    for (lines, at, want) in cases {
        let d = tempfile::tempdir().unwrap();
        refused_at(d.path(), &with_step(&lines), at, want);
    }
}

/// A DSN made of a var is checked with the var's value (`check --var` as `run --var`); a
/// value that holds a secret is known only at run time and is not judged.
#[test]
fn a_dsn_is_checked_as_the_run_reads_it_but_secrets_are_left_to_the_run() {
    let d = tempfile::tempdir().unwrap();
    let body = with_step(
        "[vars]\nsrc = \"host=db dbname=x\"\n[secrets]\nPW = { env = \"PW\" }\nPORT = { env = \"PORT\" }\n\
         [connections.source]\ndsn = \"${vars.src}\"\n\
         [connections.target]\ndsn = \"host=db2 password=${secrets.PW} port=${secrets.PORT}\"\n",
    );
    runbook(d.path(), "rb.toml", &body);
    cutover_exits(d.path(), &["check", "rb.toml"], 0);
    let (_, stderr) = cutover_exits(
        d.path(),
        &["check", "rb.toml", "--var", "src=postgres://u@db:x/y"],
        2,
    );
    assert!(
        stderr.starts_with("rb.toml:10:7: connection `source`: invalid value for option `port`"),
        "{stderr}"
    );
    // The run refuses it with the same words, located, before it starts (was exit 4).
    let out = cutover(
        d.path(),
        &[
            "run",
            "rb.toml",
            "--headless",
            "--journal",
            "j.jsonl",
            "--var",
            "src=postgres://u@db:x/y",
        ],
        &[("PW", "pw"), ("PORT", "5432")],
    );
    let (_, stderr) = exited(&out, 2);
    has(
        &stderr,
        "rb.toml:10:7: connection `source`: invalid value for option `port`",
    );
    // At run time a secret that makes the DSN wrong is refused by the same rules, unshown.
    let out = cutover(
        d.path(),
        &["run", "rb.toml", "--headless", "--journal", "j2.jsonl"],
        &[("PW", "hunter2"), ("PORT", "not-a-port")],
    );
    let (stdout, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains("invalid value for option `port`") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

/// The attack of issue 23: a `--var` meant to become shell syntax, in every place a runbook
/// string becomes `sh -c` (a step, a shell wait, the lag command, a rollback). Before, each
/// created the file; now the value is one word, echoed as written.
#[test]
fn a_var_never_becomes_shell_syntax() {
    let d = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEAD}[vars]\nx = \"harmless\"\n\n\
         [lag]\nmethod = \"command\"\ncommand = \"echo ${{vars.x}} >/dev/null; echo 0\"\ninterval = \"200ms\"\n\n\
         [[step]]\nid = \"say\"\nrun = \"echo ${{vars.x}}\"\nrollback = \"echo undo ${{vars.x}}\"\n\n\
         [[step]]\nid = \"same\"\nwait = {{ run = \"test ${{vars.x}} = \\\"$CUTOVER_VAR_X\\\"\", every = \"100ms\" }}\ntimeout = \"10s\"\n\n\
         [[step]]\nid = \"lag\"\nwait = {{ lag_below = 1 }}\ntimeout = \"10s\"\n\n\
         [[step]]\nid = \"boom\"\nrun = \"exit 1\"\n\n\
         [[rollback_trigger]]\nname = \"undo\"\nwhen = {{ step_failed = \"boom\" }}\naction = \"rollback\"\ncountdown = \"1s\"\n"
    );
    let out = headless_at(
        d.path(),
        &text,
        "j.jsonl",
        &["--var", "x=a; touch PWNED"],
        &[],
    );
    let (stdout, stderr) = exited(&out, 3);
    assert!(
        !d.path().join("PWNED").exists(),
        "the value ran as shell syntax:\n{stdout}{stderr}"
    );
    assert!(
        stdout.contains("│ a; touch PWNED"),
        "echoed as written:\n{stdout}"
    );
    assert!(
        stdout.contains("$ echo 'a; touch PWNED'"),
        "shown quoted:\n{stdout}"
    );
    assert!(stdout.contains("✔ 2/4 same passed"), "{stdout}");
    assert!(stdout.contains("✔ 3/4 lag passed"), "{stdout}");
    let rollback_log = std::fs::read_dir(d.path().join("j.output"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().contains("say.rollback"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .expect("the rollback's output file");
    has(&rollback_log, "undo a; touch PWNED");
}

/// A secret in a shell command is one quoted word too, whatever it holds, and stays masked.
#[test]
fn a_secret_never_becomes_shell_syntax_and_stays_masked() {
    let d = tempfile::tempdir().unwrap();
    let secret = "it's; touch PWNED";
    let text = format!(
        "{HEAD}[secrets]\nPW = {{ env = \"CUTOVER_TEST_PW\" }}\n\n\
         [[step]]\nid = \"use\"\nrun = \"printf '%s\\\\n' ${{secrets.PW}} | wc -c\"\n"
    );
    let out = headless_at(
        d.path(),
        &text,
        "j.jsonl",
        &[],
        &[("CUTOVER_TEST_PW", secret)],
    );
    let (stdout, stderr) = exited(&out, 0);
    assert!(!d.path().join("PWNED").exists(), "{stdout}{stderr}");
    // The secret arrived whole: its bytes and the newline.
    has(&stdout, &format!("│ {}", secret.len() + 1));
    has(&stdout, "$ printf '%s\\n' '••••' | wc -c");
    assert!(!stdout.contains("PWNED"), "{stdout}");
}

/// `:raw` pastes the text (the author's choice, pointed out by check with its place); a
/// reference inside shell quotes would be quoted twice: refused, located.
#[test]
fn raw_is_pointed_out_and_a_quoted_reference_is_refused() {
    let d = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEAD}[vars]\nflags = \"-n hello\"\n\n[[step]]\nid = \"say\"\nrun = \"echo ${{vars.flags:raw}}\"\n"
    );
    runbook(d.path(), "rb.toml", &text);
    let (stdout, stderr) = cutover_exits(d.path(), &["check", "rb.toml"], 0);
    assert!(stdout.contains("rb.toml: ok (1 step)"), "{stdout}");
    assert!(
        stderr.starts_with(
            "warning: rb.toml:9:13: a `:raw` reference pastes its value into the shell command as it is"
        ),
        "{stderr}"
    );
    let out = headless_at(d.path(), &text, "j.jsonl", &[], &[]);
    let (stdout, _) = exited(&out, 0);
    assert!(
        stdout.contains("│ hello"),
        "two words, as written:\n{stdout}"
    );

    for (run, at, want) in [
        ("echo '${vars.flags}'", "9:14", "inside shell quotes"),
        ("echo \\\"${vars.flags}\\\"", "9:15", "inside shell quotes"),
        ("echo hi # ${vars.flags}", "9:18", "inside a shell comment"),
    ] {
        let d = tempfile::tempdir().unwrap();
        let text = format!(
            "{HEAD}[vars]\nflags = \"-n hello\"\n\n[[step]]\nid = \"say\"\nrun = \"{run}\"\n"
        );
        let rb = runbook(d.path(), "rb.toml", &text);
        let stderr = refused_by_check(d.path(), &rb);
        assert!(
            stderr.starts_with(&format!("{}:{at}: ${{vars.flags}} is {want}", rb.display())),
            "{run}: {stderr}"
        );
    }
}

/// `[vars]` values that refer to vars are resolved (before, they reached the shell as
/// `${vars.b}` and failed with `Bad substitution`).
#[test]
fn a_var_built_from_vars_is_resolved_at_run_time() {
    let d = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEAD}[vars]\nurl = \"https://${{vars.host}}:${{vars.port}}/\"\nhost = \"app01\"\nport = 8443\n\n\
         [[step]]\nid = \"say\"\nrun = \"echo ${{vars.url}}; echo env=$CUTOVER_VAR_URL\"\n"
    );
    let out = headless_at(d.path(), &text, "j.jsonl", &["--var", "host=app02"], &[]);
    let (stdout, stderr) = exited(&out, 0);
    assert!(stdout.contains("│ https://app02:8443/"), "{stdout}{stderr}");
    assert!(stdout.contains("│ env=https://app02:8443/"), "{stdout}");
}

/// A `count` check on a key that is not unique counts right: every row falls in one key
/// range, twins included (before: "the key (aid) is not unique … rows could hide behind
/// their twins", the check errored). A `checksum` still needs a unique key. The table is
/// named through a var (`table = "${vars.t}"`, before: looked up literally).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_check_counts_rows_whose_key_is_not_unique() {
    let (s, t) = crate::reconcile::pair(
        "dupkey",
        "CREATE TABLE hist (aid int NOT NULL, delta int);
         INSERT INTO hist SELECT g % 700, g FROM generate_series(1, 2000) g;",
        "",
    )
    .await;
    let d = tempfile::tempdir().unwrap();
    let text = format!(
        "{HEAD}[vars]\nt = \"public.hist\"\n\n{}\n\
         [[reconcile]]\nname = \"hist count\"\nkind = \"count\"\ntable = \"${{vars.t}}\"\nkey = \"aid\"\npartitions = 4\nrecheck = \"never\"\n\n\
         [[reconcile]]\nname = \"hist rows\"\nkind = \"checksum\"\ntable = \"${{vars.t}}\"\nkey = \"aid\"\nrecheck = \"never\"\n\n\
         [[step]]\nid = \"s\"\nrun = \"true\"\n",
        crate::reconcile::pair_connections("dupkey")
    );
    runbook(d.path(), "rb.toml", &text);
    let reconcile = |name: &'static str, journal: &'static str| {
        let args = ["reconcile", "rb.toml", name, "--journal", journal];
        let dir = d.path().to_path_buf();
        async move { cutover_off_thread(&dir, &args, &[]).await }
    };
    // Equal sides: the count passes, counting the twins.
    let out = reconcile("hist count", "a.jsonl").await;
    let (stdout, stderr) = exited(&out, 0);
    assert!(stdout.contains("hist count: ✔"), "{stdout}{stderr}");
    assert!(!stdout.contains("not unique"), "{stdout}");
    let rec = journal(&d.path().join("a.jsonl"));
    let res = &of_type(&rec, "reconcile_result")[0]["result"];
    assert_eq!(res["source_rows"], 2000, "{res}");
    assert_eq!(res["target_rows"], 2000, "{res}");

    // One twin gone on the target: its range counts one row less, and the check fails.
    t.batch_execute(
        "DELETE FROM hist WHERE ctid = (SELECT ctid FROM hist WHERE aid = 350 LIMIT 1)",
    )
    .await
    .unwrap();
    let out = reconcile("hist count", "b.jsonl").await;
    let (stdout, stderr) = exited(&out, 1);
    let rec = journal(&d.path().join("b.jsonl"));
    let res = &of_type(&rec, "reconcile_result")[0]["result"];
    assert_eq!(res["status"], "fail", "{res}\n{stdout}{stderr}");
    assert_eq!(res["target_rows"], 1999, "{res}");
    assert_eq!(res["mismatch_total"], 1, "{res}");

    // A twin added on the target instead: one row more.
    t.batch_execute("INSERT INTO hist VALUES (350, -1), (350, -2)")
        .await
        .unwrap();
    let out = reconcile("hist count", "c.jsonl").await;
    exited(&out, 1);
    let rec = journal(&d.path().join("c.jsonl"));
    let res = &of_type(&rec, "reconcile_result")[0]["result"];
    assert_eq!(res["target_rows"], 2001, "{res}");
    assert_eq!(res["mismatch_total"], 1, "{res}");

    // A checksum matches rows by key: there the key must be unique, and it says so.
    let out = reconcile("hist rows", "d.jsonl").await;
    let (stdout, stderr) = exited(&out, 1);
    assert!(
        format!("{stdout}{stderr}").contains("not unique"),
        "{stdout}{stderr}"
    );
    drop(s);
}
