//! `[[notify]]` hooks: the people on the bridge hear about the run even when nobody looks at
//! the screen. Each engine event passes the [`watch::Watch`], which says which kinds it is;
//! each hook that asked for a kind gets it, as JSON on its stdin and `CUTOVER_NOTIFY_*` in its
//! environment, masked like everything else.
//!
//! A hook never blocks or slows the run, nor another hook: each hook's notes go through a
//! bounded queue of its own (a full queue drops the note and says so) to a task of its own,
//! which runs the hook in its own process group with its timeout, and tries again with
//! backoff (1 s, 2 s, 4 s…) up to its `retries`.
//! A hook that still fails is reported back to the run, which journals it and shows it.
//! `cutover notify RUNBOOK --test` sends one `test` note to every hook; the drift watch's
//! `--on-fail` runs through [`deliver::once`] too.

pub mod deliver;
pub mod watch;

use std::time::Duration;

use tokio::sync::mpsc;

use cutover_model::runbook::notify::{Notify, NotifyKind};
use cutover_model::secrets::Masker;
use watch::{Note, Watch};

/// Notes waiting for delivery at most; more are dropped (and counted).
pub const QUEUE: usize = 64;

/// How long the end of a run waits for the notes still queued (`run_ended` among them).
pub const FLUSH_WITHIN: Duration = Duration::from_secs(30);

/// A hook ready to run: its command with secrets filled in.
#[derive(Debug, Clone)]
pub struct Hook {
    /// Its position in the runbook (1-based), for messages.
    pub number: usize,
    /// The kinds it hears about.
    pub on: Vec<NotifyKind>,
    /// The command, rendered.
    pub command: String,
    /// Its time limit per try.
    pub timeout: Duration,
    /// Tries after a failed one.
    pub retries: u32,
    /// `behind_plan` margin, ms.
    pub behind_by_ms: u64,
}

impl Hook {
    /// The hooks of a runbook's `[[notify]]`, rendered with `secrets`.
    pub fn all(
        notify: &[Notify],
        secrets: &std::collections::BTreeMap<String, String>,
    ) -> Vec<Hook> {
        notify
            .iter()
            .enumerate()
            .map(|(i, n)| Hook {
                number: i + 1,
                on: n.on.clone(),
                command: n.run.render(secrets),
                timeout: n.timeout,
                retries: n.retries,
                behind_by_ms: n.behind_by.as_millis() as u64,
            })
            .collect()
    }
}

/// What every note says about the run.
#[derive(Debug, Clone, Default)]
pub struct RunFacts {
    /// The runbook's name.
    pub name: String,
    /// The journal's path.
    pub journal: String,
    /// The environment every hook gets (the runbook's `process_env`: vars, secrets by name).
    pub env: Vec<(String, String)>,
}

/// The note as the hook reads it on stdin.
pub fn payload(note: &Note, run: &RunFacts) -> String {
    serde_json::json!({
        "kind": note.kind.word(),
        "run": { "name": run.name, "journal": run.journal },
        "step": note.step.as_ref().map(|(i, id)| serde_json::json!({ "index": i, "id": id })),
        "message": note.message,
        "at": note.at.to_rfc3339(),
    })
    .to_string()
}

/// What the hook's environment says of `note` (besides the runbook's environment, which a
/// hook gets as a step does).
fn event_env(note: &Note, run: &RunFacts) -> [(String, String); 6] {
    [
        (
            "CUTOVER_NOTIFY_KIND".to_string(),
            note.kind.word().to_string(),
        ),
        ("CUTOVER_NOTIFY_MESSAGE".to_string(), note.message.clone()),
        (
            "CUTOVER_NOTIFY_STEP".to_string(),
            note.step
                .as_ref()
                .map(|(_, id)| id.clone())
                .unwrap_or_default(),
        ),
        ("CUTOVER_NOTIFY_AT".to_string(), note.at.to_rfc3339()),
        ("CUTOVER_RUN_NAME".to_string(), run.name.clone()),
        ("CUTOVER_JOURNAL".to_string(), run.journal.clone()),
    ]
}

/// Runs `hook` for `note`, trying again with backoff; `Err` says why after the last try.
pub async fn send(
    hook: &Hook,
    note: &Note,
    run: &RunFacts,
    masker: &Masker,
) -> Result<u32, String> {
    let stdin = masker.mask(&payload(note, run)).into_owned();
    // The runbook's environment is the hook's as it is a step's: a `CUTOVER_SECRET_*` is the
    // secret, which a hook sends its token from. What the event says is masked.
    let env: Vec<(String, String)> = run
        .env
        .iter()
        .cloned()
        .chain(
            event_env(note, run)
                .into_iter()
                .map(|(k, v)| (k, masker.mask(&v).into_owned())),
        )
        .collect();
    let mut last = String::new();
    for attempt in 0..=hook.retries {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 1).min(5))).await;
        }
        match deliver::once(
            &hook.command,
            env.clone(),
            Some(stdin.clone()),
            hook.timeout,
            |_| {},
        )
        .await
        {
            Ok(()) => return Ok(attempt + 1),
            Err(e) => last = masker.mask(&e).into_owned(),
        }
    }
    Err(format!(
        "notify hook {} ({}) failed {} time{}: {last}",
        hook.number,
        note.kind.word(),
        hook.retries + 1,
        if hook.retries == 0 { "" } else { "s" }
    ))
}

/// The run's notifier: the watch, one queue and delivery task per hook, and the reports
/// back. A hook has its own queue: one that never answers (its timeout and retries, over
/// and over) delays and drops only its own notes, never another hook's page.
pub struct Notifier {
    watch: Watch,
    hooks: Vec<Hook>,
    /// One per hook, in the same order; empty once the run ended.
    queues: Vec<mpsc::Sender<Note>>,
    reports: mpsc::UnboundedReceiver<String>,
    dropped: u64,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Notifier {
    /// Starts a delivery task for each of `hooks` (on the current tokio runtime).
    pub fn start(hooks: Vec<Hook>, run: RunFacts, masker: Masker) -> Notifier {
        // Each margin watched once, however many hooks share it: its note goes to each of
        // them once.
        let margins: Vec<u64> = hooks
            .iter()
            .filter(|h| h.on.contains(&NotifyKind::BehindPlan))
            .map(|h| h.behind_by_ms)
            .collect::<std::collections::BTreeSet<u64>>()
            .into_iter()
            .collect();
        let (report_tx, reports) = mpsc::unbounded_channel();
        let mut queues = Vec::new();
        let mut tasks = Vec::new();
        for hook in &hooks {
            let (tx, mut rx) = mpsc::channel::<Note>(QUEUE);
            let (hook, run, masker, report_tx) =
                (hook.clone(), run.clone(), masker.clone(), report_tx.clone());
            tasks.push(tokio::spawn(async move {
                while let Some(note) = rx.recv().await {
                    if let Err(why) = send(&hook, &note, &run, &masker).await {
                        let _ = report_tx.send(why);
                    }
                }
            }));
            queues.push(tx);
        }
        Notifier {
            watch: Watch::new(&margins),
            hooks,
            queues,
            reports,
            dropped: 0,
            tasks,
        }
    }

    /// Takes one (masked) event of the run: queues for each hook what it asked to hear about
    /// (a `behind_plan` note only for the hooks of its margin).
    pub fn see(&mut self, ev: &cutover_model::protocol::Event) {
        if self.queues.is_empty() {
            return;
        }
        for (note, margin) in self.watch.see(ev, chrono::Utc::now()) {
            for (hook, queue) in self.hooks.iter().zip(&self.queues) {
                let wanted =
                    hook.on.contains(&note.kind) && margin.is_none_or(|m| m == hook.behind_by_ms);
                if wanted && queue.try_send(note.clone()).is_err() {
                    self.dropped += 1;
                }
            }
        }
    }

    /// Failures to report (journaled by the run), and a count of dropped notes.
    pub fn take_reports(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        while let Ok(r) = self.reports.try_recv() {
            out.push(r);
        }
        if self.dropped > 0 {
            out.push(format!(
                "{} notification(s) dropped: a hook's notify queue ({QUEUE}) was full (the hook is slow or hangs)",
                std::mem::take(&mut self.dropped)
            ));
        }
        out
    }

    /// Ends the queues and waits (at most [`FLUSH_WITHIN`], all hooks together) for what is
    /// in them to be sent; returns the failures still to report, naming each hook left behind.
    pub async fn finish(&mut self) -> Vec<String> {
        self.queues.clear();
        let tasks = std::mem::take(&mut self.tasks);
        let deadline = tokio::time::Instant::now() + FLUSH_WITHIN;
        let mut behind = Vec::new();
        for (hook, task) in self.hooks.iter().zip(tasks) {
            if tokio::time::timeout_at(deadline, task).await.is_err() {
                behind.push(hook.number.to_string());
            }
        }
        let mut out = self.take_reports();
        if !behind.is_empty() {
            out.push(format!(
                "notify: hook{} {} still running {}s after the run ended, left behind with {} notes",
                if behind.len() == 1 { "" } else { "s" },
                behind.join(", "),
                FLUSH_WITHIN.as_secs(),
                if behind.len() == 1 { "its" } else { "their" }
            ));
        }
        out
    }
}
