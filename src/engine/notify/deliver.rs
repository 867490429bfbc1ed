//! Running one hook command once: `sh -c` in its own process group, the event as JSON on its
//! stdin, killed (the whole group) at its timeout; its output is read and dropped but for the
//! last line, which says why when it fails.

use std::time::Duration;

use tokio::sync::{mpsc, watch};

use cutover_shell::ShellSpec;

/// Runs `command` once; `Ok` when it exited 0, else why not (the last line it printed, if any).
pub async fn once(
    command: &str,
    env: Vec<(String, String)>,
    stdin: Option<String>,
    timeout: Duration,
    mut line: impl FnMut(&str) + Send,
) -> Result<(), String> {
    let spec = ShellSpec {
        command: command.to_string(),
        env,
        timeout: Some(timeout),
        keep_whole: Vec::new(),
        stdin,
        untracked: true,
    };
    let (tx, mut rx) = mpsc::channel(64);
    let (_cancel_tx, cancel) = watch::channel(false);
    let run = cutover_shell::run(&spec, tx, None, cancel);
    let mut last = String::new();
    let read = async {
        while let Some((_, l)) = rx.recv().await {
            let l: String = l;
            line(&l);
            if !l.trim().is_empty() {
                last = l;
            }
        }
    };
    let (r, ()) = tokio::join!(run, read);
    let why = |s: String| {
        if last.is_empty() {
            s
        } else {
            format!("{s}: {}", last.trim())
        }
    };
    match r {
        Err(e) => Err(format!("could not start: {e}")),
        Ok(x) if x.timed_out => Err(why(format!(
            "ran past its timeout ({}); its process group was killed",
            cutover_model::runbook::units::format_duration(timeout)
        ))),
        Ok(x) => match (x.code, x.signal) {
            (Some(0), _) => Ok(()),
            (Some(c), _) => Err(why(format!("exited {c}"))),
            (None, Some(s)) => Err(why(format!("was killed by signal {s}"))),
            _ => Err(why("ended without an exit code".into())),
        },
    }
}
