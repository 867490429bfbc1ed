//! Signals taken over by name: each front end (the cockpit, the lanes, `--headless`, a fleet
//! engine, `reconcile`) names the signals it ends on, and the ones it only takes from their
//! default action, and reads the names from one channel.

use std::io;

use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

/// A signal to take over, and the name it is sent by (`None`: taken over and ignored, so that
/// its default action, often to end the process, does not happen).
pub type Named = (SignalKind, Option<&'static str>);

/// SIGINT, sent as `"SIGINT"`.
pub const INT: Named = (SignalKind::interrupt(), Some("SIGINT"));
/// SIGTERM, sent as `"SIGTERM"`.
pub const TERM: Named = (SignalKind::terminate(), Some("SIGTERM"));
/// SIGHUP, sent as `"SIGHUP"`.
pub const HUP: Named = (SignalKind::hangup(), Some("SIGHUP"));
/// SIGQUIT, sent as `"SIGQUIT"`.
pub const QUIT: Named = (SignalKind::quit(), Some("SIGQUIT"));

/// Takes over every signal in `signals` (all of them, or none: an error installing one is
/// returned before any task starts) and sends the name of each one that has a name on the
/// returned channel, in the order they arrive. The handlers stay for the life of the process
/// (tokio never gives a signal back to its default); dropping the receiver only stops the
/// forwarding.
pub fn forward(signals: &[Named]) -> io::Result<mpsc::Receiver<&'static str>> {
    let installed = signals
        .iter()
        .map(|&(kind, name)| signal(kind).map(|s| (s, name)))
        .collect::<io::Result<Vec<_>>>()?;
    let (tx, rx) = mpsc::channel(4);
    for (mut s, name) in installed {
        let tx = tx.clone();
        tokio::spawn(async move {
            while s.recv().await.is_some() {
                if let Some(name) = name
                    && tx.send(name).await.is_err()
                {
                    return;
                }
            }
        });
    }
    Ok(rx)
}

#[cfg(test)]
// `unsafe` here: the test raises signals at its own process through libc.
#[allow(unsafe_code)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_named_signal_arrives_by_its_name_and_an_ignored_one_does_not() {
        let mut rx = forward(&[
            (SignalKind::user_defined1(), Some("SIGUSR1")),
            (SignalKind::user_defined2(), None),
        ])
        .unwrap();
        // SAFETY: raise sends a signal to this process, whose handlers were installed above.
        unsafe {
            libc::raise(libc::SIGUSR2);
            libc::raise(libc::SIGUSR1);
        }
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .unwrap();
        assert_eq!(got, Some("SIGUSR1"));
        // The ignored one never arrives (nor anything else).
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(300), rx.recv())
                .await
                .is_err()
        );
    }
}
