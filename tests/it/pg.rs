//! PostgreSQL against real throwaway clusters started by the harness: the harness itself,
//! connections, and the lag probes.

use std::path::PathBuf;
use std::time::Duration;

use cutover::pg::cluster::free_port;
use cutover::pg::process::processes_under;
use cutover::pg::{Cluster, ClusterOptions, ConnSettings, FailureKind, PgBin};

fn bin() -> PgBin {
    PgBin::find(None).expect("PostgreSQL server binaries")
}

fn no_env(_: &str) -> Option<String> {
    None
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn harness_runs_servers_as_postgres_and_cleans_up_on_drop() {
    let c = Cluster::create(&bin(), ClusterOptions::named("drop"))
        .await
        .unwrap();
    let root = c.root().to_path_buf();
    let pm = c.postmaster_pid().expect("postmaster.pid");
    assert!(processes_under(&root).contains(&pm));
    if cutover::pg::process::is_root() {
        let status = std::fs::read_to_string(format!("/proc/{pm}/status")).unwrap();
        let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        let pg = cutover::pg::process::lookup_user("postgres").unwrap();
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
    let s = ConnSettings::parse_with_env("src", &c.dsn(), &no_env).unwrap();
    let client = s.connect().await.unwrap();
    let app: String = client
        .query_one("select current_setting('application_name')", &[])
        .await
        .unwrap()
        .get(0);
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
    assert!(
        e.contains("password authentication failed for user \"app\""),
        "{e}"
    );
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
    let e = ConnSettings::parse_with_env("src", &dsn, &no_env)
        .unwrap()
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::Auth, "{e}");
    assert!(e.detail.contains("~/.pgpass"), "{e}");

    // TLS required by us, not offered by the server.
    let e = ConnSettings::parse_with_env("src", &format!("{} sslmode=require", c.dsn()), &no_env)
        .unwrap()
        .connect()
        .await
        .unwrap_err();
    assert_eq!(e.kind, FailureKind::Tls, "{e}");

    // A database that does not exist: the server answers and refuses.
    let e = ConnSettings::parse_with_env(
        "src",
        &format!("host=127.0.0.1 port={port} user=postgres dbname=nope"),
        &no_env,
    )
    .unwrap()
    .connect()
    .await
    .unwrap_err();
    assert_eq!(e.kind, FailureKind::Server, "{e}");
    assert!(e.detail.contains("3D000"), "{e}");

    // Nothing listening.
    let free = free_port().unwrap();
    let e = ConnSettings::parse_with_env(
        "tgt",
        &format!("host=127.0.0.1 port={free} user=postgres password=sekrit"),
        &no_env,
    )
    .unwrap()
    .connect()
    .await
    .unwrap_err();
    assert_eq!(e.kind, FailureKind::Refused, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("connection `tgt` (127.0.0.1:{free}")),
        "{e}"
    );
    assert!(!e.to_string().contains("sekrit"), "{e}");

    // A name that does not resolve.
    let e = ConnSettings::parse_with_env(
        "tgt",
        "host=no-such-host.invalid user=postgres connect_timeout=3",
        &no_env,
    )
    .unwrap()
    .connect()
    .await
    .unwrap_err();
    assert_eq!(e.kind, FailureKind::Dns, "{e}");

    // Over the unix socket too.
    ConnSettings::parse_with_env("sock", &c.socket_dsn(), &no_env)
        .unwrap()
        .connect()
        .await
        .unwrap();
}
