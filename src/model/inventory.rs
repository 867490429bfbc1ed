//! What `cutover init` found on the two servers: their versions and the settings that matter,
//! the replication already there, every table of the chosen schemas with what makes it risky,
//! the sequences and extensions, and what is on one side only. Read by the runbook writer
//! ([`crate::runbook_writer`]) and printed as the inventory (Markdown, JSON, or the comment
//! block at the top of the runbook).

use serde::{Deserialize, Serialize};

/// A table at least this large (bytes, with its indexes and TOAST) is compared paced
/// (`max_rows_per_second`), so the comparison does not compete with the cutover's own reads.
pub const LARGE_TABLE_BYTES: u64 = 1 << 30;

/// A table whose TOAST data is at least this large is flagged as wide (as is one that is
/// mostly TOAST).
pub const WIDE_TOAST_BYTES: u64 = 64 << 20;

/// A table referenced by at least this many foreign keys heads an active FK tree.
pub const FK_FAN_IN_RISK: u32 = 3;

/// One server, as `init` found it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Server {
    /// Which side: `source` or `target`.
    pub side: String,
    /// `host:port/db`, as connected (no password).
    pub at: String,
    /// `server_version`.
    pub version: String,
    /// `server_version_num`.
    pub version_num: i32,
    /// Whether the server is a standby (`pg_is_in_recovery()`).
    pub in_recovery: bool,
    /// `wal_level`, `max_replication_slots`, `max_wal_senders`,
    /// `max_logical_replication_workers`, `server_encoding`: name and value.
    pub settings: Vec<(String, String)>,
    /// The database's collation provider (`libc`, `icu`, `builtin`), its collation, and the
    /// collation version when the server records one.
    pub collation: String,
    /// Publications: name, and whether it is `FOR ALL TABLES`.
    pub publications: Vec<(String, bool)>,
    /// Subscriptions in this database: name, enabled, its slot.
    pub subscriptions: Vec<Subscription>,
    /// Replication slots: name, type, active.
    pub slots: Vec<(String, String, bool)>,
    /// Standbys streaming from this server (`pg_stat_replication`).
    pub streaming_standbys: u32,
    /// Extensions: name and version.
    pub extensions: Vec<(String, String)>,
}

/// A subscription on a server.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// Its name.
    pub name: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// The slot it uses on its publisher.
    pub slot: Option<String>,
}

/// How a table is keyed for comparison.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "columns")]
pub enum Key {
    /// Its primary key.
    Primary(Vec<String>),
    /// Its narrowest unique index over NOT NULL columns.
    Unique(Vec<String>),
    /// None: compared as a multiset of rows.
    None,
}

impl Key {
    /// The key in words: `primary key (id)`, `unique index (tenant, id)`, `no key`.
    pub fn words(&self) -> String {
        match self {
            Key::Primary(c) => format!("primary key ({})", c.join(", ")),
            Key::Unique(c) => format!("unique index ({})", c.join(", ")),
            Key::None => "no key".into(),
        }
    }
}

/// Why a table deserves attention on cutover night.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    /// No primary key and no unique NOT NULL index: compared as a multiset.
    NoKey,
    /// Partitioned: compared through its parent, partition by partition.
    Partitioned,
    /// Large TOASTed values (bytes of TOAST).
    Wide,
    /// `bytea` columns: binary data.
    Binary,
    /// Columns under an ICU collation (their order depends on the ICU version).
    IcuCollation,
    /// Columns under a nondeterministic collation (equal is not byte-equal).
    Nondeterministic,
    /// Referenced by this many foreign keys: the head of an active FK tree.
    FkTree,
    /// Larger than [`LARGE_TABLE_BYTES`]: compared paced.
    Large,
    /// Present on the source only.
    SourceOnly,
    /// Present on the target only.
    TargetOnly,
    /// The user cannot read it.
    Unreadable,
}

impl Risk {
    /// The flag's reason in words.
    pub fn words(&self) -> &'static str {
        match self {
            Risk::NoKey => "no key: compared as a multiset",
            Risk::Partitioned => "partitioned: compared through its parent",
            Risk::Wide => "wide: large TOASTed values",
            Risk::Binary => "binary data (bytea)",
            Risk::IcuCollation => "ICU-collated columns",
            Risk::Nondeterministic => "nondeterministic collation",
            Risk::FkTree => "many foreign keys point at it",
            Risk::Large => "large: compared paced",
            Risk::SourceOnly => "on the source only",
            Risk::TargetOnly => "on the target only",
            Risk::Unreadable => "not readable by this user",
        }
    }
}

/// A table of the chosen schemas (a partitioned table once, for its partitions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// The schema it is in.
    pub schema: String,
    /// Its name within the schema (unquoted).
    pub name: String,
    /// Bytes with indexes and TOAST (the partitions' for a partitioned table).
    pub bytes: u64,
    /// The planner's row estimate (`reltuples`; 0 when never analysed).
    pub rows: u64,
    /// Its key.
    pub key: Option<Key>,
    /// Partitions, for a partitioned table.
    pub partitions: u32,
    /// TOAST bytes.
    pub toast_bytes: u64,
    /// `bytea` columns.
    pub bytea_columns: Vec<String>,
    /// Columns under an ICU collation.
    pub icu_columns: Vec<String>,
    /// Columns under a nondeterministic collation.
    pub nondeterministic_columns: Vec<String>,
    /// Foreign keys from this table.
    pub fk_out: u32,
    /// Foreign keys to this table.
    pub fk_in: u32,
    /// Rows inserted, updated and deleted per second over the sample (`None`: not sampled).
    pub changes_per_second: Option<f64>,
    /// Why it deserves attention.
    pub risks: Vec<Risk>,
}

impl Table {
    /// `schema.name`, quoted where SQL needs it.
    pub fn shown(&self) -> String {
        crate::ident::shown_qualified(&self.schema, &self.name)
    }

    /// The flags this table earns from what was found (sets [`Table::risks`]).
    pub fn flag(&mut self) {
        let mut r = Vec::new();
        if matches!(self.key, Some(Key::None)) {
            r.push(Risk::NoKey);
        }
        if self.partitions > 0 {
            r.push(Risk::Partitioned);
        }
        if self.toast_bytes >= WIDE_TOAST_BYTES
            || (self.toast_bytes > 0 && self.toast_bytes * 2 >= self.bytes)
        {
            r.push(Risk::Wide);
        }
        if !self.bytea_columns.is_empty() {
            r.push(Risk::Binary);
        }
        if !self.icu_columns.is_empty() {
            r.push(Risk::IcuCollation);
        }
        if !self.nondeterministic_columns.is_empty() {
            r.push(Risk::Nondeterministic);
        }
        if self.fk_in >= FK_FAN_IN_RISK {
            r.push(Risk::FkTree);
        }
        if self.bytes >= LARGE_TABLE_BYTES {
            r.push(Risk::Large);
        }
        r.extend(
            self.risks
                .drain(..)
                .filter(|x| matches!(x, Risk::SourceOnly | Risk::TargetOnly | Risk::Unreadable)),
        );
        self.risks = r;
    }
}

/// A sequence of the chosen schemas.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sequence {
    /// The schema it is in.
    pub schema: String,
    /// Its name within the schema (unquoted).
    pub name: String,
    /// The column that owns it (`schema.table.column`), if any.
    pub owned_by: Option<String>,
}

/// Everything `init` found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Inventory {
    /// When it was taken (UTC, RFC 3339).
    pub taken_at: String,
    /// The schemas inventoried.
    pub schemas: Vec<String>,
    /// Seconds of change-rate sampling (0: not sampled).
    pub sampled_seconds: u64,
    /// The source server.
    pub source: Server,
    /// The target server.
    pub target: Server,
    /// Tables of the source, and those on the target only (flagged).
    pub tables: Vec<Table>,
    /// Sequences of the source.
    pub sequences: Vec<Sequence>,
    /// The source's other schemas with tables, left out by `--schema`: excluded on purpose
    /// in the runbook, so that coverage does not count them as forgotten.
    #[serde(default)]
    pub left_out: Vec<String>,
}

impl Server {
    /// The server's lines of the inventory: version and settings, collation, replication,
    /// extensions.
    fn lines(&self) -> Vec<String> {
        let s = self;
        let mut out = Vec::new();
        out.push(format!(
            "{} {}: PostgreSQL {}{} · {}",
            s.side,
            s.at,
            s.version,
            if s.in_recovery { " (standby)" } else { "" },
            s.settings
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(" · ")
        ));
        out.push(format!("  collation: {}", s.collation));
        let pubs: Vec<String> = s
            .publications
            .iter()
            .map(|(n, all)| format!("{n}{}", if *all { " (all tables)" } else { "" }))
            .collect();
        let subs: Vec<String> = s
            .subscriptions
            .iter()
            .map(|x| {
                format!(
                    "{} ({}, slot {})",
                    x.name,
                    if x.enabled { "enabled" } else { "DISABLED" },
                    x.slot.as_deref().unwrap_or("none")
                )
            })
            .collect();
        let slots: Vec<String> = s
            .slots
            .iter()
            .map(|(n, ty, active)| {
                format!(
                    "{n} ({ty}, {})",
                    if *active { "active" } else { "INACTIVE" }
                )
            })
            .collect();
        out.push(format!(
            "  publications: {} · subscriptions: {} · slots: {} · streaming standbys: {}",
            none_if_empty(&pubs),
            none_if_empty(&subs),
            none_if_empty(&slots),
            s.streaming_standbys
        ));
        let ext: Vec<String> = s
            .extensions
            .iter()
            .map(|(n, v)| format!("{n} {v}"))
            .collect();
        out.push(format!("  extensions: {}", none_if_empty(&ext)));
        out
    }
}

impl Inventory {
    /// Tables flagged for attention.
    pub fn risky(&self) -> impl Iterator<Item = &Table> {
        self.tables.iter().filter(|t| !t.risks.is_empty())
    }

    /// The inventory as plain lines (the runbook's comment block and what `init` prints).
    pub fn lines(&self) -> Vec<String> {
        let mut out = vec![format!("INVENTORY taken {}", self.taken_at)];
        out.extend(self.source.lines());
        out.extend(self.target.lines());
        out.push(format!(
            "tables of {} ({}; change rate {}):",
            self.schemas.join(", "),
            crate::narrate::count(self.tables.len() as u64, "table"),
            if self.sampled_seconds == 0 {
                "not sampled (--sample 30s measures it)".to_string()
            } else {
                format!("sampled over {}s", self.sampled_seconds)
            }
        ));
        for t in &self.tables {
            out.push(format!("  {}", table_line(t)));
        }
        out.push(format!(
            "sequences: {}",
            crate::narrate::count(self.sequences.len() as u64, "sequence")
        ));
        for s in &self.sequences {
            out.push(format!(
                "  {}{}",
                crate::ident::shown_qualified(&s.schema, &s.name),
                s.owned_by
                    .as_ref()
                    .map_or(String::new(), |c| format!(" owned by {c}"))
            ));
        }
        let risky: Vec<String> = self
            .risky()
            .map(|t| {
                let why: Vec<&str> = t.risks.iter().map(Risk::words).collect();
                format!("  ⚠ {}: {}", t.shown(), why.join("; "))
            })
            .collect();
        out.push(format!(
            "high-risk tables: {}",
            if risky.is_empty() { "none" } else { "" }.trim_end()
        ));
        out.extend(risky);
        out
    }

    /// The inventory as a Markdown document (`--inventory FILE.md`).
    pub fn markdown(&self) -> String {
        let mut o = format!("# Inventory\n\nTaken {}.\n\n", self.taken_at);
        o.push_str("| side | server | version | settings | collation |\n|---|---|---|---|---|\n");
        for s in [&self.source, &self.target] {
            let settings: Vec<String> =
                s.settings.iter().map(|(k, v)| format!("{k} {v}")).collect();
            o.push_str(&format!(
                "| {} | {} | {}{} | {} | {} |\n",
                s.side,
                md(&s.at),
                md(&s.version),
                if s.in_recovery { " (standby)" } else { "" },
                md(&settings.join(", ")),
                md(&s.collation)
            ));
        }
        o.push_str("\n## Tables\n\n| table | size | rows (estimate) | key | changes/s | flags |\n|---|---|---|---|---|---|\n");
        for t in &self.tables {
            let flags: Vec<&str> = t.risks.iter().map(Risk::words).collect();
            o.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                md(&t.shown()),
                bytes(t.bytes),
                t.rows,
                md(&t.key.as_ref().map_or("—".into(), Key::words)),
                t.changes_per_second
                    .map_or("—".into(), |r| format!("{r:.1}")),
                md(&flags.join("; "))
            ));
        }
        o.push_str("\n## Sequences\n\n");
        for s in &self.sequences {
            o.push_str(&format!(
                "- {}{}\n",
                md(&crate::ident::shown_qualified(&s.schema, &s.name)),
                s.owned_by
                    .as_ref()
                    .map_or(String::new(), |c| format!(" (owned by {})", md(c)))
            ));
        }
        o
    }
}

fn none_if_empty(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(", ")
    }
}

/// A Markdown table cell: pipes, backslashes and line breaks neutralised.
fn md(s: &str) -> String {
    crate::text::plain(s)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// One table in a line: name, size, rows, key, rate, flags.
fn table_line(t: &Table) -> String {
    let mut s = format!(
        "{} · {} · ~{} rows · {}",
        t.shown(),
        bytes(t.bytes),
        t.rows,
        t.key.as_ref().map_or("—".into(), Key::words)
    );
    if t.partitions > 0 {
        s.push_str(&format!(" · {} partitions", t.partitions));
    }
    if let Some(r) = t.changes_per_second {
        s.push_str(&format!(" · {r:.1} changes/s"));
    }
    if t.fk_in + t.fk_out > 0 {
        s.push_str(&format!(" · FKs in {} out {}", t.fk_in, t.fk_out));
    }
    if !t.risks.is_empty() {
        let why: Vec<&str> = t.risks.iter().map(Risk::words).collect();
        s.push_str(&format!(" · ⚠ {}", why.join("; ")));
    }
    s
}

/// Bytes in the unit that reads best (the wording the cockpit uses too).
pub use crate::narrate::bytes;

#[cfg(test)]
mod tests {
    use super::*;

    fn table(bytes: u64, toast: u64) -> Table {
        Table {
            schema: "public".into(),
            name: "t".into(),
            bytes,
            toast_bytes: toast,
            key: Some(Key::Primary(vec!["id".into()])),
            ..Table::default()
        }
    }

    #[test]
    fn flags_follow_the_thresholds() {
        let mut big = table(LARGE_TABLE_BYTES, 0);
        big.flag();
        assert_eq!(big.risks, vec![Risk::Large]);
        let mut small = table(LARGE_TABLE_BYTES - 1, 0);
        small.flag();
        assert!(small.risks.is_empty());
        let mut toasty = table(10 << 20, 6 << 20);
        toasty.flag();
        assert_eq!(toasty.risks, vec![Risk::Wide]);
        let mut some_toast = table(10 << 20, 1 << 20);
        some_toast.flag();
        assert!(some_toast.risks.is_empty());
        let mut heavy = table(10 << 30, WIDE_TOAST_BYTES);
        heavy.flag();
        assert_eq!(heavy.risks, vec![Risk::Wide, Risk::Large]);
        // Flags found outside the catalog row (one side only) survive a second flagging.
        let mut only = table(1, 0);
        only.risks.push(Risk::SourceOnly);
        only.flag();
        only.flag();
        assert_eq!(only.risks, vec![Risk::SourceOnly]);
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(8 << 10), "8.0 kB");
        assert_eq!(bytes(3 << 30), "3.0 GB");
    }
}
