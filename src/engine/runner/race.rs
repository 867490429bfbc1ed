//! Waiting on a server without ever waiting past the step: a connect, a query or a step's
//! whole database work raced against the step's deadline and the operator, so that a server
//! that stops answering (a stopped backend, a frozen postmaster, a host that takes the
//! connection and says nothing) costs at most the step's `timeout`, and a cancel, an end of
//! the run or a signal is acted on at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tokio_postgres::{CancelToken, Client};

use cutover_model::protocol::StepOutcome;

use super::{Attempt, EngineError, Runner, Stop};

/// How long a cancel request, and then the query's end, are waited for: a server that does
/// not end the query within it has not confirmed the cancel.
pub(super) const CANCEL_WITHIN: Duration = Duration::from_secs(5);

/// How a raced wait ended.
pub(super) enum Raced<T> {
    /// The work ended (well or not) in time.
    Done(T),
    /// The deadline came first.
    TimedOut,
    /// The operator stopped the step (or ended the run, or a signal did).
    Stopped(Stop),
}

/// Whether the server confirmed a cancel: the query ended within [`CANCEL_WITHIN`] of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cancelled {
    /// Nothing had reached the server yet (the connection was still being made).
    NothingSent,
    /// The query ended after the cancel.
    Confirmed,
    /// The server said nothing in time: the session was closed, and the next statement on
    /// that connection opens a new one.
    Unconfirmed,
}

impl Cancelled {
    /// The words after "timed out after 5s" or "stopped by the operator".
    pub(super) fn words(self, on: &str) -> String {
        match self {
            Cancelled::NothingSent => format!("while connecting to {on}; nothing was sent"),
            Cancelled::Confirmed => "the query was cancelled on the server".into(),
            Cancelled::Unconfirmed => format!(
                "a cancel was sent, but {on} did not confirm it within {}s: the session was closed (a new one is opened for what comes next)",
                CANCEL_WITHIN.as_secs()
            ),
        }
    }
}

/// Sleeps until `deadline`, or for ever when there is none (a select arm that never fires).
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

impl Runner<'_> {
    /// Waits for `fut` until `deadline`. For a step's own work (`step` given) the operator is
    /// answered meanwhile (`busy` says what runs, to a command that cannot be taken now) and
    /// may stop it.
    pub(super) async fn race<T>(
        &mut self,
        mut fut: Pin<&mut impl Future<Output = T>>,
        deadline: Option<Instant>,
        step: Option<usize>,
        busy: &str,
    ) -> Result<Raced<T>, EngineError> {
        loop {
            let inbound = tokio::select! {
                r = &mut fut => return Ok(Raced::Done(r)),
                () = sleep_until(deadline) => return Ok(Raced::TimedOut),
                inbound = self.mailbox.recv(), if step.is_some() => inbound,
            };
            if let Some(index) = step
                && let Some(stop) = self.while_busy(inbound, index, busy).await?
            {
                return Ok(Raced::Stopped(stop));
            }
        }
    }

    /// The session of connection `on`, connecting (again) when needed, raced as
    /// [`Runner::race`] says.
    pub(super) async fn session(
        &mut self,
        on: &str,
        deadline: Option<Instant>,
        step: Option<usize>,
        busy: &str,
    ) -> Result<Raced<Result<Arc<Client>, String>>, EngineError> {
        if let Some(c) = self.sessions.open(on) {
            return Ok(Raced::Done(Ok(c)));
        }
        let Some(settings) = self.conns.get(on).cloned() else {
            return Ok(Raced::Done(Err(format!("no connection named `{on}`"))));
        };
        let connecting = settings.connect_with_notices();
        tokio::pin!(connecting);
        Ok(match self.race(connecting, deadline, step, busy).await? {
            Raced::Done(Ok((client, notices))) => {
                Raced::Done(Ok(self.sessions.keep(on, client, notices)))
            }
            Raced::Done(Err(e)) => Raced::Done(Err(self.masker.mask(&e.to_string()).into_owned())),
            Raced::TimedOut => Raced::TimedOut,
            Raced::Stopped(s) => Raced::Stopped(s),
        })
    }

    /// Sends a cancel request for what `token` runs on `on`, waiting for it at most
    /// [`CANCEL_WITHIN`] (a frozen postmaster may take the connection and say nothing).
    pub(super) async fn cancel_request(&self, on: &str, token: &CancelToken) {
        if let Some(settings) = self.conns.get(on) {
            match tokio::time::timeout(CANCEL_WITHIN, settings.cancel(token)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("cancel request on {on} failed: {e}"),
                Err(_) => tracing::warn!("cancel request on {on} not answered"),
            }
        }
    }

    /// Cancels the query `token` runs on `on`, then waits for `fut` (the query) to end, each
    /// for at most [`CANCEL_WITHIN`]. When the query does not end, the session is closed, so
    /// that nothing else waits behind it.
    pub(super) async fn cancel<T>(
        &mut self,
        on: &str,
        token: &CancelToken,
        fut: Pin<&mut impl Future<Output = T>>,
    ) -> Cancelled {
        self.cancel_request(on, token).await;
        if tokio::time::timeout(CANCEL_WITHIN, fut).await.is_ok() {
            Cancelled::Confirmed
        } else {
            self.sessions.forget(on);
            Cancelled::Unconfirmed
        }
    }
}

/// The attempt of a step whose work on `on` timed out (`stop` none) or was stopped, `cancelled`
/// saying what became of its query; `timeout` is the step's.
pub(super) fn cut_short(
    stop: Option<Stop>,
    cancelled: Cancelled,
    on: &str,
    timeout: Option<Duration>,
) -> Result<Attempt, (Attempt, Stop)> {
    match stop {
        None => {
            let t = timeout.map_or(
                String::new(),
                cutover_model::runbook::units::format_duration,
            );
            Ok(Attempt {
                outcome: StepOutcome::TimedOut,
                ..Attempt::failed(format!("timed out after {t}; {}", cancelled.words(on)))
            })
        }
        Some(s) => Err((
            Attempt {
                outcome: StepOutcome::Cancelled,
                ..Attempt::failed(format!("stopped by the operator; {}", cancelled.words(on)))
            },
            s,
        )),
    }
}
