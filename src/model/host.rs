//! Facts about this machine and this process's user, for the operator record and connection
//! defaults.
// `unsafe` here: libc lookups: user and host names, the utmp login records; each block says why it is sound.
#![allow(unsafe_code)]

use std::ffi::CStr;

/// The login name of this process's user (for the default `user` of a connection).
pub fn current_user_name() -> Option<String> {
    // SAFETY: geteuid has no failure mode.
    user_name(unsafe { libc::geteuid() })
}

/// The login name of user `uid` (the verified name of a socket's peer).
pub fn user_name(uid: u32) -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: as in `lookup_user`; the name is copied out before `buf` is dropped.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result);
        if rc != 0 || result.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        Some(CStr::from_ptr(pwd.pw_name).to_string_lossy().into_owned())
    }
}

/// This machine's host name (`unknown` when the system will not say).
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most `buf.len()` bytes into the buffer we own.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".to_string();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

/// What the kernel says about process `pid` of user `uid` at the other end of a socket: its
/// controlling terminal (from `/proc/PID/stat`) and where the login on that terminal came
/// from (the system's utmp login records, which only root-run programs such as sshd write).
pub fn peer_facts(uid: u32, pid: Option<i32>) -> crate::protocol::PeerFacts {
    let tty = pid.and_then(controlling_tty);
    let login_from = tty.as_deref().and_then(login_host);
    crate::protocol::PeerFacts {
        uid,
        pid,
        tty,
        login_from,
    }
}

/// The controlling terminal of `pid` (`pts/3`, `tty1`), from field 7 of `/proc/PID/stat`.
fn controlling_tty(pid: i32) -> Option<String> {
    tty_name(crate::proc_stat::ProcStat::read(pid)?.tty_nr()?)
}

/// The name of the terminal device number `tty_nr` (Linux's encoding), when it is one.
fn tty_name(tty_nr: u64) -> Option<String> {
    if tty_nr == 0 {
        return None;
    }
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        136..=143 => Some(format!("pts/{}", (major - 136) * 256 + minor)),
        4 if minor < 64 => Some(format!("tty{minor}")),
        _ => Some(format!("device {major}:{minor}")),
    }
}

/// The remote host of the login on terminal `line` (`pts/3`), from the utmp records.
fn login_host(line: &str) -> Option<String> {
    // getutxent walks a process-wide cursor: one caller at a time.
    static UTMP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = UTMP.lock().ok()?;
    let mut found = None;
    // SAFETY: setutxent/getutxent/endutxent are used under the lock above; each record is
    // read (its fixed-size, NUL-padded arrays copied) before the next call reuses it.
    unsafe {
        libc::setutxent();
        loop {
            let rec = libc::getutxent();
            if rec.is_null() {
                break;
            }
            let rec = &*rec;
            if rec.ut_type != libc::USER_PROCESS {
                continue;
            }
            if c_chars(&rec.ut_line) == line {
                let host = c_chars(&rec.ut_host);
                found = (!host.is_empty()).then(|| crate::text::plain(&host).into_owned());
            }
        }
        libc::endutxent();
    }
    found
}

/// A fixed-size, NUL-padded C character array as text.
fn c_chars(chars: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| *c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_numbers_are_named_as_the_kernel_encodes_them() {
        assert_eq!(tty_name(0), None);
        assert_eq!(tty_name((136 << 8) | 3).as_deref(), Some("pts/3"));
        assert_eq!(tty_name((137 << 8) | 2).as_deref(), Some("pts/258"));
        assert_eq!(tty_name((4 << 8) | 1).as_deref(), Some("tty1"));
    }

    #[test]
    fn this_process_is_described_by_what_the_kernel_says() {
        let pid = std::process::id() as i32;
        let facts = peer_facts(1234, Some(pid));
        assert_eq!(facts.uid, 1234);
        assert_eq!(facts.pid, Some(pid));
        // Under a test runner without a terminal there is none; with one, it is named.
        if let Some(tty) = &facts.tty {
            assert!(tty.starts_with("pts/") || tty.starts_with("tty") || tty.starts_with("device"));
        }
    }
}
