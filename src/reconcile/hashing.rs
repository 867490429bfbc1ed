//! Type-native hashing for a `checksum` range pass: each column of a row hashed with its
//! type's own extended hash function (the one PostgreSQL uses for hash joins; see [`BY_NAME`]
//! and [`hash_expr`]) under a seed of its own, a NULL as a constant of its own, the columns'
//! hashes combined by XOR into the row's 64 bits (the seeds make it depend on position:
//! swapped values do not cancel); a range's hash is the sum of its rows' hashes
//! (equal multisets of rows sum equal, duplicates count, no ordering by key is needed).
//!
//! A type's own hash function is used only where it sees every bit of the value. Those that
//! do not are hashed otherwise (see [`hash_expr`]): `int8` folds its high 32 bits into its low
//! ones (`v` and `v - 2³²` hash alike), and so do the 64-bit times (`timestamp`,
//! `timestamptz`, `time`), which are hashed by their binary form (`*_send`); `numeric` leaves
//! out the sign (`5` and `-5`), hashes `NaN` and both infinities alike and XORs the weight
//! into one bit, so it is hashed by its text with the scale trimmed; `bpchar` ignores
//! trailing blanks, which a drill-down compares, so its length in bytes is hashed in too.
//! Arrays of those types are hashed by their text.
//!
//! A column is hashed natively only where that is exact: the same type (and modifiers) on
//! both sides, a type in [`SAMPLES`] (integers, numeric, bool, date and times, uuid, bytea,
//! text-like under `COLLATE "C"`, and arrays of those), and a probe that hashes a fixed
//! value of that type gives the same number on both servers (so a pair of major versions, or
//! of architectures, or of server encodings, whose hashes differ never reads as equal or
//! different by accident). Every other column is hashed by its normalised text (`text` under
//! `COLLATE "C"`). When even text does not hash alike on both servers, or a server has no
//! `hash_record_extended` (before PostgreSQL 14), or the check says `hash = "text"`, the pass
//! is the sha256 of the key-ordered row texts, as before. Drilling down compares the rows
//! themselves either way, so a hash collision can only cost time.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::columns::{Column, Compared, KeyColumn, TableInfo};
use cutover_model::ident::quote_ident;
use cutover_model::reconcile::{ColumnHashing, HashMode};

/// A value of each type that may be hashed natively, as SQL, for the probe. The element
/// types of arrays are probed as `ARRAY[value, NULL]`. Left out on purpose: floats (their
/// text digits are what a check compares), `interval` (`1 day` equals `24:00:00` to its hash
/// but not to its text, which a drill-down compares), `json` (no hash), `money` (compared as
/// numeric).
const SAMPLES: &[(&str, &str)] = &[
    ("int2", "(-12345)::pg_catalog.int2"),
    ("int4", "(-2147483647)::pg_catalog.int4"),
    ("int8", "9000000000000000007::pg_catalog.int8"),
    (
        "numeric",
        "'-12345678901234567890.0123456789'::pg_catalog.numeric",
    ),
    ("bool", "true"),
    ("date", "'2024-02-29'::pg_catalog.date"),
    (
        "timestamp",
        "'2024-02-29 12:34:56.789012'::pg_catalog.timestamp",
    ),
    (
        "timestamptz",
        "'2024-02-29 12:34:56.789012+00'::pg_catalog.timestamptz",
    ),
    ("time", "'12:34:56.789012'::pg_catalog.time"),
    (
        "uuid",
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::pg_catalog.uuid",
    ),
    ("bytea", "'\\x00ff10ab'::pg_catalog.bytea"),
    // Not ASCII: servers whose encodings store it as other bytes hash text otherwise.
    (
        "text",
        "'h\u{e9}llo, w\u{f6}rld: 42!'::pg_catalog.text COLLATE \"C\"",
    ),
    (
        "varchar",
        "'h\u{e9}llo, w\u{f6}rld: 42!'::pg_catalog.varchar COLLATE \"C\"",
    ),
    ("bpchar", "'\u{e9}b  '::pg_catalog.bpchar COLLATE \"C\""),
    ("oid", "12345::pg_catalog.oid"),
];

/// The probe value of type `name` (`int4`, or an array of one: `_int4`), as SQL.
fn sample(name: &str) -> Option<String> {
    let lookup = |n: &str| SAMPLES.iter().find(|(t, _)| *t == n).map(|(_, v)| *v);
    match name.strip_prefix('_') {
        Some(elem) => lookup(elem).map(|v| format!("ARRAY[{v}, NULL]")),
        None => lookup(name).map(str::to_string),
    }
}

/// Whether column `s` (source) and `t` (target) may be hashed natively: the element
/// expression and the type to probe, or why not.
fn eligible(s: &Column, t: &Column) -> Result<(String, String), String> {
    if s.type_display != t.type_display || s.type_name != t.type_name {
        return Err(format!(
            "types differ ({} on the source, {} on the target)",
            s.type_display, t.type_display
        ));
    }
    let ty = s.type_name.as_str();
    if s.type_schema != "pg_catalog" {
        return Err(format!("{}: not a built-in type", s.type_display));
    }
    if ty == "_numeric" {
        return Err(format!(
            "{}: an element's scale (1.0, 1.00) is equal to its hash but not to its text",
            s.type_display
        ));
    }
    if let Some(elem) = ty.strip_prefix('_')
        && PARTIAL.contains(&elem)
    {
        return Err(format!(
            "{}: its elements' hash does not see every bit of them",
            s.type_display
        ));
    }
    if matches!(ty, "float4" | "float8" | "_float4" | "_float8") {
        return Err(format!(
            "{}: compared by its text digits (-0 and 0, and NaN, hash alike)",
            s.type_display
        ));
    }
    if sample(ty).is_none() {
        return Err(format!("{}: no exact hash for it", s.type_display));
    }
    let ident = quote_ident(&s.name);
    // Byte equality for text-like values, whatever their collation on either side.
    let expr = if s.collatable {
        format!("{ident} COLLATE \"C\"")
    } else {
        ident
    };
    Ok((expr, ty.to_string()))
}

/// Types whose own hash function leaves part of the value out: `int8` and the 64-bit times
/// fold their high 32 bits into the low ones, `numeric` leaves out the sign (and hashes `NaN`
/// and the infinities alike), `bpchar` ignores trailing blanks. [`hash_expr`] hashes them
/// otherwise; arrays of them are hashed by their text (see [`eligible`]).
const PARTIAL: &[&str] = &[
    "int8",
    "timestamp",
    "timestamptz",
    "time",
    "numeric",
    "bpchar",
];

/// The extended hash functions called by name: those whose name (and behaviour) is the same
/// on PostgreSQL 14 to 18, and that see every bit of the value. The others (`bool`, `date`,
/// `bytea`, whose functions were renamed in 18) are hashed through
/// `hash_record_extended(ROW(x), seed)`, which calls each server's own function; arrays
/// through `hash_array_extended`; the [`PARTIAL`] types as [`hash_expr`] says.
const BY_NAME: &[(&str, &str)] = &[
    ("int2", "hashint2extended"),
    ("int4", "hashint4extended"),
    ("text", "hashtextextended"),
    ("varchar", "hashtextextended"),
    ("uuid", "uuid_hash_extended"),
    ("oid", "hashoidextended"),
];

/// A second seed, for the high half of an `int8`.
const HIGH_HALF: i64 = 0x243F_6A88_85A3_08D3;

/// The 64-bit hash of `value` (SQL) of type `ty` with `seed`; NULL when the value is NULL.
/// An array's shape (its dimensions and lower bounds, which its elements' hash leaves out:
/// `{1,2,3,4}` and `{{1,2},{3,4}}`) is hashed with it. The [`PARTIAL`] types: an `int8` by its
/// own function XOR its high half's (the fold loses nothing the high half does not give
/// back); a `bpchar` by its own function XOR its length in bytes (trailing blanks counted); a
/// `numeric` by its text with the scale trimmed (`1.0` and `1.00` alike, `-5`, `NaN` and
/// `Infinity` not); the 64-bit times by their binary form.
fn hash_expr(ty: &str, value: &str, seed: i64) -> String {
    match ty {
        _ if ty.starts_with('_') => format!(
            "(pg_catalog.hash_array_extended({value}, {seed}) # \
             pg_catalog.hashtextextended(COALESCE(pg_catalog.array_dims({value}), '') COLLATE \"C\", {seed}))"
        ),
        "int8" => format!(
            "(pg_catalog.hashint8extended({value}, {seed}) # \
             pg_catalog.hashint4extended(({value} >> 32)::pg_catalog.int4, {}))",
            seed ^ HIGH_HALF
        ),
        // Its own hash ignores trailing blanks; its length in bytes (blanks counted) does not.
        "bpchar" => format!(
            "(pg_catalog.hashbpcharextended({value}, {seed}) # \
             pg_catalog.hashint4extended(pg_catalog.octet_length({value}), {}))",
            seed ^ HIGH_HALF
        ),
        "numeric" => format!(
            "pg_catalog.hashtextextended(pg_catalog.trim_scale({value})::pg_catalog.text, {seed})"
        ),
        // The binary form (`timestamp_send`…, a `bytea` of every bit).
        "timestamp" | "timestamptz" | "time" => {
            record_hash(&format!("pg_catalog.{ty}_send({value})"), seed)
        }
        _ => match BY_NAME.iter().find(|(t, _)| *t == ty) {
            Some((_, f)) => format!("pg_catalog.{f}({value}, {seed})"),
            None => record_hash(value, seed),
        },
    }
}

/// `value`'s hash by its type's own function, through `hash_record_extended`; NULL stays NULL.
fn record_hash(value: &str, seed: i64) -> String {
    // hash_record_extended hashes a NULL field as 0 whatever the seed: NULL stays NULL here
    // and takes the column's own constant, as with the functions called by name.
    format!(
        "CASE WHEN ({value}) IS NULL THEN NULL \
         ELSE pg_catalog.hash_record_extended(ROW({value}), {seed}) END"
    )
}

/// Column `i`'s seed, and the value its hash takes when it is NULL: distinct per position, so
/// the same values in other columns hash otherwise.
fn seeds(i: usize) -> (i64, i64) {
    let n = i as u64 + 1;
    let null = 0x9E37_79B9_7F4A_7C15_u64.wrapping_mul(n) >> 1;
    (i64::try_from(n).unwrap_or(i64::MAX), null as i64)
}

/// Hashes of the probe values of `types` on one server, each by the function a check would
/// use (`None`: it has no `hash_record_extended`, or the probe failed).
async fn probe(client: &Client, types: &[String]) -> Option<Vec<String>> {
    let items: Vec<String> = types
        .iter()
        .filter_map(|t| sample(t).map(|v| hash_expr(t, &v, 7)))
        .map(|h| format!("{h}::pg_catalog.text"))
        .collect();
    if items.len() != types.len() {
        return None;
    }
    let q = format!("SELECT {}", items.join(", "));
    let row = client.query_one(&q, &[]).await.ok()?;
    (0..types.len()).map(|i| row.try_get(i).ok()).collect()
}

/// How a table's compared columns are hashed.
#[derive(Debug, Clone)]
pub struct Hashing {
    /// A row's 64-bit hash (`(COALESCE(h1, n1) # COALESCE(h2, n2) …)`), or `None`: the pass
    /// hashes row texts.
    pub row_hash: Option<String>,
    /// Per column, how (for the result).
    pub columns: Vec<ColumnHashing>,
    /// A note for the result when the whole pass falls back to text.
    pub note: Option<String>,
}

/// Every column hashed by its text: the sha256 path, `why` for each column, `note` for the
/// result.
fn all_text(columns: &[Compared], why: &str, note: Option<&str>) -> Hashing {
    Hashing {
        row_hash: None,
        columns: columns
            .iter()
            .map(|c| ColumnHashing {
                column: c.name.clone(),
                mode: HashMode::Text,
                why: Some(why.to_string()),
            })
            .collect(),
        note: note.map(str::to_string),
    }
}

/// One column's choice: its native element and type, or why it is hashed by its text.
type Choice = Result<(String, String), String>;

/// Decides how `columns` of `source`/`target` are hashed, probing both servers.
/// `text_only`: the check says `hash = "text"`.
pub async fn decide(
    clients: (&Client, &Client),
    tables: (&TableInfo, &TableInfo),
    (key, columns): (&[KeyColumn], &mut [Compared]),
    versions: (u32, u32),
    text_only: bool,
) -> Hashing {
    if text_only {
        return all_text(columns, "hash = \"text\"", None);
    }
    if versions.0 < 140_000 || versions.1 < 140_000 {
        return all_text(
            columns,
            "a server is older than PostgreSQL 14",
            Some(
                "every row hashed by its text: hash_record_extended needs PostgreSQL 14 or later on both sides",
            ),
        );
    }
    let (source, target) = tables;
    let mut plan: Vec<Choice> = columns
        .iter()
        .map(|c| match (source.column(&c.name), target.column(&c.name)) {
            (Some(s), Some(t)) => eligible(s, t),
            _ => Err("not on both sides".into()),
        })
        .collect();
    let Some(alike) = probe_both(clients, &plan).await else {
        return all_text(
            columns,
            "the hash probe did not answer",
            Some("every row hashed by its text: the hash probe did not answer on both sides"),
        );
    };
    for p in &mut plan {
        if let Ok((_, ty)) = p
            && !alike.get(ty.as_str()).copied().unwrap_or(false)
        {
            *p = Err(format!(
                "{ty}: its hash differs between the two servers (versions {} and {})",
                versions.0, versions.1
            ));
        }
    }
    let text_alike = alike.get("text").copied().unwrap_or(false);
    if !text_alike && plan.iter().any(Result::is_err) {
        return all_text(
            columns,
            "text does not hash alike on the two servers",
            Some(
                "every row hashed by its text (sha256): text does not hash alike on the two servers",
            ),
        );
    }
    let mut h = assemble(columns, plan, source);
    // A key left out of the compared columns is hashed too (by its text): the ranges' sums
    // do not follow the key's order, so without it two rows that swap their other values
    // would sum alike.
    if let Some(row) = h.row_hash.as_mut() {
        let missing = key
            .iter()
            .filter(|k| !columns.iter().any(|c| c.name == k.name));
        let extra: Vec<String> = missing
            .enumerate()
            .map(|(i, k)| {
                let (seed, null) = seeds(columns.len() + i);
                let text = format!("({})::pg_catalog.text COLLATE \"C\"", k.ident);
                format!("COALESCE({}, {null})", hash_expr("text", &text, seed))
            })
            .collect();
        if !extra.is_empty() {
            *row = format!("({} # {})", row, extra.join(" # "));
        }
    }
    h
}

/// Probes every type the plan asks for, and text (the other columns' hash), on both servers:
/// for each type, whether its probe value hashes alike (`None`: a probe did not answer).
async fn probe_both(
    clients: (&Client, &Client),
    plan: &[Choice],
) -> Option<BTreeMap<String, bool>> {
    let mut types: Vec<String> = plan
        .iter()
        .filter_map(|p| p.as_ref().ok().map(|(_, t)| t.clone()))
        .collect();
    types.push("text".into());
    types.sort();
    types.dedup();
    let (a, b) = futures::join!(probe(clients.0, &types), probe(clients.1, &types));
    let (a, b) = (a?, b?);
    Some(
        types
            .into_iter()
            .zip(a.iter().zip(&b))
            .map(|(t, (x, y))| (t, x == y))
            .collect(),
    )
}

/// The row hash of `columns` as `plan` chose for each, and what to say of each. An
/// unconstrained numeric's text is compared with `trim_scale` too: equal values of another
/// scale hash alike, and a drill-down must agree (a fixed scale, `numeric(12,2)`, always
/// prints the same).
fn assemble(columns: &mut [Compared], plan: Vec<Choice>, source: &TableInfo) -> Hashing {
    let free_numeric = |name: &str| {
        source
            .column(name)
            .is_some_and(|c| c.type_name == "numeric" && c.type_display == "numeric")
    };
    let mut hashes = Vec::new();
    let mut out = Vec::new();
    for (i, (c, p)) in columns.iter_mut().zip(plan).enumerate() {
        let (seed, null) = seeds(i);
        let (hash, mode, why) = match p {
            Ok((expr, ty)) => {
                if ty == "numeric" && free_numeric(&c.name) && c.expr == quote_ident(&c.name) {
                    c.expr = format!("pg_catalog.trim_scale({})", c.expr);
                }
                (hash_expr(&ty, &expr, seed), HashMode::Native, None)
            }
            Err(why) => {
                let text = format!("({})::pg_catalog.text COLLATE \"C\"", c.expr);
                (hash_expr("text", &text, seed), HashMode::Text, Some(why))
            }
        };
        hashes.push(format!("COALESCE({hash}, {null})"));
        out.push(ColumnHashing {
            column: c.name.clone(),
            mode,
            why,
        });
    }
    Hashing {
        row_hash: Some(format!("({})", hashes.join(" # "))),
        columns: out,
        note: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::columns::tests::col;

    #[test]
    fn only_the_same_exactly_hashable_type_on_both_sides_is_native() {
        let int = col("n", "int4", "integer", false);
        assert_eq!(
            eligible(&int, &int),
            Ok(("\"n\"".to_string(), "int4".to_string()))
        );
        let big = col("n", "int8", "bigint", false);
        assert_eq!(
            eligible(&int, &big).unwrap_err(),
            "types differ (integer on the source, bigint on the target)"
        );
        let txt = col("t", "text", "text", true);
        assert_eq!(eligible(&txt, &txt).unwrap().0, "\"t\" COLLATE \"C\"");
        let arr = col("a", "_int4", "integer[]", false);
        assert_eq!(eligible(&arr, &arr).unwrap().1, "_int4");
        assert!(sample("_int4").unwrap().starts_with("ARRAY["));
        for (ty, display) in [
            ("float8", "double precision"),
            ("json", "json"),
            ("point", "point"),
        ] {
            let c = col("x", ty, display, false);
            assert!(eligible(&c, &c).is_err(), "{ty}");
        }
    }
}
