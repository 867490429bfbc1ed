//! Operating-system chores of the cluster harness: dropping root privileges to the `postgres`
//! user, handing directories over to it, finding and killing the server processes of a cluster.
// `unsafe` here: libc calls: the postgres user, process checks; each block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The user the server programs run as when this process is root (PostgreSQL refuses to run as root).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunAs {
    /// User id of `postgres`.
    pub uid: u32,
    /// Primary group id of `postgres`.
    pub gid: u32,
}

/// The account name PostgreSQL runs under when we are root.
pub const SERVER_USER: &str = "postgres";

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `Ok(None)` when not root (programs run as ourselves), `Ok(Some(..))` with the `postgres`
/// user when root, `Err(..)` when root and there is no such user.
pub fn run_as() -> Result<Option<RunAs>, String> {
    if !is_root() {
        return Ok(None);
    }
    lookup_user(SERVER_USER).map(Some).ok_or_else(|| {
        format!(
            "running as root, and PostgreSQL refuses to run as root, but there is no `{SERVER_USER}` user to run it as: create one (useradd --system {SERVER_USER}) or run cutover as an ordinary user"
        )
    })
}

/// Looks a user up by name.
pub fn lookup_user(name: &str) -> Option<RunAs> {
    let cname = CString::new(name).ok()?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain old data; getpwnam_r fills it and points its strings into `buf`,
    // which outlives every use below.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() {
            return None;
        }
        Some(RunAs {
            uid: pwd.pw_uid,
            gid: pwd.pw_gid,
        })
    }
}

pub use cutover_model::host::current_user_name;

/// Gives `path` to `who` (no-op when `who` is `None`).
pub fn chown(path: &Path, who: Option<RunAs>) -> std::io::Result<()> {
    let Some(who) = who else { return Ok(()) };
    std::os::unix::fs::chown(path, Some(who.uid), Some(who.gid))
}

/// Pids of processes whose working directory or command line lies under `root`, and their
/// children.
///
/// PostgreSQL's postmaster and every backend `chdir` into the data directory, so this finds a
/// cluster's processes even after they have rewritten their command lines. Where a working
/// directory cannot be read (root without CAP_SYS_PTRACE, as in a default container, and the
/// servers run as `postgres`), the postmaster is still found by its command line
/// (`postgres -D DATA`) and its backends as its children.
pub fn processes_under(root: &Path) -> Vec<i32> {
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let root_bytes = root.as_os_str().as_bytes();
    let mut found = Vec::new();
    let mut parents = Vec::new();
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let cwd: Option<PathBuf> = std::fs::read_link(e.path().join("cwd")).ok();
        let in_cwd = cwd.is_some_and(|c| c.starts_with(root));
        let in_cmd = !in_cwd
            && std::fs::read(e.path().join("cmdline")).is_ok_and(|c| {
                c.split(|b| *b == 0).any(|arg| {
                    arg.starts_with(root_bytes)
                        && Path::new(std::ffi::OsStr::from_bytes(arg)).starts_with(root)
                })
            });
        if in_cwd || in_cmd {
            found.push(pid);
        } else if let Some(ppid) = parent_of(pid) {
            parents.push((pid, ppid));
        }
    }
    let children: Vec<i32> = parents
        .into_iter()
        .filter(|(_, ppid)| found.contains(ppid))
        .map(|(pid, _)| pid)
        .collect();
    found.extend(children);
    found
}

/// The parent of process `pid` (from its `stat`, readable by anyone).
fn parent_of(pid: i32) -> Option<i32> {
    cutover_model::proc_stat::ProcStat::read(pid)?.ppid()
}

/// The postmaster pid recorded in `data/postmaster.pid`, if the file exists.
pub fn postmaster_pid(data: &Path) -> Option<i32> {
    let text = std::fs::read_to_string(data.join("postmaster.pid")).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// The postmaster recorded in `data/postmaster.pid`, only while that process is still this
/// cluster's (see [`serves`]). A postmaster that died without removing the file (SIGKILL, a
/// crash) leaves a pid the system may since have given to any other process, which must
/// never be signalled.
pub fn live_postmaster(data: &Path) -> Option<i32> {
    let pid = postmaster_pid(data)?;
    (pid > 1 && serves(pid, data)).then_some(pid)
}

/// Whether process `pid` is a server of the cluster at `data`: it works in `data` (a
/// postmaster `chdir`s there; reading that needs the right to trace it, which root lacks for
/// the `postgres` user's processes in a container without CAP_SYS_PTRACE), or its command
/// line names `data` (`postgres -D DATA`, readable by anyone).
fn serves(pid: i32, data: &Path) -> bool {
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).ok();
    if cwd.is_some_and(|c| std::fs::canonicalize(data).is_ok_and(|d| c == d)) {
        return true;
    }
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
        c.split(|b| *b == 0)
            .any(|arg| Path::new(std::ffi::OsStr::from_bytes(arg)) == data)
    })
}

/// Whether process `pid` exists (signal 0).
pub fn signal_zero(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pid > 1 && unsafe { libc::kill(pid, 0) } == 0
}

/// Sends `sig` to `pid` (ignoring "no such process").
pub fn signal(pid: i32, sig: i32) {
    if pid > 1 {
        // SAFETY: kill only sends a signal.
        unsafe {
            libc::kill(pid, sig);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_a_process_by_its_working_directory() {
        let t = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(t.path())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let found = processes_under(t.path());
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(found.contains(&pid), "{found:?} lacks {pid}");
        assert!(!processes_under(t.path()).contains(&pid));
    }

    #[test]
    fn a_pid_file_naming_another_process_is_no_postmaster() {
        let t = tempfile::tempdir().unwrap();
        let data = t.path().join("data");
        std::fs::create_dir(&data).unwrap();
        let mut ours = std::process::Command::new("sleep")
            .arg("30")
            .current_dir(&data)
            .spawn()
            .unwrap();
        // A stranger: alive, but working elsewhere (as a reused pid would be).
        let mut stranger = std::process::Command::new("sleep")
            .arg("30")
            .current_dir("/")
            .spawn()
            .unwrap();
        let file = data.join("postmaster.pid");
        std::fs::write(&file, format!("{}\n{}\n", ours.id(), data.display())).unwrap();
        let found = live_postmaster(&data);
        std::fs::write(&file, format!("{}\n{}\n", stranger.id(), data.display())).unwrap();
        let reused = live_postmaster(&data);
        for c in [&mut ours, &mut stranger] {
            c.kill().unwrap();
            c.wait().unwrap();
        }
        assert_eq!(found, Some(ours.id() as i32));
        assert_eq!(
            reused, None,
            "a pid working elsewhere is not this cluster's"
        );
        std::fs::write(&file, format!("{}\n", ours.id())).unwrap();
        assert_eq!(live_postmaster(&data), None, "a dead postmaster is none");
        // Where its working directory cannot be read (root without CAP_SYS_PTRACE, the server
        // another user's), a server is known by its command line: `postgres -D DATA`.
        let mut named = std::process::Command::new("sh")
            .args(["-c", "sleep 30; :", "postgres"])
            .arg("-D")
            .arg(&data)
            .current_dir("/")
            .spawn()
            .unwrap();
        std::fs::write(&file, format!("{}\n", named.id())).unwrap();
        let by_name = live_postmaster(&data);
        named.kill().unwrap();
        named.wait().unwrap();
        assert_eq!(by_name, Some(named.id() as i32));
    }

    #[test]
    fn a_child_of_a_process_naming_the_directory_is_found() {
        let t = tempfile::tempdir().unwrap();
        // A parent working elsewhere but naming the directory, whose child names nothing
        // under it (as a backend that rewrote its command line, its cwd unreadable).
        let mut parent = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & echo $!; wait", "postgres"])
            .arg(t.path())
            .current_dir("/")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(parent.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        let child: i32 = line.trim().parse().unwrap();
        let found = processes_under(t.path());
        signal(child, libc::SIGKILL);
        parent.kill().unwrap();
        parent.wait().unwrap();
        assert!(found.contains(&(parent.id() as i32)), "{found:?}");
        assert!(found.contains(&child), "{found:?} lacks the child {child}");
    }

    #[test]
    fn root_user_exists() {
        assert_eq!(lookup_user("root").map(|u| u.uid), Some(0));
        assert!(lookup_user("no-such-user-cutover").is_none());
        assert!(current_user_name().is_some());
    }
}
