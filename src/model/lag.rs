//! What a lag probe publishes: the latest [`LagSample`].

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::runbook::units::{format_bytes, format_duration};
use crate::runbook::{LagMethod, Threshold};

/// The quantity a probe's thresholds are compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LagUnit {
    /// Bytes of WAL not yet replayed (or confirmed) on the other side.
    Bytes,
    /// Seconds of delay (replay lag, heartbeat age).
    Seconds,
    /// A plain number (user `sql`/`command` probes without a unit).
    Number,
}

impl LagUnit {
    /// The unit a method reports in, given its thresholds (`sql`/`command` take the unit of
    /// their thresholds; streaming and logical compare bytes unless the thresholds are times).
    pub fn for_method(method: LagMethod, thresholds: &[Option<Threshold>]) -> LagUnit {
        let from_threshold = thresholds.iter().flatten().next().map(|t| match t {
            Threshold::Bytes(_) => LagUnit::Bytes,
            Threshold::Time(_) => LagUnit::Seconds,
            Threshold::Number(_) => LagUnit::Number,
        });
        match method {
            LagMethod::Heartbeat => LagUnit::Seconds,
            LagMethod::Streaming | LagMethod::Logical => match from_threshold {
                Some(LagUnit::Seconds) => LagUnit::Seconds,
                _ => LagUnit::Bytes,
            },
            LagMethod::Sql | LagMethod::Command => from_threshold.unwrap_or(LagUnit::Number),
        }
    }
}

/// One reading, as a method produces it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// Lag in bytes, where the method measures it.
    pub bytes: Option<u64>,
    /// Lag in seconds, where the method measures it.
    pub seconds: Option<f64>,
    /// A unitless value (`sql`/`command` without a unit).
    pub number: Option<f64>,
    /// Context for the operator: which standby, slot state, "replay paused", ...
    pub detail: Option<String>,
}

impl Reading {
    /// A reading of `value` in `unit` (negative bytes count as 0).
    pub fn of(unit: LagUnit, value: f64) -> Reading {
        match unit {
            LagUnit::Bytes => Reading {
                bytes: Some(value.max(0.0).round() as u64),
                ..Reading::default()
            },
            LagUnit::Seconds => Reading {
                seconds: Some(value),
                ..Reading::default()
            },
            LagUnit::Number => Reading {
                number: Some(value),
                ..Reading::default()
            },
        }
    }
}

/// A lag value in its unit, for people: `16.0 MB`, `2.5s`, `1m30s`, `42`.
pub fn show(value: f64, unit: LagUnit) -> String {
    match unit {
        LagUnit::Bytes => crate::runbook::units::format_bytes(value.max(0.0).round() as u64),
        LagUnit::Seconds if value < 10.0 => format!("{value:.1}s"),
        LagUnit::Seconds => crate::runbook::units::format_duration(
            std::time::Duration::from_secs_f64(value.max(0.0)),
        ),
        LagUnit::Number => format!("{value}"),
    }
}

/// The latest state of a lag probe. A failing probe keeps its last values (so the pane can
/// show what it last knew) but sets `stale_since` and `error`, and such a sample is never
/// [`fresh`](LagSample::is_fresh).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LagSample {
    /// Number of polls so far (successful or not); 0 before the first one finished.
    pub seq: u64,
    /// When the last successful reading was taken.
    pub at: Option<DateTime<Utc>>,
    /// When the last poll finished (successful or not).
    pub checked_at: Option<DateTime<Utc>>,
    /// Lag in bytes (last good reading).
    pub bytes: Option<u64>,
    /// Lag in seconds (last good reading).
    pub seconds: Option<f64>,
    /// Unitless value (last good reading).
    pub number: Option<f64>,
    /// Context of the last good reading.
    pub detail: Option<String>,
    /// Since when polls have been failing; `None` while they succeed.
    pub stale_since: Option<DateTime<Utc>>,
    /// The last poll's error, while failing.
    pub error: Option<String>,
}

impl LagSample {
    /// Whether this is a current reading: at least one poll succeeded and the last one did.
    pub fn is_fresh(&self) -> bool {
        self.stale_since.is_none() && self.at.is_some()
    }

    /// Whether the probe is failing.
    pub fn is_stale(&self) -> bool {
        self.stale_since.is_some()
    }

    /// The value in `unit`, from the last good reading (regardless of freshness).
    pub fn value(&self, unit: LagUnit) -> Option<f64> {
        match unit {
            LagUnit::Bytes => self.bytes.map(|b| b as f64),
            LagUnit::Seconds => self.seconds,
            LagUnit::Number => self.number,
        }
    }

    /// The value to compare with `threshold`, only when the sample is fresh and measures that
    /// kind of quantity; gates and triggers must treat `None` as "not known" (fail closed).
    pub fn fresh_value_for(&self, threshold: &Threshold) -> Option<f64> {
        if !self.is_fresh() {
            return None;
        }
        match threshold {
            Threshold::Bytes(_) => self.value(LagUnit::Bytes),
            Threshold::Time(_) => self.value(LagUnit::Seconds),
            Threshold::Number(_) => self.value(LagUnit::Number),
        }
    }

    /// `Some(true)` when fresh and below `threshold`, `Some(false)` when fresh and at or above
    /// it, `None` when stale, pending or not measured in that unit.
    pub fn below(&self, threshold: &Threshold) -> Option<bool> {
        let limit = match threshold {
            Threshold::Bytes(b) => *b as f64,
            Threshold::Time(d) => d.get().as_secs_f64(),
            Threshold::Number(n) => *n,
        };
        self.fresh_value_for(threshold).map(|v| v < limit)
    }

    /// A one-line summary: `2.1 MB · 0.4s`, `stale since 02:13:07: connection refused`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(b) = self.bytes {
            parts.push(format_bytes(b));
        }
        if let Some(s) = self.seconds {
            parts.push(if s < 10.0 {
                format!("{s:.1}s")
            } else {
                format_duration(std::time::Duration::from_secs_f64(s.max(0.0)))
            });
        }
        if let Some(n) = self.number {
            parts.push(format!("{n}"));
        }
        let value = if parts.is_empty() {
            "—".to_string()
        } else {
            parts.join(" · ")
        };
        match (&self.stale_since, &self.error) {
            (Some(since), err) => format!(
                "stale since {} ({value}): {}",
                since.format("%H:%M:%S"),
                err.as_deref().unwrap_or("failing")
            ),
            (None, _) if self.at.is_none() => "waiting for the first reading".to_string(),
            (None, _) => value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runbook::Dur;
    use std::time::Duration;

    #[test]
    fn stale_or_pending_samples_never_pass_a_gate() {
        let mut s = LagSample::default();
        let one_mb = Threshold::Bytes(1 << 20);
        assert_eq!(s.below(&one_mb), None);
        assert_eq!(s.summary(), "waiting for the first reading");
        s.at = Some(Utc::now());
        s.bytes = Some(1000);
        s.seconds = Some(0.25);
        assert_eq!(s.below(&one_mb), Some(true));
        assert_eq!(
            s.below(&Threshold::Time(Dur(Duration::from_millis(100)))),
            Some(false)
        );
        assert_eq!(s.below(&Threshold::Number(5.0)), None);
        s.stale_since = Some(Utc::now());
        s.error = Some("connection refused".into());
        assert_eq!(s.below(&one_mb), None);
        assert!(
            s.summary().contains("connection refused"),
            "{}",
            s.summary()
        );
        assert!(s.summary().starts_with("stale since "), "{}", s.summary());
    }

    #[test]
    fn units_follow_method_and_thresholds() {
        let t = Some(Threshold::Time(Dur(Duration::from_secs(5))));
        let b = Some(Threshold::Bytes(16));
        for (method, thresholds, unit) in [
            (LagMethod::Logical, [None, None], LagUnit::Bytes),
            (LagMethod::Streaming, [t, None], LagUnit::Seconds),
            (LagMethod::Heartbeat, [None, None], LagUnit::Seconds),
            (LagMethod::Sql, [b, None], LagUnit::Bytes),
            (LagMethod::Command, [None, None], LagUnit::Number),
        ] {
            assert_eq!(LagUnit::for_method(method, &thresholds), unit);
        }
    }
}
