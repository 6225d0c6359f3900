//! Restart tracking: did the data survive the restarts the exporter observed? Pure logic,
//! fed one observation per collection (from the snapshot and the canary), producing the
//! counters and the last restart's verdict that `checks` and `render` read.
//!
//! - A Redis restart is a new `run_id`. The keys it held (the keyspace sum at the last
//!   scrape before) are compared with the keys it recovered once `loading:0`:
//!   `rdb_last_load_keys_loaded` (7.0+) or the keyspace sum at that scrape, whichever is
//!   larger (an AOF without RDB preamble loads no "RDB keys"). Fewer than
//!   `min_recovered_ratio` of them (when it held any) is data lost.
//! - A PostgreSQL restart is a new `pg_postmaster_start_time()`. A new `system_identifier`
//!   means the data directory was initialised afresh: data lost.
//! - With the write canary, the last write acknowledged before the restart is compared
//!   with the value read back after it: the difference is the data actually lost (the
//!   observed recovery point); a canary that vanished is data lost.
//!
//! [`state`] keeps the [`Record`] of every target in a file across exporter restarts.

pub mod state;
#[cfg(test)]
mod tests;

use crate::canary::CanaryObservation;
use crate::collectors::Snapshot;
use serde::{Deserialize, Serialize};

/// How long a restart's verdict may wait for Redis to finish loading or for the canary to
/// be read back before it is decided on what is known.
pub const PENDING_TIMEOUT_SECONDS: f64 = 300.0;

/// What one successful collection says about the server's identity and data.
#[derive(Clone, Debug, PartialEq)]
pub enum Observation {
    /// A Redis server.
    Redis {
        /// `run_id`: new at every start.
        run_id: String,
        /// `loading:1` while the dataset is still being read from disk.
        loading: bool,
        /// Sum of `keys` over the keyspace section.
        keys: u64,
        /// `rdb_last_load_keys_loaded` (7.0+).
        keys_loaded: Option<u64>,
    },
    /// A PostgreSQL server.
    Postgres {
        /// `pg_postmaster_start_time()`, as an instance id.
        instance: String,
        /// `system_identifier`; `None` when the role may not read it.
        system_identifier: Option<String>,
    },
}

impl Observation {
    /// The observation in a snapshot (`None` for Docker, or when the server did not say
    /// who it is).
    pub fn from_snapshot(s: &Snapshot) -> Option<Observation> {
        match s {
            Snapshot::Redis(r) => {
                let run_id = r.info.get("run_id")?.trim().to_string();
                if run_id.is_empty() {
                    return None;
                }
                Some(Observation::Redis {
                    run_id,
                    loading: r.info.num("loading") == Some(1.0),
                    keys: r.info.keyspace.iter().map(|db| db.keys).sum(),
                    keys_loaded: r
                        .info
                        .num("rdb_last_load_keys_loaded")
                        .filter(|n| *n >= 0.0)
                        .map(|n| n as u64),
                })
            }
            Snapshot::Postgres(p) => Some(Observation::Postgres {
                instance: crate::canary::instance_of_start_time(p.start_time?),
                system_identifier: p.system_identifier.clone(),
            }),
            Snapshot::Docker(_) => None,
        }
    }

    fn instance(&self) -> &str {
        match self {
            Observation::Redis { run_id, .. } => run_id,
            Observation::Postgres { instance, .. } => instance,
        }
    }
}

/// What the exporter remembers about a target between scrapes (and, with the state file,
/// across its own restarts).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Record {
    /// `redis` or `postgres`.
    pub kind: String,
    /// Unix time since which restarts have been tracked.
    pub since: f64,
    /// The server instance last seen (Redis `run_id`, PostgreSQL start time).
    pub instance: Option<String>,
    /// PostgreSQL `system_identifier` last seen.
    pub system_identifier: Option<String>,
    /// Redis: keys held at the last scrape (after loading).
    pub keys_before: Option<u64>,
    /// Last canary write acknowledged by the current instance (Unix milliseconds).
    pub canary_last_ack_ms: Option<i64>,
    /// First canary write acknowledged since the canary's value last survived (Unix ms).
    pub canary_first_ack_ms: Option<i64>,
    /// Restarts observed.
    pub restarts_total: u64,
    /// Restarts after which the data did not survive.
    pub data_lost_total: u64,
    /// When the last restart was observed.
    pub last_restart_at: Option<f64>,
    /// When the last restart that lost data was observed, and why it counts as a loss.
    pub last_loss: Option<(f64, String)>,
    /// Redis, last restart: keys after / keys before.
    pub recovered_ratio: Option<f64>,
    /// Last restart: seconds of acknowledged canary writes lost.
    pub canary_loss_seconds: Option<f64>,
}

/// A restart whose verdict still waits for loading or for the canary's read-back.
#[derive(Clone, Debug, PartialEq)]
struct Pending {
    at: f64,
    keys_before: Option<u64>,
    old_system_identifier: Option<String>,
    canary_before: Option<i64>,
    canary_first: Option<i64>,
    /// Redis: decided ratio (`Some(None)`: nothing to compare, it held no keys).
    ratio: Option<Option<f64>>,
    /// Decided canary loss: `(seconds, vanished)`; `Some(None)`: no canary to compare.
    canary: Option<Option<(f64, bool)>>,
    /// PostgreSQL: the identifier changed (`None`: unknown).
    identity_changed: Option<bool>,
}

/// A target's restart tracker.
#[derive(Clone, Debug)]
pub struct Tracker {
    record: Record,
    min_recovered_ratio: f64,
    pending: Option<Pending>,
    /// Why the cluster's identity cannot be read (PostgreSQL role without the privilege).
    identity_unknown: Option<String>,
    /// The canary's counters at the last observation.
    canary: Option<CanaryObservation>,
}

/// The tracker's state after an observation, for the checks and the metrics.
#[derive(Clone, Debug, PartialEq)]
pub struct RestartStatus {
    /// Unix time since which restarts have been tracked.
    pub since: f64,
    /// Restarts observed.
    pub restarts_total: u64,
    /// Restarts after which the data did not survive.
    pub data_lost_total: u64,
    /// When the last restart was observed.
    pub last_restart_at: Option<f64>,
    /// The last restart that lost data: when, and why.
    pub last_loss: Option<(f64, String)>,
    /// Redis, last restart: keys after / keys before.
    pub recovered_ratio: Option<f64>,
    /// Last restart: seconds of acknowledged canary writes lost.
    pub canary_loss_seconds: Option<f64>,
    /// Why a lost data directory could go unnoticed (identity unreadable).
    pub identity_unknown: Option<String>,
    /// A restart's verdict is still pending.
    pub pending: bool,
    /// The write canary, when enabled.
    pub canary: Option<CanaryObservation>,
}

#[cfg(test)]
impl RestartStatus {
    /// Restarts tracked since `since`, none observed: the state the checks' and pages'
    /// tests start from.
    pub(crate) fn quiet_since(since: f64) -> RestartStatus {
        RestartStatus {
            since,
            restarts_total: 0,
            data_lost_total: 0,
            last_restart_at: None,
            last_loss: None,
            recovered_ratio: None,
            canary_loss_seconds: None,
            identity_unknown: None,
            pending: false,
            canary: None,
        }
    }
}

/// Why an unreadable PostgreSQL identity makes the check unknown.
pub const IDENTITY_UNREADABLE: &str = "the role may not execute pg_control_system() (pg_exporter_privilege_missing{what=\"pg_control_system\"}): a re-initialised data directory would go unnoticed";

impl Tracker {
    /// A tracker for a target, starting from a stored record when there is one of the
    /// same kind.
    pub fn new(kind: &str, min_recovered_ratio: f64, stored: Option<Record>, now: f64) -> Self {
        let record = match stored {
            Some(r) if r.kind == kind && r.since > 0.0 => r,
            _ => Record {
                kind: kind.to_string(),
                since: now,
                ..Record::default()
            },
        };
        Tracker {
            record,
            min_recovered_ratio,
            pending: None,
            identity_unknown: None,
            canary: None,
        }
    }

    /// Changes the ratio (a reload).
    pub fn set_min_recovered_ratio(&mut self, ratio: f64) {
        self.min_recovered_ratio = ratio;
    }

    /// What is remembered (for the state file).
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Folds one collection in. `obs` is `None` when the target did not answer (only the
    /// canary's counters and a pending timeout move then).
    pub fn observe(
        &mut self,
        obs: Option<&Observation>,
        canary: Option<&CanaryObservation>,
        now: f64,
    ) -> RestartStatus {
        self.canary = canary.cloned();
        if let Some(obs) = obs {
            self.fold(obs, canary, now);
        }
        if let Some(p) = &self.pending
            && now - p.at > PENDING_TIMEOUT_SECONDS
        {
            self.decide();
        }
        self.status()
    }

    fn fold(&mut self, obs: &Observation, canary: Option<&CanaryObservation>, now: f64) {
        if let Observation::Postgres {
            system_identifier, ..
        } = obs
        {
            self.identity_unknown = system_identifier
                .is_none()
                .then(|| IDENTITY_UNREADABLE.to_string());
        }
        let instance = obs.instance();
        match self.record.instance.as_deref() {
            None => {}
            Some(known) if known == instance => {}
            Some(_) => {
                self.record.restarts_total += 1;
                self.record.last_restart_at = Some(now);
                self.pending = Some(Pending {
                    at: now,
                    keys_before: self.record.keys_before.take(),
                    old_system_identifier: self.record.system_identifier.clone(),
                    canary_before: self.record.canary_last_ack_ms.take(),
                    canary_first: self.record.canary_first_ack_ms,
                    ratio: None,
                    canary: None,
                    identity_changed: None,
                });
            }
        }
        self.record.instance = Some(instance.to_string());
        if let Some(p) = self.pending.as_mut() {
            resolve(p, obs, canary, instance);
            let redis_done = !matches!(obs, Observation::Redis { .. }) || p.ratio.is_some();
            if redis_done && p.canary.is_some() {
                self.decide();
            }
        }
        if self.pending.is_some() {
            return;
        }
        // Steady state: remember what a future restart is compared with.
        match obs {
            Observation::Redis { loading, keys, .. } => {
                if !loading {
                    self.record.keys_before = Some(*keys);
                }
            }
            Observation::Postgres {
                system_identifier, ..
            } => {
                if system_identifier.is_some() {
                    self.record.system_identifier = system_identifier.clone();
                }
            }
        }
        if let Some(c) = canary
            && c.instance.as_deref() == Some(instance)
            && let Some(ack) = c.last_ack_ms
        {
            self.record.canary_last_ack_ms = Some(ack);
            if self.record.canary_first_ack_ms.is_none() {
                self.record.canary_first_ack_ms = Some(ack);
            }
        }
    }

    /// Decides the pending restart's verdict on what is known.
    fn decide(&mut self) {
        let Some(p) = self.pending.take() else {
            return;
        };
        let mut reasons = Vec::new();
        if p.identity_changed == Some(true) {
            reasons.push(
                "the system identifier changed: the data directory was initialised afresh"
                    .to_string(),
            );
        }
        let ratio = p.ratio.flatten();
        if let (Some(r), Some(before)) = (ratio, p.keys_before)
            && r < self.min_recovered_ratio
        {
            reasons.push(format!(
                "recovered {:.0} of {before} keys ({:.0}% < {:.0}%)",
                r * before as f64,
                r * 100.0,
                self.min_recovered_ratio * 100.0
            ));
        }
        let canary = p.canary.flatten();
        if let Some((_, true)) = canary {
            reasons.push("the canary vanished".to_string());
        }
        self.record.recovered_ratio = ratio;
        self.record.canary_loss_seconds = canary.map(|(s, _)| s);
        if canary.is_some_and(|(_, vanished)| vanished) || p.identity_changed == Some(true) {
            // A fresh dataset: the canary's history starts again.
            self.record.canary_first_ack_ms = None;
        }
        if !reasons.is_empty() {
            self.record.data_lost_total += 1;
            self.record.last_loss = Some((p.at, reasons.join("; ")));
        }
    }

    /// The current state.
    pub fn status(&self) -> RestartStatus {
        let r = &self.record;
        RestartStatus {
            since: r.since,
            restarts_total: r.restarts_total,
            data_lost_total: r.data_lost_total,
            last_restart_at: r.last_restart_at,
            last_loss: r.last_loss.clone(),
            recovered_ratio: r.recovered_ratio,
            canary_loss_seconds: r.canary_loss_seconds,
            identity_unknown: self.identity_unknown.clone(),
            pending: self.pending.is_some(),
            canary: self.canary.clone(),
        }
    }
}

/// Decides whatever part of a pending verdict this observation can decide.
fn resolve(p: &mut Pending, obs: &Observation, canary: Option<&CanaryObservation>, instance: &str) {
    match obs {
        Observation::Redis {
            loading,
            keys,
            keys_loaded,
            ..
        } => {
            if p.ratio.is_none() && !loading {
                let recovered = (*keys).max(keys_loaded.unwrap_or(0));
                p.ratio = Some(
                    p.keys_before
                        .filter(|b| *b > 0)
                        .map(|b| (recovered as f64 / b as f64).min(1.0)),
                );
            }
        }
        Observation::Postgres {
            system_identifier, ..
        } => {
            if p.identity_changed.is_none()
                && let (Some(old), Some(new)) = (&p.old_system_identifier, system_identifier)
            {
                p.identity_changed = Some(old != new);
            }
        }
    }
    if p.canary.is_none() {
        // The canary task saw the last acknowledgements of the old instance, possibly
        // newer than the last scrape's.
        let seen = canary
            .filter(|c| c.instance.as_deref() == Some(instance))
            .and_then(|c| c.previous_last_ack_ms);
        match (p.canary_before.max(seen), canary) {
            (None, _) | (_, None) => p.canary = Some(None),
            (Some(before), Some(c)) => {
                if c.instance.as_deref() == Some(instance)
                    && let Some(recovered) = c.recovered
                {
                    p.canary = Some(Some(match recovered {
                        Some(v) => (before.saturating_sub(v).max(0) as f64 / 1000.0, false),
                        None => {
                            let first = p.canary_first.unwrap_or(before);
                            (before.saturating_sub(first).max(0) as f64 / 1000.0, true)
                        }
                    }));
                }
            }
        }
    }
}

/// `2026-11-30 12:00 UTC` for Unix seconds (proleptic Gregorian calendar).
pub fn format_utc(unix: f64) -> String {
    let secs = if unix.is_finite() {
        unix.floor() as i64
    } else {
        0
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        (rem % 3600) / 60
    )
}
