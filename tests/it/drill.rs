//! `cutover drill`: the real binary against real clusters. Each test gives the drill its own
//! TMPDIR (RAM-backed when /dev/shm exists), so "nothing left behind" means: no process runs
//! under it and it holds nothing once the drill has exited.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use cutover_drill::harness::process::processes_under;

use crate::support::{
    bin, every_line_tagged, exited, journal, of_type, run_ok, signal, text, wait_for,
};

/// A test's working directory (journal, drill dir) and the drill's TMPDIR.
struct Place {
    cwd: tempfile::TempDir,
    tmp: tempfile::TempDir,
}

impl Place {
    fn new() -> Place {
        let shm = Path::new("/dev/shm");
        let tmp = if shm.is_dir() {
            tempfile::Builder::new()
                .prefix("cutover-drill-test-")
                .tempdir_in(shm)
        } else {
            tempfile::tempdir()
        }
        .unwrap();
        // The server user must reach the clusters inside.
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
        Place {
            cwd: tempfile::tempdir().unwrap(),
            tmp,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.current_dir(self.cwd.path())
            .arg("drill")
            .args(args)
            .env("TMPDIR", self.tmp.path())
            .stdin(Stdio::null());
        c
    }

    fn drill(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run cutover drill")
    }

    /// Starts `cutover drill ARGS`, its stderr piped.
    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The drill runbook end to end, headless, 20000 rows, journal `j.jsonl`, plus `extra`.
    fn full_drill(&self, extra: &[&str]) -> Output {
        let j = self.journal().display().to_string();
        let mut args = vec![
            "--headless",
            "--assume-yes",
            "--rows",
            "20000",
            "--journal",
            &j,
        ];
        args.extend_from_slice(extra);
        self.drill(&args)
    }

    /// Writes the runbook `name` (the drill's vars, then `steps`) as `rb.toml`; its path.
    fn runbook(&self, name: &str, steps: &str) -> String {
        let p = self.cwd.path().join("rb.toml");
        std::fs::write(&p, format!("[runbook]\nname = \"{name}\"\n{VARS}{steps}")).unwrap();
        p.display().to_string()
    }

    fn journal(&self) -> PathBuf {
        self.cwd.path().join("j.jsonl")
    }

    /// A fleet drill's `--dir` (`work` in the working directory): its path, and as an argument.
    fn work_dir(&self) -> (PathBuf, String) {
        let work = self.cwd.path().join("work");
        let w = work.display().to_string();
        (work, w)
    }

    /// Waits until no process runs under the drill's TMPDIR.
    fn wait_stopped(&self) {
        wait_for("the kept clusters to stop", Duration::from_secs(30), || {
            processes_under(self.tmp.path()).is_empty()
        });
    }

    /// The journal of the (one) drill run in this place's working directory.
    fn drill_journal(&self) -> PathBuf {
        let work = std::fs::read_dir(self.cwd.path().join("cutover-drill"))
            .unwrap()
            .flatten()
            .next()
            .unwrap()
            .path();
        work.join("journal.jsonl")
    }

    /// No process under the drill's TMPDIR, and nothing in it.
    fn assert_clean(&self) {
        let root = self.tmp.path();
        let procs = processes_under(root);
        let left: Vec<_> = std::fs::read_dir(root)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        assert!(
            procs.is_empty() && left.is_empty(),
            "left behind: processes {procs:?}, files {left:?}"
        );
    }
}

/// The ids of the built-in drill runbook's steps, in order.
fn drill_step_ids() -> Vec<String> {
    cutover_model::runbook::Runbook::parse(
        "drill.toml",
        cutover_drill::RUNBOOK,
        &Default::default(),
    )
    .unwrap()
    .steps
    .iter()
    .map(|s| s.id.clone())
    .collect()
}

/// The drill's vars, declared so the shell-only runbooks below validate on their own.
const VARS: &str = r#"
[vars]
source_dsn = "x"
target_dsn = "x"
source_app_dsn = "x"
target_app_dsn = "x"
workdir = "x"
psql = "psql"
subscription = "x"
min_target_version_num = "1"
rows = "1"
"#;

/// The drill's moves with shell steps only (psql instead of SQL steps), so the drill's own
/// plumbing is tested whatever the engine executes: the load writes to the source and
/// replicates; freezing stops it; the switch moves it to the target, where its writes land.
const PLUMBING: &str = r#"
[[step]]
id = "load-writes-and-replicates"
wait = { run = "test $(${vars.psql} ${vars.target_dsn} -XAtc 'select count(*) from drill_orders') -gt 10", every = "200ms" }
timeout = "60s"

[[step]]
id = "freeze"
run = "${vars.psql} ${vars.source_dsn} -XAt -v ON_ERROR_STOP=1 -c 'alter role drill_app nologin' -c \"select count(pg_terminate_backend(pid)) from pg_stat_activity where usename = 'drill_app'\""

[[step]]
id = "sync-sequences"
run = """
last=$(${vars.psql} ${vars.source_dsn} -X -At -v ON_ERROR_STOP=1 -c "select last_value from public.drill_orders_id_seq") || exit 1
${vars.psql} ${vars.target_dsn} -X -At -v ON_ERROR_STOP=1 -c "select 'target seq ' || setval('public.drill_orders_id_seq', $last + 1000)"
"""
expect = { stdout = "target seq \\d+" }

[[step]]
id = "switch"
run = """
${vars.psql} ${vars.target_dsn} -X -q -v ON_ERROR_STOP=1 -c "alter subscription $CUTOVER_VAR_SUBSCRIPTION disable" -c "alter role drill_app login" || exit 1
printf '%s\\n' ${vars.target_app_dsn} > ${vars.workdir}/app.dsn
"""

[[step]]
id = "app-writes-land-on-target"
wait = { run = "test $(${vars.psql} ${vars.target_dsn} -XAtc \"select count(*) from drill_orders where written_on = 'target'\") -gt 3", every = "200ms" }
timeout = "60s"
"#;

/// Sends SIGINT to the drill and waits for it; asserts that it exits with 130 and returns
/// its stderr.
fn interrupt(child: Child) -> String {
    let pid = i32::try_from(child.id()).unwrap();
    signal(pid, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    let (_, stderr) = exited(&out, 130);
    stderr
}

/// Runs the psql command of one of the drill's `psql -h 127.0.0.1 -p …` lines (what follows
/// the label) with `-XAtc SQL`; asserts that it succeeds and returns its output, trimmed.
fn psql(line: &str, sql: &str) -> String {
    let argv: Vec<&str> = line.split_whitespace().skip(1).collect();
    let q = Command::new(argv[0])
        .args(&argv[1..])
        .args(["-XAtc", sql])
        .output()
        .unwrap();
    assert!(
        q.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&q.stderr)
    );
    String::from_utf8_lossy(&q.stdout).trim().to_string()
}

/// The commands the drill printed to stop its kept clusters and remove them.
fn stop_commands(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains(" stop -m fast") || l.trim_start().starts_with("rm -rf "))
        .map(|l| l.trim().to_string())
        .collect()
}

fn passed_steps(recs: &[serde_json::Value]) -> Vec<String> {
    of_type(recs, "step_finished")
        .iter()
        .filter(|r| r["outcome"] == "passed")
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[test]
fn drill_plumbing_moves_the_app_to_the_target_and_cleans_up() {
    let p = Place::new();
    let rb = p.runbook("plumbing", PLUMBING);
    let j = p.journal().display().to_string();
    let out = p.drill(&[
        "--headless",
        "--assume-yes",
        "--rows",
        "5000",
        "--tps",
        "100",
        "--runbook",
        &rb,
        "--journal",
        &j,
    ]);
    let (_, stderr) = exited(&out, 0);
    let recs = journal(&p.journal());
    assert_eq!(
        passed_steps(&recs),
        [
            "load-writes-and-replicates",
            "freeze",
            "sync-sequences",
            "switch",
            "app-writes-land-on-target"
        ]
    );
    // The app was started on the source, then (after the freeze) again on the target.
    let load_log = std::fs::read_dir(p.cwd.path().join("cutover-drill"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("load.log"))
        .next()
        .unwrap();
    let log = std::fs::read_to_string(load_log).unwrap();
    let starts: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("started against"))
        .collect();
    assert!(
        starts.first().is_some_and(|l| l.contains("user=drill_app")),
        "{log}"
    );
    assert!(
        starts.len() >= 2 && starts.first() != starts.last(),
        "the app never moved: {log}"
    );
    assert!(stderr.contains(&format!("journal {j}")), "{stderr}");
    p.assert_clean();
}

#[test]
fn sigint_stops_the_drill_and_leaves_nothing_behind() {
    let p = Place::new();
    let rb = p.runbook(
        "waits",
        "\n[[step]]\nid = \"forever\"\nwait = { run = \"false\", every = \"200ms\" }\n",
    );
    let child = p.spawn(&[
        "--headless",
        "--rows",
        "2000",
        "--runbook",
        &rb,
        "--journal",
        "j.jsonl",
    ]);
    // Running: the step has started, so the clusters and the load are up.
    let j = p.journal();
    wait_for("the drill's step to start", Duration::from_secs(90), || {
        std::fs::read_to_string(&j).is_ok_and(|t| t.contains("\"step_started\""))
    });
    assert!(!processes_under(p.tmp.path()).is_empty(), "no cluster runs");
    let stderr = interrupt(child);
    assert!(stderr.contains("interrupted (SIGINT)"), "{stderr}");
    p.assert_clean();
}

#[test]
fn sigint_during_setup_leaves_nothing_behind() {
    let p = Place::new();
    let child = p.spawn(&["--headless", "--rows", "2000"]);
    wait_for("a cluster directory", Duration::from_secs(60), || {
        std::fs::read_dir(p.tmp.path()).is_ok_and(|mut d| d.next().is_some())
    });
    interrupt(child);
    p.assert_clean();
}

#[test]
fn keep_leaves_the_clusters_running_and_says_how_to_connect_and_stop() {
    let p = Place::new();
    let rb = p.runbook("kept", "\n[[step]]\nid = \"noop\"\nrun = \"true\"\n");
    let out = p.drill(&[
        "--headless",
        "--rows",
        "1000",
        "--keep",
        "--runbook",
        &rb,
        "--journal",
        "j.jsonl",
    ]);
    let (_, stderr) = exited(&out, 0);
    assert!(stderr.contains("still running (--keep)"), "{stderr}");
    // Connect exactly as told: the psql lines name host and port.
    let connects: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("psql -h 127.0.0.1 -p "))
        .collect();
    assert_eq!(connects.len(), 2, "{stderr}");
    for line in &connects {
        psql(line, "select count(*) from pgbench_accounts");
    }
    assert!(!processes_under(p.tmp.path()).is_empty());
    // Stop them exactly as told.
    let stops = stop_commands(&stderr);
    assert_eq!(stops.len(), 3, "{stderr}");
    for s in &stops {
        run_ok(Command::new("sh").arg("-c").arg(s));
    }
    p.wait_stopped();
    p.assert_clean();
}

#[test]
fn missing_binaries_say_where_they_looked_and_the_install_command() {
    let p = Place::new();
    let empty = tempfile::tempdir().unwrap();
    let e = empty.path().display().to_string();
    let out = p
        .command(&["--headless"])
        .env("PG_BINDIR", &e)
        .env("PATH", "/usr/bin:/bin")
        .env("CUTOVER_PG_PACKAGES", &e)
        .env("CUTOVER_PG_SOURCE_BUILD", &e)
        .output()
        .unwrap();
    let (_, stderr) = exited(&out, 2);
    assert!(stderr.contains("not found; looked in"), "{stderr}");
    crate::support::has(&stderr, &format!("PG_BINDIR {e}: no initdb"));
    assert!(stderr.contains("PATH (2 directories)"), "{stderr}");
    assert!(stderr.contains("apt-get install -y postgresql"), "{stderr}");
    assert!(stderr.contains("no terminal to ask on"), "{stderr}");
    p.assert_clean();
}

/// The real drill runbook, end to end.
#[test]

fn drill_runs_the_cutover_end_to_end_headless() {
    let p = Place::new();
    let out = p.full_drill(&[]);
    exited(&out, 0);
    let recs = journal(&p.journal());
    assert!(!of_type(&recs, "lag_sample").is_empty(), "no lag samples");
    let all = drill_step_ids();
    assert_eq!(passed_steps(&recs), all);
    p.assert_clean();
}

/// `drill --fleet 2`: two disposable pairs, each a member running the drill's runbook (m1
/// the canary), then everything removed; the fleet journal and the members' agree.
#[test]
fn a_fleet_drill_runs_every_member_on_its_own_pair_and_cleans_up() {
    let p = Place::new();
    let (work, w) = p.work_dir();
    let out = p.drill(&[
        "--fleet",
        "2",
        "--headless",
        "--assume-yes",
        "--rows",
        "20000",
        "--dir",
        &w,
    ]);
    let (stdout, stderr) = exited(&out, 0);
    every_line_tagged(&stdout, &["[m1] ", "[m2] "]);
    assert!(
        stdout.contains("[m1] ") && stdout.contains("[m2] "),
        "{stdout}"
    );
    crate::support::has(
        &stderr,
        "the fleet's clusters and loads are stopped and removed",
    );
    let fleet = journal(&work.join("fleet.jsonl"));
    let kinds: Vec<&str> = fleet.iter().filter_map(|r| r["type"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "fleet_started",
            "member_started",
            "member_finished",
            "canary_go",
            "member_started",
            "member_finished",
            "fleet_finished",
        ]
    );
    let all = drill_step_ids();
    for m in ["m1", "m2"] {
        let recs = journal(&work.join(format!("fleet.members/{m}.jsonl")));
        assert_eq!(passed_steps(&recs), all, "{m}");
    }
    p.assert_clean();
}

/// `drill --fleet 2` in the cockpit: the lanes show both members (m1 the canary, waiting for
/// its first step); leaving them stops the fleet's engine (a drill's fleet ends with its
/// terminal: exit 4), and every pair is removed.
#[test]
fn a_fleet_drill_in_the_cockpit_shows_the_lanes_and_ends_with_its_terminal() {
    let p = Place::new();
    let (work, w) = p.work_dir();
    let tmp = p.tmp.path().display().to_string();
    let mut term = crate::term::Pty::spawn(
        &["drill", "--fleet", "2", "--rows", "2000", "--dir", &w],
        &[("TMPDIR", &tmp)],
        100,
        30,
    );
    term.wait_until("the lanes with m1 waiting", |s| {
        let c = s.contents();
        c.contains("fleet fleet") && c.contains("m1") && c.contains("1 waiting")
    });
    term.assert_shows("canary");
    term.quit(4);
    term.assert_shows("the fleet's engine is stopped");
    term.assert_shows("the fleet's clusters and loads are stopped and removed");
    let fleet = journal(&work.join("fleet.jsonl"));
    assert_eq!(
        fleet.last().and_then(|r| r["type"].as_str()),
        Some("fleet_finished"),
        "{fleet:?}"
    );
    p.assert_clean();
}

/// `--fault lag`: the lag trigger fires and its automatic rollback restores the source.
#[test]
fn fault_lag_fires_the_trigger_and_rolls_back_to_the_source() {
    let p = Place::new();
    let out = p.full_drill(&["--fault", "lag", "--keep"]);
    let (_, stderr) = exited(&out, 3);
    // The source is primary again: the app may log in there and not on the target, and
    // replication runs again.
    let ask = |side: &str, sql: &str| -> String {
        let line = stderr
            .lines()
            .find(|l| l.trim_start().starts_with(side) && l.contains("psql -h 127.0.0.1 -p "))
            .unwrap_or_else(|| panic!("no {side} connect line: {stderr}"));
        psql(line, sql)
    };
    let login = "select rolcanlogin from pg_roles where rolname = 'drill_app'";
    let (on_source, on_target) = (ask("source", login), ask("target", login));
    let sub = ask("target", "select bool_and(subenabled) from pg_subscription");
    for s in &stop_commands(&stderr) {
        Command::new("sh").arg("-c").arg(s).output().unwrap();
    }
    p.wait_stopped();
    assert_eq!(
        (on_source.as_str(), on_target.as_str(), sub.as_str()),
        ("t", "f", "t")
    );
    let recs = journal(&p.journal());
    let fired = of_type(&recs, "trigger_fired");
    assert!(
        fired.iter().any(|r| r["name"] == "lag runaway"),
        "{fired:?}"
    );
    let rolled: Vec<&str> = of_type(&recs, "rollback_action_finished")
        .iter()
        .filter(|r| r["outcome"] == "passed")
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert!(rolled.contains(&"freeze-writes"), "{rolled:?}");
    assert!(rolled.contains(&"preflight-subscription"), "{rolled:?}");
    p.assert_clean();
}

/// `--fault mismatch`: the reconcile gate does not let the run reach go/no-go.
#[test]
fn fault_mismatch_blocks_at_the_reconcile_gate() {
    let p = Place::new();
    let out = p.full_drill(&["--fault", "mismatch"]);
    let (stdout, stderr) = text(&out);
    assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    let recs = journal(&p.journal());
    let passed = passed_steps(&recs);
    assert!(passed.contains(&"sync-sequences".to_string()), "{passed:?}");
    assert!(!passed.contains(&"reconcile".to_string()), "{passed:?}");
    assert!(
        !of_type(&recs, "step_started")
            .iter()
            .any(|r| r["id"] == "go-no-go")
    );
    p.assert_clean();
}

/// `--fault step-fail`: the sequence sync fails and the trigger rolls the run back.
#[test]
fn fault_step_fail_rolls_back() {
    let p = Place::new();
    let out = p.full_drill(&["--fault", "step-fail"]);
    let (stdout, _) = exited(&out, 3);
    crate::support::has(&stdout, "drill fault: sequence sync broken on purpose");
    p.assert_clean();
}

/// Runs `cutover drill ARGS` in a pseudo-terminal; collects everything it writes until it exits.
fn in_pty(p: &Place, args: &[&str], env: &[(&str, &str)]) -> (Option<u32>, String) {
    use portable_pty::CommandBuilder;
    use std::io::Read;
    let pair = crate::term::open_pty(120, 40);
    let mut cmd = CommandBuilder::new(bin());
    cmd.arg("drill");
    cmd.args(args);
    cmd.cwd(p.cwd.path());
    cmd.env("TERM", "xterm-256color");
    cmd.env("TMPDIR", p.tmp.path());
    cmd.env("RUST_BACKTRACE", "0");
    cmd.env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = pair.slave.spawn_command(cmd).unwrap();
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().unwrap();
    let collector = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let status = child.wait().unwrap();
    drop(pair.master);
    let out = collector.join().unwrap();
    (Some(status.exit_code()), out)
}

/// In the cockpit the drill lives in its detached engine: a crash of the cockpit (as a lost
/// terminal) leaves the clusters to the run, and when the run ends — here the engine is told
/// to stop — the clusters, the load and the runtime directory go with it.
#[test]
fn a_cockpit_drill_outlives_its_terminal_and_cleans_up_when_its_engine_ends() {
    let p = Place::new();
    let runs = crate::term::Runs::new();
    let (code, out) = in_pty(
        &p,
        &["--rows", "1000"],
        &[("CUTOVER_DEBUG_PANIC", "after-first-frame"), runs.env()],
    );
    // The set-up was reported by the foreground, then the cockpit was up when it crashed.
    crate::support::has(&out, "creating the source and target clusters");
    assert!(out.contains("opening the cockpit"), "{out}");
    assert!(out.contains("STEPS"), "{out}");
    assert_eq!(code, Some(101), "{out}");
    crate::support::has(&out, "the cockpit crashed; the run goes on without it");
    // The drill is still there, in its engine.
    let engine = runs.engine_pid();
    assert!(
        !processes_under(p.tmp.path()).is_empty(),
        "the clusters live as long as the drill's engine"
    );
    signal(engine, libc::SIGTERM);
    wait_for("the engine to exit", Duration::from_secs(60), || {
        !crate::support::alive(engine)
    });
    let recs = journal(&p.drill_journal());
    assert_eq!(recs.last().unwrap()["type"], "run_finished", "{recs:?}");
    p.assert_clean();
}

/// The attack: SIGTERM to a drill's engine the moment it is listed, before it serves its
/// socket. The signal is taken: the run ends, the engine exits and everything is removed (a
/// signal in that window was once swallowed, leaving an engine that ignored SIGTERM).
#[test]
fn a_drill_engine_terminated_the_moment_it_is_listed_ends_and_cleans_up() {
    let p = Place::new();
    let runs = crate::term::Runs::new();
    let (code, out) = std::thread::scope(|s| {
        let fg = s.spawn(|| {
            in_pty(
                &p,
                &["--rows", "1000"],
                &[("CUTOVER_DEBUG_PANIC", "after-first-frame"), runs.env()],
            )
        });
        let start = std::time::Instant::now();
        let engine = loop {
            if let [(_, pid)] = runs.engines().as_slice() {
                break *pid;
            }
            assert!(
                start.elapsed() < Duration::from_secs(120),
                "the drill's engine was never listed"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        signal(engine, libc::SIGTERM);
        wait_for("the engine to exit", Duration::from_secs(60), || {
            !crate::support::alive(engine)
        });
        fg.join().unwrap()
    });
    assert!(code.is_some(), "{out}");
    let recs = journal(&p.drill_journal());
    assert_eq!(
        recs.last().unwrap()["type"],
        "run_finished",
        "{recs:?}\n{out}"
    );
    assert!(runs.engines().is_empty(), "the run is no longer listed");
    p.assert_clean();
}

/// Three shell steps around a fault: `first`, which does nothing; `wait_id`, which waits (up
/// to 60s, every 200ms) until the command `wait` succeeds; `check_id`, whose command `check`
/// must print what `stdout` matches. The commands are TOML basic strings' contents.
fn fault_steps(first: &str, wait: (&str, &str), check: (&str, &str, &str)) -> String {
    let ((wait_id, wait), (check_id, check, stdout)) = (wait, check);
    format!(
        r#"
[[step]]
id = "{first}"
run = "true"
[[step]]
id = "{wait_id}"
wait = {{ run = "{wait}", every = "200ms" }}
timeout = "60s"
[[step]]
id = "{check_id}"
run = "{check}"
expect = {{ stdout = "{stdout}" }}
"#
    )
}

/// The fault injectors strike after the step they follow, on the right cluster (shell steps
/// stand in for the drill runbook's SQL steps, keeping the step ids the injectors follow).
#[test]
fn fault_injectors_break_replication_and_the_target() {
    for (fault, steps) in [
        (
            "lag",
            fault_steps(
                "watch-lag",
                (
                    "lag-grows",
                    r#"test \"$(${vars.psql} ${vars.source_dsn} -XAtc \"select pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn) > 48 * 1024 * 1024 from pg_replication_slots where slot_name = '$CUTOVER_VAR_SUBSCRIPTION'\")\" = t"#,
                ),
                (
                    "subscription-disabled",
                    r#"${vars.psql} ${vars.target_dsn} -XAtc \"select subenabled from pg_subscription\""#,
                    "^f$",
                ),
            ),
        ),
        (
            "mismatch",
            fault_steps(
                "app-gone",
                (
                    "target-corrupted",
                    r#"test \"$(${vars.psql} ${vars.target_dsn} -XAtc 'select rtrim(filler) from pgbench_accounts where aid = 0')\" = 'drill fault: extra on target'"#,
                ),
                (
                    "source-intact",
                    r#"${vars.psql} ${vars.source_dsn} -XAtc 'select count(*) from pgbench_accounts where aid = 0'"#,
                    "^0$",
                ),
            ),
        ),
    ] {
        let p = Place::new();
        let rb = p.runbook("fault", &steps);
        let out = p.drill(&[
            "--headless",
            "--rows",
            "2000",
            "--fault",
            fault,
            "--runbook",
            &rb,
            "--journal",
            "j.jsonl",
        ]);
        let (stdout, stderr) = text(&out);
        assert_eq!(
            out.status.code(),
            Some(0),
            "--fault {fault}:\n{stdout}\n{stderr}"
        );
        p.assert_clean();
    }
}
