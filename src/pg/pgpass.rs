//! The libpq password file (`~/.pgpass`, or `PGPASSFILE` / `passfile=`).
//!
//! Each line is `hostname:port:database:username:password`; `*` in one of the first four
//! fields matches anything; `\:` and `\\` stand for a literal `:` and `\`; lines starting with
//! `#` are comments; the first matching line wins. As with libpq, a file readable by group or
//! others is ignored (with a warning), and a unix-socket host is looked up as `localhost`.

use std::path::{Path, PathBuf};

/// What a password is looked up by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PgpassKey<'a> {
    /// Host name, or a socket directory (matched as `localhost`).
    pub host: &'a str,
    /// The port connected to (5432 unless the DSN says otherwise).
    pub port: u16,
    /// The database connected to.
    pub database: &'a str,
    /// The user connecting.
    pub user: &'a str,
}

/// The password file to read: `passfile` if given, else `PGPASSFILE`, else `$HOME/.pgpass`.
pub fn path(passfile: Option<&str>, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(p) = passfile.filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = env("PGPASSFILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    env("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| Path::new(&h).join(".pgpass"))
}

/// Looks `key` up in the text of a password file.
pub fn lookup(text: &str, key: PgpassKey<'_>) -> Option<String> {
    let host = if key.host.is_empty() || key.host.starts_with('/') {
        "localhost"
    } else {
        key.host
    };
    let port = key.port.to_string();
    let want = [host, port.as_str(), key.database, key.user];
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields = fields(line);
        if fields.len() < 5 {
            continue;
        }
        let matches = fields[..4]
            .iter()
            .zip(want)
            .all(|(f, w)| f == "*" || f == w);
        if matches {
            return Some(fields[4].clone());
        }
    }
    None
}

/// Splits a line at unescaped colons, unescaping `\:` and `\\`; the fifth field takes the rest.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            ':' if out.len() < 4 => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Why a password file was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Ignored {
    /// Group or others can read it; libpq ignores such files too.
    #[error(
        "password file {0} has group or world access; permissions should be u=rw (0600) or less, so it is ignored"
    )]
    Permissions(String),
    /// It is not a plain file.
    #[error("password file {0} is not a plain file, so it is ignored")]
    NotAFile(String),
    /// It could not be read.
    #[error("password file {0} cannot be read: {1}")]
    Unreadable(String, String),
}

/// Reads the password file at `path` and looks `key` up. A missing file is `Ok(None)`.
pub fn lookup_file(path: &Path, key: PgpassKey<'_>) -> Result<Option<String>, Ignored> {
    use std::os::unix::fs::PermissionsExt;
    let shown = path.display().to_string();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Ignored::Unreadable(shown, e.to_string())),
    };
    if !meta.is_file() {
        return Err(Ignored::NotAFile(shown));
    }
    if meta.permissions().mode() & 0o077 != 0 {
        return Err(Ignored::Permissions(shown));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| Ignored::Unreadable(shown, e.to_string()))?;
    Ok(lookup(&text, key))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Writes `text` as the password file `dir/name` with permission bits `mode`: its path.
    pub(crate) fn passfile(dir: &Path, name: &str, text: &str, mode: u32) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let f = dir.join(name);
        std::fs::write(&f, text).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
        f
    }

    fn key<'a>(host: &'a str, port: u16, database: &'a str, user: &'a str) -> PgpassKey<'a> {
        PgpassKey {
            host,
            port,
            database,
            user,
        }
    }

    const FILE: &str = "\
# comment line
db-old:5432:orders:migrator:first
db-old:*:*:migrator:second
db\\:v6:5432:*:*:esc\\:aped\\\\pw:with:colons
localhost:5433:*:postgres:socketpw
*:*:*:*:fallback
";

    #[test]
    fn first_match_wins_with_wildcards_and_escapes() {
        for (k, want) in [
            (key("db-old", 5432, "orders", "migrator"), "first"),
            (key("db-old", 6543, "other", "migrator"), "second"),
            (key("db:v6", 5432, "x", "y"), "esc:aped\\pw:with:colons"),
            (
                key("/var/run/postgresql", 5433, "x", "postgres"),
                "socketpw",
            ),
            (key("elsewhere", 1, "d", "u"), "fallback"),
        ] {
            assert_eq!(lookup(FILE, k).as_deref(), Some(want));
        }
        assert_eq!(lookup("db:5432:d:u\n", key("db", 5432, "d", "u")), None);
    }

    #[test]
    fn file_permissions_and_path_rules() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile::tempdir().unwrap();
        let f = passfile(t.path(), "pgpass", "*:*:*:*:pw\n", 0o600);
        let k = key("h", 5432, "d", "u");
        assert_eq!(lookup_file(&f, k).unwrap().as_deref(), Some("pw"));
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(lookup_file(&f, k), Err(Ignored::Permissions(_))));
        assert_eq!(lookup_file(&t.path().join("absent"), k), Ok(None));
        assert!(matches!(
            lookup_file(t.path(), k),
            Err(Ignored::NotAFile(_))
        ));

        let env = |k: &str| match k {
            "PGPASSFILE" => Some("/env/pgpass".to_string()),
            "HOME" => Some("/home/me".to_string()),
            _ => None,
        };
        let no_passfile = |k: &str| (k == "HOME").then(|| "/home/me".to_string());
        assert_eq!(path(Some("/given"), &env), Some(PathBuf::from("/given")));
        assert_eq!(path(None, &env), Some(PathBuf::from("/env/pgpass")));
        assert_eq!(
            path(None, &no_passfile),
            Some(PathBuf::from("/home/me/.pgpass"))
        );
    }
}
