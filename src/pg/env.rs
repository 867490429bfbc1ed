//! The `PG*` environment variables, as libpq reads them, filling in what a DSN leaves out.

use std::path::Path;
use std::time::Duration;

use tokio_postgres::Config;

use crate::conn::{DEFAULT_APPLICATION_NAME, DEFAULT_CONNECT_TIMEOUT};
use crate::conninfo::Split;

/// The environment as libpq reads it: a variable set to the empty string counts as unset.
pub(crate) struct Env<'a>(pub(crate) &'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    /// The variable's value, unless it is unset or empty.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        (self.0)(key).filter(|v| !v.is_empty())
    }
}

/// Fills in what the DSN leaves out from the `PG*` variables, else libpq's defaults.
pub(crate) fn env_defaults(
    config: &mut Config,
    split: &Split,
    env: &Env<'_>,
) -> Result<(), String> {
    if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
        hosts_from_env(config, env)?;
    }
    if config.get_ports().is_empty() {
        ports_from_env(config, env)?;
    }
    session_from_env(config, split, env);
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(connect_timeout_from_env(env)?);
    }
    Ok(())
}

/// `PGHOST` (else [`default_host`]) and `PGHOSTADDR`, each a comma-separated list.
fn hosts_from_env(config: &mut Config, env: &Env<'_>) -> Result<(), String> {
    match env.get("PGHOST") {
        Some(hosts) => {
            for h in hosts.split(',') {
                config.host(h);
            }
        }
        None => {
            config.host(default_host());
        }
    }
    if let Some(addrs) = env.get("PGHOSTADDR") {
        for a in addrs.split(',') {
            let ip = a.parse().map_err(|_| format!("invalid PGHOSTADDR {a:?}"))?;
            config.hostaddr(ip);
        }
    }
    Ok(())
}

/// `PGPORT`, a comma-separated list.
fn ports_from_env(config: &mut Config, env: &Env<'_>) -> Result<(), String> {
    if let Some(ports) = env.get("PGPORT") {
        for p in ports.split(',') {
            let port = p
                .trim()
                .parse()
                .map_err(|_| format!("invalid PGPORT {p:?}"))?;
            config.port(port);
        }
    }
    Ok(())
}

/// Who connects to what, each unless the DSN says: `PGUSER` (else the OS user),
/// `PGDATABASE`, `PGOPTIONS`, and `PGAPPNAME` (else the DSN's `fallback_application_name`,
/// else [`DEFAULT_APPLICATION_NAME`]).
fn session_from_env(config: &mut Config, split: &Split, env: &Env<'_>) {
    if config.get_user().is_none()
        && let Some(u) = env
            .get("PGUSER")
            .or_else(cutover_model::host::current_user_name)
    {
        config.user(u);
    }
    if config.get_dbname().is_none()
        && let Some(d) = env.get("PGDATABASE")
    {
        config.dbname(d);
    }
    if config.get_options().is_none()
        && let Some(o) = env.get("PGOPTIONS")
    {
        config.options(o);
    }
    if config.get_application_name().is_none() {
        let app = env
            .get("PGAPPNAME")
            .or_else(|| split.get("fallback_application_name").map(str::to_string))
            .unwrap_or_else(|| DEFAULT_APPLICATION_NAME.to_string());
        config.application_name(app);
    }
}

/// `PGCONNECT_TIMEOUT` in seconds, raised to 2 as libpq does; unset or 0 is
/// [`DEFAULT_CONNECT_TIMEOUT`].
fn connect_timeout_from_env(env: &Env<'_>) -> Result<Duration, String> {
    let Some(v) = env.get("PGCONNECT_TIMEOUT") else {
        return Ok(DEFAULT_CONNECT_TIMEOUT);
    };
    match v.trim().parse::<u64>() {
        Ok(0) => Ok(DEFAULT_CONNECT_TIMEOUT),
        Ok(n) => Ok(Duration::from_secs(n.max(2))),
        Err(_) => Err(format!("invalid PGCONNECT_TIMEOUT {v:?}")),
    }
}

/// libpq's default: the Debian socket directory, else `/tmp`, else TCP to localhost.
fn default_host() -> String {
    for d in ["/var/run/postgresql", "/tmp"] {
        if Path::new(d).is_dir() {
            return d.to_string();
        }
    }
    "localhost".to_string()
}
