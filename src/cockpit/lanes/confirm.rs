//! The typed confirmation: what a command waits for, and the question it asks. Only the
//! exact count of members typed and `enter` sends the command.

use tui_input::Input;

use cutover_model::fleet::lane::FleetCommand;

/// Names a prompt lists before it says `+k more`.
pub const NAMES_SHOWN: usize = 4;

/// What a typed confirmation would send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Run the next step on these (waiting) members.
    RunNext(Vec<String>),
    /// Roll these members back.
    Rollback(Vec<String>),
    /// The canary go: this many queued members would start.
    Go(usize),
}

impl Pending {
    /// How many members it concerns: the number the operator types.
    pub fn count(&self) -> usize {
        match self {
            Pending::RunNext(m) | Pending::Rollback(m) => m.len(),
            Pending::Go(n) => *n,
        }
    }

    /// The question, naming the members (at most [`NAMES_SHOWN`], then `+k more`).
    pub fn question(&self) -> String {
        let n = self.count();
        let enter = crate::lanes::keys::PROMPT[0].0;
        match self {
            Pending::RunNext(m) => format!(
                "Run the next step on {n} waiting {} ({})? Type {n} and {enter}",
                members(n),
                names(m)
            ),
            Pending::Rollback(m) => format!(
                "ROLL BACK {n} {} ({})? Type {n} and {enter}",
                members(n),
                names(m)
            ),
            Pending::Go(_) => format!(
                "Canary go: start the {n} queued {}? Type {n} and {enter}",
                members(n)
            ),
        }
    }

    /// The command it sends once confirmed with `typed`.
    pub fn command(&self, typed: usize) -> FleetCommand {
        match self {
            Pending::RunNext(m) => FleetCommand::RunNext {
                members: m.clone(),
                confirm: typed,
                seen: Default::default(),
            },
            Pending::Rollback(m) => FleetCommand::Rollback {
                members: m.clone(),
                confirm: typed,
            },
            Pending::Go(_) => FleetCommand::Go,
        }
    }
}

/// `member` or `members`.
fn members(n: usize) -> &'static str {
    if n == 1 { "member" } else { "members" }
}

/// The first [`NAMES_SHOWN`] names, then `+k more`.
pub fn names(m: &[String]) -> String {
    let mut s = m
        .iter()
        .take(NAMES_SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if m.len() > NAMES_SHOWN {
        s.push_str(&format!(" +{} more", m.len() - NAMES_SHOWN));
    }
    s
}

/// An open typed confirmation.
#[derive(Debug, Clone)]
pub struct Prompt {
    /// What it would send.
    pub pending: Pending,
    /// What has been typed.
    pub input: Input,
    /// The last `enter` had the wrong number.
    pub rejected: bool,
    /// The step each member waited at when the question was asked (a run-next carries it).
    pub seen: std::collections::BTreeMap<String, usize>,
}

impl Prompt {
    /// A new prompt for `pending`, nothing typed.
    pub fn new(pending: Pending) -> Self {
        Prompt {
            pending,
            input: Input::default(),
            rejected: false,
            seen: Default::default(),
        }
    }

    /// The typed number when it is exactly the count (no sign, no leading zero, spaces
    /// around allowed).
    pub fn accepted(&self) -> Option<usize> {
        let n = self.pending.count();
        (self.input.value().trim() == n.to_string()).then_some(n)
    }
}
