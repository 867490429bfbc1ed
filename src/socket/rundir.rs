//! Where detached runs listen, and the list of them (`cutover ls`).
//!
//! One directory per user: `$XDG_RUNTIME_DIR/cutover/` when set, else `/tmp/cutover-$UID/`;
//! mode 0700 and owned by the user (anything else is refused). A run `ID` (its journal's file
//! name without the extension) has `ID.sock` (0600) and `ID.json`, its description, which
//! stays when the engine dies so `cutover ls` can say how to resume it. A run may also be
//! shared with one unix group for watching: `/tmp/cutover-$UID-shared/ID.sock` (directory
//! 0710 and socket 0660, both of that group).
// `unsafe` here: geteuid through libc; each block says why it is sound.
#![allow(unsafe_code)]

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use cutover_model::file::create_private;
use cutover_model::proc_stat::ProcStat;
use serde::{Deserialize, Serialize};

/// Why the run directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    /// The directory or a file in it could not be created, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The directory exists but is not private to this user.
    #[error(
        "{path} is not a private directory of this user (owner uid {owner}, mode {mode:o}): refusing to put a run's socket there"
    )]
    Unsafe {
        /// The path.
        path: String,
        /// Its owner.
        owner: u32,
        /// Its permission bits.
        mode: u32,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RunDirError + '_ {
    move |source| RunDirError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// This process's effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid has no failure mode and touches no memory.
    unsafe { libc::geteuid() }
}

/// The directory of this user's runs (not created).
pub fn runs_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d).join("cutover"),
        None => PathBuf::from(format!("/tmp/cutover-{}", euid())),
    }
}

/// The directory a user shares runs with a group in (not created).
pub fn shared_dir(uid: u32) -> PathBuf {
    PathBuf::from(format!("/tmp/cutover-{uid}-shared"))
}

/// Creates (or checks) this user's run directory: a directory owned by the user, mode 0700.
pub fn prepare() -> Result<PathBuf, RunDirError> {
    let dir = runs_dir();
    private_dir(&dir, 0o700, None)?;
    Ok(dir)
}

/// Creates (or checks) `name`, a directory of this user's inside the run directory (mode
/// 0700): where a fleet's members listen, out of `cutover ls`'s sight.
pub fn prepare_sub(name: &str) -> Result<PathBuf, RunDirError> {
    let dir = prepare()?.join(name);
    private_dir(&dir, 0o700, None)?;
    Ok(dir)
}

/// Creates (or checks) the directory shared with group `gid`: owned by the user, group
/// `gid`, mode 0710 (members may reach a socket by name, not list the directory).
pub fn prepare_shared(gid: u32) -> Result<PathBuf, RunDirError> {
    let dir = shared_dir(euid());
    private_dir(&dir, 0o710, Some(gid))?;
    Ok(dir)
}

fn private_dir(dir: &Path, mode: u32, gid: Option<u32>) -> Result<(), RunDirError> {
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => {
            // `$XDG_RUNTIME_DIR` itself may need creating by us only in odd setups.
            if let Some(parent) = dir.parent() {
                std::fs::DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(parent)
                    .map_err(io(parent))?;
                std::fs::DirBuilder::new()
                    .mode(mode)
                    .create(dir)
                    .map_err(io(dir))?;
            } else {
                return Err(io(dir)(e));
            }
        }
    }
    if let Some(g) = gid {
        std::os::unix::fs::chown(dir, None, Some(g)).map_err(io(dir))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(io(dir))?;
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io(dir))?;
    let bits = meta.mode() & 0o777;
    if !meta.is_dir() || meta.uid() != euid() || bits != mode {
        return Err(RunDirError::Unsafe {
            path: dir.display().to_string(),
            owner: meta.uid(),
            mode: bits,
        });
    }
    Ok(())
}

/// A run's socket in `dir`.
pub fn socket_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.sock"))
}

/// A run's description file in `dir`.
pub fn meta_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.json"))
}

/// What a run directory says about a run, written by its engine at start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMeta {
    /// The run's id.
    pub id: String,
    /// The engine's process id.
    pub pid: u32,
    /// When that process started (clock ticks since boot, from `/proc/PID/stat`): tells the
    /// engine from a process that reused its pid.
    #[serde(default)]
    pub pid_start: Option<u64>,
    /// The journal's absolute path.
    pub journal: String,
    /// The runbook's name.
    pub runbook: String,
    /// When the engine started.
    pub started_at: DateTime<Utc>,
    /// Whether the run can be resumed from its journal should it end early (not a drill whose
    /// clusters go with its engine).
    #[serde(default = "resumable_default")]
    pub resumable: bool,
    /// A fleet's engine (its socket speaks the fleet's protocol: lanes, not one run's events).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fleet: bool,
}

fn resumable_default() -> bool {
    true
}

/// Writes `meta` as `ID.json` (0600, replacing an older one at once).
pub fn write_meta(dir: &Path, meta: &RunMeta) -> Result<(), RunDirError> {
    let path = meta_path(dir, &meta.id);
    let tmp = dir.join(format!(".{}.json.tmp", meta.id));
    let body = serde_json::to_vec_pretty(meta).map_err(|e| io(&path)(std::io::Error::other(e)))?;
    let _ = std::fs::remove_file(&tmp);
    let mut f = create_private(&tmp).map_err(io(&tmp))?;
    std::io::Write::write_all(&mut f, &body).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io(&path))
}

/// The largest run description read (a real one is a few hundred bytes).
pub const META_MAX: u64 = 64 * 1024;

/// Every run description in `dir` (see [`read_metas_noting`]; what was wrong is dropped).
pub fn read_metas(dir: &Path) -> Vec<RunMeta> {
    read_metas_noting(dir).0
}

/// Every run description in `dir`, and a line for each `.json` there that is not one: a FIFO,
/// a device or a link to one, a file over [`META_MAX`], text that does not parse. Each is
/// opened without following a link and without blocking, and read up to the cap: a hostile
/// entry can neither hang `ls` nor fill its memory.
pub fn read_metas_noting(dir: &Path) -> (Vec<RunMeta>, Vec<String>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return (Vec::new(), Vec::new());
    };
    let (mut out, mut wrong) = (Vec::new(), Vec::new());
    for e in rd.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        match read_meta_file(&path) {
            Ok(m) => out.push(m),
            Err(why) => wrong.push(format!(
                "{}: {why}; skipped",
                cutover_model::text::plain(&path.display().to_string())
            )),
        }
    }
    out.sort_by_key(|m: &RunMeta| m.started_at);
    (out, wrong)
}

/// One run description, read as [`read_metas_noting`] says.
pub(crate) fn read_meta_file(path: &Path) -> Result<RunMeta, String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => "a symbolic link, not a run description".to_string(),
            _ => e.to_string(),
        })?;
    let md = f.metadata().map_err(|e| e.to_string())?;
    if !md.is_file() {
        return Err("not a regular file".into());
    }
    if md.len() > META_MAX {
        return Err(format!(
            "{} bytes, more than a run description holds",
            md.len()
        ));
    }
    let mut body = Vec::new();
    f.take(META_MAX + 1)
        .read_to_end(&mut body)
        .map_err(|e| e.to_string())?;
    if body.len() as u64 > META_MAX {
        return Err("more than a run description holds".into());
    }
    serde_json::from_slice(&body).map_err(|e| format!("not a run description ({e})"))
}

/// Removes a run's socket and description (its engine ended normally).
pub fn remove(dir: &Path, id: &str) {
    let _ = std::fs::remove_file(socket_path(dir, id));
    let _ = std::fs::remove_file(meta_path(dir, id));
}

/// When process `pid` started, in clock ticks since boot.
pub fn start_time(pid: u32) -> Option<u64> {
    ProcStat::read(pid)?.start_time()
}

/// Whether process `pid` is alive (not a zombie) and, when `started` is given, is the process
/// that started then (clock ticks since boot), not a later one given the same pid: one
/// reading of its `stat`.
pub fn still_running(pid: u32, started: Option<u64>) -> bool {
    ProcStat::read(pid)
        .is_some_and(|s| s.is_live() && started.is_none_or(|t| s.start_time() == Some(t)))
}

/// Whether the engine `meta` describes is alive (its pid alive, and not reused since).
pub fn engine_alive(meta: &RunMeta) -> bool {
    still_running(meta.pid, meta.pid_start)
}

/// The run ids of `dir` that a front end may mean: all of them; the one whose id is exactly
/// `prefix` (`j` when `j-2` runs too); else the ones starting with `prefix`.
pub fn matching<'a>(metas: &'a [RunMeta], prefix: Option<&str>) -> Vec<&'a RunMeta> {
    if let Some(exact) = prefix.and_then(|p| metas.iter().find(|m| m.id == p)) {
        return vec![exact];
    }
    metas
        .iter()
        .filter(|m| prefix.is_none_or(|p| m.id.starts_with(p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_directory_is_private_and_a_loose_one_is_refused() {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("cutover");
        private_dir(&dir, 0o700, None).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert!(matches!(
            private_dir(&dir, 0o700, None),
            Err(RunDirError::Unsafe { mode: 0o755, .. })
        ));
    }

    #[test]
    fn descriptions_round_trip_and_ids_stay_free_of_live_runs() {
        let dir = tempfile::tempdir().unwrap();
        let meta = RunMeta {
            id: "run".into(),
            pid: std::process::id(),
            pid_start: start_time(std::process::id()),
            journal: "/j/run.jsonl".into(),
            runbook: "orders".into(),
            started_at: Utc::now(),
            resumable: true,
            fleet: false,
        };
        write_meta(dir.path(), &meta).unwrap();
        assert_eq!(read_metas(dir.path()), vec![meta.clone()]);
        let mode = std::fs::metadata(meta_path(dir.path(), "run"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // This process is alive: the id is taken.
        assert_eq!(crate::claim::claim_id(dir.path(), "run").0, "run-2");
        // A dead engine's id is free again; so is one whose pid another process took since.
        let reused = RunMeta {
            pid_start: meta.pid_start.map(|t| t + 1),
            ..meta.clone()
        };
        write_meta(dir.path(), &reused).unwrap();
        assert_eq!(crate::claim::claim_id(dir.path(), "run").0, "run");
        write_meta(
            dir.path(),
            &RunMeta {
                pid: 999_999_999,
                ..meta
            },
        )
        .unwrap();
        assert_eq!(crate::claim::claim_id(dir.path(), "run").0, "run");
    }

    #[test]
    fn hostile_descriptions_are_named_and_skipped_without_hanging() {
        let dir = tempfile::tempdir().unwrap();
        let meta = RunMeta {
            id: "j".into(),
            pid: 1,
            pid_start: None,
            journal: "/j.jsonl".into(),
            runbook: "r".into(),
            started_at: Utc::now(),
            resumable: true,
            fleet: false,
        };
        write_meta(dir.path(), &meta).unwrap();
        let fifo = std::ffi::CString::new(dir.path().join("fifo.json").to_str().unwrap()).unwrap();
        // SAFETY: a valid path; mkfifo only makes the node.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.json")).unwrap();
        std::fs::write(dir.path().join("big.json"), vec![b' '; 200_000]).unwrap();
        std::fs::write(dir.path().join("junk.json"), "not json").unwrap();
        let (metas, wrong) = read_metas_noting(dir.path());
        assert_eq!(metas, vec![meta.clone()]);
        let wrong = wrong.join("\n");
        for says in [
            "fifo.json: not a regular file",
            "zero.json: a symbolic link",
            "big.json: 200000 bytes",
            "junk.json: not a run description",
        ] {
            assert!(wrong.contains(says), "{says}: {wrong}");
        }
        // An exact id wins over the ids it is a prefix of.
        let two = RunMeta {
            id: "j-2".into(),
            ..meta.clone()
        };
        let metas = vec![meta, two];
        assert_eq!(matching(&metas, Some("j")).len(), 1);
        assert_eq!(matching(&metas, Some("j"))[0].id, "j");
        assert_eq!(matching(&metas, Some("j-"))[0].id, "j-2");
        assert_eq!(matching(&metas, None).len(), 2);
    }
}
