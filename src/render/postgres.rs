//! PostgreSQL metrics, named, typed and unit-converted as postgres_exporter does wherever it
//! has the metric (plus a `target` label first), and what it does not export: enum and
//! string settings, in-flight and logged slow queries, WAL size, what the role cannot see.

use super::{Families, MemoKey, MetricKind, RenderMemo, Rendered, Value, same_arc};
use crate::collectors::postgres::{
    PostgresSnapshot, STAT_DATABASE_COLUMNS, Setting, Statements, slowlog,
};
use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock, Weak};

/// A counter whose postgres_exporter name has no `_total` suffix (kept for compatibility
/// with its dashboards and alerts; promtool's lint is accepted for these names).
fn legacy_counter<'a>(
    f: &mut Families<'a>,
    name: impl Into<std::borrow::Cow<'a, str>>,
    help: &'static str,
    labels: &[(&str, &str)],
    v: f64,
) {
    f.push(name, help, MetricKind::Counter, labels, Value::Scalar(v));
}

/// `(stable key, metric, help, postgres_exporter's type is counter)` for checkpoint and
/// background writer counters; the names are postgres_exporter's `pg_stat_bgwriter_*`
/// whatever the server version.
const CHECKPOINT_METRICS: &[(&str, &str, &str)] = &[
    (
        "timed",
        "pg_stat_bgwriter_checkpoints_timed_total",
        "Number of scheduled checkpoints that have been performed (pg_stat_checkpointer.num_timed from PostgreSQL 17)",
    ),
    (
        "req",
        "pg_stat_bgwriter_checkpoints_req_total",
        "Number of requested checkpoints that have been performed (pg_stat_checkpointer.num_requested from PostgreSQL 17)",
    ),
    (
        "write_time",
        "pg_stat_bgwriter_checkpoint_write_time_total",
        "Total amount of time that has been spent in the portion of checkpoint processing where files are written to disk, in milliseconds",
    ),
    (
        "sync_time",
        "pg_stat_bgwriter_checkpoint_sync_time_total",
        "Total amount of time that has been spent in the portion of checkpoint processing where files are synchronized to disk, in milliseconds",
    ),
    (
        "buffers",
        "pg_stat_bgwriter_buffers_checkpoint_total",
        "Number of buffers written during checkpoints (pg_stat_checkpointer.buffers_written from PostgreSQL 17)",
    ),
    (
        "buffers_clean",
        "pg_stat_bgwriter_buffers_clean_total",
        "Number of buffers written by the background writer",
    ),
    (
        "maxwritten_clean",
        "pg_stat_bgwriter_maxwritten_clean_total",
        "Number of times the background writer stopped a cleaning scan because it had written too many buffers",
    ),
    (
        "buffers_alloc",
        "pg_stat_bgwriter_buffers_alloc_total",
        "Number of buffers allocated",
    ),
    (
        "buffers_backend",
        "pg_stat_bgwriter_buffers_backend_total",
        "Number of buffers written directly by a backend (before PostgreSQL 17 only)",
    ),
    (
        "buffers_backend_fsync",
        "pg_stat_bgwriter_buffers_backend_fsync_total",
        "Number of times a backend had to execute its own fsync call (before PostgreSQL 17 only)",
    ),
];

const WAL_METRICS: &[(&str, &str, &str)] = &[
    (
        "records",
        "pg_stat_wal_records_total",
        "Total number of WAL records generated (PostgreSQL 14+).",
    ),
    (
        "fpi",
        "pg_stat_wal_fpi_total",
        "Total number of WAL full page images generated (PostgreSQL 14+).",
    ),
    (
        "bytes",
        "pg_stat_wal_bytes_total",
        "Total amount of WAL generated in bytes (PostgreSQL 14+).",
    ),
    (
        "buffers_full",
        "pg_stat_wal_buffers_full_total",
        "Times WAL data was written to disk because WAL buffers became full (PostgreSQL 14+).",
    ),
];

/// `(column, help, is counter)` of `pg_stat_database_*`, postgres_exporter's help texts.
const STAT_DATABASE_HELP: &[(&str, &str, bool)] = &[
    (
        "numbackends",
        "Number of backends currently connected to this database.",
        false,
    ),
    (
        "xact_commit",
        "Number of transactions in this database that have been committed",
        true,
    ),
    (
        "xact_rollback",
        "Number of transactions in this database that have been rolled back",
        true,
    ),
    (
        "blks_read",
        "Number of disk blocks read in this database",
        true,
    ),
    (
        "blks_hit",
        "Number of times disk blocks were found already in the buffer cache",
        true,
    ),
    (
        "tup_returned",
        "Number of rows returned by queries in this database",
        true,
    ),
    (
        "tup_fetched",
        "Number of rows fetched by queries in this database",
        true,
    ),
    (
        "tup_inserted",
        "Number of rows inserted by queries in this database",
        true,
    ),
    (
        "tup_updated",
        "Number of rows updated by queries in this database",
        true,
    ),
    (
        "tup_deleted",
        "Number of rows deleted by queries in this database",
        true,
    ),
    (
        "conflicts",
        "Number of queries canceled due to conflicts with recovery in this database",
        true,
    ),
    (
        "temp_files",
        "Number of temporary files created by queries in this database",
        true,
    ),
    (
        "temp_bytes",
        "Total amount of data written to temporary files by queries in this database",
        true,
    ),
    (
        "deadlocks",
        "Number of deadlocks detected in this database",
        true,
    ),
    (
        "checksum_failures",
        "Number of data page checksum failures detected in this database (absent when data checksums are off)",
        true,
    ),
];

/// Renders one PostgreSQL target: its snapshot with the slow statements counted for it
/// (from its log file or its container's log stream, see `outcome::view`); `None` means
/// the target could not be scraped.
/// `settings`: this target's `pg_settings_*` families, rendered earlier
/// ([`settings_families`]); `None` renders them here.
pub(super) fn render<'a>(
    target: &str,
    snap: Option<(
        &'a PostgresSnapshot,
        Option<&slowlog::SlowLogSnapshot>,
        Option<&'a Rendered>,
    )>,
    f: &mut Families<'a>,
) {
    f.gauge(
        "pg_up",
        "Whether the last scrape of metrics from PostgreSQL was able to connect to the server (1 for yes, 0 for no).",
        &[("target", target)],
        if snap.is_some() { 1.0 } else { 0.0 },
    );
    let Some((s, slow_log, settings)) = snap else {
        return;
    };
    let t = [("target", target)];

    // Server.
    let short = s.short_version();
    let version_labels = [
        ("target", target),
        ("version", s.version.as_str()),
        ("short_version", short.as_str()),
    ];
    f.gauge(
        "pg_static",
        "Version string as reported by postgres",
        &version_labels,
        1.0,
    );
    f.gauge(
        "pg_version_info",
        "PostgreSQL server version: version() and short_version (major.minor.0).",
        &version_labels,
        1.0,
    );
    if let Some(v) = s.start_time {
        f.gauge(
            "pg_postmaster_start_time_seconds",
            "Time at which postmaster started",
            &t,
            v,
        );
    }
    if let Some(r) = s.in_recovery {
        f.gauge(
            "pg_in_recovery",
            "1 when the server is a standby in recovery (pg_is_in_recovery()).",
            &t,
            if r { 1.0 } else { 0.0 },
        );
    }

    // Settings: rendered once per settings read.
    match settings {
        Some(text) => f.append(text),
        None => render_settings(target, s, f),
    }

    // Connections.
    for a in &s.activity {
        let l = [
            ("target", target),
            ("datname", a.datname.as_str()),
            ("state", a.state.as_str()),
        ];
        f.gauge(
            "pg_stat_activity_count",
            "number of connections in this state",
            &l,
            a.count,
        );
        f.gauge(
            "pg_stat_activity_max_tx_duration",
            "max duration in seconds any active transaction has been running",
            &l,
            a.max_tx_duration,
        );
    }

    // Sizes.
    for (datname, size) in &s.databases {
        if let Some(size) = size {
            f.gauge(
                "pg_database_size_bytes",
                "Disk space used by the database",
                &[("target", target), ("datname", datname)],
                *size,
            );
        }
    }
    if let Some(v) = s.wal_size_bytes {
        f.gauge(
            "pg_wal_size_bytes",
            "Total size of the WAL segments in pg_wal (pg_ls_waldir()).",
            &t,
            v,
        );
    }
    if let Some(v) = s.size_refresh_age_seconds {
        f.gauge(
            "persistence_exporter_postgres_size_refresh_age_seconds",
            "Age of the served pg_database_size_bytes and pg_wal_size_bytes: seconds since their refresh ended (refreshed every size_interval in the background).",
            &t,
            v,
        );
    }
    if let Some(v) = s.size_refresh_duration_seconds {
        f.gauge(
            "persistence_exporter_postgres_size_refresh_duration_seconds",
            "How long the refresh of the served database and WAL sizes took, seconds.",
            &t,
            v,
        );
    }

    // Database statistics.
    for row in &s.stat_database {
        let l = [
            ("target", target),
            ("datid", row.datid.as_str()),
            ("datname", row.datname.as_str()),
        ];
        for (col, value) in &row.values {
            let Some(v) = value else { continue };
            let Some((_, help, counter)) = STAT_DATABASE_HELP.iter().find(|(c, _, _)| c == col)
            else {
                continue;
            };
            let name = format!("pg_stat_database_{col}");
            if *counter {
                legacy_counter(f, name, help, &l, *v);
            } else {
                f.gauge(name, *help, &l, *v);
            }
        }
    }
    debug_assert_eq!(STAT_DATABASE_COLUMNS.len(), STAT_DATABASE_HELP.len());

    // Durability.
    if let Some(a) = &s.archiver {
        legacy_counter(
            f,
            "pg_stat_archiver_archived_count",
            "Number of WAL files that have been successfully archived",
            &t,
            a.archived_count,
        );
        legacy_counter(
            f,
            "pg_stat_archiver_failed_count",
            "Number of failed attempts for archiving WAL files",
            &t,
            a.failed_count,
        );
        // NaN when nothing was ever archived, as postgres_exporter reports it.
        f.gauge(
            "pg_stat_archiver_last_archive_age",
            "Time in seconds since last WAL segment was successfully archived",
            &t,
            a.last_archive_age.unwrap_or(f64::NAN),
        );
    }
    for (key, metric, help) in CHECKPOINT_METRICS {
        if let Some((_, v)) = s.checkpoints.iter().find(|(k, _)| k == key) {
            f.counter(*metric, *help, &t, *v);
        }
    }
    for (key, metric, help) in WAL_METRICS {
        if let Some((_, v)) = s.wal.iter().find(|(k, _)| k == key) {
            f.counter(*metric, *help, &t, *v);
        }
    }

    // Slow queries in flight.
    f.gauge(
        "pg_slow_queries_threshold_seconds",
        "Threshold above which a query is slow: the server's log_min_duration_statement when >= 0, else the exporter's --postgres.slow-query-threshold.",
        &t,
        s.threshold_seconds,
    );
    for q in &s.in_flight {
        let l = [("target", target), ("datname", q.datname.as_str())];
        f.gauge(
            "pg_slow_queries",
            "Active queries running longer than the slow-query threshold now.",
            &l,
            q.slow,
        );
        f.gauge(
            "pg_stat_activity_max_query_duration_seconds",
            "Age of the longest running active query in seconds (0 when none).",
            &l,
            q.longest_seconds,
        );
    }

    // Slow statements logged by the server.
    if let Some(log) = slow_log {
        render_slow_log(target, s, log, f);
    }

    // pg_stat_statements.
    match &s.statements {
        Statements::Available {
            top,
            slow_per_db,
            hidden: _,
        } => {
            f.gauge(
                "pg_stat_statements_available",
                "1 when pg_stat_statements is installed in the exporter's database and readable.",
                &t,
                1.0,
            );
            for q in top {
                let l = [("target", target), ("queryid", q.queryid.as_str())];
                f.counter(
                    "pg_stat_statements_calls_total",
                    "Number of times executed (top statements by total execution time).",
                    &l,
                    q.calls,
                );
                f.counter(
                    "pg_stat_statements_seconds_total",
                    "Total time spent executing the statement, in seconds.",
                    &l,
                    q.total_seconds,
                );
                f.gauge(
                    "pg_stat_statements_mean_seconds",
                    "Mean execution time of the statement, in seconds.",
                    &l,
                    if q.calls > 0.0 {
                        q.total_seconds / q.calls
                    } else {
                        0.0
                    },
                );
                f.gauge(
                    "pg_stat_statements_max_seconds",
                    "Longest execution of the statement, in seconds.",
                    &l,
                    q.max_seconds,
                );
            }
            for (datname, n) in slow_per_db {
                f.gauge(
                    "pg_stat_statements_slow_statements",
                    "Statements whose mean execution time exceeds the slow-query threshold.",
                    &[("target", target), ("datname", datname)],
                    *n,
                );
            }
        }
        Statements::NotInstalled | Statements::Unavailable(_) => f.gauge(
            "pg_stat_statements_available",
            "1 when pg_stat_statements is installed in the exporter's database and readable.",
            &t,
            0.0,
        ),
    }

    // What the role cannot see.
    let p = &s.privileges;
    for (what, missing) in [
        ("pg_read_all_settings", p.read_all_settings_missing),
        ("pg_read_all_stats", p.read_all_stats_missing),
        ("pg_ls_waldir", p.ls_waldir_missing),
        ("pg_control_system", p.control_system_missing),
    ] {
        f.gauge(
            "pg_exporter_privilege_missing",
            "1 when the exporter's role lacks this privilege, so some metrics are absent or undercounted (GRANT pg_monitor gives all of them).",
            &[("target", target), ("what", what)],
            if missing { 1.0 } else { 0.0 },
        );
    }
}

fn render_slow_log(
    target: &str,
    s: &PostgresSnapshot,
    log: &slowlog::SlowLogSnapshot,
    f: &mut Families,
) {
    f.gauge(
        "pg_log_file_readable",
        "1 when the server log file given to the exporter is being read (slow statements are counted from it).",
        &[("target", target)],
        if log.readable { 1.0 } else { 0.0 },
    );
    // Every database at 0 from the start so increase() sees the first slow statement;
    // `datname=""` when the log lines cannot say which database.
    let mut names: BTreeSet<&str> = s.databases.iter().map(|(d, _)| d.as_str()).collect();
    if !log.attributes_database {
        names.insert("");
    }
    names.extend(log.per_db.keys().map(String::as_str));
    let empty = slowlog::DbSlow::default();
    for db in names {
        let d = log.per_db.get(db).unwrap_or(&empty);
        let l = [("target", target), ("datname", db)];
        f.counter(
            "pg_slow_queries_total",
            "Statements the server logged as slow (log_min_duration_statement), counted from its log file since the exporter started.",
            &l,
            d.count as f64,
        );
        f.histogram(
            "pg_slow_queries_duration_seconds",
            "Durations of the statements the server logged as slow.",
            &l,
            &d.cumulative(),
            d.count,
            d.sum_seconds,
        );
    }
}

/// What a target's settings families were rendered from: one settings read (the three
/// lists are replaced together) and the target's name (in every sample).
struct SettingsKey {
    numeric: Weak<Vec<Setting>>,
    info: Weak<Vec<(String, String)>>,
    pending: Weak<Vec<String>>,
    target: String,
}

impl MemoKey for SettingsKey {
    fn is_alive(&self) -> bool {
        self.numeric.strong_count() > 0
    }
}

/// A target's `pg_settings_*`, `pg_settings_info` and `pg_settings_pending_restart*`
/// families, rendered once per settings read (settings are read again only after a
/// reload): a few hundred samples whose values do not change between scrapes.
pub(super) fn settings_families(target: &str, s: &PostgresSnapshot) -> Arc<Rendered> {
    static MEMO: LazyLock<RenderMemo<SettingsKey>> = LazyLock::new(RenderMemo::new);
    MEMO.get_or_render(
        Arc::as_ptr(&s.settings) as usize,
        |k| {
            same_arc(&k.numeric, &s.settings)
                && same_arc(&k.info, &s.info_settings)
                && same_arc(&k.pending, &s.pending_restart)
                && k.target == target
        },
        || SettingsKey {
            numeric: Arc::downgrade(&s.settings),
            info: Arc::downgrade(&s.info_settings),
            pending: Arc::downgrade(&s.pending_restart),
            target: target.to_string(),
        },
        || {
            let mut f = Families::default();
            render_settings(target, s, &mut f);
            f.into_rendered()
        },
    )
}

/// Renders the settings families of one target.
fn render_settings<'a>(target: &str, s: &'a PostgresSnapshot, f: &mut Families<'a>) {
    let t = [("target", target)];
    for m in s.settings.iter().filter_map(|s| s.metric.as_ref()) {
        f.gauge(m.name.as_str(), m.help.as_str(), &t, m.value);
    }
    for (name, value) in s.info_settings.iter() {
        f.gauge(
            "pg_settings_info",
            "Enum and string settings that decide durability and logging (value as the server reports it).",
            &[("target", target), ("name", name), ("value", value)],
            1.0,
        );
    }

    f.gauge(
        "pg_settings_pending_restart",
        "Number of settings changed in the configuration files whose new value takes effect only after a restart (pg_settings.pending_restart).",
        &t,
        s.pending_restart.len() as f64,
    );
    for name in s.pending_restart.iter() {
        f.gauge(
            "pg_settings_pending_restart_info",
            "A setting whose changed value waits for a restart (pg_settings.pending_restart), by name.",
            &[("target", target), ("name", name)],
            1.0,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collectors::postgres::parse_main;
    use std::sync::Arc;

    #[test]
    fn renders_a_snapshot() {
        let doc = r#"{"version": "PostgreSQL 16.2", "server_version": "16.2", "start_time": 1700000000, "in_recovery": false, "threshold_ms": 1000,
            "privileges": {"pg_read_all_settings": true, "pg_read_all_stats": true, "pg_ls_waldir": false},
            "settings": [["max_connections", "20", null, "integer"], ["log_min_duration_statement", "1000", "ms", "integer"]],
            "info": [["TimeZone", "Asia/Phnom_Penh"]], "pending_restart": ["shared_buffers"],
            "activity": [["postgres", "active", 1, 0.5]],
            "in_flight": [["postgres", 1, 5.5]],
            "databases": [["postgres", 7500000]],
            "stat_database": [[5, "postgres", 1, 100, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, null]],
            "archiver": [0, 0, null],
            "checkpoints": {"timed": 4, "req": 2},
            "wal": null, "wal_size": null, "pgss": null}"#;
        let (mut s, _) = parse_main(doc, 160002, Arc::default()).unwrap();
        let mut log = slowlog::SlowLogSnapshot {
            readable: true,
            attributes_database: true,
            ..Default::default()
        };
        let mut buckets = vec![0; slowlog::DURATION_BUCKETS.len()];
        buckets[4] = 3;
        log.per_db.insert(
            "postgres".into(),
            slowlog::DbSlow {
                count: 3,
                buckets,
                sum_seconds: 3.6,
            },
        );
        s.slow_log = Some(log);

        // The settings families rendered once and appended give the same text; they are
        // remembered per settings read and target.
        let remembered = settings_families("pg1", &s);
        assert!(Arc::ptr_eq(&remembered, &settings_families("pg1", &s)));
        assert!(!Arc::ptr_eq(&remembered, &settings_families("pg2", &s)));
        let mut reread = s.clone();
        reread.settings = Arc::new((*s.settings).clone());
        assert!(!Arc::ptr_eq(
            &remembered,
            &settings_families("pg1", &reread)
        ));
        let text = |settings: Option<&Rendered>| {
            let mut f = Families::default();
            render("pg1", Some((&s, s.slow_log.as_ref(), settings)), &mut f);
            f.encode("")
        };
        assert_eq!(text(Some(&remembered)), text(None));

        let mut f = Families::default();
        render("pg1", Some((&s, s.slow_log.as_ref(), None)), &mut f);
        render("pg2", None, &mut f);
        let text = f.encode("");
        for line in [
            "pg_up{target=\"pg1\"} 1",
            "pg_up{target=\"pg2\"} 0",
            "pg_settings_max_connections{target=\"pg1\"} 20",
            "pg_settings_log_min_duration_statement_seconds{target=\"pg1\"} 1",
            "pg_settings_info{target=\"pg1\",name=\"TimeZone\",value=\"Asia/Phnom_Penh\"} 1",
            "pg_settings_pending_restart{target=\"pg1\"} 1",
            "pg_settings_pending_restart_info{target=\"pg1\",name=\"shared_buffers\"} 1",
            "pg_stat_activity_count{target=\"pg1\",datname=\"postgres\",state=\"active\"} 1",
            "pg_database_size_bytes{target=\"pg1\",datname=\"postgres\"} 7500000",
            "pg_stat_database_xact_commit{target=\"pg1\",datid=\"5\",datname=\"postgres\"} 100",
            "# TYPE pg_stat_database_xact_commit counter",
            "pg_stat_archiver_last_archive_age{target=\"pg1\"} NaN",
            "pg_stat_bgwriter_checkpoints_timed_total{target=\"pg1\"} 4",
            "pg_slow_queries{target=\"pg1\",datname=\"postgres\"} 1",
            "pg_slow_queries_total{target=\"pg1\",datname=\"postgres\"} 3",
            "pg_slow_queries_duration_seconds_bucket{target=\"pg1\",datname=\"postgres\",le=\"2.5\"} 3",
            "pg_slow_queries_duration_seconds_bucket{target=\"pg1\",datname=\"postgres\",le=\"1\"} 0",
            "pg_log_file_readable{target=\"pg1\"} 1",
            "pg_exporter_privilege_missing{target=\"pg1\",what=\"pg_ls_waldir\"} 1",
            "pg_exporter_privilege_missing{target=\"pg1\",what=\"pg_read_all_stats\"} 0",
            "pg_stat_statements_available{target=\"pg1\"} 0",
            "pg_in_recovery{target=\"pg1\"} 0",
            "pg_postmaster_start_time_seconds{target=\"pg1\"} 1700000000",
        ] {
            assert!(text.contains(line), "missing {line} in\n{text}");
        }
        // Absent when unknown, never 0.
        assert!(!text.contains("pg_wal_size_bytes"));
        assert!(!text.contains("checksum_failures"));
        assert!(!text.contains("pg_settings_max_connections{target=\"pg2\"}"));
        assert!(!text.contains("pg_stat_wal_"));
    }

    #[test]
    fn top_statements_render_with_queryid_only() {
        let (mut s, _) = parse_main("{}", 170000, Arc::default()).unwrap();
        s.statements = Statements::Available {
            top: vec![crate::collectors::postgres::StatementStats {
                queryid: "42".into(),
                calls: 4.0,
                total_seconds: 2.0,
                max_seconds: 1.5,
            }],
            slow_per_db: vec![("postgres".into(), 1.0)],
            hidden: 0.0,
        };
        let mut f = Families::default();
        render("t", Some((&s, None, None)), &mut f);
        let text = f.encode("");
        assert!(text.contains("pg_stat_statements_calls_total{target=\"t\",queryid=\"42\"} 4"));
        assert!(text.contains("pg_stat_statements_mean_seconds{target=\"t\",queryid=\"42\"} 0.5"));
        assert!(
            text.contains(
                "pg_stat_statements_slow_statements{target=\"t\",datname=\"postgres\"} 1"
            )
        );
        assert!(text.contains("pg_stat_statements_available{target=\"t\"} 1"));
    }
}
