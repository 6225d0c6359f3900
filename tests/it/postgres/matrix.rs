//! The body of the PostgreSQL version matrix: the das-tern report's configuration with
//! exact values, slow queries in flight, in the log and in pg_stat_statements, restarts,
//! on one server of the given major version.

use super::*;

/// The integration body every version runs.
pub(super) async fn matrix(version: u32) {
    let mut server = PgServer::start(version, &das_tern_settings());
    create_roles(&server).await;
    let tmp = tempfile::tempdir().unwrap();
    // Connected as a pg_monitor member, not a superuser.
    let e = exporter_for(&server, "monitor", MONITOR_PW, &tmp).await;
    let t = server.target("postgres");
    let t = t.as_str();

    // ---- the das-tern configuration, exact values -------------------------------------
    let m = e.scrape().await;
    let v = |name: &str, extra: &[(&str, &str)]| m.value(name, &with(t, extra));
    assert_eq!(v("pg_up", &[]), 1.0, "{}", m.text);
    assert_eq!(v("pg_settings_max_connections", &[]), 20.0);
    assert_eq!(v("pg_settings_superuser_reserved_connections", &[]), 3.0);
    assert_eq!(
        v("pg_settings_log_min_duration_statement_seconds", &[]),
        1.0
    );
    assert_eq!(
        v("pg_settings_shared_buffers_bytes", &[]),
        128.0 * 1024.0 * 1024.0
    );
    assert_eq!(v("pg_settings_checkpoint_timeout_seconds", &[]), 300.0);
    assert_eq!(
        v("pg_settings_fsync", &[]),
        0.0,
        "the harness runs fsync=off"
    );
    assert_eq!(v("pg_settings_log_min_duration_sample_seconds", &[]), -1.0);
    let info = |name: &str, value: &str| {
        m.value(
            "pg_settings_info",
            &with(t, &[("name", name), ("value", value)]),
        )
    };
    assert_eq!(info("TimeZone", "Asia/Phnom_Penh"), 1.0);
    assert_eq!(info("server_encoding", "UTF8"), 1.0);
    assert_eq!(info("synchronous_commit", "on"), 1.0);
    assert_eq!(info("wal_level", "replica"), 1.0);
    assert_eq!(info("archive_mode", "off"), 1.0);
    assert_eq!(info("logging_collector", "off"), 1.0);
    assert_eq!(info("log_destination", "stderr"), 1.0);
    assert_eq!(info("fsync", "off"), 1.0);
    // Superuser-only settings are visible to pg_monitor (pg_read_all_settings).
    assert_eq!(info("data_directory", server.data.to_str().unwrap()), 1.0);
    for name in ["log_timezone", "data_checksums", "wal_sync_method"] {
        assert_eq!(
            m.all("pg_settings_info", &with(t, &[("name", name)])).len(),
            1,
            "{name}"
        );
    }
    let ver = m.all("pg_version_info", &with(t, &[]));
    assert_eq!(ver.len(), 1);
    assert!(
        ver[0].labels["short_version"].starts_with(&format!("{version}.")),
        "{:?}",
        ver[0].labels
    );
    assert!(ver[0].labels["version"].starts_with(&format!("PostgreSQL {version}")));
    assert_eq!(m.all("pg_static", &with(t, &[])).len(), 1);
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = v("pg_postmaster_start_time_seconds", &[]);
    assert!(now - started < 300.0 && now >= started - 1.0, "{started}");
    assert_eq!(v("pg_in_recovery", &[]), 0.0);

    // Connections, sizes, durability.
    for state in [
        "active",
        "idle",
        "idle in transaction",
        "idle in transaction (aborted)",
        "fastpath function call",
        "disabled",
    ] {
        m.value(
            "pg_stat_activity_count",
            &with(t, &[("datname", "shop"), ("state", state)]),
        );
    }
    assert!(v("pg_database_size_bytes", &[("datname", "postgres")]) > 1e6);
    assert!(v("pg_database_size_bytes", &[("datname", "shop")]) > 1e6);
    assert!(v("pg_wal_size_bytes", &[]) >= 16.0 * 1024.0 * 1024.0);
    assert_eq!(v("pg_stat_archiver_archived_count", &[]), 0.0);
    assert_eq!(v("pg_stat_archiver_failed_count", &[]), 0.0);
    assert!(v("pg_stat_archiver_last_archive_age", &[]).is_nan());
    for c in [
        "pg_stat_bgwriter_checkpoints_timed_total",
        "pg_stat_bgwriter_checkpoints_req_total",
        "pg_stat_bgwriter_checkpoint_write_time_total",
        "pg_stat_bgwriter_checkpoint_sync_time_total",
        "pg_stat_bgwriter_buffers_checkpoint_total",
        "pg_stat_bgwriter_buffers_alloc_total",
    ] {
        assert!(v(c, &[]) >= 0.0, "{c}");
        assert_eq!(m.types[c], "counter", "{c}");
    }
    // Version gates: buffers_backend left pg_stat_bgwriter in 17; pg_stat_wal since 14.
    assert_eq!(
        m.has("pg_stat_bgwriter_buffers_backend_total"),
        version < 17,
        "buffers_backend"
    );
    assert_eq!(m.has("pg_stat_wal_records_total"), version >= 14);
    // (Before 15 the statistics collector publishes with a delay: checked again below.)
    assert!(v("pg_stat_database_xact_commit", &[("datname", "postgres")]) >= 0.0);
    assert!(v("pg_stat_database_xact_rollback", &[("datname", "postgres")]) >= 0.0);
    assert_eq!(
        v("pg_stat_database_deadlocks", &[("datname", "postgres")]),
        0.0
    );
    assert_eq!(m.types["pg_stat_database_xact_commit"], "counter");
    // The role sees everything: nothing is reported missing.
    for what in ["pg_read_all_settings", "pg_read_all_stats", "pg_ls_waldir"] {
        assert_eq!(
            v("pg_exporter_privilege_missing", &[("what", what)]),
            0.0,
            "{what}"
        );
    }
    assert_eq!(v("pg_stat_statements_available", &[]), 1.0);
    assert_eq!(v("pg_log_file_readable", &[]), 1.0);
    assert_eq!(v("pg_slow_queries_threshold_seconds", &[]), 1.0);
    assert_eq!(v("pg_slow_queries_total", &[("datname", "shop")]), 0.0);
    assert_eq!(v("pg_slow_queries_total", &[("datname", "postgres")]), 0.0);

    // ---- slow queries: in flight and counted exactly from the log --------------------
    // Run by another role: pg_monitor must see its sessions.
    let long = server.connect("app", Some(APP_PW), "postgres").await;
    let long = tokio::spawn(async move { long.batch_execute("SELECT pg_sleep(5)").await });
    let mut sleeps = Vec::new();
    for _ in 0..3 {
        let c = server.connect("app", Some(APP_PW), "shop").await;
        sleeps.push(tokio::spawn(async move {
            c.batch_execute("SELECT pg_sleep(1.2)").await
        }));
    }
    for s in sleeps {
        s.await.unwrap().unwrap();
    }
    let m = e
        .scrape_until("pg_sleep(5) in flight", Duration::from_secs(20), |m| {
            m.get("pg_slow_queries", &with(t, &[("datname", "postgres")])) == Some(1.0)
        })
        .await;
    assert!(
        m.value(
            "pg_stat_activity_max_query_duration_seconds",
            &with(t, &[("datname", "postgres")])
        ) >= 1.0
    );
    assert!(
        m.value(
            "pg_stat_activity_count",
            &with(t, &[("datname", "postgres"), ("state", "active")])
        ) >= 1.0
    );
    assert_eq!(
        m.value("pg_slow_queries", &with(t, &[("datname", "shop")])),
        0.0
    );
    let shop = [("datname", "shop")];
    let m = e
        .scrape_until("3 slow statements counted", Duration::from_secs(20), |m| {
            m.get("pg_slow_queries_total", &with(t, &shop))
                .is_some_and(|v| v >= 3.0)
        })
        .await;
    assert_eq!(m.value("pg_slow_queries_total", &with(t, &shop)), 3.0);
    assert_eq!(
        m.value("pg_slow_queries_duration_seconds_count", &with(t, &shop)),
        3.0
    );
    let bucket = |m: &Metrics, le: &str| {
        m.value(
            "pg_slow_queries_duration_seconds_bucket",
            &with(t, &[("datname", "shop"), ("le", le)]),
        )
    };
    assert_eq!(bucket(&m, "1"), 0.0);
    assert_eq!(bucket(&m, "2.5"), 3.0);
    assert!(m.value("pg_slow_queries_duration_seconds_sum", &with(t, &shop)) >= 3.6);
    long.await.unwrap().unwrap();
    let m = e
        .scrape_until("the 5 s statement counted", Duration::from_secs(20), |m| {
            m.get(
                "pg_slow_queries_total",
                &with(t, &[("datname", "postgres")]),
            ) >= Some(1.0)
        })
        .await;
    assert_eq!(
        m.value(
            "pg_slow_queries_total",
            &with(t, &[("datname", "postgres")])
        ),
        1.0
    );
    // Nothing is counted twice, however often it is scraped.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let m = e.scrape().await;
    assert_eq!(m.value("pg_slow_queries_total", &with(t, &shop)), 3.0);
    assert_eq!(
        m.value(
            "pg_slow_queries_total",
            &with(t, &[("datname", "postgres")])
        ),
        1.0
    );
    assert_eq!(
        m.value("pg_slow_queries", &with(t, &[("datname", "postgres")])),
        0.0
    );
    assert!(
        m.value(
            "pg_stat_database_xact_commit",
            &with(t, &[("datname", "shop")])
        ) >= 3.0
    );

    // ---- pg_stat_statements: 1000 distinct statements, bounded series ----------------
    let cols: Vec<String> = (1..=1000).map(|i| format!("c{i} int")).collect();
    server
        .exec(&format!("CREATE TABLE wide ({})", cols.join(", ")))
        .await;
    let selects: String = (1..=1000)
        .map(|i| format!("SELECT c{i} FROM wide;"))
        .collect();
    server.exec(&selects).await;
    let admin = server.admin("postgres").await;
    let entries: i64 = admin
        .query_one("SELECT count(*) FROM pg_stat_statements", &[])
        .await
        .unwrap()
        .get(0);
    assert!(entries >= 1000, "only {entries} entries");
    let m = e.scrape().await;
    let series = |name: &str| m.all(name, &with(t, &[])).len();
    assert_eq!(series("pg_stat_statements_calls_total"), 10);
    assert_eq!(series("pg_stat_statements_seconds_total"), 10);
    assert_eq!(series("pg_stat_statements_mean_seconds"), 10);
    assert_eq!(series("pg_stat_statements_max_seconds"), 10);
    let all_pgss = m
        .samples
        .iter()
        .filter(|s| s.name.starts_with("pg_stat_statements"))
        .count();
    let databases = m.all("pg_database_size_bytes", &with(t, &[])).len();
    assert!(
        all_pgss <= 4 * 10 + databases + 1,
        "{all_pgss} pg_stat_statements series"
    );
    for s in m.all("pg_stat_statements_calls_total", &with(t, &[])) {
        assert_eq!(
            s.labels.keys().collect::<Vec<_>>(),
            ["queryid", "target"],
            "queryid label only"
        );
    }
    // The 5 s statement is slower on average than the threshold.
    assert!(
        m.value(
            "pg_stat_statements_slow_statements",
            &with(t, &[("datname", "postgres")])
        ) >= 1.0
    );

    // ---- down, then restarted --------------------------------------------------------
    server.stop();
    let m = e.scrape().await;
    assert_eq!(m.value("pg_up", &with(t, &[])), 0.0);
    assert!(!m.has("pg_settings_max_connections"));
    server.start_again();
    let m = e.scrape().await;
    assert_eq!(
        m.value("pg_up", &with(t, &[])),
        1.0,
        "up on the next scrape"
    );
    assert_eq!(m.value("pg_slow_queries_total", &with(t, &shop)), 3.0);
    // Restarted between two scrapes: the kept connection is broken, the scrape notices,
    // reconnects and still answers.
    server.restart();
    let m = e.scrape().await;
    assert_eq!(m.value("pg_up", &with(t, &[])), 1.0, "{}", logs());
    assert_eq!(m.value("pg_settings_max_connections", &with(t, &[])), 20.0);
    e.stop().await;
}
