//! Durations (`"30s"`, `"1m30s"`) and sizes (`"16MB"`) as written in runbooks.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written as `500ms`, `30s`, `2m`, `1h`, `1m30s`, `1h2m3s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Dur(pub Duration);

impl Dur {
    /// The wrapped duration.
    pub fn get(self) -> Duration {
        self.0
    }
}

/// Parses a runbook duration such as `30s` or `1m30s`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("empty duration; write e.g. \"30s\", \"2m\" or \"1h30m\"".into());
    }
    let mut total = Duration::ZERO;
    let mut rest = t;
    let mut last_unit_rank = usize::MAX;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!(
                "invalid duration {s:?}: expected a number before {rest:?}; write e.g. \"30s\", \"2m\" or \"1h30m\""
            ));
        }
        let number: f64 = rest[..digits].parse().map_err(|_| {
            format!(
                "invalid duration {s:?}: {:?} is not a number",
                &rest[..digits]
            )
        })?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let (rank, secs) = match unit {
            "h" => (0, 3600.0),
            "m" | "min" => (1, 60.0),
            "s" => (2, 1.0),
            "ms" => (3, 0.001),
            "" => {
                return Err(format!(
                    "invalid duration {s:?}: missing unit; write e.g. \"{number}s\" (units: ms, s, m, h)"
                ));
            }
            other => {
                let word = other.trim();
                let unit = match word.to_ascii_lowercase().as_str() {
                    "hour" | "hours" | "hr" | "hrs" => Some("h"),
                    "minute" | "minutes" | "mins" => Some("m"),
                    "second" | "seconds" | "sec" | "secs" => Some("s"),
                    "millisecond" | "milliseconds" | "msec" | "msecs" => Some("ms"),
                    "" => Some(""),
                    _ => None,
                };
                let hint = match unit {
                    Some(u) if !u.is_empty() => format!("; write \"{number}{u}\""),
                    _ => String::new(),
                };
                let what = if word.is_empty() {
                    "a space is not allowed inside a duration".to_string()
                } else {
                    format!("unknown unit {word:?}")
                };
                return Err(format!(
                    "invalid duration {s:?}: {what}{hint} (units: ms, s, m, h, combined like \"1h30m\")"
                ));
            }
        };
        if last_unit_rank != usize::MAX && rank <= last_unit_rank {
            return Err(format!(
                "invalid duration {s:?}: units must go from largest to smallest, each once"
            ));
        }
        last_unit_rank = rank;
        let part = number * secs;
        if !part.is_finite() || part + total.as_secs_f64() > MAX_DURATION.as_secs_f64() {
            return Err(format!(
                "invalid duration {s:?}: longer than any cutover could last (at most {} days)",
                MAX_DURATION.as_secs() / 86_400
            ));
        }
        total += Duration::from_secs_f64(part);
    }
    Ok(total)
}

/// The longest duration a runbook may write: a year.
pub const MAX_DURATION: Duration = Duration::from_secs(366 * 86_400);

/// Formats a duration the way the cockpit shows it: `45s`, `1m02`, `1h05m`.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 && ms > 0 && d.as_secs() == 0 {
        return format!("{ms}ms");
    }
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{}m{:02}", secs / 60, secs % 60)
    } else {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(self.0.as_millis() as u64)
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration string such as \"30s\", \"2m\" or \"1h30m\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                parse_duration(v).map(Dur).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Dur, E> {
                // Serialized form (journal) is milliseconds.
                Ok(Dur(Duration::from_millis(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Dur, E> {
                Err(E::custom(format!(
                    "a bare number ({v}) is ambiguous as a duration; write it with a unit, e.g. \"{v}s\""
                )))
            }
        }
        d.deserialize_any(V)
    }
}

/// A byte size written as `512B`, `16kB`, `16MB`, `1GB` (1024-based, like PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Bytes(pub u64);

/// Parses a size such as `16MB`; units follow PostgreSQL (`kB`=1024 bytes).
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    if split == 0 {
        return Err(format!(
            "invalid size {s:?}: expected a number first, e.g. \"16MB\""
        ));
    }
    let number: f64 = t[..split]
        .parse()
        .map_err(|_| format!("invalid size {s:?}"))?;
    let mult: u64 = match t[split..].trim() {
        "" => {
            return Err(format!(
                "invalid size {s:?}: missing unit (B, kB, MB, GB, TB)"
            ));
        }
        other => size_unit(other).ok_or_else(|| {
            format!("invalid size {s:?}: unknown unit {other:?} (B, kB, MB, GB, TB)")
        })?,
    };
    Ok((number * mult as f64).round() as u64)
}

/// The bytes in one `unit` of a size (`kB` is 1024, as PostgreSQL counts); `None` when `unit`
/// is not a size unit (a threshold with another unit is a time).
fn size_unit(unit: &str) -> Option<u64> {
    match unit {
        "B" | "bytes" => Some(1),
        "kB" | "KB" | "KiB" | "k" => Some(1 << 10),
        "MB" | "MiB" | "M" => Some(1 << 20),
        "GB" | "GiB" | "G" => Some(1 << 30),
        "TB" | "TiB" | "T" => Some(1 << 40),
        _ => None,
    }
}

/// Formats bytes for display: `512 B`, `2.1 MB`, `1.0 GB`.
pub fn format_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    if b < 1024 {
        return format!("{b} B");
    }
    let mut v = b as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if v >= 100.0 {
        format!("{v:.0} {}", UNITS[i])
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// A threshold for lag: bytes (`"16MB"`), time (`"5s"`) or a plain number (for `sql`/`command` lag).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Threshold {
    /// A size in bytes.
    Bytes(u64),
    /// A time lag.
    Time(Dur),
    /// A unitless number.
    Number(f64),
}

impl Threshold {
    /// What kind of quantity this is, for error messages.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Threshold::Bytes(_) => "a size",
            Threshold::Time(_) => "a time",
            Threshold::Number(_) => "a plain number",
        }
    }

    /// Whether two thresholds measure the same kind of quantity.
    pub fn same_kind(&self, other: &Threshold) -> bool {
        std::mem::discriminant(self) == std::mem::discriminant(other)
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Threshold;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a size (\"16MB\"), a time (\"5s\") or a number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Threshold, E> {
                let t = v.trim();
                let unit: String = t
                    .chars()
                    .skip_while(|c| c.is_ascii_digit() || *c == '.')
                    .collect();
                if size_unit(unit.trim()).is_some() {
                    parse_size(t).map(Threshold::Bytes).map_err(E::custom)
                } else {
                    parse_duration(t)
                        .map(|d| Threshold::Time(Dur(d)))
                        .map_err(|_| {
                            E::custom(format!(
                                "invalid threshold {v:?}: write a size such as \"16MB\" (units B, kB, MB, GB, TB) or a time such as \"5s\" (units ms, s, m, h)"
                            ))
                        })
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Threshold, E> {
                self.visit_f64(v as f64)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Threshold, E> {
                self.visit_f64(v as f64)
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Threshold, E> {
                // A NaN threshold is never crossed, an infinite one never either, and lag is
                // never negative: each would make a gate or a trigger that cannot work.
                if v.is_finite() && v >= 0.0 {
                    Ok(Threshold::Number(v))
                } else {
                    Err(E::custom(format!(
                        "invalid threshold {v}: a number threshold is a finite number at least 0"
                    )))
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Threshold::Bytes(b) => f.write_str(&format_bytes(*b)),
            Threshold::Time(d) => write!(f, "{d}"),
            Threshold::Number(n) => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_case::test_case;

    #[test_case("30s", 30_000)]
    #[test_case("2m", 120_000)]
    #[test_case("1m30s", 90_000)]
    #[test_case("1h", 3_600_000)]
    #[test_case("500ms", 500)]
    #[test_case("1.5s", 1_500)]
    fn durations_parse(s: &str, ms: u128) {
        assert_eq!(parse_duration(s).unwrap().as_millis(), ms);
    }

    #[test_case("30"; "no unit")]
    #[test_case("s"; "no number")]
    #[test_case("3 weeks"; "unknown unit")]
    #[test_case("30s2m"; "wrong order")]
    #[test_case(""; "empty")]
    fn bad_durations_fail(s: &str) {
        assert!(parse_duration(s).is_err());
    }

    #[test_case("2 minutes", "write \"2m\""; "spelled-out minutes")]
    #[test_case("30 secs", "write \"30s\""; "spelled-out seconds")]
    #[test_case("3 weeks", "unknown unit \"weeks\""; "unknown unit")]
    #[test_case("30s2m", "largest to smallest"; "order")]
    fn bad_durations_say_what_to_write(s: &str, want: &str) {
        let e = parse_duration(s).unwrap_err();
        assert!(e.contains(want), "{e}");
    }

    #[test_case("16MB", 16 << 20)]
    #[test_case("1kB", 1024)]
    #[test_case("512B", 512)]
    #[test_case("1GB", 1 << 30)]
    fn sizes_parse(s: &str, b: u64) {
        assert_eq!(parse_size(s).unwrap(), b);
    }

    #[test]
    fn huge_durations_are_refused_not_a_panic() {
        for s in [
            "5124095576030431h",
            "99999999999999999999s",
            "9000h",
            "8784h1m",
        ] {
            let e = parse_duration(s).expect_err(s);
            assert!(e.contains("longer than"), "{s}: {e}");
        }
        assert!(parse_duration("8000h").is_ok());
    }

    #[test]
    fn formats_are_short() {
        assert_eq!(format_duration(Duration::from_secs(62)), "1m02");
        assert_eq!(format_duration(Duration::from_secs(28)), "28s");
        assert_eq!(format_bytes(2_202_009), "2.1 MB");
    }
}
