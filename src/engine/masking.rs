//! The last line of defence: every text of an event masked before it is journaled or shown.

use cutover_model::protocol::Event;
use cutover_model::secrets::Masker;

/// Every text of `ev` masked: the last line of defence for what the engine's parts put into
/// events (a server's error message quoting a password, a reconcile value, a probe's error).
/// Output (masked as it is read, and the bulk of all events) and the run's opening records
/// (built from masked parts, and holding hashes that must stay exact) pass as they are.
pub fn mask_event(masker: &Masker, ev: Event) -> Event {
    if matches!(
        ev,
        Event::Output { .. } | Event::RunStarted { .. } | Event::RunbookText { .. }
    ) {
        return ev;
    }
    let Ok(mut value) = serde_json::to_value(&ev) else {
        return ev;
    };
    if !mask_strings(masker, &mut value, None) {
        return ev;
    }
    serde_json::from_value(value).unwrap_or(ev)
}

/// Masks every string in `v` except the values of `*sha256` keys; whether anything changed.
fn mask_strings(masker: &Masker, v: &mut serde_json::Value, key: Option<&str>) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) if !key.is_some_and(|k| k.ends_with("sha256")) => match masker.mask(s) {
            std::borrow::Cow::Owned(m) => {
                *s = m;
                true
            }
            std::borrow::Cow::Borrowed(_) => false,
        },
        Value::Array(items) => items
            .iter_mut()
            .fold(false, |changed, i| mask_strings(masker, i, None) | changed),
        Value::Object(map) => map.iter_mut().fold(false, |changed, (k, i)| {
            mask_strings(masker, i, Some(k)) | changed
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::protocol::Level;

    #[test]
    fn every_text_of_an_event_is_masked_but_hashes_stay() {
        let m = Masker::new(["hunter2", "abc"]);
        let ev = Event::Notice {
            level: Level::Warn,
            message: "ERROR: password hunter2 rejected".into(),
        };
        match mask_event(&m, ev) {
            Event::Notice { message, .. } => assert_eq!(message, "ERROR: password •••• rejected"),
            other => panic!("{other:?}"),
        }
        let ev = Event::Operator {
            step: None,
            action: cutover_model::protocol::OperatorAction::AcceptChangedRunbook {
                old_sha256: "abc123".into(),
                new_sha256: "123abc".into(),
            },
            by: "dba".into(),
            at: chrono::Utc::now(),
        };
        assert_eq!(mask_event(&m, ev.clone()), ev);
    }
}
