//! Process limits a fleet needs: each member in flight holds its journal, its output file,
//! its step's pipes and its database connections open at once.
// `unsafe` here: getrlimit and setrlimit through libc; the block says why it is sound.
#![allow(unsafe_code)]

/// Open files one member in flight may hold at once (journal, output file, step pipes, a
/// few database connections and sockets), rounded up.
const FILES_PER_MEMBER: u64 = 16;
/// Open files the fleet itself holds besides its members (its journal, log, stdio, socket).
const FILES_OF_THE_FLEET: u64 = 64;

/// Raises this process's soft limit on open files to its hard limit, and says when
/// `concurrency` members in flight may still need more than that (a member that cannot open
/// a file fails to start or aborts: `Too many open files`).
pub fn open_files_for(concurrency: usize) -> Option<String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; setrlimit only reads it, and raising
    // the soft limit up to the hard one is always allowed.
    let soft = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &raw mut lim) != 0 {
            return None;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raw const raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
        lim.rlim_cur
    };
    let need = (concurrency as u64).saturating_mul(FILES_PER_MEMBER) + FILES_OF_THE_FLEET;
    (need > soft).then(|| {
        format!(
            "concurrency = {concurrency} may need about {need} open files, and this process may open {soft} (ulimit -n): members may fail to start with `Too many open files`; raise the limit or lower concurrency"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_concurrency_past_the_limit_is_said_and_a_small_one_is_not() {
        assert_eq!(open_files_for(1), None);
        let said = open_files_for(100_000_000).expect("far past any limit");
        assert!(said.contains("concurrency = 100000000"), "{said}");
    }
}
