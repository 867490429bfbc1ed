//! Process groups: every shell step runs in its own, and the whole group is signalled, so
//! nothing a step started outlives it by accident.
// `unsafe` here: process groups: setpgid, killpg and kill through libc; each block says why it is sound.
#![allow(unsafe_code)]

use std::time::Duration;

#[cfg(test)]
use std::os::unix::process::CommandExt;

/// Kills a process group on drop unless disarmed: no step outlives its owner.
#[derive(Debug)]
pub struct GroupGuard {
    pgid: i32,
    armed: bool,
}

impl GroupGuard {
    /// Guards process group `pgid`.
    pub fn new(pgid: i32) -> Self {
        GroupGuard { pgid, armed: true }
    }

    /// Whether any process of the group is alive (zombies waiting to be reaped do not count).
    pub fn alive(&self) -> bool {
        group_alive(self.pgid)
    }

    /// SIGTERM, then SIGKILL after `grace` if anything is left.
    pub async fn terminate(&mut self, grace: Duration) {
        signal_group(self.pgid, libc::SIGTERM);
        let deadline = tokio::time::Instant::now() + grace;
        while group_alive(self.pgid) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.kill();
    }

    /// SIGKILL to the whole group, at once (after a grace already given).
    pub fn kill(&mut self) {
        signal_group(self.pgid, libc::SIGKILL);
        self.armed = false;
    }

    /// The group is known to be gone: nothing to kill on drop.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if self.armed {
            signal_group(self.pgid, libc::SIGKILL);
        }
    }
}

/// Sends `sig` to process group `pgid`, ignoring "no such group".
pub fn signal_group(pgid: i32, sig: i32) {
    if pgid > 1 {
        // SAFETY: killpg only sends a signal; a missing group is reported as ESRCH and ignored.
        unsafe {
            libc::killpg(pgid, sig);
        }
    }
}

/// Whether process group `pgid` still has a live member. A zombie (dead, not yet reaped by
/// its parent) is not live: in a container whose first process does not reap orphans, zombies
/// can stay for good, and a group of zombies must not count as a running step.
pub fn group_alive(pgid: i32) -> bool {
    if pgid <= 1 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission. No process in the group at
    // all (the usual end of a step) is known without reading every process in `/proc`.
    if unsafe { libc::killpg(pgid, 0) } != 0
        && std::io::Error::last_os_error().raw_os_error() == Some(libc::ESRCH)
    {
        return false;
    }
    match group_members(pgid) {
        Some(members) => !members.is_empty(),
        // SAFETY: signal 0 only checks for existence and permission.
        None => (unsafe { libc::killpg(pgid, 0) }) == 0,
    }
}

/// The live (not zombie) processes of group `pgid`, read from `/proc`; `None` when `/proc`
/// cannot be read.
pub fn group_members(pgid: i32) -> Option<Vec<i32>> {
    let dir = std::fs::read_dir("/proc").ok()?;
    let mut members = Vec::new();
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Some(stat) = cutover_model::proc_stat::ProcStat::read(pid) else {
            continue;
        };
        if stat.pgrp() == Some(pgid) && stat.is_live() {
            members.push(pid);
        }
    }
    Some(members)
}

/// Whether process `pid`'s environment holds `entry` (`NAME=value`); `None` when it cannot be
/// read (gone, or another user's).
pub fn environ_holds(pid: i32, entry: &str) -> Option<bool> {
    let env = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    Some(env.split(|b| *b == 0).any(|e| e == entry.as_bytes()))
}

/// Whether process `pid` exists.
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pid > 1 && unsafe { libc::kill(pid, 0) } == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zombies_are_not_live_members() {
        // A child that exits at once and is not reaped yet is a zombie of its own group.
        let mut child = std::process::Command::new("true")
            .process_group(0)
            .spawn()
            .expect("spawn true");
        let pgid = child.id() as i32;
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while group_alive(pgid) {
            assert!(
                std::time::Instant::now() < deadline,
                "group {pgid} never died"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // SAFETY: signal 0 only checks existence: the zombie still holds its group.
        assert_eq!(unsafe { libc::killpg(pgid, 0) }, 0, "not a zombie any more");
        child.wait().expect("reap");
    }

    #[test]
    fn live_members_and_their_environment_are_seen() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .env("CUTOVER_STEP_ID", "probe-me")
            .process_group(0)
            .spawn()
            .expect("spawn sleep");
        let pid = child.id() as i32;
        assert_eq!(group_members(pid), Some(vec![pid]));
        assert!(group_alive(pid));
        assert_eq!(environ_holds(pid, "CUTOVER_STEP_ID=probe-me"), Some(true));
        assert_eq!(environ_holds(pid, "CUTOVER_STEP_ID=probe"), Some(false));
        signal_group(pid, libc::SIGKILL);
        child.wait().expect("reap");
        assert!(!group_alive(pid));
    }
}
