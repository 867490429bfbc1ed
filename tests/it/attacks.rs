//! Attacks that broke the release binary, each performed for real: hostile runbooks and
//! values, signals, a full disk, secrets in awkward shapes, values meant to become SQL.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use cutover_drill::harness::{Cluster, ClusterOptions};

use crate::support::*;

const HEAD: &str = "[runbook]\nname = \"attack\"\n\n";

/// Every file cutover wrote under `dir` (journal, output files, log, torn tails), as text:
/// everything but the runbooks (which hold the secrets' names, and the test's literal DSN).
fn all_files(dir: &std::path::Path) -> String {
    let mut out = String::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "toml" || x == "sh") {
                continue;
            } else if let Ok(b) = std::fs::read(&p) {
                out.push_str(&String::from_utf8_lossy(&b));
            }
        }
    }
    out
}

#[test]
fn headless_signals_cancel_the_step_and_journal_it() {
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let (d, rb) = temp_runbook(
            "rb.toml",
            &format!(
                "{HEAD}[[step]]\nid = \"long\"\nrun = \"sleep 60 & echo $! > bg.pid; echo started > marker; wait\"\n"
            ),
        );
        let child = spawn_headless(d.path(), &rb, Stdio::piped());
        let j = d.path().join("j.jsonl");
        wait_for("the step to run", Duration::from_secs(20), || {
            d.path().join("bg.pid").exists()
                && std::fs::read_to_string(&j).is_ok_and(|t| t.contains("\"type\":\"process\""))
        });
        signal(child.id() as i32, sig);
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(4), "{name}: {stdout}{stderr}");
        let recs = journal(&j);
        let fin = of_type(&recs, "step_finished");
        assert_eq!(fin.len(), 1, "{name}: the step's end is journaled");
        assert_eq!(fin[0]["outcome"], "cancelled");
        assert!(
            recs.iter().any(|r| r["action"] == "abort"
                && r["reason"].as_str().is_some_and(|s| s.contains(name))),
            "{name}: the abort and its cause are journaled"
        );
        assert_eq!(recs.last().unwrap()["outcome"], "aborted");
        let bg: i32 = std::fs::read_to_string(d.path().join("bg.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        wait_for("the step's group to die", Duration::from_secs(10), || {
            !alive(bg)
        });
    }
}

#[test]
fn headless_output_never_carries_control_sequences() {
    let (_d, out) = headless_in_temp(&format!(
        "{HEAD}[[step]]\nid = \"noisy\"\ntitle = \"Tit\\u001b]0;owned\\u0007le\"\n\
             run = \"printf '\\\\033]0;owned\\\\007\\\\033[2Jvisible \\\\033[31mred\\\\033[0m\\\\n'\"\n"
    ));
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    assert!(
        !out.stdout.contains(&0x1b) && !out.stdout.contains(&0x07),
        "{:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    let (stdout, _) = text(&out);
    assert!(stdout.contains("visible red"), "{stdout}");
    assert!(stdout.contains("Title"), "{stdout}");
}

#[test]
fn a_full_disk_under_an_output_file_is_said_on_screen_and_in_the_journal() {
    let (d, rb) = temp_runbook(
        "rb.toml",
        &format!(
            "{HEAD}[[step]]\nid = \"big\"\nrun = \"head -c 3000000 /dev/zero | tr '\\\\0' 'x' | fold -w 100\"\n"
        ),
    );
    // A file-size limit makes writes past 1 MB fail, as a full disk does (the journal stays
    // far below it). SIGXFSZ is ignored so the write fails instead of killing cutover.
    let mut cmd = headless_command(d.path(), &rb);
    // SAFETY: setrlimit and signal are async-signal-safe; they only change the child.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 1_000_000,
                rlim_max: 1_000_000,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &lim);
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = text(&out);
    assert!(
        stdout.contains("cannot write the output file") && stdout.contains("only on screen"),
        "{stdout}{stderr}"
    );
    let recs = journal(&d.path().join("j.jsonl"));
    assert!(
        of_type(&recs, "notice").iter().any(|r| r["message"]
            .as_str()
            .is_some_and(|m| m.contains("cannot write the output file"))),
        "the journal records it"
    );
}

#[test]
fn hostile_runbooks_are_refused_with_a_located_error_never_a_panic_or_a_hang() {
    let (d, huge) = temp_runbook(
        "huge.toml",
        &format!("{HEAD}[[step]]\nid = \"a\"\nrun = \"true\"\ntimeout = \"5124095576030431h\"\n"),
    );
    let stderr = refused_by_check(d.path(), &huge);
    assert!(
        stderr.contains("huge.toml:7:11:") && stderr.contains("longer than"),
        "{stderr}"
    );

    let big = "y".repeat(100 * 1024);
    let refs = "${vars.x}".repeat(20_000);
    let explode = runbook(
        d.path(),
        "explode.toml",
        &format!("{HEAD}[vars]\nx = \"{big}\"\n\n[[step]]\nid = \"a\"\nrun = \"echo {refs}\"\n"),
    );
    let stderr = refused_by_check(d.path(), &explode);
    assert!(
        stderr.contains("explode.toml:9:") && stderr.contains("KiB"),
        "{}",
        &stderr[..stderr.len().min(400)]
    );

    // A FIFO as the runbook: refused at once instead of waiting for a writer forever.
    let fifo = d.path().join("fifo.toml");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo on a path in the test's own directory.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut child = Command::new(bin())
        .current_dir(d.path())
        .args(["check", "fifo.toml"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut status = None;
    wait_for(
        "check to give up on the FIFO",
        Duration::from_secs(20),
        || {
            status = child.try_wait().unwrap();
            status.is_some()
        },
    );
    assert_eq!(status.unwrap().code(), Some(2));

    // stdout on a full device: an error, not a panic.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let ok = runbook(
        d.path(),
        "ok.toml",
        &format!("{HEAD}[[step]]\nid = \"a\"\nrun = \"true\"\n"),
    );
    let out = Command::new(bin())
        .current_dir(d.path())
        .arg("check")
        .arg(&ok)
        .stdout(full)
        .output()
        .unwrap();
    let (_, stderr) = exited(&out, 2);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn secrets_in_awkward_shapes_never_leave() {
    let d = tempfile::tempdir().unwrap();
    let pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\nbGVhay1tZS1ub3Q=\n-----END KEY-----\n";
    let script = d.path().join("leak.sh");
    // The secret straddling the 16 KiB line cut, wrapped in colour codes, its multi-line and
    // newline-ended forms.
    std::fs::write(
        &script,
        r#"head -c 16375 /dev/zero | tr '\0' 'a'; printf '%s\n' "$CUTOVER_SECRET_TOKEN"
printf 'x \033[31mS3cr3t\033[0m-T0ken-\033[1mValue\033[0m y\n'
printf 'pem: %s' "$CUTOVER_SECRET_PEM"
printf 'nl: %s' "$CUTOVER_SECRET_NL"
"#,
    )
    .unwrap();
    let out = headless(
        d.path(),
        &format!(
            "{HEAD}[secrets]\nTOKEN = {{ env = \"T_TOKEN\" }}\nPEM = {{ env = \"T_PEM\" }}\nNL = {{ env = \"T_NL\" }}\n\n\
             [[step]]\nid = \"leak\"\nrun = \"sh leak.sh\"\n"
        ),
        &[
            ("T_TOKEN", "S3cr3t-T0ken-Value"),
            ("T_PEM", pem),
            ("T_NL", "Tr41ling-N3wline\n"),
        ],
    );
    let (stdout, stderr) = exited(&out, 0);
    let everything = format!("{stdout}{stderr}{}", all_files(d.path()));
    for secret in [
        "S3cr3t-T0ken-Value",
        "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
        "bGVhay1tZS1ub3Q=",
        "Tr41ling-N3wline",
    ] {
        assert!(!everything.contains(secret), "{secret} leaked");
    }
    assert!(stdout.contains("x •••• y"), "{stdout}");
}

#[test]
fn the_journal_and_the_diagnostics_log_never_share_a_file() {
    let d = tempfile::tempdir().unwrap();
    let body = format!("{HEAD}[[step]]\nid = \"a\"\nrun = \"echo hi\"\n");
    let out = headless_at(d.path(), &body, "x.log", &[], &[("CUTOVER_LOG", "debug")]);
    assert_eq!(out.status.code(), Some(0), "{:?}", text(&out));
    for line in std::fs::read_to_string(d.path().join("x.log"))
        .unwrap()
        .lines()
    {
        serde_json::from_str::<serde_json::Value>(line).expect("every journal line is a record");
    }
    assert!(
        d.path().join("x.log.log").exists(),
        "the log went beside it"
    );
    let out = headless_at(d.path(), &body, "y.jsonl", &["--log", "y.jsonl"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

/// One PostgreSQL cluster for the attacks that need a server.
fn server() -> &'static Cluster {
    static DB: OnceLock<Cluster> = OnceLock::new();
    DB.get_or_init(|| {
        std::thread::spawn(|| {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async {
                let bin = crate::support::pg_bin();
                let db = Cluster::create(&bin, ClusterOptions::named("attacks"))
                    .await
                    .unwrap();
                db.execute(
                    "create table victim (id int primary key, note text); insert into victim values (1, 'safe'); \
                     create schema keep; create sequence keep.s;",
                )
                .await
                .unwrap();
                db
            })
        })
        .join()
        .unwrap()
    })
}

#[test]
fn a_value_never_becomes_sql() {
    let db = server();
    let d = tempfile::tempdir().unwrap();
    let body = format!(
        "{HEAD}[vars]\ncustomer = \"nobody\"\n\n[connections.db]\ndsn = \"{}\"\n\n\
         [[step]]\nid = \"lookup\"\nsql = \"select count(*) from victim where note = ${{vars.customer}}\"\non = \"db\"\nexpect = {{ value = \"0\" }}\n\n\
         [[step]]\nid = \"still-there\"\nsql = \"select note from victim where id = 1\"\non = \"db\"\nexpect = {{ value = \"safe\" }}\n",
        db.dsn()
    );
    let out = headless_at(
        d.path(),
        &body,
        "j.jsonl",
        &["--var", "customer='; drop table victim; --"],
        &[],
    );
    exited(&out, 0);
    // A reference inside quotes would be quoted twice (or not at all): refused, located.
    let quoted = runbook(
        d.path(),
        "quoted.toml",
        &body.replace("= ${vars.customer}", "= '${vars.customer}'"),
    );
    let stderr = refused_by_check(d.path(), &quoted);
    assert!(
        stderr.contains("quoted.toml:12:50:") && stderr.contains("inside a quoted string"),
        "{stderr}"
    );
}

#[test]
fn a_literal_dsn_password_is_masked_wherever_its_value_shows() {
    let db = server();
    let d = tempfile::tempdir().unwrap();
    let pw = "L1ter4l-Pw-value";
    let body = format!(
        "{HEAD}[connections.db]\ndsn = \"{} password={pw}\"\n\n\
         [[step]]\nid = \"table\"\nsql = \"select '{pw}' as v\"\non = \"db\"\n\n\
         [[step]]\nid = \"notice\"\nsql = \"do $$ begin raise notice 'pw is %', '{pw}'; raise warning 'again %', '{pw}'; end $$\"\non = \"db\"\n\n\
         [[step]]\nid = \"error\"\nsql = \"select '{pw}'::int\"\non = \"db\"\n",
        db.dsn()
    );
    let out = headless_at(d.path(), &body, "j.log", &[], &[("CUTOVER_LOG", "debug")]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(4),
        "the third step fails: {stdout}{stderr}"
    );
    let log = std::fs::read_to_string(d.path().join("j.log.log")).unwrap_or_default();
    assert!(!log.is_empty(), "debug logging wrote something");
    let everything = format!("{stdout}{stderr}{}", all_files(d.path()));
    let leak = everything.find(pw).map(|i| {
        let from = everything[..i]
            .char_indices()
            .rev()
            .nth(200)
            .map_or(0, |(j, _)| j);
        everything[from..(i + 60).min(everything.len())].to_string()
    });
    assert!(leak.is_none(), "the password leaked: {leak:?}");
    // The journal stayed a journal although NOTICEs and debug lines were logged.
    for line in std::fs::read_to_string(d.path().join("j.log"))
        .unwrap()
        .lines()
    {
        serde_json::from_str::<serde_json::Value>(line).expect("a journal record");
    }
    // A DSN that does not parse is refused by check, located, without echoing it.
    let bad = runbook(
        d.path(),
        "bad.toml",
        &format!(
            "{HEAD}[connections.db]\ndsn = \"host=db password='{pw}\"\n\n[[step]]\nid = \"a\"\nsql = \"select 1\"\non = \"db\"\n"
        ),
    );
    let stderr = refused_by_check(d.path(), &bad);
    assert!(
        stderr.contains("bad.toml:5:7:") && !stderr.contains(pw),
        "{stderr}"
    );
}

#[test]
fn a_check_over_nothing_fails_closed() {
    let db = server();
    let d = tempfile::tempdir().unwrap();
    let body = format!(
        "{HEAD}[connections.source]\ndsn = \"{dsn}\"\n[connections.target]\ndsn = \"{dsn}\"\n\n\
         [[reconcile]]\nname = \"seqs\"\nkind = \"sequences\"\nschemas = [\"no_such_schema\"]\n\n\
         [[reconcile]]\nname = \"shape\"\nkind = \"schema\"\nschemas = [\"no_such_schema\"]\n\n\
         [[reconcile]]\nname = \"real\"\nkind = \"sequences\"\nschemas = [\"keep\"]\n\n\
         [[step]]\nid = \"gate\"\nwait = {{ reconcile = \"all\" }}\ntimeout = \"5s\"\n",
        dsn = db.dsn()
    );
    let out = headless(d.path(), &body, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(
        out.status.code(),
        Some(4),
        "the gate must not pass: {stdout}{stderr}"
    );
    let recs = journal(&d.path().join("j.jsonl"));
    let results = of_type(&recs, "reconcile_result");
    let status = |name: &str| {
        results
            .iter()
            .rev()
            .find(|r| r["result"]["name"] == name)
            .map(|r| (r["result"]["status"].clone(), r["result"]["error"].clone()))
            .unwrap()
    };
    for name in ["seqs", "shape"] {
        let (s, e) = status(name);
        assert_eq!(s, "error", "{name}");
        assert!(
            e.as_str().is_some_and(|e| e.contains("no_such_schema")),
            "{name}: {e}"
        );
    }
    assert_eq!(status("real").0, "pass");
}

#[test]
fn output_and_log_files_never_follow_a_planted_link_and_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let d = tempfile::tempdir().unwrap();
    let victim = d.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    set_mode(&victim, 0o644);
    // Links planted where the log and the first output file will go.
    std::fs::create_dir(d.path().join("j.output")).unwrap();
    std::os::unix::fs::symlink(&victim, d.path().join("j.output/01-a.1.log")).unwrap();
    std::os::unix::fs::symlink(&victim, d.path().join("j.log")).unwrap();
    let out = headless(
        d.path(),
        &format!("{HEAD}[[step]]\nid = \"a\"\nrun = \"echo overwrite\"\n"),
        &[],
    );
    let (_, stderr) = exited(&out, 0);
    assert!(
        stderr.contains("no diagnostics log"),
        "the refused log is said: {stderr}"
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    let output = d.path().join("j.output/01-a.1.log");
    let meta = std::fs::symlink_metadata(&output).unwrap();
    assert!(meta.is_file(), "the planted link was replaced by a file");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "overwrite\n");
}
