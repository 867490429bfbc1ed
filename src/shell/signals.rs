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
/// SIGHUP taken over and ignored: an engine has no terminal to lose, and a stray one must not
/// end its run.
pub const HUP_IGNORED: Named = (SignalKind::hangup(), None);

/// Takes over every signal in `signals` and sends the name of each one that has a name on
/// the returned channel. Every handler is installed before any task starts, and an error
/// installing one is returned; those installed before it stay taken over. A signal without a
/// name needs nothing more: tokio keeps a handler for the life of the process once it is
/// installed, so the signal is swallowed even with its stream dropped. Each named signal has
/// its own task, which ends when the receiver is dropped, whether or not its signal comes
/// again.
pub fn forward(signals: &[Named]) -> io::Result<mpsc::Receiver<&'static str>> {
    let installed = signals
        .iter()
        .map(|&(kind, name)| signal(kind).map(|s| (s, name)))
        .collect::<io::Result<Vec<_>>>()?;
    let (tx, rx) = mpsc::channel(4);
    for (mut s, name) in installed {
        let Some(name) = name else { continue };
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    got = s.recv() => {
                        if got.is_none() || tx.send(name).await.is_err() {
                            return;
                        }
                    }
                    () = tx.closed() => return,
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

    /// Dropping the receiver ends every task, even with no signal coming again (the lanes and
    /// a member's cockpit take the signals over each time the operator goes between them).
    #[test]
    fn dropping_the_receiver_ends_its_tasks() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let rx = forward(&[
                (SignalKind::window_change(), Some("SIGWINCH")),
                (SignalKind::from_raw(libc::SIGURG), None),
            ])
            .unwrap();
            let alive = || {
                tokio::runtime::Handle::current()
                    .metrics()
                    .num_alive_tasks()
            };
            // The named signal's task (an ignored one needs none).
            assert_eq!(alive(), 1);
            drop(rx);
            for _ in 0..100 {
                if alive() == 0 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert_eq!(alive(), 0, "a task outlived its receiver");
        });
    }
}
