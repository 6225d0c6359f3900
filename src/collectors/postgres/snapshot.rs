//! What one PostgreSQL scrape produces: settings, activity, statistics, archiver and
//! checkpoint counters, pg_stat_statements, and what the role could not see.

use super::slowlog;
use std::collections::HashMap;
use std::sync::Arc;

/// What the role is missing (`true` = missing). Each one means some metrics are absent or
/// undercounted, never silently zero.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Privileges {
    /// `pg_read_all_settings`: superuser-only settings (`data_directory`, log paths) are
    /// hidden.
    pub read_all_settings_missing: bool,
    /// `pg_read_all_stats`: other roles' sessions show no state (`<insufficient
    /// privilege>`), sizes of databases without CONNECT are unknown, other roles'
    /// pg_stat_statements entries have no `queryid`.
    pub read_all_stats_missing: bool,
    /// EXECUTE on `pg_ls_waldir()`: the WAL size is unknown.
    pub ls_waldir_missing: bool,
    /// EXECUTE on `pg_control_system()`: the cluster's identity is unknown, so a
    /// re-initialised data directory cannot be told from a restart.
    pub control_system_missing: bool,
}

/// One numeric or boolean `pg_settings` row, as text, and its `pg_settings_*` sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Setting {
    /// Setting name.
    pub name: String,
    /// Value as the server prints it in `setting`.
    pub setting: String,
    /// `unit` (`ms`, `8kB`, …), empty when none.
    pub unit: String,
    /// `bool`, `integer` or `real`.
    pub vartype: String,
    /// Its `pg_settings_*` sample in postgres_exporter's scheme ([`super::settings`]),
    /// converted once when the settings are read; `None` when it is not exported.
    pub metric: Option<SettingMetric>,
}

/// A setting as postgres_exporter exports it: `pg_settings_<name>[_seconds|_bytes]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SettingMetric {
    /// The metric name.
    pub name: String,
    /// The setting's description (`short_desc`) plus a note on the unit conversion.
    pub help: String,
    /// The value in seconds or bytes (`-1` kept for "off").
    pub value: f64,
}

/// `pg_stat_activity_count` / `_max_tx_duration` for one database and state.
#[derive(Clone, Debug, PartialEq)]
pub struct Activity {
    /// Database.
    pub datname: String,
    /// Session state.
    pub state: String,
    /// Sessions in that state.
    pub count: f64,
    /// Age of the oldest transaction among them, seconds.
    pub max_tx_duration: f64,
}

/// Queries running now, per database.
#[derive(Clone, Debug, PartialEq)]
pub struct InFlight {
    /// Database.
    pub datname: String,
    /// Active queries running longer than the threshold.
    pub slow: f64,
    /// Age of the longest running active query, seconds (0 when none).
    pub longest_seconds: f64,
}

/// One `pg_stat_database` row. Counters absent from the server's version are `None`.
#[derive(Clone, Debug, PartialEq)]
pub struct StatDatabase {
    /// `datid` (0 for shared objects).
    pub datid: String,
    /// `datname` (empty for shared objects).
    pub datname: String,
    /// `(column, value)` for every numeric column read.
    pub values: Vec<(&'static str, Option<f64>)>,
}

/// Columns of [`sql::main_query`]'s `stat_database` arrays after `datid, datname`.
pub const STAT_DATABASE_COLUMNS: &[&str] = &[
    "numbackends",
    "xact_commit",
    "xact_rollback",
    "blks_read",
    "blks_hit",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
    "conflicts",
    "temp_files",
    "temp_bytes",
    "deadlocks",
    "checksum_failures",
];

/// `pg_stat_archiver`.
#[derive(Clone, Debug, PartialEq)]
pub struct Archiver {
    /// WAL files archived.
    pub archived_count: f64,
    /// Failed archiving attempts.
    pub failed_count: f64,
    /// Seconds since the last successful archive; `None` when none ever succeeded.
    pub last_archive_age: Option<f64>,
    /// Seconds since the last failed attempt; `None` when none ever failed. Tells the
    /// persistence checks whether archiving is failing *now*.
    pub last_failed_age: Option<f64>,
}

/// Checkpoint and background writer counters under one stable key set (from
/// `pg_stat_bgwriter` before 17, `pg_stat_checkpointer` + `pg_stat_bgwriter` from 17).
/// Keys: `timed`, `req`, `write_time`, `sync_time` (ms), `buffers`, `buffers_clean`,
/// `maxwritten_clean`, `buffers_alloc`, and before 17 `buffers_backend`,
/// `buffers_backend_fsync`.
pub type Checkpoints = Vec<(String, f64)>;

/// pg_stat_statements, when readable.
#[derive(Clone, Debug, PartialEq)]
pub enum Statements {
    /// The extension is not installed in the database the exporter connects to.
    NotInstalled,
    /// Installed but not readable (not in `shared_preload_libraries`, …): the reason.
    Unavailable(String),
    /// Read.
    Available {
        /// Top N by total execution time, aggregated by queryid.
        top: Vec<StatementStats>,
        /// `datname → statements whose mean execution time exceeds the threshold`.
        slow_per_db: Vec<(String, f64)>,
        /// Entries the role may not see (no queryid).
        hidden: f64,
    },
}

/// One `queryid` of the top N.
#[derive(Clone, Debug, PartialEq)]
pub struct StatementStats {
    /// The query id (decimal).
    pub queryid: String,
    /// Executions.
    pub calls: f64,
    /// Total execution time, seconds.
    pub total_seconds: f64,
    /// Longest execution, seconds.
    pub max_seconds: f64,
}

/// Everything one scrape learned about a PostgreSQL server.
#[derive(Clone, Debug, PartialEq)]
pub struct PostgresSnapshot {
    /// `server_version_num` (e.g. 170004).
    pub version_num: u32,
    /// `version()`.
    pub version: String,
    /// `server_version` (e.g. `17.4`).
    pub server_version: String,
    /// `pg_postmaster_start_time()` as Unix seconds.
    pub start_time: Option<f64>,
    /// `pg_is_in_recovery()`.
    pub in_recovery: Option<bool>,
    /// What the role cannot see.
    pub privileges: Privileges,
    /// Numeric and boolean settings (shared with the later scrapes that keep them).
    pub settings: Arc<Vec<Setting>>,
    /// What the settings were read under (`pg_conf_load_time()` and whether the role may
    /// read all settings): they are re-read only when it changes.
    pub settings_key: Option<String>,
    /// Whether this scrape's statement read `pg_settings` (else the settings are the ones
    /// kept from an earlier scrape on the same connection).
    pub settings_read: bool,
    /// `name → short_desc` (fetched once per connection).
    pub setting_help: Arc<HashMap<String, String>>,
    /// The [`sql::INFO_SETTINGS`] the role can see, `(name, value)`.
    pub info_settings: Arc<Vec<(String, String)>>,
    /// Settings changed in the configuration files whose new value takes effect only
    /// after a restart (`pg_settings.pending_restart`), by name.
    pub pending_restart: Arc<Vec<String>>,
    /// Sessions per database and state.
    pub activity: Vec<Activity>,
    /// Queries running now, per database.
    pub in_flight: Vec<InFlight>,
    /// Threshold used for "slow", seconds.
    pub threshold_seconds: f64,
    /// `(datname, size in bytes)`; `None` when the role may not know it.
    pub databases: Vec<(String, Option<f64>)>,
    /// `pg_stat_database` rows.
    pub stat_database: Vec<StatDatabase>,
    /// `pg_stat_archiver`.
    pub archiver: Option<Archiver>,
    /// Checkpoint counters.
    pub checkpoints: Checkpoints,
    /// `pg_stat_wal` (14+): `records`, `fpi`, `bytes`, `buffers_full`.
    pub wal: Vec<(String, f64)>,
    /// Size of `pg_wal` in bytes (needs `pg_ls_waldir`).
    pub wal_size_bytes: Option<f64>,
    /// Age of the served database and WAL sizes, seconds (they are refreshed in the
    /// background every `size_interval`); `None` when they are read on every scrape.
    pub size_refresh_age_seconds: Option<f64>,
    /// How long the refresh that produced them took, seconds (for a refresh done inside a
    /// scrape: that scrape's whole statement); `None` when read on every scrape.
    pub size_refresh_duration_seconds: Option<f64>,
    /// pg_stat_statements.
    pub statements: Statements,
    /// Slow statements counted from the log file; `None` when no log file is configured.
    pub slow_log: Option<slowlog::SlowLogSnapshot>,
    /// `system_identifier` from `pg_control_system()` (read once per connection, see
    /// [`super::identity`]); `None` when the role may not read it.
    pub system_identifier: Option<String>,
}

impl PostgresSnapshot {
    /// A setting among the [`sql::INFO_SETTINGS`].
    pub fn info(&self, name: &str) -> Option<&str> {
        self.info_settings
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Short version as postgres_exporter prints it (`15.18.0`).
    pub fn short_version(&self) -> String {
        short_version(&self.server_version)
    }
}

/// `17.4 (Debian 17.4-1)` → `17.4.0`, `18beta1` → `18.0.0`.
pub fn short_version(server_version: &str) -> String {
    let head = server_version.split_whitespace().next().unwrap_or("");
    let mut nums: Vec<u32> = head
        .split('.')
        .map(|p| {
            p.chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
                .parse()
                .unwrap_or(0)
        })
        .take(3)
        .collect();
    nums.resize(3, 0);
    let part = |i: usize| nums.get(i).copied().unwrap_or(0);
    format!("{}.{}.{}", part(0), part(1), part(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_versions() {
        assert_eq!(short_version("15.18 (Debian 15.18-0+deb12u1)"), "15.18.0");
        assert_eq!(short_version("17.4"), "17.4.0");
        assert_eq!(short_version("18beta1"), "18.0.0");
        assert_eq!(short_version(""), "0.0.0");
    }
}
