//! What a `repair` step journals about its patch.

use serde::{Deserialize, Serialize};

/// A repair step's patch: where it is, its digest, its counts, and what applying it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepairRecord {
    /// The check whose differences it repairs.
    pub check: String,
    /// The patch file.
    pub patch_file: String,
    /// Its sha256 (hex).
    pub sha256: String,
    /// The inverse patch file (the step's rollback).
    pub inverse_file: String,
    /// The inverse's sha256 (hex): the rollback applies the file only while it still has it
    /// (empty in journals of cutover before it was kept).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub inverse_sha256: String,
    /// Rows it inserts, updates, deletes.
    pub inserts: u64,
    /// Rows it updates.
    pub updates: u64,
    /// Rows it deletes.
    pub deletes: u64,
    /// Rows left out, each with why (a generated column, a secret, a NULL key).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Whether it was applied (false: saved, waiting for its word, or not applied).
    pub applied: bool,
    /// Statements that changed their row.
    #[serde(default)]
    pub changed: u64,
    /// The rows whose statement was stale (changed since the diff: left alone), `table (key)`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stale: Vec<String>,
    /// The stale statements by their place in the patch (`None`: a journal of a cutover
    /// before they were kept): their inverses must change nothing, the others their row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale_statements: Option<Vec<usize>>,
    /// A rollback applied its inverse (committed): a later one does not apply it again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub undone: bool,
}

impl RepairRecord {
    /// How many statements the patch (and its inverse) holds.
    pub fn statements(&self) -> u64 {
        self.inserts + self.updates + self.deletes
    }

    /// `1 insert, 2 updates, 0 deletes`.
    pub fn counts(&self) -> String {
        let n = |k: u64, w: &str| format!("{k} {w}{}", if k == 1 { "" } else { "s" });
        format!(
            "{}, {}, {}",
            n(self.inserts, "insert"),
            n(self.updates, "update"),
            n(self.deletes, "delete")
        )
    }
}
