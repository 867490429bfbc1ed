//! The one vocabulary of exit codes: every subcommand ends with an [`Outcome`] — its [`Exit`],
//! or a [`Failure`] (an exit and what to say) — and `main` says the failure, once, and turns
//! the exit into the process's code. The README's "Exit codes" table is generated from
//! [`Exit::ALL`] (a test keeps them the same).

use std::process::ExitCode;

use cutover_model::protocol::RunOutcome;

/// How a `cutover` command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It did what it was asked: a run completed, a file was written, every check passed.
    Ok,
    /// A check found something or could not run (`reconcile`, `notify --test`); nothing else
    /// went wrong.
    CheckFailed,
    /// Nothing was done: the input is invalid, the command was refused, preflight found the
    /// run not ready, or there is no such run.
    Invalid,
    /// The run was rolled back, completely.
    RolledBack,
    /// The run failed or was aborted (a rollback that did not complete too), or what was asked
    /// for could not be written.
    Failed,
    /// The run was rolled back, but the operator skipped an action: what it would have undone
    /// is left to undo by hand.
    RolledBackPartly,
    /// The cockpit itself crashed: the terminal was restored, and a detached run goes on.
    Crashed,
    /// The drill's SSH session went away (SIGHUP): its clusters were removed.
    HungUp,
    /// The drill was interrupted (SIGINT): its clusters were removed.
    Interrupted,
    /// The drill was terminated (SIGTERM): its clusters were removed.
    Terminated,
}

impl Exit {
    /// Every exit, in the order of its code.
    pub const ALL: [Exit; 10] = [
        Exit::Ok,
        Exit::CheckFailed,
        Exit::Invalid,
        Exit::RolledBack,
        Exit::Failed,
        Exit::RolledBackPartly,
        Exit::Crashed,
        Exit::HungUp,
        Exit::Interrupted,
        Exit::Terminated,
    ];

    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::CheckFailed => 1,
            Exit::Invalid => 2,
            Exit::RolledBack => 3,
            Exit::Failed => 4,
            Exit::RolledBackPartly => 5,
            Exit::Crashed => 101,
            Exit::HungUp => 129,
            Exit::Interrupted => 130,
            Exit::Terminated => 143,
        }
    }

    /// What the code means, for the README's table.
    fn meaning(self) -> &'static str {
        match self {
            Exit::Ok => {
                "done: the run completed, the file was written, every check passed, or the terminal detached from a run that goes on"
            }
            Exit::CheckFailed => {
                "a check failed or could not run (`reconcile`, `notify --test`, `reconcile --repair-sql`); nothing else went wrong"
            }
            Exit::Invalid => {
                "nothing was done: invalid runbook, journal or arguments, a refused file or flag, preflight not ready (the run did not start), no such run"
            }
            Exit::RolledBack => "the run was rolled back, completely",
            Exit::Failed => {
                "the run failed or was aborted (or its rollback did not complete), the terminal lost the run, or the output could not be written"
            }
            Exit::RolledBackPartly => {
                "the run was rolled back with an action skipped: undo by hand what the summary lists"
            }
            Exit::Crashed => {
                "the cockpit itself crashed: the terminal was restored, and a detached run goes on (`cutover attach` it)"
            }
            Exit::HungUp => {
                "`drill`: the terminal went away (SIGHUP); the drill's clusters were removed"
            }
            Exit::Interrupted => "`drill`: interrupted (SIGINT); the drill's clusters were removed",
            Exit::Terminated => "`drill`: terminated (SIGTERM); the drill's clusters were removed",
        }
    }

    /// The exit a code stands for (a code from the engine process's status pipe); a code this
    /// build does not know is a failure.
    pub fn from_code(code: u8) -> Exit {
        Exit::ALL
            .into_iter()
            .find(|e| e.code() == code)
            .unwrap_or(Exit::Failed)
    }

    /// How a run's outcome ends the process.
    pub fn of_run(outcome: RunOutcome) -> Exit {
        match outcome {
            RunOutcome::Completed => Exit::Ok,
            RunOutcome::NotStarted => Exit::Invalid,
            RunOutcome::RolledBack => Exit::RolledBack,
            RunOutcome::Aborted => Exit::Failed,
            RunOutcome::RolledBackPartly => Exit::RolledBackPartly,
        }
    }

    /// `Ok` when `passed`, else `fail`.
    pub fn unless(passed: bool, fail: Exit) -> Exit {
        if passed { Exit::Ok } else { fail }
    }

    /// The README's exit-code table.
    pub fn markdown() -> String {
        let mut t = String::from("| code | meaning |\n|---|---|\n");
        for e in Exit::ALL {
            t.push_str(&format!("| {} | {} |\n", e.code(), e.meaning()));
        }
        t
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e.code())
    }
}

/// Why a command stops: the exit it ends with and what it says. It travels as a value up to
/// `main`, which says it once, on stderr, after everything the command printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The exit the process ends with.
    pub exit: Exit,
    /// What is said on stderr (neutralised when said), without the final newline.
    pub message: String,
}

impl Failure {
    /// A failure ending with `exit`, saying `message`.
    pub fn new(exit: Exit, message: impl Into<String>) -> Failure {
        Failure {
            exit,
            message: message.into(),
        }
    }

    /// Says the message on stderr now and returns the exit: what `main` does with a failure,
    /// and what a caller does that goes on after it, where the failure must be said before
    /// what follows: `check --connect` (a runbook's, or a fleet member's, failed preflight,
    /// then the next one's lines) and `drill --fleet` (the fleet's failure, then the lines
    /// saying its engine, clusters and loads are stopped and removed).
    pub fn said(self) -> Exit {
        crate::say::err(&self.message);
        self.exit
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// An error nobody foresaw (a `color_eyre` report): `cutover: ` and its chain of causes, exit
/// [`Exit::Failed`]. A cause its error already says (`journal j: Permission denied`, whose
/// source is that `Permission denied`) is said once.
impl From<color_eyre::eyre::Report> for Failure {
    fn from(e: color_eyre::eyre::Report) -> Failure {
        let mut said: Vec<String> = Vec::new();
        for cause in e.chain().map(ToString::to_string) {
            if !said.last().is_some_and(|last| last.contains(&cause)) {
                said.push(cause);
            }
        }
        Failure::new(Exit::Failed, format!("cutover: {}", said.join(": ")))
    }
}

/// How a command ends: `Ok` with its own exit (a run that rolled back is `Ok(RolledBack)`:
/// it has nothing more to say), or `Err` with a [`Failure`] for `main` to say.
pub type Outcome = Result<Exit, Failure>;

/// The exit of `outcome`, its failure said now (see [`Failure::said`]).
pub fn said(outcome: Outcome) -> Exit {
    outcome.unwrap_or_else(Failure::said)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEGIN: &str = "<!-- exit codes: generated from src/cutover/exit.rs";
    const END: &str = "<!-- end of exit codes -->";
    const UPDATE_ENV: &str = "CUTOVER_UPDATE_README";

    /// An error that says its source in its own words, as `JournalError::Io` does.
    #[derive(Debug)]
    struct Said(String, std::io::Error);

    impl std::fmt::Display for Said {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "journal j: {}", self.0)
        }
    }

    impl std::error::Error for Said {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.1)
        }
    }

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 101, 129, 130, 143]);
        for e in Exit::ALL {
            assert_eq!(Exit::from_code(e.code()), e);
        }
        assert_eq!(Exit::from_code(77), Exit::Failed);
    }

    /// A run's outcome and its exit agree with the model's own code for it.
    #[test]
    fn a_run_ends_with_its_outcomes_code() {
        for o in [
            RunOutcome::Completed,
            RunOutcome::NotStarted,
            RunOutcome::RolledBack,
            RunOutcome::Aborted,
            RunOutcome::RolledBackPartly,
        ] {
            assert_eq!(i32::from(Exit::of_run(o).code()), o.exit_code(), "{o:?}");
        }
    }

    /// An unforeseen error reads as `main` said it before there was a `Failure`: `cutover: `
    /// and its chain of causes, exit 4.
    #[test]
    fn a_report_is_a_failure_with_its_causes() {
        use color_eyre::eyre::{WrapErr, eyre};
        let report = Err::<(), _>(eyre!("no such file")).wrap_err("cannot start the run");
        let failure = Failure::from(report.expect_err("an error"));
        assert_eq!(failure.exit, Exit::Failed);
        assert_eq!(
            failure.message,
            "cutover: cannot start the run: no such file"
        );
        assert_eq!(failure.to_string(), failure.message);
        // A cause its error already says is said once.
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let denied_text = denied.to_string();
        let journal = color_eyre::eyre::Report::new(Said(denied_text.clone(), denied))
            .wrap_err("cannot start the run");
        assert_eq!(
            Failure::from(journal).message,
            format!("cutover: cannot start the run: journal j: {denied_text}")
        );
        let said = Failure::new(Exit::Invalid, "cutover: refused");
        assert_eq!(said.said(), Exit::Invalid);
        assert_eq!(super::said(Ok(Exit::RolledBack)), Exit::RolledBack);
    }

    #[test]
    fn readme_exit_codes_are_generated_from_exit() {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md");
        let readme = std::fs::read_to_string(&path).expect("read README.md");
        let begin = readme
            .find(BEGIN)
            .unwrap_or_else(|| panic!("README.md has no {BEGIN} marker"));
        let table = begin + readme[begin..].find('\n').expect("line break") + 1;
        let end = table
            + readme[table..]
                .find(END)
                .unwrap_or_else(|| panic!("README.md has no {END} marker"));
        let generated = format!("\n{}\n", Exit::markdown());
        if readme[table..end] == generated {
            return;
        }
        if std::env::var_os(UPDATE_ENV).is_some_and(|v| v == "1") {
            let new = format!("{}{generated}{}", &readme[..table], &readme[end..]);
            std::fs::write(&path, new).expect("write README.md");
            return;
        }
        panic!(
            "README.md's exit codes differ from src/cutover/exit.rs.\n\
             Regenerate them with: {UPDATE_ENV}=1 cargo test --bin cutover readme\n\
             --- README.md\n{}--- generated\n{generated}",
            &readme[table..end]
        );
    }
}
