//! Shared helpers: running the real binary, waiting for conditions, process checks.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The real `cutover` binary.
pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_cutover"))
}

/// Runs `cutover ARGS` in `dir` with extra env, returning its output.
pub fn cutover(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.current_dir(dir).args(args).env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run cutover")
}

/// Runs `cutover ARGS` in `dir` (as [`cutover`], no extra env), which must exit with `code`
/// (as [`exited`] asserts): its stdout and stderr.
pub fn cutover_exits(dir: &Path, args: &[&str], code: i32) -> (String, String) {
    exited(&cutover(dir, args, &[]), code)
}

/// [`cutover_exits`], [off the runtime's threads](off_thread).
pub async fn cutover_exits_off_thread(dir: &Path, args: &[&str], code: i32) -> (String, String) {
    exited(&cutover_off_thread(dir, args, &[]).await, code)
}

/// Runs `f` on a blocking thread and waits for it: a `#[tokio::test]` that runs the binary
/// (which waits for its process) keeps the runtime's threads free for the clusters' clients.
pub async fn off_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("the blocking task ran to its end")
}

/// [`cutover`], [off the runtime's threads](off_thread).
pub async fn cutover_off_thread(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = dir.to_path_buf();
    let (args, env) = (owned(args), owned_env(env));
    off_thread(move || cutover(&dir, &borrowed(&args), &borrowed_env(&env))).await
}

/// [`headless`], [off the runtime's threads](off_thread).
pub async fn headless_off_thread(dir: &Path, text: &str, env: &[(&str, &str)]) -> Output {
    let (dir, text, env) = (dir.to_path_buf(), text.to_string(), owned_env(env));
    off_thread(move || headless(&dir, &text, &borrowed_env(&env))).await
}

fn owned(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

fn borrowed(words: &[String]) -> Vec<&str> {
    words.iter().map(String::as_str).collect()
}

fn owned_env(env: &[(&str, &str)]) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn borrowed_env(env: &[(String, String)]) -> Vec<(&str, &str)> {
    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// Polls `cond` every 20ms until it holds or `limit` passes.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Sends `sig` to `pid` (a process the test started), which must succeed.
pub fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) only sends a signal; it reads and writes no memory of ours.
    assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
}

/// Whether `pid` is a live (non-zombie) process.
pub fn alive(pid: i32) -> bool {
    cutover_model::proc_stat::ProcStat::read(pid).is_some_and(|s| s.is_live())
}

/// A new temporary directory holding `text` as the runbook `name`: the directory, and the
/// runbook's path.
pub fn temp_runbook(name: &str, text: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let rb = runbook(dir.path(), name, text);
    (dir, rb)
}

/// `cutover check RUNBOOK` in `dir`, which must refuse it (exit 2): what it said on stderr.
pub fn refused_by_check(dir: &Path, rb: &Path) -> String {
    let out = cutover(dir, &["check", rb.to_str().expect("utf-8 path")], &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

/// Sets the permission bits of `path` to `mode`.
pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// A new temporary directory holding `text` as `rb.toml`: the directory, the runbook's path
/// and the path of a journal `j.jsonl` beside it.
pub fn temp_run(text: &str) -> (tempfile::TempDir, PathBuf, PathBuf) {
    let (dir, rb) = temp_runbook("rb.toml", text);
    let journal = dir.path().join("j.jsonl");
    (dir, rb, journal)
}

/// Runs the runbook `text` headless in a new temporary directory (as [`headless`] does): the
/// directory, and the output.
pub fn headless_in_temp(text: &str) -> (tempfile::TempDir, Output) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let out = headless(dir.path(), text, &[]);
    (dir, out)
}

/// Writes `text` as `dir/rb.toml` and runs it headless with journal `dir/j.jsonl`.
pub fn headless(dir: &Path, text: &str, env: &[(&str, &str)]) -> Output {
    headless_at(dir, text, "j.jsonl", &[], env)
}

/// Writes `text` as `dir/rb.toml` and runs it headless with journal `journal` (relative to
/// `dir`) and `extra` arguments.
pub fn headless_at(
    dir: &Path,
    text: &str,
    journal: &str,
    extra: &[&str],
    env: &[(&str, &str)],
) -> Output {
    let rb = runbook(dir, "rb.toml", text);
    let rb = rb.to_str().expect("utf-8 path");
    let mut args = vec!["run", rb, "--headless", "--journal", journal];
    args.extend_from_slice(extra);
    cutover(dir, &args, env)
}

/// `cutover run --headless --resume j.jsonl EXTRA...` in `dir`: the exit code, and stdout
/// followed by stderr (for assertion messages).
pub fn resume(dir: &Path, extra: &[&str]) -> (Option<i32>, String) {
    let mut args = vec!["run", "--headless", "--resume", "j.jsonl"];
    args.extend_from_slice(extra);
    code_and_output(&cutover(dir, &args, &[]))
}

/// The exit code of `out`, and its stdout followed by its stderr (for assertion messages).
pub fn code_and_output(out: &Output) -> (Option<i32>, String) {
    let (stdout, stderr) = text(out);
    (out.status.code(), format!("{stdout}{stderr}"))
}

/// `cutover run RUNBOOK --headless --journal j.jsonl EXTRA...` started in `dir`, its output
/// dropped: a run to kill.
pub fn headless_child(dir: &Path, runbook: &Path, extra: &[&str]) -> std::process::Child {
    Command::new(bin())
        .current_dir(dir)
        .args(["run"])
        .arg(runbook)
        .args(["--headless", "--journal", "j.jsonl"])
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn cutover")
}

/// Runs `cutover run RUNBOOK --headless --journal j.jsonl` in `dir` and SIGKILLs it once
/// `ready` holds (given the journal's text, the last line of which is whatever was journaled
/// last). Returns the process group of the last `process` record: the step or rollback
/// action that was running, which the killed cutover leaves behind.
pub fn kill_headless_when(
    dir: &Path,
    runbook: &Path,
    what: &str,
    ready: impl Fn(&str) -> bool,
) -> i32 {
    let mut child = headless_child(dir, runbook, &[]);
    let j = dir.join("j.jsonl");
    wait_for(what, Duration::from_secs(30), || {
        std::fs::read_to_string(&j).is_ok_and(|t| ready(&t))
    });
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    let recs = journal(&j);
    of_type(&recs, "process").last().expect("a process record")["pid"]
        .as_i64()
        .expect("pid") as i32
}

/// Writes a runbook into `dir` and returns its path.
pub fn runbook(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).expect("write runbook");
    p
}

/// The element of the JSON array `list` whose `key` is `value` (the first, if several).
pub fn entry<'a>(
    list: &'a serde_json::Value,
    key: &str,
    value: &str,
) -> Option<&'a serde_json::Value> {
    list.as_array()
        .expect("a JSON array")
        .iter()
        .find(|e| e[key] == value)
}

/// Text of stdout and stderr.
pub fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Every journal record as JSON.
pub fn journal(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .expect("read journal")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("journal line is JSON"))
        .collect()
}

/// Journal records of one type.
pub fn of_type<'a>(recs: &'a [serde_json::Value], ty: &str) -> Vec<&'a serde_json::Value> {
    recs.iter().filter(|r| r["type"] == ty).collect()
}

/// Driving the engine in-process, as the cockpit does.
pub mod session {
    use std::collections::BTreeMap;

    use cutover_engine::{Engine, EngineOptions, JournalChoice};
    use cutover_model::protocol::{Command, Event, Operator, RunOutcome, StepOutcome};
    use cutover_model::runbook::Runbook;
    use tokio::sync::mpsc;

    pub struct Session {
        pub cmd: mpsc::Sender<Command>,
        pub ev: mpsc::Receiver<Event>,
        pub task: tokio::task::JoinHandle<Result<RunOutcome, cutover_engine::EngineError>>,
        pub dir: tempfile::TempDir,
    }

    pub fn start(steps: &str) -> Session {
        let dir = tempfile::tempdir().unwrap();
        let vars = BTreeMap::from([("dir".to_string(), dir.path().display().to_string())]);
        let rb = Runbook::parse(
            "t.toml",
            &format!("[runbook]\nname = \"t\"\n{steps}"),
            &vars,
        )
        .unwrap();
        let engine = Engine::prepare(rb, options(dir.path().join("j.jsonl"))).unwrap();
        let (cmd, cmd_rx) = mpsc::channel(8);
        let (ev_tx, ev) = mpsc::channel(64);
        let task = tokio::spawn(engine.run(cmd_rx, ev_tx));
        Session { cmd, ev, task, dir }
    }

    /// A new journal at `journal`, no change accepted, the operator `test` on host `h`.
    fn options(journal: std::path::PathBuf) -> EngineOptions {
        EngineOptions {
            journal: JournalChoice::New(journal),
            accept_changed_runbook: false,
            accept_changed_vars: false,
            operator: Operator {
                user: "test".into(),
                ssh_client: None,
                host: "h".into(),
                peer: None,
            },
            metrics_file: None,
            also_masked: Vec::new(),
        }
    }

    impl Session {
        /// Next event matching `f`, skipping others.
        pub async fn until<T>(&mut self, mut f: impl FnMut(&Event) -> Option<T>) -> T {
            loop {
                let ev = tokio::time::timeout(std::time::Duration::from_secs(20), self.ev.recv())
                    .await
                    .expect("engine went quiet")
                    .expect("engine ended");
                if let Some(t) = f(&ev) {
                    return t;
                }
            }
        }
        /// The run's outcome (waits for `RunFinished`).
        pub async fn outcome(&mut self) -> RunOutcome {
            self.until(|e| match e {
                Event::RunFinished { outcome, .. } => Some(*outcome),
                _ => None,
            })
            .await
        }
        pub async fn send(&self, c: Command) {
            self.cmd.send(c).await.unwrap();
        }
    }

    pub fn finished(ev: &Event) -> Option<(String, StepOutcome, u32)> {
        match ev {
            Event::StepFinished {
                id,
                outcome,
                attempt,
                ..
            } => Some((id.clone(), *outcome, *attempt)),
            _ => None,
        }
    }
}

/// Asserts that `out` exited with `code`, showing its stdout and stderr if not; returns both.
pub fn exited(out: &Output, code: i32) -> (String, String) {
    let (stdout, stderr) = text(out);
    assert_eq!(out.status.code(), Some(code), "{stdout}\n{stderr}");
    (stdout, stderr)
}

/// Runs `cmd` and asserts that it succeeded, showing the command and its stderr if not.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Makes a FIFO at `path`.
pub fn mkfifo(path: &Path) {
    run_ok(Command::new("mkfifo").arg(path));
}

/// `cutover run RUNBOOK --headless --journal j.jsonl` in `dir`, ready to be spawned.
pub fn headless_command(dir: &Path, runbook: &Path) -> Command {
    let mut c = Command::new(bin());
    c.current_dir(dir)
        .arg("run")
        .arg(runbook)
        .args(["--headless", "--journal", "j.jsonl"]);
    c
}

/// Starts `cutover run RUNBOOK --headless --journal j.jsonl` in `dir`, its stdout piped and
/// its stderr to `stderr`.
pub fn spawn_headless(dir: &Path, runbook: &Path, stderr: std::process::Stdio) -> Child {
    headless_command(dir, runbook)
        .stdout(std::process::Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("spawn cutover")
}

/// A runbook's checksum check `items` of `public.items`, keyed by `id`, never rechecked.
pub const ITEMS_CHECK: &str = r#"[[reconcile]]
name = "items"
kind = "checksum"
table = "public.items"
key = "id"
recheck = "never"
"#;

/// A runbook's step `boom`, which fails, and the trigger that rolls the run back a second
/// after.
pub const BOOM_ROLLS_BACK: &str = r#"[[step]]
id = "boom"
run = "exit 3"

[[rollback_trigger]]
name = "boom failed"
when = { step_failed = "boom" }
action = "rollback"
countdown = "1s"
"#;

/// Two new clusters `NAMEsrc` and `NAMEtgt`, each with the table `items` of 500 rows (`id`,
/// `v`).
pub async fn items_pair(
    name: &str,
) -> (
    cutover_drill::harness::Cluster,
    cutover_drill::harness::Cluster,
) {
    use cutover_drill::harness::{Cluster, ClusterOptions};
    let pg = pg_bin();
    let (s, t) = tokio::join!(
        Cluster::create(&pg, ClusterOptions::named(&format!("{name}src"))),
        Cluster::create(&pg, ClusterOptions::named(&format!("{name}tgt"))),
    );
    let (s, t) = (s.unwrap(), t.unwrap());
    let ddl = "create table items (id int primary key, v text);
               insert into items select g, 'v' || g from generate_series(1, 500) g;";
    s.execute(ddl).await.unwrap();
    t.execute(ddl).await.unwrap();
    (s, t)
}

/// A new cluster `primary` where `ddl` has run, and a streaming standby of it, `standby`.
pub async fn primary_and_standby(
    primary: &str,
    standby: &str,
    ddl: &str,
) -> (
    cutover_drill::harness::Cluster,
    cutover_drill::harness::Cluster,
) {
    use cutover_drill::harness::{Cluster, ClusterOptions};
    let primary = Cluster::create(&pg_bin(), ClusterOptions::named(primary))
        .await
        .unwrap();
    primary.execute(ddl).await.unwrap();
    let standby = Cluster::standby_of(&primary, ClusterOptions::named(standby))
        .await
        .unwrap();
    (primary, standby)
}

/// A runbook's `source` and `target` connections.
pub fn connections(source_dsn: &str, target_dsn: &str) -> String {
    format!(
        "[connections.source]\ndsn = \"{source_dsn}\"\n[connections.target]\ndsn = \"{target_dsn}\"\n"
    )
}

/// A runbook's step `gate`, which waits (for at most `timeout`) until every reconcile check
/// passes.
pub fn gate_step(timeout: &str) -> String {
    format!(
        r#"[[step]]
id = "gate"
wait = {{ reconcile = "all" }}
timeout = "{timeout}"
"#
    )
}

impl session::Session {
    /// Waits for an event `is` holds for, skipping others.
    pub async fn seen(&mut self, is: impl Fn(&cutover_model::protocol::Event) -> bool) {
        self.until(|e| is(e).then_some(())).await
    }

    /// Every record of this session's journal (`j.jsonl` in its directory).
    pub fn journal(&self) -> Vec<serde_json::Value> {
        journal(&self.dir.path().join("j.jsonl"))
    }

    /// What the runbook's steps wrote to `${vars.dir}/log`.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("log")).expect("read the log")
    }

    /// Waits until the engine is ready to run step `next`.
    pub async fn ready(&mut self, next: usize) {
        use cutover_model::protocol::Event;
        self.seen(|e| matches!(e, Event::Ready { next: n } if *n == next))
            .await
    }

    /// Skips the step or rollback action waiting for a decision, giving `reason`.
    pub async fn skip(&self, reason: &str) {
        use cutover_model::protocol::Command;
        self.send(Command::Skip {
            reason: reason.into(),
        })
        .await
    }

    /// Starts step `next` once the engine is ready for it (without waiting for its end).
    pub async fn start_next(&mut self, next: usize) {
        self.ready(next).await;
        self.send(cutover_model::protocol::Command::RunNext).await;
    }

    /// Runs each of `steps` in turn, each of which must pass.
    pub async fn passes(&mut self, steps: std::ops::Range<usize>) {
        use cutover_model::protocol::StepOutcome;
        for next in steps {
            assert_eq!(
                self.run_next(next).await,
                StepOutcome::Passed,
                "step {next}"
            );
        }
    }

    /// Runs step `next` once the engine is ready for it; returns its outcome.
    pub async fn run_next(&mut self, next: usize) -> cutover_model::protocol::StepOutcome {
        self.start_next(next).await;
        self.until(session::finished).await.1
    }
}

/// The PostgreSQL server binaries the database tests start their clusters with. Without
/// them, one clear line says what to install (instead of a panic per test with the finder's
/// debug output), and the test fails.
pub fn pg_bin() -> cutover_drill::harness::PgBin {
    pg_bin_or_say(cutover_drill::harness::PgBin::find(None))
}

/// [`pg_bin`] for a given result of the finder.
pub fn pg_bin_or_say(
    found: Result<cutover_drill::harness::PgBin, cutover_drill::harness::BinDirNotFound>,
) -> cutover_drill::harness::PgBin {
    match found {
        Ok(b) => b,
        Err(e) => {
            static SAID: std::sync::Once = std::sync::Once::new();
            SAID.call_once(|| {
                eprintln!(
                    "cutover tests: PostgreSQL server binaries not found ({e}); install them with `apt-get install -y postgresql` (as root), or run `cargo run -- drill`, which offers to, then run the tests again"
                );
            });
            panic!("PostgreSQL server binaries not found: `apt-get install -y postgresql`");
        }
    }
}

/// Without server binaries a database test fails with the install command, not the finder's
/// debug output.
#[test]
fn without_postgresql_a_test_says_what_to_install() {
    let empty = tempfile::tempdir().unwrap();
    let found = cutover_drill::harness::PgBin::find_in(
        None,
        None,
        Some(empty.path().as_os_str().to_owned()),
        empty.path(),
        empty.path(),
    );
    let failed = std::panic::catch_unwind(|| pg_bin_or_say(found)).unwrap_err();
    let said = failed.downcast_ref::<&str>().copied().unwrap_or_default();
    assert!(said.contains("apt-get install -y postgresql"), "{said}");
}

/// The setting `name` (`current_setting`) in the session of `client`.
pub async fn setting(client: &tokio_postgres::Client, name: &str) -> String {
    client
        .query_one(&format!("select current_setting('{name}')"), &[])
        .await
        .unwrap()
        .get(0)
}

/// Asserts that `text` holds `want`; a failure shows what was missing and the whole text.
#[track_caller]
pub fn has(text: &str, want: &str) {
    assert!(text.contains(want), "{want:?} is not in:\n{text}");
}

/// Asserts that every line of `out` starts with one of `tags` (a fleet member's `[name] `);
/// a failure shows the whole text.
#[track_caller]
pub fn every_line_tagged(out: &str, tags: &[&str]) {
    assert!(
        out.lines().all(|l| tags.iter().any(|t| l.starts_with(t))),
        "{out}"
    );
}
