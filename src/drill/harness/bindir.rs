//! Finding the PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`, ...).
//!
//! Search order: an explicit directory (`--pg-bindir`), `PG_BINDIR`, every `PATH` entry,
//! `/usr/lib/postgresql/*/bin` (newest major version first), `/usr/local/pgsql/bin`.
//! A directory qualifies when it holds `initdb`, `pg_ctl` and `postgres`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

/// The programs a directory must hold to count as a PostgreSQL server bin directory.
pub const REQUIRED: [&str; 3] = ["initdb", "pg_ctl", "postgres"];

/// Where Debian/Ubuntu packages install the server binaries, one directory per major version.
pub const DEBIAN_ROOT: &str = "/usr/lib/postgresql";
/// Where a source build installs by default.
pub const SOURCE_BUILD_DIR: &str = "/usr/local/pgsql/bin";

/// A directory holding the PostgreSQL server binaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgBin {
    dir: PathBuf,
}

/// One place that was searched, for the "not found" message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Looked {
    /// Where the candidate came from (`--pg-bindir`, `PG_BINDIR`, `PATH`, ...).
    pub origin: String,
    /// The directory, or a pattern when nothing matched it.
    pub dir: String,
    /// Why it did not qualify.
    pub why: String,
}

/// No directory with the server binaries was found.
#[derive(Debug, Clone, thiserror::Error)]
pub struct BinDirNotFound {
    /// Every place searched, in order.
    pub looked: Vec<Looked>,
}

impl fmt::Display for BinDirNotFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "PostgreSQL server binaries ({}) not found; looked in:",
            REQUIRED.join(", ")
        )?;
        for l in &self.looked {
            writeln!(f, "  - {} {}: {}", l.origin, l.dir, l.why)?;
        }
        write!(
            f,
            "install them (Debian/Ubuntu: apt-get install -y postgresql) or point PG_BINDIR at the directory holding initdb"
        )
    }
}

impl PgBin {
    /// Uses `dir` as is, without checking it.
    pub fn at(dir: impl Into<PathBuf>) -> PgBin {
        PgBin { dir: dir.into() }
    }

    /// Finds the binaries: `explicit`, then `PG_BINDIR`, `PATH`, `/usr/lib/postgresql/*/bin`
    /// (newest first), `/usr/local/pgsql/bin`.
    pub fn find(explicit: Option<&Path>) -> Result<PgBin, BinDirNotFound> {
        Self::find_in(
            explicit,
            std::env::var_os("PG_BINDIR"),
            std::env::var_os("PATH"),
            Path::new(DEBIAN_ROOT),
            Path::new(SOURCE_BUILD_DIR),
        )
    }

    /// [`PgBin::find`] with every input given (for tests and unusual layouts).
    pub fn find_in(
        explicit: Option<&Path>,
        pg_bindir: Option<OsString>,
        path: Option<OsString>,
        debian_root: &Path,
        source_build: &Path,
    ) -> Result<PgBin, BinDirNotFound> {
        let mut looked = Vec::new();
        let try_dir = |origin: &str, dir: &Path, looked: &mut Vec<Looked>| match missing(dir) {
            None => Some(PgBin::at(dir)),
            Some(why) => {
                looked.push(Looked {
                    origin: origin.to_string(),
                    dir: dir.display().to_string(),
                    why,
                });
                None
            }
        };
        if let Some(d) = explicit
            && let Some(b) = try_dir("--pg-bindir", d, &mut looked)
        {
            return Ok(b);
        }
        match pg_bindir.filter(|v| !v.is_empty()) {
            Some(d) => {
                if let Some(b) = try_dir("PG_BINDIR", Path::new(&d), &mut looked) {
                    return Ok(b);
                }
            }
            None => looked.push(Looked {
                origin: "PG_BINDIR".into(),
                dir: String::new(),
                why: "not set".into(),
            }),
        }
        let path_dirs: Vec<PathBuf> = path
            .as_ref()
            .map(|p| std::env::split_paths(p).collect())
            .unwrap_or_default();
        let mut path_hit = None;
        for d in &path_dirs {
            if missing(d).is_none() {
                path_hit = Some(PgBin::at(real_dir(d)));
                break;
            }
        }
        if let Some(b) = path_hit {
            return Ok(b);
        }
        looked.push(Looked {
            origin: "PATH".into(),
            dir: format!("({} directories)", path_dirs.len()),
            why: "no directory with initdb".into(),
        });
        let versions = versioned_dirs(debian_root);
        if versions.is_empty() {
            looked.push(Looked {
                origin: "packages".into(),
                dir: format!("{}/*/bin", debian_root.display()),
                why: "no such directory".into(),
            });
        }
        for d in versions {
            if let Some(b) = try_dir("packages", &d, &mut looked) {
                return Ok(b);
            }
        }
        if let Some(b) = try_dir("source build", source_build, &mut looked) {
            return Ok(b);
        }
        Err(BinDirNotFound { looked })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Path of one program in the directory (`initdb`, `pg_basebackup`, `pgbench`, ...).
    pub fn tool(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    /// Whether the directory holds `name`.
    pub fn has(&self, name: &str) -> bool {
        is_executable(&self.tool(name))
    }

    /// The major version, read from the `postgres --version` output.
    pub fn major_version(&self) -> Option<u32> {
        let out = std::process::Command::new(self.tool("postgres"))
            .arg("--version")
            .output()
            .ok()?;
        parse_major(&String::from_utf8_lossy(&out.stdout))
    }
}

/// `postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)` → 15.
fn parse_major(version_line: &str) -> Option<u32> {
    let v = version_line.split(')').nth(1)?.split_whitespace().next()?;
    v.split(['.', 'b', 'r', 'd']).next()?.parse().ok()
}

/// Where `dir/initdb` really lives: `PATH` often holds symlinks (`/usr/local/bin/initdb ->
/// /usr/lib/postgresql/15/bin/initdb`), and the companions (`pg_basebackup`, `pgbench`) are
/// only in the real directory.
fn real_dir(dir: &Path) -> PathBuf {
    std::fs::canonicalize(dir.join("initdb"))
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .filter(|real| missing(real).is_none())
        .unwrap_or_else(|| dir.to_path_buf())
}

/// Which required program is missing from `dir`, if any.
fn missing(dir: &Path) -> Option<String> {
    if !dir.is_dir() {
        return Some("no such directory".into());
    }
    let absent: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|p| !is_executable(&dir.join(p)))
        .collect();
    (!absent.is_empty()).then(|| format!("no {}", absent.join(", ")))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `root/<version>/bin` directories, newest version first (numeric order: 16 before 9.6).
fn versioned_dirs(root: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut v: Vec<(Vec<u32>, PathBuf)> = rd
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let key: Vec<u32> = name
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            Some((key, e.path().join("bin")))
        })
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0));
    v.into_iter().map(|(_, p)| p).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_bindir(dir: &Path, progs: &[&str]) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::create_dir_all(dir).unwrap();
        for p in progs {
            let f = dir.join(p);
            std::fs::write(&f, "#!/bin/sh\n").unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    #[test]
    fn order_is_explicit_env_path_packages_newest_first_then_source_build() {
        let t = tempfile::tempdir().unwrap();
        let deb = t.path().join("deb");
        for v in ["9.6", "13", "16"] {
            fake_bindir(&deb.join(v).join("bin"), &REQUIRED);
        }
        let src = t.path().join("src");
        fake_bindir(&src, &REQUIRED);
        let explicit = t.path().join("explicit");
        fake_bindir(&explicit, &REQUIRED);
        let env = t.path().join("env");
        fake_bindir(&env, &REQUIRED);
        let onpath = t.path().join("onpath");
        fake_bindir(&onpath, &REQUIRED);
        let path = std::env::join_paths([t.path().join("nothing"), onpath.clone()]).unwrap();

        let f = |e: Option<&Path>, b: Option<&Path>, p: Option<OsString>, d: &Path, s: &Path| {
            PgBin::find_in(e, b.map(|b| b.as_os_str().to_owned()), p, d, s).map(|b| b.dir)
        };
        let none = t.path().join("none");
        assert_eq!(
            f(Some(&explicit), Some(&env), Some(path.clone()), &deb, &src).unwrap(),
            explicit
        );
        assert_eq!(
            f(None, Some(&env), Some(path.clone()), &deb, &src).unwrap(),
            env
        );
        assert_eq!(f(None, None, Some(path), &deb, &src).unwrap(), onpath);
        assert_eq!(
            f(None, None, None, &deb, &src).unwrap(),
            deb.join("16").join("bin")
        );
        assert_eq!(f(None, None, None, &none, &src).unwrap(), src);
    }

    #[test]
    fn incomplete_dirs_are_skipped_and_the_error_says_where_it_looked() {
        let t = tempfile::tempdir().unwrap();
        let deb = t.path().join("deb");
        fake_bindir(&deb.join("17").join("bin"), &["pg_ctl"]);
        let err = PgBin::find_in(
            Some(&t.path().join("given")),
            None,
            Some(OsString::from("/nonexistent-a:/nonexistent-b")),
            &deb,
            &t.path().join("srcbuild"),
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("--pg-bindir"), "{msg}");
        assert!(msg.contains("PG_BINDIR"), "{msg}");
        assert!(msg.contains("PATH (2 directories)"), "{msg}");
        assert!(msg.contains("17/bin: no initdb, postgres"), "{msg}");
        assert!(msg.contains("srcbuild: no such directory"), "{msg}");
        assert!(msg.contains("apt-get install -y postgresql"), "{msg}");
    }

    #[test]
    fn symlinks_on_path_lead_to_the_real_directory() {
        let t = tempfile::tempdir().unwrap();
        let real = t.path().join("pg/15/bin");
        fake_bindir(&real, &[&REQUIRED[..], &["pg_basebackup"]].concat());
        let links = t.path().join("links");
        std::fs::create_dir(&links).unwrap();
        for p in REQUIRED {
            std::os::unix::fs::symlink(real.join(p), links.join(p)).unwrap();
        }
        let found = PgBin::find_in(
            None,
            None,
            Some(links.clone().into_os_string()),
            &t.path().join("none"),
            &t.path().join("none"),
        )
        .unwrap();
        assert_eq!(found.dir(), std::fs::canonicalize(&real).unwrap());
        assert!(found.has("pg_basebackup"));
    }

    #[test]
    fn parses_major_version() {
        assert_eq!(
            parse_major("postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(parse_major("postgres (PostgreSQL) 17beta1"), Some(17));
        assert_eq!(parse_major("postgres (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_major("garbage"), None);
    }
}
