//! The thread that keeps a metrics file up to date. The run hands it the latest text and goes
//! on: the thread writes at most once per [`MIN_GAP`], always the newest text (older ones are
//! dropped, never queued), so a slow, hung or full disk costs the run nothing and no loop can
//! make it write without bound. A failure is kept for the run to report once; the next write
//! that works clears it.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

/// The shortest time between two writes of the file.
pub const MIN_GAP: Duration = Duration::from_secs(1);

/// How long the end of a run waits for the last text to be written.
const LAST_WRITE_WITHIN: Duration = Duration::from_secs(2);

#[derive(Default)]
struct Slot {
    /// The newest text not written yet.
    text: Option<String>,
    /// The run is over: write what is pending and stop.
    closing: bool,
    /// The last write's failure, not reported yet.
    error: Option<String>,
    /// Whether the last write failed (a failure is reported once until a write works).
    failing: bool,
    /// The thread has stopped.
    done: bool,
}

/// A handle on the writer thread: [`MetricsWriter::publish`] the newest text.
pub struct MetricsWriter {
    shared: Arc<(Mutex<Slot>, Condvar)>,
}

impl MetricsWriter {
    /// Starts the thread that writes `path`.
    pub fn start(path: PathBuf) -> std::io::Result<MetricsWriter> {
        let shared = Arc::new((Mutex::new(Slot::default()), Condvar::new()));
        let theirs = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("metrics-file".into())
            .spawn(move || write_loop(&path, &theirs))?;
        Ok(MetricsWriter { shared })
    }

    /// Makes `text` the next thing written (replacing one not written yet).
    pub fn publish(&self, text: String) {
        let (lock, cv) = &*self.shared;
        lock.lock().unwrap_or_else(PoisonError::into_inner).text = Some(text);
        cv.notify_all();
    }

    /// A write failure not reported yet.
    pub fn take_error(&self) -> Option<String> {
        let (lock, _) = &*self.shared;
        lock.lock()
            .unwrap_or_else(PoisonError::into_inner)
            .error
            .take()
    }
}

impl Drop for MetricsWriter {
    /// Lets the thread write the last text, waiting for it a short while (a hung disk does not
    /// hold the end of the run).
    fn drop(&mut self) {
        let (lock, cv) = &*self.shared;
        let mut slot = lock.lock().unwrap_or_else(PoisonError::into_inner);
        slot.closing = true;
        cv.notify_all();
        let _ = cv.wait_timeout_while(slot, LAST_WRITE_WITHIN, |s| !s.done);
    }
}

fn write_loop(path: &std::path::Path, shared: &(Mutex<Slot>, Condvar)) {
    let (lock, cv) = shared;
    loop {
        let text = {
            let mut slot = lock.lock().unwrap_or_else(PoisonError::into_inner);
            while slot.text.is_none() && !slot.closing {
                slot = cv.wait(slot).unwrap_or_else(PoisonError::into_inner);
            }
            match slot.text.take() {
                Some(t) => t,
                None => {
                    slot.done = true;
                    cv.notify_all();
                    return;
                }
            }
        };
        let result = super::write(path, &text);
        let mut slot = lock.lock().unwrap_or_else(PoisonError::into_inner);
        match result {
            Ok(()) => slot.failing = false,
            Err(e) if !slot.failing => {
                slot.failing = true;
                slot.error = Some(format!(
                    "cannot write the metrics file {}: {e} (it is written again at the next change)",
                    path.display()
                ));
            }
            Err(_) => {}
        }
        // At most one write per MIN_GAP, unless the run is closing.
        drop(cv.wait_timeout_while(slot, MIN_GAP, |s| !s.closing));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_newest_text_is_written_and_a_failure_reported_once() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("m.prom");
        let w = MetricsWriter::start(path.clone()).unwrap();
        for i in 0..1000 {
            w.publish(format!("n {i}\n"));
        }
        drop(w);
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "n 999\n");

        // A directory that goes away: the failure is reported once, not per text.
        let gone = d.path().join("gone");
        std::fs::create_dir(&gone).unwrap();
        let w = MetricsWriter::start(gone.join("m.prom")).unwrap();
        std::fs::remove_dir(&gone).unwrap();
        w.publish("a\n".into());
        let mut errors = Vec::new();
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            errors.extend(w.take_error());
            w.publish("b\n".into());
        }
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains("cannot write the metrics file"),
            "{errors:?}"
        );
    }
}
