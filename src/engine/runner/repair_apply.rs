//! A repair patch applied within the step's timeout, the operator answered meanwhile: a
//! target that stops answering (a frozen backend, a lock that is never given up) cannot hold
//! the step, a SIGTERM or a cancel past its limit. What the server did is learnt from the
//! cancel, not guessed.

use tokio::time::Instant;

use super::race::{CANCEL_WITHIN, Raced};
use super::{EngineError, Runner, Stop};
use cutover_reconcile::ReconcileError;
use cutover_reconcile::repair::{self, Applied, Patch};

/// How applying a patch went.
pub(super) enum ApplyEnd {
    /// It ended: applied (`Ok`), or failed and rolled back (`Err`).
    Done(Result<Applied, ReconcileError>),
    /// It was cut short and the server did not confirm the cancel: whether its transaction
    /// committed is not known.
    Unknown,
}

/// Whether applying was cut short.
pub(super) enum Cut {
    /// It ran to its end.
    No,
    /// The step's timeout came.
    TimedOut,
    /// The operator (or a signal, or a trigger) stopped the step.
    Stopped(Stop),
}

impl Runner<'_> {
    /// Applies `patch` on `target` (connection `on`) as [`repair::apply`] does, raced against
    /// step `index`'s timeout and its operator. Cut short, the statement running is cancelled
    /// on the server and its end awaited for at most [`CANCEL_WITHIN`]: a cancelled patch is
    /// rolled back whole (`Done(Err)`); one whose `COMMIT` came first is applied (`Done(Ok)`);
    /// how it was cut short is returned beside.
    pub(super) async fn apply_raced(
        &mut self,
        index: usize,
        (on, target): (&str, &tokio_postgres::Client),
        patch: &Patch,
        fire_triggers: bool,
        deadline: Option<Instant>,
    ) -> Result<(ApplyEnd, Cut), EngineError> {
        let work = repair::apply(target, patch, false, fire_triggers);
        tokio::pin!(work);
        let busy = "applying its repair patch";
        let cut = match self
            .race(work.as_mut(), deadline, Some(index), busy)
            .await?
        {
            Raced::Done(r) => return Ok((ApplyEnd::Done(r), Cut::No)),
            Raced::TimedOut => Cut::TimedOut,
            Raced::Stopped(s) => Cut::Stopped(s),
        };
        self.cancel_request(on, &target.cancel_token()).await;
        match tokio::time::timeout(CANCEL_WITHIN, work.as_mut()).await {
            Ok(r) => Ok((ApplyEnd::Done(r), cut)),
            Err(_) => Ok((ApplyEnd::Unknown, cut)),
        }
    }
}
