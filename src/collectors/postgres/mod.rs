//! PostgreSQL collector: one connection per target, kept between scrapes and re-established
//! after a failure (retried once in the same scrape when a kept connection turned out to be
//! broken). The whole connect (TCP, TLS, login) and every scrape run under the scrape
//! deadline. A scrape sends one JSON-returning statement (plus one for pg_stat_statements
//! when it is readable), prepared once per connection so the server plans them once, both
//! pipelined on the connection: one round trip whatever the number of databases and
//! settings. See [`sql`] for the statements and their version gates.
//!
//! Slow statements are seen three ways: in flight (`pg_stat_activity`), counted exactly
//! from the server's log file ([`slowlog`], followed by a background task), and from
//! pg_stat_statements when installed.
//!
//! Works as a non-superuser member of `pg_monitor`; whatever the role cannot see is
//! reported in [`Privileges`] (and a log line), never as a silent zero.

pub mod connect;
pub mod identity;
pub mod slowlog;
pub mod sql;
pub mod tls;

use super::CollectError;
use super::capped::{DEFAULT_MAX_REPLY_BYTES, ReplyBudget};
use crate::config::{PgSslMode, PostgresTarget, split_sslmode};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::time::Instant;

/// How often the background task reads the log file.
pub const LOG_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// After pg_stat_statements failed (not in `shared_preload_libraries`, dropped), how long
/// before it is tried again: each failure is an `ERROR` line in the server's log.
pub const STATEMENTS_RETRY: Duration = Duration::from_secs(300);

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

/// One numeric or boolean `pg_settings` row, as text (converted by the renderer).
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
    /// Numeric and boolean settings.
    pub settings: Vec<Setting>,
    /// `name → short_desc` (fetched once per connection).
    pub setting_help: Arc<HashMap<String, String>>,
    /// The [`sql::INFO_SETTINGS`] the role can see, `(name, value)`.
    pub info_settings: Vec<(String, String)>,
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
    /// pg_stat_statements.
    pub statements: Statements,
    /// Slow statements counted from the log file; `None` when no log file is configured.
    pub slow_log: Option<slowlog::SlowLogSnapshot>,
    /// `system_identifier` from `pg_control_system()` (read once per connection, see
    /// [`identity`]); `None` when the role may not read it.
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
    format!("{}.{}.{}", nums[0], nums[1], nums[2])
}

// ---- JSON helpers (tolerant: a field of an unexpected shape is absent, never fatal) -----

fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64().filter(|f| f.is_finite()),
        Value::String(s) => s.parse::<f64>().ok().filter(|f| f.is_finite()),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn rows(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

fn object_nums(v: &Value) -> Vec<(String, f64)> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), num(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

/// What the per-connection [`sql::connect_query`] statement returns.
#[derive(Clone, Debug, PartialEq)]
pub struct ConnectInfo {
    /// `server_version_num`.
    pub version_num: u32,
    /// Whether the role may execute `pg_ls_waldir()`.
    pub ls_waldir: bool,
    /// The server's `log_min_duration_statement` in ms.
    pub log_min_duration_statement: Option<f64>,
    /// Setting descriptions.
    pub help: HashMap<String, String>,
    /// `(schema, extversion)` of pg_stat_statements.
    pub pgss: Option<(String, String)>,
}

fn pgss_of(v: &Value) -> Option<(String, String)> {
    let a = v.as_array()?;
    Some((text(a.first()?)?, text(a.get(1)?)?))
}

/// Parses [`sql::connect_query`]'s document.
pub fn parse_connect(doc: &str) -> Result<ConnectInfo, String> {
    let v: Value = serde_json::from_str(doc).map_err(|e| format!("invalid JSON: {e}"))?;
    let version_num = v
        .get("version_num")
        .and_then(num)
        .ok_or("no server_version_num")? as u32;
    let help = v
        .get("help")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
                .collect()
        })
        .unwrap_or_default();
    Ok(ConnectInfo {
        version_num,
        ls_waldir: v.get("ls_waldir").and_then(Value::as_bool) == Some(true),
        log_min_duration_statement: v.get("log_min_duration_statement").and_then(num),
        help,
        pgss: v.get("pgss").and_then(pgss_of),
    })
}

/// Parses [`sql::main_query`]'s document into a snapshot (without pg_stat_statements and
/// the log counts, which the caller adds). Also returns where pg_stat_statements is now.
pub fn parse_main(
    doc: &str,
    version_num: u32,
    help: Arc<HashMap<String, String>>,
) -> Result<(PostgresSnapshot, Option<(String, String)>), String> {
    let v: Value = serde_json::from_str(doc).map_err(|e| format!("invalid JSON: {e}"))?;
    if !v.is_object() {
        return Err("expected a JSON object".to_string());
    }
    let get = |k: &str| v.get(k).unwrap_or(&Value::Null);
    let privs = get("privileges");
    let missing = |k: &str| privs.get(k).and_then(Value::as_bool) != Some(true);
    let settings = rows(get("settings"))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some(Setting {
                name: text(a.first()?)?,
                setting: text(a.get(1)?)?,
                unit: a.get(2).and_then(text).unwrap_or_default(),
                vartype: text(a.get(3)?)?,
            })
        })
        .collect();
    let info_settings = rows(get("info"))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some((text(a.first()?)?, text(a.get(1)?)?))
        })
        .collect();
    let activity = rows(get("activity"))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some(Activity {
                datname: text(a.first()?)?,
                state: text(a.get(1)?)?,
                count: a.get(2).and_then(num).unwrap_or(0.0),
                max_tx_duration: a.get(3).and_then(num).unwrap_or(0.0),
            })
        })
        .collect();
    let in_flight = rows(get("in_flight"))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some(InFlight {
                datname: text(a.first()?)?,
                slow: a.get(1).and_then(num).unwrap_or(0.0),
                longest_seconds: a.get(2).and_then(num).unwrap_or(0.0),
            })
        })
        .collect();
    let databases = rows(get("databases"))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some((text(a.first()?)?, a.get(1).and_then(num)))
        })
        .collect();
    let stat_database = rows(get("stat_database"))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some(StatDatabase {
                datid: a.first().and_then(text).unwrap_or_default(),
                datname: a.get(1).and_then(text).unwrap_or_default(),
                values: STAT_DATABASE_COLUMNS
                    .iter()
                    .enumerate()
                    .map(|(i, c)| (*c, a.get(i + 2).and_then(num)))
                    .collect(),
            })
        })
        .collect();
    let archiver = get("archiver").as_array().and_then(|a| {
        Some(Archiver {
            archived_count: num(a.first()?)?,
            failed_count: num(a.get(1)?)?,
            last_archive_age: a.get(2).and_then(num),
            last_failed_age: a.get(3).and_then(num),
        })
    });
    let snap = PostgresSnapshot {
        version_num,
        version: get("version").as_str().unwrap_or("").to_string(),
        server_version: get("server_version").as_str().unwrap_or("").to_string(),
        start_time: num(get("start_time")),
        in_recovery: get("in_recovery").as_bool(),
        privileges: Privileges {
            read_all_settings_missing: missing("pg_read_all_settings"),
            read_all_stats_missing: missing("pg_read_all_stats"),
            ls_waldir_missing: missing("pg_ls_waldir"),
            control_system_missing: missing("pg_control_system"),
        },
        settings,
        setting_help: help,
        info_settings,
        activity,
        in_flight,
        threshold_seconds: num(get("threshold_ms")).unwrap_or(0.0) / 1000.0,
        databases,
        stat_database,
        archiver,
        checkpoints: object_nums(get("checkpoints")),
        wal: object_nums(get("wal")),
        wal_size_bytes: num(get("wal_size")),
        statements: Statements::NotInstalled,
        slow_log: None,
        system_identifier: None,
    };
    Ok((snap, pgss_of(get("pgss"))))
}

/// Parses [`sql::statements_query`]'s document.
pub fn parse_statements(doc: &str) -> Result<Statements, String> {
    let v: Value = serde_json::from_str(doc).map_err(|e| format!("invalid JSON: {e}"))?;
    let top = rows(v.get("top").unwrap_or(&Value::Null))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some(StatementStats {
                queryid: text(a.first()?)?,
                calls: a.get(1).and_then(num).unwrap_or(0.0),
                total_seconds: a.get(2).and_then(num).unwrap_or(0.0) / 1000.0,
                max_seconds: a.get(3).and_then(num).unwrap_or(0.0) / 1000.0,
            })
        })
        .collect();
    let slow_per_db = rows(v.get("slow").unwrap_or(&Value::Null))
        .iter()
        .filter_map(|r| {
            let a = r.as_array()?;
            Some((text(a.first()?)?, a.get(1).and_then(num).unwrap_or(0.0)))
        })
        .collect();
    Ok(Statements::Available {
        top,
        slow_per_db,
        hidden: v.get("hidden").and_then(num).unwrap_or(0.0),
    })
}

// ---- the collector ------------------------------------------------------------------

/// A live connection and what was learned when it was opened.
struct Conn {
    client: tokio_postgres::Client,
    version_num: u32,
    help: Arc<HashMap<String, String>>,
    /// Whether `main_sql` reads the WAL size (`pg_ls_waldir()`).
    ls_waldir: bool,
    /// The slow-query threshold written into the statements.
    threshold_ms: f64,
    main: Prepared,
    /// `(schema, extversion)` of pg_stat_statements and its statement.
    pgss: Option<((String, String), Prepared)>,
    /// The cluster's `system_identifier`, read at connect ([`identity`]).
    system_identifier: Option<String>,
}

/// A statement and, once prepared on the connection, its handle: the server plans it once
/// (a generic plan), not every scrape.
struct Prepared {
    sql: String,
    statement: Option<tokio_postgres::Statement>,
}

impl Prepared {
    fn new(sql: String) -> Prepared {
        Prepared {
            sql,
            statement: None,
        }
    }
}

/// Runs a single-row, single-text-column statement, preparing it first if needed (that
/// costs one more round trip, once per connection). Returns the statement for reuse.
async fn run_prepared(
    client: &tokio_postgres::Client,
    sql: &str,
    statement: Option<tokio_postgres::Statement>,
) -> Result<(tokio_postgres::Statement, Option<String>), tokio_postgres::Error> {
    let statement = match statement {
        Some(s) => s,
        None => client.prepare(sql).await?,
    };
    let rows = client.query(&statement, &[]).await?;
    let doc = rows
        .first()
        .and_then(|r| r.try_get::<_, Option<String>>(0).ok().flatten());
    Ok((statement, doc))
}

/// Scrapes one PostgreSQL server, keeping its connection between scrapes.
pub struct PostgresCollector {
    target: PostgresTarget,
    /// The parsed DSN (password applied) or why it cannot be used.
    config: Result<Box<tokio_postgres::Config>, String>,
    /// The TLS connector and mode, or why they cannot be built.
    tls: Result<
        (
            tokio_postgres_rustls::MakeRustlsConnect,
            tokio_postgres::config::SslMode,
        ),
        String,
    >,
    conn: Option<Conn>,
    /// What the kept connection may read per scrape.
    budget: ReplyBudget,
    /// The time budget of the current scrape: the target's timeout, or less when the
    /// scrape deadline is nearer. Timeout messages state it.
    attempt_budget: Duration,
    /// After a pg_stat_statements failure: the reason and when to try again.
    statements_failed: Option<(String, Instant)>,
    follower: Option<Arc<Mutex<slowlog::LogFollower>>>,
    follow_task: Option<tokio::task::JoinHandle<()>>,
    /// Last privilege state logged, so a missing privilege is logged once, not per scrape.
    logged_privileges: Option<Privileges>,
}

impl Drop for PostgresCollector {
    fn drop(&mut self) {
        if let Some(t) = self.follow_task.take() {
            t.abort();
        }
    }
}

impl PostgresCollector {
    /// Prepares the connection settings and starts following the log file (positioned at
    /// its end); no connection is made until the first scrape.
    pub fn new(target: PostgresTarget) -> Self {
        let config = build_config(&target).map(Box::new);
        let mode = target.ssl_mode.unwrap_or(PgSslMode::Prefer);
        let tls = tls::connector(mode, target.ca_file.as_deref());
        let follower = target
            .log_file
            .as_deref()
            .map(|p| Arc::new(Mutex::new(slowlog::LogFollower::new(p))));
        let mut c = PostgresCollector {
            target,
            config,
            tls,
            conn: None,
            budget: ReplyBudget::new(DEFAULT_MAX_REPLY_BYTES),
            attempt_budget: Duration::ZERO,
            statements_failed: None,
            follower,
            follow_task: None,
            logged_privileges: None,
        };
        c.start_follow_task();
        c
    }

    /// Sets the cap on the bytes one scrape may read from the server (default
    /// [`DEFAULT_MAX_REPLY_BYTES`]).
    pub fn with_max_reply_bytes(mut self, cap: u64) -> Self {
        self.budget = ReplyBudget::new(cap);
        self.conn = None;
        self
    }

    /// The target's name (the `target` label).
    pub fn name(&self) -> &str {
        &self.target.name
    }

    /// Spawns the background reader of the log file, if there is one and a runtime to run
    /// it on (else the first scrape does). It holds only a weak reference and is aborted
    /// when the collector is dropped.
    fn start_follow_task(&mut self) {
        if self.follow_task.is_some() {
            return;
        }
        let Some(f) = &self.follower else { return };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Mutex<slowlog::LogFollower>> = Arc::downgrade(f);
        self.follow_task = Some(handle.spawn(async move {
            let mut tick = tokio::time::interval(LOG_POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(f) = weak.upgrade() else { return };
                if tokio::task::spawn_blocking(move || lock(&f).poll())
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }));
    }

    /// One scrape: the statements on the kept connection (reconnecting once if it broke)
    /// and a last read of the log file, concurrently, all before `deadline`.
    pub async fn collect(&mut self, deadline: Instant) -> Result<PostgresSnapshot, CollectError> {
        self.start_follow_task();
        let deadline = deadline.min(Instant::now() + self.target.timeout);
        self.attempt_budget = super::stated_budget(deadline);
        let follower = self.follower.clone();
        let log = async move {
            let f = follower?;
            let read = tokio::task::spawn_blocking(move || {
                let mut g = lock(&f);
                g.poll();
                g.snapshot()
            });
            tokio::time::timeout_at(deadline, read).await.ok()?.ok()
        };
        let (main, polled) = tokio::join!(self.query(deadline), log);
        let mut snap = main?;
        if let Some(f) = &self.follower {
            // Hand over the server's log_line_prefix (to find %d), then copy the counts.
            // If a slow background read still holds the follower, use what this scrape's
            // own read returned.
            let fresh = match f.try_lock() {
                Ok(mut g) => {
                    if let Some(prefix) = snap.info("log_line_prefix") {
                        g.set_prefix(prefix);
                    }
                    Some(g.snapshot())
                }
                Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner().snapshot()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            };
            snap.slow_log = fresh.or(polled);
        }
        self.log_visibility(&snap);
        Ok(snap)
    }

    /// Logs missing privileges and an unreadable log file when that changes.
    fn log_visibility(&mut self, snap: &PostgresSnapshot) {
        if self.logged_privileges.as_ref() != Some(&snap.privileges) {
            let p = &snap.privileges;
            let missing: Vec<&str> = [
                (p.read_all_settings_missing, "pg_read_all_settings"),
                (p.read_all_stats_missing, "pg_read_all_stats"),
                (p.ls_waldir_missing, "EXECUTE on pg_ls_waldir()"),
                (p.control_system_missing, "EXECUTE on pg_control_system()"),
            ]
            .iter()
            .filter(|(m, _)| *m)
            .map(|(_, n)| *n)
            .collect();
            if !missing.is_empty() {
                tracing::warn!(target_name = %self.target.name, missing = %missing.join(", "), "The PostgreSQL role lacks privileges: some metrics are absent or undercounted (see pg_exporter_privilege_missing); GRANT pg_monitor fixes it");
            }
            self.logged_privileges = Some(snap.privileges.clone());
        }
    }

    async fn query(&mut self, deadline: Instant) -> Result<PostgresSnapshot, CollectError> {
        let reused = self.conn.as_ref().is_some_and(|c| !c.client.is_closed());
        match self.query_once(deadline).await {
            Err(e)
                if reused
                    && !matches!(
                        e,
                        CollectError::Timeout { .. } | CollectError::Protocol { .. }
                    ) =>
            {
                // The kept connection broke (server restarted, idle timeout): one fresh try.
                tracing::debug!(target_name = %self.target.name, error = %e, "Reconnecting");
                self.conn = None;
                self.query_once(deadline).await
            }
            other => other,
        }
    }

    fn timeout_err(&self) -> CollectError {
        CollectError::Timeout {
            target: self.target.name.clone(),
            after: self.attempt_budget,
        }
    }

    /// A client error, or the cap when the server went over it (the client library only
    /// saw the read fail).
    fn failure(&self, e: &tokio_postgres::Error, connecting: bool) -> CollectError {
        if self.budget.exceeded() {
            CollectError::Protocol {
                target: self.target.name.clone(),
                cause: self.budget.cause(),
            }
        } else {
            classify(&self.target.name, e, connecting)
        }
    }

    async fn query_once(&mut self, deadline: Instant) -> Result<PostgresSnapshot, CollectError> {
        if remaining(deadline).is_zero() {
            return Err(self.timeout_err());
        }
        self.budget.reset();
        let conn = match self.conn.take() {
            Some(c) if !c.client.is_closed() => c,
            _ => self.connect(deadline).await?,
        };
        let name = self.target.name.clone();
        let run_statements = conn.pgss.is_some()
            && self
                .statements_failed
                .as_ref()
                .is_none_or(|(_, retry_at)| Instant::now() >= *retry_at);
        let pgss_stmt = conn
            .pgss
            .as_ref()
            .filter(|_| run_statements)
            .map(|(_, p)| (p.sql.as_str(), p.statement.clone()));
        // Both statements go out together on the one connection (tokio-postgres pipelines
        // concurrent requests): one round trip.
        let both = async {
            tokio::join!(
                run_prepared(&conn.client, &conn.main.sql, conn.main.statement.clone()),
                async {
                    match pgss_stmt {
                        Some((sql, st)) => Some(run_prepared(&conn.client, sql, st).await),
                        None => None,
                    }
                }
            )
        };
        let (main, pgss) = match tokio::time::timeout_at(deadline, both).await {
            // The connection is dropped with the statements in flight; the server
            // cancels them when it notices (statement_timeout bounds them anyway).
            Err(_) => return Err(self.timeout_err()),
            Ok(r) => r,
        };
        let (main_stmt, doc) = main.map_err(|e| self.failure(&e, false))?;
        let doc = doc.ok_or_else(|| CollectError::Protocol {
            target: name.clone(),
            cause: "the statement returned no row".to_string(),
        })?;
        let mut conn = conn;
        conn.main.statement = Some(main_stmt);
        let system_identifier = conn.system_identifier.clone();
        let (mut snap, pgss_now) =
            parse_main(&doc, conn.version_num, conn.help.clone()).map_err(|cause| {
                CollectError::Protocol {
                    target: name.clone(),
                    cause,
                }
            })?;
        snap.statements = match (&mut conn.pgss, pgss) {
            (None, _) => Statements::NotInstalled,
            (Some(_), None) => Statements::Unavailable(
                self.statements_failed
                    .as_ref()
                    .map(|(r, _)| r.clone())
                    .unwrap_or_default(),
            ),
            (Some((_, prepared)), Some(Ok((st, doc)))) => {
                self.statements_failed = None;
                prepared.statement = Some(st);
                match doc.map(|d| parse_statements(&d)) {
                    Some(Ok(s)) => s,
                    Some(Err(e)) => Statements::Unavailable(e),
                    None => Statements::Unavailable("no row".to_string()),
                }
            }
            (Some(_), Some(Err(e))) => {
                let reason = error_text(&e);
                tracing::warn!(target_name = %name, error = %reason, retry_in_seconds = STATEMENTS_RETRY.as_secs(), "pg_stat_statements is installed but cannot be read");
                self.statements_failed = Some((reason.clone(), Instant::now() + STATEMENTS_RETRY));
                Statements::Unavailable(reason)
            }
        };
        // What the statements were built from changed (EXECUTE on pg_ls_waldir() granted
        // or revoked, log_min_duration_statement changed, pg_stat_statements installed,
        // dropped or updated): rebuild them for the next scrape.
        let threshold_ms = sql::effective_threshold_ms(
            setting_value(&snap.settings, "log_min_duration_statement"),
            self.default_threshold_ms(),
        );
        let threshold_changed = threshold_ms != conn.threshold_ms;
        if conn.ls_waldir == snap.privileges.ls_waldir_missing || threshold_changed {
            conn.ls_waldir = !snap.privileges.ls_waldir_missing;
            conn.threshold_ms = threshold_ms;
            conn.main = Prepared::new(sql::main_query(
                conn.version_num,
                threshold_ms,
                conn.ls_waldir,
            ));
        }
        if threshold_changed || conn.pgss.as_ref().map(|(loc, _)| loc) != pgss_now.as_ref() {
            if conn.pgss.as_ref().map(|(loc, _)| loc) != pgss_now.as_ref() {
                self.statements_failed = None;
            }
            conn.pgss = pgss_now.map(|loc| {
                let sql = self.statements_sql(&loc, threshold_ms);
                (loc, Prepared::new(sql))
            });
        }
        self.conn = Some(conn);
        snap.system_identifier = system_identifier;
        Ok(snap)
    }

    fn default_threshold_ms(&self) -> u64 {
        self.target.slow_query_threshold.as_millis() as u64
    }

    fn statements_sql(&self, (schema, version): &(String, String), threshold_ms: f64) -> String {
        sql::statements_query(
            schema,
            version,
            self.target
                .statements_top_n
                .min(crate::config::MAX_STATEMENTS_TOP_N),
            threshold_ms,
        )
    }

    /// TCP, TLS, login and the per-connection statement, all before `deadline`.
    async fn connect(&self, deadline: Instant) -> Result<Conn, CollectError> {
        let name = self.target.name.clone();
        let mut config = self.config.clone().map_err(|cause| CollectError::Connect {
            target: name.clone(),
            cause,
        })?;
        let (tls, ssl_mode) = self.tls.clone().map_err(|cause| CollectError::Connect {
            target: name.clone(),
            cause,
        })?;
        if remaining(deadline).is_zero() {
            return Err(self.timeout_err());
        }
        config.ssl_mode(ssl_mode);
        let opening = connect::open(&config, self.target.pinned_addr, tls, self.budget.clone());
        let (client, connection) = match tokio::time::timeout_at(deadline, opening).await {
            Err(_) => return Err(self.timeout_err()),
            Ok(Err(connect::OpenError::Socket(cause))) => {
                return Err(CollectError::Connect {
                    target: name.clone(),
                    cause,
                });
            }
            Ok(Err(connect::OpenError::Postgres(e))) => return Err(self.failure(&e, true)),
            Ok(Ok(c)) => c,
        };
        // The connection task ends when the client is dropped.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let timeout_ms = self.target.timeout.as_millis().max(1) as u64;
        let msgs = match tokio::time::timeout_at(
            deadline,
            client.simple_query(&sql::connect_query(timeout_ms)),
        )
        .await
        {
            Err(_) => return Err(self.timeout_err()),
            Ok(Err(e)) => return Err(self.failure(&e, false)),
            Ok(Ok(m)) => m,
        };
        let info = first_value(&msgs)
            .ok_or_else(|| "the statement returned no row".to_string())
            .and_then(|d| parse_connect(&d))
            .map_err(|cause| CollectError::Protocol {
                target: name.clone(),
                cause,
            })?;
        tracing::debug!(target_name = %name, server_version_num = info.version_num, "Connected");
        let system_identifier =
            match tokio::time::timeout_at(deadline, identity::system_identifier(&client)).await {
                Err(_) => return Err(self.timeout_err()),
                Ok(Err(e)) => return Err(self.failure(&e, false)),
                Ok(Ok(id)) => id,
            };
        let threshold_ms = sql::effective_threshold_ms(
            info.log_min_duration_statement,
            self.default_threshold_ms(),
        );
        let main = Prepared::new(sql::main_query(
            info.version_num,
            threshold_ms,
            info.ls_waldir,
        ));
        let pgss = info.pgss.map(|loc| {
            let sql = self.statements_sql(&loc, threshold_ms);
            (loc, Prepared::new(sql))
        });
        Ok(Conn {
            client,
            version_num: info.version_num,
            help: Arc::new(info.help),
            ls_waldir: info.ls_waldir,
            threshold_ms,
            main,
            pgss,
            system_identifier,
        })
    }
}

/// Parses the DSN (without `sslmode`, which is handled by [`tls`]), applies the password
/// and our session defaults. Errors never contain the password.
pub(crate) fn build_config(target: &PostgresTarget) -> Result<tokio_postgres::Config, String> {
    let (dsn, _) = split_sslmode(&target.dsn);
    let mut config: tokio_postgres::Config = dsn
        .parse()
        .map_err(|e| format!("invalid DSN {}: {e}", target.dsn))?;
    if let Some(p) = &target.password {
        config.password(p.expose());
    }
    if config.get_application_name().is_none() {
        config.application_name("persistence_exporter");
    }
    Ok(config)
}

/// A numeric setting's value (as the server prints it in `setting`).
fn setting_value(settings: &[Setting], name: &str) -> Option<f64> {
    settings
        .iter()
        .find(|s| s.name == name)
        .and_then(|s| s.setting.parse().ok())
}

/// The first column of the first row, as text.
fn first_value(msgs: &[tokio_postgres::SimpleQueryMessage]) -> Option<String> {
    msgs.iter().find_map(|m| match m {
        tokio_postgres::SimpleQueryMessage::Row(r) => r.get(0).map(str::to_string),
        _ => None,
    })
}

/// The error and its causes, one line, without secrets (neither the DSN nor the password
/// is part of tokio-postgres' errors).
fn error_text(e: &tokio_postgres::Error) -> String {
    if let Some(db) = e.as_db_error() {
        return format!("{}: {} ({})", db.severity(), db.message(), db.code().code());
    }
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(cause) = src {
        let c = cause.to_string();
        if !s.contains(&c) {
            s.push_str(": ");
            s.push_str(&c);
        }
        src = cause.source();
    }
    s.lines().next().unwrap_or("").chars().take(300).collect()
}

/// Maps a client error to a [`CollectError`]; `connecting` says which phase failed.
fn classify(target: &str, e: &tokio_postgres::Error, connecting: bool) -> CollectError {
    use tokio_postgres::error::SqlState;
    let cause = error_text(e);
    let target = target.to_string();
    let code = e.code();
    if code == Some(&SqlState::INVALID_PASSWORD)
        || code == Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
    {
        CollectError::Auth { target, cause }
    } else if connecting || e.is_closed() {
        CollectError::Connect { target, cause }
    } else {
        CollectError::Query { target, cause }
    }
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// Locks a std mutex, recovering from poisoning (the data is plain counters).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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

    const MAIN_DOC: &str = r#"{
        "version": "PostgreSQL 17.4 on x86_64-pc-linux-gnu",
        "server_version": "17.4",
        "start_time": 1714550000.25,
        "in_recovery": false,
        "threshold_ms": 1000,
        "privileges": {"pg_read_all_settings": true, "pg_read_all_stats": false, "pg_ls_waldir": true},
        "settings": [["max_connections", "20", null, "integer"], ["log_min_duration_statement", "1000", "ms", "integer"], ["fsync", "on", null, "bool"], ["bad"]],
        "info": [["TimeZone", "Asia/Phnom_Penh"], ["server_encoding", "UTF8"]],
        "activity": [["postgres", "active", 1, 0.5], ["postgres", "idle", 0, 0]],
        "in_flight": [["postgres", 1, 5.5], ["template1", 0, 0]],
        "databases": [["postgres", 7500000], ["secret", null]],
        "stat_database": [[0, null, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, null], [5, "postgres", 1, 100, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0]],
        "archiver": [3, 1, null],
        "checkpoints": {"timed": 4, "req": 2, "write_time": 10.5, "buffers": 7},
        "wal": {"records": 10, "bytes": "123456"},
        "wal_size": "16777216",
        "pgss": ["public", "1.11"]
    }"#;

    #[test]
    fn parses_the_main_document() {
        let (s, pgss) = parse_main(MAIN_DOC, 170004, Arc::default()).unwrap();
        assert_eq!(pgss, Some(("public".to_string(), "1.11".to_string())));
        assert_eq!(s.short_version(), "17.4.0");
        assert_eq!(s.start_time, Some(1714550000.25));
        assert_eq!(s.in_recovery, Some(false));
        assert!(s.privileges.read_all_stats_missing);
        assert!(!s.privileges.read_all_settings_missing);
        assert_eq!(s.settings.len(), 3);
        assert_eq!(s.settings[1].unit, "ms");
        assert_eq!(s.settings[0].unit, "");
        assert_eq!(s.info("TimeZone"), Some("Asia/Phnom_Penh"));
        assert_eq!(s.threshold_seconds, 1.0);
        assert_eq!(s.databases[1], ("secret".to_string(), None));
        assert_eq!(s.stat_database[0].datname, "");
        assert_eq!(s.stat_database[0].datid, "0");
        assert_eq!(s.stat_database[1].values[1], ("xact_commit", Some(100.0)));
        assert_eq!(s.stat_database[0].values[14], ("checksum_failures", None));
        assert_eq!(
            s.archiver,
            Some(Archiver {
                archived_count: 3.0,
                failed_count: 1.0,
                last_archive_age: None,
                last_failed_age: None
            })
        );
        assert!(s.checkpoints.contains(&("write_time".to_string(), 10.5)));
        assert!(s.wal.contains(&("bytes".to_string(), 123456.0)));
        assert_eq!(s.wal_size_bytes, Some(16777216.0));
        assert_eq!(s.in_flight[0].longest_seconds, 5.5);
    }

    #[test]
    fn garbage_documents_are_errors_or_absences_never_panics() {
        assert!(parse_main("not json", 1, Arc::default()).is_err());
        assert!(parse_main("[1,2]", 1, Arc::default()).is_err());
        let (s, pgss) = parse_main(
            r#"{"settings": 5, "activity": [[1]], "archiver": ["x"], "privileges": null}"#,
            1,
            Arc::default(),
        )
        .unwrap();
        assert!(s.settings.is_empty());
        assert!(s.activity.is_empty());
        assert_eq!(s.archiver, None);
        assert_eq!(pgss, None);
        // Unknown privilege state counts as missing: never claim visibility we lack.
        assert!(s.privileges.read_all_stats_missing);
        assert!(parse_connect("{}").is_err());
        assert!(parse_statements("nope").is_err());
    }

    #[test]
    fn parses_connect_and_statements() {
        let c = parse_connect(
            r#"{"version_num": 130020, "help": {"max_connections": "Sets the maximum number of concurrent connections."}, "pgss": null}"#,
        )
        .unwrap();
        assert_eq!(c.version_num, 130020);
        assert_eq!(c.pgss, None);
        assert!(c.help["max_connections"].starts_with("Sets"));
        let s = parse_statements(
            r#"{"top": [["-9223372036854775808", 3, 4500.0, 2000.0]], "slow": [["postgres", 2]], "hidden": 1}"#,
        )
        .unwrap();
        let Statements::Available {
            top,
            slow_per_db,
            hidden,
        } = s
        else {
            panic!()
        };
        assert_eq!(top[0].queryid, "-9223372036854775808");
        assert_eq!(top[0].total_seconds, 4.5);
        assert_eq!(top[0].max_seconds, 2.0);
        assert_eq!(slow_per_db, vec![("postgres".to_string(), 2.0)]);
        assert_eq!(hidden, 1.0);
    }

    fn target(dsn: &str) -> PostgresTarget {
        PostgresTarget {
            name: "t".into(),
            dsn: dsn.into(),
            password: Some(crate::secret::Secret::new("hunter2-pw")),
            ssl_mode: None,
            ca_file: None,
            timeout: Duration::from_secs(3),
            log_file: None,
            slow_query_threshold: Duration::from_secs(1),
            statements_top_n: 10,
            container: None,
            profile: crate::config::profile::Profile::load("durable").unwrap(),
            pinned_addr: None,
        }
    }

    #[test]
    fn config_gets_password_and_application_name() {
        let c = build_config(&target("postgresql://u@h:5433/db?sslmode=verify-full")).unwrap();
        assert_eq!(c.get_password(), Some(&b"hunter2-pw"[..]));
        assert_eq!(c.get_application_name(), Some("persistence_exporter"));
        assert_eq!(c.get_options(), None, "poolers refuse startup options");
        let c = build_config(&target("host=h application_name=me")).unwrap();
        assert_eq!(c.get_application_name(), Some("me"));
        let e = build_config(&target("host=h port=notaport")).unwrap_err();
        assert!(!e.contains("hunter2"));
    }

    #[tokio::test]
    async fn log_follower_stops_with_the_collector() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("pg.log");
        std::fs::write(&log, "").unwrap();
        let mut t = target("postgresql://u@127.0.0.1:1/db");
        t.log_file = Some(log);
        let c = PostgresCollector::new(t);
        let task = c.follow_task.as_ref().expect("started").abort_handle();
        let follower = Arc::downgrade(c.follower.as_ref().unwrap());
        tokio::time::sleep(LOG_POLL_INTERVAL * 2).await;
        assert!(!task.is_finished());
        drop(c);
        tokio::time::sleep(LOG_POLL_INTERVAL * 2).await;
        assert!(task.is_finished());
        assert!(follower.upgrade().is_none(), "the follower is freed");
    }
}
