//! Reading PostgreSQL's record text (`ROW(...)::text`, e.g. `(1,,"a b","")`) back into
//! column values, so a differing row can be shown column by column. An empty unquoted field
//! is NULL; `""` is the empty string.

/// Splits a record text into its fields (`None` = NULL). Returns `None` when the text is not
/// a record.
pub fn parse(text: &str) -> Option<Vec<Option<String>>> {
    let inner = text.strip_prefix('(')?.strip_suffix(')')?;
    let mut fields = Vec::new();
    let mut chars = inner.chars().peekable();
    loop {
        let mut value = String::new();
        let mut quoted_any = false;
        let mut in_quotes = false;
        loop {
            match chars.next() {
                None => {
                    if in_quotes {
                        return None;
                    }
                    fields.push(finish(value, quoted_any));
                    return Some(fields);
                }
                Some('"') if in_quotes && chars.peek() == Some(&'"') => {
                    chars.next();
                    value.push('"');
                }
                Some('"') => {
                    in_quotes = !in_quotes;
                    quoted_any = true;
                }
                Some('\\') => value.push(chars.next()?),
                Some(',') if !in_quotes => {
                    fields.push(finish(value, quoted_any));
                    break;
                }
                Some(c) => value.push(c),
            }
        }
    }
}

fn finish(value: String, quoted: bool) -> Option<String> {
    if value.is_empty() && !quoted {
        None
    } else {
        Some(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_record_text() {
        assert_eq!(
            parse("(1,,\"\",\"a b\",\"x\"\"y\",\"back\\\\slash\",é)").unwrap(),
            vec![
                Some("1".into()),
                None,
                Some(String::new()),
                Some("a b".into()),
                Some("x\"y".into()),
                Some("back\\slash".into()),
                Some("é".into()),
            ]
        );
        assert_eq!(parse("()").unwrap(), vec![None]);
        assert_eq!(
            parse("(\"(1,2)\",3)").unwrap(),
            vec![Some("(1,2)".into()), Some("3".into())]
        );
        assert!(parse("1,2").is_none());
        assert!(parse("(\"open)").is_none());
    }
}
