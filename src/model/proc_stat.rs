//! One reading of `/proc/PID/stat`: the kernel's line about a process, whose command name (in
//! parentheses) may hold spaces and parentheses itself, so the fields are counted from the
//! last `)`. The one parser every crate and the tests use.

/// The fields of one `/proc/PID/stat` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// The command name, without its parentheses.
    pub comm: String,
    /// The fields after the command name: state first (field 3 of `proc(5)`).
    fields: Vec<String>,
}

impl ProcStat {
    /// Reads process `pid`'s line; `None` when it is gone (or the line is not one).
    pub fn read(pid: impl std::fmt::Display) -> Option<ProcStat> {
        ProcStat::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Parses a line as the kernel writes it: `pid (comm) state ppid pgrp …`.
    pub fn parse(line: &str) -> Option<ProcStat> {
        let (head, rest) = line.rsplit_once(')')?;
        let (_, comm) = head.split_once('(')?;
        Some(ProcStat {
            comm: comm.to_string(),
            fields: rest.split_whitespace().map(str::to_string).collect(),
        })
    }

    /// Field `n` as `proc(5)` numbers them (1 is the pid, 2 the command name), parsed.
    fn field<T: std::str::FromStr>(&self, n: usize) -> Option<T> {
        self.fields.get(n.checked_sub(3)?)?.parse().ok()
    }

    /// The state letter (`R`, `S`, `T` stopped, `Z` zombie, `X` dead, …).
    pub fn state(&self) -> &str {
        self.fields.first().map_or("", String::as_str)
    }

    /// Alive: neither a zombie nor dead.
    pub fn is_live(&self) -> bool {
        !matches!(self.state(), "Z" | "X" | "")
    }

    /// The parent's pid.
    pub fn ppid(&self) -> Option<i32> {
        self.field(4)
    }

    /// The process group.
    pub fn pgrp(&self) -> Option<i32> {
        self.field(5)
    }

    /// The controlling terminal's device number (0: none).
    pub fn tty_nr(&self) -> Option<u64> {
        self.field(7)
    }

    /// User and system CPU time, the process's own, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        self.field::<u64>(14).unwrap_or(0) + self.field::<u64>(15).unwrap_or(0)
    }

    /// When the process started, in clock ticks since boot: with the pid, it names one
    /// process for good (a pid the system gives again comes with a later start).
    pub fn start_time(&self) -> Option<u64> {
        self.field(22)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let line = "4242 (a (b) c)) S 1 4242 4242 34816 4242 4194560 100 0 0 0 7 3 0 0 20 0 1 0 \
                    98765 1000 200 18446744073709551615\n";
        let s = ProcStat::parse(line).expect("parses");
        assert_eq!(s.comm, "a (b) c)");
        assert_eq!(s.state(), "S");
        assert!(s.is_live());
        assert_eq!(s.ppid(), Some(1));
        assert_eq!(s.pgrp(), Some(4242));
        assert_eq!(s.tty_nr(), Some(34816));
        assert_eq!(s.cpu_ticks(), 10);
        assert_eq!(s.start_time(), Some(98765));
        let zombie = ProcStat::parse("7 (x) Z 1 7 7 0").expect("parses");
        assert!(!zombie.is_live());
        assert_eq!(zombie.start_time(), None);
        assert_eq!(ProcStat::parse("no parentheses here"), None);
    }

    #[test]
    fn this_process_reads_as_itself() {
        let me = ProcStat::read(std::process::id()).expect("our own stat");
        assert!(me.is_live());
        assert_eq!(
            me.ppid(),
            Some(i32::try_from(std::os::unix::process::parent_id()).unwrap())
        );
        assert!(me.start_time().is_some());
        assert_eq!(ProcStat::read(i32::MAX), None, "no such process");
    }
}
