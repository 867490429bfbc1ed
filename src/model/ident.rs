//! Quoting identifiers and literals for the few statements that cannot take parameters
//! (DDL such as `CREATE TABLE` / `CREATE SUBSCRIPTION`). Values in queries go through
//! parameters, never through these.

/// `name` as a quoted identifier: `orders` → `"orders"`, `a"b` → `"a""b"`.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `schema.name` from its two parts, each quoted: (`public`, `orders`) → `"public"."orders"`.
pub fn quote_parts(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// `schema.name` as a person reads it and a runbook writes it: each part plain when it is a
/// lower-case identifier, else quoted (`public.orders`, `"App"."a.b"`).
pub fn shown_qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", shown_ident(schema), shown_ident(name))
}

/// One identifier as [`shown_qualified`] writes it: plain when it is a lower-case
/// identifier, else quoted.
pub fn shown_ident(p: &str) -> String {
    let plain = !p.is_empty()
        && p.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !p.starts_with(|c: char| c.is_ascii_digit());
    if plain { p.to_string() } else { quote_ident(p) }
}

/// A possibly schema-qualified name, each part quoted: `public.orders` → `"public"."orders"`.
///
/// Parts already written in double quotes are kept as written (`"My Schema".t`), so a dot
/// inside quotes does not split.
pub fn quote_qualified(name: &str) -> String {
    split_qualified(name)
        .iter()
        .map(|p| quote_ident(p))
        .collect::<Vec<_>>()
        .join(".")
}

/// Splits `schema.table` at dots outside double quotes and unquotes each part
/// (`"a""b"` → `a"b`). Unquoted parts are kept as written (no case folding).
pub fn split_qualified(name: &str) -> Vec<String> {
    split_qualified_marked(name)
        .into_iter()
        .map(|part| part.into_iter().map(|(c, _)| c).collect())
        .collect()
}

/// [`split_qualified`], each character marked with whether it was written inside double
/// quotes (a glob reads a quoted `*` as the character itself).
pub fn split_qualified_marked(name: &str) -> Vec<Vec<(char, bool)>> {
    let mut parts = Vec::new();
    let mut cur = Vec::new();
    let mut chars = name.trim().chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push(('"', true));
                chars.next();
            }
            '"' => quoted = !quoted,
            '.' if !quoted => parts.push(std::mem::take(&mut cur)),
            c => cur.push((c, quoted)),
        }
    }
    parts.push(cur);
    parts
}

/// `value` as a SQL string literal: `it's` → `'it''s'` (standard_conforming_strings is on
/// in every supported PostgreSQL version; backslashes are ordinary characters).
pub fn quote_literal(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// `value` as a SQL string literal that means the same whatever the server's
/// `standard_conforming_strings`: `it's` → `'it''s'`, and a value with a backslash in the
/// escape-string form, `a\b` → `E'a\\b'`. For values that come from outside (`--var`).
pub fn sql_literal(value: &str) -> String {
    if value.contains('\\') {
        format!("E'{}'", value.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        quote_literal(value)
    }
}

/// `value` as a libpq conninfo value: `a b` → `'a b'`, with `\` and `'` escaped.
pub fn conninfo_value(value: &str) -> String {
    if !value.is_empty()
        && value
            .chars()
            .all(|c| !c.is_whitespace() && c != '\'' && c != '\\')
    {
        return value.to_string();
    }
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sql_literals_are_safe_whatever_the_string_settings() {
        assert_eq!(sql_literal("plain"), "'plain'");
        assert_eq!(
            sql_literal("'; drop table victim; --"),
            "'''; drop table victim; --'"
        );
        assert_eq!(sql_literal(r"a\'b"), r"E'a\\''b'");
    }

    #[test]
    fn quotes_identifiers_and_literals() {
        assert_eq!(quote_ident("orders"), "\"orders\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_qualified("public.orders"), "\"public\".\"orders\"");
        assert_eq!(quote_qualified("orders"), "\"orders\"");
        assert_eq!(quote_qualified("\"My.Schema\".t"), "\"My.Schema\".\"t\"");
        assert_eq!(quote_qualified("\"a\"\"b\".c"), "\"a\"\"b\".\"c\"");
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(conninfo_value("abc"), "abc");
        assert_eq!(conninfo_value("a b'c\\"), "'a b\\'c\\\\'");
        assert_eq!(conninfo_value(""), "''");
    }
}
