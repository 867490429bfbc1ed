//! What the fleet cockpit shows: one lane per member, and the fleet's own state. The fleet's
//! engine folds each member's events into its [`Lane`] and sends the whole [`FleetView`] to
//! its terminals; the lanes screen draws it and sends back [`FleetCommand`]s.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Where a member stands, coarsely: what its lane's glyph and sort order say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LaneState {
    /// A step failed (or was interrupted) and the member waits for a decision, or preflight
    /// stopped it: it needs the operator.
    Failed,
    /// A trigger's automatic-rollback countdown runs, or the rollback runs.
    RollingBack,
    /// The member's run ended badly: failed, aborted, or its engine could not start.
    Ended,
    /// Rolled back (its run is over).
    RolledBack,
    /// It waits for a typed word or for sign-offs.
    Asking,
    /// A step runs.
    Running,
    /// It waits for the operator to run its next step.
    Waiting,
    /// Its engine is starting (preflight).
    Starting,
    /// Not started yet: it waits for its turn (concurrency) or for the canary go.
    Queued,
    /// Never to start in this session: the fleet halted first.
    Halted,
    /// Completed.
    Completed,
}

impl LaneState {
    /// Every state, in sort order (failures first).
    pub const ALL: [LaneState; 11] = [
        LaneState::Failed,
        LaneState::RollingBack,
        LaneState::Ended,
        LaneState::RolledBack,
        LaneState::Asking,
        LaneState::Running,
        LaneState::Waiting,
        LaneState::Starting,
        LaneState::Queued,
        LaneState::Halted,
        LaneState::Completed,
    ];

    /// The lane's glyph (one column wide).
    pub fn glyph(self) -> &'static str {
        match self {
            LaneState::Failed => "✖",
            LaneState::RollingBack => "↺",
            LaneState::Ended => "✖",
            LaneState::RolledBack => "↺",
            LaneState::Asking => "?",
            LaneState::Running => "▶",
            LaneState::Waiting => "○",
            LaneState::Starting => "…",
            LaneState::Queued => "-",
            LaneState::Halted => "■",
            LaneState::Completed => "✔",
        }
    }

    /// The state in a word (the header's counts, a lane's text without colour).
    pub fn word(self) -> &'static str {
        match self {
            LaneState::Failed => "failed",
            LaneState::RollingBack => "rolling back",
            LaneState::Ended => "ended",
            LaneState::RolledBack => "rolled back",
            LaneState::Asking => "asking",
            LaneState::Running => "running",
            LaneState::Waiting => "waiting",
            LaneState::Starting => "starting",
            LaneState::Queued => "queued",
            LaneState::Halted => "halted",
            LaneState::Completed => "completed",
        }
    }

    /// Whether the member's run is over (nothing more happens in it this session).
    pub fn is_over(self) -> bool {
        matches!(
            self,
            LaneState::Ended | LaneState::RolledBack | LaneState::Completed | LaneState::Halted
        )
    }

    /// Whether the lane is one the operator must see first (kept on screen).
    pub fn is_trouble(self) -> bool {
        matches!(
            self,
            LaneState::Failed | LaneState::RollingBack | LaneState::Ended | LaneState::RolledBack
        )
    }
}

/// One member's lane.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lane {
    /// The member's name (as the fleet file has it).
    pub member: String,
    /// Where it stands.
    pub state: LaneState,
    /// The step it is at (running, waiting for, failed at), 0-based; `None` before its run
    /// started or after it ended.
    pub step: Option<usize>,
    /// How many steps the runbook has (0 before its run started).
    pub steps: usize,
    /// That step's title (or what the lane waits for).
    pub title: String,
    /// How long the member's run has taken so far.
    pub elapsed_ms: Option<u64>,
    /// The plan: the sum of its steps' `expected`.
    pub planned_ms: Option<u64>,
    /// The latest replication lag, in words (`1.2s`), when the runbook watches lag.
    pub lag: Option<String>,
    /// The latest reconcile verdict in words (`match`, `2 differ`), when there is one.
    pub reconcile: Option<String>,
    /// A running automatic-rollback countdown: the trigger, and when it fires.
    pub countdown: Option<(String, DateTime<Utc>)>,
    /// The member's socket, while its engine serves (a terminal opens its cockpit there).
    pub socket: Option<String>,
}

impl Lane {
    /// A member not started yet.
    pub fn queued(member: &str) -> Self {
        Lane {
            member: member.to_string(),
            state: LaneState::Queued,
            step: None,
            steps: 0,
            title: String::new(),
            elapsed_ms: None,
            planned_ms: None,
            lag: None,
            reconcile: None,
            countdown: None,
            socket: None,
        }
    }
}

/// Where the fleet stands as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FleetPhase {
    /// The canaries run, one after the other.
    Canary,
    /// Every canary completed: the rest wait for the operator's go.
    AwaitingGo,
    /// The members run, `concurrency` at a time.
    Running,
    /// No member starts any more (a failure, or a canary that did not complete); those in
    /// flight run on.
    Halted,
    /// Every member's run is over.
    Finished,
}

/// The fleet cockpit's whole picture, as the fleet's engine sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetView {
    /// The fleet's id (as `cutover ls` lists it).
    pub id: String,
    /// The runbook's name.
    pub runbook: String,
    /// The fleet journal.
    pub journal: String,
    /// Where the fleet stands.
    pub phase: FleetPhase,
    /// Why it halted, when it did.
    pub halted: Option<String>,
    /// Members in flight at once, at most.
    pub concurrency: usize,
    /// When the fleet started (this session).
    pub started_at: DateTime<Utc>,
    /// The lanes, in the fleet file's order.
    pub lanes: Vec<Lane>,
    /// Who has the fleet's controls, in words (`alice (from 10.0.0.5) since 02:14:03 UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub controller: Option<String>,
}

impl FleetView {
    /// How many lanes are in each state, in [`LaneState::ALL`] order, leaving out states
    /// with none.
    pub fn counts(&self) -> Vec<(LaneState, usize)> {
        LaneState::ALL
            .iter()
            .map(|s| (*s, self.lanes.iter().filter(|l| l.state == *s).count()))
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// The lanes in screen order: failures first (by [`LaneState`]'s order), then as the
    /// fleet file lists them.
    pub fn sorted(&self) -> Vec<&Lane> {
        let mut v: Vec<(usize, &Lane)> = self.lanes.iter().enumerate().collect();
        v.sort_by_key(|(i, l)| (l.state, *i));
        v.into_iter().map(|(_, l)| l).collect()
    }

    /// Members waiting for their next step to be run.
    pub fn waiting(&self) -> Vec<&str> {
        self.lanes
            .iter()
            .filter(|l| l.state == LaneState::Waiting)
            .map(|l| l.member.as_str())
            .collect()
    }
}

/// What the lanes screen asks of the fleet's engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FleetCommand {
    /// Run the next step of each of these members (each must be waiting: the others are left
    /// as they are, and said so).
    RunNext {
        /// The members.
        members: Vec<String>,
        /// How many the operator typed to confirm (must equal `members.len()`).
        confirm: usize,
        /// The step (0-based) each member was seen waiting at when the operator was asked:
        /// a member that has moved on since is left as it is, never run a step further.
        #[serde(default)]
        seen: std::collections::BTreeMap<String, usize>,
    },
    /// Roll back each of these members (their rollback plan, as `ROLLBACK` in their own
    /// cockpit would).
    Rollback {
        /// The members.
        members: Vec<String>,
        /// How many the operator typed to confirm (must equal `members.len()`).
        confirm: usize,
    },
    /// The canaries completed: start the rest.
    Go,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(name: &str, state: LaneState) -> Lane {
        Lane {
            state,
            ..Lane::queued(name)
        }
    }

    #[test]
    fn failures_sort_first_and_the_file_order_breaks_ties() {
        let v = FleetView {
            id: "f".into(),
            runbook: "r".into(),
            journal: "j".into(),
            phase: FleetPhase::Running,
            halted: None,
            concurrency: 2,
            controller: None,
            started_at: Utc::now(),
            lanes: vec![
                lane("a", LaneState::Completed),
                lane("b", LaneState::Waiting),
                lane("c", LaneState::Failed),
                lane("d", LaneState::Waiting),
                lane("e", LaneState::RollingBack),
            ],
        };
        let order: Vec<&str> = v.sorted().iter().map(|l| l.member.as_str()).collect();
        assert_eq!(order, ["c", "e", "b", "d", "a"]);
        assert_eq!(
            v.counts(),
            [
                (LaneState::Failed, 1),
                (LaneState::RollingBack, 1),
                (LaneState::Waiting, 2),
                (LaneState::Completed, 1)
            ]
        );
        assert_eq!(v.waiting(), ["b", "d"]);
    }

    #[test]
    fn every_state_is_listed_once_in_sort_order() {
        let mut all = LaneState::ALL.to_vec();
        all.sort();
        assert_eq!(all, LaneState::ALL);
        all.dedup();
        assert_eq!(all.len(), LaneState::ALL.len());
    }
}
