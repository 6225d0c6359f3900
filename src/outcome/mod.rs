//! The model of a scrape's outcome: what collecting each target produced
//! ([`TargetOutcome`]), one scrape of all targets ([`ScrapeReport`]), the failure counters,
//! the last configuration reload ([`ReloadStatus`]), and the per-target view joined from
//! all of them ([`view`]). Plain data: `scrape` fills it, `checks`, `render`, the status
//! page and the `check` command read it.

pub mod view;

use crate::collectors::{CollectError, Kind, Snapshot};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use view::{DataLocation, ScrapeView, TargetView};

/// The result of collecting one target once.
#[derive(Debug)]
pub struct TargetOutcome {
    /// The `target` label value.
    pub target: String,
    /// What kind of system it is.
    pub kind: Kind,
    /// When the collection finished (wall clock), for the landing page.
    pub finished_at: SystemTime,
    /// How long the collection took.
    pub duration: Duration,
    /// The snapshot, or why there is none.
    pub result: Result<Snapshot, CollectError>,
    /// Restart tracking after this collection (Redis and PostgreSQL targets of the
    /// configuration; `None` for the Docker Engine and `/probe` targets).
    pub restart: Option<crate::restarts::RestartStatus>,
}

/// Everything `render` needs for one `/metrics` response.
#[derive(Debug)]
pub struct ScrapeReport {
    /// One outcome per target, in configuration order.
    pub outcomes: Vec<Arc<TargetOutcome>>,
    /// `(collector, target, reason) → count` since start-up.
    pub errors: ErrorCounts,
    /// The targets declared not to run in a container (kind and name).
    pub not_in_container: Vec<(Kind, String)>,
}

/// `(collector, target, reason) → failed collections` since start-up.
pub type ErrorCounts = BTreeMap<(&'static str, String, &'static str), u64>;

/// Outcome of the last configuration reload, for the self-metrics.
#[derive(Clone, Copy, Debug)]
pub struct ReloadStatus {
    /// Whether the last reload attempt succeeded (true at start-up).
    pub success: bool,
    /// Unix time of the last successful (re)load.
    pub success_timestamp: f64,
}
