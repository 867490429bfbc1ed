//! One line of a journal: an event and when it was written.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Event;

/// One journal line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// When it was written.
    pub ts: DateTime<Utc>,
    /// The event, flattened into the record (its `type` tag and fields).
    #[serde(flatten)]
    pub event: Event,
}
