//! Where a run stands, in one line, folded from its events: what `cutover ls` shows.

use chrono::{DateTime, Utc};

use std::collections::BTreeMap;

use cutover_model::fleet::lane::{Lane, LaneState};
use cutover_model::lag::LagSample;
use cutover_model::protocol::{DecisionKind, Event, RunOutcome};
use cutover_model::reconcile::{Progress, Status as Verdict, progress_line};
use cutover_model::summary::{Approval, Confirmation, DecisionNeeded, RunPhase, RunSummary};

/// What the run is doing, in the terms `ls` and the lanes say it: read from the model's
/// [`RunPhase`] (a passed step's end already counts as waiting for the next one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
enum Doing {
    /// Nothing yet.
    #[default]
    Starting,
    /// Waiting for the operator to run step `next`.
    Ready(usize),
    /// Step `index` runs since `since`.
    Running(usize, DateTime<Utc>),
    /// Step `index`'s attempt ended (its start unseen): the engine says next what follows.
    Ended(usize),
    /// Step `index` waits for a decision.
    Deciding(usize, DecisionKind),
    /// Step `index` waits for its word.
    Confirming(usize),
    /// Step `index` waits for the sign-offs of these roles.
    Approving(usize, Vec<String>),
    /// Preflight found something that stops the run: it waits for a typed reason or its end.
    PreflightBlocked,
    /// The rollback runs.
    RollingBack,
    /// The run ended.
    Finished(RunOutcome),
}

impl Doing {
    /// The step the run is at, while it is at one.
    fn step(&self) -> Option<usize> {
        match self {
            Doing::Ready(i)
            | Doing::Running(i, _)
            | Doing::Ended(i)
            | Doing::Deciding(i, _)
            | Doing::Confirming(i)
            | Doing::Approving(i, _) => Some(*i),
            _ => None,
        }
    }

    /// The fleet lane's state for it (a running countdown aside).
    fn lane_state(&self) -> LaneState {
        match self {
            Doing::Starting => LaneState::Starting,
            Doing::Ready(_) => LaneState::Waiting,
            Doing::Running(..) | Doing::Ended(_) => LaneState::Running,
            Doing::Deciding(..) | Doing::PreflightBlocked => LaneState::Failed,
            Doing::Confirming(_) | Doing::Approving(..) => LaneState::Asking,
            Doing::RollingBack => LaneState::RollingBack,
            Doing::Finished(RunOutcome::Completed) => LaneState::Completed,
            Doing::Finished(RunOutcome::RolledBack | RunOutcome::RolledBackPartly) => {
                LaneState::RolledBack
            }
            Doing::Finished(RunOutcome::Aborted | RunOutcome::NotStarted) => LaneState::Ended,
        }
    }
}

/// A run's state, folded from its events: the model's fold of the run (its steps, their
/// plan and states, its start and end) and, besides, what the run is doing now.
#[derive(Debug, Clone, Default)]
pub struct StatusFold {
    run: RunSummary,
    phase: RunPhase,
    /// A running automatic-rollback countdown: trigger and deadline.
    countdown: Option<(String, DateTime<Utc>)>,
    /// Reconcile checks running now, with their latest progress.
    reconciling: BTreeMap<String, Progress>,
    /// The running step's progress figures: step, first reading (when, done), latest
    /// (done, total, unit, when).
    step_progress: Option<StepFigures>,
    /// What a fleet's lane shows besides: when this session's first step started, the
    /// latest lag reading, each check's latest verdict (a resumed run's restored ones too).
    lane: LaneFacts,
}

/// What only a fleet's lane needs from the events.
#[derive(Debug, Clone, Default)]
struct LaneFacts {
    started: Option<DateTime<Utc>>,
    lag: Option<LagSample>,
    verdicts: BTreeMap<String, (Verdict, u64)>,
}

/// A running step's progress readings, first and latest.
#[derive(Debug, Clone)]
struct StepFigures {
    index: usize,
    first: (DateTime<Utc>, u64),
    done: u64,
    total: Option<u64>,
    unit: String,
    at: DateTime<Utc>,
}

impl StepFigures {
    /// In words, with the rate since the first reading.
    fn words(&self) -> String {
        let rate = cutover_model::narrate::progress_rate(self.first, self.at, self.done);
        cutover_model::narrate::step_progress(self.done, self.total, &self.unit, rate)
    }
}

impl StatusFold {
    /// Takes one event.
    pub fn apply(&mut self, ev: &Event) {
        self.run.apply(None, ev);
        self.phase.apply(ev);
        match ev {
            Event::LagSample { sample, .. } => self.lane.lag = Some(sample.clone()),
            Event::StepStarted { at, .. } => {
                self.lane.started.get_or_insert(*at);
                self.step_progress = None;
            }
            Event::StepProgress { .. }
            | Event::ReconcileProgress { .. }
            | Event::ReconcileResult { .. } => self.progress(ev),
            Event::RollbackStarted { .. } => self.countdown = None,
            Event::TriggerFired {
                name,
                countdown_ms: Some(ms),
                at,
                ..
            } => {
                self.countdown = Some((
                    name.clone(),
                    *at + chrono::Duration::milliseconds(*ms as i64),
                ));
            }
            Event::CountdownCancelled { .. } => self.countdown = None,
            Event::RunFinished { .. } => {
                self.countdown = None;
                self.reconciling.clear();
            }
            _ => {}
        }
    }

    /// A running step's progress figures, a running check's progress, a check's end.
    fn progress(&mut self, ev: &Event) {
        match ev {
            Event::StepProgress {
                index,
                done,
                total,
                unit,
                error: None,
                at,
            } => {
                let first = match &self.step_progress {
                    Some(p) if p.index == *index => p.first,
                    _ => (*at, *done),
                };
                self.step_progress = Some(StepFigures {
                    index: *index,
                    first,
                    done: *done,
                    total: *total,
                    unit: unit.clone(),
                    at: *at,
                });
            }
            Event::ReconcileProgress { progress } => {
                self.reconciling
                    .insert(progress.name.clone(), progress.clone());
            }
            Event::ReconcileResult { result, .. } => {
                self.reconciling.remove(&result.name);
                self.lane
                    .verdicts
                    .insert(result.name.clone(), (result.status, result.mismatch_rows()));
            }
            _ => {}
        }
    }

    /// The roles the run waits to have signed off now (empty: no sign-off is waited for).
    pub fn open_sign_offs(&self) -> Vec<String> {
        self.phase.missing_sign_offs()
    }

    /// What the run is doing, in `ls`'s terms, from the run's phase.
    fn doing(&self) -> Doing {
        match &self.phase {
            RunPhase::Starting => Doing::Starting,
            RunPhase::Ready { next } => Doing::Ready(*next),
            RunPhase::Running { index, since } => Doing::Running(*index, *since),
            // A passed step: the engine waits for the next one now (its `Ready` follows, and
            // a failed one's decision); `ls` says so as soon as the end is journaled.
            RunPhase::Ended {
                index,
                passed: true,
                ..
            } if *index + 1 < self.run.steps.len() => Doing::Ready(*index + 1),
            RunPhase::Ended {
                index,
                since: Some(since),
                ..
            } => Doing::Running(*index, *since),
            RunPhase::Ended { index, .. } => Doing::Ended(*index),
            RunPhase::Confirming(Confirmation { index, .. }) => Doing::Confirming(*index),
            RunPhase::Approving(Approval { index, .. }) => {
                Doing::Approving(*index, self.phase.missing_sign_offs())
            }
            RunPhase::Deciding(DecisionNeeded { index, kind, .. }) => {
                Doing::Deciding(*index, *kind)
            }
            RunPhase::PreflightBlocked => Doing::PreflightBlocked,
            RunPhase::RollingBack { .. } => Doing::RollingBack,
            RunPhase::Finished(o) => Doing::Finished(*o),
        }
    }

    /// The runbook's name.
    pub fn runbook_name(&self) -> &str {
        &self.run.name
    }

    fn step(&self, i: usize) -> String {
        self.run
            .steps
            .get(i)
            .map_or_else(|| format!("#{}", i + 1), |s| format!("{} {}", i + 1, s.id))
    }

    /// Where the run stands at `now`, in words, and the reconcile checks running with their
    /// progress: `running 3 copy (0:41) · reconciling accounts 8/16 parts · ETA 12s · …`.
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let mut s = self.doing_now(now);
        for (name, p) in &self.reconciling {
            s.push_str(&format!(" · reconciling {name} {}", progress_line(p)));
        }
        s
    }

    /// What the run does at `now`, in words.
    fn doing_now(&self, now: DateTime<Utc>) -> String {
        if let Some((name, at)) = &self.countdown {
            let left = (*at - now).num_seconds().max(0);
            return format!("ROLLBACK in {left}s (trigger {name})");
        }
        match &self.doing() {
            Doing::Starting => "starting".into(),
            Doing::Ready(next) => format!("waiting to run {}", self.step(*next)),
            Doing::Running(i, since) => {
                let secs = (now - *since).num_seconds().max(0);
                let progress = self
                    .step_progress
                    .as_ref()
                    .filter(|p| p.index == *i)
                    .map_or(String::new(), |p| format!(" · {}", p.words()));
                format!(
                    "running {} ({}:{:02}){progress}",
                    self.step(*i),
                    secs / 60,
                    secs % 60
                )
            }
            Doing::Deciding(i, kind) => {
                let what = match kind {
                    DecisionKind::Failed => "failed",
                    DecisionKind::Interrupted => "interrupted",
                    DecisionKind::RollbackFailed => "rollback action failed",
                    DecisionKind::RollbackInterrupted => "rollback action interrupted",
                };
                format!("waiting for a decision: {} {what}", self.step(*i))
            }
            Doing::Ended(i) => format!("step {} ended", self.step(*i)),
            Doing::Confirming(i) => format!("waiting for the word of {}", self.step(*i)),
            Doing::Approving(i, missing) => format!(
                "waiting for sign-off of {}: {}",
                self.step(*i),
                missing.join(", ")
            ),
            Doing::RollingBack => "rolling back".into(),
            Doing::PreflightBlocked => {
                "preflight failed: waiting for a reason to start anyway, or the end".into()
            }
            Doing::Finished(o) => format!("finished: {}", outcome_words(*o)),
        }
    }

    /// Whether the run has ended.
    pub fn finished(&self) -> bool {
        matches!(self.phase, RunPhase::Finished(_))
    }

    /// How the run ended, once it has.
    pub fn outcome(&self) -> Option<RunOutcome> {
        match self.phase {
            RunPhase::Finished(o) => Some(o),
            _ => None,
        }
    }

    /// The run as a fleet's lane for `member` at `now` (its socket left for the fleet to set).
    pub fn lane(&self, member: &str, now: DateTime<Utc>) -> Lane {
        let doing = self.doing();
        let step = doing.step();
        let state = match self.countdown {
            Some(_) => LaneState::RollingBack,
            None => doing.lane_state(),
        };
        let title = match (&doing, step) {
            (Doing::Finished(o), _) => outcome_words(*o).to_string(),
            (Doing::PreflightBlocked, _) => "preflight failed: open it to decide".into(),
            (_, Some(i)) => self
                .run
                .steps
                .get(i)
                .map(|s| s.title.clone())
                .unwrap_or_default(),
            (_, None) => String::new(),
        };
        let elapsed_ms = self.lane.started.map(|t| {
            let until = self.run.ended_at.unwrap_or(now);
            u64::try_from((until - t).num_milliseconds()).unwrap_or(0)
        });
        let planned = self.run.planned_ms();
        Lane {
            member: member.to_string(),
            state,
            step,
            steps: self.run.steps.len(),
            title,
            elapsed_ms,
            planned_ms: (planned > 0).then_some(planned),
            lag: self.lane.lag.as_ref().map(lag_words),
            reconcile: self.verdict_words(),
            countdown: self.countdown.clone(),
            socket: None,
        }
    }

    /// The checks' latest verdicts in a word: `error`, `12 differ`, `match`.
    fn verdict_words(&self) -> Option<String> {
        let v = &self.lane.verdicts;
        if v.is_empty() {
            return None;
        }
        if let Some(name) = v
            .iter()
            .find(|(_, (s, _))| *s == Verdict::Error)
            .map(|(n, _)| n)
        {
            return Some(format!("error: {name}"));
        }
        let differ: u64 = v
            .values()
            .filter(|(s, _)| *s == Verdict::Fail)
            .map(|(_, n)| *n)
            .sum();
        if v.values().any(|(s, _)| *s == Verdict::Fail) {
            return Some(format!("{differ} differ"));
        }
        Some("match".into())
    }
}

/// A run's outcome in words.
fn outcome_words(o: RunOutcome) -> &'static str {
    match o {
        RunOutcome::Completed => "completed",
        RunOutcome::RolledBack => "rolled back",
        RunOutcome::RolledBackPartly => "rolled back, actions skipped",
        RunOutcome::Aborted => "aborted",
        RunOutcome::NotStarted => "not started (preflight failed)",
    }
}

/// A lag reading in a word: seconds when the probe has them, else bytes; `stale` while the
/// probe fails.
fn lag_words(s: &LagSample) -> String {
    if s.stale_since.is_some() {
        return "stale".into();
    }
    match (s.seconds, s.bytes) {
        (Some(secs), _) => cutover_model::narrate::duration((secs.max(0.0) * 1000.0) as u64),
        (None, Some(b)) => cutover_model::narrate::bytes(b),
        _ => "—".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_waiting_for_sign_offs_says_whose_not_running() {
        let mut f = StatusFold::default();
        let now = Utc::now();
        f.apply(&Event::Ready { next: 2 });
        assert_eq!(f.describe(now), "waiting to run #3");
        f.apply(&Event::ApprovalRequested {
            index: 2,
            roles: vec!["dba".into(), "app owner".into()],
            approved: vec![],
        });
        assert_eq!(
            f.describe(now),
            "waiting for sign-off of #3: dba, app owner"
        );
        f.apply(&Event::ApprovalRequested {
            index: 2,
            roles: vec!["dba".into(), "app owner".into()],
            approved: vec![("dba".into(), "alice".into())],
        });
        assert_eq!(f.describe(now), "waiting for sign-off of #3: app owner");
    }

    #[test]
    fn a_running_step_shows_its_progress_rate_and_eta() {
        let mut f = StatusFold::default();
        let t0 = Utc::now();
        f.apply(&Event::StepStarted {
            index: 0,
            id: "copy".into(),
            attempt: 1,
            at: t0,
            command: "pg_dump | psql".into(),
        });
        let reading = |done: u64, secs: i64| Event::StepProgress {
            index: 0,
            done,
            total: Some(1_000_000),
            unit: "rows".into(),
            error: None,
            at: t0 + chrono::Duration::seconds(secs),
        };
        f.apply(&reading(100_000, 0));
        f.apply(&reading(400_000, 10));
        assert_eq!(
            f.describe(t0 + chrono::Duration::seconds(10)),
            "running #1 (0:10) · 400000 / 1000000 rows · 40% · 30k rows/s · ETA 20s"
        );
        // A new attempt starts without the old figures.
        f.apply(&Event::StepStarted {
            index: 0,
            id: "copy".into(),
            attempt: 2,
            at: t0,
            command: "pg_dump | psql".into(),
        });
        assert_eq!(f.describe(t0), "running #1 (0:00)");
    }

    #[test]
    fn a_running_check_shows_its_progress_and_eta_until_its_result() {
        let mut f = StatusFold::default();
        let now = Utc::now();
        f.apply(&Event::Ready { next: 0 });
        let progress = Progress {
            name: "accounts".into(),
            phase: cutover_model::reconcile::Phase::Comparing,
            partitions_done: 4,
            partitions_total: 16,
            rows_compared: 40_000,
            mismatches: 0,
            elapsed_ms: 2_000,
            throttled: None,
            recheck_in_ms: None,
        };
        f.apply(&Event::ReconcileProgress { progress });
        assert_eq!(
            f.describe(now),
            "waiting to run #1 · reconciling accounts 4/16 parts · ETA 6s · 20k rows/s · 40000 rows"
        );
        let result = cutover_model::reconcile::ReconcileResult::new(
            "accounts",
            cutover_model::runbook::ReconcileKind::Count,
        );
        f.apply(&Event::ReconcileResult {
            result: Box::new(result),
            restored: false,
        });
        assert_eq!(f.describe(now), "waiting to run #1");
    }
}

#[cfg(test)]
mod lane_tests {
    use super::*;
    use cutover_model::fleet::lane::LaneState;

    fn started(index: usize, at: DateTime<Utc>) -> Event {
        Event::StepStarted {
            index,
            id: format!("s{index}"),
            attempt: 1,
            at,
            command: "true".into(),
        }
    }

    /// A lane through a run: waiting, running with its clock, failed at its step, rolled
    /// back with the run's whole time kept, and a countdown shown as rolling back.
    #[test]
    fn a_lane_follows_its_run_to_a_rollback() {
        let t0 = Utc::now();
        let mut f = StatusFold::default();
        f.apply(&Event::Ready { next: 0 });
        assert_eq!(f.lane("m", t0).state, LaneState::Waiting);
        f.apply(&started(0, t0));
        let l = f.lane("m", t0 + chrono::Duration::seconds(5));
        assert_eq!(
            (l.state, l.step, l.elapsed_ms),
            (LaneState::Running, Some(0), Some(5000))
        );
        f.apply(&Event::DecisionNeeded {
            index: 0,
            kind: DecisionKind::Failed,
            message: "failed".into(),
            still_running: None,
        });
        assert_eq!(f.lane("m", t0).state, LaneState::Failed);
        f.apply(&Event::RunFinished {
            outcome: RunOutcome::RolledBack,
            at: t0 + chrono::Duration::seconds(30),
        });
        let l = f.lane("m", t0 + chrono::Duration::seconds(99));
        assert_eq!(l.state, LaneState::RolledBack);
        assert_eq!(l.elapsed_ms, Some(30_000));
        assert_eq!(l.title, "rolled back");
    }
}
