//! `method = "sql"`: a user query on `on` whose first column of the first row is the lag.
//!
//! The query runs with the simple query protocol, so any numeric type works (it comes back as
//! text and is parsed as a number). Its unit is that of the `[lag]` thresholds.

use crate::number::parse_number;
use crate::poller::Budget;
use crate::session::Session;
use cutover_model::lag::{LagUnit, Reading};

/// The user-query probe.
#[derive(Debug)]
pub struct SqlProbe {
    on: Session,
    sql: String,
    unit: LagUnit,
}

impl SqlProbe {
    /// Runs `sql` (secrets filled in) on `on`; the value is read in `unit`.
    pub fn new(on: Session, sql: String, unit: LagUnit) -> Self {
        SqlProbe { on, sql, unit }
    }

    /// Forgets the connection.
    pub fn reset(&mut self) {
        self.on.reset();
    }

    /// One reading.
    pub async fn read(&mut self, b: Budget) -> Result<Reading, String> {
        let value = self
            .on
            .simple_scalar(&self.sql, b.query, b.connect)
            .await?
            .ok_or("the lag query returned no rows")?
            .ok_or("the lag query returned NULL")?;
        let n = parse_number(&value).map_err(|e| format!("the lag query returned {e}"))?;
        Ok(Reading::of(self.unit, n))
    }
}
