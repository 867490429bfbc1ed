//! Connection settings (`[connections.NAME]`) and connecting with them.
//!
//! A DSN is a libpq conninfo string (`host=db dbname=orders`) or a `postgres://` URL. What it
//! leaves out comes from the standard environment variables, as with `psql`:
//!
//! | setting            | DSN key            | environment         | default                          |
//! |--------------------|--------------------|---------------------|----------------------------------|
//! | host               | `host`, `hostaddr` | `PGHOST`, `PGHOSTADDR` | `/var/run/postgresql`, `/tmp`, else `localhost` |
//! | port               | `port`             | `PGPORT`            | 5432                             |
//! | user               | `user`             | `PGUSER`            | the OS user                      |
//! | database           | `dbname`           | `PGDATABASE`        | the user name                    |
//! | password           | `password`         | `PGPASSWORD`        | `passfile` / `PGPASSFILE` / `~/.pgpass` |
//! | TLS                | `sslmode`, `sslrootcert`, `sslcert`, `sslkey` | `PGSSLMODE`, `PGSSLROOTCERT`, `PGSSLCERT`, `PGSSLKEY` | `prefer` |
//! | connect timeout    | `connect_timeout`  | `PGCONNECT_TIMEOUT` | 10 s                             |
//! | a gone server      | `keepalives_idle`, `keepalives_interval`, `keepalives_retries`, `tcp_user_timeout` | — | 30 s, 10 s, 3, 60 s |
//! | application name   | `application_name` | `PGAPPNAME`         | `fallback_application_name`, else `cutover` |
//! | server options     | `options`          | `PGOPTIONS`         | —                                |
//!
//! Passwords never appear in messages: DSNs are shown through [`Masker`], and connection
//! errors name the connection, the endpoint and what failed ([`FailureKind`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio_postgres::{CancelToken, Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::conninfo::{self, Split};
use crate::env::{Env, env_defaults};
use crate::pgpass::{self, PgpassKey};
use crate::tls::{SslMode, TlsSettings};
use cutover_model::runbook::{Connection, Template, dsn_fill};
use cutover_model::secrets::Masker;

/// The connect timeout when neither the DSN nor `PGCONNECT_TIMEOUT` sets one.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The `application_name` when neither the DSN nor `PGAPPNAME` sets one.
pub const DEFAULT_APPLICATION_NAME: &str = "cutover";

/// Where the password came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// No password (trust, peer, certificate authentication...).
    None,
    /// The DSN.
    Dsn,
    /// `PGPASSWORD`.
    Env,
    /// A password file.
    Passfile(PathBuf),
}

/// What stands for a DSN that could not be parsed (and so not masked) in messages.
pub const NOT_SHOWN: &str =
    "not shown: it could not be parsed, so its password could not be masked";

/// A DSN that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
#[error("connection `{connection}`: {message} (dsn: {shown})")]
pub struct ConnError {
    /// Connection name.
    pub connection: String,
    /// What is wrong.
    pub message: String,
    /// The DSN, masked.
    pub shown: String,
}

/// What went wrong while connecting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The host name does not resolve.
    Dns,
    /// Nothing listens there (connection refused, no socket file).
    Refused,
    /// No answer in time.
    Timeout,
    /// The server rejected the credentials, or wanted a password we do not have.
    Auth,
    /// TLS could not be set up or the certificate was rejected.
    Tls,
    /// The server answered but refused the session (no such database, too many connections,
    /// starting up...).
    Server,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// A short phrase for messages.
    pub fn describe(self) -> &'static str {
        match self {
            FailureKind::Dns => "cannot resolve the host name",
            FailureKind::Refused => {
                "connection refused (is the server running and listening there?)"
            }
            FailureKind::Timeout => "timed out",
            FailureKind::Auth => "authentication failed",
            FailureKind::Tls => "TLS failed",
            FailureKind::Server => "the server refused the session",
            FailureKind::Other => "cannot connect",
        }
    }
}

/// A failed connection attempt; never contains the password.
#[derive(Debug, Clone, thiserror::Error)]
#[error("connection `{connection}` ({endpoint}): {}: {detail}", kind.describe())]
pub struct ConnectError {
    /// Connection name.
    pub connection: String,
    /// `host:port dbname=... user=...`.
    pub endpoint: String,
    /// What failed.
    pub kind: FailureKind,
    /// The driver's or server's explanation (masked).
    pub detail: String,
}

/// Resolved settings of one named connection.
#[derive(Debug, Clone)]
pub struct ConnSettings {
    name: String,
    config: Config,
    tls: TlsSettings,
    shown: String,
    password_source: PasswordSource,
    notes: Vec<String>,
    masker: Masker,
}

impl ConnSettings {
    /// Parses `dsn` for connection `name`, with defaults from the process environment.
    pub fn parse(name: &str, dsn: &str) -> Result<ConnSettings, ConnError> {
        Self::parse_with_env(name, dsn, &|k| std::env::var(k).ok())
    }

    /// Parses a runbook connection, filling in `secrets`; the shown DSN masks them.
    pub fn from_template(
        name: &str,
        dsn: &Template,
        secrets: &BTreeMap<String, String>,
    ) -> Result<ConnSettings, ConnError> {
        let mut s = Self::parse(name, &dsn_fill::fill(dsn, secrets))?;
        s.shown = Masker::default().mask(&dsn.display()).into_owned();
        Ok(s)
    }

    /// [`ConnSettings::parse`] with the environment given as a lookup function.
    pub fn parse_with_env(
        name: &str,
        dsn: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ConnSettings, ConnError> {
        let parsed = read_dsn(dsn);
        // A DSN that does not parse cannot have its password found, so it is not shown at all.
        let shown = match &parsed {
            Ok(_) => Masker::default().mask(dsn).into_owned(),
            Err(_) => NOT_SHOWN.to_string(),
        };
        let err = |message: String| ConnError {
            connection: name.to_string(),
            message,
            shown: shown.clone(),
        };
        let env = Env(env);
        let (split, mut config) = parsed.map_err(&err)?;
        env_defaults(&mut config, &split, &env).map_err(&err)?;
        dead_peer_defaults(&mut config, dsn);
        no_gssapi_encryption(&split).map_err(&err)?;
        let tls = tls_settings(&split, &env).map_err(&err)?;
        config.ssl_mode(tls.mode.driver_mode());
        let (password_source, note) = password(&mut config, &split, &env, name);
        Ok(ConnSettings {
            name: name.to_string(),
            masker: password_masker(&config),
            config,
            tls,
            shown,
            password_source,
            notes: note.into_iter().collect(),
        })
    }

    /// The connection's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The driver configuration (with the password: do not print it).
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The TLS settings.
    pub fn tls(&self) -> &TlsSettings {
        &self.tls
    }

    /// The DSN as written, password and secrets masked.
    pub fn display(&self) -> &str {
        &self.shown
    }

    /// Where the password came from.
    pub fn password_source(&self) -> &PasswordSource {
        &self.password_source
    }

    /// Warnings found while resolving (e.g. a password file ignored for its permissions).
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Masks this connection's password (and DSN passwords) in `text`.
    pub fn mask(&self, text: &str) -> String {
        self.masker.mask(text).into_owned()
    }

    /// `host:port/dbname`, for showing where the run is connected (no password, no user).
    pub fn target(&self) -> String {
        let ports = self.config.get_ports();
        let hosts: Vec<String> = self
            .hosts()
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                format!("{h}:{port}")
            })
            .collect();
        let hosts = if hosts.is_empty() {
            "localhost:5432".to_string()
        } else {
            hosts.join(",")
        };
        let db = self
            .config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("?");
        format!("{hosts}/{db}")
    }

    /// `host:port dbname=... user=...` for messages (no password).
    pub fn endpoint(&self) -> String {
        let hosts = self.hosts();
        let ports = self.config.get_ports();
        let list: Vec<String> = hosts
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
                if h.starts_with('/') {
                    format!("{h}/.s.PGSQL.{port}")
                } else {
                    format!("{h}:{port}")
                }
            })
            .collect();
        format!(
            "{} dbname={} user={}",
            list.join(","),
            self.config
                .get_dbname()
                .or(self.config.get_user())
                .unwrap_or("?"),
            self.config.get_user().unwrap_or("?")
        )
    }

    fn hosts(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .config
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(s) => s.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .collect();
        if v.is_empty() {
            v = self
                .config
                .get_hostaddrs()
                .iter()
                .map(ToString::to_string)
                .collect();
        }
        v
    }

    /// The connect timeout (per host).
    pub fn connect_timeout(&self) -> Duration {
        self.config
            .get_connect_timeout()
            .copied()
            .unwrap_or(DEFAULT_CONNECT_TIMEOUT)
    }

    /// The same settings with another connect timeout.
    pub fn with_connect_timeout(mut self, timeout: Duration) -> ConnSettings {
        self.config.connect_timeout(timeout);
        self
    }

    /// The same settings with another `application_name`.
    pub fn with_application_name(mut self, name: &str) -> ConnSettings {
        self.config.application_name(name);
        self
    }

    fn tls_connector(&self) -> Result<MakeRustlsConnect, String> {
        self.tls.client_config().map(MakeRustlsConnect::new)
    }

    /// Connects; the connection is driven by a spawned task that ends when the client is
    /// dropped or the server goes away.
    pub async fn connect(&self) -> Result<Client, ConnectError> {
        self.connect_inner(None).await
    }

    /// [`ConnSettings::connect`], keeping the session's notices (`NOTICE`, `WARNING`,
    /// `INFO`…, in order) for the caller to read; at most [`NOTICES_KEPT`] wait unread, the
    /// ones after are dropped.
    pub async fn connect_with_notices(
        &self,
    ) -> Result<(Client, tokio::sync::mpsc::Receiver<ServerNotice>), ConnectError> {
        let (tx, rx) = tokio::sync::mpsc::channel(NOTICES_KEPT);
        Ok((self.connect_inner(Some(tx)).await?, rx))
    }

    async fn connect_inner(
        &self,
        notices: Option<tokio::sync::mpsc::Sender<ServerNotice>>,
    ) -> Result<Client, ConnectError> {
        let tls = self
            .tls_connector()
            .map_err(|m| self.failure(FailureKind::Tls, m))?;
        let hosts = self.hosts().len().max(1) as u32;
        // The driver's own bound is `connect_timeout` per host; this one, a second later,
        // catches a server that takes the connection and never finishes the start-up. What
        // is said is the bound the user set.
        let said = self.connect_timeout() * hosts;
        let overall = said + Duration::from_secs(1);
        match tokio::time::timeout(overall, self.config.connect(tls)).await {
            Err(_) => Err(self.failure(
                FailureKind::Timeout,
                format!("no answer within {}s", said.as_secs()),
            )),
            Ok(Err(e)) => {
                let (kind, detail) = classify(&e);
                Err(self.failure(kind, detail))
            }
            Ok(Ok((client, mut conn))) => {
                let name = self.name.clone();
                tokio::spawn(async move {
                    loop {
                        match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
                            Some(Ok(tokio_postgres::AsyncMessage::Notice(n))) => {
                                if let Some(tx) = &notices {
                                    let _ = tx.try_send(ServerNotice {
                                        severity: n.severity().to_string(),
                                        message: n.message().to_string(),
                                    });
                                }
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => {
                                tracing::debug!(connection = %name, "connection ended: {e}");
                                break;
                            }
                            None => break,
                        }
                    }
                });
                Ok(client)
            }
        }
    }

    /// Asks the server to cancel the query running on the session `token` belongs to
    /// (`client.cancel_token()`), over a new connection with the same TLS settings.
    pub async fn cancel(&self, token: &CancelToken) -> Result<(), ConnectError> {
        let tls = self
            .tls_connector()
            .map_err(|m| self.failure(FailureKind::Tls, m))?;
        let timeout = self.connect_timeout() + Duration::from_secs(1);
        match tokio::time::timeout(timeout, token.cancel_query(tls)).await {
            Err(_) => Err(self.failure(FailureKind::Timeout, "cancel request not answered".into())),
            Ok(Err(e)) => {
                let (kind, detail) = classify(&e);
                Err(self.failure(kind, format!("cancel request: {detail}")))
            }
            Ok(Ok(())) => Ok(()),
        }
    }

    /// A [`ConnectError`] for this connection.
    pub fn failure(&self, kind: FailureKind, detail: String) -> ConnectError {
        let mut detail = self.mask(&detail);
        if kind == FailureKind::Auth && !self.notes.is_empty() {
            detail = format!("{detail} (note: {})", self.notes.join("; "));
        }
        ConnectError {
            connection: self.name.clone(),
            endpoint: self.endpoint(),
            kind,
            detail,
        }
    }
}

/// Resolves every `[connections]` entry of a runbook.
pub fn resolve_all(
    connections: &BTreeMap<String, Connection>,
    secrets: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, ConnSettings>, ConnError> {
    connections
        .iter()
        .map(|(name, c)| {
            Ok((
                name.clone(),
                ConnSettings::from_template(name, &c.dsn, secrets)?,
            ))
        })
        .collect()
}

/// Our options taken out of the DSN, and the driver's configuration from the rest.
fn read_dsn(dsn: &str) -> Result<(Split, Config), String> {
    // The rules `cutover check` applies, with the same words; the driver parses after them.
    cutover_model::runbook::dsn::check(dsn)?;
    let split = conninfo::split(dsn)?;
    let config = split
        .rest
        .parse()
        .map_err(|e: tokio_postgres::Error| with_causes(&e))?;
    Ok((split, config))
}

/// TCP keepalives start after this long without a word from the server, unless the DSN
/// says otherwise (`keepalives_idle`; the driver's own default is 2 hours). With
/// [`KEEPALIVES_INTERVAL`], [`KEEPALIVES_RETRIES`] and [`TCP_USER_TIMEOUT`] a connection to a
/// server that has gone (a host that died, a network cut, a failover that moved its address)
/// is closed within about a minute, not hours later; a server busy with a long query still
/// answers keepalives, so only a gone one is cut off. A drift watch without
/// `--check-timeout` gains most from it.
pub const KEEPALIVES_IDLE: Duration = Duration::from_secs(30);
/// Between two keepalives (`keepalives_interval`).
pub const KEEPALIVES_INTERVAL: Duration = Duration::from_secs(10);
/// Keepalives unanswered before the connection is closed (`keepalives_retries`).
pub const KEEPALIVES_RETRIES: u32 = 3;
/// The longest data sent may wait for the server's acknowledgement (`tcp_user_timeout`).
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(60);

/// Sets each of the bounds above that the DSN does not set itself.
fn dead_peer_defaults(config: &mut Config, dsn: &str) {
    let given = cutover_model::runbook::dsn::params(dsn).unwrap_or_default();
    let unset = |key: &str| !given.iter().any(|(k, _)| k == key);
    if !config.get_keepalives() {
        // `keepalives=0`: the DSN wants no watch on a silent server; none is added.
        return;
    }
    if unset("keepalives_idle") {
        config.keepalives_idle(KEEPALIVES_IDLE);
    }
    if unset("keepalives_interval") {
        config.keepalives_interval(KEEPALIVES_INTERVAL);
    }
    if unset("keepalives_retries") {
        config.keepalives_retries(KEEPALIVES_RETRIES);
    }
    if unset("tcp_user_timeout") {
        config.tcp_user_timeout(TCP_USER_TIMEOUT);
    }
}

/// Refuses `gssencmode=require`: there is no GSSAPI encryption here.
fn no_gssapi_encryption(split: &Split) -> Result<(), String> {
    if split.get("gssencmode") == Some("require") {
        return Err(
            "gssencmode=require is not supported (cutover has no GSSAPI encryption); use sslmode instead".into(),
        );
    }
    Ok(())
}

/// `sslmode` (default `prefer`), `sslrootcert`, `sslcert` and `sslkey`, each from the DSN,
/// else its `PGSSL*` variable; [`TlsSettings::resolve`] looks in `~/.postgresql/` for the
/// files neither names.
fn tls_settings(split: &Split, env: &Env<'_>) -> Result<TlsSettings, String> {
    let option = |key: &str, var: &str| split.get(key).map(str::to_string).or_else(|| env.get(var));
    let mode = match option("sslmode", "PGSSLMODE") {
        Some(m) => SslMode::parse(&m)?,
        None => SslMode::Prefer,
    };
    let home = env.get("HOME").map(PathBuf::from);
    Ok(TlsSettings::resolve(
        mode,
        option("sslrootcert", "PGSSLROOTCERT").as_deref(),
        option("sslcert", "PGSSLCERT").as_deref(),
        option("sslkey", "PGSSLKEY").as_deref(),
        home.as_deref(),
    ))
}

/// Puts the password into `config` and says where it came from: the DSN, else `PGPASSWORD`,
/// else the password file (`passfile`, `PGPASSFILE` or `~/.pgpass`). A password file that
/// cannot be used is logged and returned as a note, not an error: the server may not ask.
fn password(
    config: &mut Config,
    split: &Split,
    env: &Env<'_>,
    name: &str,
) -> (PasswordSource, Option<String>) {
    if config.get_password().is_some() {
        return (PasswordSource::Dsn, None);
    }
    if let Some(pw) = env.get("PGPASSWORD") {
        config.password(pw);
        return (PasswordSource::Env, None);
    }
    let Some(path) = pgpass::path(split.get("passfile"), env.0) else {
        return (PasswordSource::None, None);
    };
    match lookup_pgpass(config, &path) {
        Ok(Some(pw)) => {
            config.password(pw);
            (PasswordSource::Passfile(path), None)
        }
        Ok(None) => (PasswordSource::None, None),
        Err(why) => {
            tracing::warn!(connection = name, "{why}");
            (PasswordSource::None, Some(why.to_string()))
        }
    }
}

/// Looks up the first host, with the port, database (else the user name) and user, in the
/// password file at `path`.
fn lookup_pgpass(config: &Config, path: &Path) -> Result<Option<String>, pgpass::Ignored> {
    let host = first_host(config);
    let user = config.get_user().unwrap_or_default();
    let key = PgpassKey {
        host: &host,
        port: config.get_ports().first().copied().unwrap_or(5432),
        database: config.get_dbname().unwrap_or(user),
        user,
    };
    pgpass::lookup_file(path, key)
}

/// Masks the password `config` holds, if any.
fn password_masker(config: &Config) -> Masker {
    match config.get_password() {
        Some(pw) => Masker::new([String::from_utf8_lossy(pw).into_owned()]),
        None => Masker::default(),
    }
}

/// The first host (a socket directory as its path), else the first address, else `localhost`.
fn first_host(config: &Config) -> String {
    match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
        None => config
            .get_hostaddrs()
            .first()
            .map_or_else(|| "localhost".to_string(), ToString::to_string),
    }
}

/// An error's message followed by each of its causes' it does not already say, e.g. the
/// driver's `invalid connection string: invalid value for option `port`` or
/// `db error: ERROR: ...`.
pub fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut msg = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let text = s.to_string();
        if !msg.contains(&text) {
            msg.push_str(": ");
            msg.push_str(&text);
        }
        src = s.source();
    }
    msg
}

/// What to add to a server error with SQLSTATE `code`: for a lock not given up in time
/// (`lock_timeout`, 55P03), who to ask; else nothing.
pub fn lock_hint(code: &tokio_postgres::error::SqlState) -> &'static str {
    if *code == tokio_postgres::error::SqlState::LOCK_NOT_AVAILABLE {
        ": another session holds a lock on the table (DDL, a long transaction): see pg_locks"
    } else {
        ""
    }
}

/// What kind of failure a driver error is, and its explanation.
pub fn classify(e: &tokio_postgres::Error) -> (FailureKind, String) {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let kind = if code.starts_with("28") {
            FailureKind::Auth
        } else {
            FailureKind::Server
        };
        let hint = lock_hint(db.code());
        return (kind, format!("{} (SQLSTATE {code}){hint}", db.message()));
    }
    let msg = with_causes(e);
    let mut src: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = src {
        if s.downcast_ref::<rustls::Error>().is_some() {
            return (FailureKind::Tls, msg);
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.is::<rustls::Error>())
            {
                return (FailureKind::Tls, msg);
            }
            let kind = match io.kind() {
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound => {
                    Some(FailureKind::Refused)
                }
                std::io::ErrorKind::TimedOut => Some(FailureKind::Timeout),
                _ if is_dns(&io.to_string()) => Some(FailureKind::Dns),
                _ => None,
            };
            if let Some(k) = kind {
                return (k, msg);
            }
        }
        src = s.source();
    }
    if msg.starts_with("error performing TLS handshake") {
        return (FailureKind::Tls, msg);
    }
    if msg.contains("password missing") {
        return (
            FailureKind::Auth,
            "the server asked for a password and none was given (set password= in the DSN, PGPASSWORD, or a ~/.pgpass entry)".into(),
        );
    }
    if msg.starts_with("authentication error") {
        return (FailureKind::Auth, msg);
    }
    if is_dns(&msg) {
        return (FailureKind::Dns, msg);
    }
    if e.is_closed() {
        return (
            FailureKind::Other,
            format!(
                "{msg} (the server ended the session, or stopped answering: a host that went down, a network cut)"
            ),
        );
    }
    (FailureKind::Other, msg)
}

fn is_dns(text: &str) -> bool {
    [
        "lookup address",
        "Name or service not known",
        "Temporary failure in name resolution",
        "No address associated",
        "nodename nor servname",
        "could not resolve any addresses",
    ]
    .iter()
    .any(|p| text.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let m: BTreeMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| m.get(k).cloned()
    }

    /// The connection `src` that `dsn` gives, no `PG*` variable set.
    fn src(dsn: &str) -> ConnSettings {
        ConnSettings::parse_with_env("src", dsn, &env(&[])).unwrap()
    }

    /// `cutover check` judges a DSN with `cutover_model::runbook::dsn`; the run reads it
    /// with the driver. They must agree: what check passes, the run can read, and what the
    /// driver refuses, check refuses.
    #[test]
    fn check_and_the_run_agree_on_every_dsn() {
        let e = env(&[("HOME", "/nonexistent")]);
        // A pair without a keyword: libpq refuses it, and so do check and the run (they
        // parse conninfo with one parser).
        for no_keyword in ["=x", "host=db =x"] {
            assert!(driver_reads(no_keyword, &e).is_err(), "{no_keyword}");
            assert!(
                cutover_model::runbook::dsn::check(no_keyword).is_err(),
                "{no_keyword}"
            );
        }
        // Stricter than the driver, on purpose: a URL with a space would defeat password
        // masking.
        let stricter = "postgres://u:p w@db/x";
        assert!(driver_reads(stricter, &e).is_ok(), "{stricter}");
        assert!(
            cutover_model::runbook::dsn::check(stricter).is_err(),
            "{stricter}"
        );
        for dsn in [
            "host=db dbname=orders user=u password='a b' sslmode=require",
            "host=db password=",
            "host=db PASSWORD=",
            "host=db passwrd=x",
            "host=db port=abc",
            "host=db port=",
            "host=db port=70000",
            "host=db port=5432,5433",
            "host=a,b port=1,2,3",
            "host=a hostaddr=127.0.0.1,127.0.0.2",
            "hostaddr=db.example",
            "host=db connect_timeout=x",
            "host=db connect_timeout=-1",
            "host=db keepalives=-1",
            "host=db keepalives_retries=99999999999",
            "host=db sslmode=bogus",
            "host=db sslmode=verify-full sslrootcert=system",
            "host=db gssencmode=require",
            "host=db gssencmode=prefer",
            "host=db target_session_attrs=primary",
            "host=db target_session_attrs=read-write",
            "host=db channel_binding=maybe",
            "host=db load_balance_hosts=random",
            "host=db sslnegotiation=direct",
            "host=db password='open",
            "host=db stray",
            "service=ledger",
            "postgres://u@db:notaport/x",
            "postgres://u:p%40ss@db/orders?sslmode=require",
            "postgres://db/x?oops",
            "postgres://db/x?sslmode=bogus",
            "postgres://db/x?application_name=a&connect_timeout=z",
            "postgres://[::1]:5432/x",
            "postgres://[::1/x",
            "postgres://db,db2:5433/x",
            "postgres://db/%ff",
            "postgres://%2Ftmp/x",
            "postgresql://u@db/x?unknown_thing=1",
        ] {
            let check = cutover_model::runbook::dsn::check(dsn);
            let driver = driver_reads(dsn, &e);
            assert_eq!(
                check.is_ok(),
                driver.is_ok(),
                "{dsn:?}: check says {check:?}, the driver says {driver:?}"
            );
            // And the run gives check's reason.
            if let Err(why) = check {
                let run = ConnSettings::parse_with_env("c", dsn, &e).map(|_| ());
                assert_eq!(run.map_err(|e| e.message), Err(why), "{dsn:?}");
            }
        }
    }

    /// What the run does with a DSN without the model's check first: our options, the
    /// driver's parser, and what the driver checks when it connects (hosts, addresses and
    /// ports that go together).
    fn driver_reads(dsn: &str, e: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
        let split = conninfo::split(dsn)?;
        let config: Config = split.rest.parse().map_err(|e| with_causes(&e))?;
        no_gssapi_encryption(&split)?;
        tls_settings(&split, &Env(e))?;
        let (hosts, addrs) = (config.get_hosts().len(), config.get_hostaddrs().len());
        if hosts > 0 && addrs > 0 && hosts != addrs {
            return Err("host and hostaddr counts differ".into());
        }
        let ports = config.get_ports().len();
        if ports > 1 && ports != hosts.max(addrs) {
            return Err("invalid number of ports".into());
        }
        Ok(())
    }

    #[test]
    fn target_names_host_port_and_database_never_the_password() {
        let s = src("postgres://migrator:s3cret@db-old:5433/orders");
        assert_eq!(s.target(), "db-old:5433/orders");
        let multi = src("host=a,b port=5433,5434 dbname=x user=u password=pw");
        assert_eq!(multi.target(), "a:5433,b:5434/x");
        let sock = src("host=/run/postgresql user=postgres");
        assert_eq!(sock.target(), "/run/postgresql:5432/postgres");
    }

    #[test]
    fn conninfo_and_url_parse_to_the_same_settings() {
        let a = src(
            "host=db-old port=5433 dbname=orders user=migrator password=s3cret sslmode=require",
        );
        let b = src("postgres://migrator:s3cret@db-old:5433/orders?sslmode=require");
        for s in [&a, &b] {
            assert_eq!(s.endpoint(), "db-old:5433 dbname=orders user=migrator");
            assert_eq!(s.config().get_password(), Some(&b"s3cret"[..]));
            assert_eq!(s.tls().mode, SslMode::Require);
            assert_eq!(s.config().get_application_name(), Some("cutover"));
            assert_eq!(s.connect_timeout(), DEFAULT_CONNECT_TIMEOUT);
            assert_eq!(s.password_source(), &PasswordSource::Dsn);
            assert!(!s.display().contains("s3cret"), "{}", s.display());
        }
        assert_eq!(
            a.display(),
            "host=db-old port=5433 dbname=orders user=migrator password=•••• sslmode=require"
        );
        assert_eq!(
            b.display(),
            "postgres://migrator:••••@db-old:5433/orders?sslmode=require"
        );
    }

    /// A server that has gone is noticed within about a minute (the driver alone waits 2
    /// hours); what the DSN sets of it, conninfo or URL, is kept.
    #[test]
    fn a_gone_server_is_noticed_within_a_minute_unless_the_dsn_says_otherwise() {
        for s in [src("host=db"), src("postgres://db/x")] {
            let c = s.config();
            assert_eq!(c.get_keepalives_idle(), KEEPALIVES_IDLE);
            assert_eq!(c.get_keepalives_interval(), Some(KEEPALIVES_INTERVAL));
            assert_eq!(c.get_keepalives_retries(), Some(KEEPALIVES_RETRIES));
            assert_eq!(c.get_tcp_user_timeout(), Some(&TCP_USER_TIMEOUT));
            assert!(c.get_keepalives());
        }
        for s in [
            src(
                "host=db keepalives_idle=600 keepalives_interval=5 keepalives_retries=9 tcp_user_timeout=0",
            ),
            src(
                "postgres://db/x?keepalives_idle=600&keepalives_interval=5&keepalives_retries=9&tcp_user_timeout=0",
            ),
        ] {
            let c = s.config();
            assert_eq!(c.get_keepalives_idle(), Duration::from_secs(600));
            assert_eq!(c.get_keepalives_interval(), Some(Duration::from_secs(5)));
            assert_eq!(c.get_keepalives_retries(), Some(9));
            assert_eq!(c.get_tcp_user_timeout(), None, "0: none, as libpq reads it");
        }
        let off = src("host=db keepalives=0");
        assert!(!off.config().get_keepalives());
        assert_eq!(
            off.config().get_tcp_user_timeout(),
            None,
            "keepalives=0: no watch"
        );
    }

    #[test]
    fn environment_fills_what_the_dsn_leaves_out() {
        let e = env(&[
            ("PGHOST", "envhost"),
            ("PGPORT", "6000"),
            ("PGUSER", "envuser"),
            ("PGDATABASE", "envdb"),
            ("PGPASSWORD", "envpw"),
            ("PGSSLMODE", "verify-full"),
            ("PGSSLROOTCERT", "system"),
            ("PGCONNECT_TIMEOUT", "3"),
            ("PGAPPNAME", "envapp"),
        ]);
        let s = ConnSettings::parse_with_env("t", "", &e).unwrap();
        assert_eq!(s.endpoint(), "envhost:6000 dbname=envdb user=envuser");
        assert_eq!(s.config().get_password(), Some(&b"envpw"[..]));
        assert_eq!(s.password_source(), &PasswordSource::Env);
        assert_eq!(s.tls().mode, SslMode::VerifyFull);
        assert_eq!(s.connect_timeout(), Duration::from_secs(3));
        assert_eq!(s.config().get_application_name(), Some("envapp"));
        // The DSN wins over the environment.
        let s = ConnSettings::parse_with_env(
            "t",
            "host=dsnhost user=dsnuser dbname=dsndb sslmode=disable connect_timeout=7 application_name=mine",
            &e,
        )
        .unwrap();
        assert_eq!(s.endpoint(), "dsnhost:6000 dbname=dsndb user=dsnuser");
        assert_eq!(s.tls().mode, SslMode::Disable);
        assert_eq!(s.connect_timeout(), Duration::from_secs(7));
        assert_eq!(s.config().get_application_name(), Some("mine"));
        // fallback_application_name only applies when nothing else names the application.
        let s = ConnSettings::parse_with_env("t", "host=h fallback_application_name=fb", &env(&[]))
            .unwrap();
        assert_eq!(s.config().get_application_name(), Some("fb"));
    }

    #[test]
    fn pgpass_supplies_the_password() {
        use crate::pgpass::tests::passfile;
        let t = tempfile::tempdir().unwrap();
        let line = "db:5432:orders:migrator:frompass\n";
        let f = passfile(t.path(), "pgpass", line, 0o600);
        let path = f.display().to_string();
        let e = env(&[("PGPASSFILE", path.as_str())]);
        let s =
            ConnSettings::parse_with_env("t", "host=db dbname=orders user=migrator", &e).unwrap();
        assert_eq!(s.config().get_password(), Some(&b"frompass"[..]));
        assert_eq!(s.password_source(), &PasswordSource::Passfile(f.clone()));
        // passfile= in the DSN wins; a world-readable file is ignored with a note.
        let g = passfile(t.path(), "open", "*:*:*:*:nope\n", 0o644);
        let dsn = format!(
            "host=db dbname=orders user=migrator passfile={}",
            g.display()
        );
        let s = ConnSettings::parse_with_env("t", &dsn, &e).unwrap();
        assert_eq!(s.config().get_password(), None);
        assert!(s.notes()[0].contains("0600"), "{:?}", s.notes());
        let err = s.failure(FailureKind::Auth, "password authentication failed".into());
        assert!(err.to_string().contains("0600"), "{err}");
    }

    #[test]
    fn bad_dsns_are_explained_without_the_password() {
        let e = env(&[]);
        let err = ConnSettings::parse_with_env("src", "host=db password=hunter2 port=x", &e)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("connection `src`:"), "{err}");
        assert!(err.contains("port"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = ConnSettings::parse_with_env("src", "host=db sslmode=verify_full", &e)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("option `sslmode`") && err.contains("verify-full"),
            "{err}"
        );
        let err = ConnSettings::parse_with_env("src", "postgres://u:hunter2@db/x?bogus=1", &e)
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("bogus"), "{err}");
    }

    #[test]
    fn failures_mask_the_password() {
        let s = src("host=db password=hunter2");
        let e = s.failure(FailureKind::Other, "echo hunter2 back".into());
        assert!(!e.to_string().contains("hunter2"), "{e}");
        assert!(
            e.to_string().starts_with("connection `src` (db:5432"),
            "{e}"
        );
    }

    #[test]
    fn an_unparseable_dsn_is_never_shown() {
        let e =
            ConnSettings::parse_with_env("src", "host=db password='hunter2 dbname=x", &|_| None)
                .expect_err("unterminated quote");
        let shown = e.to_string();
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains(NOT_SHOWN), "{shown}");
    }

    #[test]
    fn from_template_shows_secrets_masked() {
        let t = Template::parse(
            "host=db user=u password=${secrets.PW}",
            &BTreeMap::new(),
            &["PW".to_string()],
        )
        .unwrap();
        let secrets = BTreeMap::from([("PW".to_string(), "hunter2".to_string())]);
        let s = ConnSettings::from_template("src", &t, &secrets).unwrap();
        assert_eq!(s.config().get_password(), Some(&b"hunter2"[..]));
        assert!(!s.display().contains("hunter2"));
    }

    /// A secret holding spaces, quotes, backslashes or `key=value` is one password to the
    /// driver: it neither breaks the DSN nor adds options (it connected to another database).
    #[test]
    fn a_hostile_secret_is_one_password_to_the_driver() {
        for dsn in [
            "host=db user=u password=${secrets.PW} dbname=app",
            "host=db user=u password='${secrets.PW}' dbname=app",
            "postgres://u:${secrets.PW}@db/app",
        ] {
            let t = Template::parse(dsn, &BTreeMap::new(), &["PW".to_string()]).unwrap();
            for pw in ["secret dbname=postgres", "a\\b", "a'b c\\d$e#f\"g", ""] {
                let secrets = BTreeMap::from([("PW".to_string(), pw.to_string())]);
                let s = ConnSettings::from_template("src", &t, &secrets)
                    .unwrap_or_else(|e| panic!("{dsn} with {pw:?}: {e}"));
                assert_eq!(s.config().get_password(), Some(pw.as_bytes()), "{dsn}");
                assert_eq!(s.config().get_dbname(), Some("app"), "{dsn} with {pw:?}");
            }
        }
    }
}

/// A message a server sent beside a query's answer: `NOTICE`, `WARNING`, `INFO`…
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerNotice {
    /// `NOTICE`, `WARNING`, … (as the server names it).
    pub severity: String,
    /// The message.
    pub message: String,
}

/// Notices a session keeps unread at most ([`ConnSettings::connect_with_notices`]).
pub const NOTICES_KEPT: usize = 1000;
