//! Process groups: every shell step runs in its own, and the whole group is signalled, so
//! nothing a step started outlives it by accident.

use std::time::Duration;

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

    /// Whether any process of the group is alive.
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
        signal_group(self.pgid, libc::SIGKILL);
        self.armed = false;
    }
}

impl GroupGuard {
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

/// Whether process group `pgid` still has a live member.
pub fn group_alive(pgid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pgid > 1 && unsafe { libc::killpg(pgid, 0) } == 0
}

/// Whether process `pid` exists.
pub fn pid_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks for existence and permission.
    pid > 1 && unsafe { libc::kill(pid, 0) } == 0
}
