//! Counting the statements that PostgreSQL itself logged as slow.
//!
//! With `log_min_duration_statement ≥ 0` the server writes one `duration: … ms  statement:`
//! (or `execute`/`parse`/`bind`/`fastpath function call`) line per statement that ran at
//! least that long. [`LogFollower`] reads the server's log file incrementally from where
//! it was when the exporter started (a fresh exporter starts at the end, its counters at
//! 0), follows it across rotation (a new inode under the same path) and truncation
//! (`copytruncate`, recognised by size and by a fingerprint of the file's first bytes),
//! and counts every such line exactly once, per database, with a histogram of the
//! durations (see [`follower`] for the exactness rules).
//!
//! Formats: `stderr` (any `log_line_prefix`; the database comes from `%d` when the prefix
//! has it, else the line is counted under `datname=""`), `csvlog` (records may span lines)
//! and `jsonlog`; the format is recognised per record, so one parser serves all three.
//! Messages must be in English (`lc_messages` `C` or `en_*`), as the server's own log
//! tooling (pgBadger) also requires.
//!
//! Everything here is synchronous and pure apart from the file reads; the collector runs
//! [`LogFollower::poll`] on a blocking thread from a background task and before each scrape.

mod follower;
mod parse;
mod prefix;

pub use follower::LogFollower;
use parse::split_records_into;
pub use parse::{
    looks_like_csv_start, parse_csv_line, parse_csv_record, parse_duration_message,
    parse_json_line, parse_record, parse_stderr_line, split_records,
};
pub use prefix::PrefixTemplate;

use std::collections::BTreeMap;

/// Upper bounds (seconds) of the slow-statement duration histogram.
pub const DURATION_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
];

/// Distinct database names tracked; further names are counted under [`OVERFLOW_DB`]
/// (names come from the log, so they are bounded defensively).
pub const MAX_DATABASES: usize = 200;

/// The `datname` used once [`MAX_DATABASES`] is reached.
pub const OVERFLOW_DB: &str = "__other__";

/// A record longer than this without its end is garbage: it is dropped and the reader
/// resynchronises at the next line.
const MAX_RECORD: usize = 1 << 20;

/// Slow statements of one database.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DbSlow {
    /// Statements logged as slow.
    pub count: u64,
    /// Per [`DURATION_BUCKETS`] bound, the number of statements at or below it (not
    /// cumulative; the renderer accumulates).
    pub buckets: Vec<u64>,
    /// Sum of the durations in seconds.
    pub sum_seconds: f64,
}

impl DbSlow {
    /// Counts one slow statement of `seconds`.
    pub(crate) fn observe(&mut self, seconds: f64) {
        if self.buckets.len() != DURATION_BUCKETS.len() {
            self.buckets = vec![0; DURATION_BUCKETS.len()];
        }
        self.count += 1;
        self.sum_seconds += seconds;
        if let Some(bucket) = DURATION_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .and_then(|i| self.buckets.get_mut(i))
        {
            *bucket += 1;
        }
    }

    /// Cumulative `(upper bound, count)` pairs, as Prometheus histograms want them.
    pub fn cumulative(&self) -> Vec<(f64, u64)> {
        let mut acc = 0;
        DURATION_BUCKETS
            .iter()
            .enumerate()
            .map(|(i, b)| {
                acc += self.buckets.get(i).copied().unwrap_or(0);
                (*b, acc)
            })
            .collect()
    }
}

/// What the follower has counted so far, copied into each scrape's snapshot.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SlowLogSnapshot {
    /// `datname → counts`; `""` when the log line did not say which database.
    pub per_db: BTreeMap<String, DbSlow>,
    /// False while the file cannot be opened or read.
    pub readable: bool,
    /// Why it cannot be read (for the log line and the landing page).
    pub error: Option<String>,
    /// False when stderr lines are being counted without a database (`%d` missing from
    /// `log_line_prefix`), so `datname=""` is where the counts go.
    pub attributes_database: bool,
}

impl SlowLogSnapshot {
    /// Counts one complete log record if it is a slow statement, under its database (or
    /// [`OVERFLOW_DB`] once [`MAX_DATABASES`] names are tracked).
    pub fn count_record(&mut self, record: &str, prefix: Option<&PrefixTemplate>) {
        let Some(entry) = parse_record(record, prefix) else {
            return;
        };
        let mut db = entry.datname.unwrap_or_default();
        if !self.per_db.contains_key(&db) && self.per_db.len() >= MAX_DATABASES {
            db = OVERFLOW_DB.to_string();
        }
        self.per_db
            .entry(db)
            .or_default()
            .observe(entry.duration_ms / 1000.0);
    }
}

/// One slow statement found in the log.
#[derive(Clone, Debug, PartialEq)]
pub struct SlowEntry {
    /// Database, when the record says.
    pub datname: Option<String>,
    /// Duration in milliseconds, as logged.
    pub duration_ms: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets() {
        let mut d = DbSlow::default();
        d.observe(1.2);
        d.observe(1.2);
        d.observe(7200.0);
        assert_eq!(d.count, 3);
        let c = d.cumulative();
        assert_eq!(c[2], (0.5, 0));
        assert_eq!(c[4], (2.5, 2));
        assert_eq!(c.last().unwrap(), &(3600.0, 2));
        assert!((d.sum_seconds - 7202.4).abs() < 1e-9);
    }
}
