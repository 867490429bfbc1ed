//! The SQL of a table check, built from quoted identifiers only: key-range predicates with
//! row-value comparisons, the partition checksum, the partition count, the row fetch for
//! drilling down, the keyed lookup for rechecks. Every value (range bounds, keys) is a text
//! parameter cast to the key column's type on the server.

use super::columns::{Compared, KeyColumn};
use super::partition::Range;

/// SQL builder for one side of a table check.
#[derive(Debug, Clone)]
pub struct TableSql {
    /// `"schema"."table"` on this side.
    pub relation: String,
    /// The key columns, in key order.
    pub key: Vec<KeyColumn>,
    /// `row(e1, e2, ...)::text`.
    pub row_text: String,
    /// A row's native hash (`hash_record_extended(ROW(…), 0)`, see [`super::hashing`]), or
    /// `None`: ranges are hashed by their key-ordered row texts.
    pub row_hash: Option<String>,
}

/// Which bounds a range has (each combination is one prepared statement).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Bounds {
    /// Has a lower (exclusive) bound.
    pub lo: bool,
    /// Has an upper (inclusive) bound.
    pub hi: bool,
}

impl Bounds {
    /// The four combinations.
    pub const ALL: [Bounds; 4] = [
        Bounds {
            lo: false,
            hi: false,
        },
        Bounds {
            lo: true,
            hi: false,
        },
        Bounds {
            lo: false,
            hi: true,
        },
        Bounds { lo: true, hi: true },
    ];

    /// Index into [`Bounds::ALL`].
    pub fn index(self) -> usize {
        usize::from(self.lo) + 2 * usize::from(self.hi)
    }

    /// The bounds of `r`.
    pub fn of(r: &Range) -> Bounds {
        Bounds {
            lo: r.lo.is_some(),
            hi: r.hi.is_some(),
        }
    }
}

impl TableSql {
    /// Builds the SQL pieces for `relation` with these key and compared columns.
    pub fn new(relation: String, key: &[KeyColumn], columns: &[Compared]) -> TableSql {
        let exprs: Vec<&str> = columns.iter().map(|c| c.expr.as_str()).collect();
        TableSql {
            relation,
            key: key.to_vec(),
            row_text: format!("ROW({})::pg_catalog.text", exprs.join(", ")),
            row_hash: None,
        }
    }

    /// The same, its ranges hashed by `row_hash` (when given).
    pub fn with_row_hash(self, row_hash: Option<String>) -> TableSql {
        TableSql { row_hash, ..self }
    }

    fn tuple(items: Vec<String>) -> String {
        if items.len() == 1 {
            items.into_iter().next().unwrap_or_default()
        } else {
            format!("({})", items.join(", "))
        }
    }

    /// `(k1 COLLATE "C", k2)`.
    fn order_tuple(&self) -> String {
        Self::tuple(self.key.iter().map(|k| k.order_expr.clone()).collect())
    }

    /// `($n::text::O1, …)`: a range's bound, each value cast to the type its key is ordered
    /// as (an enum key: text).
    fn order_param_tuple(&self, first: usize) -> String {
        self.typed_params(first, |k| &k.order_type)
    }

    /// `($n::text::T1, $n+1::text::T2)`.
    fn param_tuple(&self, first: usize) -> String {
        self.typed_params(first, |k| &k.type_sql)
    }

    /// The key's parameters from `$first` on, each cast to the type `ty` gives its column.
    fn typed_params(&self, first: usize, ty: fn(&KeyColumn) -> &String) -> String {
        Self::tuple(
            self.key
                .iter()
                .enumerate()
                .map(|(i, k)| format!("${}::pg_catalog.text::{}", first + i, ty(k)))
                .collect(),
        )
    }

    /// `ORDER BY` list of the key.
    pub fn order_by(&self) -> String {
        self.key
            .iter()
            .map(|k| k.order_expr.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Key columns as text: `"k1"::text, "k2"::text`.
    pub fn key_text(&self) -> String {
        self.key
            .iter()
            .map(|k| format!("{}::pg_catalog.text", k.ident))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The `WHERE` condition of a range with these bounds (parameters: the lower bound's key
    /// values, then the upper's). Rows whose key has a NULL are never in a range.
    pub fn range_predicate(&self, b: Bounds) -> String {
        let mut conds: Vec<String> = self
            .key
            .iter()
            .map(|k| format!("{} IS NOT NULL", k.ident))
            .collect();
        let n = self.key.len();
        if b.lo {
            conds.push(format!(
                "{} > {}",
                self.order_tuple(),
                self.order_param_tuple(1)
            ));
        }
        if b.hi {
            let first = if b.lo { n + 1 } else { 1 };
            conds.push(format!(
                "{} <= {}",
                self.order_tuple(),
                self.order_param_tuple(first)
            ));
        }
        conds.join(" AND ")
    }

    /// Row count and hash of a range: the sum of its rows' native hashes as text (in any
    /// order), or the sha256 of its key-ordered row texts, each led by its key's (a key left
    /// out of the compared columns is still compared: rows 1, 2 against 1, 3 with the same
    /// other values differ).
    pub fn checksum(&self, b: Bounds) -> String {
        if let Some(h) = &self.row_hash {
            return format!(
                "SELECT /* cutover: range */ pg_catalog.count(*), \
                 pg_catalog.convert_to(COALESCE(pg_catalog.sum({h}), 0)::pg_catalog.text, 'UTF8') \
                 FROM {} WHERE {}",
                self.relation,
                self.range_predicate(b)
            );
        }
        format!(
            "SELECT /* cutover: range */ pg_catalog.count(*), \
             pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.string_agg(o.r, E'\\n'), 'UTF8')) \
             FROM (SELECT ROW({})::pg_catalog.text || {} AS r FROM {} WHERE {} ORDER BY {}) o",
            self.key_idents(),
            self.row_text,
            self.relation,
            self.range_predicate(b),
            self.order_by()
        )
    }

    /// `k1, k2`: the key columns, quoted.
    fn key_idents(&self) -> String {
        let idents: Vec<&str> = self.key.iter().map(|k| k.ident.as_str()).collect();
        idents.join(", ")
    }

    /// Row count of a range.
    pub fn count(&self, b: Bounds) -> String {
        format!(
            "SELECT pg_catalog.count(*) FROM {} WHERE {}",
            self.relation,
            self.range_predicate(b)
        )
    }

    /// `(key text..., row text)` of every row of a range (unordered).
    pub fn fetch(&self, b: Bounds) -> String {
        format!(
            "SELECT {}, {} FROM {} WHERE {}",
            self.key_text(),
            self.row_text,
            self.relation,
            self.range_predicate(b)
        )
    }

    /// The partition holding one key's row (parameters: the key values).
    pub fn partition_of(&self) -> String {
        let cols = Self::tuple(self.key.iter().map(|k| k.ident.clone()).collect());
        format!(
            "SELECT tableoid::pg_catalog.regclass::pg_catalog.text FROM {} WHERE {} = {}",
            self.relation,
            cols,
            self.param_tuple(1)
        )
    }

    /// Rows per partition: `(partition, count)`.
    pub fn partition_counts(&self) -> String {
        format!(
            "SELECT tableoid::pg_catalog.regclass::pg_catalog.text, pg_catalog.count(*) FROM {} GROUP BY 1",
            self.relation
        )
    }

    /// Row text of one key (parameters: the key values). A text-like key is matched to the
    /// byte too: under a nondeterministic collation `'abc' = 'ABC'`, and a re-check would
    /// find the other row and call both differences transient.
    pub fn lookup(&self) -> String {
        let cols = Self::tuple(self.key.iter().map(|k| k.ident.clone()).collect());
        let exact: String = self
            .key
            .iter()
            .enumerate()
            .filter(|(_, k)| k.order_expr != k.ident)
            .map(|(i, k)| {
                format!(
                    " AND {}::pg_catalog.text COLLATE \"C\" = ${}::pg_catalog.text COLLATE \"C\"",
                    k.ident,
                    i + 1
                )
            })
            .collect();
        format!(
            "SELECT {} FROM {} WHERE {} = {}{exact}",
            self.row_text,
            self.relation,
            cols,
            self.param_tuple(1)
        )
    }

    /// Key values (as text) of every `step`-th row of a range in key order: boundaries that
    /// split it into ranges of `step` rows. Parameters: the range's bounds, then `step`.
    pub fn boundaries(&self, b: Bounds) -> String {
        let step_param = self.key.len() * (usize::from(b.lo) + usize::from(b.hi)) + 1;
        let idents: Vec<&str> = self.key.iter().map(|k| k.ident.as_str()).collect();
        let outer: Vec<String> = (0..self.key.len())
            .map(|i| format!("s.k{i}::pg_catalog.text"))
            .collect();
        let inner: Vec<String> = idents
            .iter()
            .enumerate()
            .map(|(i, id)| format!("{id} AS k{i}"))
            .collect();
        format!(
            "SELECT {} FROM (SELECT {}, pg_catalog.row_number() OVER (ORDER BY {}) AS rn \
             FROM {} WHERE {}) s WHERE s.rn % ${step_param}::pg_catalog.int8 = 0 ORDER BY s.rn",
            outer.join(", "),
            inner.join(", "),
            self.order_by(),
            self.relation,
            self.range_predicate(b)
        )
    }

    /// Rows no key range holds: a key column is NULL.
    fn null_key_predicate(&self) -> String {
        self.key
            .iter()
            .map(|k| format!("{} IS NULL", k.ident))
            .collect::<Vec<_>>()
            .join(" OR ")
    }

    /// Count and sha256 of the rows whose key has a NULL, ordered by their text (so equal
    /// multisets of rows give equal digests, duplicates included).
    pub fn null_key_checksum(&self) -> String {
        format!(
            "SELECT pg_catalog.count(*), \
             pg_catalog.sha256(pg_catalog.convert_to(pg_catalog.string_agg(o.r, E'\\n' ORDER BY o.r COLLATE \"C\"), 'UTF8')) \
             FROM (SELECT {} AS r FROM {} WHERE {}) o",
            self.row_text,
            self.relation,
            self.null_key_predicate()
        )
    }

    /// Count of the rows whose key has a NULL.
    pub fn null_key_count(&self) -> String {
        format!(
            "SELECT pg_catalog.count(*) FROM {} WHERE {}",
            self.relation,
            self.null_key_predicate()
        )
    }

    /// The row texts of the rows whose key has a NULL, at most `$1` of them.
    pub fn null_key_rows(&self) -> String {
        format!(
            "SELECT o.r FROM (SELECT {} AS r FROM {} WHERE {}) o \
             ORDER BY o.r COLLATE \"C\" LIMIT $1::pg_catalog.int8",
            self.row_text,
            self.relation,
            self.null_key_predicate()
        )
    }

    /// One key value (as text) held by more than one row, with how many, if there is one.
    pub fn duplicate_key(&self) -> String {
        let idents = self.key_idents();
        let not_null: Vec<String> = self
            .key
            .iter()
            .map(|k| format!("{} IS NOT NULL", k.ident))
            .collect();
        format!(
            "SELECT ROW({idents})::pg_catalog.text, pg_catalog.count(*) FROM {} WHERE {} \
             GROUP BY {idents} HAVING pg_catalog.count(*) > 1 LIMIT 1",
            self.relation,
            not_null.join(" AND "),
        )
    }

    /// `min` and `max` of a single integer key, as text.
    pub fn min_max(&self) -> String {
        let k = self.key.first().map_or("", |k| k.ident.as_str());
        format!(
            "SELECT pg_catalog.min({k})::pg_catalog.text, pg_catalog.max({k})::pg_catalog.text FROM {}",
            self.relation
        )
    }
}

/// Whether a valid unique index without predicate or expressions (a primary key, a unique
/// constraint) covers only key columns, which makes the key unique among rows without NULLs.
/// Not for a table with inheritance children (its index does not cover them, and a read of
/// it reads them too); a partitioned table's index covers its partitions. Parameters: the
/// relation (quoted, as text), the key column names.
pub const UNIQUE_INDEX_ON_KEY: &str = "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_index i \
     JOIN pg_catalog.pg_class c ON c.oid = i.indrelid AND (c.relkind = 'p' OR NOT c.relhassubclass) \
     WHERE i.indrelid = $1::pg_catalog.text::pg_catalog.regclass AND i.indisunique AND i.indisvalid \
     AND i.indpred IS NULL AND i.indexprs IS NULL \
     AND (SELECT pg_catalog.array_agg(a.attname::pg_catalog.text) FROM pg_catalog.unnest(i.indkey[0:i.indnkeyatts - 1]) AS k(n) \
          JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n) \
         OPERATOR(pg_catalog.<@) $2::pg_catalog.text[])";

/// The parameters of a range: lower bound values, then upper bound values.
pub fn range_params(r: &Range) -> Vec<&str> {
    r.lo.iter()
        .chain(r.hi.iter())
        .flat_map(|v| v.iter().map(String::as_str))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str, text: bool) -> KeyColumn {
        KeyColumn {
            name: name.into(),
            ident: format!("\"{name}\""),
            order_expr: if text {
                format!("\"{name}\" COLLATE \"C\"")
            } else {
                format!("\"{name}\"")
            },
            type_sql: if text {
                "\"pg_catalog\".\"text\"".into()
            } else {
                "\"pg_catalog\".\"int4\"".into()
            },
            order_type: if text {
                "\"pg_catalog\".\"text\"".into()
            } else {
                "\"pg_catalog\".\"int4\"".into()
            },
            integer: !text,
            not_null: false,
        }
    }

    #[test]
    fn builds_row_value_range_predicates() {
        let cols = vec![Compared {
            name: "v".into(),
            expr: "\"v\"".into(),
        }];
        let s = TableSql::new(
            "\"s\".\"t\"".into(),
            &[key("a", true), key("b", false)],
            &cols,
        );
        assert_eq!(
            s.range_predicate(Bounds { lo: true, hi: true }),
            "\"a\" IS NOT NULL AND \"b\" IS NOT NULL AND (\"a\" COLLATE \"C\", \"b\") > ($1::pg_catalog.text::\"pg_catalog\".\"text\", $2::pg_catalog.text::\"pg_catalog\".\"int4\") AND (\"a\" COLLATE \"C\", \"b\") <= ($3::pg_catalog.text::\"pg_catalog\".\"text\", $4::pg_catalog.text::\"pg_catalog\".\"int4\")"
        );
        let one = TableSql::new("\"t\"".into(), &[key("id", false)], &cols);
        assert_eq!(
            one.range_predicate(Bounds {
                lo: false,
                hi: true
            }),
            "\"id\" IS NOT NULL AND \"id\" <= $1::pg_catalog.text::\"pg_catalog\".\"int4\""
        );
        assert!(one.checksum(Bounds::ALL[0]).contains("ORDER BY \"id\""));
        assert!(
            one.boundaries(Bounds { lo: true, hi: true })
                .contains("$3::pg_catalog.int8")
        );
        assert_eq!(
            range_params(&Range {
                lo: Some(vec!["1".into()]),
                hi: Some(vec!["9".into()])
            }),
            ["1", "9"]
        );
    }
}
