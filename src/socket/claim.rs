//! Taking a run id in the run directory so that no other engine can take it at the same time.
//!
//! A run's id is its journal's stem (`stem-2`, `stem-3`... when a live run has it). Choosing
//! the id, removing a dead run's socket and binding a new one used to be three steps that two
//! engines started at once with journals of the same stem could interleave: both took the
//! id, the second removed the first's socket, and the first's terminal could then connect to
//! the second's run. Now an engine holds an exclusive `flock` on `ID.lock` from the moment it
//! takes the id until it ends; the kernel lets go of a killed engine's lock, so a crash never
//! leaves an id taken.
// `unsafe` here: flock through libc; each block says why it is sound.
#![allow(unsafe_code)]

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::rundir::{engine_alive, meta_path, read_meta_file, socket_path};

/// A run id this process holds: an exclusive lock on `ID.lock` in the run directory. Dropping
/// it (the run ended normally) removes the lock file, then lets go.
#[derive(Debug)]
pub struct IdClaim {
    /// The locked file; closing it lets go.
    _lock: File,
    path: PathBuf,
}

impl Drop for IdClaim {
    fn drop(&mut self) {
        // Removed while still locked: an engine that opened the file meanwhile finds, once it
        // has the lock, that the name no longer leads to it, and tries again.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The lock file of run `id` in `dir`.
fn lock_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.lock"))
}

/// What trying to take one id found.
enum Try {
    /// Ours now.
    Taken(IdClaim),
    /// Another process holds it (or something that is not a lock file stands in its place).
    Held,
}

/// Tries to take `id` without waiting; an error means ids cannot be locked here at all.
fn try_claim(dir: &Path, id: &str) -> std::io::Result<Try> {
    let path = lock_path(dir, id);
    // A few rounds: each one lost means another engine ended (removing the file) or took it
    // between our open and our lock.
    for _ in 0..8 {
        let file = match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .open(&path)
        {
            Ok(f) => f,
            // A link, a directory, or a socket in the lock file's place: not ours to use.
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::ELOOP | libc::EISDIR | libc::ENXIO)
                ) =>
            {
                return Ok(Try::Held);
            }
            Err(e) => return Err(e),
        };
        let opened = file.metadata()?;
        if !opened.is_file() {
            return Ok(Try::Held);
        }
        // SAFETY: flock on a descriptor this function owns; it only takes or refuses a lock.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EWOULDBLOCK) => Ok(Try::Held),
                _ => Err(e),
            };
        }
        let same = std::fs::symlink_metadata(&path)
            .is_ok_and(|now| now.dev() == opened.dev() && now.ino() == opened.ino());
        if same {
            return Ok(Try::Taken(IdClaim { _lock: file, path }));
        }
    }
    Ok(Try::Held)
}

/// Runs `clear` (removing a dead run's leftovers under `id`, as `cutover ls` does) only while
/// no engine holds `id`, holding it meanwhile so that none can take it half way; whether
/// `clear` ran. Where ids cannot be locked, it runs.
pub fn while_unheld(dir: &Path, id: &str, clear: impl FnOnce()) -> bool {
    // Held (when taken) until this returns, so for the whole of `clear`.
    let claim = try_claim(dir, id);
    if matches!(claim, Ok(Try::Held)) {
        return false;
    }
    clear();
    true
}

/// Takes the id a new run gets in `dir`: `stem`, unless a live run holds it, then `stem-2`,
/// `stem-3`... A dead run's socket under the id taken is removed. The claim must live as long
/// as the run is served; `None` when ids cannot be locked in `dir` (the id is then chosen as
/// before locks, by the live runs' descriptions alone).
pub fn claim_id(dir: &Path, stem: &str) -> (String, Option<IdClaim>) {
    let mut unlocked = false;
    for n in 1..=10_000u32 {
        let id = if n == 1 {
            stem.to_string()
        } else {
            format!("{stem}-{n}")
        };
        let claim = if unlocked {
            None
        } else {
            match try_claim(dir, &id) {
                Ok(Try::Taken(c)) => Some(c),
                Ok(Try::Held) => continue,
                Err(e) => {
                    tracing::warn!(
                        "run ids cannot be locked in {}: {e}; choosing by the live runs alone",
                        dir.display()
                    );
                    unlocked = true;
                    None
                }
            }
        };
        // An engine of an older cutover holds no lock: its live description still counts.
        if read_meta_file(&meta_path(dir, &id)).is_ok_and(|m| engine_alive(&m)) {
            continue;
        }
        let _ = std::fs::remove_file(socket_path(dir, &id));
        return (id, claim);
    }
    (stem.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> tempfile::TempDir {
        tempfile::tempdir().unwrap()
    }

    #[test]
    fn an_id_held_is_not_taken_again_until_its_holder_lets_go() {
        let d = dir();
        let (first, a) = claim_id(d.path(), "run");
        let (second, b) = claim_id(d.path(), "run");
        assert_eq!((first.as_str(), second.as_str()), ("run", "run-2"));
        assert!(a.is_some() && b.is_some());
        drop(a);
        assert!(
            !lock_path(d.path(), "run").exists(),
            "removed at a clean end"
        );
        let (again, _c) = claim_id(d.path(), "run");
        assert_eq!(again, "run");
    }

    #[test]
    fn leftovers_are_cleared_only_while_no_engine_holds_the_id() {
        let d = dir();
        let (id, held) = claim_id(d.path(), "run");
        assert!(!while_unheld(d.path(), &id, || panic!(
            "cleared under a live engine"
        )));
        drop(held);
        let mut cleared = false;
        assert!(while_unheld(d.path(), &id, || cleared = true));
        assert!(cleared);
    }

    #[test]
    fn a_lock_file_left_by_a_killed_engine_does_not_hold_its_id() {
        let d = dir();
        // What a SIGKILLed engine leaves: the file, with no lock on it.
        std::fs::write(lock_path(d.path(), "run"), "").unwrap();
        let (id, claim) = claim_id(d.path(), "run");
        assert_eq!(id, "run");
        assert!(claim.is_some());
    }

    #[test]
    fn a_link_a_directory_or_a_fifo_in_the_lock_files_place_is_passed_over_not_followed() {
        let d = dir();
        let target = d.path().join("elsewhere");
        std::fs::write(&target, "keep").unwrap();
        std::os::unix::fs::symlink(&target, lock_path(d.path(), "run")).unwrap();
        std::fs::create_dir(lock_path(d.path(), "run-2")).unwrap();
        let fifo = lock_path(d.path(), "run-3");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        // Taken without hanging on the FIFO or the directory.
        let (id, claim) = claim_id(d.path(), "run");
        assert_eq!(id, "run-4");
        assert!(claim.is_some());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep");
    }

    /// Many threads at once each take an id for the same stem: no two get the same.
    #[test]
    fn engines_started_at_once_never_share_an_id() {
        let d = dir();
        let barrier = std::sync::Barrier::new(8);
        let ids: Vec<String> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        let (id, claim) = claim_id(d.path(), "j");
                        // Hold it while the others choose, as a serving engine does.
                        barrier.wait();
                        drop(claim);
                        id
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 8, "{ids:?}");
    }
}
