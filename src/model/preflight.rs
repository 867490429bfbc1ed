//! What `cutover preflight` (and, before step 1, `run`) found: one finding per thing checked,
//! each passed, a warning, or a failure that stops the run before step 1.

use serde::{Deserialize, Serialize};

/// How a finding stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// As the runbook assumes.
    Pass,
    /// Worth knowing; does not stop the run.
    Warn,
    /// Not as the runbook assumes: the run does not start unless the operator overrides it.
    Fail,
}

/// One thing preflight checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What was checked: `connection source`, `lag slot orders_sub`, `window`...
    pub what: String,
    /// How it stands.
    pub verdict: Verdict,
    /// What was found, in words (host:port/db, versions, the error).
    pub detail: String,
}

impl Finding {
    /// A finding of `what` with `verdict` and `detail`.
    pub fn new(what: impl Into<String>, verdict: Verdict, detail: impl Into<String>) -> Self {
        Finding {
            what: what.into(),
            verdict,
            detail: detail.into(),
        }
    }

    /// The verdict's mark: `✔` passed, `⚠` warning, `✘` stops the run.
    pub fn glyph(&self) -> char {
        match self.verdict {
            Verdict::Pass => '✔',
            Verdict::Warn => '⚠',
            Verdict::Fail => '✘',
        }
    }

    /// The finding as one line: `✔ connection source: db1:5432/orders, PostgreSQL 15.4`.
    pub fn line(&self) -> String {
        format!("{} {}: {}", self.glyph(), self.what, self.detail)
    }
}

/// Whether any finding stops the run.
pub fn blocks(findings: &[Finding]) -> bool {
    findings.iter().any(|f| f.verdict == Verdict::Fail)
}
