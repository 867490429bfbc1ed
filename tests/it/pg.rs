//! PostgreSQL against real throwaway clusters started by the harness: the harness itself,
//! connections, and the lag probes.

use std::path::PathBuf;
use std::time::Duration;

use cutover_drill::harness::cluster::free_port;
use cutover_drill::harness::process::processes_under;
use cutover_drill::harness::{Cluster, ClusterOptions};
use cutover_pg::{ConnSettings, ConnectError, FailureKind};

use crate::support::run_ok;

fn bin() -> cutover_drill::harness::PgBin {
    crate::support::pg_bin()
}

fn no_env(_: &str) -> Option<String> {
    None
}

/// Connects as connection `name` to `dsn` (nothing from the environment), expecting a
/// failure of `kind`; returns the error.
async fn connect_fails(name: &str, dsn: &str, kind: FailureKind) -> ConnectError {
    let e = connect_as(name, dsn).await.unwrap_err();
    assert_eq!(e.kind, kind, "{e}");
    e
}

/// Connects as connection `name` to `dsn`, with nothing from the environment.
async fn connect_as(name: &str, dsn: &str) -> Result<tokio_postgres::Client, ConnectError> {
    ConnSettings::parse_with_env(name, dsn, &no_env)
        .unwrap()
        .connect()
        .await
}

/// Waits until nothing runs under `root` and `root` is gone.
fn assert_cleaned(root: &std::path::Path) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = processes_under(root);
        if left.is_empty() && !root.exists() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "left behind under {}: processes {left:?}, dir exists: {}",
            root.display(),
            root.exists()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A cluster made in a directory reached through a symbolic link lives at its real path: its
/// server is found by where it works (the kernel reports real paths), and it is really
/// stopped and removed on drop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_under_a_linked_directory_is_found_by_its_real_path() {
    use std::os::unix::fs::PermissionsExt;
    let real = tempfile::tempdir().unwrap();
    // The server's user must be able to pass through it.
    std::fs::set_permissions(real.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let link = real.path().with_extension("link");
    std::os::unix::fs::symlink(real.path(), &link).unwrap();
    let opts = ClusterOptions {
        parent_dir: Some(link.clone()),
        ..ClusterOptions::named("linked")
    };
    let c = Cluster::create(&bin(), opts).await.unwrap();
    let root = c.root().to_path_buf();
    let _ = std::fs::remove_file(&link);
    assert!(
        root.starts_with(real.path().canonicalize().unwrap()),
        "{root:?}"
    );
    let pm = c.postmaster_pid().expect("postmaster.pid");
    assert!(processes_under(&root).contains(&pm));
    assert!(c.is_running());
    drop(c);
    assert!(!root.exists(), "{root:?} removed");
    assert!(processes_under(&root).is_empty(), "every server stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_runs_servers_as_postgres_and_cleans_up_on_drop() {
    let c = Cluster::create(&bin(), ClusterOptions::named("drop"))
        .await
        .unwrap();
    let root = c.root().to_path_buf();
    let pm = c.postmaster_pid().expect("postmaster.pid");
    assert!(processes_under(&root).contains(&pm));
    if cutover_drill::harness::process::is_root() {
        let status = std::fs::read_to_string(format!("/proc/{pm}/status")).unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        let pg = cutover_drill::harness::process::lookup_user("postgres").unwrap();
        assert!(
            uid_line.split_whitespace().nth(1) == Some(pg.uid.to_string().as_str()),
            "postmaster runs as {uid_line}"
        );
    }
    let client = c.connect().await.unwrap();
    let row = client
        .query_one(
            "select current_setting('wal_level'), current_setting('port')::int",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "logical");
    assert_eq!(row.get::<_, i32>(1), i32::from(c.port()));
    drop(client);
    drop(c);
    assert_cleaned(&root);
}

#[test]
fn harness_cleans_up_when_the_owner_panics() {
    let (tx, rx) = std::sync::mpsc::channel::<PathBuf>();
    let h = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let c = Cluster::create(&bin(), ClusterOptions::named("panics"))
                .await
                .unwrap();
            tx.send(c.root().to_path_buf()).unwrap();
            assert!(c.is_running());
            panic!("test panics while owning a cluster");
        });
    });
    assert!(h.join().is_err(), "the thread should have panicked");
    let root = rx.recv().unwrap();
    assert_cleaned(&root);
}

/// Run by `harness_watchdog_cleans_up_after_a_killed_process` in a child process.
#[test]
#[ignore = "helper: runs only as a child of harness_watchdog_cleans_up_after_a_killed_process"]
fn watchdog_child() {
    if std::env::var_os("CUTOVER_WATCHDOG_CHILD").is_none() {
        return;
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let c = rt
        .block_on(Cluster::create(&bin(), ClusterOptions::named("orphan")))
        .unwrap();
    println!("ROOT={}", c.root().display());
    use std::io::Write;
    std::io::stdout().flush().unwrap();
    std::thread::sleep(Duration::from_secs(300));
    drop(c);
}

#[test]
fn harness_watchdog_cleans_up_after_a_killed_process() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["pg::watchdog_child", "--exact", "--ignored", "--nocapture"])
        .env("CUTOVER_WATCHDOG_CHILD", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let out = child.stdout.take().unwrap();
    let root = std::io::BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .find_map(|l| l.strip_prefix("ROOT=").map(PathBuf::from))
        .expect("the child reports its cluster directory");
    assert!(!processes_under(&root).is_empty(), "the cluster runs");
    child.kill().unwrap(); // SIGKILL: no destructor runs
    child.wait().unwrap();
    assert_cleaned(&root);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_connect_and_classify_failures() {
    let c = Cluster::create(&bin(), ClusterOptions::named("conn"))
        .await
        .unwrap();
    let port = c.port();
    c.execute("create role app login password 'right-pw'")
        .await
        .unwrap();
    c.prepend_hba("host all app 127.0.0.1/32 scram-sha-256")
        .await
        .unwrap();

    // Trust: connects, and says who it is.
    let client = connect_as("src", &c.dsn()).await.unwrap();
    let app = crate::support::setting(&client, "application_name").await;
    assert_eq!(app, "cutover");

    // Wrong password: auth failure, password never shown.
    let wrong = ConnSettings::parse_with_env(
        "src",
        &format!("postgres://app:wrong-pw@127.0.0.1:{port}/postgres"),
        &no_env,
    )
    .unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let last = loop {
        let e = wrong
            .connect()
            .await
            .expect_err("a wrong password must not connect");
        if e.kind == FailureKind::Auth || tokio::time::Instant::now() > deadline {
            break e;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let e = last.to_string();
    assert!(e.contains("connection `src`"), "{e}");
    assert!(e.contains("authentication failed"), "{e}");
    crate::support::has(&e, "password authentication failed for user \"app\"");
    assert!(!e.contains("wrong-pw"), "{e}");

    // The right password from a password file; and none at all.
    let t = tempfile::tempdir().unwrap();
    let pgpass = t.path().join("pgpass");
    std::fs::write(&pgpass, format!("127.0.0.1:{port}:*:app:right-pw\n")).unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let pgpass_s = pgpass.display().to_string();
    let env = move |k: &str| (k == "PGPASSFILE").then(|| pgpass_s.clone());
    let dsn = format!("host=127.0.0.1 port={port} user=app dbname=postgres");
    let s = ConnSettings::parse_with_env("src", &dsn, &env).unwrap();
    s.connect().await.expect("password from the password file");
    let e = connect_fails("src", &dsn, FailureKind::Auth).await;
    assert!(e.detail.contains("~/.pgpass"), "{e}");

    // TLS required by us, not offered by the server.
    let dsn = format!("{} sslmode=require", c.dsn());
    connect_fails("src", &dsn, FailureKind::Tls).await;

    // A database that does not exist: the server answers and refuses.
    let dsn = format!("host=127.0.0.1 port={port} user=postgres dbname=nope");
    let e = connect_fails("src", &dsn, FailureKind::Server).await;
    assert!(e.detail.contains("3D000"), "{e}");

    // Nothing listening.
    let free = free_port().unwrap();
    let dsn = format!("host=127.0.0.1 port={free} user=postgres password=sekrit");
    let e = connect_fails("tgt", &dsn, FailureKind::Refused).await;
    assert!(
        e.to_string()
            .contains(&format!("connection `tgt` (127.0.0.1:{free}")),
        "{e}"
    );
    assert!(!e.to_string().contains("sekrit"), "{e}");

    // A name that does not resolve.
    let dsn = "host=no-such-host.invalid user=postgres connect_timeout=3";
    connect_fails("tgt", dsn, FailureKind::Dns).await;

    // Over the unix socket too.
    connect_as("sock", &c.socket_dsn()).await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Lag probes
// ---------------------------------------------------------------------------------------

use std::collections::BTreeMap;

use cutover_drill::harness::Pair;
use cutover_model::lag::LagSample;
use cutover_model::runbook::{LagConfig, LagMethod, Template, Threshold};
use cutover_probe::{LagProbe, ProbeSpec};
use tokio::sync::watch;

fn spawn_probe(config: LagConfig, conns: &[(&str, &Cluster)]) -> LagProbe {
    let connections = conns
        .iter()
        .map(|(name, c)| {
            (
                name.to_string(),
                ConnSettings::parse_with_env(name, &c.dsn(), &no_env).unwrap(),
            )
        })
        .collect();
    LagProbe::spawn(ProbeSpec {
        config,
        connections,
        secrets: BTreeMap::new(),
        env: Vec::new(),
    })
    .unwrap()
}

/// Waits (on the watch channel, never by sleeping) until `pred` holds for a sample.
async fn wait_sample(
    what: &str,
    rx: &mut watch::Receiver<LagSample>,
    within: Duration,
    pred: impl Fn(&LagSample) -> bool,
) -> LagSample {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        {
            let s = rx.borrow_and_update();
            if pred(&s) {
                return s.clone();
            }
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => panic!(
                "{what}: not reached within {within:?}; last sample: {:?}",
                *rx.borrow()
            ),
        }
    }
}

/// Inserts rows into `table` on `cluster` every 50 ms until dropped.
struct WriteLoad(
    Option<tokio::sync::oneshot::Sender<()>>,
    tokio::task::JoinHandle<u64>,
);

impl WriteLoad {
    async fn start(cluster: &Cluster, table: &str) -> WriteLoad {
        let client = cluster.connect().await.unwrap();
        let sql = format!(
            "insert into {table} (payload) select repeat('x', 500) from generate_series(1, 500)"
        );
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let h = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(50));
            let mut n = 0;
            loop {
                tokio::select! {
                    _ = &mut rx => return n,
                    _ = tick.tick() => {
                        if client.batch_execute(&sql).await.is_err() {
                            return n;
                        }
                        n += 1;
                    }
                }
            }
        });
        WriteLoad(Some(tx), h)
    }

    async fn stop(mut self) -> u64 {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
        (&mut self.1).await.unwrap()
    }
}

const MB: u64 = 1 << 20;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_lag_follows_replay_pause_and_ignores_an_idle_primary() {
    let interval = Duration::from_millis(500);
    let (primary, standby) = crate::support::primary_and_standby(
        "primary",
        "standby1",
        "create table items (id bigserial primary key, payload text)",
    )
    .await;

    let from_primary = spawn_probe(
        LagConfig::on_source(LagMethod::Streaming, interval),
        &[("source", &primary)],
    );
    let mut both_cfg = LagConfig::on_source(LagMethod::Streaming, interval);
    both_cfg.target = Some("target".into());
    both_cfg.application_name = Some("standby1".into());
    let both = spawn_probe(both_cfg, &[("source", &primary), ("target", &standby)]);
    let from_standby = spawn_probe(
        LagConfig::on_source(LagMethod::Streaming, interval),
        &[("source", &standby)],
    );
    let (mut p, mut b, mut s) = (
        from_primary.subscribe(),
        both.subscribe(),
        from_standby.subscribe(),
    );
    let long = Duration::from_secs(30);

    // Idle primary: the last replayed transaction grows old, yet the standby is not behind.
    primary
        .execute("insert into items (payload) values ('one')")
        .await
        .unwrap();
    let sc = standby.connect().await.unwrap();
    let deadline = tokio::time::Instant::now() + long;
    loop {
        let age: f64 = sc
            .query_one(
                "select coalesce(extract(epoch from clock_timestamp() - pg_last_xact_replay_timestamp()), 0)::float8",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if age > 2.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "replay timestamp never aged"
        );
        s.changed().await.unwrap();
    }
    let idle = wait_sample("standby fresh", &mut s, long, |x| x.is_fresh()).await;
    assert_eq!(
        idle.seconds,
        Some(0.0),
        "idle primary must not look like lag: {idle:?}"
    );
    assert_eq!(idle.bytes, Some(0), "{idle:?}");
    let idle = wait_sample("primary fresh", &mut p, long, |x| x.is_fresh()).await;
    assert!(idle.bytes.unwrap() < MB, "{idle:?}");
    assert!(
        idle.detail.as_deref().unwrap().contains("standby1"),
        "{idle:?}"
    );

    // Replay paused under writes: lag rises on every side.
    sc.batch_execute("select pg_wal_replay_pause()")
        .await
        .unwrap();
    let load = WriteLoad::start(&primary, "items").await;
    let up = wait_sample("primary bytes rise", &mut p, long, |x| {
        x.is_fresh() && x.bytes.unwrap_or(0) > 2 * MB
    })
    .await;
    wait_sample("standby seconds and bytes rise", &mut s, long, |x| {
        x.is_fresh() && x.seconds.unwrap_or(0.0) > 1.0 && x.bytes.unwrap_or(0) > MB
    })
    .await;
    let paused = wait_sample("primary+standby rise", &mut b, long, |x| {
        x.is_fresh() && x.bytes.unwrap_or(0) > 2 * MB && x.seconds.unwrap_or(0.0) > 1.0
    })
    .await;
    assert!(
        paused.detail.as_deref().unwrap().contains("replay paused"),
        "{paused:?}"
    );
    let rows = load.stop().await;
    assert!(rows > 0);

    // Resumed: it drains back to nothing.
    sc.batch_execute("select pg_wal_replay_resume()")
        .await
        .unwrap();
    let down = wait_sample("primary bytes fall", &mut p, long, |x| {
        x.is_fresh() && x.bytes == Some(0)
    })
    .await;
    assert!(down.bytes < up.bytes);
    wait_sample("standby falls", &mut s, long, |x| {
        x.is_fresh() && x.seconds == Some(0.0) && x.bytes == Some(0)
    })
    .await;
    wait_sample("primary+standby fall", &mut b, long, |x| {
        x.is_fresh() && x.bytes == Some(0) && x.seconds == Some(0.0)
    })
    .await;

    // A user query returning a number, on the same primary.
    let mut cfg = LagConfig::on_source(LagMethod::Sql, interval);
    cfg.sql =
        Some(Template::parse("select count(*) * 1000 from items", &BTreeMap::new(), &[]).unwrap());
    cfg.warn = Some(Threshold::Bytes(MB));
    let q = spawn_probe(cfg, &[("source", &primary)]);
    let got = wait_sample("sql probe", &mut q.subscribe(), long, |x| x.is_fresh()).await;
    assert!(got.bytes.unwrap() >= 1000 * 500, "{got:?}");
    let mut cfg = LagConfig::on_source(LagMethod::Sql, interval);
    cfg.sql = Some(Template::parse("select null::int", &BTreeMap::new(), &[]).unwrap());
    let q = spawn_probe(cfg, &[("source", &primary)]);
    let got = wait_sample("sql probe fails", &mut q.subscribe(), long, |x| {
        x.is_stale()
    })
    .await;
    assert!(got.error.unwrap().contains("NULL"));

    // A server that hangs instead of going away (SIGSTOP): the statement timeout makes the
    // sample stale within two intervals; SIGCONT and it recovers.
    let mut rx = from_primary.subscribe();
    wait_sample("primary fresh again", &mut rx, long, |x| x.is_fresh()).await;
    let frozen = processes_under(primary.root());
    for pid in &frozen {
        cutover_drill::harness::process::signal(*pid, libc::SIGSTOP);
    }
    let hung = tokio::time::timeout(2 * interval, rx.wait_for(|x| x.is_stale()))
        .await
        .map(|r| r.map(|x| x.clone()));
    for pid in &frozen {
        cutover_drill::harness::process::signal(*pid, libc::SIGCONT);
    }
    let hung = hung
        .expect("stale within two intervals of the server hanging")
        .unwrap();
    assert!(
        hung.error.as_deref().unwrap().contains("no answer within"),
        "{hung:?}"
    );
    wait_sample("recovers after SIGCONT", &mut rx, long, |x| x.is_fresh()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logical_and_heartbeat_lag_follow_the_subscription_and_survive_a_source_restart() {
    // interval = 1s, as in production runbooks, so the overhead figure below is the real one.
    let interval = Duration::from_secs(1);
    let pg = bin();
    let (source, target) = tokio::join!(
        Cluster::create(
            &pg,
            ClusterOptions::named("source")
                .setting("shared_preload_libraries", "pg_stat_statements")
        ),
        Cluster::create(&pg, ClusterOptions::named("target")),
    );
    let (source, target) = (source.unwrap(), target.unwrap());
    let ddl = "create table items (id bigserial primary key, payload text);
               create table public.cutover_heartbeat (id text primary key, beat_at timestamptz not null);";
    source.execute(ddl).await.unwrap();
    source
        .execute("create extension pg_stat_statements")
        .await
        .unwrap();
    target.execute(ddl).await.unwrap();
    let mut pair = Pair::logical(source, target, &["items", "public.cutover_heartbeat"])
        .await
        .unwrap();

    let mut cfg = LagConfig::on_source(LagMethod::Logical, interval);
    cfg.slot = Some(pair.slot().to_string());
    cfg.target = Some("target".into());
    let logical = spawn_probe(cfg, &[("source", &pair.source), ("target", &pair.target)]);
    let mut cfg = LagConfig::on_source(LagMethod::Heartbeat, interval);
    cfg.target = Some("target".into());
    let heartbeat = spawn_probe(cfg, &[("source", &pair.source), ("target", &pair.target)]);
    let (mut l, mut h) = (logical.subscribe(), heartbeat.subscribe());
    let long = Duration::from_secs(40);
    let started = tokio::time::Instant::now();

    let first = wait_sample("logical fresh", &mut l, long, |x| x.is_fresh()).await;
    assert!(first.bytes.unwrap() < MB, "{first:?}");
    assert!(
        first
            .detail
            .as_deref()
            .unwrap()
            .contains("slot cutover_sub active"),
        "{first:?}"
    );
    wait_sample("heartbeat caught up", &mut h, long, |x| {
        x.is_fresh() && x.seconds == Some(0.0)
    })
    .await;

    // Subscription disabled under writes: bytes and seconds rise.
    pair.set_subscription_enabled(false).await.unwrap();
    let load = WriteLoad::start(&pair.source, "items").await;
    let up = wait_sample("logical bytes rise", &mut l, long, |x| {
        x.is_fresh() && x.bytes.unwrap_or(0) > 4 * MB
    })
    .await;
    let detail = up.detail.unwrap();
    assert!(detail.contains("inactive"), "{detail}");
    crate::support::has(&detail, "subscription cutover_sub disabled");
    let hb_up = wait_sample("heartbeat seconds grow", &mut h, long, |x| {
        x.is_fresh() && x.seconds.unwrap_or(0.0) >= 3.0
    })
    .await;
    let later = wait_sample("heartbeat keeps growing", &mut h, long, |x| {
        x.is_fresh() && x.seconds.unwrap_or(0.0) > hb_up.seconds.unwrap()
    })
    .await;
    assert!(later.seconds > hb_up.seconds);
    load.stop().await;

    // Enabled again: both drain.
    pair.set_subscription_enabled(true).await.unwrap();
    wait_sample("logical bytes fall", &mut l, long, |x| {
        x.is_fresh() && x.bytes.unwrap_or(u64::MAX) < MB
    })
    .await;
    wait_sample("heartbeat falls", &mut h, long, |x| {
        x.is_fresh() && x.seconds == Some(0.0)
    })
    .await;

    // Overhead at interval = 1s, measured before the outage.
    let elapsed = started.elapsed().as_secs_f64();
    let (ls, hs) = (logical.stats(), heartbeat.stats());
    let sc = pair.source.connect().await.unwrap();
    let slot_calls: i64 = sc
        .query_one(
            "select coalesce(sum(calls), 0)::bigint from pg_stat_statements
              where query like '%from pg_replication_slots%' and query like '%confirmed_flush_lsn%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let beat_calls: i64 = sc
        .query_one(
            "select coalesce(sum(calls), 0)::bigint from pg_stat_statements
              where query like '%insert into \"public\".\"cutover_heartbeat\"%'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    drop(sc);
    let polls = l.borrow().seq;
    eprintln!(
        "probe overhead over {elapsed:.1}s at interval=1s: logical {} statements ({:.2}/s, {} connects; source saw {slot_calls} slot queries in {polls} polls), heartbeat {} statements ({:.2}/s, {} connects; source saw {beat_calls} beats)",
        ls.queries,
        ls.queries as f64 / elapsed,
        ls.connects,
        hs.queries,
        hs.queries as f64 / elapsed,
        hs.connects,
    );
    assert!(
        slot_calls > 0 && slot_calls as u64 <= polls,
        "{slot_calls} vs {polls}"
    );

    // The source goes away: both samples go stale within two intervals; they recover.
    pair.source.stop().await.unwrap();
    let stopped = tokio::time::Instant::now();
    let gone = wait_sample("logical stale", &mut l, 2 * interval, |x| x.is_stale()).await;
    let hb_gone = wait_sample(
        "heartbeat stale",
        &mut h,
        2 * interval - stopped.elapsed(),
        |x| x.is_stale(),
    )
    .await;
    let err = gone.error.clone().unwrap();
    assert!(err.contains("source"), "{err}");
    assert!(gone.bytes.is_some(), "a stale sample keeps its last value");
    assert!(!gone.is_fresh());
    assert!(hb_gone.error.is_some());
    // While it is down the error says why (the reconnect is refused).
    let refused = wait_sample("refused while down", &mut l, long, |x| {
        x.error.as_deref().is_some_and(|e| e.contains("refused"))
    })
    .await;
    assert_eq!(
        refused.stale_since, gone.stale_since,
        "stale_since stays at the first failure"
    );

    pair.source.start().await.unwrap();
    let back = wait_sample("logical recovers", &mut l, long, |x| x.is_fresh()).await;
    assert!(back.error.is_none() && back.stale_since.is_none());
    wait_sample("heartbeat recovers", &mut h, long, |x| x.is_fresh()).await;
}

#[test]
fn probes_and_pg_have_no_terminal_code() {
    for dir in ["src/probe", "src/pg"] {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let text = std::fs::read_to_string(&path).unwrap();
            for banned in ["ratatui::", "crossterm::", "use ratatui", "use crossterm"] {
                assert!(
                    !text.contains(banned),
                    "{} mentions {banned}",
                    path.display()
                );
            }
        }
    }
}

/// Runs openssl with `args` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    run_ok(
        std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir),
    );
}

/// A CA, a server certificate for IP 127.0.0.1 signed by it, and an unrelated CA.
fn make_certs(dir: &std::path::Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    for ca in ["ca", "other"] {
        let (key, crt, subj) = (
            format!("{ca}.key"),
            format!("{ca}.crt"),
            format!("/CN={ca}"),
        );
        let mut a = vec![
            "req", "-x509", "-days", "2", "-subj", &subj, "-keyout", &key, "-out", &crt,
        ];
        a.extend(ec);
        openssl(dir, &a);
    }
    let mut a = vec![
        "req",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ];
    a.extend(ec);
    openssl(dir, &a);
    std::fs::write(dir.join("ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext",
            "-out",
            "server.crt",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_sslmodes_against_a_server_with_a_certificate() {
    let c = Cluster::create(&bin(), ClusterOptions::named("tls"))
        .await
        .unwrap();
    let certs = tempfile::tempdir().unwrap();
    make_certs(certs.path());
    // The server's copies live in the cluster directory, owned by the server user.
    let pg = cutover_drill::harness::process::run_as().unwrap();
    for f in ["server.crt", "server.key"] {
        let dst = c.root().join(f);
        std::fs::copy(certs.path().join(f), &dst).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(0o600)).unwrap();
        cutover_drill::harness::process::chown(&dst, pg).unwrap();
    }
    let crt = c.root().join("server.crt").display().to_string();
    let key = c.root().join("server.key").display().to_string();
    for stmt in [
        format!("alter system set ssl_cert_file = '{crt}'"),
        format!("alter system set ssl_key_file = '{key}'"),
        "alter system set ssl = on".to_string(),
        "select pg_reload_conf()".to_string(),
    ] {
        c.execute(&stmt).await.unwrap();
    }
    let port = c.port();
    let ca = certs.path().join("ca.crt").display().to_string();
    let other = certs.path().join("other.crt").display().to_string();
    let dsn = |host: &str, extra: &str| {
        format!("host={host} port={port} user=postgres dbname=postgres {extra}")
    };
    let connect = |dsn: String| async move { connect_as("tls", &dsn).await };
    let uses_tls = |client: tokio_postgres::Client| async move {
        client
            .query_one(
                "select ssl from pg_stat_ssl where pid = pg_backend_pid()",
                &[],
            )
            .await
            .unwrap()
            .get::<_, bool>(0)
    };

    // require: encrypted, certificate not checked (the reload may take a moment to apply).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let client = loop {
        match connect(dsn("127.0.0.1", "sslmode=require")).await {
            Ok(c) => break c,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "TLS never came up: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    assert!(uses_tls(client).await);
    // prefer takes TLS when offered; disable does not.
    assert!(uses_tls(connect(dsn("127.0.0.1", "")).await.unwrap()).await);
    assert!(!uses_tls(connect(dsn("127.0.0.1", "sslmode=disable")).await.unwrap()).await);

    // verify-full: chain and name (the certificate is for IP 127.0.0.1).
    let full = format!("sslmode=verify-full sslrootcert={ca}");
    assert!(uses_tls(connect(dsn("127.0.0.1", &full)).await.unwrap()).await);
    connect_fails("tls", &dsn("localhost", &full), FailureKind::Tls).await;
    // verify-ca: chain only, so the other name is fine.
    let ca_only = format!("sslmode=verify-ca sslrootcert={ca}");
    assert!(uses_tls(connect(dsn("localhost", &ca_only)).await.unwrap()).await);
    // A CA that did not sign the server certificate.
    let wrong_ca = dsn(
        "127.0.0.1",
        &format!("sslmode=verify-ca sslrootcert={other}"),
    );
    let e = connect_fails("tls", &wrong_ca, FailureKind::Tls).await;
    assert!(e.detail.to_lowercase().contains("certificate"), "{e}");
    // verify-full with no root certificates at all explains the options.
    let no_roots = dsn("127.0.0.1", "sslmode=verify-full");
    let e = connect_fails("tls", &no_roots, FailureKind::Tls).await;
    assert!(e.detail.contains("sslrootcert=system"), "{e}");
}
