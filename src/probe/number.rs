//! Reading one number from a query result or a command's output.

/// Parses `text` (trimmed) as a finite number.
pub fn parse_number(text: &str) -> Result<f64, String> {
    let t = text.trim();
    match t.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => {
            let shown: String = t.chars().take(40).collect();
            Err(format!("{shown:?}, which is not a number"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_model::lag::{LagUnit, Reading};

    #[test]
    fn numbers_parse_and_garbage_is_named() {
        assert_eq!(parse_number(" 42\n"), Ok(42.0));
        assert_eq!(parse_number("1.5e3"), Ok(1500.0));
        assert!(parse_number("NaN").is_err());
        assert!(parse_number("12 MB").unwrap_err().contains("\"12 MB\""));
        assert_eq!(Reading::of(LagUnit::Bytes, 10.6).bytes, Some(11));
        assert_eq!(Reading::of(LagUnit::Seconds, 2.5).seconds, Some(2.5));
    }
}
